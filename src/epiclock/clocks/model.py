"""A clock's model: a linear predictor on betas (any coefficients, ``LinearClock``) and its output transform."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from epiclock.errors import EpiclockError


HORVATH_ADULT_AGE = 20.0


UNITS = ("years", "years/year", "kb", "weeks", "days", "divisions", "score", "probability")


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


def _logistic(values, adult_age: float = HORVATH_ADULT_AGE):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-np.asarray(values, dtype=float)))


def _logit(probability, adult_age: float = HORVATH_ADULT_AGE):
    probability = np.asarray(probability, dtype=float)
    with np.errstate(divide="ignore"):
        return np.log(probability / (1.0 - probability))


# Each transform is (forward, inverse). 'linear' is the identity for clocks trained on age itself (or
# on another quantity, such as telomere length in kb); 'pace' is the identity for clocks whose output
# is a rate of ageing; 'logistic' gives a probability from a logistic model; 'identity' is kept as the
# name trained custom clocks use.
TRANSFORMS = {
    "anti_trafo": (anti_trafo, trafo),
    "linear": (_identity, _identity),
    "pace": (_identity, _identity),
    "logistic": (_logistic, _logit),
    "identity": (_identity, _identity),
}


# What each transform can output: anti.trafo gives an age; pace a rate of ageing.
TRANSFORM_UNITS = {"anti_trafo": ("years",), "linear": ("years", "kb", "weeks", "days", "divisions", "score"),
                   "pace": ("years/year",), "logistic": ("probability",), "identity": UNITS}


def segment_dots(values: np.ndarray, coef: np.ndarray, starts: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
    """Per row of ``values`` (samples x features) and per segment of its columns (a clock's features,
    segments starting at ``starts`` and running to the next start or the end), the sum of
    ``values * coef`` over the segment: samples x segments.

    A sample's result is bitwise the same whatever the other rows of the batch, by construction: the
    product is elementwise, and np.add.reduceat calls numpy's summation loop once per row and
    segment, on that segment alone, so the order of the additions depends only on the segment's
    length. Neither a BLAS product (which blocks its sums by the matrix shape and thread count) nor
    np.add.reduce along an axis of a 2-D array (whose iteration order numpy may choose by shape)
    promises that. tests/test_clocks.py checks the property across batch shapes. ``scratch``: an
    array of the shape of ``values`` for the products (it may be ``values`` itself).
    """
    product = np.multiply(values, np.asarray(coef, dtype=float), out=scratch, dtype=float)
    return segment_sums(product, starts)


def segment_sums(values: np.ndarray, starts, dtype=None) -> np.ndarray:
    """np.add.reduceat of ``values`` along its columns at ``starts``, except that an empty segment (a
    clock with no CpGs: its start equals the next one, or the end) sums to 0; reduceat would give
    the value at that start instead, or fail at the end."""
    starts = np.asarray(starts, dtype=np.intp)
    ends = np.append(starts[1:], values.shape[1])
    filled = ends > starts
    if filled.all():
        return np.add.reduceat(values, starts, axis=1, dtype=dtype)
    sums = np.zeros((values.shape[0], len(starts)), dtype=dtype or values.dtype)
    if filled.any():
        # Skipping the empty segments leaves every other one its own columns: an empty segment's
        # start is where the next one starts.
        sums[:, filled] = np.add.reduceat(values, starts[filled], axis=1, dtype=dtype)
    return sums


def row_dot(values: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``values @ coef`` computed row by row: ``segment_dots`` with one segment, so a sample's result
    is bitwise the same whatever the other rows of the batch (0 without columns: ``segment_sums``)."""
    return segment_dots(values, coef, np.zeros(1, dtype=np.intp))[:, 0]


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
        """The clock's output from a samples x features array in ``feature_names_in_`` order."""
        return self.output(row_dot(values, self.coef_))

    def output(self, dot: np.ndarray) -> np.ndarray:
        """The clock's output from the sum of its features times their coefficients (``row_dot``, or
        ``segment_dots`` when clocks.predict computes every linear clock at once)."""
        forward, _ = TRANSFORMS[self.transform]
        return forward(self.intercept_ + dot, self.adult_age)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        values = X.reindex(columns=self.feature_names_in_).to_numpy(dtype=float)
        if np.isnan(values).any():
            raise EpiclockError("LinearClock.predict: the input lacks some of the clock's CpGs")
        return self.predict_array(values)


class PerSampleModel:
    """Base of the models that are not linear (MiAge, GP-age, AltumAge): ``predict(X)`` on a frame of
    samples x ``feature_names_in_``, as scikit-learn's regressors, or ``predict_array`` on the array
    (as ``clocks.predict`` calls them); NaN for a sample with a feature left unmeasured (clocks.predict
    imputes before); a subclass computes ``_predict_complete`` on the rest."""

    feature_names_in_: np.ndarray

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The output for each sample (row of X)."""
        if not X.columns.equals(pd.Index(self.feature_names_in_)):
            X = X.reindex(columns=self.feature_names_in_)
        return self.predict_array(X.to_numpy(dtype=float))

    def predict_array(self, values: np.ndarray, complete: np.ndarray | None = None) -> np.ndarray:
        """The output for each sample (row of ``values``, features in ``feature_names_in_`` order).

        complete: the rows the caller knows to have every feature measured or imputed, hence no NaN
        (clocks.predict counts them as it reads the features; looking for NaN in a batch of AltumAge's
        20,318 columns costs half as much as its first layer); None: the rows without NaN, found here.
        """
        values = np.atleast_2d(np.asarray(values, dtype=float))
        outputs = np.full(values.shape[0], np.nan)
        if complete is None:
            complete = np.flatnonzero(~np.isnan(values).any(axis=1))
        if len(complete):
            outputs[complete] = self._predict_complete(values if len(complete) == len(values) else values[complete])
        return outputs

    def _predict_complete(self, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError
