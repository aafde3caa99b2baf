from epiclock.steps.run import run_step
from epiclock.steps.merge_betas import merge_betas

run_step(
    snakemake,
    merge_betas,
    batch_betas=list(snakemake.input.batches),
    qc_table=snakemake.input.qc_table,
    outputs=dict(snakemake.output.items()),
    method=snakemake.params.method,
    fail_fast=snakemake.params.fail_fast,
)
