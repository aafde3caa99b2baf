from epiclock.steps.record_study import record_study
from epiclock.steps.run import run_step

run_step(snakemake, record_study, identity=snakemake.params.identity, output=snakemake.output[0])
