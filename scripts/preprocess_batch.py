from epiclock.workflow import preprocess_idat_batch, run_step

run_step(
    snakemake,
    preprocess_idat_batch,
    basenames=snakemake.params.basenames,
    manifests=snakemake.params.manifests,
    probes=list(snakemake.input.probes),
    controls=list(snakemake.input.controls),
    settings=snakemake.params.settings,
    outputs=dict(snakemake.output.items()),
)
