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

import functools
import re
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd
import yaml
from sklearn.base import BaseEstimator, RegressorMixin

from epiclock.errors import EpiclockError

HORVATH_ADULT_AGE = 20.0

IMPUTATION_METHODS = ("reference", "none")
REPLICATE_METHODS = ("mean", "first")
UNITS = ("years", "years/year", "kb")
# How to read a clock's output: which way is older, and what kind of quantity it is.
DIRECTIONS = ("higher = older", "lower = older", "higher = faster ageing", "not an age")
OUTPUT_KINDS = ("age", "pace", "divisions", "kb", "score")

# EPICv2 probe names carry a suffix after the CpG ID: strand (T/B), conversion (C/O), design and
# replicate digits, e.g. cg00000029_TC21.
EPICV2_SUFFIX = re.compile(r"_[TB][CO]\d+$")

# Samples handled per block in the quantile normalisation, to bound the memory of the sorted copy.
QUANTILE_BLOCK_SAMPLES = 256


def anti_trafo(linear_predictor, adult_age: float = HORVATH_ADULT_AGE):
    """Horvath's inverse age transform: log-linear below the adult age, linear above it.

    The branch follows the sign of the linear predictor, not the known age.
    """
    x = np.asarray(linear_predictor, dtype=float)
    with np.errstate(over="ignore"):
        return np.where(x < 0, (1 + adult_age) * np.exp(np.minimum(x, 0)) - 1, (1 + adult_age) * x + adult_age)


def trafo(age, adult_age: float = HORVATH_ADULT_AGE):
    """Horvath's age transform F(age), the inverse of ``anti_trafo``; used to train such clocks."""
    age = np.asarray(age, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            age <= adult_age,
            np.log(np.maximum(age, -1 + 1e-12) + 1) - np.log(adult_age + 1),
            (age - adult_age) / (adult_age + 1),
        )


def _identity(values, adult_age: float = HORVATH_ADULT_AGE):
    return np.asarray(values, dtype=float)


# Each transform is (forward, inverse). 'linear' is the identity for clocks trained on age itself (or
# on another quantity, such as telomere length in kb); 'pace' is the identity for clocks whose output
# is a rate of ageing; 'identity' is kept as the name trained custom clocks use.
TRANSFORMS = {
    "anti_trafo": (anti_trafo, trafo),
    "linear": (_identity, _identity),
    "pace": (_identity, _identity),
    "identity": (_identity, _identity),
}

# What each transform can output: anti.trafo gives an age; pace a rate of ageing.
TRANSFORM_UNITS = {"anti_trafo": ("years",), "linear": ("years", "kb"), "pace": ("years/year",), "identity": UNITS}


def row_dot(values: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``values @ coef`` computed row by row, so a sample's result is bitwise the same whatever the
    other rows of the batch.

    A BLAS matrix-vector product blocks its sums by the matrix shape (and thread count), so one
    sample's age could differ in the last bit between batch sizes. Here each row is multiplied
    elementwise and reduced on its own contiguous memory by numpy's pairwise summation, whose order
    depends only on the row's length (tests/test_clocks.py checks the property).
    """
    values = np.ascontiguousarray(values, dtype=float)
    return np.add.reduce(values * np.asarray(coef, dtype=float), axis=1)


class LinearClock(RegressorMixin, BaseEstimator):
    """age = transform(intercept_ + X @ coef_), X being samples x CpGs (already preprocessed).

    A fitted linear model with scikit-learn's attributes (``feature_names_in_`` the CpG IDs,
    ``coef_``, ``intercept_``): ``from_coefficients`` builds it from published weights, and
    ``epiclock.training.ElasticNetClock`` fits one on your data, so both kinds of clock predict
    through this one class.
    """

    def __init__(self, transform: str = "identity", adult_age: float = HORVATH_ADULT_AGE):
        self.transform = transform
        self.adult_age = adult_age

    @classmethod
    def from_coefficients(cls, coefficients: pd.Series, intercept: float, transform: str) -> "LinearClock":
        clock = cls(transform=transform)
        clock._check_transform()
        clock.feature_names_in_ = np.asarray(coefficients.index, dtype=object)
        clock.coef_ = coefficients.to_numpy(dtype=float)
        clock.intercept_ = float(intercept)
        clock.n_features_in_ = len(clock.coef_)
        return clock

    def _check_transform(self) -> None:
        if self.transform not in TRANSFORMS:
            raise EpiclockError(f"unknown clock transform {self.transform!r}; known: {', '.join(TRANSFORMS)}")

    def predict_array(self, values: np.ndarray) -> np.ndarray:
        """The clock's output from a samples x CpGs array in ``feature_names_in_`` order."""
        forward, _ = TRANSFORMS[self.transform]
        return forward(self.intercept_ + row_dot(values, self.coef_), self.adult_age)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        values = X.reindex(columns=self.feature_names_in_).to_numpy(dtype=float)
        if np.isnan(values).any():
            raise EpiclockError("LinearClock.predict: the input lacks some of the clock's CpGs")
        return self.predict_array(values)


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
class QuantileNormalisation:
    """Each sample's betas at the target's probes mapped by rank onto the sorted target values.

    Unmeasured target probes take their target value (as in the DunedinPACE package); a sample
    measuring fewer than ``min_coverage`` of the target probes gets no value.
    """

    target: pd.Series = field(compare=False)
    min_coverage: float


class _BetaMatrix:
    """A CpG x sample matrix prepared once for several clocks: values sample-major, rows by CpG ID."""

    def __init__(self, betas: pd.DataFrame):
        if not betas.index.is_unique:
            raise EpiclockError("clocks: the beta matrix has duplicate CpG IDs; collapse them first "
                                "(collapse_replicate_probes)")
        self.index = betas.index
        self.samples = list(betas.columns)
        # A frame with one float block stores samples as rows: .T of its values is then a view.
        self.by_sample = betas.to_numpy(dtype=float).T
        self._statistics = None
        self._gathered_index: pd.Index | None = None
        self._gathered: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return len(self.samples)

    def positions(self, cpg_ids) -> np.ndarray:
        return self.index.get_indexer(cpg_ids)

    def gather(self, cpg_ids) -> None:
        """Copy the columns of ``cpg_ids`` into one compact array that later ``take`` calls read.

        Each sample's values are contiguous and a clock's CpGs are scattered among them: reading the
        wide matrix once for all clocks, rather than once per clock, is what keeps many clocks cheap.
        """
        self._gathered_index = pd.Index(cpg_ids)
        self._gathered = self._take_from_matrix(self._gathered_index)

    def _take_from_matrix(self, cpg_ids) -> np.ndarray:
        positions = self.positions(cpg_ids)
        if self.by_sample.shape[1] == 0:  # a matrix without rows measures none of them
            return np.full((self.n_samples, len(positions)), np.nan)
        values = self.by_sample.take(np.maximum(positions, 0), axis=1)
        values[:, positions < 0] = np.nan
        return values

    def take(self, cpg_ids) -> np.ndarray:
        """Samples x ``cpg_ids`` values, NaN where the matrix lacks a CpG."""
        if self._gathered_index is not None:
            columns = self._gathered_index.get_indexer(cpg_ids)
            if (columns >= 0).all():
                return self._gathered.take(columns, axis=1)
        return self._take_from_matrix(cpg_ids)

    def sample_statistics(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per sample over every measured probe: count, mean and SD (n - 1, as R's scale())."""
        if self._statistics is None:
            values = self.by_sample
            n_probes = values.shape[1]
            # Row by row, so a sample's statistics are bitwise the same whatever the batch (see row_dot).
            total = np.array([np.add.reduce(np.ascontiguousarray(row)) for row in values], dtype=float)
            count = np.full(len(total), n_probes, dtype=float)
            mean = total / max(n_probes, 1)
            squares = np.array([np.add.reduce(np.square(row)) for row in values], dtype=float)
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


def quantile_normalise(matrix: "_BetaMatrix", target: pd.Series, cpg_ids, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    positions = matrix.positions(target.index)
    present = np.flatnonzero(positions >= 0)
    absent = np.flatnonzero(positions < 0)
    sources = positions[present]
    own_columns = target.index.get_indexer(cpg_ids)
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
        matrix = _BetaMatrix(collapse_replicate_probes(betas, replicates))
        return self._predict(matrix, imputation, min_coverage, reference)

    def _predict(self, matrix: _BetaMatrix, imputation: str, min_coverage: float,
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


def _data_path(relative: str):
    return resources.files("epiclock") / "data" / relative


@functools.lru_cache(maxsize=1)
def _registry() -> dict:
    with _data_path("clocks.yaml").open("r", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def available() -> list[str]:
    """Names of the shipped clocks."""
    return sorted(_registry())


def for_simulation() -> list[str]:
    """Shipped clocks flagged ``simulate: true``: linear in betas with a unit of years, so the
    simulator can correct betas until they read a planted age."""
    return [name for name in available() if _registry()[name].get("simulate", False)]


REQUIRED_FIELDS = ("title", "coefficients", "intercept", "transform", "unit", "direction", "output_kind", "tissue",
                   "intended_use", "citation", "doi", "licence", "restricted")


@functools.lru_cache(maxsize=None)
def _read_table(relative: str, column: str) -> pd.Series:
    with _data_path(relative).open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, sep="\t", dtype={"cpg_id": str})
    if "cpg_id" not in table or column not in table:
        raise EpiclockError(f"data/{relative}: expected columns cpg_id and {column}, found {', '.join(table.columns)}")
    series = table.set_index("cpg_id")[column].astype(float)
    if not series.index.is_unique or series.isna().any():
        raise EpiclockError(f"data/{relative}: CpG IDs must be unique and every {column} present")
    return series


def _preprocessing(name: str, entry: dict, cpg_ids) -> SampleStandardisation | QuantileNormalisation | None:
    steps = entry.get("preprocessing") or {}
    if len(steps) > 1 or set(steps) - {"standardise_sample", "quantile_normalise"}:
        raise EpiclockError(f"data/clocks.yaml, clock {name}: preprocessing must be one of standardise_sample, "
                            f"quantile_normalise (got {', '.join(steps)})")
    if "standardise_sample" in steps:
        return SampleStandardisation(min_cpgs=int(steps["standardise_sample"]["min_cpgs"]))
    if "quantile_normalise" in steps:
        settings = steps["quantile_normalise"]
        target = _read_table(settings["target"], "mean")
        absent = pd.Index(cpg_ids).difference(target.index)
        if len(absent):
            raise EpiclockError(f"data/clocks.yaml, clock {name}: {len(absent)} clock CpGs are not in the "
                                f"normalisation target {settings['target']}")
        return QuantileNormalisation(target=target, min_coverage=float(settings["min_coverage"]))
    return None


@functools.lru_cache(maxsize=None)
def get(name: str) -> Clock:
    """The shipped clock called ``name``."""
    registry = _registry()
    if name not in registry:
        raise EpiclockError(f"unknown clock {name!r}; available clocks: {', '.join(available())}")
    entry = registry[name]
    absent = [key for key in REQUIRED_FIELDS if key not in entry]
    if absent:
        raise EpiclockError(f"data/clocks.yaml, clock {name}: missing field(s) {', '.join(absent)}")
    transform, unit = entry["transform"], entry["unit"]
    if transform not in TRANSFORMS:
        raise EpiclockError(f"data/clocks.yaml, clock {name}: unknown transform {transform!r}; known: {', '.join(TRANSFORMS)}")
    if unit not in TRANSFORM_UNITS[transform]:
        raise EpiclockError(f"data/clocks.yaml, clock {name}: unit {unit!r} does not fit transform {transform!r} "
                            f"(allowed: {', '.join(TRANSFORM_UNITS[transform])})")
    for key, allowed in (("direction", DIRECTIONS), ("output_kind", OUTPUT_KINDS)):
        if entry[key] not in allowed:
            raise EpiclockError(f"data/clocks.yaml, clock {name}: {key} {entry[key]!r} is not one of {', '.join(allowed)}")
    coefficients = _read_table(entry["coefficients"], "coefficient")
    model = LinearClock.from_coefficients(coefficients, entry["intercept"], transform)
    reference_file = entry.get("imputation_reference")
    return Clock(
        name=name, title=entry["title"], model=model, unit=unit, tissue=entry["tissue"],
        citation=entry["citation"], doi=str(entry["doi"]), licence=entry["licence"],
        restricted=bool(entry["restricted"]),
        min_coverage=float(entry["min_coverage"]) if "min_coverage" in entry else None,
        preprocessing=_preprocessing(name, entry, coefficients.index),
        imputation_reference=_read_table(reference_file, "mean") if reference_file else None,
        imputation_label=f"the clock's own reference ({reference_file})" if reference_file else "reference medians",
        simulate=bool(entry.get("simulate", False)),
        direction=entry["direction"], output_kind=entry["output_kind"], intended_use=entry["intended_use"],
    )


@functools.lru_cache(maxsize=1)
def reference_medians() -> pd.Series:
    """Fixed per-CpG reference medians (see data/provenance.tsv), indexed by CpG ID."""
    with _data_path("reference/sesame_450k_median.tsv.gz").open("rb") as handle:
        table = pd.read_csv(handle, sep="\t", compression="gzip", index_col="cpg_id")
    return table["median"]


def predict(betas: pd.DataFrame, names: list[str], imputation: str = "reference",
            min_coverage: float = 0.8, replicates: str = "mean") -> pd.DataFrame:
    """Long table of predictions for several clocks (sample_id, clock, dnam_age, coverage...).

    EPICv2 probe IDs are collapsed to CpG IDs first (``replicates``: 'mean' or 'first').
    """
    if betas.shape[1] == 0:
        raise EpiclockError("no samples to predict: every sample was excluded before the clocks")
    chosen = [get(name) for name in names]
    matrix = _BetaMatrix(collapse_replicate_probes(betas, replicates))
    if len(chosen) > 1:
        matrix.gather(sorted(set().union(*(clock.cpg_ids for clock in chosen))))
    frames = [clock._predict(matrix, imputation, min_coverage, None) for clock in chosen]
    return pd.concat(frames, ignore_index=True)


def required_cpgs(chosen) -> pd.Index | None:
    """The CpGs a set of clocks reads, named without EPICv2 suffixes; None when one of them reads the whole array."""
    needed = [clock.required_cpgs for clock in chosen]
    if any(cpgs is None for cpgs in needed):
        return None
    return pd.Index(sorted(set().union(*needed)))


def cpg_names(labels: pd.Index) -> pd.Index:
    """Row labels as CpG IDs: EPICv2 probe IDs lose their suffix (cg00000029_TC21 -> cg00000029)."""
    return pd.Index(labels.astype(str).str.replace(EPICV2_SUFFIX, "", regex=True))


def coverage_table(betas: pd.DataFrame, names: list[str], imputation: str = "reference",
                   min_coverage: float = 0.8, replicates: str = "mean") -> pd.DataFrame:
    """Per sample and clock: how many of the clock's CpGs were measured and imputed, and the status."""
    table = predict(betas, names, imputation=imputation, min_coverage=min_coverage, replicates=replicates)
    table = table.rename(columns={"n_cpgs_used": "n_measured", "n_cpgs_imputed": "n_imputed"})
    return table[["sample_id", "clock", "n_cpgs", "n_measured", "n_imputed", "coverage", "status"]]


def describe() -> pd.DataFrame:
    """One row per shipped clock: name, CpGs, how to read it (unit, direction, output kind), tissue,
    intended use, citation, DOI, licence, restricted, transform."""
    rows = []
    for name in available():
        clock = get(name)
        rows.append({
            "name": name, "cpgs": len(clock.cpg_ids), "unit": clock.unit, "tissue": clock.tissue,
            "direction": clock.direction, "output_kind": clock.output_kind, "intended_use": clock.intended_use,
            "citation": clock.citation, "doi": clock.doi, "licence": clock.licence, "restricted": clock.restricted,
            "transform": clock.model.transform,
        })
    return pd.DataFrame(rows)
