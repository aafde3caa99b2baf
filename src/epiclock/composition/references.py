"""The vendored cell-type reference profiles (data/composition/) and their provenance.

A reference is named by its file's stem (``epidish_epi_fib_ic`` for data/composition/
epidish_epi_fib_ic.tsv); its columns are the cell types in the source's order and names.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources

import pandas as pd

from epiclock.errors import EpiclockError

DIRECTORY = ("data", "composition")


def _directory():
    return resources.files("epiclock").joinpath(*DIRECTORY)


@functools.cache
def provenance() -> pd.DataFrame:
    """The provenance table of the vendored references, with each file's sha256 checked."""
    directory = _directory()
    with (directory / "provenance.tsv").open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, sep="\t", dtype=str)
    for row in table.itertuples():
        actual = hashlib.sha256((directory / row.file).read_bytes()).hexdigest()
        if actual != row.sha256:
            raise EpiclockError(f"data/composition/{row.file}: sha256 {actual} differs from "
                                f"data/composition/provenance.tsv ({row.sha256}): the installation is damaged")
    return table


def available() -> list[str]:
    return [file.removesuffix(".tsv") for file in provenance()["file"]]


@functools.cache
def load(name: str) -> pd.DataFrame:
    """Reference ``name``: CpGs (index ``cpg_id``) x cell types, beta values."""
    if name not in available():
        raise EpiclockError(f"unknown composition reference {name!r}; available: {', '.join(available())}")
    with (_directory() / f"{name}.tsv").open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, sep="\t", index_col="cpg_id")


def check_names(names: list[str], source: str = "config 'composition.references'") -> None:
    """Stop before any job when a named reference is not vendored."""
    unknown = [name for name in names if name not in available()]
    if unknown:
        raise EpiclockError(f"{source}: unknown reference {', '.join(unknown)}; available: {', '.join(available())}")
