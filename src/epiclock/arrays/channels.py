"""One sample's channels and its probe and control intensities, looked up once per sample.

``measure`` hands the same intensities to noob, detection p, controls, sex and SNP betas alike.
"""

from __future__ import annotations

from typing import NamedTuple, Union

import numpy as np
import pandas as pd

from epiclock.arrays.layout import ControlLayout, ProbeLayout, control_layout, probe_layout
from epiclock.errors import EpiclockError
from epiclock.io.idat import IdatPair


class ArrayChannels(NamedTuple):
    """One sample's per-address means and bead counts, whichever form it came in (any numeric dtype)."""

    name: str
    addresses: np.ndarray
    red: np.ndarray
    green: np.ndarray
    beads: np.ndarray


def array_channels(sample: Sample, name: str | None = None) -> ArrayChannels:
    """The channels of an ``IdatPair``, of its ``to_frame()`` table (columns address, red_mean, ...)
    or of a ``SampleIntensities``.

    Bead counts are the Grn file's, as minfi's ``RGChannelSetExtended`` takes them.
    """
    if isinstance(sample, SampleIntensities):
        return sample.channels if name is None else sample.channels._replace(name=name)
    if isinstance(sample, IdatPair):
        # As read (uint16 means, uint8 beads): gathering small integers per probe is cheaper than
        # converting whole channels first; values become float once looked up.
        return ArrayChannels(name or sample.basename, sample.addresses, sample.red.means, sample.green.means,
                             sample.green.bead_counts)
    if isinstance(sample, pd.DataFrame):
        needed = {"address", "red_mean", "green_mean"}
        missing = needed - set(sample.columns)
        if missing:
            raise EpiclockError(f"sample {name or '(frame)'}: the IDAT frame lacks column(s) {', '.join(sorted(missing))}")
        beads = sample["green_beads"] if "green_beads" in sample.columns else pd.Series(np.full(len(sample), 255))
        return ArrayChannels(name or str(sample.attrs.get("basename", "sample")),
                             sample["address"].to_numpy(np.int64), sample["red_mean"].to_numpy(np.float64),
                             sample["green_mean"].to_numpy(np.float64), beads.to_numpy(np.int64))
    raise EpiclockError(f"expected an IdatPair or its frame; got {type(sample).__name__}")


class Intensities(NamedTuple):
    """Per-probe intensities of both bead types in both channels (NaN where an address is absent)."""

    layout: ProbeLayout
    red_a: np.ndarray
    green_a: np.ndarray
    red_b: np.ndarray
    green_b: np.ndarray
    beads_a: np.ndarray
    beads_b: np.ndarray


def _gather(values: np.ndarray, rows: np.ndarray | None, at: np.ndarray, size: int) -> np.ndarray:
    """float64 per probe: ``values[at]`` at ``rows`` (all rows when None), NaN elsewhere."""
    if rows is None:
        return values[at].astype(np.float64)
    gathered = np.full(size, np.nan)
    gathered[rows] = values[at]
    return gathered


def intensities_of(channels: ArrayChannels, probes: pd.DataFrame) -> Intensities:
    """The arrays behind ``probe_intensities``, for the functions that compute on them."""
    layout = probe_layout(channels.addresses, probes)
    size = len(layout.index)
    a = (layout.rows_a, layout.at_a, size)
    b = (layout.rows_b, layout.at_b, size)
    return Intensities(layout, _gather(channels.red, *a), _gather(channels.green, *a), _gather(channels.red, *b),
                       _gather(channels.green, *b), _gather(channels.beads, *a), _gather(channels.beads, *b))


class ControlIntensities(NamedTuple):
    """Red and Grn intensity and beads of every row of a control table (NaN where not on the array)."""

    layout: ControlLayout
    red: np.ndarray
    green: np.ndarray
    beads: np.ndarray


def control_intensities_of(channels: ArrayChannels, controls: pd.DataFrame) -> ControlIntensities:
    layout = control_layout(channels.addresses, controls)
    rows = np.flatnonzero(layout.present)
    at, size = layout.positions[rows], len(layout.positions)
    return ControlIntensities(layout, _gather(channels.red, rows, at, size), _gather(channels.green, rows, at, size),
                              _gather(channels.beads, rows, at, size))


class SampleIntensities(NamedTuple):
    """One sample's channels with its probe and control intensities, looked up once and shared."""

    channels: ArrayChannels
    probe: Intensities | None
    control: ControlIntensities | None


Sample = Union[IdatPair, pd.DataFrame, SampleIntensities]


def measure(sample: Sample, probes: pd.DataFrame | None = None,
            controls: pd.DataFrame | None = None) -> SampleIntensities:
    """One sample's intensities for ``probes`` and ``controls`` (either may be None: not looked up).

    Given a ``SampleIntensities`` already measured for the same tables, returns it as it is; every
    function here that takes a sample accepts one, so a sample is looked up once, not per step.
    """
    channels = array_channels(sample)
    probe = sample.probe if isinstance(sample, SampleIntensities) else None
    control = sample.control if isinstance(sample, SampleIntensities) else None
    if probes is not None and (probe is None or probe.layout.probes is not probes):
        probe = intensities_of(channels, probes)
    if controls is not None and (control is None or control.layout.controls is not controls):
        control = control_intensities_of(channels, controls)
    if isinstance(sample, SampleIntensities) and probe is sample.probe and control is sample.control:
        return sample
    return SampleIntensities(channels, probe, control)


