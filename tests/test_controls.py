import time
from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from epiclock.errors import EpiclockError
from epiclock.io import idat
from epiclock.preprocess import controls
from epiclock.qc import identity
from epiclock.qc import sex as qc_sex

# Control probes with their 450k Extended_Type texts and (Red, Grn) intensities of a good array.
CONTROL_ROWS = [
    ("STAINING", "Biotin (High)", 300, 9000), ("STAINING", "Biotin (Bkg)", 200, 300),
    ("STAINING", "DNP (High)", 12000, 300), ("STAINING", "DNP (Bkg)", 400, 200),
    ("EXTENSION", "Extension (A)", 15000, 400), ("EXTENSION", "Extension (T)", 14000, 500),
    ("EXTENSION", "Extension (C)", 600, 16000), ("EXTENSION", "Extension (G)", 700, 15000),
    ("HYBRIDIZATION", "Hyb (Low)", 200, 1500), ("HYBRIDIZATION", "Hyb (Medium)", 200, 6000),
    ("HYBRIDIZATION", "Hyb (High)", 300, 12000),
    ("TARGET REMOVAL", "Target Removal 1", 200, 300), ("TARGET REMOVAL", "Target Removal 2", 200, 350),
    ("BISULFITE CONVERSION I", "BS Conversion I-C1", 300, 8000), ("BISULFITE CONVERSION I", "BS Conversion I-U1", 300, 400),
    ("BISULFITE CONVERSION I", "BS Conversion I-C2", 300, 7000), ("BISULFITE CONVERSION I", "BS Conversion I-U2", 300, 500),
    ("BISULFITE CONVERSION I", "BS Conversion I-C4", 9000, 300), ("BISULFITE CONVERSION I", "BS Conversion I-U4", 600, 300),
    ("BISULFITE CONVERSION II", "BS Conversion II-1", 10000, 500), ("BISULFITE CONVERSION II", "BS Conversion II-2", 9000, 400),
    ("SPECIFICITY I", "GT Mismatch 1 (PM)", 300, 9000), ("SPECIFICITY I", "GT Mismatch 1 (MM)", 300, 600),
    ("SPECIFICITY I", "GT Mismatch 4 (PM)", 8000, 300), ("SPECIFICITY I", "GT Mismatch 4 (MM)", 500, 300),
    ("SPECIFICITY II", "Specificity 1", 9000, 400), ("SPECIFICITY II", "Specificity 2", 8500, 450),
    ("NON-POLYMORPHIC", "NP (A)", 11000, 500), ("NON-POLYMORPHIC", "NP (T)", 10000, 400),
    ("NON-POLYMORPHIC", "NP (C)", 600, 12000), ("NON-POLYMORPHIC", "NP (G)", 500, 11000),
    ("RESTORATION", "Restore", 200, 400),
]
CONTROLS = pd.DataFrame({
    "address": np.arange(len(CONTROL_ROWS)) + 100,
    "type": [row[0] for row in CONTROL_ROWS],
    "colour": "-",
    "extended_type": [row[1] for row in CONTROL_ROWS],
})


def make_pair(addresses, red, green, name="S1"):
    def channel(values):
        return idat.Idat(addresses=np.asarray(addresses, np.int32), means=np.asarray(np.rint(values), np.uint16),
                         sds=np.zeros(len(addresses), np.uint16), bead_counts=np.full(len(addresses), 8, np.uint8),
                         strings={402: "1"})
    return idat.pair_idats(channel(red), channel(green), basename=name)


def control_pair(red_changes=None):
    red = np.array([row[2] for row in CONTROL_ROWS], float)
    green = np.array([row[3] for row in CONTROL_ROWS], float)
    for name, value in (red_changes or {}).items():
        red[[row[1] for row in CONTROL_ROWS].index(name)] = value
    return make_pair(CONTROLS["address"], red, green)


def test_control_metrics_by_hand():
    metrics = controls.control_metrics(control_pair(), CONTROLS)
    green_background = 500 + 3000  # highest Extension A/T in Grn, plus 3000
    assert metrics.loc["staining_green", "value"] == pytest.approx(9000 / 300)
    assert metrics.loc["extension_green", "value"] == pytest.approx(15000 / 500)
    assert metrics.loc["extension_red", "value"] == pytest.approx(14000 / 700)
    assert metrics.loc["hybridisation_medium_low", "value"] == pytest.approx(4.0)
    assert metrics.loc["target_removal_2", "value"] == pytest.approx(green_background / 350)
    assert metrics.loc["bisulfite_conversion_i_green", "value"] == pytest.approx(7000 / 500)
    assert metrics.loc["bisulfite_conversion_i_red_background", "value"] == pytest.approx((700 + 3000) / 600)
    assert metrics.loc["bisulfite_conversion_ii", "value"] == pytest.approx(9000 / 500)
    assert metrics.loc["specificity_ii", "value"] == pytest.approx(8500 / 450)
    assert metrics.loc["non_polymorphic_red", "value"] == pytest.approx(10000 / 600)
    assert metrics.loc["restoration", "value"] == pytest.approx(400 / green_background)
    assert metrics["passed"].all()
    assert controls.control_summary(metrics) == (True, "")


def test_failed_bisulfite_conversion_is_reported():
    metrics = controls.control_metrics(control_pair({"BS Conversion II-1": 300}), CONTROLS)
    passed, reasons = controls.control_summary(metrics)
    assert not passed and "bisulfite_conversion_ii 0.60 below 1" in reasons


def test_metrics_without_their_controls_are_not_failures():
    subset = CONTROLS.loc[CONTROLS["type"] != "STAINING"]
    metrics = controls.control_metrics(control_pair(), subset)
    assert metrics.loc["staining_red", "passed"] is pd.NA
    assert controls.control_summary(metrics)[0]


def sex_probes():
    chromosomes = ["chrX"] * 20 + ["chrY"] * 10 + ["chr1"] * 10
    return pd.DataFrame({
        "probe_id": [f"cg{i:04d}" for i in range(40)], "address_a": np.arange(40) + 1000,
        "address_b": pd.array([pd.NA] * 40, dtype="Int64"), "design": "II",
        "channel": pd.array([None] * 40, dtype="string"), "chromosome": chromosomes,
    })


@pytest.mark.parametrize("y_level, expected", [(100, "F"), (3000, "M")])
def test_sex_from_x_and_y_copy_number(y_level, expected):
    probes = sex_probes()
    red = np.full(40, 2000.0)
    green = np.full(40, 2000.0)
    red[20:30] = green[20:30] = y_level / 2
    prediction = qc_sex.predict_sex(make_pair(probes["address_a"], red, green), probes)
    assert prediction["y_minus_x"] == pytest.approx(np.log2(y_level) - np.log2(4000), abs=0.01)
    assert prediction["predicted_sex"] == expected


def test_check_sex_against_the_sheet():
    predicted = pd.DataFrame({"sample": ["a", "b", "c"], "predicted_sex": ["F", "M", "F"]})
    sheet = pd.Series({"a": "female", "b": "F", "c": None})
    checked = qc_sex.check_sex(predicted, sheet)
    assert checked["sex_matches"].tolist() == [True, False, pd.NA]
    with pytest.raises(EpiclockError, match="sex 'x' of sample a"):
        qc_sex.check_sex(predicted, pd.Series({"a": "x"}))


def test_genotypes_concordance_and_identity():
    betas = pd.DataFrame({
        "a": [0.05, 0.5, 0.95, 0.1, 0.9, 0.45],
        "b": [0.02, 0.55, 0.97, 0.15, 0.85, 0.5],   # same person as a
        "c": [0.9, 0.1, 0.5, 0.95, 0.05, 0.92],     # someone else
        "d": [0.05, 0.9, 0.1, 0.5, 0.95, np.nan],   # not c, though the sheet says so
    }, index=[f"rs{i}" for i in range(6)])
    calls = identity.call_genotypes(betas)
    assert calls["a"].tolist() == [0, 1, 2, 0, 2, 1]
    assert np.isnan(calls.loc["rs5", "d"])
    concordance = identity.genotype_concordance(calls).set_index(["sample_a", "sample_b"])
    assert concordance.loc[("a", "b"), "concordance"] == 1.0
    assert concordance.loc[("c", "d"), "n_snps"] == 5
    donors = pd.Series({"a": "D1", "b": "D2", "c": "D3", "d": "D3"})
    checks = identity.identity_checks(identity.genotype_concordance(calls), donors, min_snps=5)
    checks = checks.set_index(["sample_a", "sample_b"])
    assert checks.loc[("a", "b"), "problem"] == "unexpected duplicate"
    assert checks.loc[("c", "d"), "problem"] == "possible swap"
    assert checks.loc[("a", "c"), "problem"] == ""
    # Six SNP probes are too few to call anything by the default minimum (arrays carry about 60).
    default = identity.identity_checks(identity.genotype_concordance(calls), donors)
    assert (default["problem"] == "").all() and default["same_genotype"].isna().all()
    with pytest.raises(EpiclockError, match="bounds"):
        identity.call_genotypes(betas, bounds=(0.8, 0.2))


def test_snp_betas_from_an_array():
    probes = pd.DataFrame({
        "probe_id": ["rs1", "rs2", "cg1"], "address_a": [10, 20, 30],
        "address_b": pd.array([11, pd.NA, 31], dtype="Int64"), "design": ["I", "II", "I"],
        "channel": pd.array(["Red", None, "Grn"], dtype="string"),
    })
    addresses = [10, 11, 20, 30, 31]
    red = [1000, 3000, 500, 0, 0]
    green = [0, 0, 1500, 0, 0]
    betas = identity.snp_betas(make_pair(addresses, red, green), probes)
    assert betas.to_dict() == {"rs1": pytest.approx(0.75), "rs2": pytest.approx(0.75)}


def test_genotype_concordance_equals_the_pairwise_count():
    rng = np.random.default_rng(3)
    calls = pd.DataFrame(rng.choice([0.0, 1.0, 2.0, np.nan], size=(40, 7), p=[0.3, 0.3, 0.3, 0.1]),
                         columns=[f"s{i}" for i in range(7)], index=[f"rs{i}" for i in range(40)])
    calls["s6"] = np.nan  # a sample without calls: NaN concordance over 0 SNPs
    expected = []
    for left, right in combinations(calls.columns, 2):
        both = calls[left].notna() & calls[right].notna()
        compared = int(both.sum())
        agree = float((calls.loc[both, left] == calls.loc[both, right]).mean()) if compared else np.nan
        expected.append({"sample_a": left, "sample_b": right, "n_snps": compared, "concordance": agree})
    pd.testing.assert_frame_equal(identity.genotype_concordance(calls), pd.DataFrame(expected))


def test_genotype_concordance_of_a_thousand_samples_takes_under_a_second():
    rng = np.random.default_rng(4)
    calls = pd.DataFrame(rng.integers(0, 3, size=(60, 1000)).astype(float), index=[f"rs{i}" for i in range(60)],
                         columns=[f"S{i:04d}" for i in range(1000)])
    start = time.perf_counter()
    table = identity.genotype_concordance(calls)
    assert time.perf_counter() - start < 1.0
    assert len(table) == 1000 * 999 // 2
    assert table.iloc[0][["sample_a", "sample_b"]].tolist() == ["S0000", "S0001"]
    assert table.iloc[0]["concordance"] == pytest.approx((calls["S0000"] == calls["S0001"]).mean())
