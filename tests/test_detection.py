import numpy as np
import pandas as pd
import pytest
from scipy import stats

from epiclock.errors import EpiclockError
from epiclock.io import idat
from epiclock.preprocess import detection

BASENAMES = ["999000000001_R01C01", "999000000001_R05C01", "999000000002_R02C02"]

# One probe of each kind; negative controls at 900-904.
PROBES = pd.DataFrame({
    "probe_id": ["cgRed", "cgGrn", "cgTwo"],
    "address_a": [10, 20, 30],
    "address_b": pd.array([11, 21, pd.NA], dtype="Int64"),
    "design": ["I", "I", "II"],
    "channel": pd.array(["Red", "Grn", None], dtype="string"),
})
CONTROLS = pd.DataFrame({
    "address": [900, 901, 902, 903, 904],
    "type": ["NEGATIVE"] * 5,
    "colour": ["-"] * 5,
    "extended_type": [f"Negative {n}" for n in range(5)],
})
ADDRESSES = [10, 11, 20, 21, 30, 900, 901, 902, 903, 904]


def make_pair(red, green, beads=None):
    def channel(values):
        return idat.Idat(addresses=np.array(ADDRESSES, dtype=np.int32), means=np.array(values, dtype=np.uint16),
                         sds=np.zeros(len(ADDRESSES), dtype=np.uint16),
                         bead_counts=np.array(beads if beads is not None else [9] * len(ADDRESSES), dtype=np.uint8),
                         strings={402: "1"})
    return idat.pair_idats(channel(red), channel(green), basename="S1")


#            10    11   20   21   30   negatives
RED = [600, 700, 350, 360, 900, 100, 110, 120, 130, 140]
GREEN = [210, 220, 800, 500, 1000, 200, 220, 240, 260, 280]


def test_minfi_detection_p_by_hand():
    # Red negatives: median 120, MAD 1.4826 * 10; Grn negatives: median 240, MAD 1.4826 * 20.
    p = detection.detection_p_minfi(make_pair(RED, GREEN), PROBES, CONTROLS)
    red_sd, green_sd = 1.4826 * 10, 1.4826 * 20
    assert p["cgRed"] == pytest.approx(stats.norm.sf(1300, 240, 2 * red_sd), rel=1e-12)
    assert p["cgGrn"] == pytest.approx(stats.norm.sf(1300, 480, 2 * green_sd), rel=1e-12)
    assert p["cgTwo"] == pytest.approx(stats.norm.sf(1900, 360, red_sd + green_sd), rel=1e-12)
    assert p.name == "S1"


def test_poobah_by_hand():
    p = detection.detection_p_poobah(make_pair(RED, GREEN), PROBES, CONTROLS)
    # Too little background (<= 100 values) falls back to SeSAMe's flat 1..1000 prior:
    # cgRed: Red max(600, 700) -> 1 - 700/1000; its Grn (out-of-band) max 220 -> 1 - 220/1000.
    assert p["cgRed"] == pytest.approx(0.3)
    assert p["cgGrn"] == pytest.approx(1 - 800 / 1000)
    assert p["cgTwo"] == pytest.approx(0.0)


def test_poobah_empirical_background():
    rng = np.random.default_rng(1)
    n = 300
    red_probes = pd.DataFrame({"probe_id": [f"cgR{i}" for i in range(n)], "address_a": np.arange(n) * 2 + 10,
                               "address_b": pd.array(np.arange(n) * 2 + 11, dtype="Int64"), "design": "I",
                               "channel": pd.array(["Red"] * n, dtype="string")})
    green_probes = red_probes.assign(probe_id=[f"cgG{i}" for i in range(n)], address_a=red_probes["address_a"] + 5000,
                                     address_b=red_probes["address_b"] + 5000, channel=pd.array(["Grn"] * n, dtype="string"))
    probes = pd.concat([red_probes, green_probes], ignore_index=True)
    addresses = np.sort(np.concatenate([probes["address_a"], probes["address_b"].astype(int)])).astype(np.int32)
    red = rng.integers(100, 1000, len(addresses)).astype(np.uint16)
    green = rng.integers(100, 1000, len(addresses)).astype(np.uint16)

    def channel(values):
        return idat.Idat(addresses=addresses, means=values, sds=np.zeros_like(values),
                         bead_counts=np.full(len(addresses), 5, np.uint8), strings={402: "1"})
    pair = idat.pair_idats(channel(red), channel(green), basename="S2")
    p = detection.detection_p_poobah(pair, probes, combine_negative=False)
    frame = pair.to_frame().set_index("address")
    green_background = np.concatenate([frame.loc[red_probes["address_a"], "green_mean"], frame.loc[red_probes["address_b"].astype(int), "green_mean"]])
    red_background = np.concatenate([frame.loc[green_probes["address_a"], "red_mean"], frame.loc[green_probes["address_b"].astype(int), "red_mean"]])
    probe = red_probes.iloc[7]
    in_band = max(frame.loc[probe.address_a, "red_mean"], frame.loc[int(probe.address_b), "red_mean"])
    own_green = max(frame.loc[probe.address_a, "green_mean"], frame.loc[int(probe.address_b), "green_mean"])
    expected = min(1 - np.mean(red_background <= in_band), 1 - np.mean(green_background <= own_green))
    assert p[probe.probe_id] == pytest.approx(expected)
    with pytest.raises(EpiclockError, match="control table"):
        detection.detection_p_poobah(pair, probes)


def test_bead_mask_failures_and_call_rates():
    beads = [9, 2, 9, 9, 3, 9, 9, 9, 9, 9]  # cgRed's address B has 2 beads; cgTwo exactly 3
    pair = make_pair(RED, GREEN, beads)
    mask = detection.bead_count_mask(pair, PROBES)
    assert mask.tolist() == [True, False, False]
    assert detection.bead_count_mask(pair, PROBES, min_beads=4).tolist() == [True, False, True]
    p = pd.Series([1e-5, 0.2, np.nan], index=PROBES["probe_id"], name="S1")
    failed = detection.failed_probes(p, mask, p_threshold=0.01)
    assert failed.tolist() == [True, True, True]
    assert detection.failed_probes(p, None, 0.5).tolist() == [False, False, True]
    assert detection.call_rate(pd.Series([False, False, True, False])) == 0.75
    with pytest.raises(EpiclockError, match="threshold"):
        detection.failed_probes(p, None, 0)
    table, summary = detection.detection_summary(pair, PROBES, CONTROLS, p_threshold=0.01)
    assert summary["n_low_beads"] == 1 and summary["call_rate"] == pytest.approx(1 - summary["n_failed"] / 3)
    assert list(table.columns) == ["p_value", "low_beads", "failed"]
    with pytest.raises(EpiclockError, match="unknown method"):
        detection.detection_summary(pair, PROBES, CONTROLS, method="genomestudio")


def test_missing_negative_controls_is_named():
    with pytest.raises(EpiclockError, match="NEGATIVE control"):
        detection.detection_p_minfi(make_pair(RED, GREEN), PROBES, CONTROLS.assign(type="NORM_A"))


@pytest.mark.shared
def test_detection_p_equals_minfi(synthetic450k, synthetic_manifest):
    expected = pd.read_csv(synthetic450k / "minfi" / "detection_p.tsv.gz", sep="\t", index_col="probe_id")
    call_rates = {}
    for basename in BASENAMES:
        pair = idat.read_idat_pair(synthetic450k / "idats" / basename)
        p = detection.detection_p_minfi(pair, synthetic_manifest.probes, synthetic_manifest.controls)
        np.testing.assert_allclose(p.loc[expected.index].to_numpy(), expected[basename].to_numpy(), rtol=0, atol=1e-6)
        _, summary = detection.detection_summary(pair, synthetic_manifest.probes, synthetic_manifest.controls,
                                                 method="poobah")
        call_rates[basename] = summary["call_rate"]
    # The poor array (10x the failed probes) has the lowest call rate.
    assert min(call_rates, key=call_rates.get) == "999000000002_R02C02"
