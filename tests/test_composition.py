"""Cell-composition estimates against EpiDISH's own output, and their properties.

tests/fixtures/epidish/ was written by EpiDISH itself: tools/epidish_reference_output.R sourced
EpiDISH 2.15.1's R/epidish.R (public repository sjczheng/EpiDISH) in R 4.2.2 with MASS 7.3-58.2 and
quadprog 1.5-8 (versions.txt there), on mixtures of two vendored references with planted fractions,
noise, gross outliers, missing cell types and unexplained signal.
"""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from epiclock import composition
from epiclock.config import validate
from epiclock.errors import EpiclockError

FIXTURES = Path(__file__).parent / "fixtures" / "epidish"
REFERENCES = ["epidish_epi_fib_ic", "salas2022_blood12_epic"]


def fixture(name: str, what: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"{name}_{what}.tsv", sep="\t", index_col=0)


@pytest.mark.parametrize("method", composition.METHODS)
@pytest.mark.parametrize("name", REFERENCES)
def test_fractions_agree_with_epidish(name, method):
    """Same fractions as EpiDISH's epidish(method = 'RPC' / 'CP') to 1e-9 (the two solve the same
    problems with different linear algebra: QR in R, normal equations and an active set here)."""
    betas = fixture(name, "betas")
    expected = fixture(name, method)
    fractions, n_cpgs = composition.estimate(betas, composition.load(name), method)
    assert list(fractions.columns) == list(expected.columns)
    np.testing.assert_allclose(fractions.loc[expected.index].to_numpy(), expected.to_numpy(), rtol=0, atol=1e-9)
    assert (n_cpgs == len(betas)).all()


@pytest.mark.parametrize("name", REFERENCES)
def test_fractions_near_the_planted_ones(name):
    """RPC rescales to sum 1, so it is compared with the planted fractions rescaled likewise; CP
    keeps the planted shortfall below 1. Mean absolute errors within 0.03 at noise SD 0.03."""
    betas, planted = fixture(name, "betas"), fixture(name, "planted")
    rpc, _ = composition.estimate(betas, composition.load(name), "rpc")
    cp, _ = composition.estimate(betas, composition.load(name), "cp")
    rescaled = planted.div(planted.sum(axis=1), axis=0)
    assert np.abs(rpc.to_numpy() - rescaled.to_numpy()).mean() < 0.03
    assert np.abs(cp.to_numpy() - planted.to_numpy()).mean() < 0.03
    np.testing.assert_allclose(rpc.sum(axis=1), 1.0, atol=1e-12)
    assert (cp.to_numpy() >= 0).all() and (cp.sum(axis=1) <= 1 + 1e-12).all()


@pytest.mark.parametrize("method", composition.METHODS)
def test_a_missing_cpg_is_left_out_of_that_sample_only(method):
    """A sample with unmeasured CpGs gets what it would get from a matrix without those rows,
    and the other samples are unaffected (to 1e-10)."""
    name = "epidish_epi_fib_ic"
    betas, reference = fixture(name, "betas"), composition.load(name)
    holed = betas.copy()
    lost = betas.index[::7]
    holed.loc[lost, "S03"] = np.nan
    fractions, n_cpgs = composition.estimate(holed, reference, method)
    alone, _ = composition.estimate(betas.drop(index=lost)[["S03"]], reference, method)
    whole, _ = composition.estimate(betas, reference, method)
    np.testing.assert_allclose(fractions.loc["S03"], alone.loc["S03"], rtol=0, atol=1e-10)
    others = betas.columns.drop("S03")
    np.testing.assert_allclose(fractions.loc[others], whole.loc[others], rtol=0, atol=1e-10)
    assert n_cpgs["S03"] == len(betas) - len(lost)


@pytest.mark.parametrize("method", composition.METHODS)
@pytest.mark.parametrize("name", REFERENCES)
def test_a_sample_s_fractions_depend_on_the_batch_only_through_rounding(name, method):
    """The fixture's samples alone, and among 2 to 1,030 neighbours (more than one IRLS block),
    some of which miss CpGs: the same fractions to 1e-10 (observed at most 1.3e-13; batched BLAS
    products round by the batch's shape, so bitwise equality is not promised)."""
    betas, reference = fixture(name, "betas"), composition.load(name)
    alone = pd.concat([composition.estimate(betas[[sample]], reference, method)[0] for sample in betas.columns])
    rng = np.random.default_rng(3)
    picks = rng.integers(0, betas.shape[1], 1100)
    noisy = np.clip(betas.to_numpy()[:, picks] + rng.normal(0, 0.03, (len(betas), len(picks))), 0, 1)
    holed = rng.random(noisy.shape) < 0.02
    holed[:, :600] = False  # neighbours 0-599 measure every CpG, 600 on miss about 2% each
    noisy[holed] = np.nan
    neighbours = pd.DataFrame(noisy, index=betas.index, columns=[f"N{i}" for i in range(len(picks))])
    for size in (2, 7, 100, 1030):
        batch = pd.concat([neighbours.iloc[:, 600 - size // 2:600 + size // 2], betas], axis=1)
        fractions, _ = composition.estimate(batch, reference, method)
        np.testing.assert_allclose(fractions.loc[betas.columns].to_numpy(), alone.to_numpy(), rtol=0, atol=1e-10,
                                   err_msg=f"{size} neighbours")


def test_a_sample_measuring_too_few_cpgs_gets_no_fractions():
    name = "epidish_epi_fib_ic"
    betas = fixture(name, "betas")
    betas.iloc[: len(betas) // 2, 0] = np.nan
    fractions, n_cpgs = composition.estimate(betas, composition.load(name), "rpc")
    assert fractions.iloc[0].isna().all() and fractions.iloc[1:].notna().all().all()
    assert n_cpgs.iloc[0] == len(betas) - len(betas) // 2


def test_exact_mixture_without_noise_is_recovered():
    """Betas that are exactly a mixture of the profiles give back the mixture (CP) and its
    rescaling to sum 1 (RPC), to 1e-8."""
    reference = composition.load("epidish_epi_fib_fat_ic")
    planted = np.array([[0.5, 0.3, 0.15, 0.05], [0.0, 0.6, 0.0, 0.3]])
    betas = pd.DataFrame(reference.to_numpy() @ planted.T, index=reference.index, columns=["A", "B"])
    cp, _ = composition.estimate(betas, reference, "cp")
    np.testing.assert_allclose(cp.to_numpy(), planted, atol=1e-8)
    rpc, _ = composition.estimate(betas, reference, "rpc")
    np.testing.assert_allclose(rpc.to_numpy(), planted / planted.sum(axis=1, keepdims=True), atol=1e-8)


def test_vendored_references_match_their_provenance():
    table = composition.provenance()
    directory = Path(composition.references.__file__).parents[1] / "data" / "composition"
    assert sorted(table["file"]) == sorted(path.name for path in directory.glob("*.tsv") if path.name != "provenance.tsv")
    for row in table.itertuples():
        assert hashlib.sha256((directory / row.file).read_bytes()).hexdigest() == row.sha256
        assert row.doi.startswith("10.") and row.source_version and row.source_sha256
    assert table.loc[table["file"].str.startswith("epidish"), "source_package"].str.contains("GPL-2").all()
    shapes = {name: composition.load(name).shape for name in composition.available()}
    assert shapes == {"epidish_epi_fib_ic": (716, 3), "epidish_epi_fib_fat_ic": (491, 4),
                      "salas2022_blood12_epic": (240, 12), "reinius2012_blood6_450k": (600, 6)}


def test_unknown_reference_or_method_names_the_choices():
    with pytest.raises(EpiclockError, match="available: epidish_epi_fib_ic"):
        composition.load("skin")
    with pytest.raises(EpiclockError, match="choose one of rpc, cp"):
        composition.estimate(fixture("epidish_epi_fib_ic", "betas"), composition.load("epidish_epi_fib_ic"), "cbs")


def test_tidy_table_and_covariates():
    betas = fixture("epidish_epi_fib_ic", "betas")
    table = composition.composition_table(betas, ["epidish_epi_fib_ic", "epidish_epi_fib_fat_ic"], "rpc")
    assert list(table.columns) == composition.table.COLUMNS
    assert len(table) == betas.shape[1] * (3 + 4)
    rpc, _ = composition.estimate(betas, composition.load("epidish_epi_fib_ic"), "rpc")
    chosen = composition.covariates(table, ["Fat", "epidish_epi_fib_ic:Fib"])
    # a copy of the estimate: bitwise the same numbers
    pd.testing.assert_series_equal(chosen.loc[rpc.index, "epidish_epi_fib_ic:Fib"], rpc["Fib"], check_names=False,
                                   check_index_type=False, rtol=0, atol=0)
    # the fixture measures too few of the fat reference's CpGs: missing, not zero
    assert chosen["Fat"].isna().all() and table.loc[table["reference"] == "epidish_epi_fib_fat_ic", "n_cpgs"].lt(0.8 * 491).all()
    with pytest.raises(EpiclockError, match="name it as reference:cell_type"):
        composition.covariates(table, ["Fib"])
    with pytest.raises(EpiclockError, match="not a cell type .* they have Epi, Fat, Fib, IC"):
        composition.covariates(table, ["Neu"])
    assert composition.references.resolve_cell_type("Fat", ["epidish_epi_fib_ic", "epidish_epi_fib_fat_ic"]) == (
        "epidish_epi_fib_fat_ic", "Fat")
    with pytest.raises(EpiclockError, match=r"composition.references: none\); they have none"):
        composition.references.resolve_cell_type("Fib", [])


def test_fraction_contrasts_pair_donor_means():
    """The fraction's difference per donor (means over replicates, treated minus reference), tested
    across donors: estimate = mean of the donor differences, as for the clocks."""
    from epiclock import deltas
    from epiclock.deltas import fractions as deltas_fractions

    rows, values = [], []
    differences = {"D1": 0.05, "D2": 0.02, "D3": 0.04, "D4": 0.01}
    for donor, difference in differences.items():
        for condition, shift in (("control", 0.0), ("treated", difference)):
            for replicate, noise in ((1, -0.01), (2, 0.01)):
                sample = f"{donor}_{condition}_{replicate}"
                rows.append({"sample_id": sample, "donor": donor, "donor_age": 40.0, "condition": condition,
                             "treatment": condition})
                values.append({"sample_id": sample, "reference": "r", "cell_type": "Fib", "fraction": 0.3 + shift + noise})
    design = deltas.Design.from_config(validate({"samples": "s.tsv", "input": {"type": "betas"},
                                                 "design": {"factors": ["treatment"], "chip_column": ""}})["design"])
    contrast = deltas.Contrast("treated_vs_control", {"treatment": "treated"}, {"treatment": "control"})
    table = deltas_fractions.fraction_contrasts(pd.DataFrame(values), pd.DataFrame(rows), [contrast], design)
    row = table.iloc[0]
    assert row["n_donors"] == 4 and row["cell_type"] == "Fib"
    assert row["estimate"] == pytest.approx(np.mean(list(differences.values())), abs=1e-12)
    from scipy import stats
    assert row["p_value"] == pytest.approx(stats.ttest_1samp(list(differences.values()), 0).pvalue, rel=1e-9)
