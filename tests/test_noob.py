import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epiclock.arrays import channels
from epiclock.arrays import betas as arrays_betas
from epiclock.arrays import signals as arrays_signals
from epiclock.errors import EpiclockError
from epiclock.io import idat
from epiclock.preprocess import channel_inference, dye_bias, noob, normexp

BASENAMES = ["999000000001_R01C01", "999000000001_R05C01", "999000000002_R02C02"]


# --- small arrays built by hand ----------------------------------------------------------------------


def make_tables(n_red=40, n_green=40, n_two=80, n_negative=30, n_norm=8):
    """Probe and control tables with consecutive addresses: type-I Red, type-I Grn, type II, 1 rs probe."""
    rows, address = [], 1000
    for kind, count in (("IRed", n_red), ("IGrn", n_green), ("II", n_two)):
        for number in range(count):
            two = kind == "II"
            rows.append({"probe_id": f"cg{kind}{number:05d}", "address_a": address,
                         "address_b": pd.NA if two else address + 1, "design": "II" if two else "I",
                         "channel": None if two else kind[1:]})
            address += 2
    rows.append({"probe_id": "rs0001", "address_a": address, "address_b": address + 1, "design": "I", "channel": "Red"})
    probes = pd.DataFrame(rows)
    probes["address_b"] = probes["address_b"].astype("Int64")
    probes["channel"] = probes["channel"].astype("string")
    controls = []
    control_address = 500_000
    for kind, count in (("NEGATIVE", n_negative), ("NORM_A", n_norm), ("NORM_T", n_norm), ("NORM_C", n_norm), ("NORM_G", n_norm)):
        for number in range(count):
            controls.append({"address": control_address, "type": kind, "colour": "-", "extended_type": f"{kind}_{number}"})
            control_address += 1
    return probes, pd.DataFrame(controls)


def all_addresses(probes, controls):
    addresses = list(probes["address_a"]) + [a for a in probes["address_b"] if not pd.isna(a)] + list(controls["address"])
    return np.array(sorted(int(a) for a in addresses), dtype=np.int32)


def make_pair(addresses, red, green, beads=None, name="S1"):
    def channel(values):
        return idat.Idat(addresses=np.asarray(addresses, dtype=np.int32),
                         means=np.clip(np.rint(values), 0, 65535).astype(np.uint16),
                         sds=np.zeros(len(addresses), dtype=np.uint16),
                         bead_counts=(np.full(len(addresses), 10, dtype=np.uint8) if beads is None
                                      else np.asarray(beads, dtype=np.uint8)),
                         strings={402: "1"})
    return idat.pair_idats(channel(red), channel(green), basename=name)


def random_pair(seed, probes, controls, red_scale=1.0):
    """Normal background everywhere; exponential signal only in each bead's own colour(s)."""
    rng = np.random.default_rng(seed)
    addresses = all_addresses(probes, controls)
    position = {address: index for index, address in enumerate(addresses)}
    green = rng.normal(400, 60, len(addresses))
    red = rng.normal(500, 70, len(addresses))
    for row in probes.itertuples():
        beads = [row.address_a] if row.design == "II" else [row.address_a, row.address_b]
        for address in beads:
            signal = rng.exponential(3000)
            if row.design == "II" or row.channel == "Red":
                red[position[address]] += signal
            if row.design == "II" or row.channel == "Grn":
                green[position[address]] += rng.exponential(3000)
    norm = controls.loc[controls["type"].str.startswith("NORM")]
    for row in norm.itertuples():
        target = red if row.type in ("NORM_A", "NORM_T") else green
        target[position[row.address]] += rng.normal(4000, 300)
    return make_pair(addresses, np.clip(red * red_scale, 1, 60000), np.clip(green, 1, 60000))


# --- hand-computed values -----------------------------------------------------------------------------


def test_huber_matches_its_fixed_point_by_hand():
    # median 3, MAD = 1.4826; the outlier is clipped at mu + 1.5 s, so at convergence
    # mu = (1 + 2 + 3 + 4 + mu + 2.2239) / 5, i.e. mu = 12.2239 / 4.
    mu, scale = normexp.huber(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    assert scale == pytest.approx(1.4826)
    assert mu == pytest.approx(12.2239 / 4, abs=1e-5)
    with pytest.raises(EpiclockError, match="MAD is zero"):
        normexp.huber(np.ones(5))


def test_per_level_shortcuts_give_the_per_value_results():
    # Raw intensities are whole numbers: huber and normexp_signal then work per level, not per value;
    # chunks below LEVELS_MIN_SIZE take the per-value path, so the two can be compared.
    rng = np.random.default_rng(11)
    values = np.round(rng.exponential(3000, 60_000) + rng.normal(400, 60, 60_000)).clip(1, 65535)
    values[5] = np.nan
    parameters = normexp.NormexpParameters(400.0, 60.0, 2500.0)
    chunks = np.array_split(values, 6)
    assert all(len(chunk) < normexp.LEVELS_MIN_SIZE for chunk in chunks)
    per_value = np.concatenate([normexp.normexp_signal(parameters, chunk) for chunk in chunks])
    np.testing.assert_array_equal(normexp.normexp_signal(parameters, values), per_value)
    # A quarter added makes the values fractional (per-value path) and moves mu by exactly that.
    mu, scale = normexp.huber(values)
    shifted_mu, shifted_scale = normexp.huber(values + 0.25)
    assert shifted_mu - 0.25 == pytest.approx(mu, rel=1e-12) and shifted_scale == pytest.approx(scale, rel=1e-12)


def test_mad_is_r_mad():
    assert normexp.mad(np.array([1.0, 2.0, 4.0, 8.0])) == pytest.approx(1.4826 * 1.5)


def test_normexp_signal_by_hand():
    # mu 0, sigma 1, alpha 1, x 0: mu.sf = -1, signal = -1 + phi(1) / Phi(-1).
    expected = -1 + 0.24197072451914337 / 0.15865525393145707
    parameters = normexp.NormexpParameters(0.0, 1.0, 1.0)
    assert normexp.normexp_signal(parameters, np.array([0.0]))[0] == pytest.approx(expected, rel=1e-12)
    # Far above background the correction is a shift by mu + sigma^2 / alpha.
    assert normexp.normexp_signal(normexp.NormexpParameters(300, 50, 2000), np.array([20000.0]))[0] == pytest.approx(20000 - 300 - 1.25)


def test_noob_routes_channels_as_minfi():
    probes, controls = make_tables()
    pair = random_pair(3, probes, controls)
    result = noob.noob(pair, probes, controls, dye_method="none", offset=15)
    found = channels.intensities_of(channels.array_channels(pair), probes)
    raw_m, raw_u = arrays_signals.raw_meth_unmeth(found)
    layout = found.layout
    green_oob = np.concatenate([found.green_a[layout.in_red & ~layout.snp], found.green_b[layout.in_red & ~layout.snp]])
    mu, sigma = normexp.huber(green_oob)
    in_band = np.concatenate([raw_m[layout.in_green], raw_u[layout.in_green], raw_m[layout.type_two]])
    alpha = max(normexp.huber(in_band)[0] - mu, 10)
    assert result.green == pytest.approx((mu, sigma, alpha))
    expected = normexp.normexp_signal(normexp.NormexpParameters(mu, sigma, alpha), raw_m[layout.type_two]) + 15
    np.testing.assert_allclose(result.signals["methylated"].to_numpy()[layout.type_two], expected)
    assert result.red_factor == 1.0
    # The rs probe is corrected with its channel's fit but took no part in it.
    assert np.isfinite(result.signals.loc["rs0001"]).all()


def test_single_dye_correction_scales_red_by_the_control_ratio():
    probes, controls = make_tables()
    pair = random_pair(4, probes, controls, red_scale=1.6)
    plain = noob.noob(pair, probes, controls, dye_method="none")
    single = noob.noob(pair, probes, controls, dye_method="single")
    green_level, red_level = dye_bias.normalisation_control_levels(pair, controls, plain.green, plain.red)
    assert single.red_factor == pytest.approx(green_level / red_level)
    layout = channels.intensities_of(channels.array_channels(pair), probes).layout
    np.testing.assert_allclose(single.signals["unmethylated"].to_numpy()[layout.type_two],
                               plain.signals["unmethylated"].to_numpy()[layout.type_two] * single.red_factor)
    np.testing.assert_allclose(single.signals["methylated"].to_numpy()[layout.type_two],
                               plain.signals["methylated"].to_numpy()[layout.type_two])


def test_sesame_style_dye_corrections_bring_the_channels_together():
    probes, controls = make_tables(n_red=200, n_green=200, n_two=200)
    pair = random_pair(5, probes, controls, red_scale=2.0)
    layout = channels.intensities_of(channels.array_channels(pair), probes).layout

    def channel_ratio(result):
        signals = result.signals
        red = np.concatenate([signals["methylated"][layout.in_red], signals["unmethylated"][layout.in_red]])
        green = np.concatenate([signals["methylated"][layout.in_green], signals["unmethylated"][layout.in_green]])
        return np.mean(red) / np.mean(green)

    before = channel_ratio(noob.noob(pair, probes, controls, dye_method="none"))
    nonlinear = channel_ratio(noob.noob(pair, probes, controls, dye_method="nonlinear"))
    linear = noob.noob(pair, probes, controls, dye_method="linear")
    assert before > 1.5
    assert abs(nonlinear - 1) < abs(before - 1) / 3
    assert linear.green_factor != 1.0 and linear.red_factor < linear.green_factor


def test_betas_and_m_values():
    signals = pd.DataFrame({"methylated": [300.0, 0.0, 50.0], "unmethylated": [100.0, 0.0, 50.0]}, index=["a", "b", "c"])
    assert arrays_betas.betas(signals, offset=0).tolist()[0] == pytest.approx(0.75)
    assert np.isnan(arrays_betas.betas(signals, offset=0)["b"])
    assert arrays_betas.betas(signals)["a"] == pytest.approx(300 / 500)
    with pytest.raises(EpiclockError, match="offset"):
        arrays_betas.betas(signals, offset=-1)


def test_type_one_channel_inference_flags_switched_probes():
    probes, controls = make_tables(n_red=3, n_green=3, n_two=2)
    addresses = all_addresses(probes, controls)
    red, green = np.full(len(addresses), 300.0), np.full(len(addresses), 300.0)
    position = {a: i for i, a in enumerate(addresses)}
    for row in probes.itertuples():
        if row.design == "I":
            bright = red if row.channel == "Red" else green
            for address in (row.address_a, row.address_b):
                bright[position[address]] = 5000
    # The first Red probe actually lights up in Grn.
    first = probes.iloc[0]
    for address in (first.address_a, first.address_b):
        red[position[address]], green[position[address]] = 300, 5000
    inferred = channel_inference.infer_type_one_channels(make_pair(addresses, red, green), probes)
    assert inferred["switched"].sum() == 1 and bool(inferred.loc[first.probe_id, "switched"])
    assert inferred.loc[first.probe_id, "inferred_channel"] == "Grn"
    updated = channel_inference.with_inferred_channels(probes, inferred)
    assert updated.set_index("probe_id").loc[first.probe_id, "channel"] == "Grn"


def test_bad_input_names_the_problem():
    probes, controls = make_tables()
    pair = random_pair(1, probes, controls)
    with pytest.raises(EpiclockError, match="dye_method"):
        noob.noob(pair, probes, controls, dye_method="reference")
    with pytest.raises(EpiclockError, match="control table"):
        noob.noob(pair, probes, None)
    with pytest.raises(EpiclockError, match="NORM_C"):
        noob.noob(pair, probes, controls.loc[controls["type"] == "NEGATIVE"])
    with pytest.raises(EpiclockError, match="lacks column"):
        noob.noob(pair, probes.drop(columns="design"), controls)


def test_frame_input_gives_the_same_result():
    probes, controls = make_tables()
    pair = random_pair(2, probes, controls)
    from_pair = noob.noob(pair, probes, controls).signals
    from_frame = noob.noob(pair.to_frame(), probes, controls).signals
    pd.testing.assert_frame_equal(from_pair, from_frame)


# --- properties ----------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(mu=st.floats(0, 2000), sigma=st.floats(1, 500), alpha=st.floats(10, 20000),
       values=st.lists(st.floats(0, 65535), min_size=2, max_size=50))
def test_normexp_is_positive_and_monotone(mu, sigma, alpha, values):
    values = np.sort(np.array(values))
    signal = normexp.normexp_signal(normexp.NormexpParameters(mu, sigma, alpha), values)
    assert (signal > 0).all()
    assert (np.diff(signal) >= -1e-9 * np.maximum(1, np.abs(signal[1:]))).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), offset=st.floats(0, 200))
def test_noob_output_positive_monotone_and_betas_in_range(seed, offset):
    probes, controls = make_tables()
    pair = random_pair(seed, probes, controls)
    signals = noob.noob(pair, probes, controls, offset=15).signals
    assert (signals.to_numpy() > 0).all()
    values = arrays_betas.betas(signals, offset=offset)
    assert ((values >= 0) & (values <= 1)).all()
    layout = channels.intensities_of(channels.array_channels(pair), probes).layout
    raw_m, _ = arrays_signals.raw_meth_unmeth(channels.intensities_of(channels.array_channels(pair), probes))
    order = np.argsort(raw_m[layout.type_two], kind="stable")
    corrected = signals["methylated"].to_numpy()[layout.type_two][order]
    assert (np.diff(corrected) >= -1e-9).all()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), level=st.integers(500, 30000))
def test_single_dye_correction_is_neutral_on_balanced_arrays(seed, level):
    # Balanced: swapping the colours (and the Red probes with the Grn probes) gives the same array.
    probes, controls = make_tables()
    rng = np.random.default_rng(seed)
    addresses = all_addresses(probes, controls)
    position = {address: index for index, address in enumerate(addresses)}
    red = rng.normal(450, 60, len(addresses))
    green = red.copy()
    red_probes = probes.loc[(probes["design"] == "I") & (probes["channel"] == "Red") & ~probes["probe_id"].str.startswith("rs")]
    green_probes = probes.loc[(probes["design"] == "I") & (probes["channel"] == "Grn")]
    for red_row, green_row in zip(red_probes.itertuples(), green_probes.itertuples()):
        for red_address, green_address in ((red_row.address_a, green_row.address_a), (red_row.address_b, green_row.address_b)):
            in_band, out_of_band = 400 + rng.exponential(3000), rng.normal(450, 60)
            red[position[red_address]], green[position[red_address]] = in_band, out_of_band
            green[position[green_address]], red[position[green_address]] = in_band, out_of_band
    for address in probes.loc[probes["design"] == "II", "address_a"]:
        red[position[address]] = green[position[address]] = 400 + rng.exponential(3000)
    norm = np.isin(addresses, controls.loc[controls["type"].str.startswith("NORM"), "address"])
    red[norm] = green[norm] = level
    pair = make_pair(addresses, np.clip(red, 1, 60000), np.clip(green, 1, 60000))
    result = noob.noob(pair, probes, controls)
    assert result.red == pytest.approx(result.green, rel=1e-12)
    assert result.red_factor == pytest.approx(1.0, rel=1e-12)
    pd.testing.assert_frame_equal(result.signals, noob.noob(pair, probes, controls, dye_method="none").signals,
                                  rtol=1e-12)


# --- minfi on the synthetic 450k reference ------------------------------------------------------------


@pytest.fixture(scope="module")
def minfi_noob(synthetic450k):
    return {what: pd.read_csv(synthetic450k / "minfi" / f"noob_{what}.tsv.gz", sep="\t", index_col="probe_id")
            for what in ("meth", "unmeth", "betas")}


@pytest.mark.shared
def test_noob_equals_minfi_preprocess_noob(synthetic450k, synthetic_manifest, minfi_noob):
    for basename in BASENAMES:
        pair = idat.read_idat_pair(synthetic450k / "idats" / basename)
        signals = noob.noob(pair, synthetic_manifest.probes, synthetic_manifest.controls).signals
        signals = signals.loc[minfi_noob["meth"].index]
        for ours, theirs in ((signals["methylated"], minfi_noob["meth"][basename]),
                             (signals["unmethylated"], minfi_noob["unmeth"][basename]),
                             (arrays_betas.betas(signals, offset=0), minfi_noob["betas"][basename])):
            np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-6, atol=0)
