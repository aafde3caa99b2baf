"""Epigenetic clocks: a linear model on betas plus an output transform.

A published clock is a ``LinearClock`` whose coefficients come from the vendored data files; a
custom clock is the same estimator fitted on your data. ``get(name).predict(betas)`` gives a tidy
frame with one row per sample, saying how many of the clock's CpGs were measured, how many were
imputed and why an age is missing when it is: a clock never silently reads an absent CpG as 0.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
import yaml
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import ElasticNet

from epiclock.errors import EpiclockError

HORVATH_ADULT_AGE = 20.0

IMPUTATION_METHODS = ("reference", "none")


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


TRANSFORMS = {"anti_trafo": (anti_trafo, trafo), "identity": (_identity, _identity)}


class LinearClock(RegressorMixin, BaseEstimator):
    """age = transform(intercept_ + X @ coef_), X being samples x CpGs.

    ``fit`` trains an elastic net on transformed ages; ``from_coefficients`` builds an already
    fitted clock from published weights. Both give the same attributes (scikit-learn style):
    ``feature_names_in_`` (CpG IDs), ``coef_``, ``intercept_``.
    """

    def __init__(self, transform: str = "identity", adult_age: float = HORVATH_ADULT_AGE,
                 alpha: float = 1e-3, l1_ratio: float = 0.5, random_state: int | None = 0):
        self.transform = transform
        self.adult_age = adult_age
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.random_state = random_state

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

    def fit(self, X: pd.DataFrame, y) -> "LinearClock":
        self._check_transform()
        _, inverse = TRANSFORMS[self.transform]
        model = ElasticNet(alpha=self.alpha, l1_ratio=self.l1_ratio, random_state=self.random_state, max_iter=10_000)
        model.fit(X.to_numpy(dtype=float), inverse(np.asarray(y, dtype=float), self.adult_age))
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.coef_ = model.coef_
        self.intercept_ = float(model.intercept_)
        self.n_features_in_ = len(self.coef_)
        return self

    def linear_predictor(self, X: pd.DataFrame) -> np.ndarray:
        values = X.reindex(columns=self.feature_names_in_).to_numpy(dtype=float)
        if np.isnan(values).any():
            raise EpiclockError("LinearClock.linear_predictor: the input lacks some of the clock's CpGs")
        return self.intercept_ + values @ self.coef_

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        forward, _ = TRANSFORMS[self.transform]
        return forward(self.linear_predictor(X), self.adult_age)


@dataclass(frozen=True)
class Clock:
    """A named clock with what a reader needs to trust it: unit, tissue, citation, licence."""

    name: str
    title: str
    model: LinearClock
    unit: str
    tissue: str
    citation: str
    doi: str
    licence: str
    restricted: bool

    @property
    def cpg_ids(self) -> list[str]:
        return list(self.model.feature_names_in_)

    def predict(self, betas: pd.DataFrame, imputation: str = "reference", min_coverage: float = 0.8,
                reference: pd.Series | None = None) -> pd.DataFrame:
        """Predict from a CpG x sample beta matrix; one row per sample (tidy).

        imputation: 'reference' fills unmeasured clock CpGs with fixed per-CpG reference medians
        (so a sample's age never depends on the other samples of the run); 'none' leaves the age
        missing when any clock CpG is unmeasured. Either way, a sample measuring fewer than
        ``min_coverage`` of the clock's CpGs gets no age, and the status column says why.
        """
        if imputation not in IMPUTATION_METHODS:
            raise EpiclockError(f"unknown imputation {imputation!r}; choose one of {', '.join(IMPUTATION_METHODS)}")
        cpg_ids = self.cpg_ids
        values = betas.reindex(cpg_ids).to_numpy(dtype=float)
        measured = ~np.isnan(values)
        n_cpgs = len(cpg_ids)
        n_measured = measured.sum(axis=0)
        filled = np.where(measured, values, 0.0)
        n_imputed = np.zeros(values.shape[1], dtype=int)
        if imputation == "reference":
            reference = reference_medians() if reference is None else reference
            reference_values = reference.reindex(cpg_ids).to_numpy(dtype=float)
            imputable = ~measured & ~np.isnan(reference_values)[:, None]
            filled = np.where(imputable, reference_values[:, None], filled)
            n_imputed = imputable.sum(axis=0)
        complete = (n_measured + n_imputed) == n_cpgs
        coverage = n_measured / n_cpgs
        usable = complete & (coverage >= min_coverage)

        forward, _ = TRANSFORMS[self.model.transform]
        ages = forward(self.model.intercept_ + filled.T @ self.model.coef_, self.model.adult_age)
        ages = np.where(usable, ages, np.nan)
        status = [
            _status(int(m), int(i), n_cpgs, cov, min_coverage, ok, imputation)
            for m, i, cov, ok in zip(n_measured, n_imputed, coverage, usable)
        ]
        return pd.DataFrame({
            "sample_id": list(betas.columns),
            "clock": self.name,
            "dnam_age": ages,
            "unit": self.unit,
            "n_cpgs": n_cpgs,
            "n_cpgs_used": n_measured.astype(int),
            "n_cpgs_missing": (n_cpgs - n_measured).astype(int),
            "n_cpgs_imputed": n_imputed.astype(int),
            "coverage": coverage,
            "status": status,
        })


def _status(n_measured: int, n_imputed: int, n_cpgs: int, coverage: float, min_coverage: float,
            usable: bool, imputation: str) -> str:
    if usable:
        return "ok" if n_imputed == 0 else f"ok ({n_imputed} CpGs imputed from reference medians)"
    if coverage < min_coverage:
        return f"no age: {n_measured} of {n_cpgs} CpGs measured, below the minimum coverage {min_coverage:g}"
    if imputation == "none":
        return f"no age: {n_cpgs - n_measured} CpGs unmeasured and imputation is 'none'"
    return f"no age: {n_cpgs - n_measured - n_imputed} unmeasured CpGs have no reference value"


def _data_path(relative: str):
    return resources.files("epiclock") / "data" / relative


@functools.lru_cache(maxsize=1)
def _registry() -> dict:
    with _data_path("clocks.yaml").open("r", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def available() -> list[str]:
    """Names of the shipped clocks."""
    return sorted(_registry())


@functools.lru_cache(maxsize=None)
def get(name: str) -> Clock:
    """The shipped clock called ``name``."""
    registry = _registry()
    if name not in registry:
        raise EpiclockError(f"unknown clock {name!r}; available clocks: {', '.join(available())}")
    entry = registry[name]
    with _data_path(entry["coefficients"]).open("r", encoding="utf-8") as handle:
        coefficients = pd.read_csv(handle, sep="\t", index_col="cpg_id")["coefficient"]
    model = LinearClock.from_coefficients(coefficients, entry["intercept"], entry["transform"])
    return Clock(
        name=name, title=entry["title"], model=model, unit=entry["unit"], tissue=entry["tissue"],
        citation=entry["citation"], doi=str(entry["doi"]), licence=entry["licence"],
        restricted=bool(entry["restricted"]),
    )


@functools.lru_cache(maxsize=1)
def reference_medians() -> pd.Series:
    """Fixed per-CpG reference medians (see data/provenance.tsv), indexed by CpG ID."""
    with _data_path("reference/sesame_450k_median.tsv.gz").open("rb") as handle:
        table = pd.read_csv(handle, sep="\t", compression="gzip", index_col="cpg_id")
    return table["median"]


def predict(betas: pd.DataFrame, names: list[str], imputation: str = "reference",
            min_coverage: float = 0.8) -> pd.DataFrame:
    """Long table of predictions for several clocks (sample_id, clock, dnam_age, coverage...)."""
    if betas.shape[1] == 0:
        raise EpiclockError("no samples to predict: every sample was excluded before the clocks")
    frames = [get(name).predict(betas, imputation=imputation, min_coverage=min_coverage) for name in names]
    return pd.concat(frames, ignore_index=True)


def describe() -> pd.DataFrame:
    """One row per shipped clock: name, CpGs, unit, tissue, citation, licence."""
    rows = []
    for name in available():
        clock = get(name)
        rows.append({
            "name": name, "cpgs": len(clock.cpg_ids), "unit": clock.unit, "tissue": clock.tissue,
            "citation": clock.citation, "doi": clock.doi, "restricted": clock.restricted,
        })
    return pd.DataFrame(rows)
