import numpy as np
import pandas as pd
import pytest

from conftest import matrix_qc
from epiclock import EpiclockError
from epiclock.io import merge
from epiclock.qc import assess
from epiclock.qc import identity as qc_identity
from epiclock.qc import metrics as qc_metrics
from epiclock.qc import sex as qc_sex

CPGS = pd.Index([f"cg{i:08d}" for i in range(100)], name="cpg_id")


def _betas():
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.uniform(0, 1, (100, 4)), index=CPGS, columns=["A", "B", "C", "D"])


def test_call_rate_and_range_checks_name_the_reason():
    betas = _betas()
    betas.iloc[:10, 1] = np.nan                    # B: call rate 0.90
    betas.iloc[:2, 2] = [1.5, -0.1]                # C: two values outside [0, 1]
    betas.iloc[3, 3] = np.inf                      # D: infinite counts as out of range
    table = matrix_qc(betas, ["A", "B", "C", "D", "E"], assess.QcThresholds(min_call_rate=0.95)).set_index("sample_id")
    assert table.loc["A", "passed"] and table.loc["A", "reasons"] == ""
    assert table.loc["B", "call_rate"] == pytest.approx(0.90)
    assert table.loc["B", "reasons"] == "call rate 0.900 below 0.95"
    assert table.loc["C", "reasons"] == "2 values outside [0, 1]"
    assert table.loc["D", "n_out_of_range"] == 1 and not table.loc["D", "passed"]
    assert table.loc["E", "reasons"] == "no column in the beta matrix"
    assert assess.passing_samples(table.reset_index()) == ["A"]


def test_matrix_columns_not_in_the_sheet_are_listed_not_used():
    table = matrix_qc(_betas(), ["A", "B", "C"], assess.QcThresholds())
    assert table.set_index("sample_id").loc["D", "reasons"] == "not in the sample sheet (ignored)"
    assert not table.set_index("sample_id").loc["D", "passed"]


def test_m_values_get_a_hint():
    betas = _betas() * 10 - 5
    table = matrix_qc(betas, ["A"], assess.QcThresholds())
    assert "M-values instead of betas?" in table.loc[0, "reasons"]


def test_enforce_quarantines_unless_fail_fast():
    betas = _betas()
    betas.iloc[:50, 0] = np.nan
    table = matrix_qc(betas, ["A", "B"], assess.QcThresholds())
    assess.enforce(table, fail_fast=False)
    with pytest.raises(EpiclockError, match="fail_fast is set: A: call rate 0.500"):
        assess.enforce(table, fail_fast=True)
    with pytest.raises(EpiclockError, match="no sample passed"):
        assess.enforce(matrix_qc(betas[["A"]], ["A"], assess.QcThresholds()), fail_fast=False)


def test_impossible_values_are_masked_and_only_known_methods_accepted():
    betas = _betas()
    betas.iloc[0, 1] = 1.2
    result = merge.mask_invalid(betas[["B", "C"]])
    assert list(result.columns) == ["B", "C"]
    assert np.isnan(result.iloc[0, 0])
    pd.testing.assert_series_equal(result["C"], betas["C"])
    with pytest.raises(EpiclockError, match="unknown method 'noob'"):
        merge.check_method("noob")


def test_masked_probes_do_not_count_against_the_call_rate():
    betas = _betas()
    betas.iloc[:20, :] = np.nan                    # 20 probes masked for every sample
    betas.iloc[20:24, 0] = np.nan                  # A: 4 more probes failed
    metrics = qc_metrics.beta_metrics(betas, n_masked=pd.Series(20, index=["A", "B", "C", "D"]))
    assert metrics.loc["A", "call_rate"] == pytest.approx(1 - 4 / 80)
    assert metrics.loc["B", "call_rate"] == 1.0
    assert qc_metrics.beta_metrics(betas).loc["B", "call_rate"] == pytest.approx(0.8)


def test_beta_density_integrates_to_one_per_sample():
    betas = _betas()
    betas.iloc[0, 0] = 1.5                         # out of range: not part of the distribution
    density = qc_metrics.beta_density(betas, bins=10)
    assert list(density.columns) == ["sample_id", "bin_left", "bin_right", "density"]
    for sample, rows in density.groupby("sample_id"):
        assert (rows["density"] * (rows["bin_right"] - rows["bin_left"])).sum() == pytest.approx(1.0)
    first_bin = density.loc[(density["sample_id"] == "A")].iloc[0]
    expected = ((betas["A"] >= 0) & (betas["A"] < 0.1)).sum() / 99 / 0.1
    assert first_bin["density"] == pytest.approx(expected)


def _qc_table(samples):
    return pd.DataFrame({"sample_id": samples, "passed": True, "reasons": "", "call_rate": 1.0})


def _snp_betas(genotypes: dict[str, list[float]]):
    return pd.DataFrame(genotypes, index=[f"rs{i}" for i in range(len(next(iter(genotypes.values()))))])


def test_flag_checks_flag_by_default_and_fail_when_asked():
    rng = np.random.default_rng(1)
    donor_one = rng.choice([0.05, 0.5, 0.95], 40)
    donor_two = rng.choice([0.05, 0.5, 0.95], 40)
    # S1 and S2 are donor D1; S3 says D2 but carries D1's genotypes (a duplicate); S4 is D2.
    snps = _snp_betas({"S1": donor_one, "S2": donor_one, "S3": donor_one, "S4": donor_two})
    sheet = pd.DataFrame({"sample_id": ["S1", "S2", "S3", "S4"], "donor": ["D1", "D1", "D2", "D2"],
                          "sex": ["F", "M", "F", "F"]})
    table = _qc_table(["S1", "S2", "S3", "S4"]).assign(
        controls_passed=[True, True, False, True], control_notes=["", "", "staining_green 1.20 below 5", ""],
        predicted_sex=["F", "F", "F", "F"])
    flagged, identity = assess.flag_checks(table, sheet, snps, donor_column="donor", sex_column="sex")
    flagged = flagged.set_index("sample_id")
    assert flagged["passed"].all()
    assert "staining_green" in flagged.loc["S3", "flags"] and "unexpected duplicate with S1" in flagged.loc["S3", "flags"]
    # S2 is D1 like S1, but S3 (D2) carries the same genotypes: S2 is flagged for that as well.
    assert flagged.loc["S2", "flags"] == ("predicted sex F but the sheet says M; "
                                          "unexpected duplicate with S3 (genotype concordance 1.00)")
    assert flagged.loc["S2", "sex_matches"] == False  # noqa: E712 (a pandas NA-aware boolean)
    # S4 differs from S3 though both are D2: a possible swap.
    assert set(identity.loc[identity["problem"] != "", "problem"]) == {"unexpected duplicate", "possible swap"}
    assert flagged.loc["S1", "flags"].startswith("unexpected duplicate with S3")

    failed, _ = assess.flag_checks(table, sheet, snps, donor_column="donor", sex_column="sex",
                               fail_on=["sex_mismatch", "controls"])
    failed = failed.set_index("sample_id")
    assert not failed.loc["S2", "passed"] and failed.loc["S2", "reasons"] == "predicted sex F but the sheet says M"
    assert not failed.loc["S3", "passed"] and failed.loc["S3", "reasons"].startswith("control probes: staining_green")
    assert failed.loc["S1", "passed"]              # identity is only flagged: not in fail_on


def test_flag_checks_without_array_columns_or_snps_flag_nothing():
    sheet = pd.DataFrame({"sample_id": ["A", "B"], "donor": ["D1", "D2"]})
    flagged, identity = assess.flag_checks(_qc_table(["A", "B"]), sheet, pd.DataFrame(), donor_column="donor",
                                       sex_column="sex")
    assert (flagged["flags"] == "").all() and identity.empty
    with pytest.raises(EpiclockError, match="qc.fail_on: unknown colour"):
        assess.flag_checks(_qc_table(["A"]), sheet, pd.DataFrame(), donor_column="donor", sex_column="sex",
                       fail_on=["colour"])


def test_a_sheet_sex_that_is_neither_female_nor_male_names_the_sample_and_column():
    sheet = pd.DataFrame({"sample_id": ["A", "B", "C"], "sex": ["F", "", "unknown"]})
    with pytest.raises(EpiclockError, match=r"samples.tsv: column 'sex' \(qc.sex_column\) of sample C says 'unknown'"):
        qc_sex.check_sheet_sex(sheet, "sex", "samples.tsv")
    qc_sex.check_sheet_sex(sheet.iloc[:2], "sex", "samples.tsv")
    qc_sex.check_sheet_sex(sheet.drop(columns="sex"), "sex", "samples.tsv")


def _sample_row(sample_id: str, call_rate: float = 0.99, **array_columns) -> dict:
    metrics = {"n_cpgs": 1000, "n_missing": 1000 - int(1000 * call_rate), "n_out_of_range": 0,
               "beta_mean": 0.5, "beta_median": 0.5, "call_rate": call_rate}
    return {"sample_id": sample_id, "array_passed": True, "array_reasons": "", "controls_passed": True,
            "control_notes": "", "predicted_sex": "F", **metrics, **array_columns}


def test_assess_gives_every_sample_its_row_and_every_reason():
    sample_rows = pd.DataFrame([
        _sample_row("good"),
        _sample_row("low_call_rate", call_rate=0.5),
        {**_sample_row("unreadable", array_passed=False, array_reasons="cannot read the Red IDAT"),
         **{column: np.nan for column in qc_metrics.BETA_METRIC_COLUMNS}},
        _sample_row("bad_controls", controls_passed=False, control_notes="staining_green 1.20 below 5"),
        _sample_row("male", predicted_sex="M"),
        _sample_row("stray"),
    ])
    sheet = pd.DataFrame({"sample_id": ["good", "low_call_rate", "unreadable", "bad_controls", "male", "no_idats"],
                          "donor": ["D1", "D1", "D2", "D2", "D3", "D3"], "sex": "F"})
    table, identity = assess.assess(sample_rows, sheet, pd.DataFrame(), {"no_idats": "no IDAT pair found"},
                                    assess.QcThresholds(min_call_rate=0.95), donor_column="donor", sex_column="sex",
                                    fail_on=["controls"])
    table = table.set_index("sample_id")
    assert table.index.tolist() == ["good", "low_call_rate", "unreadable", "bad_controls", "male", "no_idats", "stray"]
    assert table["passed"].tolist() == [True, False, False, False, True, False, False]
    assert table["reasons"].to_dict() == {
        "good": "", "low_call_rate": "call rate 0.500 below 0.95", "unreadable": "cannot read the Red IDAT",
        "bad_controls": "control probes: staining_green 1.20 below 5", "male": "",
        "no_idats": "no IDAT pair found", "stray": "not in the sample sheet (ignored)"}
    # A check not in fail_on flags the sample and keeps it.
    assert table.loc["male", "flags"] == "predicted sex M but the sheet says F"
    assert table.loc["bad_controls", "flags"] == "control probes: staining_green 1.20 below 5"
    assert identity.empty and list(identity.columns) == qc_identity.IDENTITY_COLUMNS
