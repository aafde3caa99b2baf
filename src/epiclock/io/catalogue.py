"""The official manifest of each array, picked for the array the IDATs come from.

``manifest: auto`` (a manifest config with neither a local path nor a url) reads the first sample's IDAT,
tells its array (address count and chip-type string, ``io.manifest.detect_array``) and takes that
array's entry from the catalogue (``data/manifests.tsv``: address, published sha256, where it came
from). The catalogue's sha256 pins the download (``io.download``), unless the config pins another.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from epiclock.errors import EpiclockError
from epiclock.io.idat import idat_pair_paths, read_idat
from epiclock.io.manifest import detect_array

CATALOGUE_FILE = Path(__file__).resolve().parent.parent / "data" / "manifests.tsv"
CATALOGUE_COLUMNS = ("array", "platform", "description", "file", "url", "sha256", "source", "vendor_page")
# Where the workflow puts a downloaded manifest, by its name in the run (main, extra_1, ...).
DOWNLOAD_DIR = "resources/manifests"


@dataclass(frozen=True)
class CatalogueEntry:
    """One array's official manifest: where to fetch it and the sha256 its publisher lists."""

    array: str
    platform: str
    description: str
    file: str
    url: str
    sha256: str
    source: str
    vendor_page: str


def read_catalogue(path: str | os.PathLike | None = None) -> dict[str, CatalogueEntry]:
    """Array name (as ``detect_array`` gives it) -> its entry; the shipped catalogue unless ``path`` is given."""
    path = Path(path or CATALOGUE_FILE)
    if not path.is_file():
        raise EpiclockError(f"{path}: manifest catalogue not found (config manifest.catalogue)")
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [column for column in ("array", "file", "url") if column not in table.columns]
    if missing:
        raise EpiclockError(f"{path}: the manifest catalogue lacks column(s) {', '.join(missing)}; "
                            f"columns: {', '.join(CATALOGUE_COLUMNS)}")
    for column in CATALOGUE_COLUMNS:
        if column not in table.columns:
            table[column] = ""
    entries = {}
    for row_number, row in enumerate(table.to_dict("records"), start=2):
        if row["array"] in entries:
            raise EpiclockError(f"{path}: row {row_number} repeats array {row['array']!r}")
        if Path(row["file"]).name != row["file"] or not row["file"]:
            raise EpiclockError(f"{path}: row {row_number}: 'file' must be a plain file name (got {row['file']!r})")
        entries[row["array"]] = CatalogueEntry(**{column: row[column] for column in CATALOGUE_COLUMNS})
    return entries


def entry_for(array: str, catalogue: dict[str, CatalogueEntry], evidence: str = "") -> CatalogueEntry:
    """The catalogue's entry for ``array``, or an error saying how to give the manifest by hand."""
    if array not in catalogue:
        raise EpiclockError(
            f"{evidence or 'the IDATs'}: array {array} has no manifest in the catalogue (arrays: "
            f"{', '.join(catalogue)}); set manifest.path to its manifest file (Illumina CSV or InfiniumAnnotation TSV)"
        )
    return catalogue[array]


def detect_pair_array(basename: str | os.PathLike) -> tuple[str, str]:
    """The array of one sample's IDAT pair (read from its Grn file), and the evidence for messages."""
    _, green = idat_pair_paths(basename)
    idat = read_idat(green)
    evidence = f"{green} ({idat.probe_count:,} addresses, chip type {idat.chip_type or 'not recorded'!r})"
    return detect_array(idat), evidence


def download_path(name: str, entry_file: str) -> str:
    """Where the workflow keeps the downloaded manifest ``name`` (main, extra_1, ...)."""
    return f"{DOWNLOAD_DIR}/{name}/{entry_file}"
