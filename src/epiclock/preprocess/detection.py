"""Detection p-values, bead-count masks and call rates, one sample at a time.

Two detection p-values:

- ``detection_p_minfi``: minfi's ``detectionP`` (type "m+u"). Per channel the background is the
  median and MAD of the sample's negative-control probes. A type-I probe's intensity is M + U in
  its colour, tested against N(2 median, 2 MAD) of that colour; a type-II probe's is Red + Grn,
  tested against N(median_R + median_G, MAD_R + MAD_G). p is the upper tail.
- ``detection_p_poobah``: SeSAMe's ``pOOBAH``: an empirical p against the out-of-band intensities
  of type-I probes (and, by default, the negative controls) per channel, p = 1 - ECDF(signal),
  taking the larger of the probe's two alleles in each channel and the smaller p of the two
  channels. For a type-I probe SeSAMe includes its own out-of-band channel in that minimum; so
  does this port. SeSAMe also drops its platform's non-unique probes from the background; that
  list is not available here, so every type-I probe contributes. In a run, the negative controls
  join the background where the manifest names them; a manifest without named controls (such as
  InfiniumAnnotation's probe index of HM27) leaves the out-of-band signals alone, as SeSAMe does
  for a sample without negative controls.

A probe fails in a sample when its p exceeds the threshold or when any of its bead types was seen
on fewer than ``min_beads`` beads (3, as minfi, wateRmelon and SeSAMe use).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from epiclock.arrays.channels import Sample, SampleIntensities, measure
from epiclock.errors import EpiclockError
from epiclock.preprocess.normexp import mad

DEFAULT_P_THRESHOLD = 0.01
POOBAH_P_THRESHOLD = 0.05
MIN_BEADS = 3
MIN_POOBAH_BACKGROUND = 100
# The normal upper tail beyond this many SDs is below the smallest float64: exactly 0.
ZERO_TAIL_Z = 40.0
NEGATIVE_CONTROL_TYPE = "NEGATIVE"  # upper-cased: HM27 manifests write "Negative"
MIN_NEGATIVE_CONTROLS = 2


def _negative_controls(measured: SampleIntensities) -> tuple[np.ndarray, np.ndarray]:
    """(Red, Grn) intensities of the sample's NEGATIVE control probes."""
    found = measured.control
    negative = found.layout.present & (found.layout.kinds == NEGATIVE_CONTROL_TYPE)
    if np.count_nonzero(negative) < MIN_NEGATIVE_CONTROLS:
        raise EpiclockError(
            f"sample {measured.channels.name}: only {np.count_nonzero(negative)} NEGATIVE control probe(s) on the array; "
            "detection p-values need the negative controls of the manifest's [Controls] section"
        )
    return found.red[negative], found.green[negative]


def has_negative_controls(controls: pd.DataFrame | None) -> bool:
    """Whether a control table names at least two NEGATIVE controls (minfi's detection p needs them)."""
    if controls is None or "type" not in controls.columns:
        return False
    return int(controls["type"].astype(str).str.upper().eq(NEGATIVE_CONTROL_TYPE).sum()) >= MIN_NEGATIVE_CONTROLS


def detection_p_minfi(sample: Sample, probes: pd.DataFrame, controls: pd.DataFrame) -> pd.Series:
    """minfi's ``detectionP`` for one sample, indexed by probe_id (SNP probes included; minfi omits them)."""
    measured = measure(sample, probes, controls)
    negative_red, negative_green = _negative_controls(measured)
    red_median, red_mad = float(np.median(negative_red)), mad(negative_red)
    green_median, green_mad = float(np.median(negative_green)), mad(negative_green)
    found = measured.probe
    in_red, in_green = found.layout.in_red, found.layout.in_green
    # Type I Red: Red A + B; type I Grn: Grn A + B; any other probe (type II): Red A + Grn A.
    total = np.where(in_green, found.green_b, found.red_a) + np.where(in_red, found.red_b, found.green_a)
    colour = found.layout.rows.colour_code
    mean = np.array([2 * red_median, 2 * green_median, red_median + green_median])[colour]
    sd = np.array([2 * red_mad, 2 * green_mad, red_mad + green_mad])[colour]
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (total - mean) / sd
    # The upper normal tail, as stats.norm.sf computes it; beyond 40 SDs it is 0 in float64, so
    # only the probes below (most of a good array is far above) are evaluated. A zero SD
    # (constant negative controls) gives NaN, as scipy does.
    p_values = np.zeros(len(z))
    near = ~(z > ZERO_TAIL_Z)
    p_values[near] = special.ndtr(-z[near])
    p_values[~(sd > 0)] = np.nan
    return pd.Series(p_values, index=found.layout.index, name=measured.channels.name)


def detection_p_poobah(sample: Sample, probes: pd.DataFrame, controls: pd.DataFrame | None = None,
                       *, combine_negative: bool = True) -> pd.Series:
    """SeSAMe's pOOBAH detection p-value for one sample, indexed by probe_id."""
    if combine_negative and controls is None:
        raise EpiclockError("pOOBAH with combine_negative=True needs the manifest's control table")
    measured = measure(sample, probes, controls if combine_negative else None)
    found = measured.probe
    in_red, in_green = found.layout.in_red, found.layout.in_green
    red_a, red_b, green_a, green_b = found.red_a, found.red_b, found.green_a, found.green_b
    # Out-of-band: a type-I Red probe's Grn beads, a type-I Grn probe's Red beads.
    green_background = [green_a[in_red], green_b[in_red]]
    red_background = [red_a[in_green], red_b[in_green]]
    if combine_negative:
        negative_red, negative_green = _negative_controls(measured)
        green_background.append(negative_green)
        red_background.append(negative_red)
    green_background = _empirical_background(np.concatenate(green_background))
    red_background = _empirical_background(np.concatenate(red_background))

    type_one = in_red | in_green
    # Type I: the larger of the two beads in each channel; type II: its one bead in each channel.
    red_signal = np.where(type_one, np.fmax(red_a, red_b), red_a)
    green_signal = np.where(type_one, np.fmax(green_a, green_b), green_a)
    p_red = 1 - _ecdf(red_background, red_signal)
    p_green = 1 - _ecdf(green_background, green_signal)
    p_values = np.fmin(p_red, p_green)
    return pd.Series(p_values, index=found.layout.index, name=measured.channels.name)


def _empirical_background(values: np.ndarray) -> np.ndarray:
    values = np.sort(values[~np.isnan(values)])
    # SeSAMe's fallback when a channel has next to no background: a flat prior on 1..1000.
    if values.size <= MIN_POOBAH_BACKGROUND:
        return np.arange(1, 1001, dtype=np.float64)
    return values


def _ecdf(sorted_background: np.ndarray, values: np.ndarray) -> np.ndarray:
    """R's ``ecdf(background)(values)``: the share of background values <= each value (NaN stays NaN)."""
    share = np.searchsorted(sorted_background, values, side="right") / sorted_background.size
    return np.where(np.isnan(values), np.nan, share)


def bead_count_mask(sample: Sample, probes: pd.DataFrame, min_beads: int = MIN_BEADS) -> pd.Series:
    """True where a probe has a bead type seen on fewer than ``min_beads`` beads (or absent)."""
    measured = measure(sample, probes)
    found = measured.probe
    type_one = ~found.layout.type_two
    beads_a, beads_b = found.beads_a, found.beads_b
    too_few_a = ~(beads_a >= min_beads)
    too_few_b = type_one & ~(beads_b >= min_beads)
    return pd.Series(too_few_a | too_few_b, index=found.layout.index, name=measured.channels.name)


def failed_probes(p_values: pd.Series, bead_mask: pd.Series | None = None,
                  p_threshold: float = DEFAULT_P_THRESHOLD) -> pd.Series:
    """True where a probe failed in the sample: p above the threshold, p missing, or too few beads."""
    if not 0 < p_threshold <= 1:
        raise EpiclockError(f"the detection p threshold must be in (0, 1]; got {p_threshold}")
    failed = ~(p_values <= p_threshold)
    if bead_mask is not None:
        failed = failed | bead_mask.reindex(p_values.index, fill_value=True)
    return failed.rename(p_values.name)


def call_rate(failed: pd.Series) -> float:
    """Share of probes that did not fail in the sample."""
    if len(failed) == 0:
        raise EpiclockError(f"sample {failed.name}: no probes to compute a call rate over")
    return float(1 - failed.to_numpy(bool).mean())


def detection_summary(sample: Sample, probes: pd.DataFrame, controls: pd.DataFrame, *,
                      method: str = "minfi", p_threshold: float | None = None,
                      min_beads: int = MIN_BEADS) -> tuple[pd.DataFrame, dict]:
    """One sample's per-probe detection table and its summary.

    Returns a frame by probe_id with ``p_value``, ``low_beads`` and ``failed``, and a dict with
    ``sample``, ``method``, ``p_threshold``, ``min_beads``, ``n_probes``, ``n_failed``,
    ``n_low_beads`` and ``call_rate``. ``method`` is ``minfi`` (threshold 0.01 by default) or
    ``poobah`` (0.05, SeSAMe's default).
    """
    measured = measure(sample, probes, controls)
    if method == "minfi":
        p_values = detection_p_minfi(measured, probes, controls)
        threshold = DEFAULT_P_THRESHOLD if p_threshold is None else p_threshold
    elif method == "poobah":
        p_values = detection_p_poobah(measured, probes, controls, combine_negative=has_negative_controls(controls))
        threshold = POOBAH_P_THRESHOLD if p_threshold is None else p_threshold
    else:
        raise EpiclockError(f"detection: unknown method {method!r}; choose 'minfi' or 'poobah'")
    low_beads = bead_count_mask(measured, probes, min_beads)
    failed = failed_probes(p_values, low_beads, threshold)
    table = pd.DataFrame({"p_value": p_values, "low_beads": low_beads, "failed": failed})
    summary = {
        "sample": p_values.name, "method": method, "p_threshold": threshold, "min_beads": min_beads,
        "n_probes": len(table), "n_failed": int(failed.sum()), "n_low_beads": int(low_beads.sum()),
        "call_rate": call_rate(failed),
    }
    return table, summary
