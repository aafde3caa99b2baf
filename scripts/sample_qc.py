from epiclock.workflow import quality_control, run_step

run_step(
    snakemake,
    quality_control,
    matrix=snakemake.input.matrix,
    samples=snakemake.input.samples,
    array_qc=snakemake.input.array_qc or None,
    table_tsv=snakemake.output.table_tsv,
    table_parquet=snakemake.output.table_parquet,
    qc_config=snakemake.params.qc,
)
