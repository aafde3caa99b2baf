"""Predictions of several clocks (shipped or custom) on one beta matrix, and the CpGs they read.

Every clock takes one path: its CpGs are read from the matrix, unmeasured ones filled from fixed
reference values, its per-sample preprocessing applied, then its model. The samples are handled in
chunks of CHUNK_SAMPLES, small enough that a chunk's rows of the matrix stay in the processor's cache
while all clocks read them. For each chunk the features of the clocks are gathered side by side, clock
after clock, into one array (a CpG read by two clocks is copied into each clock's columns, so each
clock's own imputation reference fills its own columns, with one np.copyto per array): the
``LinearClock``s' into an array of the chunk's samples (their probes read once each, in the
matrix's order, then copied into their columns: see ``_Features``), the other models' straight into
the chunk's rows of a batch of MODEL_SAMPLES samples. Each clock's preprocessing rewrites its own
columns; then one elementwise product of the linear clocks' columns with their coefficients, summed
per clock (``model.segment_dots``), gives every linear predictor at once. Once a batch is complete,
each other model is called on its columns of it: ``predict_array`` on the array for a
``model.PerSampleModel`` (MiAge, GP-age, AltumAge), told which samples have every feature measured or
imputed (only those are computed); any other scikit-learn regressor's predict on a frame with its
feature names (such a model must fit each row on its own). Nothing else mixes samples: a linear
clock's output, and MiAge's, is bitwise the same in any batch (see ``model.segment_dots``); GP-age's
kernel and AltumAge's layers are BLAS matrix products, whose sums may be blocked by the batch's
shape, so theirs agree across batches to rounding (tested to 1e-12 relative in
tests/test_nonlinear_clocks.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiclock.clocks.clock import COVARIATES, DETAIL_COLUMNS, IMPUTATION_METHODS, Clock, frame
from epiclock.clocks.model import LinearClock, PerSampleModel, segment_dots, segment_sums
from epiclock.clocks.preprocessing import (BetaMatrix, QuantileNormalisation, QuantileNormaliser, SampleQuantile,
                                           SampleStandardisation, collapse_replicate_probes, row_sums,
                                           statistics_from_sums)
from epiclock.errors import EpiclockError


# Samples per chunk: 16 rows of a clock-only excerpt (34,000 probes: 4.4 MB) stay in the processor's
# cache while every clock reads them; 32 and 64 measured slower, fewer pay more per-chunk overhead.
CHUNK_SAMPLES = 16


# Samples per call of a model that is not a LinearClock (a multiple of CHUNK_SAMPLES).
MODEL_SAMPLES = 1024


def predict(betas: pd.DataFrame, clocks: list[Clock], imputation: str = "reference",
            min_coverage: float = 0.8, replicates: str = "mean", sample_tissue: str | None = None,
            covariates: pd.DataFrame | None = None) -> pd.DataFrame:
    """Long table of predictions for several clocks (sample_id, clock, dnam_age, coverage...).

    clocks: ``Clock`` objects, shipped or custom alike (``registry.resolve`` makes them from names).
    imputation: 'reference' fills unmeasured clock CpGs with fixed per-CpG reference values (so a
    sample's age never depends on the other samples of the run); 'none' leaves the age missing when
    any clock CpG is unmeasured. Either way, a sample measuring fewer than ``min_coverage`` of a
    clock's CpGs (or the clock's own, stricter minimum) gets no age, and the status column says why.
    EPICv2 probe IDs are collapsed to CpG IDs first (``replicates``: 'mean' or 'first').
    sample_tissue: the samples' tissue; a blood clock applied to another tissue says so in the status.
    covariates: age and female per sample (``clock.sample_covariates``), for clocks that read them.
    """
    return predict_with_details(betas, clocks, imputation, min_coverage, replicates, sample_tissue, covariates,
                                with_details=False)[0]


def predict_with_details(betas: pd.DataFrame, clocks: list[Clock], imputation: str = "reference",
                         min_coverage: float = 0.8, replicates: str = "mean", sample_tissue: str | None = None,
                         covariates: pd.DataFrame | None = None,
                         with_details: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The predictions (PREDICTION_COLUMNS) and the clocks' further outputs (DETAIL_COLUMNS; empty
    without ``with_details``)."""
    if betas.shape[1] == 0:
        raise EpiclockError("no samples to predict: every sample was excluded before the clocks")
    clocks = list(clocks)
    named = [clock for clock in clocks if not isinstance(clock, Clock)]
    if named:
        raise EpiclockError(f"clocks.predict takes Clock objects, not {named[0]!r}: resolve names with "
                            "clocks.registry.resolve")
    if imputation not in IMPUTATION_METHODS:
        raise EpiclockError(f"unknown imputation {imputation!r}; choose one of {', '.join(IMPUTATION_METHODS)}")
    if not 0 <= min_coverage <= 1:
        raise EpiclockError(f"clocks: min_coverage must be within [0, 1] (got {min_coverage})")
    matrix = BetaMatrix(collapse_replicate_probes(betas, replicates))
    run = _Run(clocks, matrix, imputation, covariates, with_details)
    for start in range(0, matrix.n_samples, CHUNK_SAMPLES):
        run.chunk(start, min(start + CHUNK_SAMPLES, matrix.n_samples))
    run.finish()
    tables, details = [], []
    for index, clock in enumerate(clocks):
        shortfall, notes = run.reasons(index)
        n_measured = len(clock.cpg_ids) - run.n_missing[:, index]
        n_imputed = run.n_missing[:, index] - run.n_unfilled[:, index]
        tables.append(clock.table(matrix.samples, run.outputs[:, index], n_measured, n_imputed, min_coverage,
                                  imputation, shortfall, notes, sample_tissue))
        if with_details and (clock.components or clock.rate_per_year):
            usable = clock.usable(n_measured, n_imputed, min_coverage, shortfall)
            details.append(clock.details(matrix.samples, tables[-1]["dnam_age"], usable, run.components.get(index),
                                         covariates))
    detail_table = pd.concat(details, ignore_index=True) if details else pd.DataFrame(columns=DETAIL_COLUMNS)
    return frame(tables), detail_table


class _Features:
    """Several clocks' features side by side, clock after clock, in the rows of one array: where each
    column is read from the matrix, and what fills it when unmeasured."""

    def __init__(self, clocks: list[Clock], indices, matrix: BetaMatrix, imputation: str, n_rows: int,
                 chunk_samples: int, staged: bool = False):
        self.clocks = np.asarray(indices, dtype=np.intp)   # the index of each clock, in column order
        widths = [len(clocks[index].model.feature_names_in_) for index in self.clocks]
        self.starts = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.intp)
        self.columns = {int(index): slice(int(start), int(start) + width)
                        for index, start, width in zip(self.clocks, self.starts, widths)}
        features = [feature for index in self.clocks for feature in clocks[index].model.feature_names_in_]
        n_features = len(features)
        is_covariate = np.zeros(n_features, dtype=bool)
        for index, columns in self.columns.items():
            is_covariate[columns.stop - len(clocks[index].covariates):columns.stop] = True
        positions = np.where(is_covariate, -1, matrix.positions(features))
        self.sources = np.maximum(positions, 0)
        self.absent = np.flatnonzero(positions < 0)
        # staged: each probe read once, in the matrix's order, into ``stage``, then copied into every
        # column that holds it. For many clocks sharing CpGs (the linear ones) that is faster than a
        # pass along each sample's row per clock: the gather in 0.77x the time for the 62 shipped linear
        # clocks at 2,000 samples (the other models, a few clocks without shared CpGs, read directly).
        # Reads already in one forward pass (one clock, on a matrix in CpG ID order) gain nothing by it.
        staged = staged and not np.all(np.diff(self.sources) > 0)
        self.staged_sources, self.from_stage = (np.unique(self.sources, return_inverse=True) if staged
                                                else (None, None))
        self.stage = np.empty((chunk_samples, len(self.staged_sources))) if staged else None
        # What an unmeasured feature becomes: its clock's reference value under 'reference'
        # imputation, else 0 (the sample then gets no age; zeros keep its arithmetic finite).
        reference = (np.concatenate([np.concatenate([clocks[index].reference_values,
                                                     np.full(len(clocks[index].covariates), np.nan)])
                                     for index in self.clocks])
                     if imputation == "reference" and n_features else np.full(n_features, np.nan))
        self.fill = np.where(np.isnan(reference), 0.0, reference)
        self.imputing = imputation == "reference"
        self.unfilled_columns = np.flatnonzero(np.isnan(reference) & ~is_covariate)
        self.unfilled_clock = self.clocks[np.searchsorted(self.starts, self.unfilled_columns, side="right") - 1]
        self.values = np.empty((n_rows, n_features))
        self.missing = np.empty((chunk_samples, n_features), dtype=bool)

    def read(self, rows: np.ndarray, into: slice, given: dict, start: int, stop: int, n_missing: np.ndarray,
             n_unfilled: np.ndarray) -> np.ndarray:
        """The features of samples start..stop (``rows`` of the matrix) in rows ``into`` of the array,
        unmeasured ones filled; their counts per sample and clock written to ``n_missing`` and
        ``n_unfilled`` (samples x all clocks); ``given``: covariates per clock index."""
        values = self.values[into]
        # mode='clip' (the positions are all valid): with the default mode numpy buffers ``out``.
        if rows.shape[1] and self.stage is not None:
            stage = self.stage[:len(rows)]
            np.take(rows, self.staged_sources, axis=1, out=stage, mode="clip")
            np.take(stage, self.from_stage, axis=1, out=values, mode="clip")
        elif rows.shape[1]:
            np.take(rows, self.sources, axis=1, out=values, mode="clip")
        values[:, self.absent] = np.nan
        for index, columns in self.columns.items():
            if index in given:
                values[:, columns.stop - given[index].shape[1]:columns.stop] = np.where(
                    np.isnan(given[index][start:stop]), 0.0, given[index][start:stop])
        missing = np.isnan(values, out=self.missing[:stop - start])
        if missing.any():
            n_missing[start:stop, self.clocks] = segment_sums(missing, self.starts, dtype=np.intp)
            np.copyto(values, self.fill, where=missing)
            if not self.imputing:
                n_unfilled[start:stop, self.clocks] = n_missing[start:stop, self.clocks]
            elif len(self.unfilled_columns):
                np.add.at(n_unfilled[start:stop].T, self.unfilled_clock, missing[:, self.unfilled_columns].T)
        return values


class _Run:
    """The clocks' features laid side by side, and what each chunk of samples gives."""

    def __init__(self, clocks: list[Clock], matrix: BetaMatrix, imputation: str, covariates: pd.DataFrame | None,
                 with_details: bool):
        self.clocks, self.matrix = clocks, matrix
        n_samples, n_clocks = matrix.n_samples, len(clocks)
        chunk_samples = min(CHUNK_SAMPLES, n_samples)
        self.linear_models = np.flatnonzero([isinstance(clock.model, LinearClock) for clock in clocks])
        self.other_models = [index for index, clock in enumerate(clocks) if not isinstance(clock.model, LinearClock)]
        # The linear clocks' features, chunk by chunk (the array stays in the processor's cache); the
        # other models', read straight into a batch of MODEL_SAMPLES samples: a model's predict has its
        # own overhead per call (an iterative fit, say), paid once per batch.
        self.linear = _Features(clocks, self.linear_models, matrix, imputation, chunk_samples, chunk_samples,
                                staged=True)
        self.batch_samples = min(MODEL_SAMPLES, n_samples)
        self.others = _Features(clocks, self.other_models, matrix, imputation,
                                self.batch_samples if self.other_models else 0, chunk_samples)
        self.coef = np.concatenate([clocks[index].model.coef_ for index in self.linear_models]) \
            if len(self.linear_models) else np.zeros(0)
        self.n_missing = np.zeros((n_samples, n_clocks), dtype=np.intp)
        self.n_unfilled = np.zeros((n_samples, n_clocks), dtype=np.intp)
        self.outputs = np.empty((n_samples, n_clocks))
        self.given = {}
        for index, clock in enumerate(clocks):
            if clock.covariates:
                table = covariates if covariates is not None else pd.DataFrame(columns=list(COVARIATES))
                self.given[index] = table.reindex(index=matrix.samples, columns=list(clock.covariates)).to_numpy(dtype=float)
        self.standardised = [index for index, clock in enumerate(clocks)
                             if isinstance(clock.preprocessing, SampleStandardisation)]
        self.statistics = (np.zeros(n_samples, dtype=int), np.zeros(n_samples), np.zeros(n_samples)) \
            if self.standardised else None
        self.normalisers = {index: QuantileNormaliser(clock.preprocessing.target, matrix, clock.cpg_ids)
                            for index, clock in enumerate(clocks) if isinstance(clock.preprocessing, QuantileNormalisation)}
        self.target_measured = {index: np.zeros(n_samples, dtype=int) for index in self.normalisers}
        self.sorted = [index for index, clock in enumerate(clocks) if isinstance(clock.preprocessing, SampleQuantile)]
        self.components = {index: np.empty((n_samples, len(clock.components))) for index, clock in enumerate(clocks)
                           if with_details and clock.components}
        # The clocks whose columns a chunk's preprocessing or components read: where they lie.
        self.rewritten = {index: (name, features.columns[index])
                          for name, features in (("linear", self.linear), ("others", self.others))
                          for index in features.columns
                          if index in {*self.standardised, *self.normalisers, *self.sorted, *self.components}}

    def chunk(self, start: int, stop: int) -> None:
        """Every clock's output for samples start..stop (rows of the matrix)."""
        rows = self.matrix.by_sample[start:stop]
        first = start - start % MODEL_SAMPLES   # the first sample of the chunk's batch
        chunk = {"linear": self.linear.read(rows, slice(0, stop - start), self.given, start, stop, self.n_missing,
                                            self.n_unfilled)}
        if self.other_models:
            chunk["others"] = self.others.read(rows, slice(start - first, stop - first), self.given, start, stop,
                                               self.n_missing, self.n_unfilled)
        own = {index: chunk[name][:, columns] for index, (name, columns) in self.rewritten.items()}
        self._preprocess(rows, own, start, stop)
        for index, outputs in self.components.items():
            for column, model in enumerate(self.clocks[index].components.values()):
                outputs[start:stop, column] = model.predict_array(own[index])
        # Linear clocks: the dot products here (the products overwrite the chunk's features, read
        # by now), their output transforms once all chunks are done.
        if len(self.linear_models):
            self.outputs[start:stop, self.linear_models] = segment_dots(chunk["linear"], self.coef, self.linear.starts,
                                                                        scratch=chunk["linear"])
        if self.other_models and (stop - first == self.batch_samples or stop == self.matrix.n_samples):
            batch = self.others.values[:stop - first]
            for index in self.other_models:
                # A sample with a feature left unfilled gets no age: the model need not compute it.
                # Preprocessing could make a NaN of a value that was there: then the model looks.
                complete = (np.flatnonzero(self.n_unfilled[first:stop, index] == 0)
                            if self.clocks[index].preprocessing is None else None)
                self.outputs[first:stop, index] = _model_outputs(self.clocks[index].model,
                                                                 batch[:, self.others.columns[index]], complete)

    def finish(self) -> None:
        """The linear clocks' output transforms, on the dot products of every chunk."""
        for index in self.linear_models:
            self.outputs[:, index] = self.clocks[index].model.output(self.outputs[:, index])

    def _preprocess(self, rows: np.ndarray, own: dict, start: int, stop: int) -> None:
        """Each clock's per-sample preprocessing, on its own columns of the chunk (``own``: per clock
        index, a view of them). The steps that read a sample's whole row (the sums of a per-sample
        standardisation, a quantile normaliser's probes) take it in turn, sample by sample, so the
        row comes from memory once and is then read from the processor's cache."""
        for index, normaliser in self.normalisers.items():
            normaliser.begin(own[index])
        sums = np.empty((len(rows), 2)) if self.standardised else None
        if self.standardised or self.normalisers:
            for position, row in enumerate(rows):
                if sums is not None:
                    sums[position] = row_sums(row)
                complete = sums is not None and np.isfinite(sums[position, 0])
                for normaliser in self.normalisers.values():
                    normaliser.rank_sample(position, row, complete)
        if self.standardised:
            count, mean, sd = statistics_from_sums(rows, sums[:, 0], sums[:, 1])
            for kept, computed in zip(self.statistics, (count, mean, sd)):
                kept[start:stop] = computed
            for index in self.standardised:
                with np.errstate(invalid="ignore", divide="ignore"):
                    own[index][...] = (own[index] - mean[:, None]) / sd[:, None]
        for index, normaliser in self.normalisers.items():
            own[index][...], self.target_measured[index][start:stop] = normaliser.end()
        for index in self.sorted:
            own[index].sort(axis=1)

    def reasons(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Per sample, why clock ``index``'s preprocessing or covariates give no age (shortfall), and
        what its status adds to an age (notes); None where there is nothing to say."""
        clock = self.clocks[index]
        n_samples = self.matrix.n_samples
        shortfall = np.full(n_samples, None, dtype=object)
        notes = np.full(n_samples, None, dtype=object)
        if not clock.cpg_ids:
            shortfall[:] = "no age: the clock reads no CpGs (a trained clock whose elastic net kept none)"
        if isinstance(clock.preprocessing, SampleStandardisation):
            count, _, sd = self.statistics
            for row in np.flatnonzero(~((count >= clock.preprocessing.min_cpgs) & (sd > 0))):
                shortfall[row] = (f"no age: {count[row]} probes measured in the sample, fewer than the "
                                  f"{clock.preprocessing.min_cpgs} its per-sample standardisation needs "
                                  "(give the whole array)")
        elif isinstance(clock.preprocessing, QuantileNormalisation):
            n_target = len(clock.preprocessing.target)
            measured = self.target_measured[index]
            enough = measured / n_target >= clock.preprocessing.min_coverage
            for row in np.flatnonzero(~enough):
                shortfall[row] = (f"no age: {measured[row]} of {n_target} normalisation probes measured, "
                                  f"below the minimum coverage {clock.preprocessing.min_coverage:g}")
            for row in np.flatnonzero(enough & (measured < n_target)):
                notes[row] = f"{n_target - measured[row]} of {n_target} normalisation probes set to their target value"
        if index in self.given:
            given = self.given[index]
            for row in np.flatnonzero(np.isnan(given).any(axis=1)):
                absent = [{"female": "sex"}.get(name, name) for name, value in zip(clock.covariates, given[row])
                          if np.isnan(value)]
                shortfall[row] = (f"no age: the clock needs the sample's {' and '.join(absent)} from the sample sheet "
                                  "(design.donor_age_column, qc.sex_column with F or M)")
        return shortfall, notes


def _model_outputs(model, features: np.ndarray, complete: np.ndarray | None) -> np.ndarray:
    """A model's outputs on its features (samples x ``feature_names_in_``): the array itself for the
    shipped models that are not linear (``PerSampleModel``, computing only the ``complete`` rows), a
    frame with the feature names for any other scikit-learn regressor."""
    if isinstance(model, PerSampleModel):
        return model.predict_array(features, complete)
    return model.predict(pd.DataFrame(features, columns=model.feature_names_in_, copy=False))


def required_cpgs(chosen) -> pd.Index | None:
    """The CpGs a set of clocks reads, named without EPICv2 suffixes; None when one of them reads the whole array."""
    needed = [clock.required_cpgs for clock in chosen]
    if any(cpgs is None for cpgs in needed):
        return None
    return pd.Index(sorted(set().union(*needed)))


def coverage_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per sample and clock of a prediction table: the clock's CpGs measured and imputed, and the status."""
    table = predictions.rename(columns={"n_cpgs_used": "n_measured", "n_cpgs_imputed": "n_imputed"})
    return table[["sample_id", "clock", "n_cpgs", "n_measured", "n_imputed", "coverage", "status"]]
