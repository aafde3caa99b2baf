"""The clocks that are not linear models on betas (MiAge, GP-age, AltumAge), against biolearn 0.9.1's
own output (tests/fixtures/biolearn/models_*, written once by make_fixtures.py), the GP-age authors'
published demo output (tests/fixtures/gp_age) and their definitions."""

import functools

import numpy as np
import pandas as pd
import pytest

from epiclock import EpiclockError
from epiclock.clocks import predict
from epiclock.clocks import miage as clocks_miage
from epiclock.clocks import registry as clocks_registry

FIXTURES = "tests/fixtures/biolearn"
# biolearn stops scipy's bounded Brent search when the bracket is within 2 * (sqrt(eps) |n| + xatol / 3)
# of n (xatol 1e-8): its answer is that close to the minimum, ours is converged to 1e-13 of n.
BRENT_RELATIVE_TOLERANCE = 2 * np.sqrt(np.finfo(float).eps)


@functools.lru_cache(maxsize=1)
def _fixture(root):
    betas = pd.read_csv(root / FIXTURES / "models_betas.tsv.gz", sep="\t", index_col="cpg_id")
    expected = pd.read_csv(root / FIXTURES / "models_predictions.tsv", sep="\t")
    return betas, expected


def _compared(root, name, dropped=False):
    """biolearn's and our predictions side by side; ``dropped``: on the fixture's matrix without the
    CpGs biolearn's run left out (each tool then fills them its own way, from the same values)."""
    betas, expected = _fixture(root)
    rows = expected[(expected["clock"] == name) & ((expected["input"] != "complete") == dropped)]
    if dropped:
        kept = betas.index.difference(_dropped_cpgs())
        predicted = _predict(betas.loc[kept], name, imputation="reference", min_coverage=0.5)
    else:
        predicted = _predict(betas, name, imputation="none", min_coverage=1.0)
    merged = rows.merge(predicted, on=["sample_id", "clock"], validate="one_to_one")
    assert len(merged) == betas.shape[1] and merged["status"].str.startswith("ok").all()
    return betas, merged


def _miage_betas(divisions, noise=0.0, seed=0):
    """Betas on MiAge's own curves c + d b^(n - 1) at the given numbers of divisions (CpG x sample)."""
    model = clocks_registry.get("miage2018").model
    divisions = np.asarray(divisions, dtype=float)
    curves = model.c[:, None] + model.d[:, None] * model.b[:, None] ** (divisions[None, :] - 1)
    curves += np.random.default_rng(seed).normal(0, noise, curves.shape)
    return pd.DataFrame(curves, index=pd.Index(model.feature_names_in_, name="cpg_id"),
                        columns=[f"S{i}" for i in range(len(divisions))])


GP_AGE = ["gp_age10_2023", "gp_age30_2023", "gp_age71_2023", "gp_age_a_2023", "gp_age_b_2023", "gp_age_c_2023"]
# make_fixtures.py's DROP_EVERY: every 7th CpG (in ID order) of the GP-age and AltumAge models is
# absent from the fixture's second run.
DROP_EVERY = 7


def _dropped_cpgs():
    ids = set().union(*(clocks_registry.get(name).cpg_ids for name in GP_AGE + ["altumage2022"]))
    return sorted(ids)[::DROP_EVERY]


def _n_dropped(name, dropped):
    """How many of the clock's CpGs the fixture's second run leaves out (0 for the complete run)."""
    return len(set(clocks_registry.get(name).cpg_ids) & set(_dropped_cpgs())) if dropped else 0


def _predict(betas, name="miage2018", **settings):
    return predict.predict(betas, [clocks_registry.get(name)], **settings)


def test_miage_agrees_with_biolearn_and_is_as_good_a_minimum(project_root):
    betas, merged = _compared(project_root, "miage2018")
    ours, theirs = merged["dnam_age"].to_numpy(), merged["prediction"].to_numpy()
    # Measured: at most 1.6e-5 divisions apart (1.4e-8 of n) on the fixture's 60 to 6,000 divisions.
    assert np.all(np.abs(ours - theirs) <= BRENT_RELATIVE_TOLERANCE * theirs)
    model = clocks_registry.get("miage2018").model
    values = betas.loc[model.feature_names_in_, merged["sample_id"]].to_numpy().T
    # Ours is at least as good a minimum of the same objective (to the objective's rounding).
    assert np.all(model.objective(values, ours) <= model.objective(values, theirs) * (1 + 1e-12))


def test_miage_recovers_the_divisions_its_curves_were_drawn_at():
    divisions = np.array([12.0, 75.5, 640.0, 2500.0, 9876.0])
    predicted = _predict(_miage_betas(divisions))
    assert np.allclose(predicted["dnam_age"], divisions, rtol=1e-9, atol=0)


def test_miage_stops_at_its_bounds():
    # Curves drawn beyond the search interval: the best n in [10, 10000] is the bound itself.
    predicted = _predict(_miage_betas([2.0, 40_000.0]))
    assert predicted["dnam_age"].tolist() == [clocks_miage.MIN_DIVISIONS, clocks_miage.MAX_DIVISIONS]


def test_miage_of_a_sample_does_not_depend_on_the_batch():
    betas = _miage_betas(np.geomspace(20, 8000, 12), noise=0.03, seed=4)
    whole = _predict(betas)["dnam_age"].to_numpy()
    for start, stop in [(0, 1), (3, 4), (2, 9)]:
        part = _predict(betas.iloc[:, start:stop])["dnam_age"].to_numpy()
        assert np.allclose(part, whole[start:stop], rtol=1e-12, atol=0)


def test_miage_fills_unmeasured_cpgs_from_the_reference_and_says_so():
    betas = _miage_betas([300.0, 3000.0], noise=0.02, seed=5)
    betas.iloc[:10, 0] = np.nan
    predicted = _predict(betas, imputation="reference")
    assert np.isfinite(predicted["dnam_age"]).all()
    assert predicted["status"].tolist() == ["ok (10 CpGs imputed from reference medians)", "ok"]
    without = _predict(betas, imputation="none")
    assert np.isnan(without["dnam_age"].iloc[0]) and without["dnam_age"].iloc[1] == predicted["dnam_age"].iloc[1]


def test_miage_is_listed_as_a_mitotic_in_vitro_clock_counting_divisions():
    table = clocks_registry.describe().set_index("name")
    row = table.loc["miage2018"]
    assert (row["unit"], row["output_kind"], row["direction"], row["cpgs"]) == ("divisions", "divisions", "higher = older", 268)
    assert row["doi"] == "10.1080/15592294.2017.1389361" and row["licence"]
    assert {"miage2018"} <= set(clocks_registry.panel("mitotic")) & set(clocks_registry.panel("in_vitro"))
    assert "miage2018" in clocks_registry.expand_names(["in_vitro"])


@pytest.mark.parametrize("field,value,message", [("unit", "years", "does not fit model 'miage'"),
                                                 ("coefficients", None, "missing field")])
def test_a_nonlinear_clock_entry_is_checked(monkeypatch, field, value, message):
    entry = dict(clocks_registry._registry()["miage2018"])
    if value is None:
        del entry[field]
    else:
        entry[field] = value
    monkeypatch.setitem(clocks_registry._registry(), "broken_miage", entry)
    with pytest.raises(EpiclockError, match=message):
        clocks_registry.get("broken_miage")


@pytest.mark.parametrize("name", GP_AGE)
@pytest.mark.parametrize("dropped", [False, True], ids=["complete", "dropped_cpgs"])
def test_gp_age_equals_biolearn(project_root, name, dropped):
    # dropped: biolearn (like the authors' predict_age.py) fills an unmeasured CpG with the training
    # samples' mean; so does the clock's imputation reference.
    _, merged = _compared(project_root, name, dropped)
    # Measured: at most 5.7e-11 years apart, complete or not (each tool within rounding of the formula:
    # ours within 2e-11 years of it evaluated in 80-bit arithmetic, bench/gp_age.py --accuracy).
    assert (merged["n_cpgs_imputed"] == _n_dropped(name, dropped)).all()
    assert np.abs(merged["dnam_age"] - merged["prediction"]).max() < 1e-6


def test_gp_age30_reproduces_the_authors_published_demo(project_root):
    # mirivar/GP-age's demo/meth_test.csv and the predictions its README's demo printed, 3 decimals.
    betas = pd.read_csv(project_root / "tests/fixtures/gp_age/meth_test.csv", index_col="ID")
    published = pd.read_csv(project_root / "tests/fixtures/gp_age/GP-age_30_cpgs_predictions.csv", index_col="sample")
    predicted = _predict(betas, "gp_age30_2023", imputation="none", min_coverage=1.0).set_index("sample_id")
    assert np.abs(predicted["dnam_age"] - published["predictions"]).max() <= 0.0005 + 1e-9


@pytest.mark.parametrize("dropped", [False, True], ids=["complete", "dropped_cpgs"])
def test_altumage_agrees_with_biolearns_float32_network(project_root, dropped):
    # biolearn runs the network in torch float32, ours in float64: measured at most 3.1e-5 years apart
    # (complete; 7.5e-6 with dropped CpGs) on the fixture; 1e-3 years bounds float32's rounding
    # through 20,318 inputs and 6 layers.
    # dropped: biolearn's 'altumage_center' imputation and the clock's reference, both AltumAge's centres.
    _, merged = _compared(project_root, "altumage2022", dropped)
    assert (merged["n_cpgs_imputed"] == _n_dropped("altumage2022", dropped)).all()
    assert np.abs(merged["dnam_age"] - merged["prediction"]).max() < 1e-3


@pytest.mark.parametrize("name", ["gp_age71_2023", "altumage2022"])
def test_a_matrix_product_model_does_not_depend_on_the_batch_beyond_rounding(project_root, name):
    # GP-age's kernel and AltumAge's layers are BLAS matrix products, which may block their sums by the
    # batch's shape: equal to rounding (relative 1e-12 bounds a few ulps over thousands of terms), not bitwise.
    betas, _ = _fixture(project_root)
    whole = _predict(betas, name)["dnam_age"].to_numpy()
    for start, stop in [(0, 1), (2, 7)]:
        part = _predict(betas.iloc[:, start:stop], name)["dnam_age"].to_numpy()
        assert np.allclose(part, whole[start:stop], rtol=1e-12, atol=0)


def test_altumage_is_a_network_not_a_linear_model(project_root):
    # Halving every deviation from the centres does not halve the age's deviation: the SELU layers bend it.
    clock = clocks_registry.get("altumage2022")
    betas, _ = _fixture(project_root)
    centres = pd.Series(clock.model.center, index=clock.cpg_ids)
    full = betas.loc[clock.cpg_ids]
    half = full.sub(centres, axis=0) * 0.5 + centres.to_numpy()[:, None]
    at_centre = pd.DataFrame({"C": centres})
    ages = [_predict(frame, "altumage2022")["dnam_age"].to_numpy() for frame in (full, half, at_centre)]
    linear_guess = (ages[0] + ages[2][0]) / 2
    assert np.abs(ages[1] - linear_guess).max() > 0.1


def test_the_new_clocks_are_listed_with_how_to_read_them():
    table = clocks_registry.describe().set_index("name")
    for name in GP_AGE + ["altumage2022"]:
        row = table.loc[name]
        assert (row["unit"], row["output_kind"], row["direction"]) == ("years", "age", "higher = older")
        assert row["doi"].startswith("10.") and row["licence"] and row["citation"]
    assert set(GP_AGE) <= set(clocks_registry.panel("blood"))
    assert table.loc[GP_AGE, "restricted"].all()   # Yissum research licence
    assert table.loc["gp_age71_2023", "cpgs"] == 71 and table.loc["altumage2022", "cpgs"] == 20318
    assert not table.loc["altumage2022", "restricted"]


def test_a_model_computes_only_the_rows_its_caller_counts_complete():
    # clocks.predict passes the samples with every feature measured or imputed, and the model skips its
    # own look for NaN; the others get NaN, and the rows computed are those it computes alone.
    model = clocks_registry.get("miage2018").model
    values = _miage_betas([50.0, 500.0, 5000.0], noise=0.02).to_numpy().T
    everything = model.predict_array(values)
    told = model.predict_array(values, np.array([0, 2]))
    assert np.isnan(told[1]) and np.array_equal(told[[0, 2]], everything[[0, 2]])
