from epiclock.steps.run import run_step
from epiclock.steps.write_provenance import write_provenance

run_step(
    snakemake,
    write_provenance,
    config=snakemake.params.config,
    inputs=dict(snakemake.input.items()),
    output=snakemake.output[0],
)
