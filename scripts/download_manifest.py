from epiclock.steps.run import run_step
from epiclock.steps.download_manifest import download_manifest

run_step(snakemake, download_manifest, url=snakemake.params.url, sha256=snakemake.params.sha256,
         array=snakemake.params.array,
         output=snakemake.output[0])
