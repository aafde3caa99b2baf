"""Robust estimates (MAD, MASS's huber) and the normal-exponential model of limma and minfi."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special

from epiclock.errors import EpiclockError


NOOB_OFFSET = 15.0


MIN_ALPHA = 10.0


HUBER_K = 1.5


HUBER_TOLERANCE = 1e-6


MAD_CONSTANT = 1.4826


FAR_TAIL_Z = -40.0


# phi(z) / (z Phi(z)) < 2**-53 from here on: the normexp correction is below float64 resolution.
NEGLIGIBLE_CORRECTION_Z = 9.0


MAX_INTENSITY = 65_535  # IDAT means are 16-bit


# Below this many values the per-level shortcuts of huber and normexp_signal are not worth their set-up.
LEVELS_MIN_SIZE = 20_000


def mad(values: np.ndarray) -> float:
    """R's ``mad``: median absolute deviation from the median, times 1.4826."""
    values = np.asarray(values, dtype=np.float64)
    return float(MAD_CONSTANT * np.median(np.abs(values - np.median(values))))


def whole_number_levels(values: np.ndarray) -> np.ndarray | None:
    """``values`` as int64 when every one is a whole number in 0..65535 (raw IDAT means are); else None.

    Such values take at most 65,536 distinct levels, so medians, sums and per-value functions over
    hundreds of thousands of them can be computed once per level instead of once per value.
    """
    if values.size == 0 or np.isnan(values).any():
        return None
    if values.min() < 0 or values.max() > MAX_INTENSITY:
        return None
    levels = values.astype(np.int64)
    return levels if np.array_equal(levels, values) else None


def _median_of_counts(counts: np.ndarray) -> float:
    """The median of a sample given as counts per whole number 0, 1, 2, ... (as ``np.median`` would give)."""
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1])
    # The value of 0-based rank r is the first level whose cumulative count exceeds r.
    lower = int(np.searchsorted(cumulative, (total - 1) // 2 + 1))
    upper = int(np.searchsorted(cumulative, total // 2 + 1))
    return (lower + upper) / 2


def _huber_from_counts(counts: np.ndarray, k: float, tolerance: float) -> tuple[float, float]:
    """``huber`` on whole numbers given as counts per level: same estimate, one pass per level."""
    mu = _median_of_counts(counts)
    levels = np.arange(counts.size, dtype=np.float64)
    # |level - median| is a multiple of 1/2: count the doubled deviations to get their median.
    doubled_deviation = np.abs(2 * np.arange(counts.size, dtype=np.int64) - int(round(2 * mu)))
    scale = float(MAD_CONSTANT * (_median_of_counts(np.bincount(doubled_deviation, weights=counts)) / 2))
    if scale == 0:
        raise EpiclockError("huber: cannot estimate scale: the MAD is zero (constant intensities)")
    occupied = counts > 0
    levels, weights, total = levels[occupied], counts[occupied].astype(np.float64), float(counts.sum())
    while True:
        # An elementwise product, not a BLAS dot: the latter's thread start-up costs more than the sum.
        updated = float((np.clip(levels, mu - k * scale, mu + k * scale) * weights).sum() / total)
        if abs(mu - updated) < tolerance * scale:
            return mu, scale
        mu = updated


def huber(values: np.ndarray, k: float = HUBER_K, tolerance: float = HUBER_TOLERANCE) -> tuple[float, float]:
    """MASS's ``huber``: Huber M-estimate of location with MAD scale, as (mu, s).

    Like MASS, it returns the estimate *before* the last update once the change falls below
    ``tolerance * s``.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        raise EpiclockError("huber: no values to estimate from")
    levels = whole_number_levels(values) if values.size >= LEVELS_MIN_SIZE else None
    if levels is not None:
        return _huber_from_counts(np.bincount(levels), k, tolerance)
    mu = float(np.median(values))
    scale = float(MAD_CONSTANT * np.median(np.abs(values - mu)))
    if scale == 0:
        raise EpiclockError("huber: cannot estimate scale: the MAD is zero (constant intensities)")
    while True:
        updated = float(np.clip(values, mu - k * scale, mu + k * scale).sum() / values.size)
        if abs(mu - updated) < tolerance * scale:
            return mu, scale
        mu = updated


class NormexpParameters(NamedTuple):
    """Background mean and SD, and signal mean, of one channel of one array."""

    mu: float
    sigma: float
    alpha: float


def normexp_signal(parameters: NormexpParameters, values: np.ndarray) -> np.ndarray:
    """limma's ``normexp.signal``: E[signal | observed] under normal background + exponential signal.

    As in limma, when any corrected value is negative (numerical limit at very low intensity),
    all values are floored at 1e-6. More than 40 background SDs below the background mean, where
    limma's formula returns round-off noise, an asymptotic series is used instead.
    """
    mu, sigma, alpha = parameters
    if not (alpha > 0 and sigma > 0):
        raise EpiclockError(f"normexp: alpha and sigma must be positive (got alpha={alpha}, sigma={sigma})")
    values = np.asarray(values, dtype=np.float64)
    present = ~np.isnan(values)
    levels = whole_number_levels(values[present]) if np.count_nonzero(present) >= LEVELS_MIN_SIZE else None
    if levels is not None:
        # Raw intensities repeat: the signal of each level, looked up, is the signal of each value.
        signal = np.full(values.shape, np.nan)
        signal[present] = _normexp_values(parameters, np.arange(levels.max() + 1, dtype=np.float64))[levels]
    else:
        signal = _normexp_values(parameters, values)
    finite = ~np.isnan(signal)
    if (signal[finite] < 0).any():
        signal = np.where(finite, np.maximum(signal, 1e-6), signal)
    return signal


def _normexp_values(parameters: NormexpParameters, values: np.ndarray) -> np.ndarray:
    mu, sigma, alpha = parameters
    shifted = values - mu - sigma * sigma / alpha
    z = shifted / sigma
    signal = shifted.copy()
    # Above NEGLIGIBLE_CORRECTION_Z the correction sigma * phi(z) / Phi(z) is below half a unit in
    # the last place of ``shifted``, so adding it changes no bit: the costly log-normal-CDF is
    # evaluated only below (NaN included, to stay NaN).
    near = ~(z > NEGLIGIBLE_CORRECTION_Z)
    near_z = z[near]
    log_density = -0.5 * np.log(2 * np.pi) - np.log(sigma) - 0.5 * near_z * near_z
    # P(N(shifted, sigma) > 0) = Phi(shifted / sigma), in logs for the far tail.
    log_upper = special.log_ndtr(near_z)
    signal[near] = shifted[near] + sigma * sigma * np.exp(log_density - log_upper)
    # Far below background the two terms cancel to round-off noise (limma's floor hides it when
    # negative); there the asymptotic series of z + phi(z)/Phi(z) keeps the result monotone.
    far = z < FAR_TAIL_Z
    if far.any():
        tail = z[far]
        signal[far] = sigma * (-1 / tail + 2 / tail**3 - 10 / tail**5 + 74 / tail**7)
    return signal


def fit_normexp(background: np.ndarray, in_band: np.ndarray) -> NormexpParameters:
    """minfi's ``normexp.get.xs`` fit: huber on the background, alpha from the in-band values."""
    mu, sigma = huber(background)
    alpha = max(huber(in_band)[0] - mu, MIN_ALPHA)
    return NormexpParameters(mu, sigma, alpha)
