"""Contrasts adjusted for cell fractions, against statsmodels' least squares."""

import numpy as np
import pytest
import statsmodels.api as sm

from epiclock.deltas import adjusted


def test_adjusted_paired_test_is_the_intercept_of_ols_on_donor_differences():
    rng = np.random.default_rng(3)
    covariates = rng.normal(0, 0.05, (8, 2))
    differences = -2.0 + covariates @ np.array([30.0, -10.0]) + rng.normal(0, 0.5, 8)
    result = adjusted.adjusted_paired_test(differences, covariates)
    fit = sm.OLS(differences, sm.add_constant(covariates)).fit()
    low, high = fit.conf_int()[0]
    assert result["estimate"] == pytest.approx(fit.params[0], abs=1e-10)
    assert result["se"] == pytest.approx(fit.bse[0], rel=1e-9)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((low, high), rel=1e-9)
    assert result["p_value"] == pytest.approx(fit.pvalues[0], rel=1e-9)
    assert result["df"] == 5 and result["n_donors"] == 8


def test_too_few_donors_or_a_constant_shift_give_no_adjusted_test():
    assert "residual degree" in adjusted.adjusted_paired_test(np.ones(3), np.zeros((3, 1)))["note"]
    same_shift = adjusted.adjusted_paired_test(np.arange(6.0), np.full((6, 1), 0.05))
    assert np.isnan(same_shift["estimate"]) and "do not vary" in same_shift["note"]


@pytest.mark.parametrize("covariates", [np.zeros((0, 2)), np.zeros(0)], ids=["two covariates", "one covariate"])
def test_a_contrast_without_donors_gives_a_note_not_an_error(covariates):
    result = adjusted.adjusted_paired_test(np.zeros(0), covariates)
    assert result["n_donors"] == 0 and np.isnan(result["estimate"]) and "0 donors" in result["note"]


def test_adjustment_removes_a_planted_composition_artefact_and_keeps_the_ageing_effect():
    """Young serum with bone marrow makes the skin 2 years younger (planted ageing effect) and also
    lowers its fibroblast fraction by 8 points on average (donors responding differently), which
    moves the clocks through the cell types' profiles. The unadjusted contrast mixes both; adjusted
    for the estimated fibroblast fraction, the donor-level and the mixed-model estimates cover the
    planted -2 years again."""
    from epiclock import composition, deltas
    from epiclock.demo import composition as demo_composition
    from epiclock.demo import simulate

    parameters = simulate.StudyParameters(
        donors=8, replicates=2, seed=2, background_cpgs=200, failed_samples=0,
        composition=demo_composition.CompositionParameters(fibroblast_shift={"skin_bm_young_serum": -0.08}))
    study = simulate.simulate_study(parameters)
    planted = parameters.condition_effects["skin_bm_young_serum"]
    fractions, _ = composition.estimate(study.betas, composition.load("epidish_epi_fib_ic"))
    predictions = (study.truth.rename(columns={"true_dnam_age": "dnam_age"})[["sample_id", "clock", "dnam_age"]]
                   .assign(status="ok"))
    design = deltas.Design()
    per_sample = deltas.per_sample(predictions, study.samples, design)
    per_sample["Fib"] = per_sample["sample_id"].map(fractions["Fib"])
    contrast = deltas.Contrast("young_vs_old_serum_with_bm", {"bone_marrow": "yes", "serum": "young"},
                               {"bone_marrow": "yes", "serum": "old"})
    table = deltas.contrast_table(per_sample, [contrast], design, adjust_for=["Fib"]).set_index("clock")
    artefact = study.truth.groupby("condition")["composition_artefact_years"].mean()
    assert artefact["skin_bm_young_serum"] - artefact["skin_bm_old_serum"] > 1.0   # the artefact is there
    for clock, row in table.iterrows():
        assert row["adjusted_for"] == "Fib"
        assert not row["ci_low"] <= planted <= row["ci_high"], (clock, "unadjusted should miss the planted effect")
        assert row["adjusted_ci_low"] <= planted <= row["adjusted_ci_high"], (clock, row.to_dict())
        assert row["adjusted_mixed_ci_low"] <= planted <= row["adjusted_mixed_ci_high"], (clock, row.to_dict())
