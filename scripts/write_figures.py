from epiclock.steps.run import run_step
from epiclock.steps.write_figures import write_figures

run_step(
    snakemake,
    write_figures,
    per_sample=snakemake.input.get("per_sample"),  # none in a clock-only run
    contrasts=snakemake.input.get("contrasts"),
    qc_tables=snakemake.params.qc_tables,
    config=snakemake.params.config,
    figure_dir=snakemake.output.figure_dir,
    custom_dirs=snakemake.params.custom_dirs,
)
