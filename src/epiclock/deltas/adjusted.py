"""Contrasts adjusted for covariates measured per sample (cell fractions: ``deltas.adjust_for``).

Donor level: each donor's difference in DNAm age between the two sides is regressed on the same
donor's differences in the covariates, difference_age = a + b . difference_covariates + error, by
least squares over donors. The intercept a is the age difference expected at equal composition on
both sides, the adjusted estimate; its t interval and test have donors - 1 - (number of covariates)
degrees of freedom, so every covariate costs a donor's worth of evidence. With no covariate this is
the paired t-test on the donor differences.

Mixed model: the same model as the unadjusted one (epiclock.deltas.mixed) with the covariates as
fixed effects beside the cell means, so the contrast compares the groups at equal composition.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from epiclock.deltas.design import Contrast, Design
from epiclock.deltas.mixed import mixed_model_contrast
from epiclock.deltas.paired import donor_differences

# Residual degrees of freedom the donor-level regression needs before it reports a test.
MIN_RESIDUAL_DF = 2


def adjusted_paired_test(differences: np.ndarray, covariate_differences: np.ndarray,
                         confidence: float = 0.95) -> dict:
    """Intercept of the donors' age differences on their covariate differences (donors x covariates)."""
    differences = np.asarray(differences, dtype=float)
    covariates = np.asarray(covariate_differences, dtype=float)
    # One column per covariate even when no donor is left (a reshape with -1 cannot size zero rows).
    covariates = covariates.reshape(len(differences), covariates.shape[-1] if covariates.ndim > 1 else 1)
    usable = ~np.isnan(differences) & ~np.isnan(covariates).any(axis=1)
    differences, covariates = differences[usable], covariates[usable]
    n_donors, n_covariates = len(differences), covariates.shape[1]
    result = {"estimate": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan,
              "df": np.nan, "n_donors": n_donors, "note": ""}
    degrees = n_donors - 1 - n_covariates
    if degrees < MIN_RESIDUAL_DF:
        result["note"] = (f"not adjusted: {n_donors} donors leave {degrees} residual degree(s) of freedom for "
                          f"{n_covariates} covariate(s); at least {MIN_RESIDUAL_DF} are needed")
        return result
    design = np.column_stack([np.ones(n_donors), covariates])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        result["note"] = ("not adjusted: the covariate differences do not vary between donors independently "
                          "(for example, the same shift in every donor), so they cannot be told from the contrast")
        return result
    coefficients, *_ = np.linalg.lstsq(design, differences, rcond=None)
    residuals = differences - design @ coefficients
    variance = float(residuals @ residuals) / degrees
    standard_error = float(np.sqrt(variance * np.linalg.inv(design.T @ design)[0, 0]))
    estimate = float(coefficients[0])
    half_width = stats.t.ppf(0.5 + confidence / 2, degrees) * standard_error
    result.update(estimate=estimate, se=standard_error, ci_low=estimate - half_width, ci_high=estimate + half_width,
                  df=float(degrees))
    if standard_error > 0:
        result["p_value"] = float(2 * stats.t.sf(abs(estimate) / standard_error, degrees))
    return result


# Columns added to the contrast table when ``deltas.adjust_for`` names covariates; each says what it
# is adjusted for in ``adjusted_for``, beside the unadjusted columns of the same contrast and clock.
# Estimates are in the clock's unit (the table's ``unit`` column).
ADJUSTED_COLUMNS = [
    "adjusted_for", "adjusted_estimate", "adjusted_ci_low", "adjusted_ci_high", "adjusted_p", "adjusted_q",
    "adjusted_df", "adjusted_n_donors", "adjusted_note", "adjusted_mixed_estimate", "adjusted_mixed_ci_low",
    "adjusted_mixed_ci_high", "adjusted_mixed_df", "adjusted_mixed_p", "adjusted_mixed_q", "adjusted_mixed_note",
]


def adjusted_contrast(table: pd.DataFrame, contrast: Contrast, design: Design, covariates: list[str]) -> dict:
    """The contrast for one clock's samples adjusted for ``covariates`` (columns of ``table``):
    donor-level regression (``adjusted_paired_test``) and the mixed model with them as fixed effects."""
    usable = table.dropna(subset=list(covariates))
    ages = donor_differences(usable, contrast, design)["difference"]
    shifts = pd.concat({name: donor_differences(usable.assign(dnam_age=usable[name].where(usable["dnam_age"].notna())),
                                                contrast, design)["difference"] for name in covariates}, axis=1)
    shifts = shifts.reindex(ages.index)
    donor_level = adjusted_paired_test(ages.to_numpy(dtype=float), shifts.to_numpy(dtype=float))
    mixed = mixed_model_contrast(usable, contrast, design, covariates=tuple(covariates))
    left_out = len(table) - len(usable)
    note = donor_level["note"]
    if left_out:
        note = "; ".join(filter(None, [note, f"{left_out} sample(s) without {', '.join(covariates)} left out"]))
    return {
        "adjusted_for": ", ".join(covariates), "adjusted_estimate": donor_level["estimate"],
        "adjusted_ci_low": donor_level["ci_low"], "adjusted_ci_high": donor_level["ci_high"],
        "adjusted_p": donor_level["p_value"], "adjusted_df": donor_level["df"],
        "adjusted_n_donors": donor_level["n_donors"], "adjusted_note": note,
        "adjusted_mixed_estimate": mixed["mixed_estimate"], "adjusted_mixed_ci_low": mixed["mixed_ci_low"],
        "adjusted_mixed_ci_high": mixed["mixed_ci_high"], "adjusted_mixed_df": mixed["mixed_df"],
        "adjusted_mixed_p": mixed["mixed_p"], "adjusted_mixed_note": mixed["mixed_note"],
    }
