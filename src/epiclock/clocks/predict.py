"""Predictions of several shipped clocks on one beta matrix, and the CpGs they read."""

from __future__ import annotations

import pandas as pd

from epiclock.clocks.preprocessing import BetaMatrix, collapse_replicate_probes
from epiclock.clocks.registry import get
from epiclock.errors import EpiclockError


def predict(betas: pd.DataFrame, names: list[str], imputation: str = "reference",
            min_coverage: float = 0.8, replicates: str = "mean") -> pd.DataFrame:
    """Long table of predictions for several clocks (sample_id, clock, dnam_age, coverage...).

    EPICv2 probe IDs are collapsed to CpG IDs first (``replicates``: 'mean' or 'first').
    """
    if betas.shape[1] == 0:
        raise EpiclockError("no samples to predict: every sample was excluded before the clocks")
    chosen = [get(name) for name in names]
    matrix = BetaMatrix(collapse_replicate_probes(betas, replicates))
    if len(chosen) > 1:
        matrix.gather(sorted(set().union(*(clock.cpg_ids for clock in chosen))))
    frames = [clock._predict(matrix, imputation, min_coverage, None) for clock in chosen]
    return pd.concat(frames, ignore_index=True)


def required_cpgs(chosen) -> pd.Index | None:
    """The CpGs a set of clocks reads, named without EPICv2 suffixes; None when one of them reads the whole array."""
    needed = [clock.required_cpgs for clock in chosen]
    if any(cpgs is None for cpgs in needed):
        return None
    return pd.Index(sorted(set().union(*needed)))


def coverage_table(betas: pd.DataFrame, names: list[str], imputation: str = "reference",
                   min_coverage: float = 0.8, replicates: str = "mean") -> pd.DataFrame:
    """Per sample and clock: how many of the clock's CpGs were measured and imputed, and the status."""
    table = predict(betas, names, imputation=imputation, min_coverage=min_coverage, replicates=replicates)
    table = table.rename(columns={"n_cpgs_used": "n_measured", "n_cpgs_imputed": "n_imputed"})
    return table[["sample_id", "clock", "n_cpgs", "n_measured", "n_imputed", "coverage", "status"]]
