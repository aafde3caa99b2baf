"""Agreement on files published by others (../shared/data/real; provenance in its README).

Each test compares the project with something it did not write: an independent IDAT reader's
output, a peer package's published clock ages, or a manifest's addresses applied by hand.
"""

from __future__ import annotations

import gzip
import math
import shutil

import numpy as np
import pandas as pd
import pytest

from epiclock.clocks import predict, registry
from epiclock.io import idat, manifest
from epiclock.preprocess import noob, pipeline

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def real_dir(shared_dir):
    return shared_dir / "data" / "real"


# --- IDAT reader against illuminaio ----------------------------------------------------------------


@pytest.mark.parametrize("compressed", [True, False], ids=["gzipped", "plain"])
def test_idat_reader_equals_illuminaio(real_dir, tmp_path, compressed):
    """Every address, mean, SD and bead count of a real IDAT (HumanCNV370, 381,079 addresses) equals
    illuminaio::readIDAT()'s parse of the same file. All are integers on disk: exact equality."""
    published = real_dir / "idat" / "genotyping" / "4019585376_B_Red.idat.gz"
    path = tmp_path / "4019585376_B_Red.idat"
    if compressed:
        path = path.with_suffix(".idat.gz")
        shutil.copyfile(published, path)
    else:
        path.write_bytes(gzip.decompress(published.read_bytes()))
    parsed = idat.read_idat(path)
    illuminaio = pd.read_csv(real_dir / "idat" / "genotyping" / "4019585376_B_Red.illuminaio_readIDAT.csv.gz")

    assert parsed.probe_count == len(illuminaio) == 381_079
    np.testing.assert_array_equal(parsed.addresses, illuminaio["address"].to_numpy())
    np.testing.assert_array_equal(parsed.means, illuminaio["mean"].to_numpy())
    np.testing.assert_array_equal(parsed.sds, illuminaio["sd"].to_numpy())
    np.testing.assert_array_equal(parsed.bead_counts, illuminaio["nbeads"].to_numpy())


# --- Horvath (2013) against methylclock ------------------------------------------------------------


def _three_significant_figures(value: float) -> float:
    return round(value, 2 - math.floor(math.log10(abs(value))))


def test_horvath_2013_on_example55_equals_methylclock(real_dir):
    """Horvath's own tutorial betas (16 occipital-cortex samples, HM27): every age rounded to 3
    significant figures equals methylclock 0.8.3's published Horvath age (its vignette prints 3).

    No normalisation on either side; all 353 clock CpGs are measured, so no imputation either.
    """
    example = real_dir / "betas" / "horvath_example55"
    betas = pd.read_csv(example / "MethylationDataExample55.csv.gz", index_col=0)
    published = pd.read_csv(example / "methylclock_v0.8.3_example55_Horvath_BNN.csv", index_col="sample")

    predicted = predict.predict(betas, [registry.get("horvath2013")], imputation="none", min_coverage=1.0)
    ages = predicted.set_index("sample_id")["dnam_age"]
    assert (predicted["n_cpgs_imputed"] == 0).all()
    assert sorted(ages.index) == sorted(published.index)
    rounded = ages.map(_three_significant_figures)
    pd.testing.assert_series_equal(rounded.loc[published.index], published["methylclock_Horvath"],
                                   check_names=False, rtol=0, atol=1e-9)


# --- the real HM27 arrays --------------------------------------------------------------------------


HM27_SAMPLES = ("4207113116_A", "4207113116_B")


@pytest.fixture(scope="module")
def hm27_index(real_dir):
    return manifest.parse_manifest(real_dir / "manifest" / "HM27.ordering.tsv.gz")


@pytest.mark.parametrize("sample", HM27_SAMPLES)
def test_hm27_raw_betas_equal_the_manifest_applied_by_hand(real_dir, hm27_index, sample):
    """Raw betas of a real HM27 array equal M / (M + U + offset) looked up address by address in
    the InfiniumAnnotation index read as plain text (col G: both alleles in Grn, R: in Red, 2: U's
    address, Grn methylated and Red unmethylated), not through the project's parser."""
    basename = real_dir / "idat" / "hm27" / sample
    offset = 100.0
    result = pipeline.preprocess_sample(
        str(basename), hm27_index,
        pipeline.PreprocessSettings(method="raw", detection="poobah", offset=offset, mask_failed=False))

    index = pd.read_csv(real_dir / "manifest" / "HM27.ordering.tsv.gz", sep="\t", dtype={"M": "Int64", "U": "Int64"})
    index = index.loc[~index["Probe_ID"].str.startswith("ctl")]
    green, red = (idat.read_idat(f"{basename}_{colour}.idat") for colour in ("Grn", "Red"))
    green_at = dict(zip(green.addresses.tolist(), green.means.astype(float).tolist()))
    red_at = dict(zip(red.addresses.tolist(), red.means.astype(float).tolist()))
    expected = {}
    for probe_id, methylated_address, unmethylated_address, col in index.itertuples(index=False):
        if col == "G":
            methylated, unmethylated = green_at[methylated_address], green_at[unmethylated_address]
        elif col == "R":
            methylated, unmethylated = red_at[methylated_address], red_at[unmethylated_address]
        else:
            methylated, unmethylated = green_at[unmethylated_address], red_at[unmethylated_address]
        expected[probe_id] = methylated / (methylated + unmethylated + offset)
    expected = pd.Series(expected)
    assert len(expected) == 27_578
    observed = result.betas.reindex(expected.index)
    # Intensities are 16-bit integers; the one division is the only rounding on either side.
    np.testing.assert_allclose(observed.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("sample", HM27_SAMPLES)
def test_hm27_with_an_index_without_named_controls_runs_and_says_what_it_did_not_check(real_dir, hm27_index, sample):
    """pOOBAH detection and the non-linear dye-bias correction need no named controls."""
    settings = pipeline.PreprocessSettings(detection="poobah", dye_method="nonlinear")
    result = pipeline.preprocess_sample(str(real_dir / "idat" / "hm27" / sample), hm27_index, settings)
    assert result.metrics["n_addresses"] == 55_300
    assert result.metrics["detection_call_rate"] > 0.9
    assert result.betas.between(0, 1).sum() == result.betas.notna().sum() > 26_000
    assert result.control_metrics["passed"].isna().all()
    assert result.metrics["control_notes"] == "no control metric checked: the manifest names none of the controls they need"


@pytest.mark.parametrize("sample", HM27_SAMPLES)
def test_hm27_nonlinear_dye_bias_needs_no_controls_and_aligns_the_channels(real_dir, hm27_index, sample):
    """SeSAMe's dyeBiasNL maps both channels' type-I in-band intensities onto their mid-point quantile
    function. On these arrays Grn reads 1.6 to 4 times Red before (10th, 50th, 90th percentiles);
    after, the two agree within 1% at each."""
    pair = idat.read_idat_pair(real_dir / "idat" / "hm27" / sample)
    probes = hm27_index.probes.set_index("probe_id")
    percentiles = [10, 50, 90]

    def ratios(dye_method: str) -> np.ndarray:
        signals = noob.noob(pair, hm27_index.probes, None, dye_method=dye_method).signals
        red = signals.loc[probes.index[probes["channel"] == "Red"]].to_numpy().ravel()
        green = signals.loc[probes.index[probes["channel"] == "Grn"]].to_numpy().ravel()
        return np.percentile(red, percentiles) / np.percentile(green, percentiles)

    assert (ratios("none") < 0.7).all()
    np.testing.assert_allclose(ratios("nonlinear"), 1.0, rtol=0.01)
