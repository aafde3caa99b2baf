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


def resolve_cell_type(name: str, reference_names: list[str], source: str = "config 'deltas.adjust_for'") -> tuple[str, str]:
    """(reference, cell type) that ``name`` means among the chosen references: a cell type, or
    ``reference:cell_type`` where more than one of them has that cell type."""
    reference, _, cell_type = name.rpartition(":")
    having = [chosen for chosen in reference_names
              if cell_type in load(chosen).columns and reference in ("", chosen)]
    if not having:
        known = sorted({cell for chosen in reference_names for cell in load(chosen).columns})
        raise EpiclockError(f"{source}: {name!r} is not a cell type of the chosen composition references "
                            f"(composition.references: {', '.join(reference_names) or 'none'}); they have "
                            f"{', '.join(known) or 'none'}")
    if len(having) > 1:
        raise EpiclockError(f"{source}: {name!r} is a cell type of {', '.join(having)}; "
                            f"name it as reference:cell_type, e.g. {having[0]}:{cell_type}")
    return having[0], cell_type
