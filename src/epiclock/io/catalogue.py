"""The official manifest of each array, picked for the array the IDATs come from, and downloaded once.

``manifest: auto`` (a manifest config with neither a local path nor a url) reads the first sample's IDAT,
tells its array (address count and chip-type string, ``io.manifest.detect_array``) and takes that
array's entry from the catalogue (``data/manifests.tsv``: address, published sha256, where it came
from). A download is written once; its sha256 goes to a lock file beside it (``<file>.sha256``) and
every later run checks the file against it. A sha256 pinned in the config wins over the lock; the
catalogue's published sha256 pins the first download of an ``auto`` manifest.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from epiclock.errors import EpiclockError
from epiclock.io.tables import atomic_path, sha256_file

CATALOGUE_FILE = Path(__file__).resolve().parent.parent / "data" / "manifests.tsv"
CATALOGUE_COLUMNS = ("array", "platform", "description", "file", "url", "sha256", "source", "vendor_page")
LOCK_SUFFIX = ".sha256"
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
    from epiclock.io.idat import idat_pair_paths, read_idat
    from epiclock.io.manifest import detect_array

    _, green = idat_pair_paths(basename)
    idat = read_idat(green)
    evidence = f"{green} ({idat.probe_count:,} addresses, chip type {idat.chip_type or 'not recorded'!r})"
    return detect_array(idat), evidence


def download_path(name: str, entry_file: str) -> str:
    """Where the workflow keeps the downloaded manifest ``name`` (main, extra_1, ...)."""
    return f"{DOWNLOAD_DIR}/{name}/{entry_file}"


def lock_path(path: str | os.PathLike) -> Path:
    return Path(str(path) + LOCK_SUFFIX)


def read_lock(path: str | os.PathLike) -> str:
    """The sha256 recorded when ``path`` was first downloaded ('' when there is no lock)."""
    lock = lock_path(path)
    if not lock.is_file():
        return ""
    recorded = lock.read_text().split()
    if not recorded or len(recorded[0]) != 64:
        raise EpiclockError(f"{lock}: not a sha256 lock file (one 64-character sha256 expected); delete it to "
                            f"download {Path(path).name} again")
    return recorded[0].lower()


def write_lock(path: str | os.PathLike, digest: str) -> None:
    with atomic_path(lock_path(path)) as temporary:
        Path(temporary).write_text(f"{digest}  {Path(path).name}\n")


def check(path: str | os.PathLike, pinned: str = "") -> None:
    """The manifest at ``path`` must match the config's pinned sha256, else the sha256 its lock recorded."""
    expected, origin = (pinned.lower(), "the pinned manifest.sha256") if pinned else \
        (read_lock(path), f"its lock file {lock_path(path)}")
    if not expected or not Path(path).is_file():
        return
    actual = sha256_file(path)
    if actual != expected:
        raise EpiclockError(f"{path}: sha256 {actual} differs from {origin} ({expected}); the file changed since "
                            "it was downloaded: delete it (and its lock) to download it again, or pin the new sha256")


def download_once(url: str, destination: str | os.PathLike, pinned: str = "", array: str = "",
                  timeout: float = 60.0) -> str:
    """Fetch ``url`` to ``destination`` and lock its sha256; never leave a partial or unverified file.

    The download must match ``pinned`` (the config's or the catalogue's sha256), else the lock a former
    download left. Returns the file's sha256.
    """
    if not url:
        raise EpiclockError(f"{destination}: no local manifest and no download address; set manifest.path to a "
                            "local copy (sites without internet) or manifest.url")
    if pinned and len(pinned) != 64:
        raise EpiclockError(f"manifest.sha256 must be the 64-character sha256 of {url} (got {pinned!r})")
    expected = pinned.lower() or read_lock(destination)
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_path(destination) as temporary:
            with open(temporary, "wb") as handle:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    digest.update(chunk)
                    handle.write(chunk)
            if expected and digest.hexdigest() != expected:
                raise EpiclockError(f"{url}: the download has sha256 {digest.hexdigest()}, not the expected "
                                    f"{expected}; the file changed upstream or the download is damaged")
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise EpiclockError(offline_message(url, destination, array, error)) from error
    write_lock(destination, digest.hexdigest())
    return digest.hexdigest()


def offline_message(url: str, destination: str | os.PathLike, array: str = "", error: object = "") -> str:
    """What a site without internet does instead: which file, from where, put where."""
    what = f"the {array} manifest " if array else "the manifest "
    reason = f" ({error})" if error else ""
    return (f"cannot download {what}{Path(destination).name} from {url}{reason}. Without internet, fetch that file "
            f"elsewhere and put it at {Path(destination).resolve()} (or set manifest.path to a local copy), then "
            "run again")
