# Config and sample sheet: validated once, here, before any job runs.
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# Jobs import the epiclock library from this checkout, also inside conda environments that do
# not have the package installed.
EPICLOCK_SRC = str(Path(workflow.basedir) / "src")
if EPICLOCK_SRC not in sys.path:
    sys.path.insert(0, EPICLOCK_SRC)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [EPICLOCK_SRC, os.environ.get("PYTHONPATH", "")] if p)

from epiclock import clocks as epiclock_clocks
from epiclock import deltas as epiclock_deltas
from epiclock.errors import EpiclockError
from epiclock.io import read_sample_sheet

validate(config, schema="../config/schemas/config.schema.yaml", set_default=True)

try:
    samples = read_sample_sheet(config["samples"])
    validate(samples, schema="../config/schemas/samples.schema.yaml")
    CUSTOM_CLOCKS = {entry["name"]: entry for entry in config["custom_clocks"]}
    clashing = sorted(set(CUSTOM_CLOCKS) & set(epiclock_clocks.available()))
    if clashing:
        raise EpiclockError(f"config 'custom_clocks': {', '.join(clashing)} would hide a shipped clock; rename")
    for clock_name in config["clocks"]["names"]:
        if clock_name not in CUSTOM_CLOCKS:
            try:
                epiclock_clocks.get(clock_name)
            except EpiclockError as error:
                raise EpiclockError(f"config 'clocks.names': {error}; custom clocks: "
                                    f"{', '.join(CUSTOM_CLOCKS) or 'none'}") from None
    design = epiclock_deltas.Design.from_config(config["design"])
    epiclock_deltas.check_design(samples, design, source=config["samples"])
    epiclock_deltas.check_contrasts(
        [epiclock_deltas.Contrast.from_config(entry) for entry in config["contrasts"]],
        samples,
        design,
        source="config 'contrasts'",
    )
except EpiclockError as error:
    raise WorkflowError(str(error))


def get_final_output():
    return [
        "results/qc/samples.tsv",
        "results/clocks/predictions.tsv",
        "results/clocks/coverage.tsv",
        "results/deltas/per_sample.tsv",
        "results/deltas/per_condition.tsv",
        "results/deltas/contrasts.tsv",
        "results/provenance.json",
        "results/figures",
        "results/report.html",
    ]


def custom_clock_dirs():
    """Custom clocks used in this run -> the directory their training writes."""
    return {name: f"results/training/{name}" for name in config["clocks"]["names"] if name in CUSTOM_CLOCKS}


def custom_clock_files(filename):
    return [f"{directory}/{filename}" for directory in custom_clock_dirs().values()]


def input_files():
    """The files a run reads, by role; their checksums go into the provenance record."""
    return {"samples": config["samples"], "betas": config["input"]["betas"]}


def matrix_mem_mb(wildcards, input, attempt):
    """Memory for steps that hold a CpG x sample matrix: about 4x its compressed size, at least 1 GB."""
    return max(1000, int(4 * input.size_mb) + 500) * attempt
