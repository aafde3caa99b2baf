"""The provenance record of a run: config, input checksums, vendored data checksums, software versions."""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
from importlib import metadata, resources
from pathlib import Path

import pandas as pd

from epiclock.errors import EpiclockError
from epiclock.io.tables import sha256_file

PACKAGES = ("epiclock", "snakemake", "numpy", "pandas", "scipy", "scikit-learn", "statsmodels",
            "matplotlib", "pyarrow", "jinja2", "pyyaml")


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def config_sha256(config: dict) -> str:
    canonical = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def vendored_data() -> pd.DataFrame:
    """The provenance table of the vendored data files, with each file's checksum verified."""
    data = resources.files("epiclock") / "data"
    with (data / "provenance.tsv").open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, sep="\t", dtype=str)
    for row in table.itertuples():
        with resources.as_file(data / row.file) as path:
            actual = sha256_file(path)
        if actual != row.sha256:
            raise EpiclockError(f"vendored data file {row.file} has sha256 {actual}, "
                                f"but data/provenance.tsv records {row.sha256}: the installation is damaged")
    return table


def build(config: dict, inputs: dict[str, str | Path], run_date: datetime.datetime | None = None) -> dict:
    run_date = run_date or datetime.datetime.now(datetime.timezone.utc)
    return {
        "run_date": run_date.replace(microsecond=0).isoformat(),
        "config": config,
        "config_sha256": config_sha256(config),
        "inputs": {str(path): sha256_file(path) for path in inputs.values()},
        "vendored_data": {row.file: row.sha256 for row in vendored_data().itertuples()},
        "software": software_versions(),
        "platform": platform.platform(),
    }
