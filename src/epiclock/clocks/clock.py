"""Epigenetic clocks: a per-sample preprocessing where a clock needs one, a linear model on betas,
and an output transform.

A published clock is a ``Clock`` around a ``LinearClock`` whose coefficients come from the vendored
data files (``data/clocks.yaml`` says what each clock needs); a custom clock is the same estimator
fitted on your data. ``get(name).predict(betas)`` gives a tidy frame with one row per sample, saying
how many of the clock's CpGs were measured, how many were imputed and why an age is missing when it
is: a clock never silently reads an absent CpG as 0. Every step works on one sample at a time
(imputation from fixed reference values, Zhang's standardisation, DunedinPACE's quantile
normalisation), so a sample's prediction never depends on the other samples of a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from epiclock.clocks.data import reference_medians
from epiclock.clocks.model import LinearClock
from epiclock.clocks.preprocessing import (BetaMatrix, QuantileNormalisation, SampleStandardisation,
                                           collapse_replicate_probes, quantile_normalise)
from epiclock.errors import EpiclockError

IMPUTATION_METHODS = ("reference", "none")
# How to read a clock's output: which way is older, and what kind of quantity it is.
DIRECTIONS = ("higher = older", "lower = older", "higher = faster ageing", "not an age")
OUTPUT_KINDS = ("age", "pace", "divisions", "kb", "score")


# The columns of a prediction table, one row per sample and clock.
PREDICTION_COLUMNS = ["sample_id", "clock", "dnam_age", "unit", "n_cpgs", "n_cpgs_used", "n_cpgs_missing",
                      "n_cpgs_imputed", "coverage", "status"]


@dataclass(frozen=True)
class Clock:
    """A named clock with what a reader needs to trust it: unit, tissue, citation, licence.

    How to read its output: ``unit``, ``direction`` (one of DIRECTIONS: which way is older),
    ``output_kind`` (one of OUTPUT_KINDS) and ``intended_use``; a custom clock is trained on age.

    min_coverage: the clock's own minimum fraction of its CpGs measured (the run's minimum applies
    when stricter); preprocessing: a per-sample step before the linear model; imputation_reference:
    per-CpG values for unmeasured CpGs (None: the shared reference medians).
    """

    name: str
    title: str
    model: LinearClock
    unit: str
    tissue: str
    citation: str
    doi: str
    licence: str
    restricted: bool
    min_coverage: float | None = None
    preprocessing: SampleStandardisation | QuantileNormalisation | None = None
    imputation_reference: pd.Series | None = field(default=None, compare=False)
    imputation_label: str = "reference medians"
    simulate: bool = False
    direction: str = "higher = older"
    output_kind: str = "age"
    intended_use: str = "age, as trained on the run's reference cohort"

    @property
    def cpg_ids(self) -> list[str]:
        return list(self.model.feature_names_in_)

    @property
    def required_cpgs(self) -> pd.Index | None:
        """The CpGs this clock reads from a sample; None when it reads the whole array.

        A clock that standardises each sample over every probe needs the whole array; one that
        quantile-normalises needs its target's probes besides its own CpGs.
        """
        if isinstance(self.preprocessing, SampleStandardisation):
            return None
        if isinstance(self.preprocessing, QuantileNormalisation):
            return self.preprocessing.target.index.union(pd.Index(self.cpg_ids))
        return pd.Index(self.cpg_ids)

    def effective_min_coverage(self, min_coverage: float) -> float:
        return max(min_coverage, self.min_coverage or 0.0)

    def predict(self, betas: pd.DataFrame, imputation: str = "reference", min_coverage: float = 0.8,
                reference: pd.Series | None = None, replicates: str = "mean") -> pd.DataFrame:
        """Predict from a CpG x sample beta matrix; one row per sample (tidy).

        imputation: 'reference' fills unmeasured clock CpGs with fixed per-CpG reference values
        (so a sample's age never depends on the other samples of the run); 'none' leaves the age
        missing when any clock CpG is unmeasured. Either way, a sample measuring fewer than
        ``min_coverage`` of the clock's CpGs (or the clock's own, stricter minimum) gets no age, and
        the status column says why. EPICv2 probe IDs are collapsed to CpG IDs first (``replicates``).
        """
        matrix = BetaMatrix(collapse_replicate_probes(betas, replicates))
        return self._predict(matrix, imputation, min_coverage, reference)

    def _predict(self, matrix: BetaMatrix, imputation: str, min_coverage: float,
                 reference: pd.Series | None) -> pd.DataFrame:
        if imputation not in IMPUTATION_METHODS:
            raise EpiclockError(f"unknown imputation {imputation!r}; choose one of {', '.join(IMPUTATION_METHODS)}")
        if not 0 <= min_coverage <= 1:
            raise EpiclockError(f"clock {self.name}: min_coverage must be within [0, 1] (got {min_coverage})")
        cpg_ids = self.cpg_ids
        n_cpgs = len(cpg_ids)
        values = matrix.take(cpg_ids)
        measured = ~np.isnan(values)
        n_measured = measured.sum(axis=1)
        n_imputed = np.zeros(matrix.n_samples, dtype=int)
        if imputation == "reference":
            if reference is None:
                reference = self.imputation_reference if self.imputation_reference is not None else reference_medians()
            reference_values = reference.reindex(cpg_ids).to_numpy(dtype=float)
            imputable = ~measured & ~np.isnan(reference_values)[None, :]
            values = np.where(imputable, reference_values[None, :], values)
            n_imputed = imputable.sum(axis=1)
        coverage = n_measured / n_cpgs
        required = self.effective_min_coverage(min_coverage)
        complete = (n_measured + n_imputed) == n_cpgs
        usable = complete & (coverage >= required)
        # Unusable samples still flow through the arithmetic (their age is masked below): zeros keep it finite.
        values = np.where(np.isnan(values), 0.0, values)

        shortfall = np.full(matrix.n_samples, None, dtype=object)
        notes = np.full(matrix.n_samples, None, dtype=object)
        if isinstance(self.preprocessing, SampleStandardisation):
            count, mean, sd = matrix.sample_statistics()
            enough = (count >= self.preprocessing.min_cpgs) & (sd > 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                values = (values - mean[:, None]) / sd[:, None]
            for row in np.flatnonzero(~enough):
                shortfall[row] = (f"no age: {count[row]} probes measured in the sample, fewer than the "
                                  f"{self.preprocessing.min_cpgs} its per-sample standardisation needs "
                                  "(give the whole array)")
            usable &= enough
        elif isinstance(self.preprocessing, QuantileNormalisation):
            target = self.preprocessing.target
            values, n_target_measured = quantile_normalise(matrix, target, cpg_ids, values)
            target_coverage = n_target_measured / len(target)
            enough = target_coverage >= self.preprocessing.min_coverage
            for row in np.flatnonzero(~enough):
                shortfall[row] = (f"no age: {n_target_measured[row]} of {len(target)} normalisation probes measured, "
                                  f"below the minimum coverage {self.preprocessing.min_coverage:g}")
            for row in np.flatnonzero(enough & (n_target_measured < len(target))):
                notes[row] = (f"{len(target) - n_target_measured[row]} of {len(target)} normalisation probes "
                              "set to their target value")
            usable &= enough

        with np.errstate(invalid="ignore"):
            ages = self.model.predict_array(values)
        ages = np.where(usable, ages, np.nan)
        status = np.full(matrix.n_samples, "ok", dtype=object)
        for row in np.flatnonzero(~usable | (n_imputed > 0) | (notes != None)):  # noqa: E711
            status[row] = _status(int(n_measured[row]), int(n_imputed[row]), n_cpgs, float(coverage[row]), required,
                                  bool(usable[row]), imputation, self.imputation_label, shortfall[row], notes[row])
        return pd.DataFrame({
            "sample_id": matrix.samples,
            "clock": self.name,
            "dnam_age": ages,
            "unit": self.unit,
            "n_cpgs": n_cpgs,
            "n_cpgs_used": n_measured.astype(int),
            "n_cpgs_missing": (n_cpgs - n_measured).astype(int),
            "n_cpgs_imputed": n_imputed.astype(int),
            "coverage": coverage,
            "status": status,
        }, columns=PREDICTION_COLUMNS)


def _status(n_measured: int, n_imputed: int, n_cpgs: int, coverage: float, min_coverage: float, usable: bool,
            imputation: str, imputation_label: str, shortfall: str | None, note: str | None) -> str:
    if usable:
        details = [f"{n_imputed} CpGs imputed from {imputation_label}"] if n_imputed else []
        details += [note] if note else []
        return "ok" if not details else f"ok ({'; '.join(details)})"
    if coverage < min_coverage:
        # None at all usually means the matrix is not what the clock reads, rather than a poor sample.
        hint = " (does the beta matrix use Illumina probe IDs of an array this clock covers?)" if not n_measured else ""
        return f"no age: {n_measured} of {n_cpgs} CpGs measured, below the minimum coverage {min_coverage:g}{hint}"
    if n_measured + n_imputed < n_cpgs:
        if imputation == "none":
            return f"no age: {n_cpgs - n_measured} CpGs unmeasured and imputation is 'none'"
        return f"no age: {n_cpgs - n_measured - n_imputed} unmeasured CpGs have no reference value"
    return shortfall or "no age"
