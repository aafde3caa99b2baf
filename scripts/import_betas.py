from epiclock.workflow import import_betas, run_step

run_step(snakemake, import_betas, betas=snakemake.input.betas, outputs=dict(snakemake.output.items()),
         kind=snakemake.params.kind)
