from epiclock.steps.run import run_step
from epiclock.steps.compute_deltas import compute_deltas

run_step(
    snakemake,
    compute_deltas,
    predictions=snakemake.input.predictions,
    samples=snakemake.input.samples,
    design_config=snakemake.params.design,
    contrast_config=snakemake.params.contrasts,
    outputs=dict(snakemake.output.items()),
    adjust_for=snakemake.params.adjust_for,
    composition=snakemake.input.get("composition"),
)
