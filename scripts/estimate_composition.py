from epiclock.steps.estimate_composition import estimate_composition
from epiclock.steps.run import run_step

run_step(
    snakemake,
    estimate_composition,
    matrices=list(snakemake.input.matrices),
    qc_table=snakemake.input.qc_table,
    samples=snakemake.input.samples,
    settings=snakemake.params.settings,
    design_config=snakemake.params.design,
    contrasts_config=snakemake.params.contrasts,
    outputs=dict(snakemake.output.items()),
)
