from epiclock.steps.run import run_step
from epiclock.steps.import_betas import import_betas

run_step(snakemake, import_betas, betas=snakemake.input.betas, outputs=dict(snakemake.output.items()),
         kind=snakemake.params.kind)
