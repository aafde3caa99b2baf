# Config and sample sheet: checked once, here, by epiclock.plan, before any job runs.
import os
import sys
from pathlib import Path

# Jobs import the epiclock library from this checkout, also inside conda environments that do
# not have the package installed.
EPICLOCK_SRC = str(Path(workflow.basedir) / "src")
if EPICLOCK_SRC not in sys.path:
    sys.path.insert(0, EPICLOCK_SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in [EPICLOCK_SRC, os.environ.get("PYTHONPATH", "")] if p))


# Declared, so that Snakemake passes it on to jobs that run elsewhere (a cluster's nodes).
envvars:
    "PYTHONPATH",


from epiclock import plan as epiclock_plan
from epiclock.errors import EpiclockError
from epiclock.io.idat import idat_pair_paths

# Every rule's log and benchmark files, named for the rule and its wildcards (see epiclock.steps.run).
from epiclock.steps.run import job_benchmark, job_log

try:
    PLAN = epiclock_plan.make_plan(config)
    epiclock_plan.check_results_dir(PLAN.settings, "results")
except EpiclockError as error:
    # One line saying what is wrong and what to do; Snakemake would add the file and line of this
    # Snakefile, which is no part of the user's mistake.
    print(f"epiclock: error: {error}", file=sys.stderr)
    sys.exit(1)
# Rules read their sections of the config with the schema's defaults filled in.
config.update(PLAN.settings.raw)
for missing_input, key in PLAN.missing_inputs.items():
    print(
        f"epiclock: {missing_input} ({key}) is not there yet: the run needs it before any job can start",
        file=sys.stderr,
    )

samples = PLAN.sheet
BATCHES = PLAN.batches
MATRIX_INPUT = PLAN.settings.input.matrix
MATRIX_BATCH = epiclock_plan.MATRIX_BATCH
INPUT_TYPE = PLAN.settings.input.type
IDAT_BASENAMES = PLAN.idat_basenames
MISSING_IDATS = PLAN.missing_idats
# `manifest: auto` resolved for the IDATs' array (epiclock.io.catalogue).
MANIFESTS = PLAN.manifests
CUSTOM_CLOCKS = PLAN.custom_clocks
HAS_DESIGN = PLAN.settings.has_design


# Which study the results belong to (plan.check_results_dir reads it above, before any job): written by
# rule record_study, an input of every step that writes first into results/, so that a workflow used
# as a module (whose onstart does not run) records it too.
STUDY_RECORD = f"results/{epiclock_plan.STUDY_MARK}"


wildcard_constraints:
    batch="[^/.]+",


# What every batch leaves, by table: the betas and the per-sample tables QC gathers, and from IDATs
# the raw signals when the config keeps them.
BATCH_TABLES = ("betas", "samples", "controls", "snps", "density")
if not MATRIX_INPUT and config["preprocess"]["keep_intensities"]:
    from epiclock.preprocess import pipeline as epiclock_pipeline

    BATCH_TABLES += epiclock_pipeline.INTENSITY_TABLES


def batch_outputs(batch="{batch}"):
    return {table: f"results/preprocess/{batch}.{table}.parquet" for table in BATCH_TABLES}


def batch_tables(table):
    """One table of every batch."""
    return [batch_outputs(batch)[table] for batch in BATCHES]


def batch_idat_files(wildcards):
    """The Red and Grn files of a batch's samples (plain or gzipped, as found)."""
    return [str(path) for sample in BATCHES[wildcards.batch] for path in idat_pair_paths(IDAT_BASENAMES[sample])]


def manifest_file(name="main"):
    return PLAN.manifest_file(name)


def mask_file():
    """The user's probe mask list, an input of preprocessing so that editing it reruns what it masks."""
    path = config["preprocess"]["masks"]["file"]
    return [path] if path else []


def parsed_manifests(table):
    """Every manifest's parsed ``probes`` or ``controls`` table, in the config's order."""
    return [f"resources/manifests/parsed/{name}/{table}.parquet" for name in MANIFESTS]


def get_final_output():
    if PLAN.missing_inputs:
        # Asked for by name, so that a dry run says which input is not there yet.
        return list(PLAN.missing_inputs)
    return [
        "results/qc/samples.tsv",
        *(rules.merge_betas.output if config["normalize"]["matrix"] else []),
        "results/clocks/predictions.tsv",
        "results/clocks/coverage.tsv",
        "results/qc/composition.tsv",
        *([table.replace(".parquet", ".tsv") for table in DELTA_TABLES.values()]),
        "results/provenance.json",
        "results/figures",
        "results/report.html",
    ]


# The deltas step's tables, by role, when the config has a design (a clock-only run has none).
DELTA_TABLES = (
    {table: f"results/deltas/{table}.parquet" for table in ("per_sample", "per_condition", "contrasts")}
    if HAS_DESIGN
    else {}
)


def custom_clock_dirs():
    """Custom clocks used in this run -> the directory their training writes."""
    return PLAN.custom_clock_dirs()


def custom_clock_files(filename):
    return [f"{directory}/{filename}" for directory in custom_clock_dirs().values()]


def input_files():
    """The files a run reads, by role; their checksums go into the provenance record."""
    return PLAN.input_files()


def matrix_mem_mb(wildcards, input, attempt):
    """Memory for steps that hold a batch's CpG x sample matrix: about 8x its compressed size, at least 1 GB."""
    return max(1000, int(8 * input.size_mb) + 500) * attempt
