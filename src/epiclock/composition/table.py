"""Composition of a batch of samples as one tidy table (a row per sample, reference and cell type)."""

from __future__ import annotations

import pandas as pd

from epiclock.composition import references
from epiclock.composition.estimate import estimate

COLUMNS = ["sample_id", "reference", "cell_type", "fraction", "method", "n_cpgs", "n_reference_cpgs"]


def composition_table(betas: pd.DataFrame, reference_names: list[str], method: str) -> pd.DataFrame:
    """Fractions of every sample of ``betas`` (CpGs x samples) on each named reference."""
    frames = []
    for name in reference_names:
        reference = references.load(name)
        fractions, n_cpgs = estimate(betas, reference, method)
        fractions.index.name = "sample_id"
        long = fractions.reset_index().melt(id_vars="sample_id", var_name="cell_type", value_name="fraction")
        long["reference"] = name
        long["method"] = method
        long["n_cpgs"] = long["sample_id"].map(n_cpgs).astype(int)
        long["n_reference_cpgs"] = len(reference)
        frames.append(long)
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """Samples x cell types (one column per cell type; the table must hold one reference)."""
    return table.pivot(index="sample_id", columns="cell_type", values="fraction")


def covariates(table: pd.DataFrame, names: list[str], source: str = "config 'deltas.adjust_for'") -> pd.DataFrame:
    """Samples x ``names`` from a composition table; each name as ``references.resolve_cell_type`` reads it."""
    chosen = list(dict.fromkeys(table["reference"]))
    columns = {}
    for name in names:
        reference, cell_type = references.resolve_cell_type(name, chosen, source)
        rows = table.loc[(table["reference"] == reference) & (table["cell_type"] == cell_type)]
        columns[name] = rows.set_index("sample_id")["fraction"]
    return pd.DataFrame(columns)
