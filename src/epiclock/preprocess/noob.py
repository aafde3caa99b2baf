"""Noob background correction with dye-bias correction, one sample at a time.

Everything here works on one array at a time: a sample's output never depends on another sample.

The ``minfi`` preset reproduces minfi 1.44's ``preprocessNoob(rgSet, offset=15, dyeCorr=TRUE,
dyeMethod="single")`` exactly:

- raw signals as ``preprocessRaw`` (type II: M = Grn, U = Red; type I: M = address B, U = address A
  in the probe's colour); values <= 0 become 1;
- out-of-band (OOB) background per channel: the Grn intensities of both beads of every type-I Red
  CpG probe, and the Red intensities of both beads of every type-I Grn CpG probe (SNP probes are
  not in minfi's probe tables, so they take no part in any fit);
- per channel a normal-exponential convolution: background mean and SD from MASS's ``huber`` on
  the OOB values, signal mean ``alpha = max(huber(in-band)$mu - mu, 10)`` over the in-band values
  of that channel (type-I M and U, and the type-II allele read in that channel), then limma's
  ``normexp.signal`` and ``+ offset``;
- dye bias ("single"): the normalisation controls are background corrected with the same channel
  parameters, ``Grn.avg`` = mean of NORM_C + NORM_G in Grn, ``Red.avg`` = mean of NORM_A + NORM_T
  in Red, and every Red-channel signal (type-I Red M and U, type-II U) is multiplied by
  ``Grn.avg / Red.avg``; Grn is left as it is.

Two SeSAMe-style dye-bias corrections are offered beside it: ``linear`` (both channels scaled to
the sample's mean in-band intensity, using the normalisation controls, as ``dyeBiasCorr``) and
``nonlinear`` (type-I Red and Grn intensity distributions quantile-matched to their mid-point, as
``dyeBiasNL``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from epiclock.arrays.channels import Intensities, Sample, measure
from epiclock.arrays.layout import DesignRows
from epiclock.errors import EpiclockError
from epiclock.preprocess.dye_bias import DYE_METHODS, correct_nonlinear, normalisation_control_levels
from epiclock.preprocess.normexp import NOOB_OFFSET, NormexpParameters, fit_normexp, normexp_signal


class NoobResult(NamedTuple):
    """Corrected signals by probe_id, and the fitted parameters and dye-bias factors of the sample."""

    signals: pd.DataFrame
    green: NormexpParameters
    red: NormexpParameters
    red_factor: float
    green_factor: float


def out_of_band(found: Intensities) -> tuple[np.ndarray, np.ndarray]:
    """(Grn, Red) out-of-band intensities: both beads of type-I CpG probes read in the other colour."""
    rows = found.layout.rows
    green_oob = np.concatenate([found.green_a[rows.red_cpg], found.green_b[rows.red_cpg]])
    red_oob = np.concatenate([found.red_a[rows.green_cpg], found.red_b[rows.green_cpg]])
    return green_oob[~np.isnan(green_oob)], red_oob[~np.isnan(red_oob)]


def channel_stacks(found: Intensities) -> tuple[np.ndarray, np.ndarray]:
    """Each channel's raw in-band signals, stacked as minfi stacks them for the fit, values <= 0 set to 1.

    Grn: type-I Grn M, type-I Grn U, type-II M; Red: type-I Red M, type-I Red U, type-II U (the
    order of ``DesignRows``: ``_scatter`` puts corrected values back by it).
    """
    rows = found.layout.rows
    green = np.concatenate([found.green_b[rows.green], found.green_a[rows.green], found.green_a[rows.type_two]])
    red = np.concatenate([found.red_b[rows.red], found.red_a[rows.red], found.red_a[rows.type_two]])
    return np.where(green <= 0, 1.0, green), np.where(red <= 0, 1.0, red)


def _scatter(rows: DesignRows, green: np.ndarray, red: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(methylated, unmethylated) per probe from the two channel stacks of ``channel_stacks``' layout."""
    methylated, unmethylated = np.full(size, np.nan), np.full(size, np.nan)
    for stack, one_colour, type_two_target in ((green, rows.green, methylated), (red, rows.red, unmethylated)):
        count = len(one_colour)
        methylated[one_colour] = stack[:count]
        unmethylated[one_colour] = stack[count:2 * count]
        type_two_target[rows.type_two] = stack[2 * count:]
    return methylated, unmethylated


def noob(sample: Sample, probes: pd.DataFrame, controls: pd.DataFrame | None = None, *,
         offset: float = NOOB_OFFSET, dye_method: str = "single") -> NoobResult:
    """Noob-corrected methylated and unmethylated signals of one sample, by probe_id.

    ``dye_method``: ``single`` (minfi's default), ``linear`` or ``nonlinear`` (SeSAMe-style), or
    ``none``. ``single`` and ``linear`` need the manifest's control table (normalisation controls).
    Probes whose addresses are absent from the array get NaN.
    """
    if dye_method not in DYE_METHODS:
        raise EpiclockError(f"noob: unknown dye_method {dye_method!r}; choose one of {', '.join(DYE_METHODS)}")
    if offset < 0:
        raise EpiclockError(f"noob: the offset must be zero or positive; got {offset}")
    measured = measure(sample, probes, controls if dye_method in ("single", "linear") else None)
    name = measured.channels.name
    found = measured.probe
    layout = found.layout
    rows = layout.rows

    green_oob, red_oob = out_of_band(found)
    if green_oob.size == 0 or red_oob.size == 0:
        raise EpiclockError(f"sample {name}: no out-of-band intensities (no type-I probes of both colours on the array?)")
    green_stack, red_stack = channel_stacks(found)
    # The fit uses the CpG probes' in-band values only (minfi's tables have no SNP probes).
    green_in_band, red_in_band = green_stack[rows.green_stack_cpg], red_stack[rows.red_stack_cpg]
    try:
        green_parameters = fit_normexp(green_oob, green_in_band[~np.isnan(green_in_band)])
        red_parameters = fit_normexp(red_oob, red_in_band[~np.isnan(red_in_band)])
    except EpiclockError as error:
        raise EpiclockError(f"sample {name}: {error}") from error
    # One call per channel, as minfi corrects a channel's stacked in-band values at once.
    green_corrected = normexp_signal(green_parameters, green_stack) + offset
    red_corrected = normexp_signal(red_parameters, red_stack) + offset

    red_factor, green_factor = 1.0, 1.0
    if dye_method in ("single", "linear"):
        if controls is None:
            raise EpiclockError(f"sample {name}: dye_method {dye_method!r} needs the manifest's control table")
        green_level, red_level = normalisation_control_levels(measured, controls, green_parameters, red_parameters, offset)
        if dye_method == "single":
            red_factor = green_level / red_level
        else:
            reference = np.nanmean(np.concatenate([green_corrected, red_corrected]))
            red_factor, green_factor = reference / red_level, reference / green_level
        red_corrected *= red_factor
        if green_factor != 1.0:
            green_corrected *= green_factor
    corrected_meth, corrected_unmeth = _scatter(rows, green_corrected, red_corrected, len(layout.index))
    if dye_method == "nonlinear":
        corrected_meth, corrected_unmeth = correct_nonlinear(corrected_meth, corrected_unmeth, layout.in_red,
                                                             layout.in_green, layout.type_two)

    signals = pd.DataFrame({"methylated": corrected_meth, "unmethylated": corrected_unmeth}, index=layout.index)
    return NoobResult(signals, green_parameters, red_parameters, float(red_factor), float(green_factor))
