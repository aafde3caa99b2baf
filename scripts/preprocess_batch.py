from epiclock.workflow import preprocess_idat_batch, run_step

run_step(
    snakemake,
    preprocess_idat_batch,
    basenames=snakemake.params.basenames,
    probes=snakemake.input.probes,
    controls=snakemake.input.controls,
    settings=snakemake.params.settings,
    outputs=dict(snakemake.output.items()),
)
