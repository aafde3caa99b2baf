import dataclasses

import numpy as np
import pandas as pd
import pytest

from epiclock.arrays import channels
from epiclock.arrays import betas as arrays_betas
from epiclock.demo import simulate_arrays
from epiclock.errors import EpiclockError
from epiclock.io import idat
from epiclock.io.manifest import Manifest, load_manifest
from epiclock.preprocess import controls, detection, noob
from epiclock.preprocess.pipeline import PreprocessSettings, SampleResult, preprocess_sample
from epiclock.qc import identity
from epiclock.qc import sex as qc_sex

METRIC_KEYS = {"chip_type", "n_addresses", "detection_call_rate", "n_low_beads", "median_intensity",
               "controls_passed", "control_notes", "n_masked", "n_channel_switched", "predicted_sex", "x_median",
               "y_median"}


@pytest.fixture(scope="module")
def array(tmp_path_factory):
    """A small simulated array on disk: 3,000 CpGs and 30 rs probes, two samples; its manifest and basenames."""
    out = tmp_path_factory.mktemp("array")
    rng = np.random.default_rng(2)
    cpgs = [f"cg{index:08d}" for index in range(3000)]
    betas = pd.DataFrame(rng.beta(0.5, 0.5, size=(3000, 2)), index=cpgs, columns=["A", "B"])
    samples = pd.DataFrame({"sample_id": ["A", "B"], "chip": ["900000000001"] * 2, "position": ["R01C01", "R02C01"],
                            "donor": ["D1", "D2"]})
    paths = simulate_arrays.write_idats(betas, samples, failed={}, out_dir=out, seed=3)
    basenames = [str(paths["idat_dir"] / "900000000001" / f"900000000001_{position}") for position in samples["position"]]
    return load_manifest(paths["manifest"]), basenames


def expected_betas(basename, manifest, offset=100.0):
    """The betas as the separate public steps give them: noob, beta, failed probes masked."""
    pair = idat.read_idat_pair(basename)
    signals = noob.noob(pair, manifest.probes, manifest.controls).signals
    table, _ = detection.detection_summary(pair, manifest.probes, manifest.controls)
    return arrays_betas.betas(signals, offset=offset).mask(table["failed"])


def test_sample_result_has_every_field(array):
    manifest, basenames = array
    result = preprocess_sample(basenames[0], manifest, PreprocessSettings())
    assert isinstance(result, SampleResult)
    assert [field.name for field in dataclasses.fields(SampleResult)] == ["betas", "metrics", "control_metrics",
                                                                           "snp_betas", "raw_signals"]
    assert list(result.raw_signals.columns) == ["methylated", "unmethylated"]
    assert result.raw_signals.index.equals(result.betas.index)
    assert result.betas.index.tolist() == manifest.probes["probe_id"].tolist()
    assert result.betas.dtype == np.float64
    assert set(result.metrics) == METRIC_KEYS
    assert result.metrics["n_masked"] == 0
    assert list(result.control_metrics.columns) == ["value", "threshold", "passed"]
    assert result.control_metrics.index.name == "metric"
    assert len(result.snp_betas) == 30 and result.snp_betas.index.str.startswith("rs").all()
    # A sheet without sex gives a simulated manifest without sex chromosomes: sex is unknown, not an error.
    assert result.metrics["predicted_sex"] is None and np.isnan(result.metrics["x_median"])


def test_betas_equal_the_separate_steps(array):
    manifest, basenames = array
    for basename in basenames:
        result = preprocess_sample(basename, manifest, PreprocessSettings())
        expected = expected_betas(basename, manifest)
        np.testing.assert_array_equal(result.betas.to_numpy(), expected.to_numpy())
        pair = idat.read_idat_pair(basename)
        pd.testing.assert_series_equal(result.snp_betas, identity.snp_betas(pair, manifest.probes))
        pd.testing.assert_frame_equal(result.control_metrics, controls.control_metrics(pair, manifest.controls))


def test_a_mask_list_makes_exactly_its_probes_missing(array, tmp_path):
    manifest, basenames = array
    listed = ["cg00000007", "cg00000100", "rs1000003"]
    mask_file = tmp_path / "mask.tsv"
    # A probe the manifest does not have is not counted.
    mask_file.write_text("probe_id\n" + "\n".join(listed + ["cg99999999"]) + "\n")
    plain = preprocess_sample(basenames[0], manifest, PreprocessSettings())
    settings = PreprocessSettings.from_config({"masks": {"file": str(mask_file)}})
    masked = preprocess_sample(basenames[0], manifest, settings)
    assert masked.metrics["n_masked"] == 3
    assert masked.betas[listed].isna().all() and plain.betas[listed].notna().all()
    others = ~masked.betas.index.isin(listed)
    np.testing.assert_array_equal(masked.betas[others].to_numpy(), plain.betas[others].to_numpy())


def test_a_vendored_list_needs_an_array_it_fits(array):
    manifest, basenames = array
    settings = PreprocessSettings.from_config({"masks": {"reasons": ["CrossHybridization"]}})
    with pytest.raises(EpiclockError, match="no vendored probe mask fits.*3,030 probes"):
        preprocess_sample(basenames[0], manifest, settings)


# Type-II probes read a narrower range of betas than type-I probes on real arrays (Dedeurwaerder et al.,
# Epigenomics 2011); the simulated intensities have no such difference, so the fixture puts it in the betas.
TYPE_TWO_RANGE = 0.8


@pytest.fixture(scope="module")
def compressed_type_two(tmp_path_factory):
    """One simulated array whose type-II betas are squeezed towards 0.5; its manifest, basename and true betas."""
    out = tmp_path_factory.mktemp("compressed")
    rng = np.random.default_rng(2)
    cpgs = [f"cg{index:08d}" for index in range(3000)]
    truth = pd.Series(rng.beta(0.5, 0.5, size=3000), index=cpgs, name="A")
    # write_idats draws its manifest from its seed; the same call tells the designs beforehand.
    seed = 3
    probes, _ = simulate_arrays.synthetic_manifest(cpgs, seed=seed)
    type_two = probes["Infinium_Design_Type"].to_numpy()[:len(cpgs)] == "II"
    read = truth.where(~type_two, 0.5 + TYPE_TWO_RANGE * (truth - 0.5))
    samples = pd.DataFrame({"sample_id": ["A"], "chip": ["900000000001"], "position": ["R01C01"], "donor": ["D1"]})
    paths = simulate_arrays.write_idats(read.to_frame(), samples, failed={}, out_dir=out, seed=seed)
    manifest = load_manifest(paths["manifest"])
    assert (manifest.probes["design"].to_numpy()[:len(cpgs)] == np.where(type_two, "II", "I")).all()
    return manifest, str(paths["idat_dir"] / "900000000001" / "900000000001_R01C01"), truth


def test_bmiq_maps_type_two_betas_onto_type_one_within_zero_and_one(compressed_type_two):
    manifest, basename, truth = compressed_type_two
    plain = preprocess_sample(basename, manifest, PreprocessSettings())
    normalised = preprocess_sample(basename, manifest, PreprocessSettings(bmiq=True))
    values = normalised.betas.dropna()
    assert ((values >= 0) & (values <= 1)).all()
    assert normalised.betas.isna().equals(plain.betas.isna())
    type_two = (manifest.probes["design"] == "II").to_numpy() & plain.betas.notna().to_numpy()
    cpg = ~manifest.probes["probe_id"].str.startswith("rs").to_numpy()
    # Squeezed by 0.8, type-II betas are ~0.077 (RMS) from the truth; measurement noise alone leaves ~0.015.
    # BMIQ maps them back through the type-I distribution: observed 0.24-0.32 of the error over manifest
    # seeds; half is the bound, far from both the noise floor and no correction at all.
    ids = manifest.probes["probe_id"][type_two & cpg].to_numpy()
    error_before = np.sqrt(np.mean((plain.betas[ids] - truth[ids]) ** 2))
    error_after = np.sqrt(np.mean((normalised.betas[ids] - truth[ids]) ** 2))
    assert error_before > 0.05 and error_after < 0.5 * error_before
    type_one = ~type_two & plain.betas.notna().to_numpy()
    np.testing.assert_allclose(normalised.betas[type_one].to_numpy(), plain.betas[type_one].to_numpy())
    # SNP probes hold genotypes: BMIQ leaves them alone.
    np.testing.assert_array_equal(normalised.betas[~cpg].to_numpy(), plain.betas[~cpg].to_numpy())


def test_a_manifest_without_rs_probes_gives_empty_snp_betas(array):
    manifest, basenames = array
    without_rs = manifest.probes.loc[~manifest.probes["probe_id"].str.startswith("rs")].reset_index(drop=True)
    result = preprocess_sample(basenames[0], Manifest(without_rs, manifest.controls, manifest.source), PreprocessSettings())
    assert result.snp_betas.empty
    assert len(result.betas) == len(without_rs)


def test_sex_from_the_manifest_chromosomes(array):
    manifest, basenames = array
    probes = manifest.probes.copy()
    chromosome = np.full(len(probes), "chr1", dtype=object)
    chromosome[:200], chromosome[200:260] = "chrX", "chrY"
    probes["chromosome"] = chromosome
    with_sex = Manifest(probes, manifest.controls, manifest.source)
    result = preprocess_sample(basenames[0], with_sex, PreprocessSettings())
    expected = qc_sex.predict_sex(idat.read_idat_pair(basenames[0]), probes)
    assert result.metrics["predicted_sex"] == expected["predicted_sex"] in ("F", "M")
    assert result.metrics["x_median"] == pytest.approx(expected["x_median"])
    assert result.metrics["y_median"] == pytest.approx(expected["y_median"])
    # chrX probes but no chrY probes: unknown, not an error.
    probes_without_y = probes.assign(chromosome=np.where(chromosome == "chrY", "chr2", chromosome))
    result = preprocess_sample(basenames[0], Manifest(probes_without_y, manifest.controls, manifest.source),
                               PreprocessSettings())
    assert result.metrics["predicted_sex"] is None and np.isnan(result.metrics["y_median"])


def probe_intensities(pair, probes: pd.DataFrame) -> pd.DataFrame:
    """Design, colour and both beads' Red and Grn intensities of every probe, by probe_id."""
    found = channels.measure(pair, probes).probe
    return pd.DataFrame({"design": probes["design"].to_numpy(), "channel": probes["channel"].to_numpy(),
                         "red_a": found.red_a, "green_a": found.green_a, "red_b": found.red_b,
                         "green_b": found.green_b}, index=found.layout.index)


def test_raw_method_gives_raw_betas(array):
    manifest, basenames = array
    result = preprocess_sample(basenames[1], manifest, PreprocessSettings(method="raw", mask_failed=False))
    pair = idat.read_idat_pair(basenames[1])
    found = probe_intensities(pair, manifest.probes)
    cpg = manifest.probes["probe_id"].iloc[0]
    row = found.loc[cpg]
    if row["design"] == "II":
        methylated, unmethylated = row["green_a"], row["red_a"]
    else:
        own = "red" if row["channel"] == "Red" else "green"
        methylated, unmethylated = row[f"{own}_b"], row[f"{own}_a"]
    assert result.betas[cpg] == pytest.approx(methylated / (methylated + unmethylated + 100))


def test_settings_from_the_shipped_config(project_root):
    import yaml

    section = yaml.safe_load((project_root / "config" / "config.yaml").read_text())["preprocess"]
    settings = PreprocessSettings.from_config(section)
    assert settings.masks.is_empty and settings.bmiq is False
    assert PreprocessSettings.from_config({}) == PreprocessSettings()
    chosen = PreprocessSettings.from_config({"masks": {"sources": ["Zhou_etal_2016"], "reasons": ["Polymorphism"]},
                                             "bmiq": True})
    assert chosen.masks.sources == ("Zhou_etal_2016",) and chosen.masks.uses_vendored and chosen.bmiq


def test_inferred_channels_undo_a_manifest_that_names_the_wrong_colour(array):
    manifest, basenames = array
    probes = manifest.probes.copy()
    type_one = np.flatnonzero(probes["channel"].isin(["Red", "Grn"]).to_numpy() &
                              ~probes["probe_id"].str.startswith("rs").to_numpy())[:60]
    probes.loc[probes.index[type_one], "channel"] = probes["channel"].iloc[type_one].map({"Red": "Grn", "Grn": "Red"})
    wrong = Manifest(probes, manifest.controls, manifest.source)
    truth = preprocess_sample(basenames[0], manifest, PreprocessSettings())
    misread = preprocess_sample(basenames[0], wrong, PreprocessSettings())
    inferred = preprocess_sample(basenames[0], wrong, PreprocessSettings(infer_channels=True))
    flipped = probes["probe_id"].iloc[type_one]
    assert truth.metrics["n_channel_switched"] == 0 and misread.metrics["n_channel_switched"] == 0
    assert inferred.metrics["n_channel_switched"] == len(flipped)
    # Read in the wrong colour, a probe sees background only and fails detection; inferred, it is whole again.
    assert misread.betas[flipped].isna().mean() > 0.9
    measured = truth.betas[flipped].notna()
    assert inferred.betas[flipped][measured].notna().all()
    assert (inferred.betas[flipped] - truth.betas[flipped]).abs().max() < 0.02
