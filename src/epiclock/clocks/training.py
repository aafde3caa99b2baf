"""Custom clocks: elastic-net training with nested, grouped cross-validation, usable like published clocks.

The estimator follows scikit-learn's conventions (parameters in ``__init__``, learning in ``fit``,
learned attributes ending in ``_``). Its preprocessing is a scikit-learn ``Pipeline`` of three steps,
each fitted on training samples only: a per-CpG call-rate filter, per-CpG median imputation and a
correlation prefilter keeping the top-k CpGs. The penalty (alpha, l1_ratio) is chosen by an inner
cross-validation that refits the whole pipeline on every inner training split, so the prefilter
never sees the inner validation samples; the outer folds refit everything again, so the error they
report is honest. Folds keep each group (donor) whole, so a donor's replicates never sit on both
sides of a split. The fitted model becomes an ``epiclock.clocks_model.LinearClock`` (the same object as a
published clock) and carries its own imputation reference: the training medians of its CpGs.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin, clone
from sklearn.linear_model import ElasticNet, enet_path
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import Pipeline

from epiclock.clocks import clock as clocks_clock
from epiclock.clocks import model as clocks_model
from epiclock.errors import EpiclockError
from epiclock.io.tables import sha256_file, write_table, write_text

# Age bands (years, lower edges) of the model card's error table.
AGE_BAND_EDGES = (0.0, 20.0, 40.0, 60.0, 80.0)
# Smallest alpha of the searched grid relative to the largest (the one that zeroes every coefficient),
# as in glmnet and scikit-learn's ElasticNetCV.
ALPHA_RATIO = 1e-3
IMPUTATION_REFERENCE_FILE = "imputation_reference.tsv"
# How the inner cross-validation picks the penalty: 'one_se' the largest alpha within one standard
# error of the least error (glmnet's lambda.1se), 'min' the least error (lambda.min).
ALPHA_RULES = ("one_se", "min")


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


def column_medians(values: np.ndarray) -> np.ndarray:
    """Median of every column, ignoring missing values (NaN for a column without any value).

    ``np.nanmedian`` loops over columns in Python; here complete columns take ``np.median`` and the
    others are sorted (NaN last) and read at their own middle.
    """
    medians = np.full(values.shape[1], np.nan)
    missing = np.isnan(values)
    gapped = missing.any(axis=0)
    if (~gapped).any():
        medians[~gapped] = np.median(values[:, ~gapped], axis=0)
    if gapped.any():
        ordered = np.sort(values[:, gapped], axis=0)
        counts = (~missing[:, gapped]).sum(axis=0)
        columns = np.arange(ordered.shape[1])
        # (n-1)//2 and n//2 are the same row for odd n and the two middle rows for even n.
        low = ordered[np.maximum(counts - 1, 0) // 2, columns]
        high = ordered[np.minimum(counts // 2, ordered.shape[0] - 1), columns]
        medians[gapped] = np.where(counts > 0, (low + high) / 2, np.nan)
    return medians


class CallRateFilter(TransformerMixin, BaseEstimator):
    """Keeps the CpGs measured in at least ``min_call_rate`` of the training samples."""

    def __init__(self, min_call_rate: float = 0.9):
        self.min_call_rate = min_call_rate

    def fit(self, X: np.ndarray, y=None) -> "CallRateFilter":
        self.call_rate_ = 1.0 - np.isnan(X).mean(axis=0)
        self.support_ = self.call_rate_ >= self.min_call_rate
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return X[:, self.support_]


class MedianImputer(TransformerMixin, BaseEstimator):
    """Fills each CpG's missing values with its median over the training samples."""

    def fit(self, X: np.ndarray, y=None) -> "MedianImputer":
        self.medians_ = column_medians(X)
        if np.isnan(self.medians_).any():
            raise EpiclockError("median imputation: a CpG has no measured value in the training samples")
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        missing = np.isnan(X)
        if not missing.any():
            return X
        return np.where(missing, self.medians_.astype(X.dtype), X)


class CorrelationPrefilter(TransformerMixin, BaseEstimator):
    """Keeps the ``top_k`` CpGs most correlated (in absolute value) with the target."""

    def __init__(self, top_k: int = 5000):
        self.top_k = top_k

    def fit(self, X: np.ndarray, y) -> "CorrelationPrefilter":
        correlation = np.abs(correlation_with(X, np.asarray(y, dtype=float)))
        self.support_ = np.zeros(X.shape[1], dtype=bool)
        self.support_[np.argsort(-correlation, kind="stable")[: min(self.top_k, X.shape[1])]] = True
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return X[:, self.support_]


def folds(n_splits: int, groups: np.ndarray | None, random_state: int):
    """Grouped folds (no group on both sides) when ``groups`` is given, else shuffled k-fold."""
    if groups is None:
        return KFold(n_splits, shuffle=True, random_state=random_state)
    return GroupKFold(n_splits, shuffle=True, random_state=random_state)


def check_folds(n_splits: int, groups: np.ndarray | None, n_samples: int, what: str) -> None:
    units = len(np.unique(groups)) if groups is not None else n_samples
    kind = "groups" if groups is not None else "samples"
    if units < n_splits:
        raise EpiclockError(f"{what}: {units} {kind} are too few for {n_splits}-fold cross-validation")


class ElasticNetClock(RegressorMixin, BaseEstimator):
    """Elastic-net clock on betas (samples x CpGs, missing values allowed), trained on transformed ages.

    transform: 'anti_trafo' trains on Horvath's F(age) and predicts through anti.trafo; 'identity'
    trains on age itself. min_call_rate: a CpG measured in fewer of the training samples is dropped;
    the others have their gaps filled with their training median. top_k: CpGs kept by |correlation|
    with the (transformed) age before the elastic net, so that 450k-CpG training fits in memory and
    time on a small machine. l1_ratios: 0.5 by default, the mixing Horvath used (glmnet alpha 0.5);
    each extra ratio multiplies the inner cross-validation's cost. alpha_rule: one of ALPHA_RULES;
    'one_se' keeps a model on noise from choosing a small penalty by chance (the inner error curve
    is flat there). ``fit(X, y, groups)``: inner folds keep each group whole.
    """

    def __init__(self, transform: str = "anti_trafo", min_call_rate: float = 0.9, top_k: int = 5000,
                 l1_ratios=(0.5,), n_alphas: int = 30, inner_folds: int = 5, alpha_rule: str = "one_se",
                 random_state: int = 0, n_jobs: int | None = None):
        self.transform = transform
        self.min_call_rate = min_call_rate
        self.top_k = top_k
        self.l1_ratios = l1_ratios
        self.n_alphas = n_alphas
        self.inner_folds = inner_folds
        self.alpha_rule = alpha_rule
        self.random_state = random_state
        self.n_jobs = n_jobs

    def preprocessing(self) -> Pipeline:
        """The steps before the elastic net, unfitted: call-rate filter, median imputation, prefilter."""
        return Pipeline([("call_rate", CallRateFilter(self.min_call_rate)), ("impute", MedianImputer()),
                         ("prefilter", CorrelationPrefilter(self.top_k))])

    def _alpha_grid(self, values: np.ndarray, target: np.ndarray, l1_ratio: float) -> np.ndarray:
        centred = target - target.mean()
        alpha_max = np.abs((values - values.mean(axis=0)).T @ centred).max() / (len(target) * l1_ratio)
        alpha_max = max(float(alpha_max), np.finfo(float).eps)
        return np.geomspace(alpha_max, alpha_max * ALPHA_RATIO, self.n_alphas)

    def _inner_errors(self, values: np.ndarray, target: np.ndarray, groups: np.ndarray | None,
                      grids: dict[float, np.ndarray]) -> dict[float, np.ndarray]:
        """Mean squared inner-validation error per fold, l1_ratio and alpha, the pipeline refitted
        on every inner training split (folds in ``n_jobs`` threads: the coordinate descent and numpy
        release the GIL, and threads share the matrix instead of copying it to processes)."""
        splitter = folds(self.inner_folds, groups, self.random_state)
        per_fold = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(self._fold_errors)(values, target, train, test, grids)
            for train, test in splitter.split(values, target, groups))
        return {ratio: np.array([fold[ratio] for fold in per_fold]) for ratio in grids}

    def _fold_errors(self, values: np.ndarray, target: np.ndarray, train: np.ndarray, test: np.ndarray,
                     grids: dict[float, np.ndarray]) -> dict[float, np.ndarray]:
        steps = self.preprocessing().fit(values[train], target[train])
        train_x = steps.transform(values[train]).astype(float)
        test_x = steps.transform(values[test]).astype(float)
        means, target_mean = train_x.mean(axis=0), target[train].mean()
        errors = {}
        for ratio, grid in grids.items():
            _, coefs, _ = enet_path(train_x - means, target[train] - target_mean, l1_ratio=ratio, alphas=grid,
                                    max_iter=20_000)
            predicted = (test_x - means) @ coefs + target_mean
            errors[ratio] = ((predicted - target[test, None]) ** 2).mean(axis=0)
        return errors

    def _choose(self, errors: dict[float, np.ndarray]) -> tuple[float, int]:
        """(l1_ratio, alpha index) of the least mean inner error; with the one-standard-error rule,
        the largest alpha of that l1_ratio whose error is within one standard error of the least."""
        means = {ratio: per_fold.mean(axis=0) for ratio, per_fold in errors.items()}
        ratio = min(means, key=lambda key: means[key].min())
        best = int(np.argmin(means[ratio]))
        if self.alpha_rule == "one_se":
            per_fold = errors[ratio]
            se = per_fold[:, best].std(ddof=1) / np.sqrt(len(per_fold))
            best = int(np.flatnonzero(means[ratio] <= means[ratio][best] + se)[0])
        return ratio, best

    def fit(self, X: pd.DataFrame, y, groups=None) -> "ElasticNetClock":
        if self.transform not in clocks_model.TRANSFORMS:
            raise EpiclockError(f"unknown clock transform {self.transform!r}; known: {', '.join(clocks_model.TRANSFORMS)}")
        if self.alpha_rule not in ALPHA_RULES:
            raise EpiclockError(f"unknown alpha_rule {self.alpha_rule!r}; known: {', '.join(ALPHA_RULES)}")
        values = X.to_numpy()
        if not np.issubdtype(values.dtype, np.floating):
            values = values.astype(float)
        groups = None if groups is None else np.asarray(groups)
        check_folds(self.inner_folds, groups, len(values), "inner cross-validation")
        _, inverse = clocks_model.TRANSFORMS[self.transform]
        target = inverse(np.asarray(y, dtype=float))
        steps = self.preprocessing().fit(values, target)
        chosen = steps.transform(values).astype(float)
        grids = {float(ratio): self._alpha_grid(chosen, target, float(ratio)) for ratio in self.l1_ratios}
        errors = self._inner_errors(values, target, groups, grids)
        ratio, index = self._choose(errors)
        self.l1_ratio_ = ratio
        self.alpha_ = float(grids[ratio][index])
        self.inner_cv_mse_ = float(errors[ratio].mean(axis=0)[index])
        model = ElasticNet(alpha=self.alpha_, l1_ratio=ratio, max_iter=20_000).fit(chosen, target)

        call_rate, prefilter = steps.named_steps["call_rate"], steps.named_steps["prefilter"]
        after_call_rate = np.asarray(X.columns[call_rate.support_], dtype=object)
        prefiltered = after_call_rate[prefilter.support_]
        medians = steps.named_steps["impute"].medians_[prefilter.support_]
        nonzero = model.coef_ != 0
        self.steps_ = steps
        self.cpg_counts_ = {
            "offered": int(X.shape[1]),
            "below_call_rate": int((~call_rate.support_).sum()),
            "imputed": int((np.isnan(values[:, call_rate.support_])).any(axis=0).sum()),
            "not_in_top_k": int(len(after_call_rate) - len(prefiltered)),
            "zero_coefficient": int((~nonzero).sum()),
            "kept": int(nonzero.sum()),
        }
        self.prefiltered_cpgs_ = prefiltered
        self.clock_ = clocks_model.LinearClock.from_coefficients(
            pd.Series(model.coef_[nonzero], index=prefiltered[nonzero]), model.intercept_, self.transform)
        self.imputation_reference_ = pd.Series(medians[nonzero], index=pd.Index(prefiltered[nonzero], name="cpg_id"),
                                               name="median")
        self.feature_names_in_ = self.clock_.feature_names_in_
        self.coef_ = self.clock_.coef_
        self.intercept_ = self.clock_.intercept_
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Ages from samples x CpGs; a missing clock CpG takes its training median."""
        values = X.reindex(columns=self.feature_names_in_).astype(float)
        return self.clock_.predict(values.fillna(self.imputation_reference_))


# Config keys of a custom clock (config/schemas/config.schema.yaml, custom_clocks) -> ElasticNetClock parameters.
ESTIMATOR_SETTINGS = {"transform": "transform", "min_call_rate": "min_call_rate", "top_k": "top_k",
                      "l1_ratios": "l1_ratios", "n_alphas": "n_alphas", "inner_folds": "inner_folds",
                      "alpha_rule": "alpha_rule", "seed": "random_state"}


def estimator_parameters(settings: dict) -> dict:
    """ElasticNetClock parameters from a custom clock's config entry (keys it leaves out keep the
    estimator's defaults)."""
    parameters = {parameter: settings[key] for key, parameter in ESTIMATOR_SETTINGS.items() if key in settings}
    if "l1_ratios" in parameters:
        parameters["l1_ratios"] = tuple(parameters["l1_ratios"])
    return parameters


def cross_validated_predictions(estimator: ElasticNetClock, X: pd.DataFrame, ages: np.ndarray,
                                groups: np.ndarray | None, outer_folds: int) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions and each sample's fold: every sample predicted by a pipeline that
    never saw it (nor, with groups, any sample of its group)."""
    predictions = np.empty(len(ages))
    fold_of = np.empty(len(ages), dtype=int)
    splitter = folds(outer_folds, groups, estimator.random_state)
    for fold, (train, test) in enumerate(splitter.split(X, ages, groups)):
        fold_model = clone(estimator).fit(X.iloc[train], ages[train],
                                          groups=None if groups is None else groups[train])
        predictions[test] = fold_model.predict(X.iloc[test])
        fold_of[test] = fold
    return predictions, fold_of


def calibration(ages: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Least-squares line of predicted on true age: a slope below 1 means the clock shrinks age
    differences (a within-donor delta reads smaller than the true one by that factor)."""
    slope, intercept = np.polyfit(ages, predicted, 1)
    return {"slope": float(slope), "intercept": float(intercept)}


def error_by_age_band(ages: np.ndarray, predicted: np.ndarray) -> list[dict]:
    """Outer-CV error per age band (AGE_BAND_EDGES): samples, mean absolute error, mean error (bias)."""
    edges = list(AGE_BAND_EDGES) + [np.inf]
    rows = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (ages >= low) & (ages < high)
        if not inside.any():
            continue
        errors = predicted[inside] - ages[inside]
        label = f"{low:g}-{high:g}" if np.isfinite(high) else f"{low:g}+"
        rows.append({"band_years": label, "n_samples": int(inside.sum()),
                     "mae_years": float(np.abs(errors).mean()), "mean_error_years": float(errors.mean())})
    return rows


@dataclass
class TrainedClock:
    name: str
    estimator: ElasticNetClock
    cv_predictions: pd.DataFrame     # sample_id, group, fold, age, predicted_age (outer CV), residual
    card: dict


def train_clock(name: str, betas: pd.DataFrame, ages: pd.Series, estimator: ElasticNetClock,
                outer_folds: int = 5, groups: pd.Series | None = None, group_note: str | None = None,
                training_files: dict[str, str] | None = None, tissue: str = "not stated",
                array: str = "not stated") -> TrainedClock:
    """Train ``estimator`` on a CpG x sample beta matrix and per-sample ages; estimate its error honestly.

    groups: per-sample group (donor) labels; outer and inner folds keep each group whole. None:
    every sample its own group (``group_note`` says why in the card). Missing betas are allowed:
    CpGs below the estimator's call rate are dropped and the others imputed, within each fold.
    """
    common = [sample for sample in ages.index if sample in betas.columns]
    absent = [sample for sample in ages.index if sample not in betas.columns]
    if absent:
        raise EpiclockError(f"training clock '{name}': samples with an age but no betas: {', '.join(absent[:10])}")
    if len(common) < 2 * outer_folds:
        raise EpiclockError(f"training clock '{name}': {len(common)} samples are too few for "
                            f"{outer_folds}-fold cross-validation (need at least {2 * outer_folds})")
    group_values = None
    if groups is not None:
        unlabelled = [sample for sample in common if sample not in groups.index or pd.isna(groups.get(sample))]
        if unlabelled:
            raise EpiclockError(f"training clock '{name}': samples without a group: {', '.join(unlabelled[:10])}")
        group_values = groups.loc[common].astype(str).to_numpy()
        check_folds(outer_folds, group_values, len(common), f"training clock '{name}'")
    X = betas[common].T
    y = ages.loc[common].to_numpy(dtype=float)
    predicted, fold_of = cross_validated_predictions(estimator, X, y, group_values, outer_folds)
    final = clone(estimator).fit(X, y, groups=group_values)
    errors = predicted - y
    cv = pd.DataFrame({"sample_id": common, "group": group_values if group_values is not None else common,
                       "fold": fold_of + 1, "age": y, "predicted_age": predicted, "residual": errors})
    n_donors = len(np.unique(group_values)) if group_values is not None else None
    card = {
        "name": name,
        "trained": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "training_tissue": tissue,
        "training_array": array,
        "n_samples": len(common),
        "n_donors": n_donors,
        "grouping": {"column": groups.name if groups is not None else None,
                     "folds": "GroupKFold (each group's samples in one fold, outer and inner)" if groups is not None
                     else "KFold (shuffled; samples treated as independent)",
                     "note": group_note or ""},
        "cpgs": {**final.cpg_counts_, "min_call_rate": final.min_call_rate,
                 "why": {"below_call_rate": "measured in fewer training samples than min_call_rate",
                         "not_in_top_k": "outside the top_k by |correlation| with the transformed age",
                         "zero_coefficient": "prefiltered but given no weight by the elastic net",
                         "imputed": "kept CpGs with some missing training values, filled with their training median"}},
        "n_cpgs_kept": final.cpg_counts_["kept"],
        "age_range": [float(y.min()), float(y.max())],
        "outer_cv": {"folds": outer_folds, "mae_years": float(np.mean(np.abs(errors))),
                     "median_ae_years": float(np.median(np.abs(errors))),
                     "correlation": float(np.corrcoef(y, predicted)[0, 1]),
                     "calibration": calibration(y, predicted),
                     "by_age_band": error_by_age_band(y, predicted)},
        "hyperparameters": {**final.get_params(), "l1_ratios": list(final.l1_ratios),
                            "chosen_alpha": final.alpha_, "chosen_l1_ratio": final.l1_ratio_},
        "intercept": final.intercept_,
        "transform": final.transform,
        "imputation": f"training medians of the clock's CpGs ({IMPUTATION_REFERENCE_FILE})",
        "training_data_sha256": {role: sha256_file(path) for role, path in (training_files or {}).items()},
    }
    return TrainedClock(name=name, estimator=final, cv_predictions=cv, card=card)


def write_trained_clock(trained: TrainedClock, out_dir: str | Path, software: dict[str, str]) -> None:
    """coefficients.tsv (the vendored clocks' format), imputation_reference.tsv, clock.yaml,
    model_card.json, cv_predictions.tsv."""
    out_dir = Path(out_dir)
    coefficients = pd.DataFrame({"cpg_id": trained.estimator.feature_names_in_,
                                 "coefficient": trained.estimator.coef_})
    write_table(coefficients, out_dir / "coefficients.tsv")
    write_table(trained.estimator.imputation_reference_.reset_index(), out_dir / IMPUTATION_REFERENCE_FILE)
    write_table(trained.cv_predictions, out_dir / "cv_predictions.tsv")
    card = trained.card
    definition = {
        "title": f"Custom clock {trained.name}", "coefficients": "coefficients.tsv",
        "imputation_reference": IMPUTATION_REFERENCE_FILE,
        "intercept": trained.estimator.intercept_, "transform": trained.estimator.transform, "unit": "years",
        "tissue": card["training_tissue"],
        "citation": f"trained by epiclock on {card['n_samples']} samples"
                    + (f" of {card['n_donors']} donors" if card["n_donors"] is not None else ""),
        "doi": "", "licence": "as the training data", "restricted": False,
    }
    write_text(yaml.safe_dump(definition, sort_keys=False), out_dir / "clock.yaml")
    write_text(json.dumps({**card, "software": software}, indent=2, default=str) + "\n",
               out_dir / "model_card.json")


def load_trained_clock(name: str, directory: str | Path) -> clocks_clock.Clock:
    """A trained clock as a ``Clock``, used exactly like a shipped one; unmeasured CpGs take the
    clock's own training medians."""
    directory = Path(directory)
    definition_path = directory / "clock.yaml"
    if not definition_path.is_file():
        raise EpiclockError(f"custom clock '{name}': {definition_path} not found (was it trained?)")
    definition = yaml.safe_load(definition_path.read_text())
    coefficients = pd.read_csv(directory / definition["coefficients"], sep="\t", index_col="cpg_id")["coefficient"]
    model = clocks_model.LinearClock.from_coefficients(coefficients, definition["intercept"], definition["transform"])
    reference_file = definition.get("imputation_reference")
    reference = None
    if reference_file:
        reference = pd.read_csv(directory / reference_file, sep="\t", index_col="cpg_id")["median"]
    return clocks_clock.Clock(
        name=name, title=definition["title"], model=model, unit=definition["unit"], tissue=definition["tissue"],
        citation=definition["citation"], doi=definition["doi"], licence=definition["licence"],
        restricted=bool(definition["restricted"]), imputation_reference=reference,
        imputation_label=f"the clock's training medians ({reference_file})" if reference_file else "reference medians")
