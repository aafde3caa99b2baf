"""Probe masks: lists of probes whose betas should not be trusted, with where each list came from.

A mask list is a tab-separated file (gzipped or not) with a ``probe_id`` column and optional
``reasons`` and ``sources`` columns (several values separated by ';'). Two lists are vendored
under ``data/masks/``, taken unchanged in content from the
methylcheck 0.8.5 package on PyPI (MIT licence), one row per probe:

- ``450k_snp_crossreactive.tsv.gz``: polymorphic, cross-hybridising and repeat-element probes of
  the 450k from Chen et al. 2013, Price et al. 2013, Naeem et al. 2014, Daca-Roszak et al. 2015
  and Zhou et al. 2016;
- ``epic_snp_crossreactive.tsv.gz``: the same for EPIC from McCartney et al. 2016 and Zhou et al. 2016.

Their provenance (papers, DOIs, source package, version and file, sha256 before and after) is in
``data/masks/provenance.tsv``, in the columns of ``data/provenance.tsv``.

The union of every source covers most of the 450k (Chen's and Price's polymorphism lists count
any SNP anywhere in the probe), so callers choose sources and reasons rather than masking all.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from epiclock.errors import EpiclockError

VENDORED = {"450k": "450k_snp_crossreactive.tsv.gz", "EPIC": "epic_snp_crossreactive.tsv.gz"}
REASONS = ("Polymorphism", "CrossHybridization", "RepeatSequenceElements", "BaseColorChange")


@dataclass(frozen=True)
class MaskList:
    """Probes to mask, with reasons and sources per probe, and the file (and its sha256) they came from."""

    table: pd.DataFrame
    source: str
    sha256: str

    def probes(self, sources: list[str] | None = None, reasons: list[str] | None = None) -> pd.Index:
        """Probe IDs listed by any of ``sources`` for any of ``reasons`` (None: all)."""
        keep = np.ones(len(self.table), dtype=bool)
        for column, wanted in (("sources", sources), ("reasons", reasons)):
            if wanted is None:
                continue
            known = set(";".join(self.table[column].dropna().unique()).split(";")) - {""}
            unknown = sorted(set(wanted) - known)
            if unknown:
                raise EpiclockError(f"{self.source}: no {column} {', '.join(unknown)} in the mask list; "
                                    f"known: {', '.join(sorted(known))}")
            pattern = "(?:^|;)(?:" + "|".join(re.escape(value) for value in wanted) + ")(?:;|$)"
            keep &= self.table[column].fillna("").str.contains(pattern, regex=True).to_numpy(bool)
        return pd.Index(self.table.loc[keep, "probe_id"], name="probe_id")


def read_mask_list(path: str | os.PathLike) -> MaskList:
    """Read a mask list file (TSV with at least ``probe_id``)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise EpiclockError(f"{path}: mask list not found") from error
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, compression="infer")
    except (ValueError, pd.errors.ParserError, OSError, EOFError) as error:
        raise EpiclockError(f"{path}: the mask list cannot be read ({error})") from error
    if "probe_id" not in table.columns:
        raise EpiclockError(f"{path}: the mask list has no 'probe_id' column (columns: {', '.join(table.columns)})")
    for column in ("reasons", "sources"):
        if column not in table.columns:
            table[column] = ""
    table["probe_id"] = table["probe_id"].str.strip()
    table = table.loc[table["probe_id"] != "", ["probe_id", "reasons", "sources"]].drop_duplicates("probe_id")
    return MaskList(table.reset_index(drop=True), str(path), hashlib.sha256(data).hexdigest())


def vendored_mask_list(array: str) -> MaskList:
    """The vendored SNP / cross-reactive list of ``array`` ('450k' or 'EPIC')."""
    if array not in VENDORED:
        raise EpiclockError(f"no vendored mask list for array {array!r}; available: {', '.join(VENDORED)}")
    path = resources.files("epiclock") / "data" / "masks" / VENDORED[array]
    with resources.as_file(path) as real_path:
        return read_mask_list(real_path)


def mask_provenance() -> pd.DataFrame:
    """The provenance table of the vendored mask lists, with each file's sha256 checked."""
    directory = resources.files("epiclock") / "data" / "masks"
    with resources.as_file(directory / "provenance.tsv") as path:
        table = pd.read_csv(path, sep="\t", dtype=str)
    for row in table.itertuples():
        with resources.as_file(directory / row.file) as path:
            actual = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if actual != row.sha256:
            raise EpiclockError(f"data/masks/{row.file}: sha256 {actual} differs from data/masks/provenance.tsv "
                                f"({row.sha256}): the installation is damaged")
    return table


def apply_mask(values: pd.Series | pd.DataFrame, probe_ids) -> pd.Series | pd.DataFrame:
    """A copy of betas (probes as rows) with the listed probes set to NaN."""
    masked = values.copy()
    rows = values.index.isin(pd.Index(probe_ids))
    if isinstance(masked, pd.DataFrame):
        masked.loc[rows, :] = np.nan
    else:
        masked[rows] = np.nan
    return masked
