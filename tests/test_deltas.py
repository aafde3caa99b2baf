import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from epiclock import EpiclockError, clocks, deltas

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
    predictions = clocks.predict(small_study.betas, clocks.available())
    predictions = predictions.dropna(subset=["dnam_age"])
    table = deltas.per_sample(predictions, small_study.samples, DESIGN)
    contrasts = deltas.contrast_table(table, [YOUNG_VS_OLD], DESIGN)
    for row in contrasts.itertuples():
        assert row.ci_low <= -2.0 <= row.ci_high
