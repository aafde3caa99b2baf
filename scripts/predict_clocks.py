from epiclock.workflow import predict_clocks, run_step

run_step(
    snakemake,
    predict_clocks,
    matrix=snakemake.input.matrix,
    predictions_tsv=snakemake.output.predictions_tsv,
    predictions_parquet=snakemake.output.predictions_parquet,
    clock_config=snakemake.params.clocks,
)
