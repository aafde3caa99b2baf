from epiclock.workflow import predict_batch_clocks, run_step

run_step(
    snakemake,
    predict_batch_clocks,
    matrix=snakemake.input.matrix,
    output=snakemake.output[0],
    clock_config=snakemake.params.clocks,
    custom_dirs=snakemake.params.custom_dirs,
)
