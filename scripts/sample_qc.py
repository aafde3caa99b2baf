from epiclock.steps.run import run_step
from epiclock.steps.sample_qc import sample_qc

run_step(
    snakemake,
    sample_qc,
    batches={
        "samples": list(snakemake.input.samples_tables),
        "controls": list(snakemake.input.controls_tables),
        "snps": list(snakemake.input.snps_tables),
        "density": list(snakemake.input.density_tables),
    },
    samples=snakemake.input.sheet,
    qc_config=snakemake.params.qc,
    design_config=snakemake.params.design,
    missing=snakemake.params.missing,
    outputs=dict(snakemake.output.items()),
)
