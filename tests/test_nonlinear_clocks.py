"""The clocks that are not linear models on betas (MiAge), against biolearn 0.9.1's own output
(tests/fixtures/biolearn/models_*, written once by make_fixtures.py) and against their definitions."""

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


def _compared(root, name):
    betas, expected = _fixture(root)
    predicted = _predict(betas, name, imputation="none", min_coverage=1.0)
    merged = expected[expected["clock"] == name].merge(predicted, on=["sample_id", "clock"], validate="one_to_one")
    assert len(merged) == betas.shape[1] and (merged["status"] == "ok").all()
    return betas, merged


def _miage_betas(divisions, noise=0.0, seed=0):
    """Betas on MiAge's own curves c + d b^(n - 1) at the given numbers of divisions (CpG x sample)."""
    model = clocks_registry.get("miage2018").model
    divisions = np.asarray(divisions, dtype=float)
    curves = model.c[:, None] + model.d[:, None] * model.b[:, None] ** (divisions[None, :] - 1)
    curves += np.random.default_rng(seed).normal(0, noise, curves.shape)
    return pd.DataFrame(curves, index=pd.Index(model.feature_names_in_, name="cpg_id"),
                        columns=[f"S{i}" for i in range(len(divisions))])


def _predict(betas, name="miage2018", **settings):
    return predict.predict(betas, [clocks_registry.get(name)], **settings)


def test_miage_agrees_with_biolearn_and_is_as_good_a_minimum(project_root):
    betas, merged = _compared(project_root, "miage2018")
    ours, theirs = merged["dnam_age"].to_numpy(), merged["prediction"].to_numpy()
    # Measured: at most 3.4e-6 divisions apart (3.7e-9 of n) on the fixture's 64 to 5,900 divisions.
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
