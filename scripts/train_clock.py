from epiclock.steps.run import run_step
from epiclock.steps.train_clock import train_clock

run_step(
    snakemake,
    train_clock,
    name=snakemake.wildcards.name,
    betas=snakemake.input.betas,
    ages=snakemake.input.ages,
    settings=snakemake.params.settings,
    out_dir=str(snakemake.output.definition).rsplit("/", 1)[0],
    threads=snakemake.threads,
)
