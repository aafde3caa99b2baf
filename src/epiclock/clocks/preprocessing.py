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


# Samples handled per block in the quantile normalisation, to bound the memory of the sorted copy.
QUANTILE_BLOCK_SAMPLES = 256


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
        self.samples = list(betas.columns)
        self.sample_array = np.asarray(self.samples, dtype=object)
        # A frame with one float block stores samples as rows: .T of its values is then a view.
        self.by_sample = betas.to_numpy(dtype=float).T
        self._statistics = None
        self._gathered: np.ndarray | None = None
        self._blocks: dict[str, tuple[int, int]] = {}

    @property
    def n_samples(self) -> int:
        return len(self.samples)

    def positions(self, cpg_ids) -> np.ndarray:
        return self.index.get_indexer(cpg_ids)

    def gather(self, blocks: dict[str, list]) -> None:
        """Copy each clock's CpGs (``blocks``: clock name -> CpG IDs) into one compact array, one
        column block per clock, that later ``take`` calls return views of.

        Each sample's values are contiguous and a clock's CpGs are scattered among them: reading the
        wide matrix once for all clocks, rather than once per clock, is what keeps many clocks cheap;
        a block per clock (a CpG of two clocks is copied twice) saves a second copy per clock.
        """
        start = 0
        for name, cpg_ids in blocks.items():
            self._blocks[name] = (start, start + len(cpg_ids))
            start += len(cpg_ids)
        self._gathered = self._take_from_matrix([cpg for cpg_ids in blocks.values() for cpg in cpg_ids])

    def _take_from_matrix(self, cpg_ids) -> np.ndarray:
        positions = self.positions(cpg_ids)
        if self.by_sample.shape[1] == 0:  # a matrix without rows measures none of them
            return np.full((self.n_samples, len(positions)), np.nan)
        values = self.by_sample.take(np.maximum(positions, 0), axis=1)
        values[:, positions < 0] = np.nan
        return values

    def take(self, cpg_ids, block: str | None = None) -> np.ndarray:
        """Samples x ``cpg_ids`` values, NaN where the matrix lacks a CpG: a view of the gathered
        block of that name (read-only by convention), else a new array."""
        if block in self._blocks:
            start, stop = self._blocks[block]
            return self._gathered[:, start:stop]
        return self._take_from_matrix(cpg_ids)

    def sample_statistics(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per sample over every measured probe: count, mean and SD (n - 1, as R's scale())."""
        if self._statistics is None:
            values = self.by_sample
            n_probes = values.shape[1]
            # Each row reduced on its own contiguous memory, so a sample's statistics are bitwise the
            # same whatever the batch (see row_dot); blocks of rows bound the squares' memory.
            total = np.empty(self.n_samples)
            squares = np.empty(self.n_samples)
            for start in range(0, self.n_samples, QUANTILE_BLOCK_SAMPLES):
                rows = np.ascontiguousarray(values[start:start + QUANTILE_BLOCK_SAMPLES])
                total[start:start + len(rows)] = np.add.reduce(rows, axis=1)
                squares[start:start + len(rows)] = np.add.reduce(np.square(rows), axis=1)
            count = np.full(len(total), n_probes, dtype=float)
            mean = total / max(n_probes, 1)
            with np.errstate(invalid="ignore", divide="ignore"):
                sd = np.sqrt((squares - count * mean ** 2) / (count - 1))
            # A NaN anywhere in a sample makes its sums NaN: only those samples pay for nan-aware statistics.
            partial = np.flatnonzero(~np.isfinite(total))
            for row in partial:
                measured = values[row][~np.isnan(values[row])]
                count[row] = measured.size
                mean[row] = measured.mean() if measured.size else np.nan
                sd[row] = measured.std(ddof=1) if measured.size > 1 else np.nan
            self._statistics = (count.astype(int), mean, sd)
        return self._statistics


def quantile_normalise(matrix: "BetaMatrix", target: pd.Series, cpg_ids, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The normalised value of ``cpg_ids`` for each sample, and how many target probes it measured.

    ``values`` (samples x cpg_ids) are the sample's values of those CpGs, imputed where unmeasured;
    every other target probe comes from the matrix, or takes its target value where unmeasured.
    A value's normalised level is the sorted target at its rank among the sample's target probes;
    a tie group's average rank ending in .5 takes the mean of the two neighbouring target values
    (preprocessCore's normalize.quantiles.use.target, as the DunedinPACE package and biolearn do).
    """
    target_values = target.to_numpy(dtype=float)
    sorted_target = np.sort(target_values)
    n_target = len(target_values)
    # The target's probes in the matrix's row order (a sample's ranks do not depend on the order in
    # which its values are listed), so each sample's row is read forwards.
    positions = matrix.positions(target.index)
    order = np.argsort(np.where(positions >= 0, positions, np.iinfo(positions.dtype).max), kind="stable")
    positions, target_values = positions[order], target_values[order]
    present = np.flatnonzero(positions >= 0)
    absent = np.flatnonzero(positions < 0)
    sources = positions[present]
    own_columns = target.index[order].get_indexer(cpg_ids)
    normalised = np.empty_like(values)
    n_measured = np.empty(matrix.n_samples, dtype=int)
    for start in range(0, matrix.n_samples, QUANTILE_BLOCK_SAMPLES):
        stop = min(start + QUANTILE_BLOCK_SAMPLES, matrix.n_samples)
        rows = matrix.by_sample[start:stop]
        if len(absent):
            block = np.empty((stop - start, n_target))
            block[:, present] = rows.take(sources, axis=1)
            block[:, absent] = np.nan
        else:
            block = rows.take(sources, axis=1)
        unmeasured = np.isnan(block)
        n_measured[start:stop] = n_target - unmeasured.sum(axis=1)
        if unmeasured.any():
            np.copyto(block, np.broadcast_to(target_values, block.shape), where=unmeasured)
        own = values[start:stop]
        block[:, own_columns] = own
        block.sort(axis=1)
        # Values below v, and values up to v (those below the next float after v): one search per sample.
        queries = np.concatenate([own, np.nextafter(own, np.inf)], axis=1)
        counts = np.empty(queries.shape, dtype=int)
        for row in range(stop - start):
            counts[row] = np.searchsorted(block[row], queries[row], side="left")
        below, up_to = counts[:, :own.shape[1]], counts[:, own.shape[1]:]
        rank = (below + 1 + up_to) / 2
        floor = np.floor(rank).astype(int)
        halfway = (rank - floor) > 0.4
        upper = sorted_target[np.minimum(floor, n_target - 1)]
        normalised[start:stop] = np.where(halfway, 0.5 * (sorted_target[floor - 1] + upper), sorted_target[floor - 1])
    return normalised, n_measured


def cpg_names(labels: pd.Index) -> pd.Index:
    """Row labels as CpG IDs: EPICv2 probe IDs lose their suffix (cg00000029_TC21 -> cg00000029)."""
    return pd.Index(labels.astype(str).str.replace(EPICV2_SUFFIX, "", regex=True))
