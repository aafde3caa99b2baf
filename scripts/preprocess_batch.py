from epiclock.steps.run import run_step
from epiclock.steps.preprocess_batch import preprocess_batch

run_step(
    snakemake,
    preprocess_batch,
    basenames=snakemake.params.basenames,
    manifests=snakemake.params.manifests,
    probes=list(snakemake.input.probes),
    controls=list(snakemake.input.controls),
    settings=snakemake.params.settings,
    outputs=dict(snakemake.output.items()),
)
