from epiclock.workflow import import_betas, run_step

run_step(snakemake, import_betas, betas=snakemake.input.betas, matrix=snakemake.output.matrix,
         kind=snakemake.params.kind)
