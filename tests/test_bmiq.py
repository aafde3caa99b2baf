import numpy as np
import pandas as pd
import pytest

from epiclock.errors import EpiclockError
from epiclock.preprocess import bmiq


def simulated_sample(seed=0, n_one=6000, n_two=12000):
    """Type-I betas from a clean 3-state mixture; type-II from a compressed version of it."""
    rng = np.random.default_rng(seed)

    def mixture(n, low, mid, high):
        state = rng.choice(3, n, p=[0.35, 0.15, 0.5])
        params = np.array([low, mid, high])
        return rng.beta(params[state, 0], params[state, 1])

    one = mixture(n_one, (2, 40), (8, 8), (40, 3))
    two = mixture(n_two, (4, 30), (8, 8), (25, 4))
    ids = [f"cg{i:06d}" for i in range(n_one + n_two)]
    betas = pd.Series(np.concatenate([one, two]), index=ids, name="S1")
    design = pd.Series(["I"] * n_one + ["II"] * n_two, index=ids)
    return betas, design


def test_beta_mixture_recovers_its_states():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.beta(2, 30, 4000), rng.beta(30, 2, 4000)])
    weights = np.zeros((values.size, 2))
    weights[values <= 0.5, 0] = 1
    weights[values > 0.5, 1] = 1
    fit = bmiq.fit_beta_mixture(values, weights, max_iterations=10)
    assert fit["a"][0] == pytest.approx(2, rel=0.15) and fit["b"][0] == pytest.approx(30, rel=0.15)
    assert fit["mu"][1] == pytest.approx(30 / 32, abs=0.01)
    assert fit["eta"] == pytest.approx([0.5, 0.5], abs=0.01)


def test_density_mode():
    values = np.random.default_rng(1).normal(0.3, 0.02, 5000)
    assert bmiq.density_mode(values) == pytest.approx(0.3, abs=0.005)


def test_bmiq_brings_type_two_onto_type_one():
    betas, design = simulated_sample()
    normalised = bmiq.bmiq(betas, design, n_fit=5000)
    one, two = design == "I", design == "II"
    pd.testing.assert_series_equal(normalised[one], betas[one])
    # The unmethylated and methylated peaks of type II move to those of type I.
    low_before = np.median(betas[two][betas[two] < 0.3])
    low_after = np.median(normalised[two][normalised[two] < 0.3])
    low_target = np.median(betas[one][betas[one] < 0.3])
    assert abs(low_after - low_target) < abs(low_before - low_target) / 2
    high_target = np.median(betas[one][betas[one] > 0.7])
    assert abs(np.median(normalised[two][normalised[two] > 0.7]) - high_target) < abs(
        np.median(betas[two][betas[two] > 0.7]) - high_target)
    assert ((normalised >= 0) & (normalised <= 1)).all()
    # Order within type II is kept by the state-wise monotone maps.
    assert pd.Series(normalised[two].to_numpy()).corr(pd.Series(betas[two].to_numpy()), method="spearman") > 0.99
    # Same seed, same answer: no dependence on anything but the sample.
    pd.testing.assert_series_equal(normalised, bmiq.bmiq(betas, design, n_fit=5000))


def test_bmiq_keeps_missing_and_rejects_too_few():
    betas, design = simulated_sample(n_one=400, n_two=400)
    betas.iloc[[0, 500]] = np.nan
    normalised = bmiq.bmiq(betas, design)
    assert normalised.iloc[[0, 500]].isna().all() and normalised.notna().sum() == 798
    with pytest.raises(EpiclockError, match="sample S1"):
        bmiq.bmiq(betas.iloc[:150], design)


@pytest.mark.shared
def test_bmiq_agrees_with_watermelon(synthetic450k, synthetic_manifest):
    design = synthetic_manifest.probes.set_index("probe_id")["design"]
    sample = "999000000001_R01C01"
    noob_betas = pd.read_csv(synthetic450k / "minfi" / "noob_betas.tsv.gz", sep="\t", index_col="probe_id",
                             usecols=["probe_id", sample])[sample]
    expected = pd.read_csv(synthetic450k / "minfi" / "bmiq_on_noob_betas.tsv.gz", sep="\t", index_col="probe_id",
                           usecols=["probe_id", sample])[sample]
    ours = bmiq.bmiq(noob_betas, design).loc[expected.index]
    difference = np.abs(ours - expected)
    # Another random subsample than R's: agreement is close, not exact (observed max about 0.0012).
    assert difference.max() < 0.005
    assert difference.mean() < 0.002


def test_beta_upper_tail_equals_scipy_far_into_the_tail():
    from scipy import stats

    values = np.array([1e-9, 0.01, 0.2, 0.5, 0.9, 0.999, 1 - 1e-9])
    for a, b in ((2.3, 28.0), (30.0, 2.0), (0.8, 0.9)):
        np.testing.assert_allclose(bmiq._beta_upper_tail(values, a, b), stats.beta.sf(values, a, b), rtol=1e-9)
