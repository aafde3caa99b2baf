import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from epiclock import EpiclockError
from epiclock.clocks import predict, registry, training
from epiclock.demo import simulate

FAST = dict(top_k=200, l1_ratios=(0.5, 1.0), n_alphas=10, inner_folds=3, random_state=0)
# Stated bound for the simulated check: with 40 CpGs tracking age at 0.01-0.04 M-units per year
# and noise sd 0.4, held-out MAE stays well under 3 years.
HELD_OUT_MAE_BOUND_YEARS = 3.0
GAPPY_MAE_BOUND_YEARS = 3.5


@pytest.fixture(scope="module")
def cohort():
    return simulate.simulate_reference_cohort(n_samples=100, signal_cpgs=40, background_cpgs=300, seed=3)


@pytest.fixture(scope="module")
def trained(cohort):
    return training.train_clock("skin_test", cohort.betas, cohort.ages, training.ElasticNetClock(**FAST), outer_folds=4)


def planted_share(trained, cohort) -> tuple[float, float]:
    """(share of the kept CpGs that were planted, share of the planted CpGs kept)."""
    kept, planted = set(trained.estimator.feature_names_in_), set(cohort.signal.index)
    return len(kept & planted) / max(len(kept), 1), len(kept & planted) / len(planted)


def test_training_recovers_the_planted_signal(cohort, trained):
    assert trained.card["outer_cv"]["mae_years"] < HELD_OUT_MAE_BOUND_YEARS
    assert trained.card["outer_cv"]["correlation"] > 0.95
    precision, recall = planted_share(trained, cohort)
    assert precision >= 0.7 and recall >= 0.6


def test_gaps_are_imputed_within_folds_and_sparse_cpgs_dropped(cohort):
    # 5% of values missing at random, and 10 CpGs measured in only half the samples.
    rng = np.random.default_rng(5)
    betas = cohort.betas.mask(rng.random(cohort.betas.shape) < 0.05)
    sparse = betas.index[:10]
    betas.loc[sparse, betas.columns[::2]] = np.nan
    result = training.train_clock("gappy", betas, cohort.ages, training.ElasticNetClock(min_call_rate=0.9, **FAST),
                                  outer_folds=4)
    precision, recall = planted_share(result, cohort)
    assert precision >= 0.7 and recall >= 0.6
    # With 5% of values imputed in every fold the error sits near the complete-data bound (3.07 years
    # for the signal CpGs the simulator draws since the clock library grew to 62 clocks).
    assert result.card["outer_cv"]["mae_years"] < GAPPY_MAE_BOUND_YEARS
    cpgs = result.card["cpgs"]
    # Nearly every CpG has gaps: few would survive dropping incomplete CpGs. Those measured in under
    # 90% of the samples go, the sparse ones (call rate 0.5) among them.
    assert (betas.notna().all(axis=1)).sum() < 5
    assert cpgs["offered"] == len(betas) and cpgs["below_call_rate"] == (betas.notna().mean(axis=1) < 0.9).sum()
    assert not set(sparse) & set(result.estimator.feature_names_in_)
    assert cpgs["kept"] + cpgs["zero_coefficient"] + cpgs["not_in_top_k"] + cpgs["below_call_rate"] == cpgs["offered"]
    assert cpgs["imputed"] > 0.9 * (cpgs["offered"] - cpgs["below_call_rate"])
    # The clock's own imputation reference: training medians of its CpGs.
    reference = result.estimator.imputation_reference_
    assert list(reference.index) == list(result.estimator.feature_names_in_)
    expected = betas.loc[reference.index].median(axis=1, skipna=True)
    assert reference.to_numpy() == pytest.approx(expected.to_numpy(), abs=1e-12)


def test_column_medians_equal_numpy_nanmedian():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(37, 50))
    values[rng.random(values.shape) < 0.3] = np.nan
    values[:, 3] = np.nan
    values[1:, 4] = np.nan
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanmedian(values, axis=0)
    assert training.column_medians(values) == pytest.approx(expected, abs=1e-12, nan_ok=True)


def test_held_out_ages_use_the_clocks_own_training_medians(tmp_path, trained):
    # A new cohort shares the planted CpGs but not the background: the background CpGs the clock
    # kept are filled with the clock's training medians, as in a real run.
    fresh = simulate.simulate_reference_cohort(n_samples=40, signal_cpgs=40, background_cpgs=300, seed=99)
    training.write_trained_clock(trained, tmp_path / "clock", {})
    clock = training.load_trained_clock("skin_test", tmp_path / "clock")
    assert clock.imputation_reference.to_dict() == pytest.approx(trained.estimator.imputation_reference_.to_dict())
    predicted = predict.predict(fresh.betas, [clock], min_coverage=0.5)
    imputed = predicted["status"].str.contains("training medians")
    assert imputed.any() == bool(set(clock.cpg_ids) - set(fresh.betas.index))
    assert np.abs(predicted["dnam_age"].to_numpy() - fresh.ages.to_numpy()).mean() < HELD_OUT_MAE_BOUND_YEARS


def noise_data(seed: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    betas = pd.DataFrame(rng.uniform(0.1, 0.9, (2000, 60)), index=[f"cg{i:08d}" for i in range(2000)],
                         columns=[f"S{i}" for i in range(60)])
    return betas, pd.Series(rng.uniform(20, 80, 60), index=betas.columns)


def test_pure_noise_gives_an_honest_error_and_almost_no_cpgs():
    # No CpG carries age. A prefilter fitted outside the inner folds lets the penalty be chosen on
    # CpGs that already saw the validation samples: the model then keeps about top_k CpGs.
    kept = []
    for seed in range(5):
        betas, ages = noise_data(seed)
        result = training.train_clock("noise", betas, ages, training.ElasticNetClock(transform="identity", **FAST),
                                      outer_folds=5)
        mean_only_mae = np.abs(ages - ages.mean()).mean()
        assert result.card["outer_cv"]["mae_years"] > 0.8 * mean_only_mae
        kept.append(result.card["n_cpgs_kept"])
    assert np.median(kept) <= 5, kept


@pytest.fixture(scope="module")
def replicated():
    # 20 donors, 3 replicate arrays each: replicates share the donor's biological noise.
    return simulate.simulate_reference_cohort(n_samples=20, signal_cpgs=10, background_cpgs=300, replicates=3,
                                              replicate_sd=0.05, seed=4)


def test_grouped_folds_never_split_a_donor(replicated):
    result = training.train_clock("grouped", replicated.betas, replicated.ages, training.ElasticNetClock(**FAST),
                                  outer_folds=4, groups=replicated.donors)
    folds = result.cv_predictions.groupby("group")["fold"].nunique()
    assert len(folds) == 20 and (folds == 1).all()
    assert result.card["n_donors"] == 20 and result.card["n_samples"] == 60
    assert result.card["grouping"]["column"] == "donor"
    splitter = training.folds(3, replicated.donors.to_numpy(), 0)
    for train, test in splitter.split(replicated.betas.T, groups=replicated.donors.to_numpy()):
        assert not set(replicated.donors.iloc[train]) & set(replicated.donors.iloc[test])


def test_replicates_make_ungrouped_folds_optimistic(replicated):
    grouped = training.train_clock("grouped", replicated.betas, replicated.ages, training.ElasticNetClock(**FAST),
                                   outer_folds=4, groups=replicated.donors)
    ungrouped = training.train_clock("ungrouped", replicated.betas, replicated.ages, training.ElasticNetClock(**FAST),
                                     outer_folds=4)
    assert ungrouped.card["grouping"]["column"] is None
    # A replicate's twin in the training folds predicts its age: the ungrouped error looks far better.
    assert grouped.card["outer_cv"]["mae_years"] > 1.5 * ungrouped.card["outer_cv"]["mae_years"]


def test_card_reports_calibration_and_error_by_age_band(trained):
    cv = trained.cv_predictions
    card = trained.card["outer_cv"]
    slope, intercept = np.polyfit(cv["age"], cv["predicted_age"], 1)
    assert card["calibration"]["slope"] == pytest.approx(slope, rel=1e-9)
    assert card["calibration"]["intercept"] == pytest.approx(intercept, rel=1e-9)
    assert 0.8 < card["calibration"]["slope"] < 1.1
    bands = card["by_age_band"]
    assert sum(band["n_samples"] for band in bands) == len(cv)
    weighted = sum(band["mae_years"] * band["n_samples"] for band in bands) / len(cv)
    assert weighted == pytest.approx(card["mae_years"], rel=1e-9)


def test_estimator_follows_scikit_learn_conventions():
    estimator = training.ElasticNetClock(top_k=50)
    assert clone(estimator).get_params() == estimator.get_params()
    assert not hasattr(estimator, "coef_")


def test_written_clock_loads_and_predicts_like_a_published_one(tmp_path, cohort, trained):
    training.write_trained_clock(trained, tmp_path / "skin_test", {"epiclock": "test"})
    loaded = training.load_trained_clock("skin_test", tmp_path / "skin_test")
    expected = trained.estimator.predict(cohort.betas.T)
    table = predict.predict(cohort.betas, [loaded])
    assert table["dnam_age"].to_numpy() == pytest.approx(expected, abs=1e-9)
    assert (table["status"] == "ok").all()
    # Beside shipped clocks, in one call, the same bits: custom and published clocks take one path.
    together = predict.predict(cohort.betas, [registry.get("horvath2013"), loaded])
    assert np.array_equal(together.loc[together["clock"] == "skin_test", "dnam_age"].to_numpy(), table["dnam_age"].to_numpy())
    coefficients = pd.read_csv(tmp_path / "skin_test/coefficients.tsv", sep="\t")
    assert list(coefficients.columns) == ["cpg_id", "coefficient"] and len(coefficients) == trained.card["n_cpgs_kept"]
    card = (tmp_path / "skin_test/model_card.json").read_text()
    assert '"mae_years"' in card and '"software"' in card and '"calibration"' in card


def test_bad_training_input_is_a_clear_error(cohort):
    estimator = training.ElasticNetClock(**FAST)
    with pytest.raises(EpiclockError, match="samples with an age but no betas: GHOST"):
        training.train_clock("x", cohort.betas, pd.concat([cohort.ages, pd.Series({"GHOST": 50.0})]), estimator)
    with pytest.raises(EpiclockError, match="too few for 5-fold"):
        training.train_clock("x", cohort.betas.iloc[:, :6], cohort.ages.iloc[:6], estimator)
    few_donors = pd.Series(np.resize(["A", "B", "C"], len(cohort.ages)), index=cohort.ages.index, name="donor")
    with pytest.raises(EpiclockError, match="3 groups are too few for 4-fold"):
        training.train_clock("x", cohort.betas, cohort.ages, estimator, outer_folds=4, groups=few_donors)
    with pytest.raises(EpiclockError, match="custom clock 'y': .*clock.yaml not found"):
        training.load_trained_clock("y", "/nonexistent")
