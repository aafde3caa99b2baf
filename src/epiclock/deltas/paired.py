"""The primary test: within-donor differences, one per donor, tested across donors.

Differences are taken within each pairing unit (the donor, or the donor at one time point or in one
culture unit when ``pair_by`` names more columns), averaged within donor, and the donors' mean
differences are tested with a one-sample t-test (and Wilcoxon's signed-rank test beside it). The
donor is the unit of replication: 4 donors at 3 time points are 4 differences, not 12.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from epiclock.deltas.design import Contrast, Design, assign_cells, mean_ci

MIN_DONORS_FOR_TEST = 3
# The level at which a test is said to be able to reach significance (two-sided).
SIGNIFICANCE = 0.05


def signed_rank_size(n_donors: int, alpha: float = SIGNIFICANCE) -> float:
    """Exact size of the two-sided signed-rank test on ``n_donors`` differences: P(p < alpha) with no effect.

    The test is discrete: under no effect each of the 2^n sign patterns of the ranks is equally likely,
    so its p-values take few values and the share below ``alpha`` is below ``alpha`` (2/64 with 6
    donors, 10/256 with 8). Ties and zeros aside, this is the exact p scipy's ``wilcoxon`` gives.
    """
    # Number of sign patterns giving each sum of positive ranks W+ (0 .. n(n+1)/2): subsets of 1..n by sum.
    counts = np.ones(1)
    for rank in range(1, n_donors + 1):
        counts = np.concatenate([counts, np.zeros(rank)]) + np.concatenate([np.zeros(rank), counts])
    probability = counts / counts.sum()
    lower = np.cumsum(probability)
    upper = np.cumsum(probability[::-1])[::-1]
    p_values = np.minimum(1.0, 2 * np.minimum(lower, upper))
    return float(probability[p_values < alpha].sum())


# Below this many donors the two-sided signed-rank test cannot reach p < 0.05 (its smallest p is 2 / 2^n).
MIN_DONORS_FOR_WILCOXON = next(n for n in range(1, 64) if signed_rank_size(n) > 0)


def _unit_codes(rows: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, pd.Index]:
    """Each row's pairing unit as a code, and the units (sorted; a MultiIndex for several columns)."""
    if len(columns) == 1:
        return pd.factorize(rows[columns[0]], sort=True)
    factorized = [pd.factorize(rows[column], sort=True) for column in columns]
    combined = np.ravel_multi_index([codes for codes, _ in factorized], [len(levels) for _, levels in factorized])
    codes, present = np.unique(combined, return_inverse=True)[1], np.unique(combined)
    positions = np.unravel_index(present, [len(levels) for _, levels in factorized])
    units = pd.MultiIndex.from_arrays([levels[position] for (_, levels), position in zip(factorized, positions)])
    return codes, units


def unit_differences(table: pd.DataFrame, contrast: Contrast, design: Design) -> pd.DataFrame:
    """Per pairing unit (donor, then the matched columns) with every group the contrast compares:
    mean treated, mean reference and the (difference of) differences of the groups' means."""
    cells = contrast.cells()
    assignment = assign_cells(table, contrast).to_numpy()
    usable = np.flatnonzero((assignment >= 0) & table["dnam_age"].notna().to_numpy())
    columns = design.pairing_columns()
    rows = table.iloc[usable]
    codes, units = _unit_codes(rows, columns)
    sums = np.zeros((len(units), len(cells)))
    counts = np.zeros((len(units), len(cells)))
    np.add.at(sums, (codes, assignment[usable]), rows["dnam_age"].to_numpy(dtype=float))
    np.add.at(counts, (codes, assignment[usable]), 1)
    complete = (counts > 0).all(axis=1)
    means = sums[complete] / counts[complete]
    keys = [tuple(sorted(levels.items())) for _, levels, _ in cells]
    index = units[complete]
    index.names = columns
    return pd.DataFrame({
        "treated": means[:, keys.index(tuple(sorted(contrast.treated.items())))],
        "reference": means[:, keys.index(tuple(sorted(contrast.reference.items())))],
        "difference": means @ np.array([weight for _, _, weight in cells]),
    }, index=index)


def donor_differences(table: pd.DataFrame, contrast: Contrast, design: Design) -> pd.DataFrame:
    """Per donor: the means over its matched units of treated, reference and their difference."""
    units = unit_differences(table, contrast, design)
    donor_labels = units.index.get_level_values(0)
    codes, donors = pd.factorize(donor_labels, sort=True)
    n_units = np.bincount(codes, minlength=len(donors))
    values = {column: np.bincount(codes, weights=units[column].to_numpy(), minlength=len(donors)) / n_units
              for column in ("treated", "reference", "difference")}
    return pd.DataFrame({**values, "n_units": n_units}, index=pd.Index(donors, name=design.donor_column))


def paired_test(differences: np.ndarray) -> dict:
    """Mean of the donors' differences with a t-based 95% CI, one-sample t and Wilcoxon signed-rank p."""
    n_donors = len(differences)
    estimate, ci_low, ci_high = mean_ci(differences)
    result = {"estimate_years": estimate, "ci_low": ci_low, "ci_high": ci_high, "p_value": np.nan,
              "p_wilcoxon": np.nan, "sd_difference": np.nan, "effect_size_dz": np.nan, "n_donors": n_donors,
              "note": ""}
    if n_donors >= 2:
        sd = float(np.std(differences, ddof=1))
        result["sd_difference"] = sd
        result["effect_size_dz"] = estimate / sd if sd > 0 else np.nan
        result["p_value"] = float(stats.ttest_1samp(differences, 0.0).pvalue) if sd > 0 else np.nan
        if np.any(differences != 0):
            result["p_wilcoxon"] = float(stats.wilcoxon(differences).pvalue)
    if n_donors < MIN_DONORS_FOR_TEST:
        result["note"] = (f"only {n_donors} donor(s): too few for a test to mean anything "
                          f"(at least {MIN_DONORS_FOR_TEST} needed)")
    elif n_donors < MIN_DONORS_FOR_WILCOXON:
        result["note"] = (f"{n_donors} donors: the Wilcoxon test cannot reach p < 0.05 with fewer than "
                          f"{MIN_DONORS_FOR_WILCOXON}; read the paired t-test and the CI")
    return result


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """BH-adjusted q-values; missing p-values stay missing and do not count as tests."""
    q_values = np.full(len(p_values), np.nan)
    tested = ~np.isnan(p_values)
    if tested.any():
        q_values[tested] = stats.false_discovery_control(p_values[tested], method="bh")
    return q_values
