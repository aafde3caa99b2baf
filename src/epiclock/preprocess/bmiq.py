"""BMIQ: beta-mixture quantile normalisation of type-II probes onto the type-I distribution.

A port of wateRmelon's ``BMIQ`` (Teschendorff et al., Bioinformatics 2013), one sample at a time:

1. betas of exactly 0 or 1 are replaced by the nearest value inside (0, 1), per design type;
2. a 3-state beta mixture (unmethylated, hemi, methylated) is fitted by EM (RPMM's ``blc``:
   weighted method-of-moments start, then per-state maximum likelihood by BFGS) to a random
   subsample of ``n_fit`` type-I betas, started from thresholds 0.2 / 0.75;
3. type-II thresholds are the type-I ones shifted by the difference of the density modes of the
   low (< 0.4) and high (> 0.6) betas, and the mixture is fitted to type-II betas likewise;
4. type-II probes in the U and M states are mapped through their state's type-II beta CDF onto the
   type-I quantile function (upper tail for values above the state mean, lower tail below, and,
   as in wateRmelon, only the upper part for M); hemimethylated probes (with the lower M tail) are
   shifted and dilated to fit between the normalised U and M probes.

wateRmelon's quirks are kept: the type-II state thresholds take ``mean(max(...), min(...))``, which
in R is the first argument only. The subsample is random, so two runs agree only approximately;
``seed`` fixes it here (it cannot reproduce R's random stream).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from epiclock.errors import EpiclockError

N_FIT = 50_000
TYPE_ONE_THRESHOLDS = (0.2, 0.75)
MAX_ITERATIONS = 5
TOLERANCE = 1e-3
# Below this upper-tail probability 1 - CDF would lose more than ~6 of its 16 digits.
PRECISE_TAIL = 1e-6


def _beta_log_density(values: np.ndarray, a: float, b: float) -> np.ndarray:
    return (a - 1) * np.log(values) + (b - 1) * np.log1p(-values) - special.betaln(a, b)


def _beta_upper_tail(values: np.ndarray, a: float, b: float) -> np.ndarray:
    """P(X > value) for X ~ Beta(a, b), as ``stats.beta.sf``.

    Taken as 1 - CDF, ten times faster than the direct upper tail, wherever that keeps about ten
    significant digits (tail above PRECISE_TAIL); the direct upper tail is computed below it.
    """
    upper = 1 - special.betainc(a, b, values)
    small = upper < PRECISE_TAIL
    if small.any():
        upper[small] = special.betaincc(a, b, values[small])
    return upper


def _fit_beta(values: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """RPMM's ``betaEst``: weighted moments, then weighted maximum likelihood on log(a), log(b)."""
    total = weights.sum()
    if values.size <= 1 or total <= 0:
        return 1.0, 1.0
    mean = float((weights * values).sum() / total)
    variance = float((weights * values * values).sum() / total - mean * mean)
    start = np.log([mean, 1 - mean]) + np.log(max(1e-6, mean * (1 - mean) / variance - 1)) if variance > 0 else np.zeros(2)
    log_values, log_complements = np.log(values), np.log1p(-values)
    weighted_log, weighted_complement = (weights * log_values).sum(), (weights * log_complements).sum()

    def objective(log_ab):
        a, b = np.exp(log_ab)
        value = -((a - 1) * weighted_log + (b - 1) * weighted_complement - total * special.betaln(a, b))
        digamma_total = special.digamma(a + b)
        gradient_a = -(weighted_log - total * (special.digamma(a) - digamma_total)) * a
        gradient_b = -(weighted_complement - total * (special.digamma(b) - digamma_total)) * b
        return value, np.array([gradient_a, gradient_b])

    result = optimize.minimize(objective, start, jac=True, method="BFGS")
    if not np.all(np.isfinite(result.x)):
        return 1.0, 1.0
    a, b = np.exp(result.x)
    return float(a), float(b)


def fit_beta_mixture(values: np.ndarray, weights: np.ndarray, max_iterations: int = MAX_ITERATIONS,
                     tolerance: float = TOLERANCE) -> dict:
    """RPMM's ``blc`` for one column: EM for a beta mixture from initial state weights (n x K)."""
    low, high = values[values > 0].min(), values[values < 1].max()
    values = np.clip(values, low / 2, 1 - (1 - high) / 2)
    states = weights.shape[1]
    a, b, mu = np.ones(states), np.ones(states), np.full(states, np.inf)
    for _ in range(max_iterations):
        eta = weights.sum(axis=0) / weights.shape[0]
        previous = mu.copy()
        for state in range(states):
            a[state], b[state] = _fit_beta(values, weights[:, state])
        mu = a / (a + b)
        log_density = np.column_stack([_beta_log_density(values, a[k], b[k]) for k in range(states)])
        top = log_density.max(axis=1, keepdims=True)
        weighted = np.exp(log_density - top) * eta
        weights = weighted / weighted.sum(axis=1, keepdims=True)
        if np.max(np.abs(mu - previous)) < tolerance:
            break
    return {"a": a, "b": b, "mu": mu, "eta": eta, "weights": weights}


def _initial_weights(values: np.ndarray, thresholds: tuple[float, float]) -> np.ndarray:
    weights = np.zeros((values.size, 3))
    weights[values <= thresholds[0], 0] = 1
    weights[(values > thresholds[0]) & (values <= thresholds[1]), 1] = 1
    weights[values > thresholds[1], 2] = 1
    return weights


def density_mode(values: np.ndarray) -> float:
    """Mode of R's ``density()`` (Gaussian kernel, bw.nrd0, 512 points over the range +- 3 bw)."""
    n = values.size
    spread = min(np.std(values, ddof=1), stats.iqr(values) / 1.34) if n > 1 else 0.0
    if not spread > 0:
        spread = np.std(values, ddof=1) or abs(values[0]) or 1.0
    bandwidth = 0.9 * spread * n ** -0.2
    grid = np.linspace(values.min() - 3 * bandwidth, values.max() + 3 * bandwidth, 512)
    # Bin onto a fine grid, then smooth: linear-time, like R's binned FFT density.
    fine = np.linspace(grid[0], grid[-1], 4096)
    counts, _ = np.histogram(values, bins=np.append(fine - (fine[1] - fine[0]) / 2, fine[-1] + (fine[1] - fine[0]) / 2))
    step = fine[1] - fine[0]
    half = int(np.ceil(4 * bandwidth / step))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * step / bandwidth) ** 2)
    smooth = np.convolve(counts, kernel, mode="same") if kernel.size <= counts.size else counts.astype(float)
    on_grid = np.interp(grid, fine, smooth)
    return float(grid[np.argmax(on_grid)])


def _without_bounds(values: np.ndarray) -> np.ndarray:
    values = values.copy()
    inside = values[(values > 0) & (values < 1)]
    if inside.size == 0:
        raise EpiclockError("BMIQ: no betas strictly between 0 and 1")
    values[values <= 0] = inside.min()
    values[values >= 1] = inside.max()
    return values


def _design_kinds(design: pd.Series) -> np.ndarray:
    """'I', 'II' or '' per probe from design labels I/II or 1/2 (any case, text or number)."""
    # A manifest has two or three distinct labels: map those, not each of its ~500,000 probes.
    codes, labels = pd.factorize(design, use_na_sentinel=True)
    named = {"I": "I", "1": "I", "II": "II", "2": "II"}
    kinds = np.array([named.get(str(label).strip().upper(), "") for label in labels] + [""], dtype=object)
    return kinds[codes]  # the NA sentinel -1 picks the trailing ''


def bmiq(betas: pd.Series, design: pd.Series, *, n_fit: int = N_FIT, seed: int | None = 1,
         thresholds: tuple[float, float] = TYPE_ONE_THRESHOLDS, max_iterations: int = MAX_ITERATIONS,
         tolerance: float = TOLERANCE, hemimethylated: bool = True) -> pd.Series:
    """BMIQ-normalised betas of one sample (type-I betas unchanged but for exact 0/1), by probe.

    ``design`` gives 'I' or 'II' (or 1/2) per probe of ``betas``; probes with a missing beta or
    design are returned as they were.
    """
    kinds = _design_kinds(design.reindex(betas.index))
    values = betas.to_numpy(np.float64)
    usable = ~np.isnan(values)
    type_one = usable & (kinds == "I")
    type_two = usable & (kinds == "II")
    name = betas.name if betas.name is not None else "sample"
    if type_one.sum() < 100 or type_two.sum() < 100:
        raise EpiclockError(f"BMIQ, sample {name}: needs at least 100 type-I and 100 type-II betas; "
                            f"got {int(type_one.sum())} and {int(type_two.sum())}")
    rng = np.random.default_rng(seed)
    beta_one = _without_bounds(values[type_one])
    beta_two = _without_bounds(values[type_two])

    fit_one_rows = rng.choice(beta_one.size, min(n_fit, beta_one.size), replace=False)
    fit_one = fit_beta_mixture(beta_one[fit_one_rows], _initial_weights(beta_one[fit_one_rows], thresholds),
                               max_iterations, tolerance)
    subset_class = fit_one["weights"].argmax(axis=1)
    subset = beta_one[fit_one_rows]
    threshold_one = (
        np.mean([subset[subset_class == 0].max(), subset[subset_class == 1].min()]),
        np.mean([subset[subset_class == 1].max(), subset[subset_class == 2].min()]),
    )
    class_one = np.where(beta_one < threshold_one[0], 0, np.where(beta_one > threshold_one[1], 2, 1))

    mode_one_u = density_mode(beta_one[class_one == 0])
    mode_one_m = density_mode(beta_one[class_one == 2])
    mode_two_u = density_mode(beta_two[beta_two < 0.4])
    mode_two_m = density_mode(beta_two[beta_two > 0.6])
    threshold_two_start = (threshold_one[0] + mode_two_u - mode_one_u, threshold_one[1] + mode_two_m - mode_one_m)

    fit_two_rows = rng.choice(beta_two.size, min(n_fit, beta_two.size), replace=False)
    fit_two = fit_beta_mixture(beta_two[fit_two_rows], _initial_weights(beta_two[fit_two_rows], threshold_two_start),
                               max_iterations, tolerance)
    subset_class = fit_two["weights"].argmax(axis=1)
    subset = beta_two[fit_two_rows]
    # wateRmelon writes mean(max(...), min(...)): R's mean takes only the first argument.
    threshold_two = (subset[subset_class == 0].max(), subset[subset_class == 1].max())
    class_two = np.where(beta_two < threshold_two[0], 0, np.where(beta_two > threshold_two[1], 2, 1))

    normalised = beta_two.copy()
    a1, b1, a2, b2, mean_two = fit_one["a"], fit_one["b"], fit_two["a"], fit_two["b"], fit_two["mu"]
    selected_u = class_two == 0
    upper_u = selected_u & (beta_two > mean_two[0])
    lower_u = selected_u & (beta_two < mean_two[0])
    normalised[upper_u] = stats.beta.isf(_beta_upper_tail(beta_two[upper_u], a2[0], b2[0]), a1[0], b1[0])
    normalised[lower_u] = stats.beta.ppf(stats.beta.cdf(beta_two[lower_u], a2[0], b2[0]), a1[0], b1[0])
    selected_m = class_two == 2
    upper_m = selected_m & (beta_two > mean_two[2])
    lower_m = selected_m & (beta_two < mean_two[2])
    normalised[upper_m] = stats.beta.isf(_beta_upper_tail(beta_two[upper_m], a2[2], b2[2]), a1[2], b1[2])

    if hemimethylated and upper_m.any() and selected_u.any():
        selected_h = (class_two == 1) | lower_m
        minimum_h, maximum_h = beta_two[selected_h].min(), beta_two[selected_h].max()
        gap_uh = minimum_h - beta_two[selected_u].max()
        gap_hm = beta_two[upper_m].min() - maximum_h
        new_maximum_h = normalised[upper_m].min() - gap_hm
        new_minimum_h = normalised[selected_u].max() + gap_uh
        dilation = (new_maximum_h - new_minimum_h) / (maximum_h - minimum_h)
        normalised[selected_h] = new_minimum_h + dilation * (beta_two[selected_h] - minimum_h)

    result = values.copy()
    result[type_one] = beta_one
    result[type_two] = normalised
    return pd.Series(result, index=betas.index, name=betas.name)
