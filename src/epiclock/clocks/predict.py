"""Predictions of several shipped clocks on one beta matrix, and the CpGs they read."""

from __future__ import annotations

import pandas as pd

from epiclock.clocks.clock import DETAIL_COLUMNS, frame
from epiclock.clocks.preprocessing import BetaMatrix, collapse_replicate_probes
from epiclock.clocks.registry import expand_names, get
from epiclock.errors import EpiclockError


def predict(betas: pd.DataFrame, names: list[str], imputation: str = "reference",
            min_coverage: float = 0.8, replicates: str = "mean", sample_tissue: str | None = None,
            covariates: pd.DataFrame | None = None) -> pd.DataFrame:
    """Long table of predictions for several clocks (sample_id, clock, dnam_age, coverage...).

    EPICv2 probe IDs are collapsed to CpG IDs first (``replicates``: 'mean' or 'first'); ``names``
    may hold panel names (PANELS). sample_tissue, covariates: see ``Clock.predict``.
    """
    return predict_with_details(betas, names, imputation, min_coverage, replicates, sample_tissue, covariates,
                                with_details=False)[0]


def predict_with_details(betas: pd.DataFrame, names: list[str], imputation: str = "reference",
                         min_coverage: float = 0.8, replicates: str = "mean", sample_tissue: str | None = None,
                         covariates: pd.DataFrame | None = None,
                         with_details: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The predictions (PREDICTION_COLUMNS) and the clocks' further outputs (DETAIL_COLUMNS; empty
    without ``with_details``)."""
    names = expand_names(names)
    if betas.shape[1] == 0:
        raise EpiclockError("no samples to predict: every sample was excluded before the clocks")
    chosen = [get(name) for name in names]
    matrix = BetaMatrix(collapse_replicate_probes(betas, replicates))
    if len(chosen) > 1:
        matrix.gather({clock.name: clock.cpg_ids for clock in chosen})
    details: list[pd.DataFrame] = []
    tables = [clock._predict(matrix, imputation, min_coverage, None, sample_tissue, covariates,
                             details if with_details else None)
              for clock in chosen]
    detail_table = pd.concat(details, ignore_index=True) if details else pd.DataFrame(columns=DETAIL_COLUMNS)
    return frame(tables), detail_table


def required_cpgs(chosen) -> pd.Index | None:
    """The CpGs a set of clocks reads, named without EPICv2 suffixes; None when one of them reads the whole array."""
    needed = [clock.required_cpgs for clock in chosen]
    if any(cpgs is None for cpgs in needed):
        return None
    return pd.Index(sorted(set().union(*needed)))


def coverage_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per sample and clock of a prediction table: the clock's CpGs measured and imputed, and the status."""
    table = predictions.rename(columns={"n_cpgs_used": "n_measured", "n_cpgs_imputed": "n_imputed"})
    return table[["sample_id", "clock", "n_cpgs", "n_measured", "n_imputed", "coverage", "status"]]
