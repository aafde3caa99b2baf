import dataclasses
import functools

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from sklearn.linear_model import LinearRegression

from epiclock import EpiclockError
from epiclock.clocks import predict
from epiclock.clocks import clock as clocks_clock
from epiclock.clocks import data as clocks_data
from epiclock.clocks import model as clocks_model
from epiclock.clocks import preprocessing as clocks_preprocessing
from epiclock.clocks import registry as clocks_registry
from epiclock.report import provenance

RNG = np.random.default_rng(3)
FIXTURES = "tests/fixtures/biolearn"


def _random_betas(cpg_ids, n_samples=4):
    return pd.DataFrame(RNG.uniform(0.05, 0.95, (len(cpg_ids), n_samples)), index=pd.Index(cpg_ids, name="cpg_id"),
                        columns=[f"S{i}" for i in range(n_samples)])


def test_anti_trafo_branches_follow_the_linear_predictor():
    # 21 * exp(x) - 1 below 0, 21 * x + 20 above: both branches meet at age 20.
    assert clocks_model.anti_trafo(0.0) == pytest.approx(20.0)
    assert clocks_model.anti_trafo(-1.0) == pytest.approx(21 * np.exp(-1) - 1)
    assert clocks_model.anti_trafo(1.0) == pytest.approx(41.0)
    assert clocks_model.anti_trafo(-800.0) == pytest.approx(-1.0)
    ages = np.array([0.0, 5.0, 19.9, 20.0, 45.0, 99.0])
    assert clocks_model.anti_trafo(clocks_model.trafo(ages)) == pytest.approx(ages)


@pytest.mark.parametrize("name,n_cpgs,intercept", [("horvath2013", 353, 0.695507258),
                                                   ("horvath_skin_blood2018", 391, -0.447119319)])
def test_shipped_clocks_have_their_published_size_and_intercept(name, n_cpgs, intercept):
    clock = clocks_registry.get(name)
    assert len(clock.cpg_ids) == n_cpgs
    assert clock.model.intercept_ == intercept
    assert clock.model.transform == "anti_trafo"
    assert clock.unit == "years"
    assert clock.doi.startswith("10.")


def test_prediction_equals_a_hand_computation_from_the_coefficient_file(project_root):
    table = pd.read_csv(project_root / "src/epiclock/data/clocks/horvath2013.tsv", sep="\t")
    betas = _random_betas(table["cpg_id"], 3)
    linear = 0.695507258 + (betas.loc[table["cpg_id"]].to_numpy().T * table["coefficient"].to_numpy()).sum(axis=1)
    expected = np.where(linear < 0, 21 * np.exp(linear) - 1, 21 * linear + 20)
    predicted = predict.predict(betas, [clocks_registry.get("horvath2013")])
    assert predicted["dnam_age"].to_numpy() == pytest.approx(expected, abs=1e-9)
    assert (predicted["n_cpgs_used"] == 353).all() and (predicted["status"] == "ok").all()


def test_missing_cpgs_are_imputed_from_reference_never_zero():
    clock = clocks_registry.get("horvath_skin_blood2018")
    betas = _random_betas(clock.cpg_ids, 2)
    dropped = clock.cpg_ids[:10]
    reference = clocks_data.reference_medians()
    filled = betas.copy()
    filled.loc[dropped] = reference.loc[dropped].to_numpy()[:, None]
    expected = predict.predict(filled, [clock])["dnam_age"].to_numpy()

    partial = betas.drop(index=dropped)
    result = predict.predict(partial, [clock], imputation="reference")
    assert result["dnam_age"].to_numpy() == pytest.approx(expected, abs=1e-9)
    assert (result["n_cpgs_imputed"] == 10).all() and (result["n_cpgs_missing"] == 10).all()
    assert result["status"].str.contains("10 CpGs imputed").all()

    zero_filled = betas.copy()
    zero_filled.loc[dropped] = 0.0
    assert not np.allclose(predict.predict(zero_filled, [clock])["dnam_age"], result["dnam_age"])


def test_no_imputation_gives_no_age_with_a_reason():
    clock = clocks_registry.get("horvath2013")
    betas = _random_betas(clock.cpg_ids, 2)
    betas.iloc[0, 0] = np.nan
    result = predict.predict(betas, [clock], imputation="none")
    assert np.isnan(result["dnam_age"].iloc[0]) and not np.isnan(result["dnam_age"].iloc[1])
    assert "imputation is 'none'" in result["status"].iloc[0]


def test_low_coverage_gives_no_age_with_a_reason():
    clock = clocks_registry.get("horvath2013")
    betas = _random_betas(clock.cpg_ids[:100], 2)
    result = predict.predict(betas, [clock], imputation="reference", min_coverage=0.8)
    assert result["dnam_age"].isna().all()
    assert result["status"].str.contains("100 of 353 CpGs measured, below the minimum coverage 0.8").all()


def test_a_samples_age_does_not_depend_on_the_other_samples():
    clock = clocks_registry.get("horvath_skin_blood2018")
    betas = _random_betas(clock.cpg_ids, 6)
    betas.iloc[:30, :] = np.nan   # the same CpGs missing in every sample: imputation must not look at the batch
    alone = predict.predict(betas[["S0"]], [clock])["dnam_age"].iloc[0]
    with_others = predict.predict(betas, [clock])["dnam_age"].iloc[0]
    with_different_others = predict.predict(pd.concat([betas[["S0"]], _random_betas(clock.cpg_ids, 3) * 0.2], axis=1), [clock])
    # Bitwise identity is the property: clocks_model.row_dot reduces each sample's row on its own.
    assert alone == with_others == with_different_others["dnam_age"].iloc[0]


@pytest.mark.parametrize("name", ["horvath2013", "phenoage2018", "zhang2019_en", "dunedinpace2022"])
def test_ages_are_bitwise_equal_across_batch_sizes_and_positions(name):
    clock = clocks_registry.get(name)
    needed = clock.required_cpgs if clock.required_cpgs is not None else pd.Index(clock.cpg_ids)
    filler = pd.Index([f"cg9{i:07d}" for i in range(25000)])   # enough probes for a per-sample standardisation (min_cpgs 20,000)
    betas = _random_betas(needed.union(filler), 40)
    whole = predict.predict(betas, [clock])["dnam_age"].to_numpy()
    for start, stop in [(0, 1), (5, 6), (3, 20), (17, 40)]:
        part = predict.predict(betas.iloc[:, start:stop], [clock])["dnam_age"].to_numpy()
        assert np.isfinite(part).all()
        assert np.array_equal(part, whole[start:stop]), (name, start, stop)


def test_clocks_predicted_together_give_each_clocks_own_bits():
    # One call gathers every clock's CpGs side by side and shares the per-sample statistics: each
    # clock's outputs, counts and statuses must still be those of the clock alone, to the bit, with
    # CpGs missing from the matrix and unmeasured values scattered over the samples.
    names = ["horvath2013", "hannum2013", "zhang2019_en", "dunedinpace2022", "stemtoc2024", "grimagev2_2022",
             "epitoc2_2020", "weidner2014", "miage2018"]
    clocks = clocks_registry.resolve(names)
    needed = pd.Index(sorted(set().union(*(clock.cpg_ids for clock in clocks))
                             | set(clocks_registry.get("dunedinpace2022").preprocessing.target.index)))
    betas = _random_betas(needed.union(pd.Index([f"cg9{i:07d}" for i in range(5000)])), 6)
    betas = betas.drop(index=clocks_registry.get("hannum2013").cpg_ids[:5])
    betas = betas.mask(np.random.default_rng(7).random(betas.shape) < 0.02)
    covariates = pd.DataFrame({"age": [50.0, 61.0, np.nan, 40.0, 33.0, 70.0], "female": [1.0, 0.0, 1.0, 1.0, 0.0, 0.0]},
                              index=betas.columns)
    together, details = predict.predict_with_details(betas, clocks, covariates=covariates)
    alone = [predict.predict_with_details(betas, [clock], covariates=covariates) for clock in clocks]
    pd.testing.assert_frame_equal(together, pd.concat([table for table, _ in alone], ignore_index=True), check_exact=True)
    pd.testing.assert_frame_equal(details, pd.concat([table for _, table in alone if len(table)], ignore_index=True),
                                  check_exact=True)
    assert together["n_cpgs_imputed"].gt(0).any() and together.groupby("clock")["dnam_age"].count().gt(0).all()


@pytest.mark.parametrize("imputation", ["reference", "none"])
def test_the_matrix_probe_order_and_the_clock_order_change_no_output(imputation):
    # predict reads the linear clocks' probes in two steps when their positions are not already in
    # one forward pass, and reads the other models' features straight into their batch: a matrix
    # whose probes are not in CpG ID order, with the clocks listed models first, must give each
    # clock's bits. (Zhang is left out: its sums over the whole row follow the matrix's order.)
    names = ["miage2018", "gp_age10_2023", "dunedinpace2022", "horvath2013", "hannum2013", "stemtoc2024",
             "grimagev2_2022", "weidner2014"]
    clocks = clocks_registry.resolve(names)
    needed = pd.Index(sorted(set().union(*(clock.cpg_ids for clock in clocks))
                             | set(clocks_registry.get("dunedinpace2022").preprocessing.target.index)))
    rng = np.random.default_rng(8)
    betas = _random_betas(needed, 18).drop(index=clocks_registry.get("hannum2013").cpg_ids[:5])
    betas = betas.mask(rng.random(betas.shape) < 0.002)
    covariates = pd.DataFrame({"age": np.linspace(30, 70, 18), "female": np.arange(18) % 2.0}, index=betas.columns)
    in_order = predict.predict_with_details(betas, clocks[::-1], imputation, covariates=covariates)
    shuffled = predict.predict_with_details(betas.iloc[rng.permutation(len(betas))], clocks, imputation,
                                            covariates=covariates)
    key = ["clock", "sample_id"]
    for expected, got in zip(in_order, shuffled):
        pd.testing.assert_frame_equal(got.sort_values(key, kind="stable").reset_index(drop=True),
                                      expected.sort_values(key, kind="stable").reset_index(drop=True), check_exact=True)
    ages = shuffled[0].groupby("clock")["dnam_age"].count()
    assert (ages.reindex(names) > 0).all() if imputation == "reference" else ages.sum() > 0


def test_models_called_on_several_batches_give_what_one_batch_gives(monkeypatch):
    # The models that are not linear read their features into a batch of MODEL_SAMPLES samples and
    # are called when it is full or the samples end: batches of 32 (two chunks each) over 75 samples,
    # the last batch partial, must give every output, count and status of one batch. MiAge and the
    # linear clocks bitwise; GP-age, a BLAS product, to 1e-12 relative (its tiles have fixed shapes).
    clocks = clocks_registry.resolve(["gp_age10_2023", "horvath2013", "miage2018", "weidner2014"])
    needed = pd.Index(sorted(set().union(*(clock.cpg_ids for clock in clocks))))
    betas = _random_betas(needed, 75)
    betas = betas.mask(np.random.default_rng(12).random(betas.shape) < 0.003)
    for imputation in ("reference", "none"):
        one_batch = predict.predict(betas, clocks, imputation)
        monkeypatch.setattr(predict, "MODEL_SAMPLES", 2 * predict.CHUNK_SAMPLES)
        batches = predict.predict(betas, clocks, imputation)
        monkeypatch.undo()
        pd.testing.assert_frame_equal(batches.drop(columns="dnam_age"), one_batch.drop(columns="dnam_age"),
                                      check_exact=True)
        exact = ~batches["clock"].str.startswith("gp_age")
        np.testing.assert_array_equal(batches["dnam_age"][exact], one_batch["dnam_age"][exact])
        np.testing.assert_allclose(batches["dnam_age"][~exact], one_batch["dnam_age"][~exact], rtol=1e-12)
        assert batches.groupby("clock")["dnam_age"].count().gt(0).all()


def test_unknown_clock_and_imputation_are_clear_errors():
    with pytest.raises(EpiclockError, match=r"unknown clock 'hannum'; did you mean hannum2013\? `epiclock clocks list` "
                                            r"shows the \d+ clocks \(panels: in_vitro, mitotic, blood, pace, all\)"):
        clocks_registry.get("hannum")
    with pytest.raises(EpiclockError, match="unknown imputation 'mean'"):
        predict.predict(_random_betas(["cg00000029"]), [clocks_registry.get("horvath2013")], imputation="mean")


def test_predict_takes_clock_objects_and_resolve_makes_them_from_names():
    with pytest.raises(EpiclockError, match="clocks.predict takes Clock objects, not 'horvath2013'"):
        predict.predict(_random_betas(["cg00000029"]), ["horvath2013"])
    resolved = clocks_registry.resolve(["horvath2013", "pace", "horvath2013"])
    assert [clock.name for clock in resolved] == ["horvath2013", *clocks_registry.panel("pace")]
    assert all(isinstance(clock, clocks_clock.Clock) for clock in resolved)


def test_a_clock_around_any_scikit_learn_regressor_takes_the_same_path():
    # The same linear model as a LinearClock (computed with the other linear clocks) and as
    # scikit-learn's LinearRegression (called through its predict): the same imputation, counts and ages.
    hannum = clocks_registry.get("hannum2013")
    training_betas = _random_betas(hannum.cpg_ids, 120)
    regressor = LinearRegression().fit(training_betas.T, RNG.uniform(20, 80, 120))
    as_linear_clock = clocks_model.LinearClock.from_coefficients(pd.Series(regressor.coef_, index=hannum.cpg_ids),
                                                                 regressor.intercept_, "linear")
    betas = _random_betas(hannum.cpg_ids, 5)
    betas.iloc[:3, 1] = np.nan
    clocks = [dataclasses.replace(hannum, name="regressor", model=regressor),
              dataclasses.replace(hannum, name="linear", model=as_linear_clock), clocks_registry.get("horvath2013")]
    table = predict.predict(betas, clocks).set_index(["clock", "sample_id"])
    by_regressor, by_linear_clock = table.loc["regressor"], table.loc["linear"]
    assert by_regressor["dnam_age"].to_numpy() == pytest.approx(by_linear_clock["dnam_age"].to_numpy(), abs=1e-9)
    assert by_regressor["status"].tolist() == by_linear_clock["status"].tolist()
    assert by_regressor.loc["S1", "n_cpgs_imputed"] == 3 and by_regressor["dnam_age"].notna().all()


def test_predict_long_table_matches_the_output_contract():
    betas = _random_betas(clocks_registry.get("horvath2013").cpg_ids + clocks_registry.get("horvath_skin_blood2018").cpg_ids, 3)
    table = predict.predict(betas.loc[~betas.index.duplicated()], clocks_registry.resolve(["all"]))
    assert list(table.columns) == ["sample_id", "clock", "dnam_age", "unit", "n_cpgs", "n_cpgs_used",
                                   "n_cpgs_missing", "n_cpgs_imputed", "coverage", "status"]
    assert len(table) == 3 * len(clocks_registry.available())


def test_vendored_files_match_their_recorded_checksums():
    table = provenance.vendored_data()
    assert set(table["file"]) >= {"clocks/horvath2013.tsv", "clocks/horvath_skin_blood2018.tsv",
                                  "reference/sesame_450k_median.tsv.gz"}
    from_biolearn = table["source_package"] == "biolearn (PyPI)"
    assert (table.loc[from_biolearn, "source_version"] == "0.9.1").all()
    # Files from a repository name it and its commit; a DOI wherever the source gives a paper.
    assert table.loc[~from_biolearn, "source_package"].str.contains(r"\(GitHub, ").all()
    assert table.loc[~from_biolearn, "source_version"].str.fullmatch(r"[0-9a-f]{7,40}").all()
    without_doi = table.loc[table["doi"].fillna("") == "", "file"]
    assert without_doi.empty, list(without_doi)
    assert table.loc[table["doi"].notna(), "doi"].str.startswith("10.").all()
    # Every coefficient file a clock reads is in the table.
    for name in clocks_registry.available():
        assert clocks_registry._registry()[name]["coefficients"] in set(table["file"]), name


def test_linear_clock_follows_scikit_learn_conventions():
    cpg_ids = [f"cg{i:08d}" for i in range(20)]
    X = pd.DataFrame(RNG.uniform(0, 1, (5, 20)), columns=cpg_ids)
    weights = pd.Series(RNG.normal(0, 0.1, 20), index=cpg_ids)
    model = clocks_model.LinearClock.from_coefficients(weights, 0.3, "anti_trafo")
    assert model.get_params() == {"transform": "anti_trafo", "adult_age": clocks_model.HORVATH_ADULT_AGE}
    assert list(model.feature_names_in_) == cpg_ids
    assert model.predict(X) == pytest.approx(clocks_model.anti_trafo(0.3 + X.to_numpy() @ weights.to_numpy()))
    with pytest.raises(EpiclockError, match="lacks some of the clock's CpGs"):
        model.predict(X.iloc[:, :10])


# --- The clock library: definitions, agreement with biolearn, preprocessing, EPICv2, coverage ---

PUBLISHED = {
    # name: (CpGs, intercept, transform, unit)
    "horvath2013": (353, 0.695507258, "anti_trafo", "years"),
    "horvath_skin_blood2018": (391, -0.447119319, "anti_trafo", "years"),
    "hannum2013": (71, 0.0, "linear", "years"),
    "phenoage2018": (513, 60.664, "linear", "years"),
    "zhang2019_en": (514, 65.79295, "linear", "years"),
    "lin2016": (99, 12.2169841, "linear", "years"),
    "weidner2014": (3, 38.0, "linear", "years"),
    "vidal_bralo2016": (8, 84.7, "linear", "years"),
    "dnamtl2019": (140, 7.924780053, "linear", "kb"),
    "pedbe2020": (94, -2.1, "anti_trafo", "years"),
    "cortical2020": (347, 0.577682570446177, "anti_trafo", "years"),
    "dunedinpace2022": (173, -1.949859, "pace", "years/year"),
}

# Where biolearn 0.9.1's definition differs from the paper, biolearn's output is moved onto the
# paper's definition through the clock's transform before comparing (never a looser tolerance):
# Horvath 2013's intercept is rounded to 0.696 there, and DNAmTL's intercept has the wrong sign.
BIOLEARN_INTERCEPT = {"horvath2013": 0.696, "dnamtl2019": -7.924780053}
# McCartney's trait scores are linear scores in the paper; biolearn passes six of them through a
# logistic function, which its logit undoes.
BIOLEARN_LOGISTIC = {"mccartney2018_bmi", "mccartney2018_education", "mccartney2018_total_cholesterol",
                     "mccartney2018_hdl", "mccartney2018_ldl", "mccartney2018_body_fat"}
# The clocks whose biolearn 0.9.1 output the fixture holds, with the shipped clock each is compared to.
BIOLEARN_CLOCKS = sorted(pd.read_csv(f"{FIXTURES}/predictions.tsv", sep="\t", usecols=["clock"])["clock"].unique())


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_every_clock_has_its_published_size_intercept_transform_and_unit(name):
    n_cpgs, intercept, transform, unit = PUBLISHED[name]
    clock = clocks_registry.get(name)
    assert len(clock.cpg_ids) == n_cpgs == len(set(clock.cpg_ids))
    assert clock.model.intercept_ == intercept
    assert (clock.model.transform, clock.unit) == (transform, unit)
    assert clock.doi.startswith("10.") and clock.licence and clock.citation


@pytest.mark.parametrize("name", clocks_registry.available())
def test_every_clock_loads_with_how_to_read_it(name):
    clock = clocks_registry.get(name)
    assert clock.direction in clocks_clock.DIRECTIONS and clock.output_kind in clocks_clock.OUTPUT_KINDS
    assert clock.licence and clock.citation and clock.tissue and clock.intended_use
    assert len(clock.cpg_ids) == len(set(clock.cpg_ids)) > 0
    if isinstance(clock.model, clocks_model.LinearClock):
        assert clock.unit in clocks_model.TRANSFORM_UNITS[clock.model.transform]
        assert np.isfinite(clock.model.coef_).all() and np.isfinite(clock.model.intercept_)
    else:   # a model of its own (tests/test_nonlinear_clocks.py); the registry checks its unit
        assert clocks_registry._registry()[name]["model"] in clocks_registry.NONLINEAR_MODELS
    # Ages in years read "higher = older"; kb (DNAmTL) and pace clocks say their own direction.
    if clock.output_kind == "age":
        assert clock.direction == "higher = older"
    if clock.output_kind == "pace":
        assert clock.direction == "higher = faster ageing" and clock.unit == "years/year"


def test_every_shipped_clock_is_listed_with_its_licence_status():
    assert set(PUBLISHED) <= set(clocks_registry.available()) and len(clocks_registry.available()) >= 60
    table = clocks_registry.describe().set_index("name")
    assert list(table.columns[:3]) == ["cpgs", "unit", "tissue"]
    assert {"citation", "restricted"} <= set(table.columns)
    restricted = set(table.index[table["restricted"]])
    assert {"phenoage2018", "horvath_skin_blood2018", "dnamtl2019", "dunedinpace2022"} <= restricted
    assert not {"horvath2013", "hannum2013"} & restricted
    assert table.loc["dunedinpace2022", "unit"] == "years/year" and table.loc["dnamtl2019", "unit"] == "kb"
    # How to read each clock: which way is older and what kind of quantity (science notes: never call
    # DNAmTL or DunedinPACE "years" or "younger" without the direction).
    assert table["direction"].isin(clocks_clock.DIRECTIONS).all() and table["output_kind"].isin(clocks_clock.OUTPUT_KINDS).all()
    assert (table["intended_use"].str.len() > 0).all() and (table["licence"].str.len() > 0).all()
    assert table.loc["dnamtl2019", ["direction", "output_kind"]].tolist() == ["lower = older", "kb"]
    assert table.loc["dunedinpace2022", ["direction", "output_kind"]].tolist() == ["higher = faster ageing", "pace"]
    assert table.loc["horvath2013", ["direction", "output_kind"]].tolist() == ["higher = older", "age"]


def test_only_clocks_linear_in_betas_are_planted_by_the_simulator():
    assert clocks_registry.for_simulation() == ["horvath2013", "horvath_skin_blood2018"]
    for name in clocks_registry.for_simulation():
        clock = clocks_registry.get(name)
        assert clock.preprocessing is None and clock.unit == "years"


@functools.lru_cache(maxsize=1)
def _biolearn_fixture(root):
    betas = pd.read_csv(root / FIXTURES / "betas.tsv.gz", sep="\t", index_col="cpg_id")
    expected = pd.read_csv(root / FIXTURES / "predictions.tsv", sep="\t")
    covariates = clocks_clock.sample_covariates(pd.read_csv(root / FIXTURES / "samples.tsv", sep="\t"), "age", "sex")
    predicted, details = predict.predict_with_details(betas, clocks_registry.resolve(BIOLEARN_CLOCKS), imputation="none", min_coverage=1.0,
                                                     covariates=covariates)
    return betas, expected.merge(predicted, on=["sample_id", "clock"], validate="one_to_one"), details


def _on_the_papers_definition(name: str, biolearn_values: np.ndarray) -> np.ndarray:
    if name in BIOLEARN_LOGISTIC:
        return clocks_model.TRANSFORMS["logistic"][1](biolearn_values)
    if name not in BIOLEARN_INTERCEPT:
        return biolearn_values
    shift = clocks_registry.get(name).model.intercept_ - BIOLEARN_INTERCEPT[name]
    forward, inverse = clocks_model.TRANSFORMS[clocks_registry.get(name).model.transform]
    return forward(inverse(biolearn_values) + shift)


def test_biolearn_fixture_holds_every_cpg_of_every_clock(project_root):
    betas, merged, _ = _biolearn_fixture(project_root)
    needed = set().union(*(clocks_registry.get(name).cpg_ids for name in BIOLEARN_CLOCKS))
    needed |= set(clocks_registry.get("dunedinpace2022").preprocessing.target.index)
    assert needed <= set(betas.index) and betas.shape[1] == 12
    assert sorted(merged["clock"].unique()) == BIOLEARN_CLOCKS and len(merged) == 12 * len(BIOLEARN_CLOCKS)
    assert len(BIOLEARN_CLOCKS) >= 48 and set(PUBLISHED) <= set(BIOLEARN_CLOCKS)
    assert (project_root / FIXTURES / "README.md").is_file() and (project_root / FIXTURES / "make_fixtures.py").is_file()


@pytest.mark.parametrize("name", BIOLEARN_CLOCKS)
def test_every_clock_equals_biolearn(project_root, name):
    _, merged, _ = _biolearn_fixture(project_root)
    rows = merged[merged["clock"] == name]
    assert (rows["status"] == "ok").all()
    expected = _on_the_papers_definition(name, rows["prediction"].to_numpy())
    assert np.isfinite(expected).all()
    assert np.abs(rows["dnam_age"].to_numpy() - expected).max() < 1e-6


def test_grimage_surrogates_equal_biolearns(project_root):
    _, _, details = _biolearn_fixture(project_root)
    expected = pd.read_csv(project_root / FIXTURES / "grimage_components.tsv", sep="\t")
    merged = expected.merge(details, left_on=["sample_id", "clock", "component"],
                            right_on=["sample_id", "clock", "quantity"], validate="one_to_one")
    assert len(merged) == len(expected) == 12 * (8 + 10)   # V1 has 8 surrogates, V2 10
    # Relative to the surrogate's size (B2M is in the millions), 1e-9.
    scale = np.maximum(np.abs(merged["value_x"]), 1.0)
    assert (np.abs(merged["value_x"] - merged["value_y"]) / scale).max() < 1e-9


def test_biolearn_corrections_are_real_differences(project_root):
    # Without the corrections the two definitions disagree, so the corrections are not decoration.
    _, merged, _ = _biolearn_fixture(project_root)
    for name in [*BIOLEARN_INTERCEPT, *BIOLEARN_LOGISTIC]:
        rows = merged[merged["clock"] == name]
        assert np.abs(rows["dnam_age"] - rows["prediction"]).min() > 1e-3
    telomere = merged.loc[merged["clock"] == "dnamtl2019", "dnam_age"]
    assert telomere.between(4, 10).all()   # kb; biolearn's sign reads negative lengths


def _array_like_betas(n_background=21_000, n_samples=3, seed=5):
    """Betas over every clock CpG plus enough other probes to stand for a whole array."""
    rng = np.random.default_rng(seed)
    reference = clocks_data.reference_medians()
    needed = set().union(*(clocks_registry.get(name).cpg_ids for name in PUBLISHED))
    needed |= set(clocks_registry.get("dunedinpace2022").preprocessing.target.index)
    others = reference.index.difference(sorted(needed))
    chosen = sorted(needed | set(rng.choice(others.to_numpy(), n_background - len(needed) + 2000, replace=False)))
    base = reference.reindex(chosen).fillna(0.5).clip(0.02, 0.98).to_numpy()
    m_values = np.log(base / (1 - base))[:, None] + rng.normal(0, 0.4, (len(chosen), n_samples))
    return pd.DataFrame(1 / (1 + np.exp(-m_values)), index=pd.Index(chosen, name="cpg_id"),
                        columns=[f"A{i}" for i in range(n_samples)])


def test_zhang_standardises_each_sample_over_all_its_probes():
    clock = clocks_registry.get("zhang2019_en")
    betas = _array_like_betas()
    betas.iloc[5, 0] = np.nan   # an unmeasured non-clock probe: left out of that sample's statistics
    coefficients = pd.Series(clock.model.coef_, index=clock.cpg_ids)
    column = betas["A0"]
    scaled = (column.loc[clock.cpg_ids] - column.mean()) / column.std(ddof=1)   # pandas skips the NaN
    expected = 65.79295 + (scaled * coefficients).sum()
    result = predict.predict(betas, [clock])
    assert result["dnam_age"].iloc[0] == pytest.approx(expected, abs=1e-9)
    assert (result["status"] == "ok").all()


def test_zhang_reads_the_reference_profile_as_clocks_yaml_documents():
    # The whole 450k reference profile as one sample: 41.8 years. Standardised over the clock's 514
    # CpGs only, the same profile would read 7.9 years younger; that is why the whole array is used.
    clock = clocks_registry.get("zhang2019_en")
    profile = clocks_data.reference_medians().to_frame("reference")
    assert predict.predict(profile, [clock])["dnam_age"].iloc[0] == pytest.approx(41.82, abs=0.01)
    own = profile["reference"].loc[clock.cpg_ids]
    clock_only = 65.79295 + float(((own - own.mean()) / own.std()).to_numpy() @ clock.model.coef_)
    assert clock_only == pytest.approx(41.82 - 7.9, abs=0.01)


def test_zhang_needs_a_whole_array_not_a_clock_excerpt():
    clock = clocks_registry.get("zhang2019_en")
    excerpt = _random_betas(clock.cpg_ids, 2)
    result = predict.predict(excerpt, [clock])
    assert result["dnam_age"].isna().all()
    assert result["status"].str.contains("514 probes measured in the sample, fewer than the 20000").all()


@pytest.mark.parametrize("name", ["zhang2019_en", "dunedinpace2022"])
def test_preprocessed_clocks_never_depend_on_the_other_samples(name):
    clock = clocks_registry.get(name)
    betas = _array_like_betas(n_samples=4)
    alone = predict.predict(betas[["A0"]], [clock])["dnam_age"].iloc[0]
    together = predict.predict(betas, [clock])["dnam_age"].iloc[0]
    others = betas[["A1", "A2", "A3"]] * 0.3
    with_different_others = predict.predict(pd.concat([betas[["A0"]], others], axis=1), [clock])["dnam_age"].iloc[0]
    # Equal up to the summation order of a matrix product of another shape.
    assert np.isfinite(alone)
    assert together == pytest.approx(alone, abs=1e-12) and with_different_others == pytest.approx(alone, abs=1e-12)


def test_dunedinpace_quantile_normalises_onto_the_gold_standard():
    clock = clocks_registry.get("dunedinpace2022")
    target = clock.preprocessing.target
    # A sample that already is the gold standard maps onto itself.
    gold = pd.DataFrame({"G": target})
    expected = -1.949859 + float(target.loc[clock.cpg_ids].to_numpy() @ clock.model.coef_)
    assert predict.predict(gold, [clock])["dnam_age"].iloc[0] == pytest.approx(expected, abs=1e-12)
    # Any order-preserving distortion of the sample leaves the score unchanged.
    distorted = gold ** 3 * 0.5
    assert predict.predict(distorted, [clock])["dnam_age"].iloc[0] == pytest.approx(expected, abs=1e-12)


def _epicv2_ids(cpg_ids, rng):
    return [f"{cpg}_{rng.choice(['TC', 'BC', 'TO', 'BO'])}{rng.integers(1, 3)}{rng.integers(1, 3)}" for cpg in cpg_ids]


def test_dunedinpace_on_epicv2_without_its_29_absent_probes():
    # 29 of the 173 model probes are absent on EPICv2 (DunedinPACE issue #25). Which 29 does not
    # change the rule: 144/173 = 0.83 meets the clock's 0.8, so 'reference' gives a score with the
    # 29 filled from the gold-standard means and says so; 'none' gives no score and says why.
    clock = clocks_registry.get("dunedinpace2022")
    rng = np.random.default_rng(25)
    betas = _array_like_betas(n_samples=2)
    absent = rng.choice(clock.cpg_ids, 29, replace=False)
    epicv2 = betas.drop(index=absent)
    epicv2.index = _epicv2_ids(epicv2.index, rng)

    filled = predict.predict(epicv2, [clock], imputation="reference")
    assert filled["dnam_age"].notna().all()
    assert (filled["n_cpgs_used"] == 144).all() and (filled["n_cpgs_imputed"] == 29).all()
    assert filled["coverage"].iloc[0] == pytest.approx(144 / 173)
    assert filled["status"].str.startswith("ok (29 CpGs imputed from the clock's own reference").all()
    by_hand = betas.copy()
    by_hand.loc[absent] = clock.imputation_reference.loc[absent].to_numpy()[:, None]
    assert filled["dnam_age"].to_numpy() == pytest.approx(predict.predict(by_hand, [clock])["dnam_age"].to_numpy(), abs=1e-12)

    strict = predict.predict(epicv2, [clock], imputation="none")
    assert strict["dnam_age"].isna().all()
    assert strict["status"].str.contains("29 CpGs unmeasured and imputation is 'none'").all()
    # The clock's own 0.8 holds even when the run asks for less.
    fewer = predict.predict(betas.drop(index=clock.cpg_ids[:40]), [clock], min_coverage=0.5)
    assert fewer["dnam_age"].isna().all() and fewer["status"].str.contains("133 of 173 CpGs measured, below the minimum coverage 0.8").all()


def test_dunedinpace_needs_most_of_its_normalisation_probes():
    clock = clocks_registry.get("dunedinpace2022")
    betas = _array_like_betas(n_samples=1)
    background = clock.preprocessing.target.index.difference(clock.cpg_ids)
    sparse = betas.drop(index=background[:5000])
    result = predict.predict(sparse, [clock])
    assert np.isnan(result["dnam_age"].iloc[0])
    assert "15000 of 20000 normalisation probes measured, below the minimum coverage 0.8" in result["status"].iloc[0]
    some = predict.predict(betas.drop(index=background[:10]), [clock])
    assert some["status"].iloc[0] == "ok (10 of 20000 normalisation probes set to their target value)"


def _normalised_by_ranking(values: pd.Series, target: pd.Series, cpg_ids) -> np.ndarray:
    """preprocessCore's normalize.quantiles.use.target on one sample, written plainly: every target
    probe ranked (ties: their average rank, scipy's rankdata); rank r takes the r-th smallest target
    value, and a rank ending in .5 the mean of the two around it."""
    ranks = scipy.stats.rankdata(values.loc[target.index].to_numpy(), method="average")
    sorted_target = np.sort(target.to_numpy())
    whole = np.floor(ranks).astype(int)
    halfway = 0.5 * (sorted_target[whole - 1] + sorted_target[np.minimum(whole, len(sorted_target) - 1)])
    normalised = np.where(ranks > whole, halfway, sorted_target[whole - 1])
    return pd.Series(normalised, index=target.index).loc[list(cpg_ids)].to_numpy()


def test_dunedinpace_ranks_ties_as_preprocesscore():
    # Betas with two decimals (as some published matrices are): every value ties with hundreds of
    # others, groups of even size give ranks ending in .5, and measured values tie with the target
    # values that replace unmeasured probes. Some target probes and clock CpGs are absent from the
    # matrix, others unmeasured in some samples; 20 samples span two chunks of predict.
    clock = clocks_registry.get("dunedinpace2022")
    target = clock.preprocessing.target
    rng = np.random.default_rng(19)
    betas = _random_betas(target.index, 20).round(2)
    betas.iloc[rng.choice(len(betas), 400, replace=False), 3] = np.nan
    betas.iloc[rng.choice(len(betas), 40, replace=False), 7] = np.nan
    betas = betas.drop(index=list(clock.cpg_ids[:5]) + list(target.index.difference(clock.cpg_ids)[:300]))
    unmeasured = betas.index[betas["S3"].isna()]
    betas.loc[betas.index[:50], "S3"] = target.loc[unmeasured[:50]].to_numpy()   # ties with filled-in targets
    matrix = clocks_preprocessing.BetaMatrix(betas)
    # The clock's own values as predict gives them: unmeasured ones from the clock's reference.
    own = betas.reindex(clock.cpg_ids)
    own = own.where(own.notna(), clock.imputation_reference.loc[clock.cpg_ids], axis=0).T.to_numpy()
    normaliser = clocks_preprocessing.QuantileNormaliser(target, matrix, clock.cpg_ids)
    whole_sample = betas.reindex(target.index)
    whole_sample = whole_sample.where(whole_sample.notna(), target, axis=0)   # unmeasured: their target value
    tied_halfway = 0
    for start in range(0, 20, predict.CHUNK_SAMPLES):
        stop = min(start + predict.CHUNK_SAMPLES, 20)
        normalised, n_measured = normaliser.apply(matrix.by_sample[start:stop], own[start:stop])
        for row, sample in enumerate(betas.columns[start:stop]):
            values = whole_sample[sample].copy()
            values.loc[clock.cpg_ids] = own[start + row]
            expected = _normalised_by_ranking(values, target, clock.cpg_ids)
            # Each value is one target value or the mean of two, computed alike: a wrong rank picks
            # another target value, so equality to the bit is the property.
            np.testing.assert_array_equal(normalised[row], expected, err_msg=sample)
            assert n_measured[row] == betas[sample].reindex(target.index).notna().sum()
            ranks = scipy.stats.rankdata(values.to_numpy(), method="average")
            tied_halfway += np.count_nonzero(ranks[target.index.get_indexer(clock.cpg_ids)] % 1 == 0.5)
    assert tied_halfway > 100   # the ties this test is about do occur


def _sample_statistics(rows):
    sums = np.array([clocks_preprocessing.row_sums(row) for row in rows]).reshape(len(rows), 2)
    return clocks_preprocessing.statistics_from_sums(rows, sums[:, 0], sums[:, 1])


def test_sample_statistics_depend_on_the_sample_alone():
    # Bitwise: the same sample alone, in a batch, or copied to another address gives the same bits.
    rows = np.random.default_rng(4).uniform(0.02, 0.98, (5, 30001))
    rows[2, 17] = np.nan
    together = _sample_statistics(rows)
    shifted = np.empty(rows.shape[1] + 1)[1:]
    for index, row in enumerate(rows):
        shifted[:] = row
        for alone in (_sample_statistics(rows[index:index + 1]), _sample_statistics(shifted[None, :])):
            assert [value[0] for value in alone] == [value[index] for value in together]
    measured = rows[2][~np.isnan(rows[2])]
    assert together[0][2] == 30000
    assert together[1][2] == pytest.approx(measured.mean(), rel=1e-14)
    assert together[2][2] == pytest.approx(measured.std(ddof=1), rel=1e-12)
    assert together[2][0] == pytest.approx(rows[0].std(ddof=1), rel=1e-12)


def test_few_cpg_clocks_require_every_cpg():
    clock = clocks_registry.get("weidner2014")
    betas = _random_betas(clock.cpg_ids, 2)
    assert predict.predict(betas, [clock])["dnam_age"].notna().all()
    result = predict.predict(betas.iloc[1:], [clock], min_coverage=0.5)
    assert result["dnam_age"].isna().all()
    assert result["status"].str.contains("2 of 3 CpGs measured, below the minimum coverage 1").all()
    # A stricter run-level minimum applies to clocks whose own is looser.
    horvath = clocks_registry.get("horvath2013")
    partial = _random_betas(horvath.cpg_ids[:330], 1)
    assert predict.predict(partial, [horvath], min_coverage=0.9)["dnam_age"].notna().all()
    assert predict.predict(partial, [horvath], min_coverage=0.95)["dnam_age"].isna().all()


def test_epicv2_probe_ids_collapse_to_cpg_ids():
    betas = pd.DataFrame({"S1": [0.2, 0.4, np.nan, 0.9, 0.5], "S2": [np.nan, 0.6, 0.3, 0.1, 0.7]},
                         index=["cg00000029_TC21", "cg00000029_TC22", "cg00000108_BO11", "cg00000108_BC12",
                                "ch.2.30415474F_TC11"])
    mean = clocks_preprocessing.collapse_replicate_probes(betas)
    assert list(mean.index) == ["cg00000029", "cg00000108", "ch.2.30415474F"]
    assert mean.loc["cg00000029"].tolist() == pytest.approx([0.3, 0.6])
    assert mean.loc["cg00000108"].tolist() == pytest.approx([0.9, 0.2])
    first = clocks_preprocessing.collapse_replicate_probes(betas, "first")
    assert first.loc["cg00000029"].tolist() == pytest.approx([0.2, 0.6])   # first measured replicate
    assert first.loc["cg00000108"].tolist() == pytest.approx([0.9, 0.3])
    plain = _random_betas(["cg00000029", "cg00000108"], 2)
    assert clocks_preprocessing.collapse_replicate_probes(plain) is plain
    with pytest.raises(EpiclockError, match="unknown replicate method 'median'"):
        clocks_preprocessing.collapse_replicate_probes(betas, "median")


def test_predict_reads_epicv2_matrices_like_collapsed_ones():
    clock = clocks_registry.get("horvath_skin_blood2018")
    betas = _random_betas(clock.cpg_ids, 3)
    rng = np.random.default_rng(0)
    replicate = betas + rng.normal(0, 0.01, betas.shape)
    epicv2 = pd.concat([betas, replicate])
    epicv2.index = _epicv2_ids(betas.index, rng) + [f"{cpg}_TC99" for cpg in betas.index]
    averaged = predict.predict((betas + replicate) / 2, [clock])["dnam_age"].to_numpy()
    assert predict.predict(epicv2, [clock])["dnam_age"].to_numpy() == pytest.approx(averaged, abs=1e-9)
    table = predict.predict(epicv2, [clock], replicates="first")
    assert table["dnam_age"].to_numpy() == pytest.approx(predict.predict(betas, [clock])["dnam_age"].to_numpy(), abs=1e-9)


def test_coverage_table_says_what_each_clock_measured():
    horvath = clocks_registry.get("horvath2013")
    betas = _random_betas(horvath.cpg_ids[:300] + clocks_registry.get("hannum2013").cpg_ids, 2)
    table = predict.coverage_table(predict.predict(betas.loc[~betas.index.duplicated()],
                                                   clocks_registry.resolve(["horvath2013", "hannum2013", "weidner2014"])))
    assert list(table.columns) == ["sample_id", "clock", "n_cpgs", "n_measured", "n_imputed", "coverage", "status"]
    row = table.set_index(["sample_id", "clock"]).loc[("S0", "horvath2013")]
    measured = len(set(horvath.cpg_ids[:300]) | (set(horvath.cpg_ids) & set(clocks_registry.get("hannum2013").cpg_ids)))
    assert (row["n_cpgs"], row["n_measured"], row["n_imputed"]) == (353, measured, 353 - measured)
    weidner = table[table["clock"] == "weidner2014"]
    assert (weidner["n_measured"] == 0).all() and weidner["status"].str.startswith("no age").all()


def test_a_bad_clock_definition_names_the_clock_and_field(monkeypatch):
    registry = dict(clocks_registry._registry())
    registry["broken"] = {**registry["hannum2013"], "unit": "years/year"}
    monkeypatch.setattr(clocks_registry, "_registry", lambda: registry)
    clocks_registry.get.cache_clear()
    try:
        with pytest.raises(EpiclockError, match="clock broken: unit 'years/year' does not fit transform 'linear'"):
            clocks_registry.get("broken")
        registry["broken"] = {key: value for key, value in registry["hannum2013"].items() if key != "doi"}
        with pytest.raises(EpiclockError, match="clock broken: missing field"):
            clocks_registry.get("broken")
        registry["broken"] = {**registry["hannum2013"], "direction": "younger"}
        with pytest.raises(EpiclockError, match="clock broken: direction 'younger' is not one of higher = older"):
            clocks_registry.get("broken")
    finally:
        clocks_registry.get.cache_clear()


def test_a_matrix_without_rows_gives_every_sample_a_reason_not_a_crash():
    empty = pd.DataFrame(np.empty((0, 2)), index=pd.Index([], name="cpg_id"), columns=["A", "B"])
    table = predict.predict(empty, clocks_registry.resolve(["horvath2013", "dunedinpace2022"]))
    assert table["dnam_age"].isna().all() and len(table) == 4
    assert table["status"].str.contains("coverage").all()


# --- Published outputs of other tools, and the in-vitro and mitotic clocks ---

METHYLCIPHER = "tests/fixtures/methylcipher"
# methylCIPHER's README (MorganLevineLab/methylCIPHER e62937e) prints these for its exampleBetas,
# five GSE55763 samples, computed without imputation (an unmeasured CpG left out of the sum).
METHYLCIPHER_README = pd.DataFrame({
    "sample_id": ["7786915023_R02C02", "7786915135_R04C02", "7471147149_R06C01", "7786915035_R05C01", "7786923035_R01C01"],
    "hannum2013": [62.33422, 53.90139, 53.59733, 59.53767, 58.80107],
    "horvath2013": [56.20544, 47.45754, 48.24172, 51.53588, 45.05448],
    "phenoage2018": [52.29315, 41.05867, 43.54460, 43.96697, 40.35242],
    "epitoc2_2020": [5012.412, 4622.625, 2956.300, 3446.410, 3245.157],
    "mccartney2018_smoking": [3.993508, 4.501657, 3.173744, 3.216788, 4.414541],
}).set_index("sample_id")


def test_clocks_reproduce_methylciphers_published_outputs(project_root):
    betas = pd.read_csv(project_root / METHYLCIPHER / "example_betas.tsv.gz", sep="\t", index_col="cpg_id")
    table = predict.predict(betas, clocks_registry.resolve(list(METHYLCIPHER_README.columns)), imputation="none", min_coverage=0.0)
    ours = table.pivot(index="sample_id", columns="clock", values="dnam_age").loc[METHYLCIPHER_README.index]
    # Within half a unit of the last printed digit; samples missing a clock CpG get no value here
    # (methylCIPHER drops the CpG from the sum), so only complete samples are compared.
    for name, printed_digits in (("hannum2013", 5), ("phenoage2018", 5), ("epitoc2_2020", 3),
                                 ("mccartney2018_smoking", 6)):
        complete = ours[name].notna()
        assert complete.sum() >= 3, name
        assert (ours.loc[complete, name] - METHYLCIPHER_README.loc[complete, name]).abs().max() <= 0.5 * 10 ** -printed_digits
    assert ours["epitoc2_2020"].notna().all()
    # methylCIPHER adds biolearn's rounded Horvath intercept 0.696: the paper's 0.695507258 reads
    # anti_trafo(x - 0.000492742), about 0.0103 years younger above age 20.
    assert (METHYLCIPHER_README["horvath2013"] - ours["horvath2013"] - 21 * 0.000492742).abs().max() <= 0.5e-5


def test_intrinclock_reproduces_pyagings_own_test(project_root):
    inputs = pd.read_csv(project_root / "tests/fixtures/pyaging/intrinclock_input.tsv.gz", sep="\t", index_col="cpg_id")
    printed = pd.read_csv(project_root / "tests/fixtures/pyaging/intrinclock_output.tsv", sep="\t")
    ours = predict.predict(inputs, [clocks_registry.get("intrinclock2024")], imputation="none", min_coverage=1.0)["dnam_age"].to_numpy()
    # The notebook prints 4 decimals, and pyaging stores the weights in float32 (up to ~2e-5 years here).
    assert np.abs(ours - printed["printed_output"].to_numpy()).max() < 1e-4


def test_stemtoc_is_the_095_quantile_of_its_cpgs():
    for name, n_cpgs in (("stemtoc2024", 371), ("stemtocvitro2024", 629)):
        clock = clocks_registry.get(name)
        betas = _random_betas(clock.cpg_ids, 5)
        expected = np.quantile(betas.to_numpy(), 0.95, axis=0)   # numpy's 'linear' is R's default quantile (type 7)
        assert len(clock.cpg_ids) == n_cpgs
        assert predict.predict(betas, [clock])["dnam_age"].to_numpy() == pytest.approx(expected, abs=1e-12)


def test_mitotic_clocks_follow_epimitclocks_formulas(project_root):
    parameters = pd.read_csv(project_root / "src/epiclock/data/clocks/epitoc2_2020_parameters.tsv", sep="\t",
                             index_col="cpg_id")
    betas = _random_betas(parameters.index, 3)
    # EpiMitClocks' epiTOC2: 2 * colMeans(diag(1 / (delta (1 - beta0))) %*% (beta - beta0)).
    scaled = (betas.to_numpy() - parameters[["beta0"]].to_numpy()) / (parameters["delta"] * (1 - parameters["beta0"])).to_numpy()[:, None]
    expected = 2 * scaled.mean(axis=0)
    approximation = 2 * (betas.to_numpy() / parameters[["delta"]].to_numpy()).mean(axis=0)
    table = predict.predict(betas, clocks_registry.resolve(["epitoc2_2020", "epitoc2_2020_approximation"]))
    assert table["dnam_age"].to_numpy() == pytest.approx(np.concatenate([expected, approximation]), rel=1e-12)
    # HypoClock: 1 - mean beta of the solo-WCGW CpGs; epiCMIT-hyper: their mean.
    hypo = clocks_registry.get("hypoclock2020")
    hypo_betas = _random_betas(hypo.cpg_ids, 3)
    assert predict.predict(hypo_betas, [hypo])["dnam_age"].to_numpy() == pytest.approx(1 - hypo_betas.mean(axis=0).to_numpy(), abs=1e-12)
    assert len(hypo.cpg_ids) == 678 and len(clocks_registry.get("replitali2022").cpg_ids) == 87


def test_panels_expand_to_their_clocks():
    in_vitro = clocks_registry.panel("in_vitro")
    assert {"epitoc2_2020", "epitoc3_2024", "stemtoc2024", "stemtocvitro2024", "hypoclock2020", "replitali2022",
            "cellpopage", "sencultureage", "intrinclock2024"} <= set(in_vitro)
    assert set(clocks_registry.panel("pace")) == {"dunedinpace2022", "dunedinpoam2020"}
    assert all(clocks_registry.get(name).output_kind in ("divisions", "score") for name in clocks_registry.panel("mitotic"))
    assert "hannum2013" in clocks_registry.panel("blood") and clocks_registry.panel("all") == list(clocks_registry._registry())
    expanded = clocks_registry.expand_names(["horvath_skin_blood2018", "in_vitro", "epitoc2_2020"])
    assert expanded[0] == "horvath_skin_blood2018" and expanded[1:] == in_vitro   # each clock once
    with pytest.raises(EpiclockError, match="unknown clock panel 'skin'"):
        clocks_registry.panel("skin")


def test_a_blood_clock_on_skin_says_so():
    betas = _random_betas(clocks_registry.get("hannum2013").cpg_ids, 2)
    table = predict.predict(betas, clocks_registry.resolve(["hannum2013"]), sample_tissue="skin")
    assert (table["status"] == "ok (a blood clock applied to skin)").all() and table["dnam_age"].notna().all()
    assert (predict.predict(betas, clocks_registry.resolve(["hannum2013"]), sample_tissue="blood")["status"] == "ok").all()
    horvath = predict.predict(_random_betas(clocks_registry.get("horvath2013").cpg_ids, 1), [clocks_registry.get("horvath2013")],
                              sample_tissue="skin")
    assert horvath["status"].iloc[0] == "ok"


def test_grimage_needs_age_and_sex_and_says_which_is_missing():
    clock = clocks_registry.get("grimagev2_2022")
    betas = _random_betas(clock.cpg_ids, 3)
    sheet = pd.DataFrame({"sample_id": ["S0", "S1", "S2"], "donor_age": [50, None, 61], "sex": ["F", "M", "x"]})
    covariates = clocks_clock.sample_covariates(sheet, "donor_age", "sex")
    assert covariates["female"].tolist()[:2] == [1.0, 0.0] and np.isnan(covariates["female"].iloc[2])
    table, details = predict.predict_with_details(betas, clocks_registry.resolve(["grimagev2_2022"]), covariates=covariates)
    assert np.isfinite(table["dnam_age"].iloc[0]) and table["dnam_age"].iloc[1:].isna().all()
    assert "needs the sample's age from the sample sheet" in table["status"].iloc[1]
    assert "needs the sample's sex from the sample sheet" in table["status"].iloc[2]
    assert set(details["sample_id"]) == {"S0"} and len(details) == 10 and (details["clock"] == "grimagev2_2022").all()
    assert predict.predict(betas, clocks_registry.resolve(["grimagev2_2022"]))["dnam_age"].isna().all()   # no sheet at all


def test_epitoc2_reports_divisions_per_year_of_age():
    betas = _random_betas(clocks_registry.get("epitoc2_2020").cpg_ids, 2)
    covariates = pd.DataFrame({"age": [40.0, np.nan], "female": [1.0, 0.0]}, index=["S0", "S1"])
    table, details = predict.predict_with_details(betas, clocks_registry.resolve(["epitoc2_2020"]), covariates=covariates)
    assert list(details.columns) == clocks_clock.DETAIL_COLUMNS
    assert details[["sample_id", "quantity", "unit"]].values.tolist() == [["S0", "per_year_of_age", "divisions/year"]]
    assert details["value"].iloc[0] == pytest.approx(table["dnam_age"].iloc[0] / 40.0)
    assert table["dnam_age"].notna().all()   # the count itself needs no age


def test_a_clock_with_no_cpgs_gets_no_age_and_leaves_the_others_alone():
    # An elastic net can keep no CpG (every coefficient zero at the chosen penalty): such a clock says
    # so in its status, wherever it stands among the clocks, and the other clocks' outputs and counts
    # are what they are without it (np.add.reduceat alone would give an empty segment its neighbour's
    # value, or fail when it is the last).
    hannum, horvath = clocks_registry.get("hannum2013"), clocks_registry.get("horvath2013")
    empty_model = clocks_model.LinearClock.from_coefficients(pd.Series([], dtype=float), 42.0, "linear")
    empty = dataclasses.replace(hannum, name="empty", model=empty_model, imputation_reference=pd.Series([], dtype=float))
    betas = _random_betas(sorted(set(hannum.cpg_ids) | set(horvath.cpg_ids)), 3)
    betas.iloc[0, 0] = np.nan
    columns = ["dnam_age", "n_cpgs_used", "n_cpgs_imputed", "status"]
    alone = predict.predict(betas, [hannum, horvath]).set_index(["clock", "sample_id"])[columns]
    for clocks in ([empty, hannum, horvath], [hannum, empty, horvath], [hannum, horvath, empty]):
        table = predict.predict(betas, clocks).set_index(["clock", "sample_id"])[columns]
        pd.testing.assert_frame_equal(table.drop(index="empty", level="clock"), alone, check_exact=True)
        assert table.loc["empty", "dnam_age"].isna().all()
        assert (table.loc["empty", "n_cpgs_used"] == 0).all() and (table.loc["empty", "n_cpgs_imputed"] == 0).all()
        assert table.loc["empty", "status"].str.contains("reads no CpGs").all()
