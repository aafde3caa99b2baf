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

from epiclock.clocks import registry
from epiclock.io import idat

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

    predicted = registry.get("horvath2013").predict(betas, imputation="none", min_coverage=1.0)
    ages = predicted.set_index("sample_id")["dnam_age"]
    assert (predicted["n_cpgs_imputed"] == 0).all()
    assert sorted(ages.index) == sorted(published.index)
    rounded = ages.map(_three_significant_figures)
    pd.testing.assert_series_equal(rounded.loc[published.index], published["methylclock_Horvath"],
                                   check_names=False, rtol=0, atol=1e-9)
