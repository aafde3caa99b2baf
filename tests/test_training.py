import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from epiclock import EpiclockError
from epiclock.clocks import training
from epiclock.demo import simulate

FAST = dict(top_k=200, l1_ratios=(0.5, 1.0), n_alphas=10, inner_folds=3, random_state=0)
# Stated bound for the simulated check: with 40 CpGs tracking age at 0.01-0.04 M-units per year
# and noise sd 0.4, held-out MAE stays well under 3 years.
HELD_OUT_MAE_BOUND_YEARS = 3.0


@pytest.fixture(scope="module")
def cohort():
    return simulate.simulate_reference_cohort(n_samples=100, signal_cpgs=40, background_cpgs=300, seed=3)


@pytest.fixture(scope="module")
def trained(cohort):
    return training.train_clock("skin_test", cohort.betas, cohort.ages, training.ElasticNetClock(**FAST), outer_folds=4)


def test_training_recovers_the_planted_signal(cohort, trained):
    assert trained.card["outer_cv"]["mae_years"] < HELD_OUT_MAE_BOUND_YEARS
    assert trained.card["outer_cv"]["correlation"] > 0.95
    kept = set(trained.estimator.feature_names_in_)
    planted = set(cohort.signal.index)
    assert len(kept & planted) / len(kept) >= 0.7
    assert len(kept & planted) >= 0.7 * len(planted)


def test_held_out_ages_are_predicted_within_the_bound(tmp_path, trained):
    # A new cohort shares the planted CpGs but not the background: the few background CpGs the
    # clock kept are imputed from reference medians, as in a real run.
    fresh = simulate.simulate_reference_cohort(n_samples=40, signal_cpgs=40, background_cpgs=300, seed=99)
    training.write_trained_clock(trained, tmp_path / "clock", {})
    predicted = training.load_trained_clock("skin_test", tmp_path / "clock").predict(fresh.betas, min_coverage=0.5)
    assert np.abs(predicted["dnam_age"].to_numpy() - fresh.ages.to_numpy()).mean() < HELD_OUT_MAE_BOUND_YEARS


def test_cross_validation_is_honest_on_pure_noise():
    # No CpG carries age: if the prefilter saw the test folds, the CV error would look good anyway.
    rng = np.random.default_rng(0)
    betas = pd.DataFrame(rng.uniform(0.1, 0.9, (2000, 60)), index=[f"cg{i:08d}" for i in range(2000)],
                         columns=[f"S{i}" for i in range(60)])
    ages = pd.Series(rng.uniform(20, 80, 60), index=betas.columns)
    result = training.train_clock("noise", betas, ages, training.ElasticNetClock(transform="identity", **FAST),
                                  outer_folds=5)
    mean_only_mae = np.abs(ages - ages.mean()).mean()
    assert result.card["outer_cv"]["mae_years"] > 0.8 * mean_only_mae


def test_estimator_follows_scikit_learn_conventions():
    estimator = training.ElasticNetClock(top_k=50)
    assert clone(estimator).get_params() == estimator.get_params()
    assert not hasattr(estimator, "coef_")


def test_written_clock_loads_and_predicts_like_a_published_one(tmp_path, cohort, trained):
    training.write_trained_clock(trained, tmp_path / "skin_test", {"epiclock": "test"})
    loaded = training.load_trained_clock("skin_test", tmp_path / "skin_test")
    expected = trained.estimator.predict(cohort.betas.T)
    table = loaded.predict(cohort.betas)
    assert table["dnam_age"].to_numpy() == pytest.approx(expected, abs=1e-9)
    assert (table["status"] == "ok").all()
    coefficients = pd.read_csv(tmp_path / "skin_test/coefficients.tsv", sep="\t")
    assert list(coefficients.columns) == ["cpg_id", "coefficient"] and len(coefficients) == trained.card["n_cpgs_kept"]
    card = (tmp_path / "skin_test/model_card.json").read_text()
    assert '"mae_years"' in card and '"software"' in card


def test_bad_training_input_is_a_clear_error(cohort):
    estimator = training.ElasticNetClock(**FAST)
    with pytest.raises(EpiclockError, match="samples with an age but no betas: GHOST"):
        training.train_clock("x", cohort.betas, pd.concat([cohort.ages, pd.Series({"GHOST": 50.0})]), estimator)
    with pytest.raises(EpiclockError, match="too few for 5-fold"):
        training.train_clock("x", cohort.betas.iloc[:, :6], cohort.ages.iloc[:6], estimator)
    with pytest.raises(EpiclockError, match="custom clock 'y': .*clock.yaml not found"):
        training.load_trained_clock("y", "/nonexistent")
