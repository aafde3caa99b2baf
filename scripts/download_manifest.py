from epiclock.workflow import download_manifest, run_step

run_step(snakemake, download_manifest, url=snakemake.params.url, sha256=snakemake.params.sha256,
         output=snakemake.output[0])
