"""What happens to a beta matrix before a clock's linear model: EPICv2 replicate probes collapsed,
and the per-sample steps some clocks need (Zhang's standardisation, DunedinPACE's quantile
normalisation, stemTOC's quantile), each computed one sample at a time."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from epiclock.errors import EpiclockError


REPLICATE_METHODS = ("mean", "first")


# EPICv2 probe names carry a suffix after the CpG ID: strand (T/B), conversion (C/O), design and
# replicate digits, e.g. cg00000029_TC21.
EPICV2_SUFFIX = re.compile(r"_[TB][CO]\d+$")


def collapse_replicate_probes(betas: pd.DataFrame, method: str = "mean") -> pd.DataFrame:
    """One row per CpG ID: EPICv2 probe IDs lose their suffix (cg00000029_TC21 -> cg00000029) and
    the rows that then share an ID are merged within each sample.

    method: 'mean' averages a sample's measured replicates; 'first' takes the first measured one in
    row order. A matrix whose IDs are already unique and unsuffixed is returned unchanged.
    """
    if method not in REPLICATE_METHODS:
        raise EpiclockError(f"unknown replicate method {method!r} for EPICv2 probes; "
                            f"choose one of {', '.join(REPLICATE_METHODS)}")
    labels = betas.index.astype(str)
    if betas.index.is_unique and not labels.str.contains("_", regex=False).any():
        return betas
    grouped = betas.groupby(cpg_names(labels).to_numpy(), sort=False)
    collapsed = grouped.mean() if method == "mean" else grouped.first()
    collapsed.index.name = betas.index.name or "cpg_id"
    return collapsed


@dataclass(frozen=True)
class SampleStandardisation:
    """Betas centred and scaled by the sample's own mean and SD over every probe measured in it.

    The statistics describe the whole array, so a sample with fewer than ``min_cpgs`` measured
    probes (a clock-sized excerpt rather than an array) gets no age.
    """

    min_cpgs: int


@dataclass(frozen=True)
class SampleQuantile:
    """A quantile of the sample's own betas at the clock's CpGs (stemTOC: the 0.95 quantile).

    The step sorts each sample's values; the clock's weights then act on the order statistics, two of
    them non-zero (R's default quantile, type 7, interpolates between neighbours), so the quantile is
    a linear model of the sorted values and predicts through ``LinearClock`` like every clock.
    """

    quantile: float


def order_statistic_weights(n_values: int, quantile: float) -> np.ndarray:
    """Weights on the sorted values whose sum is their ``quantile`` (R's type 7, numpy's 'linear')."""
    position = (n_values - 1) * quantile
    lower = int(np.floor(position))
    fraction = position - lower
    weights = np.zeros(n_values)
    weights[lower] = 1.0 - fraction
    if fraction > 0:
        weights[lower + 1] = fraction
    return weights


@dataclass(frozen=True)
class QuantileNormalisation:
    """Each sample's betas at the target's probes mapped by rank onto the sorted target values.

    Unmeasured target probes take their target value (as in the DunedinPACE package); a sample
    measuring fewer than ``min_coverage`` of the target probes gets no value.
    """

    target: pd.Series = field(compare=False)
    min_coverage: float


class BetaMatrix:
    """A CpG x sample matrix prepared once for several clocks: values sample-major, rows by CpG ID."""

    def __init__(self, betas: pd.DataFrame):
        if not betas.index.is_unique:
            raise EpiclockError("clocks: the beta matrix has duplicate CpG IDs; collapse them first "
                                "(collapse_replicate_probes)")
        self.index = betas.index
        self.samples = np.asarray(list(betas.columns), dtype=object)
        # A frame with one float block stores samples as rows: .T of its values is then a view, and
        # each sample's values are contiguous.
        self.by_sample = betas.to_numpy(dtype=float).T

    @property
    def n_samples(self) -> int:
        return len(self.samples)

    def positions(self, cpg_ids) -> np.ndarray:
        """Column of each CpG in ``by_sample``; -1 where the matrix lacks it."""
        return self.index.get_indexer(cpg_ids)


def row_sums(row: np.ndarray) -> tuple[float, float]:
    """A sample's sum and sum of squares over its whole row, each depending on the row alone.

    The squares by np.einsum over the row (one pass, no squares stored), then the sum (np.add.reduce,
    pairwise) while the row is in the processor's cache. A 2-D einsum may split rows by the batch's
    shape, and a BLAS dot splits a long vector among OpenBLAS's threads (its bits would depend on the
    thread count): neither would keep a sample's statistics bitwise the same in any batch.
    """
    squares = np.einsum("i,i->", row, row)
    return np.add.reduce(row), squares


def statistics_from_sums(rows: np.ndarray, total: np.ndarray,
                         squares: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sample (row) over every measured probe: count, mean and SD (n - 1, as R's scale()), from
    the rows' ``row_sums``."""
    n_probes = rows.shape[1]
    if n_probes == 0:
        empty = np.zeros(len(rows))
        return empty.astype(int), np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    count = np.full(len(rows), n_probes, dtype=float)
    mean = total / n_probes
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt((squares - count * mean ** 2) / (count - 1))
    # A NaN anywhere in a sample makes its sums NaN: only those samples pay for nan-aware statistics.
    for row in np.flatnonzero(~np.isfinite(total)):
        measured = rows[row][~np.isnan(rows[row])]
        count[row] = measured.size
        mean[row] = measured.mean() if measured.size else np.nan
        sd[row] = measured.std(ddof=1) if measured.size > 1 else np.nan
    return count.astype(int), mean, sd


class QuantileNormaliser:
    """``QuantileNormalisation`` of one clock's CpGs, prepared for one matrix's probe order.

    A value's normalised level is the sorted target at its rank among the sample's target probes;
    a tie group's average rank ending in .5 takes the mean of the two neighbouring target values
    (preprocessCore's normalize.quantiles.use.target, as the DunedinPACE package and biolearn do).
    The sample's target probes are its own values of the clock's CpGs (imputed where unmeasured)
    and, for every other target probe, its measured value, else the probe's target value.

    Only the clock's values need a rank: each sample's measured target probes are sorted (the floor
    of any exact rank) and searched for them; the target values of probes the matrix lacks are the
    same for every sample, sorted once and searched alongside.

    A block of samples goes through ``begin``, ``rank_sample`` for each of its rows (in any order, so a
    caller can interleave other work on the same row while it is in cache), then ``end``; ``apply`` does
    all three.
    """

    def __init__(self, target: pd.Series, matrix: BetaMatrix, cpg_ids):
        target_values = target.to_numpy(dtype=float)
        self.sorted_target = np.sort(target_values)
        self.n_target = len(target_values)
        positions = matrix.positions(target.index)
        is_own = np.zeros(self.n_target, dtype=bool)
        own = target.index.get_indexer(cpg_ids)
        is_own[own] = True
        # The other target probes that the matrix holds, in its row order (a sample's ranks do not
        # depend on the order in which its values are listed), so each sample's row is read forwards;
        # then the clock's own CpGs, those the matrix holds first: every held probe lies in front.
        others = np.flatnonzero(~is_own & (positions >= 0))
        others = others[np.argsort(positions[others], kind="stable")]
        self.n_others = len(others)
        self.own_order = np.argsort(positions[own] < 0, kind="stable")
        self.sources = np.concatenate([positions[others], np.maximum(positions[own[self.own_order]], 0)])
        self.other_targets = target_values[others]
        self.n_held = np.count_nonzero(positions >= 0)
        self.absent_targets = np.sort(target_values[~is_own & (positions < 0)])
        # One sample's target probes, reused by every sample: no allocation per sample.
        self.values = np.empty(len(self.sources))

    def apply(self, rows: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The normalised values of the clock's CpGs for a block of samples (``rows``: their whole
        rows of the matrix; ``own``: their values of the clock's CpGs, imputed where unmeasured),
        and how many target probes each sample measured."""
        self.begin(own)
        for position, row in enumerate(rows):
            self.rank_sample(position, row)
        return self.end()

    def begin(self, own: np.ndarray) -> None:
        """A block of samples: their values of the clock's CpGs (as ``apply`` takes them) become search queries."""
        self.own_slots = own[:, self.own_order]
        self.n_measured = np.full(len(own), self.n_held)
        # Per sample, its values of the clock's CpGs in ascending order, each followed by the next float
        # above it: the values below a query are then the values below v, and the values up to v.
        self.order = np.argsort(own, axis=1)
        self.queries = np.empty((len(own), 2 * own.shape[1]))
        self.queries[:, 0::2] = np.sort(own, axis=1)
        self.queries[:, 1::2] = np.nextafter(self.queries[:, 0::2], np.inf)
        self.counts = np.empty(self.queries.shape, dtype=np.intp)

    def rank_sample(self, position: int, row: np.ndarray, complete: bool = False) -> None:
        """The counts of sample ``position`` of the block (``row``: its row of the matrix; ``complete``:
        the caller knows the row has no NaN, its sum being finite)."""
        values, held = self.values, self.values[:self.n_held]
        if row.size:
            # mode='clip' (the positions are all valid): with the default mode numpy buffers ``out``.
            np.take(row, self.sources, out=values, mode="clip")
        # A NaN makes the maximum NaN: only then are the sample's unmeasured probes looked for.
        if self.n_held and not complete and np.isnan(np.max(held)):
            unmeasured = np.isnan(held)
            self.n_measured[position] -= np.count_nonzero(unmeasured)
            np.copyto(values[:self.n_others], self.other_targets, where=unmeasured[:self.n_others])
        values[self.n_others:] = self.own_slots[position]
        values.sort()
        # numpy's search narrows from the last answer when the queries ascend.
        self.counts[position] = np.searchsorted(values, self.queries[position])

    def end(self) -> tuple[np.ndarray, np.ndarray]:
        """What ``apply`` returns, once every sample of the block is ranked."""
        counts = self.counts
        if len(self.absent_targets):
            counts += np.searchsorted(self.absent_targets, self.queries)
        # Twice the average rank of a value's tie group (ranks from 1): below + 1 up to up_to.
        twice_rank = counts[:, 0::2] + 1 + counts[:, 1::2]
        lower = self.sorted_target[twice_rank // 2 - 1]
        upper = self.sorted_target[np.minimum(twice_rank // 2, self.n_target - 1)]
        normalised = np.empty(self.order.shape)
        normalised[np.arange(len(normalised))[:, None], self.order] = np.where(twice_rank % 2 == 1,
                                                                               0.5 * (lower + upper), lower)
        return normalised, self.n_measured


def cpg_names(labels: pd.Index) -> pd.Index:
    """Row labels as CpG IDs: EPICv2 probe IDs lose their suffix (cg00000029_TC21 -> cg00000029)."""
    return pd.Index(labels.astype(str).str.replace(EPICV2_SUFFIX, "", regex=True))
