from epiclock.workflow import run_step, write_provenance

run_step(
    snakemake,
    write_provenance,
    config=snakemake.params.config,
    inputs=dict(snakemake.input.items()),
    output=snakemake.output[0],
)
