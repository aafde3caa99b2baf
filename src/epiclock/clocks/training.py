"""Custom clocks: elastic-net training with nested cross-validation, usable like published clocks.

The estimator follows scikit-learn's conventions (parameters in ``__init__``, learning in ``fit``,
learned attributes ending in ``_``): a correlation prefilter keeps the top-k CpGs, an inner
``ElasticNetCV`` picks alpha and l1_ratio, and the fitted model becomes an ``epiclock.clocks.model.LinearClock``
(the same object as a published clock). The outer k-fold loop refits the whole pipeline, prefilter
included, on each training split, so the error it reports is honest: no CpG is chosen with the
help of the samples it is scored on.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import ElasticNetCV
from sklearn.model_selection import KFold

from epiclock.clocks import clock as clocks_clock
from epiclock.clocks import model as clocks_model
from epiclock.errors import EpiclockError
from epiclock.io.tables import sha256_file, write_table, write_text


def correlation_with(values: np.ndarray, target: np.ndarray, chunk_size: int = 20_000) -> np.ndarray:
    """Pearson correlation of every column of ``values`` (samples x features) with ``target``.

    Column chunks keep the centred copy small: a 1,000 x 450k matrix is never duplicated whole.
    """
    target_centred = (target - target.mean()).astype(values.dtype)
    target_norm = np.sqrt(float(target_centred @ target_centred))
    correlation = np.empty(values.shape[1])
    for start in range(0, values.shape[1], chunk_size):
        block = values[:, start:start + chunk_size]
        centred = block - block.mean(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            correlation[start:start + chunk_size] = (
                (centred.T @ target_centred) / (np.sqrt((centred ** 2).sum(axis=0)) * target_norm))
    return np.nan_to_num(correlation, nan=0.0)


class ElasticNetClock(RegressorMixin, BaseEstimator):
    """Elastic-net clock on betas (samples x CpGs), trained on transformed ages.

    transform: 'anti_trafo' trains on Horvath's F(age) and predicts through anti.trafo; 'identity'
    trains on age itself. top_k: CpGs kept by |correlation| with the (transformed) age before the
    elastic net, so that 450k-CpG training fits in memory and time on a small machine. l1_ratios:
    0.5 by default, the mixing Horvath used (glmnet alpha 0.5); each extra ratio multiplies the
    inner cross-validation's cost.
    """

    def __init__(self, transform: str = "anti_trafo", top_k: int = 5000, l1_ratios=(0.5,),
                 n_alphas: int = 30, inner_folds: int = 5, random_state: int = 0, n_jobs: int | None = None):
        self.transform = transform
        self.top_k = top_k
        self.l1_ratios = l1_ratios
        self.n_alphas = n_alphas
        self.inner_folds = inner_folds
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, y) -> "ElasticNetClock":
        if self.transform not in clocks_model.TRANSFORMS:
            raise EpiclockError(f"unknown clock transform {self.transform!r}; known: {', '.join(clocks_model.TRANSFORMS)}")
        values = X.to_numpy()
        if not np.issubdtype(values.dtype, np.floating):
            values = values.astype(float)
        if np.isnan(values).any():
            raise EpiclockError("training betas contain missing values: impute or drop those CpGs first")
        _, inverse = clocks_model.TRANSFORMS[self.transform]
        target = inverse(np.asarray(y, dtype=float))
        correlation = np.abs(correlation_with(values, target))
        keep = np.sort(np.argsort(-correlation, kind="stable")[: min(self.top_k, values.shape[1])])
        model = ElasticNetCV(
            l1_ratio=list(self.l1_ratios), alphas=self.n_alphas,
            cv=KFold(self.inner_folds, shuffle=True, random_state=self.random_state),
            random_state=self.random_state, n_jobs=self.n_jobs, max_iter=20_000, selection="cyclic",
        )
        model.fit(values[:, keep].astype(float), target)
        nonzero = model.coef_ != 0
        self.prefiltered_cpgs_ = np.asarray(X.columns[keep], dtype=object)
        self.alpha_ = float(model.alpha_)
        self.l1_ratio_ = float(model.l1_ratio_)
        self.clock_ = clocks_model.LinearClock.from_coefficients(
            pd.Series(model.coef_[nonzero], index=X.columns[keep][nonzero]), model.intercept_, self.transform)
        self.feature_names_in_ = self.clock_.feature_names_in_
        self.coef_ = self.clock_.coef_
        self.intercept_ = self.clock_.intercept_
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.clock_.predict(X)


def cross_validated_predictions(estimator: ElasticNetClock, X: pd.DataFrame, ages: np.ndarray,
                                outer_folds: int, random_state: int) -> np.ndarray:
    """Out-of-fold predictions: each sample predicted by a pipeline that never saw it."""
    predictions = np.empty(len(ages))
    splitter = KFold(outer_folds, shuffle=True, random_state=random_state)
    for train, test in splitter.split(X):
        fold_model = clone(estimator).fit(X.iloc[train], ages[train])
        predictions[test] = fold_model.predict(X.iloc[test])
    return predictions


@dataclass
class TrainedClock:
    name: str
    estimator: ElasticNetClock
    cv_predictions: pd.DataFrame     # sample_id, age, predicted_age (outer CV), residual
    card: dict


def train_clock(name: str, betas: pd.DataFrame, ages: pd.Series, estimator: ElasticNetClock,
                outer_folds: int = 5, training_files: dict[str, str] | None = None) -> TrainedClock:
    """Train ``estimator`` on a CpG x sample beta matrix and per-sample ages; estimate its error honestly.

    CpGs missing in any training sample are dropped (their count goes into the model card).
    """
    common = [sample for sample in ages.index if sample in betas.columns]
    absent = [sample for sample in ages.index if sample not in betas.columns]
    if absent:
        raise EpiclockError(f"training clock '{name}': samples with an age but no betas: {', '.join(absent[:10])}")
    if len(common) < 2 * outer_folds:
        raise EpiclockError(f"training clock '{name}': {len(common)} samples are too few for "
                            f"{outer_folds}-fold cross-validation (need at least {2 * outer_folds})")
    complete = betas[common].dropna(axis=0, how="any")
    X = complete.T
    y = ages.loc[common].to_numpy(dtype=float)
    predicted = cross_validated_predictions(estimator, X, y, outer_folds, estimator.random_state)
    final = clone(estimator).fit(X, y)
    errors = predicted - y
    cv = pd.DataFrame({"sample_id": common, "age": y, "predicted_age": predicted, "residual": errors})
    card = {
        "name": name,
        "trained": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "n_samples": len(common),
        "n_cpgs_offered": int(betas.shape[0]),
        "n_cpgs_complete": int(complete.shape[0]),
        "n_cpgs_kept": int(len(final.coef_)),
        "age_range": [float(y.min()), float(y.max())],
        "outer_cv": {"folds": outer_folds, "mae_years": float(np.mean(np.abs(errors))),
                     "median_ae_years": float(np.median(np.abs(errors))),
                     "correlation": float(np.corrcoef(y, predicted)[0, 1])},
        "hyperparameters": {**final.get_params(), "l1_ratios": list(final.l1_ratios),
                            "chosen_alpha": final.alpha_, "chosen_l1_ratio": final.l1_ratio_},
        "intercept": final.intercept_,
        "transform": final.transform,
        "training_data_sha256": {role: sha256_file(path) for role, path in (training_files or {}).items()},
    }
    return TrainedClock(name=name, estimator=final, cv_predictions=cv, card=card)


def write_trained_clock(trained: TrainedClock, out_dir: str | Path, software: dict[str, str]) -> None:
    """coefficients.tsv (the vendored clocks' format), clock.yaml, model_card.json, cv_predictions.tsv."""
    out_dir = Path(out_dir)
    coefficients = pd.DataFrame({"cpg_id": trained.estimator.feature_names_in_,
                                 "coefficient": trained.estimator.coef_})
    write_table(coefficients, out_dir / "coefficients.tsv")
    write_table(trained.cv_predictions, out_dir / "cv_predictions.tsv")
    definition = {
        "title": f"Custom clock {trained.name}", "coefficients": "coefficients.tsv",
        "intercept": trained.estimator.intercept_, "transform": trained.estimator.transform, "unit": "years",
        "tissue": "as trained", "citation": f"trained by epiclock on {trained.card['n_samples']} samples",
        "doi": "", "licence": "as the training data", "restricted": False,
    }
    write_text(yaml.safe_dump(definition, sort_keys=False), out_dir / "clock.yaml")
    write_text(json.dumps({**trained.card, "software": software}, indent=2, default=str) + "\n",
               out_dir / "model_card.json")


def load_trained_clock(name: str, directory: str | Path) -> clocks_clock.Clock:
    """A trained clock as a ``Clock``, used exactly like a shipped one."""
    directory = Path(directory)
    definition_path = directory / "clock.yaml"
    if not definition_path.is_file():
        raise EpiclockError(f"custom clock '{name}': {definition_path} not found (was it trained?)")
    definition = yaml.safe_load(definition_path.read_text())
    coefficients = pd.read_csv(directory / definition["coefficients"], sep="\t", index_col="cpg_id")["coefficient"]
    model = clocks_model.LinearClock.from_coefficients(coefficients, definition["intercept"], definition["transform"])
    return clocks_clock.Clock(name=name, title=definition["title"], model=model, unit=definition["unit"],
                        tissue=definition["tissue"], citation=definition["citation"], doi=definition["doi"],
                        licence=definition["licence"], restricted=bool(definition["restricted"]))
