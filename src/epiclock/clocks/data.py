"""The clocks' vendored data files (see data/provenance.tsv): coefficient tables and reference values."""

from __future__ import annotations

import functools
from importlib import resources

import pandas as pd

from epiclock.errors import EpiclockError


def data_path(relative: str):
    return resources.files("epiclock") / "data" / relative


@functools.lru_cache(maxsize=None)
def read_cpg_table(relative: str, column: str) -> pd.Series:
    with data_path(relative).open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, sep="\t", dtype={"cpg_id": str})
    if "cpg_id" not in table or column not in table:
        raise EpiclockError(f"data/{relative}: expected columns cpg_id and {column}, found {', '.join(table.columns)}")
    series = table.set_index("cpg_id")[column].astype(float)
    if not series.index.is_unique or series.isna().any():
        raise EpiclockError(f"data/{relative}: CpG IDs must be unique and every {column} present")
    return series


@functools.lru_cache(maxsize=None)
def read_cpg_list(relative: str) -> pd.Index:
    """The CpG IDs of a file with a cpg_id column (a clock whose weights act on sorted values)."""
    with data_path(relative).open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, sep="\t", dtype={"cpg_id": str})
    if "cpg_id" not in table or not table["cpg_id"].is_unique:
        raise EpiclockError(f"data/{relative}: expected a column cpg_id of unique CpG IDs")
    return pd.Index(table["cpg_id"])


@functools.lru_cache(maxsize=1)
def reference_medians() -> pd.Series:
    """Fixed per-CpG reference medians (see data/provenance.tsv), indexed by CpG ID."""
    with data_path("reference/sesame_450k_median.tsv.gz").open("rb") as handle:
        table = pd.read_csv(handle, sep="\t", compression="gzip", index_col="cpg_id")
    return table["median"]
