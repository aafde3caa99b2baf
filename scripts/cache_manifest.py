from epiclock.workflow import cache_manifest, run_step

run_step(snakemake, cache_manifest, manifest=snakemake.input[0], sha256=snakemake.params.sha256,
         probes=snakemake.output.probes, controls=snakemake.output.controls)
