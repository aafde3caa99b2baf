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


# Declared, so that Snakemake passes it on to jobs that run elsewhere (a cluster's nodes).
envvars:
    "PYTHONPATH",


from epiclock.clocks import registry as epiclock_registry
from epiclock import deltas as epiclock_deltas
from epiclock.errors import EpiclockError
from epiclock.io.tables import read_sample_sheet
from epiclock.io.idat import idat_pair_paths

validate(config, schema="../config/schemas/config.schema.yaml", set_default=True)

try:
    samples = read_sample_sheet(config["samples"])
    try:
        validate(samples, schema="../config/schemas/samples.schema.yaml")
    except WorkflowError as error:
        raise EpiclockError(f"{config['samples']}: the sample sheet does not fit config/schemas/samples.schema.yaml: "
                            f"{error}") from None
    # Panel names (in_vitro, mitotic, blood, pace, all) become their clocks, here once for every rule.
    config["clocks"]["names"] = epiclock_registry.expand_names(config["clocks"]["names"])
    CUSTOM_CLOCKS = {entry["name"]: entry for entry in config["custom_clocks"]}
    clashing = sorted(set(CUSTOM_CLOCKS) & set(epiclock_registry.available()))
    if clashing:
        raise EpiclockError(f"config 'custom_clocks': {', '.join(clashing)} would hide a shipped clock; rename")
    for clock_name in config["clocks"]["names"]:
        if clock_name not in CUSTOM_CLOCKS:
            try:
                epiclock_registry.get(clock_name)
            except EpiclockError as error:
                raise EpiclockError(f"config 'clocks.names': {error}; custom clocks: "
                                    f"{', '.join(CUSTOM_CLOCKS) or 'none'}") from None
    from epiclock.composition import references as epiclock_references

    epiclock_references.check_names(config["composition"]["references"])
    for covariate in config["deltas"]["adjust_for"]:
        epiclock_references.resolve_cell_type(covariate, config["composition"]["references"])
    from epiclock.qc import sex as epiclock_sex

    epiclock_sex.check_sheet_sex(samples, config["qc"]["sex_column"], config["samples"])
    design = epiclock_deltas.Design.from_config(config["design"])
    epiclock_deltas.check_design(samples, design, source=config["samples"])
    epiclock_deltas.check_contrasts(
        [epiclock_deltas.Contrast.from_config(entry) for entry in config["contrasts"]],
        samples,
        design,
        source="config 'contrasts'",
    )
    INPUT_TYPE = config["input"]["type"]
    MATRIX_BATCH = "matrix"
    MATRIX_INPUT = INPUT_TYPE != "idat"
    if MATRIX_INPUT and not config["input"].get("betas"):
        raise EpiclockError(f"config input.betas: a file is needed when input.type is '{INPUT_TYPE}'")
    MISSING_IDATS = {}
    MANIFESTS = {"main": config["manifest"]}
    MANIFESTS.update({f"extra_{number}": entry for number, entry in enumerate(config["manifest"]["extra"], 1)})
    if MATRIX_INPUT:
        BATCHES = {MATRIX_BATCH: samples["sample_id"].tolist()}
    else:
        from epiclock.preprocess import pipeline as epiclock_pipeline

        # Settings that cannot work (unknown mask sources, a mask file that is not there, choices
        # needing controls the manifest does not name) stop the run here.
        epiclock_pipeline.PreprocessSettings.from_config(config["preprocess"])
        from epiclock import config as epiclock_config, plan as epiclock_plan

        epiclock_plan.check_manifest_controls(epiclock_config.Settings.from_config(config))

        for name, entry in MANIFESTS.items():
            if not entry.get("path") and not entry.get("url"):
                where = "manifest" if name == "main" else f"manifest.extra[{name.split('_')[1]}]"
                raise EpiclockError(f"config {where}: a local path or a url (with its sha256) is needed for IDAT input")
        if (len(MANIFESTS) > 1) != (config["input"]["mixed_arrays"] == "intersect"):
            raise EpiclockError("config input.mixed_arrays: 'intersect' goes with further manifests in manifest.extra, "
                                "one for each array besides the first, and 'error' with none")

        if not config["input"].get("idat_dir"):
            raise EpiclockError("config input.idat_dir: an IDAT directory is needed when input.type is 'idat'")
        IDAT_BASENAMES, MISSING_IDATS = epiclock_pipeline.idat_basenames(samples, config["input"]["idat_dir"])
        BATCHES = epiclock_pipeline.batches(list(IDAT_BASENAMES), int(config["input"]["batch_size"]))
        if not BATCHES:
            raise EpiclockError(f"config input.idat_dir: no sample of {config['samples']} has IDATs under "
                                f"{config['input']['idat_dir']}")
except EpiclockError as error:
    raise WorkflowError(str(error))


wildcard_constraints:
    batch="[^/.]+",


# What every batch leaves, by table: the betas and the per-sample tables QC gathers, and from IDATs
# the raw signals when the config keeps them.
BATCH_TABLES = ("betas", "samples", "controls", "snps", "density")
if not MATRIX_INPUT and config["preprocess"]["keep_intensities"]:
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
    """A manifest to parse: the configured local file, or where the download rule puts it."""
    entry = MANIFESTS[name]
    return entry["path"] or f"resources/manifests/{name}/{Path(entry['url']).name or 'manifest.csv'}"


def mask_file():
    """The user's probe mask list, an input of preprocessing so that editing it reruns what it masks."""
    path = config["preprocess"].get("masks", {}).get("file", "")
    return [path] if path else []


def parsed_manifests(table):
    """Every manifest's parsed ``probes`` or ``controls`` table, in the config's order."""
    return [f"resources/manifests/parsed/{name}/{table}.parquet" for name in MANIFESTS]


def get_final_output():
    return [
        "results/qc/samples.tsv",
        *(rules.merge_betas.output if config["normalize"]["matrix"] else []),
        "results/clocks/predictions.tsv",
        "results/clocks/coverage.tsv",
        "results/qc/composition.tsv",
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
    files = {"samples": config["samples"]}
    if MATRIX_INPUT:
        files["betas"] = config["input"]["betas"]
    else:
        files.update({"manifest" if name == "main" else f"manifest_{name}": manifest_file(name) for name in MANIFESTS})
        idats = sorted(str(path) for basename in IDAT_BASENAMES.values() for path in idat_pair_paths(basename))
        files.update({f"idat_{index:05d}": path for index, path in enumerate(idats)})
    return files


def matrix_mem_mb(wildcards, input, attempt):
    """Memory for steps that hold a batch's CpG x sample matrix: about 8x its compressed size, at least 1 GB."""
    return max(1000, int(8 * input.size_mb) + 500) * attempt
