"""What a run will do, decided before any job: the settings and the sample sheet checked against each
other, the batches, each sample's IDAT pair, the manifests and the custom clocks.

rules/common.smk calls ``make_plan`` once while Snakemake parses the workflow; everything here is
plain Python, tested without Snakemake. Every contradiction found stops the run with one line naming
the file, the row (as a spreadsheet numbers it, the header being row 1) and the sample, or the key.

Inputs that are not there yet (a study being set up, the demo before ``make demo``) do not stop the
parse: they are listed in ``Plan.missing_inputs`` so that a dry run or a lint still works, and the
workflow asks for them by name.
"""

from __future__ import annotations

import dataclasses
import filecmp
import os
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pandas as pd
import yaml

from epiclock import deltas
from epiclock.clocks import registry
from epiclock.composition import references as composition_references
from epiclock.config import DesignSettings, ManifestEntry, SCHEMA_PATH, Settings, manifest_key
from epiclock.errors import EpiclockError
from epiclock.io import catalogue, download
from epiclock.io.idat import green_idat_prefixes, idat_pair_paths
from epiclock.io.manifest import parse_controls
from epiclock.io.tables import SAMPLE_ID_COLUMN, read_sample_sheet
from epiclock.preprocess import pipeline
from epiclock.qc import sex as qc_sex

SAMPLES_SCHEMA_PATH = SCHEMA_PATH.with_name("samples.schema.yaml")
# The one batch of a beta-matrix input.
MATRIX_BATCH = "matrix"
# Plausible donor ages in years.
DONOR_AGE_RANGE = (0.0, 130.0)
# The columns that name a sample's IDAT pair: a path prefix, or the Sentrix chip and position.
BASENAME_COLUMN = "basename"
CHIP_POSITION_COLUMNS = ("chip", "position")


def sheet_row(position: int) -> int:
    """The row of the ``position``-th sample (0-based) as a spreadsheet shows it, the header being row 1."""
    return position + 2


def _where(sheet: pd.DataFrame, positions) -> str:
    """'row 3 (sample S1)' / 'rows 3, 7 (samples S1, s1)' for rows at these 0-based positions."""
    positions = list(positions)
    rows = ", ".join(str(sheet_row(p)) for p in positions[:5]) + (", ..." if len(positions) > 5 else "")
    ids = ", ".join(str(sheet[SAMPLE_ID_COLUMN].iloc[p]) for p in positions[:5]) + (", ..." if len(positions) > 5 else "")
    plural = "s" if len(positions) > 1 else ""
    return f"row{plural} {rows} (sample{plural} {ids})"


@dataclass(frozen=True)
class Plan:
    settings: Settings
    sheet: pd.DataFrame
    batches: dict[str, list[str]]
    custom_clocks: dict[str, dict]
    idat_basenames: dict[str, str] = field(default_factory=dict)
    missing_idats: dict[str, str] = field(default_factory=dict)
    missing_inputs: dict[str, str] = field(default_factory=dict)
    # The manifests with `manifest: auto` resolved for the IDATs' array (empty until IDATs are found).
    resolved_manifests: dict[str, ManifestEntry] = field(default_factory=dict)

    @property
    def manifests(self) -> dict[str, ManifestEntry]:
        return self.resolved_manifests or self.settings.manifests

    def manifest_file(self, name: str = "main") -> str:
        """A manifest to parse: the configured local file, or where the download rule puts it."""
        return manifest_file(name, self.manifests[name])

    def input_files(self) -> dict[str, str]:
        """The files a run reads, by role; their checksums go into the provenance record."""
        files = {"samples": self.settings.samples}
        if self.settings.input.matrix:
            files["betas"] = self.settings.input.betas
        else:
            files.update({"manifest" if name == "main" else f"manifest_{name}": self.manifest_file(name)
                          for name in self.settings.manifests})
            idats = sorted(str(path) for basename in self.idat_basenames.values()
                           for path in idat_pair_paths(basename))
            files.update({f"idat_{index:05d}": path for index, path in enumerate(idats)})
        return files

    def custom_clock_dirs(self) -> dict[str, str]:
        """Custom clocks used in this run -> the directory their training writes."""
        return {name: f"results/training/{name}" for name in self.settings.clock_names if name in self.custom_clocks}


def make_plan(config: dict) -> Plan:
    """Validate the config, read and check the sheet, find the inputs and plan the batches."""
    settings = Settings.from_config(config)
    # Panel names (in_vitro, mitotic, blood, pace, all) become their clocks, here once for every rule.
    names = registry.expand_names(list(settings.clock_names))
    settings.raw["clocks"]["names"] = names
    settings = dataclasses.replace(settings, clock_names=tuple(names))
    custom = check_clock_names(settings)
    composition_references.check_names(settings.raw["composition"]["references"])
    for covariate in settings.raw["deltas"]["adjust_for"]:
        composition_references.resolve_cell_type(covariate, settings.raw["composition"]["references"])
    missing_inputs = {}
    check_readable(settings.samples, "config samples")
    if not Path(settings.samples).exists():
        missing_inputs[settings.samples] = "config samples"
        return Plan(settings, pd.DataFrame(columns=[SAMPLE_ID_COLUMN]), {}, custom, missing_inputs=missing_inputs)
    sheet = read_sheet(settings)
    check_contrasts(settings, sheet)
    if settings.input.matrix:
        if not settings.input.betas:
            raise EpiclockError(f"config input.betas: a file is needed when input.type is '{settings.input.type}'")
        check_readable(settings.input.betas, "config input.betas")
        if not Path(settings.input.betas).exists():
            missing_inputs[settings.input.betas] = "config input.betas"
        return Plan(settings, sheet, {MATRIX_BATCH: sheet[SAMPLE_ID_COLUMN].tolist()}, custom,
                    missing_inputs=missing_inputs)
    check_idat_settings(settings)
    for name, entry in settings.manifests.items():
        if entry.path:
            check_readable(entry.path, f"config {manifest_key(name)}.path")
        if entry.path and not Path(entry.path).exists():
            missing_inputs[entry.path] = f"config {manifest_key(name)}.path"
    check_readable(settings.input.idat_dir, "config input.idat_dir", directory=True)
    check_manifest_controls(settings)
    idat_dir = Path(settings.input.idat_dir)
    if not idat_dir.exists():
        missing_inputs[settings.input.idat_dir] = "config input.idat_dir"
        return Plan(settings, sheet, {}, custom, missing_inputs=missing_inputs)
    found, missing = find_idat_basenames(sheet, idat_dir, source=settings.samples)
    batches = plan_batches(list(found), settings.input.batch_size)
    if not batches:
        raise EpiclockError(f"config input.idat_dir: no sample of {settings.samples} has IDATs under {idat_dir}; "
                            "check the directory and the sheet's basename (or chip and position) column")
    manifests = resolve_manifests(settings, found)
    return Plan(settings, sheet, batches, custom, found, missing, missing_inputs, manifests)


def check_readable(path: str, key: str, directory: bool = False) -> None:
    """A file given where a folder belongs (or the reverse), or one this user may not read, named
    with its key; a path that is not there yet is left to ``missing_inputs``."""
    given = Path(path)
    if not given.exists():
        return
    if directory and not given.is_dir():
        raise EpiclockError(f"{key}: {path} is a file; give the folder that holds the IDAT files")
    if not directory and given.is_dir():
        raise EpiclockError(f"{key}: {path} is a directory; give the file itself")
    if not os.access(given, os.R_OK | (os.X_OK if directory else 0)):
        raise EpiclockError(f"{key}: {path} cannot be read (permission denied); make it readable for this user")


# --- config on its own ------------------------------------------------------------------------------


def check_clock_names(settings: Settings) -> dict[str, dict]:
    """Custom clocks by name; every clock named in clocks.names must be shipped or custom."""
    custom = {entry["name"]: entry for entry in settings.custom_clocks}
    clashing = sorted(set(custom) & set(registry.available()))
    if clashing:
        raise EpiclockError(f"config custom_clocks: {', '.join(clashing)} would hide a shipped clock; rename it")
    for name in registry.expand_names(settings.clock_names):   # panel names become their clocks
        if name not in custom:
            try:
                registry.get(name)
            except EpiclockError as error:
                raise EpiclockError(f"config clocks.names: {error}; custom clocks: {', '.join(custom) or 'none'}") \
                    from None
    return custom


def check_idat_settings(settings: Settings) -> None:
    """Choices IDAT input needs: a manifest per array, an IDAT directory, preprocessing that can work."""
    pipeline.PreprocessSettings.from_config(settings.raw["preprocess"])
    for name, entry in settings.manifests.items():
        # The main manifest may be left to `manifest: auto`; a further array's must be named.
        if not entry.given and name != "main":
            raise EpiclockError(f"config {manifest_key(name)}: a local path or a url is needed for a further array")
    if (len(settings.manifests) > 1) != (settings.input.mixed_arrays == "intersect"):
        raise EpiclockError("config input.mixed_arrays: 'intersect' goes with further manifests in manifest.extra, "
                            "one for each array besides the first, and 'error' with none")
    if not settings.input.idat_dir:
        raise EpiclockError("config input.idat_dir: an IDAT directory is needed when input.type is 'idat'")


def check_manifest_controls(settings: Settings) -> None:
    """Preprocessing and QC choices that need control probes a local manifest does not name stop
    here, naming the choice to make instead (a manifest still to be downloaded is checked by each
    batch before its first sample)."""
    preprocess_settings = pipeline.PreprocessSettings.from_config(settings.raw["preprocess"])
    for entry in settings.manifests.values():
        if not (entry.path and Path(entry.path).is_file()):
            continue
        try:
            controls = parse_controls(entry.path)
        except EpiclockError:
            continue  # a file that is no manifest is named by the job that parses it
        pipeline.check_manifest_controls(preprocess_settings, controls, entry.path, settings.raw["qc"]["fail_on"])


# --- the sample sheet ------------------------------------------------------------------------------


def read_sheet(settings: Settings, path: str | None = None) -> pd.DataFrame:
    """The sample sheet, its donor ages as numbers (under the design's column name), checked for
    contradictions within itself and against the design."""
    path = path or settings.samples
    sheet = read_sample_sheet(path, numeric_columns=settings.sheet_numeric_columns)
    check_sheet(sheet, settings, source=path)
    return sheet


def check_sheet(sheet: pd.DataFrame, settings: Settings, source: str) -> None:
    check_sample_ids(sheet, source)
    if settings.sex_column in sheet.columns:
        qc_sex.check_sheet_sex(sheet, settings.sex_column, source)
    design = settings.design
    if design is None:
        return
    deltas.check_design(sheet, deltas.Design.from_config(settings.raw["design"]), source=source)
    check_donors(sheet, design, settings.sex_column, source)
    check_conditions(sheet, design, source)


def check_sample_ids(sheet: pd.DataFrame, source: str) -> None:
    """Sample IDs as config/schemas/samples.schema.yaml wants them, and none two a file system or a
    reader could confuse (equal up to case)."""
    validator = jsonschema.Draft202012Validator(yaml.safe_load(SAMPLES_SCHEMA_PATH.read_text(encoding="utf-8")))
    for position, record in enumerate(sheet.to_dict("records")):
        error = next(iter(validator.iter_errors({key: value for key, value in record.items()
                                                 if key in validator.schema["properties"]})), None)
        if error is not None:
            column = ".".join(map(str, error.absolute_path)) or "the row"
            raise EpiclockError(f"{source}: {_where(sheet, [position])}: {column}: {error.message}; "
                                f"see {SAMPLES_SCHEMA_PATH.relative_to(SCHEMA_PATH.parents[2])}")
    folded = sheet[SAMPLE_ID_COLUMN].str.casefold()
    for _, positions in pd.Series(range(len(sheet))).groupby(folded.to_numpy()):
        if len(positions) > 1:
            raise EpiclockError(f"{source}: {_where(sheet, positions)} have sample IDs that differ only in case; "
                                "give each sample its own ID (or remove the repeated row)")


def check_donors(sheet: pd.DataFrame, design: DesignSettings, sex_column: str, source: str) -> None:
    """Every donor has a name, one age in a plausible range, and one sex."""
    donors = sheet[design.donor_column].astype(str).str.strip()
    empty = [p for p in range(len(sheet)) if donors.iloc[p] == ""]
    if empty:
        raise EpiclockError(f"{source}: {_where(sheet, empty[:1])} has no {design.donor_column!r}; every sample "
                            "needs its donor")
    ages = sheet[design.donor_age_column]
    low, high = DONOR_AGE_RANGE
    outside = [p for p in range(len(sheet)) if pd.notna(ages.iloc[p]) and not low <= ages.iloc[p] <= high]
    if outside:
        raise EpiclockError(f"{source}: {_where(sheet, outside[:1])} has {design.donor_age_column} "
                            f"{ages.iloc[outside[0]]:g}, outside {low:g}-{high:g} years; give the donor's age in years")
    columns = [(design.donor_age_column, ages.map(lambda v: "" if pd.isna(v) else f"{v:g}"))]
    if sex_column in sheet.columns:
        spelled = sheet[sex_column].astype(str).str.strip()
        columns.append((sex_column, spelled.str.lower().map(qc_sex.SHEET_SEX).fillna(spelled)))
    for column, values in columns:
        given = values != ""
        for donor, positions in pd.Series(range(len(sheet)))[given.to_numpy()].groupby(donors[given].to_numpy()):
            distinct = values.iloc[positions.to_numpy()]
            if distinct.nunique() > 1:
                first, other = distinct.unique()[:2]
                first_rows = [p for p in positions if values.iloc[p] == first]
                other_rows = [p for p in positions if values.iloc[p] == other]
                raise EpiclockError(
                    f"{source}: donor {donor!r} has {column} {first} in {_where(sheet, first_rows)} but {other} in "
                    f"{_where(sheet, other_rows)}; a donor has one {column}: correct the rows or give them "
                    f"different donors")


def check_conditions(sheet: pd.DataFrame, design: DesignSettings, source: str) -> None:
    """The condition column and the factor columns tell the same story, and condition_order names
    only conditions of the sheet."""
    factors = list(design.factors)
    combination = sheet[factors].astype(str).apply(
        lambda row: ", ".join(f"{factor}={value}" for factor, value in row.items()), axis=1)
    if design.condition_column and design.condition_column in sheet.columns:
        labels = sheet[design.condition_column].astype(str)
        for one, other, what in ((labels, combination, "condition"), (combination, labels, "factor levels")):
            for value, positions in pd.Series(range(len(sheet))).groupby(one.to_numpy()):
                seen = other.iloc[positions.to_numpy()]
                if seen.nunique() > 1:
                    first, second = seen.unique()[:2]
                    first_rows = [p for p in positions if other.iloc[p] == first]
                    second_rows = [p for p in positions if other.iloc[p] == second]
                    if what == "condition":
                        found = (f"{design.condition_column} {value!r} goes with {first} in "
                                 f"{_where(sheet, first_rows[:1])} but with {second} in {_where(sheet, second_rows[:1])}")
                    else:
                        found = (f"{value} is {design.condition_column} {first!r} in {_where(sheet, first_rows[:1])} "
                                 f"but {second!r} in {_where(sheet, second_rows[:1])}")
                    raise EpiclockError(
                        f"{source}: {found}; the {design.condition_column!r} column contradicts the "
                        f"factor columns ({', '.join(factors)}): correct the rows, or set design.condition_column: "
                        "'' to build the conditions from the factors")
    else:
        labels = combination
    absent = [name for name in design.condition_order if name not in set(labels)]
    if absent:
        raise EpiclockError(f"config design.condition_order: {', '.join(map(repr, absent))} is not a condition of "
                            f"{source} (conditions: {', '.join(sorted(set(labels)))}); correct or remove it")


def check_contrasts(settings: Settings, sheet: pd.DataFrame) -> None:
    """Contrasts need a design; each names levels of the sheet and compares two different sets of samples."""
    if not settings.contrasts:
        return
    if settings.design is None:
        raise EpiclockError("config contrasts: contrasts compare conditions within donors and need a design "
                            "(design.factors and the donor columns); add one, or remove the contrasts")
    design = deltas.Design.from_config(settings.raw["design"])
    contrasts = [deltas.Contrast.from_config(entry) for entry in settings.contrasts]
    for contrast in contrasts:
        parts = [(contrast.name, contrast)]
        if contrast.minus is not None:
            parts.append((f"{contrast.name} (its minus part)", contrast.minus))
        for name, part in parts:
            treated = set(sheet.index[deltas.group_mask(sheet, part.treated)])
            reference = set(sheet.index[deltas.group_mask(sheet, part.reference)])
            if treated and treated == reference:
                raise EpiclockError(f"config contrasts: contrast '{name}' selects the same {len(treated)} sample(s) "
                                    "as treated and as reference, so it can only measure zero; make the two sides "
                                    "differ in at least one factor level")
    deltas.check_contrasts(contrasts, sheet, design, source="config contrasts")


# --- IDAT pairs ------------------------------------------------------------------------------------


def _same_files(first: Path, second: Path) -> bool:
    return all(filecmp.cmp(a, b, shallow=False) for a, b in zip(idat_pair_paths(first), idat_pair_paths(second)))


def find_idat_basenames(sheet: pd.DataFrame, idat_dir: str | Path,
                        source: str = "sample sheet") -> tuple[dict[str, str], dict[str, str]]:
    """Each sample's IDAT pair prefix, found recursively under ``idat_dir``; and the samples without one.

    A sample names its pair by a ``basename`` column (a path prefix, or just the file stem) or by
    ``chip`` and ``position`` (Sentrix ID and position). One pair found in two places with the same
    bytes is one pair; with different bytes, or claimed by two samples, it is an error.
    """
    idat_dir = Path(idat_dir)
    if not idat_dir.is_dir():
        raise EpiclockError(f"config input.idat_dir: {idat_dir} is not a directory; give the folder that holds "
                            "the IDAT files")
    stems: dict[str, Path] = {}
    for stem, basename in green_idat_prefixes(idat_dir):
        if stem in stems and stems[stem] != basename:
            try:
                same = _same_files(stems[stem], basename)
            except (EpiclockError, OSError):
                same = False
            if not same:
                raise EpiclockError(f"{idat_dir}: the IDAT pair {stem} is found twice with different contents, in "
                                    f"{stems[stem].parent} and {basename.parent}; keep the right one and move the "
                                    "other out of input.idat_dir")
            continue
        stems[stem] = basename
    if not stems:
        raise EpiclockError(f"config input.idat_dir: no IDAT files (*_Grn.idat[.gz]) under {idat_dir}")
    if BASENAME_COLUMN not in sheet.columns and not set(CHIP_POSITION_COLUMNS) <= set(sheet.columns):
        raise EpiclockError(f"{source}: IDAT input needs a '{BASENAME_COLUMN}' column, or "
                            f"'{CHIP_POSITION_COLUMNS[0]}' and '{CHIP_POSITION_COLUMNS[1]}' (Sentrix_ID and "
                            "Sentrix_Position in an Illumina SampleSheet.csv)")
    wanted = []
    for position in range(len(sheet)):
        row = sheet.iloc[position]
        given = str(row[BASENAME_COLUMN]).strip() if BASENAME_COLUMN in sheet.columns else ""
        chip, slot = CHIP_POSITION_COLUMNS
        wanted.append(Path(given).name if given else f"{row[chip]}_{row[slot]}")
    claimed = pd.Series(range(len(sheet))).groupby(wanted)
    for stem, positions in claimed:
        if len(positions) > 1:
            raise EpiclockError(f"{source}: {_where(sheet, positions)} name the same IDAT pair {stem}; one array "
                                "is one sample: correct the basename (or chip and position) of the wrong row")
    found, missing = {}, {}
    for sample_id, stem in zip(sheet[SAMPLE_ID_COLUMN], wanted):
        if stem in stems:
            found[sample_id] = str(stems[stem])
        else:
            missing[sample_id] = f"no IDAT pair {stem}_Red/_Grn.idat[.gz] under {idat_dir}"
    return found, missing


def manifest_file(name: str, entry: ManifestEntry) -> str:
    """The configured local file, or where the download rule puts the manifest ``name`` (main, extra_1...)."""
    return entry.path or catalogue.download_path(name, Path(entry.url).name or "manifest.csv")


def resolve_manifests(settings: Settings, idat_basenames: dict[str, str]) -> dict[str, ManifestEntry]:
    """The run's manifests: `manifest: auto` becomes the catalogue's entry for the array of the first
    sample whose IDAT reads, and a download already there must still match its pinned sha256 or its lock."""
    manifests = dict(settings.manifests)
    main = manifests["main"]
    if not main.given:
        array, evidence = first_array(idat_basenames)
        listing = settings.raw["manifest"]["catalogue"] or None
        entry = catalogue.entry_for(array, catalogue.read_catalogue(listing), evidence)
        manifests["main"] = ManifestEntry(path="", url=entry.url, sha256=main.sha256 or entry.sha256, array=array)
    for name, entry in manifests.items():
        if not entry.path:
            download.check(manifest_file(name, entry), entry.sha256)
    return manifests


def first_array(idat_basenames: dict[str, str]) -> tuple[str, str]:
    """The array of the first sample whose IDAT can be read (an unreadable one is quarantined later,
    when it is preprocessed), and the evidence."""
    errors = []
    for basename in idat_basenames.values():
        try:
            return catalogue.detect_pair_array(basename)
        except EpiclockError as error:
            errors.append(str(error))
    raise EpiclockError(f"manifest auto: no sample's IDAT tells the array ({errors[0] if errors else 'no IDATs'}); "
                        "set manifest.path to the array's manifest")


def plan_batches(sample_ids: list[str], batch_size: int) -> dict[str, list[str]]:
    """Consecutive groups of at most ``batch_size`` samples, named batch_0001, batch_0002, ..."""
    if batch_size < 1:
        raise EpiclockError(f"config input.batch_size: must be at least 1 (got {batch_size})")
    return {f"batch_{index // batch_size + 1:04d}": sample_ids[index:index + batch_size]
            for index in range(0, len(sample_ids), batch_size)}


# --- one study, one results directory --------------------------------------------------------------

STUDY_MARK = "study.yaml"


def study_identity(settings: Settings) -> dict[str, str]:
    """What makes a study itself: its sample sheet and its data, as absolute paths."""
    data = settings.input.betas if settings.input.matrix else settings.input.idat_dir
    return {"samples": str(Path(settings.samples).resolve()), "input": str(Path(data).resolve())}


def check_results_dir(settings: Settings, results_dir: str | Path) -> None:
    """Refuse to mix: results written for another sample sheet or data stop the run before any job."""
    mark = Path(results_dir) / STUDY_MARK
    if not mark.is_file():
        return
    try:
        recorded = yaml.safe_load(mark.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise EpiclockError(f"{mark}: cannot be read ({error}); move {results_dir} aside to start afresh") from None
    current = study_identity(settings)
    if recorded != current:
        changed = next(key for key in current if recorded.get(key) != current[key])
        raise EpiclockError(
            f"{results_dir}/ holds the results of another study ({changed} {recorded.get(changed)}, this config: "
            f"{current[changed]}); run each study in its own directory (snakemake -d STUDY_DIR --configfile "
            f"STUDY_DIR/config.yaml) or move {results_dir}/ aside")
