from epiclock.steps.run import run_step
from epiclock.steps.cache_manifest import cache_manifest

run_step(snakemake, cache_manifest, manifest=snakemake.input[0], sha256=snakemake.params.sha256,
         probes=snakemake.output.probes, controls=snakemake.output.controls)
