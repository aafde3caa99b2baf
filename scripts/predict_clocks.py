from epiclock.workflow import predict_clocks, run_step

run_step(
    snakemake,
    predict_clocks,
    matrix=snakemake.input.matrix,
    predictions_tsv=snakemake.output.predictions_tsv,
    predictions_parquet=snakemake.output.predictions_parquet,
    coverage_tsv=snakemake.output.coverage_tsv,
    coverage_parquet=snakemake.output.coverage_parquet,
    clock_config=snakemake.params.clocks,
    custom_dirs=snakemake.params.custom_dirs,
)
