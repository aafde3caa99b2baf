from epiclock.workflow import normalize_betas, run_step

run_step(
    snakemake,
    normalize_betas,
    matrix=snakemake.input.matrix,
    qc_table=snakemake.input.qc_table,
    normalized=snakemake.output.normalized,
    method=snakemake.params.method,
    fail_fast=snakemake.params.fail_fast,
)
