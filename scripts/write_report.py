from epiclock.steps.run import run_step
from epiclock.steps.write_report import write_report

run_step(
    snakemake,
    write_report,
    qc_tables=snakemake.params.qc_tables,
    predictions=snakemake.input.predictions,
    per_sample=snakemake.input.get("per_sample"),  # none in a clock-only run
    per_condition=snakemake.input.get("per_condition"),
    contrasts=snakemake.input.get("contrasts"),
    provenance_json=snakemake.input.provenance,
    figure_dir=snakemake.input.figure_dir,
    config=snakemake.params.config,
    output=snakemake.output[0],
    custom_dirs=snakemake.params.custom_dirs,
)
