"""Dye-bias correction: normalisation-control levels (minfi's "single", SeSAMe's "linear") and
SeSAMe's nonlinear ``dyeBiasNL`` (see ``preprocess.noob`` for how noob applies them)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiclock.arrays.channels import Sample, measure
from epiclock.errors import EpiclockError
from epiclock.preprocess.normexp import NOOB_OFFSET, NormexpParameters, normexp_signal


DYE_METHODS = ("single", "linear", "nonlinear", "none")


# Control types (upper-cased) whose mean is each channel's level; HM27 manifests name them
# Normalization-Green and Normalization-Red, as minfi's preprocessNoob reads them on 27k arrays.
GREEN_NORMALISATION_TYPES = ("NORM_C", "NORM_G", "NORMALIZATION-GREEN")


RED_NORMALISATION_TYPES = ("NORM_A", "NORM_T", "NORMALIZATION-RED")


def normalisation_control_levels(sample: Sample, controls: pd.DataFrame,
                                 green_parameters: NormexpParameters, red_parameters: NormexpParameters,
                                 offset: float = NOOB_OFFSET) -> tuple[float, float]:
    """(Grn, Red) mean of the background-corrected normalisation controls (NORM_C/G in Grn, NORM_A/T in Red).

    As minfi does, every control probe is corrected with the channel's normexp parameters, then
    the C/G controls are averaged in Grn and the A/T controls in Red.
    """
    measured = measure(sample, controls=controls)
    found = measured.control
    present = found.layout.present
    kinds = found.layout.kinds[present]
    green_rows = np.isin(kinds, GREEN_NORMALISATION_TYPES)
    red_rows = np.isin(kinds, RED_NORMALISATION_TYPES)
    if not green_rows.any() or not red_rows.any():
        raise EpiclockError(
            f"sample {measured.channels.name}: the control table has no NORM_C/NORM_G and NORM_A/NORM_T "
            "(or HM27 Normalization-Green/-Red) controls on this array, which dye-bias correction needs; "
            "use dye_method='none' or 'nonlinear'"
        )
    green = normexp_signal(green_parameters, found.green[present]) + offset
    red = normexp_signal(red_parameters, found.red[present]) + offset
    return float(green[green_rows].mean()), float(red[red_rows].mean())


def has_normalisation_controls(controls: pd.DataFrame | None) -> bool:
    """Whether a control table names normalisation controls of both channels (dye methods single, linear)."""
    if controls is None or "type" not in controls.columns:
        return False
    kinds = controls["type"].astype(str).str.upper()
    return bool(kinds.isin(GREEN_NORMALISATION_TYPES).any() and kinds.isin(RED_NORMALISATION_TYPES).any())


def correct_nonlinear(meth: np.ndarray, unmeth: np.ndarray, in_red: np.ndarray, in_green: np.ndarray,
                        type_two: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SeSAMe's ``dyeBiasNL``: map each channel onto the mid-point of the two type-I quantile functions.

    The sorted type-I Red intensities are paired with the Grn quantiles at the same ranks (the
    target quantile function interpolated to the Red count, as preprocessCore does), and every
    Red-channel value is moved to the pair's mean by linear interpolation; values beyond the
    type-I range are shifted (above) or scaled (below). Likewise for Grn.
    """
    red_type_one = np.concatenate([meth[in_red], unmeth[in_red]])
    green_type_one = np.concatenate([meth[in_green], unmeth[in_green]])
    red_type_one = red_type_one[~np.isnan(red_type_one)]
    green_type_one = green_type_one[~np.isnan(green_type_one)]
    if red_type_one.size < 2 or green_type_one.size < 2 or red_type_one.max() <= 0 or green_type_one.max() <= 0:
        return meth, unmeth
    red_map = _midpoint_map(np.sort(red_type_one), np.sort(green_type_one))
    green_map = _midpoint_map(np.sort(green_type_one), np.sort(red_type_one))
    meth, unmeth = meth.copy(), unmeth.copy()
    red_meth, red_unmeth = in_red, in_red | type_two
    green_meth, green_unmeth = in_green | type_two, in_green
    meth[red_meth] = red_map(meth[red_meth])
    unmeth[red_unmeth] = red_map(unmeth[red_unmeth])
    meth[green_meth] = green_map(meth[green_meth])
    unmeth[green_unmeth] = green_map(unmeth[green_unmeth])
    return meth, unmeth


def _midpoint_map(source_sorted: np.ndarray, target_sorted: np.ndarray):
    ranks = np.linspace(0, 1, source_sorted.size)
    target_at_ranks = np.interp(ranks, np.linspace(0, 1, target_sorted.size), target_sorted)
    midpoint = (source_sorted + target_at_ranks) / 2
    # np.interp needs distinct x: tied source values take the mean of their mid-points (approx ties=mean).
    unique_source, inverse = np.unique(source_sorted, return_inverse=True)
    unique_mid = np.bincount(inverse, weights=midpoint) / np.bincount(inverse)
    low, high = unique_source[0], unique_source[-1]
    low_mid, high_mid = unique_mid[0], unique_mid[-1]

    def mapped(values: np.ndarray) -> np.ndarray:
        result = np.interp(values, unique_source, unique_mid)
        result = np.where(values > high, values - high + high_mid, result)
        result = np.where(values < low, values * (low_mid / low), result)
        return np.where(np.isnan(values), np.nan, result)

    return mapped
