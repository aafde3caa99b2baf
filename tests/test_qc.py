import numpy as np
import pandas as pd
import pytest

from epiclock import EpiclockError, normalize, qc

CPGS = pd.Index([f"cg{i:08d}" for i in range(100)], name="cpg_id")


def _betas():
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.uniform(0, 1, (100, 4)), index=CPGS, columns=["A", "B", "C", "D"])


def test_call_rate_and_range_checks_name_the_reason():
    betas = _betas()
    betas.iloc[:10, 1] = np.nan                    # B: call rate 0.90
    betas.iloc[:2, 2] = [1.5, -0.1]                # C: two values outside [0, 1]
    betas.iloc[3, 3] = np.inf                      # D: infinite counts as out of range
    table = qc.sample_qc(betas, ["A", "B", "C", "D", "E"], qc.QcThresholds(min_call_rate=0.95)).set_index("sample_id")
    assert table.loc["A", "passed"] and table.loc["A", "reasons"] == ""
    assert table.loc["B", "call_rate"] == pytest.approx(0.90)
    assert table.loc["B", "reasons"] == "call rate 0.900 below 0.95"
    assert table.loc["C", "reasons"] == "2 values outside [0, 1]"
    assert table.loc["D", "n_out_of_range"] == 1 and not table.loc["D", "passed"]
    assert table.loc["E", "reasons"] == "no column in the beta matrix"
    assert qc.passing_samples(table.reset_index()) == ["A"]


def test_matrix_columns_not_in_the_sheet_are_listed_not_used():
    table = qc.sample_qc(_betas(), ["A", "B", "C"], qc.QcThresholds())
    assert table.set_index("sample_id").loc["D", "reasons"] == "not in the sample sheet"


def test_m_values_get_a_hint():
    betas = _betas() * 10 - 5
    table = qc.sample_qc(betas, ["A"], qc.QcThresholds())
    assert "M-values instead of betas?" in table.loc[0, "reasons"]


def test_enforce_quarantines_unless_fail_fast():
    betas = _betas()
    betas.iloc[:50, 0] = np.nan
    table = qc.sample_qc(betas, ["A", "B"], qc.QcThresholds())
    qc.enforce(table, fail_fast=False)
    with pytest.raises(EpiclockError, match="fail_fast is set: A: call rate 0.500"):
        qc.enforce(table, fail_fast=True)
    with pytest.raises(EpiclockError, match="no sample passed"):
        qc.enforce(qc.sample_qc(betas[["A"]], ["A"], qc.QcThresholds()), fail_fast=False)


def test_normalize_keeps_passing_samples_and_masks_impossible_values():
    betas = _betas()
    betas.iloc[0, 1] = 1.2
    result = normalize.normalize(betas, ["B", "C"])
    assert list(result.columns) == ["B", "C"]
    assert np.isnan(result.iloc[0, 0])
    pd.testing.assert_series_equal(result["C"], betas["C"])
    with pytest.raises(EpiclockError, match="unknown method 'noob'"):
        normalize.normalize(betas, ["B"], method="noob")
    with pytest.raises(EpiclockError, match="not in the beta matrix: Z"):
        normalize.normalize(betas, ["Z"])
