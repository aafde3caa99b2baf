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
from epiclock.clocks.preprocessing import (BetaMatrix, QuantileNormalisation, SampleQuantile, SampleStandardisation,
                                           collapse_replicate_probes, quantile_normalise)
from epiclock.errors import EpiclockError

IMPUTATION_METHODS = ("reference", "none")


# How to read a clock's output: which way is older, and what kind of quantity it is.
DIRECTIONS = ("higher = older", "lower = older", "higher = faster ageing", "not an age")


OUTPUT_KINDS = ("age", "pace", "divisions", "kb", "score")


# Quantities of the sample sheet a clock can read beside its CpGs (GrimAge): the donor's age in years
# and female (1 for a female donor, 0 for a male one), named so in a clock's features.
COVARIATES = ("age", "female")


# The sheet's sex values read as female or male; any other value is unknown.
FEMALE_VALUES = ("f", "female")


MALE_VALUES = ("m", "male")


# Outputs beyond one number per sample and clock (GrimAge's DNAm surrogates, epiTOC2's divisions per
# year of age), one row per sample, clock and quantity, beside the predictions.
DETAIL_COLUMNS = ["sample_id", "clock", "quantity", "value", "unit"]


def sample_covariates(sheet: pd.DataFrame, age_column: str, sex_column: str, sample_column: str = "sample_id") -> pd.DataFrame:
    """Age and female (1/0) per sample from a sample sheet, NaN where the sheet lacks them."""
    table = pd.DataFrame(index=pd.Index(sheet[sample_column].astype(str), name="sample_id"))
    age = sheet[age_column] if age_column in sheet else pd.Series(np.nan, index=sheet.index)
    table["age"] = pd.to_numeric(age, errors="coerce").to_numpy()
    sex = (sheet[sex_column] if sex_column in sheet else pd.Series("", index=sheet.index)).astype(str).str.strip().str.lower()
    table["female"] = np.where(sex.isin(FEMALE_VALUES), 1.0, np.where(sex.isin(MALE_VALUES), 0.0, np.nan))
    return table


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
    preprocessing: SampleStandardisation | QuantileNormalisation | SampleQuantile | None = None
    imputation_reference: pd.Series | None = field(default=None, compare=False)
    imputation_label: str = "reference medians"
    simulate: bool = False
    direction: str = "higher = older"
    output_kind: str = "age"
    intended_use: str = "age, as trained on the run's reference cohort"
    panels: tuple[str, ...] = ()
    # Sample-sheet quantities (COVARIATES) the model reads after its CpGs, the last of its features.
    covariates: tuple[str, ...] = ()
    # Further outputs: linear models on the same features (GrimAge's surrogates), and whether the
    # value per year of the donor's age is reported (epiTOC2's intrinsic rate of divisions).
    components: dict = field(default_factory=dict, compare=False)
    rate_per_year: bool = False

    @property
    def cpg_ids(self) -> list[str]:
        features = list(self.model.feature_names_in_)
        return features[:len(features) - len(self.covariates)]

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
                reference: pd.Series | None = None, replicates: str = "mean",
                sample_tissue: str | None = None, covariates: pd.DataFrame | None = None) -> pd.DataFrame:
        """Predict from a CpG x sample beta matrix; one row per sample (tidy).

        imputation: 'reference' fills unmeasured clock CpGs with fixed per-CpG reference values
        (so a sample's age never depends on the other samples of the run); 'none' leaves the age
        missing when any clock CpG is unmeasured. Either way, a sample measuring fewer than
        ``min_coverage`` of the clock's CpGs (or the clock's own, stricter minimum) gets no age, and
        the status column says why. EPICv2 probe IDs are collapsed to CpG IDs first (``replicates``).
        sample_tissue: the samples' tissue; a blood clock applied to another tissue says so in the status.
        covariates: age and female per sample (``sample_covariates``), for clocks that read them.
        """
        matrix = BetaMatrix(collapse_replicate_probes(betas, replicates))
        return frame([self._predict(matrix, imputation, min_coverage, reference, sample_tissue, covariates)])

    def _predict(self, matrix: BetaMatrix, imputation: str, min_coverage: float,
                 reference: pd.Series | None, sample_tissue: str | None = None,
                 covariates: pd.DataFrame | None = None, details: list | None = None) -> dict:
        """The prediction table's columns (PREDICTION_COLUMNS); with ``details`` (a list), the clock's
        further outputs are appended to it."""
        if imputation not in IMPUTATION_METHODS:
            raise EpiclockError(f"unknown imputation {imputation!r}; choose one of {', '.join(IMPUTATION_METHODS)}")
        if not 0 <= min_coverage <= 1:
            raise EpiclockError(f"clock {self.name}: min_coverage must be within [0, 1] (got {min_coverage})")
        cpg_ids = self.cpg_ids
        n_cpgs = len(cpg_ids)
        values = matrix.take(cpg_ids, block=self.name)
        if self.preprocessing is None and not self.covariates:
            return self._table(matrix, *self._predict_linear(values, imputation, min_coverage, reference),
                               sample_tissue, covariates, details, values)
        measured = ~np.isnan(values)
        n_measured = measured.sum(axis=1)
        n_imputed = np.zeros(matrix.n_samples, dtype=int)
        if imputation == "reference":
            reference_values = self._reference(reference)
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
        elif isinstance(self.preprocessing, SampleQuantile):
            values = np.sort(values, axis=1)

        if self.covariates:
            given = (covariates if covariates is not None else pd.DataFrame(columns=list(COVARIATES))).reindex(
                index=matrix.samples, columns=list(self.covariates)).to_numpy(dtype=float)
            lacking = np.isnan(given).any(axis=1)
            for row in np.flatnonzero(lacking):
                absent = [{"female": "sex"}.get(name, name) for name, value in zip(self.covariates, given[row]) if np.isnan(value)]
                shortfall[row] = (f"no age: the clock needs the sample's {' and '.join(absent)} from the sample sheet "
                                  "(design.donor_age_column, qc.sex_column with F or M)")
            usable &= ~lacking
            values = np.hstack([values, np.where(np.isnan(given), 0.0, given)])

        with np.errstate(invalid="ignore"):
            ages = self.model.predict_array(values)
        return self._table(matrix, ages, usable, n_measured, n_imputed, required, imputation, shortfall, notes,
                           sample_tissue, covariates, details, values)

    def _predict_linear(self, values: np.ndarray, imputation: str, min_coverage: float, reference: pd.Series | None):
        """Ages of a clock without preprocessing: every sample first as it is, then again, imputed,
        only the samples whose age came out NaN (an unmeasured CpG), so a complete matrix is read once.
        Each row's age is computed on its own (row_dot), so both passes give the same bits."""
        n_samples, n_cpgs = values.shape
        with np.errstate(invalid="ignore"):
            ages = self.model.predict_array(values)
        n_measured = np.full(n_samples, n_cpgs, dtype=int)
        n_imputed = np.zeros(n_samples, dtype=int)
        incomplete = np.flatnonzero(np.isnan(ages))
        if len(incomplete):
            rows = values[incomplete]
            measured = ~np.isnan(rows)
            n_measured[incomplete] = measured.sum(axis=1)
            if imputation == "reference":
                reference_values = self._reference(reference)
                imputable = ~measured & ~np.isnan(reference_values)[None, :]
                rows = np.where(imputable, reference_values[None, :], rows)
                n_imputed[incomplete] = imputable.sum(axis=1)
            with np.errstate(invalid="ignore"):
                ages[incomplete] = self.model.predict_array(np.where(np.isnan(rows), 0.0, rows))
        required = self.effective_min_coverage(min_coverage)
        usable = ((n_measured + n_imputed) == n_cpgs) & (n_measured / n_cpgs >= required)
        shortfall = np.full(n_samples, None, dtype=object)
        notes = np.full(n_samples, None, dtype=object)
        return ages, usable, n_measured, n_imputed, required, imputation, shortfall, notes

    def _reference(self, reference: pd.Series | None) -> np.ndarray:
        """The per-CpG values that replace unmeasured CpGs under 'reference' imputation."""
        if reference is None:
            reference = self.imputation_reference if self.imputation_reference is not None else reference_medians()
        return reference.reindex(self.cpg_ids).to_numpy(dtype=float)

    def _table(self, matrix: BetaMatrix, ages: np.ndarray, usable: np.ndarray, n_measured: np.ndarray,
               n_imputed: np.ndarray, required: float, imputation: str, shortfall: np.ndarray, notes: np.ndarray,
               sample_tissue: str | None, covariates: pd.DataFrame | None, details: list | None,
               values: np.ndarray) -> dict:
        """The prediction table's columns for the clock's ages (NaN where a sample is unusable, with the reason)."""
        n_cpgs = len(self.cpg_ids)
        if sample_tissue and "blood" in self.panels and sample_tissue != "blood":
            note = f"a blood clock applied to {sample_tissue}"
            notes = np.array([note if existing is None else f"{existing}; {note}" for existing in notes], dtype=object)
        ages = np.where(usable, ages, np.nan)
        if details is not None and (self.components or self.rate_per_year):
            details.append(self._details(matrix.samples, values, ages, usable, covariates))
        coverage = n_measured / n_cpgs
        status = np.full(matrix.n_samples, "ok", dtype=object)
        for row in np.flatnonzero(~usable | (n_imputed > 0) | (notes != None)):  # noqa: E711
            status[row] = _status(int(n_measured[row]), int(n_imputed[row]), n_cpgs, float(coverage[row]), required,
                                  bool(usable[row]), imputation, self.imputation_label, shortfall[row], notes[row])
        n_samples = matrix.n_samples
        return {
            "sample_id": matrix.sample_array,
            "clock": np.full(n_samples, self.name, dtype=object),
            "dnam_age": ages,
            "unit": np.full(n_samples, self.unit, dtype=object),
            "n_cpgs": np.full(n_samples, n_cpgs),
            "n_cpgs_used": n_measured.astype(int),
            "n_cpgs_missing": (n_cpgs - n_measured).astype(int),
            "n_cpgs_imputed": n_imputed.astype(int),
            "coverage": coverage,
            "status": status,
        }

    def _details(self, samples: list, values: np.ndarray, ages: np.ndarray, usable: np.ndarray,
                 covariates: pd.DataFrame | None) -> pd.DataFrame:
        """The clock's further outputs for the usable samples, in DETAIL_COLUMNS."""
        frames = []
        rows = np.flatnonzero(usable)
        for quantity, model in self.components.items():
            frames.append(pd.DataFrame({"sample_id": np.asarray(samples, dtype=object)[rows], "quantity": quantity,
                                        "value": model.predict_array(values[rows]), "unit": "surrogate (as in the paper)"}))
        if self.rate_per_year and covariates is not None and "age" in covariates:
            age = covariates["age"].reindex(samples).to_numpy(dtype=float)
            with_age = np.flatnonzero(usable & (age > 0))
            frames.append(pd.DataFrame({"sample_id": np.asarray(samples, dtype=object)[with_age],
                                        "quantity": "per_year_of_age", "value": ages[with_age] / age[with_age],
                                        "unit": f"{self.unit}/year"}))
        if not frames:
            return pd.DataFrame(columns=DETAIL_COLUMNS)
        table = pd.concat(frames, ignore_index=True)
        table["clock"] = self.name
        return table[DETAIL_COLUMNS]


def frame(tables: list[dict]) -> pd.DataFrame:
    """One prediction table from the columns of several clocks' (built once: cheaper than a frame each)."""
    return pd.DataFrame({column: np.concatenate([table[column] for table in tables]) for column in PREDICTION_COLUMNS},
                        columns=PREDICTION_COLUMNS)


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
