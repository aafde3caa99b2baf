import importlib.util
import sys

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.multitest import multipletests

from epiclock import EpiclockError, deltas
from epiclock.clocks import predict, registry

DESIGN = deltas.Design()
YOUNG_VS_OLD = deltas.Contrast.from_config({
    "name": "young_vs_old", "treated": {"bone_marrow": "yes", "serum": "young"},
    "reference": {"bone_marrow": "yes", "serum": "old"}})


def _sheet_and_predictions():
    """Four donors; two replicates of young and old serum each, with known DNAm ages."""
    rows, predictions = [], []
    ages = {"D1": (40, 42, 43, 44), "D2": (50, 51, 53, 53), "D3": (60, 61, 60, 64), "D4": (30, 29, 33, 31)}
    for donor, (y1, y2, o1, o2) in ages.items():
        for serum, replicate, age in [("young", 1, y1), ("young", 2, y2), ("old", 1, o1), ("old", 2, o2)]:
            sample_id = f"{donor}_{serum}_{replicate}"
            rows.append({"sample_id": sample_id, "donor": donor, "donor_age": 45.0, "condition": f"bm_{serum}",
                         "bone_marrow": "yes", "serum": serum})
            predictions.append({"sample_id": sample_id, "clock": "c1", "dnam_age": float(age), "status": "ok"})
    return pd.DataFrame(rows), pd.DataFrame(predictions)


def test_paired_contrast_on_donor_means_equals_a_hand_computation():
    sheet, predictions = _sheet_and_predictions()
    table = deltas.per_sample(predictions, sheet, DESIGN)
    result = deltas.contrast_table(table, [YOUNG_VS_OLD], DESIGN).iloc[0]
    # Donor means young - old: D1 41-43.5, D2 50.5-53, D3 60.5-62, D4 29.5-32
    differences = np.array([-2.5, -2.5, -1.5, -2.5])
    assert result["estimate_years"] == pytest.approx(differences.mean())
    assert result["n_pairs"] == 4
    assert result["p_value"] == pytest.approx(stats.ttest_rel([41, 50.5, 60.5, 29.5], [43.5, 53, 62, 32]).pvalue)
    interval = stats.t.interval(0.95, 3, loc=differences.mean(), scale=stats.sem(differences))
    assert (result["ci_low"], result["ci_high"]) == pytest.approx(interval)
    assert result["p_wilcoxon"] == pytest.approx(stats.wilcoxon(differences).pvalue)
    assert "Wilcoxon test cannot reach p < 0.05" in result["note"]


def test_per_sample_delta_is_dnam_age_minus_donor_age():
    sheet, predictions = _sheet_and_predictions()
    table = deltas.per_sample(predictions, sheet, DESIGN)
    assert (table["delta_age"] == table["dnam_age"] - 45.0).all()
    assert {"sample_id", "clock", "dnam_age", "donor_age", "delta_age", "condition", "donor"} <= set(table.columns)


def test_per_condition_ci_is_over_donor_means():
    sheet, predictions = _sheet_and_predictions()
    summary = deltas.per_condition(deltas.per_sample(predictions, sheet, DESIGN), DESIGN).set_index("condition")
    donor_means = np.array([41, 50.5, 60.5, 29.5]) - 45
    assert summary.loc["bm_young", "n_donors"] == 4 and summary.loc["bm_young", "n_samples"] == 8
    assert summary.loc["bm_young", "mean_delta_age"] == pytest.approx(donor_means.mean())
    interval = stats.t.interval(0.95, 3, loc=donor_means.mean(), scale=stats.sem(donor_means))
    assert (summary.loc["bm_young", "ci_low"], summary.loc["bm_young", "ci_high"]) == pytest.approx(interval)


def test_difference_of_differences():
    sheet, predictions = _sheet_and_predictions()
    table = deltas.per_sample(predictions, sheet, DESIGN)
    reverse = {"treated": {"serum": "old"}, "reference": {"serum": "young"}}
    interaction = deltas.Contrast.from_config({**{"name": "x"}, "treated": {"serum": "young"},
                                               "reference": {"serum": "old"}, "minus": reverse})
    result = deltas.contrast_table(table, [interaction], DESIGN).iloc[0]
    assert result["estimate_years"] == pytest.approx(2 * np.mean([-2.5, -2.5, -1.5, -2.5]))
    assert result["test"] == "paired t-test on donor difference-of-differences"
    # The subtracted groups are the same samples reversed: one model cell each, weights added.
    assert result["mixed_estimate"] == pytest.approx(2 * np.mean([-2.5, -2.5, -1.5, -2.5]))


def test_q_values_are_benjamini_hochberg():
    p_values = np.array([0.01, 0.04, np.nan, 0.03, 0.5])
    expected = multipletests(p_values[~np.isnan(p_values)], method="fdr_bh")[1]
    q_values = deltas.benjamini_hochberg(p_values)
    assert np.isnan(q_values[2])
    assert q_values[~np.isnan(q_values)] == pytest.approx(expected)


def test_too_few_pairs_say_so():
    result = deltas.paired_test(np.array([-1.0, -2.0]))
    assert "too few for a test" in result["note"]
    assert np.isnan(deltas.paired_test(np.array([-1.0]))["p_value"])


@pytest.mark.parametrize("entry,message", [
    ({"treated": {"serum": "yuong"}, "reference": {"serum": "old"}},
     r"treated asks for serum='yuong'; the sample sheet has only: old, young"),
    ({"treated": {"medium": "x"}, "reference": {"serum": "old"}}, "uses factor 'medium', which is not a sample-sheet column"),
    ({"treated": {"serum": "young", "donor": "D1"}, "reference": {"serum": "old", "donor": "D2"}}, "has no pairs"),
])
def test_bad_contrasts_are_clear_errors(entry, message):
    sheet, _ = _sheet_and_predictions()
    with pytest.raises(EpiclockError, match=message):
        deltas.check_contrasts([deltas.Contrast.from_config({"name": "bad", **entry})], sheet, DESIGN)


def test_missing_design_column_is_a_clear_error():
    sheet, predictions = _sheet_and_predictions()
    with pytest.raises(EpiclockError, match="needs column\\(s\\) donor_age"):
        deltas.per_sample(predictions, sheet.drop(columns="donor_age"), DESIGN)


def test_simulated_study_recovers_the_planted_contrast(small_study):
    predictions = predict.predict(small_study.betas, registry.available())
    predictions = predictions.dropna(subset=["dnam_age"])
    table = deltas.per_sample(predictions, small_study.samples, DESIGN)
    contrasts = deltas.contrast_table(table, [YOUNG_VS_OLD], DESIGN)
    for row in contrasts.itertuples():
        assert row.ci_low <= -2.0 <= row.ci_high


def _balanced_young_old():
    sheet, predictions = _sheet_and_predictions()
    return deltas.per_sample(predictions, sheet, DESIGN)


def test_mixed_model_equals_the_within_donor_regression_on_a_balanced_design():
    table = _balanced_young_old()
    result = deltas.contrast_table(table, [YOUNG_VS_OLD], DESIGN).iloc[0]
    # Balanced replicates, positive donor variance: REML gives the donor-fixed-effects regression,
    # whose estimate is the mean within-donor difference and whose residual df is 16 - 4 - 1.
    within_donor = smf.ols("dnam_age ~ C(donor) + C(serum, Treatment('old'))", table).fit()
    assert result["mixed_estimate"] == pytest.approx(-2.25)
    assert result["mixed_se"] == pytest.approx(within_donor.bse.iloc[-1], rel=1e-4)
    assert result["mixed_df"] == within_donor.df_resid == 11
    half_width = stats.t.ppf(0.975, 11) * result["mixed_se"]
    assert (result["mixed_ci_low"], result["mixed_ci_high"]) == pytest.approx((-2.25 - half_width, -2.25 + half_width))
    assert result["mixed_p"] == pytest.approx(2 * stats.t.sf(2.25 / result["mixed_se"], 11))
    assert (result["n_treated"], result["n_reference"], result["mixed_n_samples"]) == (8, 8, 16)
    assert result["mixed_model"] == "REML: dnam_age ~ group + (1|donor)"
    assert "no chip column 'chip'" in result["mixed_note"]


def test_mixed_model_equals_statsmodels_fitted_directly():
    table = _balanced_young_old()
    result = deltas.mixed_model_contrast(table, YOUNG_VS_OLD, DESIGN)
    direct = smf.mixedlm("dnam_age ~ treated", table.assign(treated=(table["serum"] == "young").astype(float)),
                         groups="donor").fit(reml=True)
    assert result["mixed_estimate"] == pytest.approx(direct.params["treated"], rel=1e-6)
    assert result["mixed_se"] == pytest.approx(direct.bse["treated"], rel=1e-4)


def _chip_table(seed: int = 0) -> pd.DataFrame:
    """Five donors, young and old serum in duplicate, spread over four chips with large chip effects."""
    rng = np.random.default_rng(seed)
    chip_effects = [-1.5, 0.0, 1.5, 0.5]
    rows = []
    for donor_number in range(1, 6):
        donor_effect = rng.normal(0, 2)
        for serum, effect in (("young", -2.0), ("old", 0.0)):
            for replicate in (1, 2):
                chip = (replicate + 2 * (serum == "old") + donor_number) % 4
                rows.append({"sample_id": f"D{donor_number}_{serum}_{replicate}", "clock": "c1", "status": "ok",
                             "donor": f"D{donor_number}", "donor_age": 50.0, "bone_marrow": "yes", "serum": serum,
                             "condition": serum, "chip": f"C{chip}",
                             "dnam_age": 50 + donor_effect + effect + chip_effects[chip] + rng.normal(0, 0.3)})
    return pd.DataFrame(rows)


def test_mixed_model_with_crossed_chip_equals_statsmodels_fitted_directly():
    table = _chip_table()
    result = deltas.mixed_model_contrast(table, YOUNG_VS_OLD, DESIGN)
    # Crossed donor and chip effects in statsmodels: one group holding every sample, both as variance components.
    direct = smf.mixedlm("dnam_age ~ treated", table.assign(treated=(table["serum"] == "young").astype(float), run=1),
                         groups="run", re_formula="0",
                         vc_formula={"donor": "0 + C(donor)", "chip": "0 + C(chip)"}).fit(reml=True)
    assert direct.converged
    assert result["mixed_model"] == "REML: dnam_age ~ group + (1|donor) + (1|chip)"
    assert result["mixed_estimate"] == pytest.approx(direct.params["treated"], abs=1e-4)
    assert result["mixed_se"] == pytest.approx(direct.bse["treated"], rel=1e-3)
    assert result["mixed_note"] == ""


def test_chip_can_be_left_out_of_the_mixed_model():
    table = _chip_table()
    without_chip = deltas.Design(chip_column=None)
    result = deltas.mixed_model_contrast(table, YOUNG_VS_OLD, without_chip)
    assert result["mixed_model"] == "REML: dnam_age ~ group + (1|donor)"
    one_chip = deltas.mixed_model_contrast(table.assign(chip="C0"), YOUNG_VS_OLD, DESIGN)
    assert "all samples on one chip" in one_chip["mixed_note"]
    assert deltas.Design.from_config({"donor_column": "donor", "donor_age_column": "donor_age", "factors": ["serum"],
                                      "chip_column": ""}).chip_column is None


def _factorial_table() -> pd.DataFrame:
    """Four donors; bone marrow yes/no x serum young/old, two replicates; serum acts only with bone marrow."""
    rng = np.random.default_rng(3)
    rows = []
    for donor_number, donor_age in enumerate((30.0, 45.0, 60.0, 75.0), start=1):
        for bone_marrow in ("yes", "no"):
            for serum in ("young", "old"):
                effect = -2.0 if (bone_marrow, serum) == ("yes", "young") else 0.0
                for replicate in (1, 2):
                    rows.append({"sample_id": f"D{donor_number}_{bone_marrow}_{serum}_{replicate}", "clock": "c1",
                                 "status": "ok", "donor": f"D{donor_number}", "donor_age": donor_age,
                                 "bone_marrow": bone_marrow, "serum": serum, "condition": f"{bone_marrow}_{serum}",
                                 "dnam_age": donor_age + effect + rng.normal(0, 0.5)})
    return pd.DataFrame(rows)


INTERACTION = deltas.Contrast.from_config({
    "name": "young_vs_old_bm_minus_no_bm",
    "treated": {"bone_marrow": "yes", "serum": "young"}, "reference": {"bone_marrow": "yes", "serum": "old"},
    "minus": {"treated": {"bone_marrow": "no", "serum": "young"}, "reference": {"bone_marrow": "no", "serum": "old"}}})


def test_interaction_is_the_mixed_model_interaction_term():
    table = _factorial_table()
    result = deltas.contrast_table(table, [INTERACTION], DESIGN).iloc[0]
    direct = smf.mixedlm("dnam_age ~ C(bone_marrow, Treatment('no')) * C(serum, Treatment('old'))", table,
                         groups="donor").fit(reml=True)
    term = "C(bone_marrow, Treatment('no'))[T.yes]:C(serum, Treatment('old'))[T.young]"
    assert result["mixed_estimate"] == pytest.approx(direct.params[term], rel=1e-6)
    assert result["mixed_se"] == pytest.approx(direct.bse[term], rel=1e-4)
    assert result["mixed_df"] == 32 - 4 - 3
    # Balanced: the interaction equals the mean donor difference of differences of the paired test.
    cell_means = table.groupby(["donor", "bone_marrow", "serum"])["dnam_age"].mean()
    by_donor = ((cell_means.xs(("yes", "young"), level=[1, 2]) - cell_means.xs(("yes", "old"), level=[1, 2]))
                - (cell_means.xs(("no", "young"), level=[1, 2]) - cell_means.xs(("no", "old"), level=[1, 2])))
    assert result["estimate_years"] == pytest.approx(by_donor.mean())
    assert result["mixed_estimate"] == pytest.approx(by_donor.mean())
    assert result["n_pairs"] == 4 and (result["n_treated"], result["n_reference"]) == (8, 8)
    assert result["mixed_ci_low"] <= -2.0 <= result["mixed_ci_high"]


def test_contrast_table_keeps_its_columns_and_adds_the_mixed_model():
    table = deltas.contrast_table(_factorial_table(), [YOUNG_VS_OLD, INTERACTION], DESIGN)
    assert list(table.columns[:15]) == ["contrast", "clock", "estimate_years", "ci_low", "ci_high", "p_value",
                                        "q_value", "n_pairs", "test", "p_wilcoxon", "sd_difference",
                                        "effect_size_dz", "treated_mean", "reference_mean", "note"]
    assert list(table.columns) == deltas.CONTRAST_COLUMNS and len(table) == 2
    assert table["mixed_q"].to_numpy() == pytest.approx(multipletests(table["mixed_p"], method="fdr_bh")[1])
    assert table["q_value"].to_numpy() == pytest.approx(multipletests(table["p_value"], method="fdr_bh")[1])


def test_mixed_model_needs_three_donors():
    table = _factorial_table()
    result = deltas.mixed_model_contrast(table[table["donor"].isin(["D1", "D2"])], YOUNG_VS_OLD, DESIGN)
    assert np.isnan(result["mixed_estimate"]) and "2 donor(s)" in result["mixed_note"]


def test_residual_age_acceleration_is_the_residual_on_donor_age():
    table = _factorial_table()
    per_sample = deltas.per_sample(table[["sample_id", "clock", "dnam_age", "status"]],
                                   table.drop(columns=["clock", "dnam_age", "status"]), DESIGN)
    slope, intercept = np.polyfit(per_sample["donor_age"], per_sample["dnam_age"], 1)
    expected = per_sample["dnam_age"] - (intercept + slope * per_sample["donor_age"])
    assert per_sample["age_acceleration_residual"].to_numpy() == pytest.approx(expected.to_numpy())
    assert (per_sample["age_acceleration_note"] == "").all()


@pytest.mark.parametrize("donor_ages,reason", [
    ((45.0, 45.0, 45.0, 45.0), "1 distinct donor age(s) spanning 0 years"),
    ((40.0, 42.0, 45.0, 45.0), "3 distinct donor age(s) spanning 5 years"),
    ((30.0, 30.0, 60.0, 60.0), "2 distinct donor age(s) spanning 30 years"),
])
def test_residual_age_acceleration_needs_spread_ages(donor_ages, reason):
    table = _factorial_table()
    table["donor_age"] = table["donor"].map(dict(zip(["D1", "D2", "D3", "D4"], donor_ages)))
    per_sample = deltas.per_sample(table[["sample_id", "clock", "dnam_age", "status"]],
                                   table.drop(columns=["clock", "dnam_age", "status"]), DESIGN)
    assert per_sample["age_acceleration_residual"].isna().all()
    assert per_sample["age_acceleration_note"].str.contains(reason, regex=False).all()
    assert per_sample["delta_age"].notna().all()


def test_samples_without_age_say_so():
    sheet, predictions = _sheet_and_predictions()
    predictions.loc[0, "dnam_age"] = np.nan
    per_sample = deltas.per_sample(predictions, sheet, DESIGN)
    assert per_sample.loc[0, "age_acceleration_note"] == "no DNAm age"


def test_overlapping_groups_are_a_clear_error():
    sheet, _ = _sheet_and_predictions()
    overlapping = deltas.Contrast.from_config({"name": "overlap", "treated": {"serum": "young"},
                                               "reference": {"bone_marrow": "yes"}})
    with pytest.raises(EpiclockError, match=r"contrast 'overlap': sample D1_young_1 is in both treated "
                                            r"\(serum=young\) and reference \(bone_marrow=yes\)"):
        deltas.check_contrasts([overlapping], sheet, DESIGN)


def _calibration_module():
    path = deltas.__file__.rsplit("/src/", 1)[0] + "/bench/calibration.py"
    spec = importlib.util.spec_from_file_location("calibration", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_confidence_intervals_cover_the_planted_effect_in_simulated_studies():
    """The fast version of bench/calibration.py: loose bounds, but a broken CI or test fails them."""
    calibration = _calibration_module()
    settings = calibration.Settings(clock_names=["horvath_skin_blood2018"], ages_from_truth=True,
                                    contrasts=[calibration.CONTRASTS[0], calibration.CONTRASTS[3]])
    summary = calibration.summarise(calibration.simulate_studies(60, settings, seed=2)).set_index("method")
    assert (summary["n_effect"] == 60).all() and (summary["n_null"] == 60).all()
    assert (summary["coverage"] >= 0.8).all(), summary
    assert (summary["false_positive"] <= 0.2).all(), summary
    assert (summary["power"] >= 0.8).all(), summary
    assert (summary["missing"] == 0).all()
