from epiclock.workflow import quality_control, run_step

run_step(
    snakemake,
    quality_control,
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
