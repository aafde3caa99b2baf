"""`epiclock init`: a study directory from a folder of IDATs - a sample sheet to fill and a minimal config.

The sheet has one row per IDAT pair found: sample_id, basename, chip, then the columns the user
fills (donor, donor_age, sex and the design's factor columns), prefilled from an Illumina
SampleSheet.csv when one is given. The config holds only the keys whose values differ from the
schema's defaults; the schema (config/schemas/config.schema.yaml) documents the rest.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from epiclock.config import apply_defaults, load_schema
from epiclock.errors import EpiclockError
from epiclock.io.catalogue import detect_pair_array
from epiclock.io.idat import green_idat_prefixes, idat_pair_paths
from epiclock.io.tables import read_sample_sheet

SHEET_NAME = "samples.tsv"
CONFIG_NAME = "config.yaml"
# Columns the user fills; the factor columns follow them.
TO_FILL = ("donor", "donor_age", "sex")
# Illumina SampleSheet.csv columns that already hold what a column to fill asks for (matched ignoring case).
SHEET_SYNONYMS = {
    "donor": ("donor", "donor_id", "subject", "subject_id", "individual"),
    "donor_age": ("donor_age", "age"),
    "sex": ("sex", "gender"),
}
SAMPLE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
SENTRIX_STEM = re.compile(r"^(?P<chip>\d{6,})_(?P<position>[A-Za-z0-9]+)$")


@dataclass(frozen=True)
class Study:
    directory: Path
    sheet: Path
    config: Path
    arrays: dict[str, int]
    unmatched_sheet_rows: tuple[str, ...]


def find_pairs(idat_dir: str | os.PathLike) -> dict[str, Path]:
    """Every IDAT pair under ``idat_dir`` (searched recursively): stem -> path prefix (dir/stem)."""
    idat_dir = Path(idat_dir)
    if not idat_dir.is_dir():
        raise EpiclockError(f"{idat_dir}: IDAT directory not found (epiclock init --idats)")
    pairs: dict[str, Path] = {}
    for stem, prefix in green_idat_prefixes(idat_dir):
        if stem in pairs and pairs[stem] != prefix:
            raise EpiclockError(f"{idat_dir}: IDAT pair {stem} is found twice ({pairs[stem]} and {prefix}); "
                                "keep one copy")
        idat_pair_paths(prefix)  # both halves must be there
        pairs[stem] = prefix
    if not pairs:
        raise EpiclockError(f"{idat_dir}: no IDAT pairs (*_Grn.idat[.gz] with *_Red.idat[.gz]) under this directory")
    return pairs


def template_sheet(pairs: dict[str, Path], idat_dir: Path, factors: list[str]) -> pd.DataFrame:
    """One row per pair, sample_id from the file stem, the columns to fill left empty (the donor and its
    age serve a design; sex is checked against the sex the arrays show)."""
    rows = []
    for stem, prefix in pairs.items():
        match = SENTRIX_STEM.match(stem)
        rows.append({"sample_id": stem, "basename": str(prefix.relative_to(idat_dir)),
                     "chip": match["chip"] if match else ""})
    sheet = pd.DataFrame(rows)
    for column in (*TO_FILL, *factors):
        sheet[column] = ""
    return sheet


def prefill(template: pd.DataFrame, illumina_sheet: str | os.PathLike) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The template with what an Illumina SampleSheet.csv knows: sample names, and donor, age, sex where
    it has them; its other columns are kept. Returns the sheet and the sheet's rows without an IDAT pair."""
    given = read_sample_sheet(illumina_sheet, numeric_columns=())
    if "basename" in given.columns and given["basename"].ne("").all():
        stems = given["basename"].map(lambda value: Path(value).name)
    elif {"chip", "position"} <= set(given.columns):
        stems = given["chip"] + "_" + given["position"]
    else:
        raise EpiclockError(f"{illumina_sheet}: the sheet names no IDAT pair per sample; it needs Sentrix_ID and "
                            "Sentrix_Position (or a Basename column)")
    given = given.assign(_stem=stems.values).drop_duplicates("_stem")
    sources = given.set_index("_stem").reindex(template["sample_id"])  # the template's stems, in its order
    matched = sources["sample_id"].notna().to_numpy()
    sheet = template.copy()
    names = sources["sample_id"].fillna("").str.strip()
    usable = matched & names.str.match(SAMPLE_ID_PATTERN).to_numpy()
    sheet.loc[usable, "sample_id"] = names[usable].to_numpy()
    lowered = {column.lower(): column for column in given.columns}
    synonyms = {synonym for candidates in SHEET_SYNONYMS.values() for synonym in candidates}
    for column, candidates in SHEET_SYNONYMS.items():
        found = next((lowered[candidate] for candidate in candidates if candidate in lowered), None)
        if found:
            sheet.loc[matched, column] = sources[found].to_numpy()[matched]
    for column in given.columns:
        if column in ("sample_id", "basename", "chip", "position", "_stem") or column.lower() in synonyms:
            continue
        sheet[column] = sources[column].fillna("").to_numpy()
    unmatched = tuple(given.loc[~given["_stem"].isin(template["sample_id"]), "sample_id"])
    duplicated = sheet["sample_id"][sheet["sample_id"].duplicated()].unique()
    if len(duplicated):
        raise EpiclockError(f"{illumina_sheet}: Sample_Name {duplicated[0]!r} names more than one IDAT pair; "
                            "sample names must be unique")
    return sheet, unmatched


def detect_arrays(pairs: dict[str, Path]) -> dict[str, int]:
    """How many pairs come from each array."""
    return dict(Counter(detect_pair_array(prefix)[0] for prefix in pairs.values()).most_common())


def minimal(config: dict, defaults: dict) -> dict:
    """Only the keys of ``config`` whose values differ from ``defaults``."""
    kept = {}
    for key, value in config.items():
        default = defaults.get(key)
        if isinstance(value, dict) and isinstance(default, dict):
            inner = minimal(value, default)
            if inner:
                kept[key] = inner
        elif key not in defaults or value != default:
            kept[key] = value
    return kept


def study_config(idat_dir: Path, factors: list[str], schema: dict) -> dict:
    """The study's config: its sheet, IDAT input, the manifest picked from the IDATs (the default) and,
    with factors, a design whose conditions are made of them; only the keys that differ from the defaults."""
    config = {"samples": SHEET_NAME, "input": {"type": "idat", "idat_dir": str(idat_dir)}}
    if factors:
        # Condition labels are built from the factor columns unless the one factor is the condition column.
        config["design"] = {"factors": factors, "condition_column": "condition" if factors == ["condition"] else ""}
    sections = {key: {} for key, value in config.items() if isinstance(value, dict)}
    return minimal(config, apply_defaults({**sections, "samples": "", "input": {}}, schema))


def init_study(directory: str | os.PathLike, idat_dir: str | os.PathLike,
               illumina_sheet: str | os.PathLike | None = None, factors: list[str] | None = None,
               force: bool = False) -> Study:
    """Write STUDY/samples.tsv and STUDY/config.yaml for the IDAT pairs under ``idat_dir``."""
    directory = Path(directory)
    idat_dir = Path(idat_dir).absolute()
    factors = list(factors or [])
    bad = [factor for factor in factors if not factor or factor in ("sample_id", "basename", "chip", *TO_FILL)]
    if bad:
        raise EpiclockError(f"epiclock init --factors: {bad[0]!r} cannot be a factor column; name the columns "
                            "that define your conditions (e.g. --factors treatment,time)")
    sheet_path, config_path = directory / SHEET_NAME, directory / CONFIG_NAME
    existing = [str(path) for path in (sheet_path, config_path) if path.exists()]
    if existing and not force:
        raise EpiclockError(f"{existing[0]} exists; epiclock init does not overwrite a study (--force to replace)")
    pairs = find_pairs(idat_dir)
    arrays = detect_arrays(pairs)
    sheet = template_sheet(pairs, idat_dir, factors)
    unmatched: tuple[str, ...] = ()
    if illumina_sheet:
        sheet, unmatched = prefill(sheet, illumina_sheet)
    config = study_config(idat_dir, factors, load_schema())
    directory.mkdir(parents=True, exist_ok=True)
    sheet.to_csv(sheet_path, sep="\t", index=False)
    header = ("# epiclock study config: only the keys that differ from the defaults of\n"
              "# config/schemas/config.schema.yaml (every key is described in config/README.md).\n"
              "# manifest is left out: the default (auto) picks the official manifest of the array the IDATs\n"
              "# come from and downloads it once into resources/manifests/ under this directory. Detection and\n"
              "# dye-bias correction (auto) follow that manifest: pOOBAH and the non-linear correction where it\n"
              "# names no control probes, as the provenance record and the report say.\n")
    config_path.write_text(header + yaml.safe_dump(config, sort_keys=False))
    return Study(directory, sheet_path, config_path, arrays, unmatched)
