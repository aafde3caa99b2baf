from epiclock.steps.run import run_step
from epiclock.steps.predict_clocks import predict_clocks

run_step(
    snakemake,
    predict_clocks,
    batch_predictions=list(snakemake.input.batches),
    batch_details=list(snakemake.input.details),
    qc_table=snakemake.input.qc_table,
    outputs=dict(snakemake.output.items()),
    clock_names=snakemake.params.names,
    fail_fast=snakemake.params.fail_fast,
)
