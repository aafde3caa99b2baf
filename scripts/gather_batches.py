from epiclock.workflow import gather_batches, run_step

run_step(
    snakemake,
    gather_batches,
    batch_betas=list(snakemake.input.betas),
    batch_qc=list(snakemake.input.array_qc),
    missing=snakemake.params.missing,
    matrix=snakemake.output.matrix,
    array_qc=snakemake.output.array_qc,
)
