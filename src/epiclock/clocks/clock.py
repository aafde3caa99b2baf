"""Epigenetic clocks: what a clock is (``Clock``: its model, per-sample preprocessing, reference
values for unmeasured CpGs, and how to read its output) and how its outputs become the prediction
table.

A published clock is a ``Clock`` around a ``LinearClock`` whose coefficients come from the vendored
data files (``data/clocks.yaml`` says what each clock needs); a custom clock is the same estimator
fitted on your data. ``clocks.predict.predict(betas, [get(name)])`` applies clocks, giving a tidy
frame with one row per sample and clock, saying how many of the clock's CpGs were measured, how many
were imputed and why an age is missing when it is: a clock never silently reads an absent CpG as 0.
Every step works on one sample at a time (imputation from fixed reference values, Zhang's
standardisation, DunedinPACE's quantile normalisation), so a sample's prediction never depends on
the other samples of a run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.base import RegressorMixin

from epiclock.clocks.data import reference_medians
from epiclock.clocks.model import LinearClock
from epiclock.clocks.preprocessing import QuantileNormalisation, SampleQuantile, SampleStandardisation

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

    model: a fitted scikit-learn regressor whose ``feature_names_in_`` are the clock's CpGs, then its
    covariates. A ``LinearClock`` (every custom clock, and the published ones but MiAge, GP-age and
    AltumAge) is computed with every other linear clock at once by ``clocks.predict``; any other
    model is called on the clock's preprocessed features, for up to ``clocks.predict.MODEL_SAMPLES``
    samples at a time (a ``model.PerSampleModel`` through ``predict_array``, any other regressor
    through ``predict`` on a frame), and must read each sample (row) on its own.

    min_coverage: the clock's own minimum fraction of its CpGs measured (the run's minimum applies
    when stricter); preprocessing: a per-sample step before the model; imputation_reference:
    per-CpG values for unmeasured CpGs (None: the shared reference medians).
    """

    name: str
    title: str
    model: LinearClock | RegressorMixin
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

    @functools.cached_property
    def reference_values(self) -> np.ndarray:
        """Per CpG of the clock, the value that replaces it when unmeasured under 'reference'
        imputation: the clock's own reference, else the shared reference medians (NaN: none).
        Looked up once per clock (a lookup among the 450,000 medians per call would cost more than
        predicting a small batch)."""
        reference = self.imputation_reference if self.imputation_reference is not None else reference_medians()
        values = reference.reindex(self.cpg_ids).to_numpy(dtype=float)
        values.flags.writeable = False
        return values

    def usable(self, n_measured: np.ndarray, n_imputed: np.ndarray, min_coverage: float,
               shortfall: np.ndarray) -> np.ndarray:
        """Samples that get an age: every CpG measured or imputed, enough of them measured, and no
        shortfall of the preprocessing or covariates."""
        n_cpgs = len(self.cpg_ids)
        return (((n_measured + n_imputed) == n_cpgs) & (fraction_measured(n_measured, n_cpgs) >= self.effective_min_coverage(min_coverage))
                & (shortfall == None))  # noqa: E711

    def table(self, samples: np.ndarray, ages: np.ndarray, n_measured: np.ndarray, n_imputed: np.ndarray,
              min_coverage: float, imputation: str, shortfall: np.ndarray, notes: np.ndarray,
              sample_tissue: str | None) -> dict:
        """The prediction table's columns (PREDICTION_COLUMNS) for the clock's outputs: NaN where a
        sample is unusable, and the status saying why.

        shortfall: per sample, why its preprocessing or covariates give no age (None: they do);
        notes: per sample, what the status adds to an age (None: nothing).
        """
        n_cpgs = len(self.cpg_ids)
        required = self.effective_min_coverage(min_coverage)
        measured_fraction = fraction_measured(n_measured, n_cpgs)
        usable = self.usable(n_measured, n_imputed, min_coverage, shortfall)
        if sample_tissue and "blood" in self.panels and sample_tissue != "blood":
            note = f"a blood clock applied to {sample_tissue}"
            notes = np.array([note if existing is None else f"{existing}; {note}" for existing in notes], dtype=object)
        n_samples = len(samples)
        status = np.full(n_samples, "ok", dtype=object)
        # Samples with the same counts and reasons share one status (most of a run's imputed samples
        # do): each distinct one is written once.
        rows = np.flatnonzero(~usable | (n_imputed > 0) | (notes != None))  # noqa: E711
        plain = (shortfall[rows] == None) & (notes[rows] == None)  # noqa: E711
        counted = rows[plain]
        keys = (n_measured[counted].astype(np.int64) * (n_cpgs + 1) + n_imputed[counted]) * 2 + usable[counted]
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        texts = np.array([_status(int(n_measured[row]), int(n_imputed[row]), n_cpgs, float(measured_fraction[row]), required,
                                  bool(usable[row]), imputation, self.imputation_label, None, None)
                          for row in counted[first]], dtype=object)
        status[counted] = texts[inverse.reshape(-1)]
        known: dict = {}
        for row in rows[~plain]:
            key = (int(n_measured[row]), int(n_imputed[row]), bool(usable[row]), shortfall[row], notes[row])
            if key not in known:
                known[key] = _status(key[0], key[1], n_cpgs, float(measured_fraction[row]), required, key[2], imputation,
                                     self.imputation_label, key[3], key[4])
            status[row] = known[key]
        return {
            "sample_id": samples,
            "clock": self.name,
            "dnam_age": np.where(usable, ages, np.nan),
            "unit": self.unit,
            "n_cpgs": n_cpgs,
            "n_cpgs_used": n_measured.astype(int),
            "n_cpgs_missing": (n_cpgs - n_measured).astype(int),
            "n_cpgs_imputed": n_imputed.astype(int),
            "coverage": measured_fraction,
            # One value when every sample's is 'ok': the frame then need not look at each (``frame``).
            "status": status if len(rows) else "ok",
        }

    def details(self, samples: np.ndarray, ages: np.ndarray, usable: np.ndarray, components: np.ndarray | None,
                covariates: pd.DataFrame | None) -> pd.DataFrame:
        """The clock's further outputs (DETAIL_COLUMNS) for the usable samples: ``components`` holds,
        per sample, the value of each of ``self.components`` in order."""
        frames = []
        rows = np.flatnonzero(usable)
        for column, quantity in enumerate(self.components):
            frames.append(pd.DataFrame({"sample_id": samples[rows], "quantity": quantity,
                                        "value": components[rows, column], "unit": "surrogate (as in the paper)"}))
        if self.rate_per_year and covariates is not None and "age" in covariates:
            age = covariates["age"].reindex(samples).to_numpy(dtype=float)
            with_age = np.flatnonzero(usable & (age > 0))
            frames.append(pd.DataFrame({"sample_id": samples[with_age], "quantity": "per_year_of_age",
                                        "value": ages[with_age] / age[with_age], "unit": f"{self.unit}/year"}))
        if not frames:
            return pd.DataFrame(columns=DETAIL_COLUMNS)
        table = pd.concat(frames, ignore_index=True)
        table["clock"] = self.name
        return table[DETAIL_COLUMNS]


# Columns of text, and the dtype pandas gives a column of Python strings (object before pandas 3).
TEXT_COLUMNS = ("sample_id", "clock", "unit", "status")


TEXT_DTYPE = pd.Series(["text"]).dtype


def frame(tables: list[dict]) -> pd.DataFrame:
    """One prediction table from the columns of several clocks' (``Clock.table``; a column may be
    one value for all of a clock's samples). Built once: cheaper than a frame each."""
    lengths = [len(table["dnam_age"]) for table in tables]
    columns = {}
    for column in PREDICTION_COLUMNS:
        parts = [table[column] for table in tables]
        if column in TEXT_COLUMNS and TEXT_DTYPE != object:
            columns[column] = _text_column(parts, lengths)
        else:
            columns[column] = np.concatenate([np.broadcast_to(np.asarray(part, dtype=object if column in TEXT_COLUMNS
                                                                         else None), (length,))
                                              for part, length in zip(parts, lengths)])
    return pd.DataFrame(columns, columns=PREDICTION_COLUMNS)


def _text_column(parts: list, lengths: list[int]) -> pd.Series:
    """A column of text from each clock's part (one string, or one per sample) as an Arrow dictionary:
    each distinct part is converted once (a run's clocks share the sample IDs; most statuses are
    'ok'), which is many times faster than converting every row's Python string."""
    labels: list = []
    codes, converted = [], {}
    for part, length in zip(parts, lengths):
        if isinstance(part, str):
            codes.append(np.full(length, len(labels)))
            labels.append(part)
            continue
        if id(part) not in converted:
            part_codes, uniques = pd.factorize(np.asarray(part, dtype=object))
            converted[id(part)] = part_codes + len(labels)
            labels.extend(uniques)
        codes.append(converted[id(part)])
    if not all(isinstance(label, str) for label in labels):   # sample IDs of another type: as pandas reads them
        return pd.Series(np.concatenate([np.broadcast_to(np.asarray(part, dtype=object), (length,))
                                         for part, length in zip(parts, lengths)]))
    text = pa.DictionaryArray.from_arrays(pa.array(np.concatenate(codes).astype(np.int32)),
                                          pa.array(labels, type=pa.string())).cast(pa.string())
    return pd.Series(text, dtype=TEXT_DTYPE)


def fraction_measured(n_measured: np.ndarray, n_cpgs: int) -> np.ndarray:
    """The fraction of a clock's CpGs measured per sample; NaN for a clock with none."""
    if n_cpgs == 0:
        return np.full(np.shape(n_measured), np.nan)
    return n_measured / n_cpgs


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
