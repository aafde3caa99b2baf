from epiclock.steps.run import run_step
from epiclock.steps.write_provenance import write_provenance

run_step(
    snakemake,
    write_provenance,
    config=snakemake.params.config,
    inputs={role: path for role, path in snakemake.input.items() if role not in ("manifest_controls", "study")},
    output=snakemake.output[0],
    manifests=snakemake.params.manifests,
    manifest_controls=list(getattr(snakemake.input, "manifest_controls", [])),
)
