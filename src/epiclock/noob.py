"""Per-sample intensities, noob background correction, dye-bias correction, betas and M-values.

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

from typing import NamedTuple, Union

import numpy as np
import pandas as pd
from scipy import special

from epiclock.errors import EpiclockError
from epiclock.recent import RecentCache
from epiclock.io.idat import IdatPair

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
DYE_METHODS = ("single", "linear", "nonlinear", "none")
GREEN_NORMALISATION_TYPES = ("NORM_C", "NORM_G")
RED_NORMALISATION_TYPES = ("NORM_A", "NORM_T")

INTENSITY_COLUMNS = ["design", "channel", "red_a", "green_a", "red_b", "green_b", "beads_a", "beads_b"]


# --- intensities ---------------------------------------------------------------------------------
#
# Looking up where each probe's beads sit in an IDAT's address list is the costly part of reading
# intensities; it depends only on the probe table and the array's address list, which every sample
# of a batch shares. So the probe table's own facts (design, colour, SNP and sex-chromosome probes)
# are derived once per table, the bead positions once per table and address list, and one sample's
# intensities once per sample (``measure``), then handed to noob, detection p, controls, sex and
# SNP betas alike.


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


def _positions(addresses: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Index of each wanted address in ``addresses``; ``len(addresses)`` where absent or missing."""
    if len(addresses) == 0:
        return np.zeros(len(wanted), dtype=np.int64)
    # Scanner IDATs list their addresses in ascending order: then no sort is needed.
    ascending = bool(np.all(addresses[1:] > addresses[:-1]))
    order = None if ascending else np.argsort(addresses, kind="stable")
    ordered = addresses if ascending else addresses[order]
    present = ~np.isnan(wanted)
    queries = np.where(present, wanted, -1).astype(np.int64)
    slots = np.minimum(np.searchsorted(ordered, queries), len(ordered) - 1)
    found = present & (ordered[slots] == queries)
    return np.where(found, slots if ascending else order[slots], len(addresses))


def _same_addresses(left: np.ndarray, right: np.ndarray) -> bool:
    return left is right or (left.shape == right.shape and np.array_equal(left, right))


class DesignRows(NamedTuple):
    """Row numbers of the probes of each design and colour (``*_cpg``: SNP probes left out), which
    values of each channel's stacked in-band signals come from CpG probes (see ``channel_stacks``),
    and each probe's colour class."""

    type_two: np.ndarray
    red: np.ndarray
    green: np.ndarray
    red_cpg: np.ndarray
    green_cpg: np.ndarray
    green_stack_cpg: np.ndarray
    red_stack_cpg: np.ndarray
    colour_code: np.ndarray  # per probe: 0 type-I Red, 1 type-I Grn, 2 any other (read as type II)


def _design_rows(type_two: np.ndarray, in_red: np.ndarray, in_green: np.ndarray, snp: np.ndarray) -> DesignRows:
    two, red, green = np.flatnonzero(type_two), np.flatnonzero(in_red), np.flatnonzero(in_green)
    return DesignRows(
        type_two=two, red=red, green=green,
        red_cpg=red[~snp[red]], green_cpg=green[~snp[green]],
        green_stack_cpg=np.concatenate([~snp[green], ~snp[green], ~snp[two]]),
        red_stack_cpg=np.concatenate([~snp[red], ~snp[red], ~snp[two]]),
        colour_code=np.where(in_red, 0, np.where(in_green, 1, 2)).astype(np.int8),
    )


class ProbeDesign(NamedTuple):
    """What a probe table says about each probe, whatever the array: derived once per table."""

    index: pd.Index
    address_a: np.ndarray
    address_b: np.ndarray
    type_two: np.ndarray
    in_red: np.ndarray
    in_green: np.ndarray
    snp: np.ndarray
    on_x: np.ndarray
    on_y: np.ndarray
    rows: DesignRows
    probes: pd.DataFrame


# A batch uses one manifest; a few entries cover tests and benchmarks that switch between tables.
_DESIGN_CACHE = RecentCache(4)
_LAYOUT_CACHE = RecentCache(4)
_CONTROL_LAYOUT_CACHE = RecentCache(4)


def probe_design(probes: pd.DataFrame) -> ProbeDesign:
    """Design, colour, SNP and chrX/chrY flags of every probe (cached per probe table object).

    The cache knows a table by identity: change a table in place after using it and the old
    design is returned; change a copy instead (as ``with_inferred_channels`` does).
    """
    design = _DESIGN_CACHE.find(lambda entry: entry.probes is probes)
    if design is not None:
        return design
    missing = {"probe_id", "address_a", "address_b", "design", "channel"} - set(probes.columns)
    if missing:
        raise EpiclockError(f"the probe table lacks column(s) {', '.join(sorted(missing))}; use a parsed manifest")
    kind = probes["design"].astype(str).fillna("").to_numpy(dtype=object)
    channel = probes["channel"].fillna("").astype(str).to_numpy(dtype=object)
    index = pd.Index(probes["probe_id"].astype(str).to_numpy(), name="probe_id")
    type_two, in_red, in_green = kind == "II", (kind == "I") & (channel == "Red"), (kind == "I") & (channel == "Grn")
    snp = is_snp_probe(index)
    design = ProbeDesign(
        index=index,
        address_a=probes["address_a"].to_numpy(np.float64, na_value=np.nan),
        address_b=probes["address_b"].to_numpy(np.float64, na_value=np.nan),
        type_two=type_two, in_red=in_red, in_green=in_green, snp=snp,
        on_x=_on_chromosome(probes, "chrX"),
        on_y=_on_chromosome(probes, "chrY"),
        rows=_design_rows(type_two, in_red, in_green, snp),
        probes=probes,
    )
    _DESIGN_CACHE.add(design)
    return design


def _on_chromosome(probes: pd.DataFrame, chromosome: str) -> np.ndarray:
    if "chromosome" not in probes.columns:
        return np.zeros(len(probes), dtype=bool)
    return probes["chromosome"].eq(chromosome).to_numpy(dtype=bool, na_value=False)


class ProbeLayout(NamedTuple):
    """Where each probe's beads sit in an array's address list, and its design; shared by all arrays of a type.

    ``position_a``/``position_b`` are indices into the address list (its length where absent);
    ``rows_b``/``at_b`` list the probes with a bead type B on the array and where it sits, and
    ``rows_a``/``at_a`` likewise for A (``rows_a`` None when every probe's A is there).
    """

    index: pd.Index
    position_a: np.ndarray
    position_b: np.ndarray
    type_two: np.ndarray
    in_red: np.ndarray
    in_green: np.ndarray
    snp: np.ndarray
    probes: pd.DataFrame
    on_x: np.ndarray
    on_y: np.ndarray
    addresses: np.ndarray
    rows_a: np.ndarray | None
    at_a: np.ndarray
    rows_b: np.ndarray
    at_b: np.ndarray
    rows: DesignRows


def probe_layout(addresses: np.ndarray, probes: pd.DataFrame) -> ProbeLayout:
    """The layout of ``probes`` on an array with these addresses (cached: every sample of a batch shares it)."""
    layout = _LAYOUT_CACHE.find(lambda entry: entry.probes is probes and _same_addresses(entry.addresses, addresses))
    if layout is not None:
        return layout
    design = probe_design(probes)
    position_a = _positions(addresses, design.address_a)
    position_b = _positions(addresses, design.address_b)
    found_a = position_a < len(addresses)
    rows_b = np.flatnonzero(position_b < len(addresses))
    layout = ProbeLayout(
        index=design.index, position_a=position_a, position_b=position_b,
        type_two=design.type_two, in_red=design.in_red, in_green=design.in_green, snp=design.snp,
        probes=probes, on_x=design.on_x, on_y=design.on_y,
        addresses=np.array(addresses, copy=True),
        rows_a=None if found_a.all() else np.flatnonzero(found_a), at_a=position_a[found_a],
        rows_b=rows_b, at_b=position_b[rows_b], rows=design.rows,
    )
    _LAYOUT_CACHE.add(layout)
    return layout


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


class ControlLayout(NamedTuple):
    """Where each control probe of a control table sits in an array's address list."""

    controls: pd.DataFrame
    addresses: np.ndarray
    positions: np.ndarray
    present: np.ndarray
    kinds: np.ndarray  # the control type, upper-cased


def control_layout(addresses: np.ndarray, controls: pd.DataFrame) -> ControlLayout:
    """The layout of ``controls`` on an array with these addresses (cached like ``probe_layout``)."""
    layout = _CONTROL_LAYOUT_CACHE.find(
        lambda entry: entry.controls is controls and _same_addresses(entry.addresses, addresses))
    if layout is not None:
        return layout
    missing = {"address", "type", "extended_type"} - set(controls.columns)
    if missing:
        raise EpiclockError(f"the control table lacks column(s) {', '.join(sorted(missing))}; use a parsed manifest")
    positions = _positions(addresses, controls["address"].to_numpy(np.float64))
    layout = ControlLayout(controls, np.array(addresses, copy=True), positions, positions < len(addresses),
                           controls["type"].astype(str).str.upper().to_numpy(dtype=object))
    _CONTROL_LAYOUT_CACHE.add(layout)
    return layout


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


def probe_intensities(sample: Sample, probes: pd.DataFrame) -> pd.DataFrame:
    """Red and Grn intensities and bead counts of both bead types of every probe, by probe_id.

    Columns: design, channel, red_a, green_a, red_b, green_b (float; NaN where the address is
    absent, and for address B of type II probes), beads_a, beads_b (float, NaN where absent).
    """
    found = measure(sample, probes).probe
    return pd.DataFrame({
        "design": probes["design"].to_numpy(), "channel": probes["channel"].to_numpy(),
        "red_a": found.red_a, "green_a": found.green_a, "red_b": found.red_b, "green_b": found.green_b,
        "beads_a": found.beads_a, "beads_b": found.beads_b,
    }, index=found.layout.index)


def is_snp_probe(probe_ids: pd.Index) -> np.ndarray:
    """SNP (rs) probes: minfi keeps them out of its CpG tables, so out of every background fit."""
    return np.asarray(pd.Index(probe_ids).str.startswith("rs"), dtype=bool)


# --- robust estimates and the normal-exponential model ---------------------------------------------


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


# --- noob ------------------------------------------------------------------------------------------


class NoobResult(NamedTuple):
    """Corrected signals by probe_id, and the fitted parameters and dye-bias factors of the sample."""

    signals: pd.DataFrame
    green: NormexpParameters
    red: NormexpParameters
    red_factor: float
    green_factor: float


def raw_meth_unmeth(found: Intensities, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """minfi's ``preprocessRaw`` channel rules: (methylated, unmethylated) per probe, or of ``rows`` only."""
    layout = found.layout

    def select(values: np.ndarray) -> np.ndarray:
        return values if rows is None else values[rows]

    type_two, in_red = select(layout.type_two), select(layout.in_red)
    green_a, red_a = select(found.green_a), select(found.red_a)
    methylated = np.where(type_two, green_a, np.where(in_red, select(found.red_b), select(found.green_b)))
    unmethylated = np.where(type_two | in_red, red_a, green_a)
    return methylated, unmethylated


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
        corrected_meth, corrected_unmeth = _dye_bias_nonlinear(corrected_meth, corrected_unmeth, layout.in_red,
                                                               layout.in_green, layout.type_two)

    signals = pd.DataFrame({"methylated": corrected_meth, "unmethylated": corrected_unmeth}, index=layout.index)
    return NoobResult(signals, green_parameters, red_parameters, float(red_factor), float(green_factor))


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
            "controls on this array, which dye-bias correction needs; use dye_method='none' or 'nonlinear'"
        )
    green = normexp_signal(green_parameters, found.green[present]) + offset
    red = normexp_signal(red_parameters, found.red[present]) + offset
    return float(green[green_rows].mean()), float(red[red_rows].mean())


def _dye_bias_nonlinear(meth: np.ndarray, unmeth: np.ndarray, in_red: np.ndarray, in_green: np.ndarray,
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


# --- betas and M-values ----------------------------------------------------------------------------


def betas(signals: pd.DataFrame, offset: float = 100.0) -> pd.Series:
    """Beta = M / (M + U + offset) from a frame with columns methylated and unmethylated.

    The workflow's default offset is 100 (Illumina's); use 0 to match minfi's ``getBeta``.
    """
    if offset < 0:
        raise EpiclockError(f"the beta offset must be zero or positive; got {offset}")
    methylated = signals["methylated"].to_numpy(np.float64)
    unmethylated = signals["unmethylated"].to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = methylated / (methylated + unmethylated + offset)
    return pd.Series(values, index=signals.index, name="beta")


def m_values(signals: pd.DataFrame, offset: float = 1.0) -> pd.Series:
    """M-value = log2((M + offset) / (U + offset)); minfi's ``getM`` uses offset 0 on noob signals."""
    if offset < 0:
        raise EpiclockError(f"the M-value offset must be zero or positive; got {offset}")
    methylated = signals["methylated"].to_numpy(np.float64)
    unmethylated = signals["unmethylated"].to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.log2((methylated + offset) / (unmethylated + offset))
    return pd.Series(values, index=signals.index, name="m_value")


def infer_type_one_channels(sample: Sample, probes: pd.DataFrame,
                            min_ratio: float = 1.0) -> pd.DataFrame:
    """Which colour each type-I probe actually lights up in, as SeSAMe's ``inferInfiniumIChannel``.

    For each type-I probe the brighter channel (summing both beads) is called its channel. Returns
    ``manifest_channel``, ``inferred_channel`` and ``switched`` for the type-I probes; a probe whose
    two channels differ by less than ``min_ratio`` keeps its manifest colour. A switch usually
    means a SNP at the probe's extension base (a colour-channel-switching variant).
    """
    found = measure(sample, probes).probe
    type_one = found.layout.in_red | found.layout.in_green
    red_total = (found.red_a + found.red_b)[type_one]
    green_total = (found.green_a + found.green_b)[type_one]
    type_one_index = found.layout.index[type_one]
    manifest_channel = np.where(found.layout.in_red[type_one], "Red", "Grn").astype(object)
    with np.errstate(invalid="ignore", divide="ignore"):
        red_clearly = red_total > green_total * min_ratio
        green_clearly = green_total > red_total * min_ratio
    inferred = np.where(red_clearly, "Red", np.where(green_clearly, "Grn", manifest_channel))
    inferred = np.where(np.isnan(red_total) | np.isnan(green_total), manifest_channel, inferred)
    return pd.DataFrame({"manifest_channel": manifest_channel, "inferred_channel": inferred,
                         "switched": inferred != manifest_channel}, index=type_one_index)


def with_inferred_channels(probes: pd.DataFrame, inferred: pd.DataFrame) -> pd.DataFrame:
    """A copy of the probe table with type-I colours replaced by ``infer_type_one_channels``' calls."""
    updated = probes.copy()
    lookup = inferred["inferred_channel"]
    ids = updated["probe_id"].astype(str)
    known = ids.isin(lookup.index).to_numpy()
    updated.loc[known, "channel"] = lookup.reindex(ids[known]).to_numpy()
    return updated
