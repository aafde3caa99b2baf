import numpy as np
import pandas as pd
import pytest

from epiclock import EpiclockError, clocks, provenance

RNG = np.random.default_rng(3)


def _random_betas(cpg_ids, n_samples=4):
    return pd.DataFrame(RNG.uniform(0.05, 0.95, (len(cpg_ids), n_samples)), index=pd.Index(cpg_ids, name="cpg_id"),
                        columns=[f"S{i}" for i in range(n_samples)])


def test_anti_trafo_branches_follow_the_linear_predictor():
    # 21 * exp(x) - 1 below 0, 21 * x + 20 above: both branches meet at age 20.
    assert clocks.anti_trafo(0.0) == pytest.approx(20.0)
    assert clocks.anti_trafo(-1.0) == pytest.approx(21 * np.exp(-1) - 1)
    assert clocks.anti_trafo(1.0) == pytest.approx(41.0)
    assert clocks.anti_trafo(-800.0) == pytest.approx(-1.0)
    ages = np.array([0.0, 5.0, 19.9, 20.0, 45.0, 99.0])
    assert clocks.anti_trafo(clocks.trafo(ages)) == pytest.approx(ages)


@pytest.mark.parametrize("name,n_cpgs,intercept", [("horvath2013", 353, 0.695507258),
                                                   ("horvath_skin_blood2018", 391, -0.447119319)])
def test_shipped_clocks_have_their_published_size_and_intercept(name, n_cpgs, intercept):
    clock = clocks.get(name)
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
    predicted = clocks.get("horvath2013").predict(betas)
    assert predicted["dnam_age"].to_numpy() == pytest.approx(expected, abs=1e-9)
    assert (predicted["n_cpgs_used"] == 353).all() and (predicted["status"] == "ok").all()


def test_missing_cpgs_are_imputed_from_reference_never_zero():
    clock = clocks.get("horvath_skin_blood2018")
    betas = _random_betas(clock.cpg_ids, 2)
    dropped = clock.cpg_ids[:10]
    reference = clocks.reference_medians()
    filled = betas.copy()
    filled.loc[dropped] = reference.loc[dropped].to_numpy()[:, None]
    expected = clock.predict(filled)["dnam_age"].to_numpy()

    partial = betas.drop(index=dropped)
    result = clock.predict(partial, imputation="reference")
    assert result["dnam_age"].to_numpy() == pytest.approx(expected, abs=1e-9)
    assert (result["n_cpgs_imputed"] == 10).all() and (result["n_cpgs_missing"] == 10).all()
    assert result["status"].str.contains("10 CpGs imputed").all()

    zero_filled = betas.copy()
    zero_filled.loc[dropped] = 0.0
    assert not np.allclose(clock.predict(zero_filled)["dnam_age"], result["dnam_age"])


def test_no_imputation_gives_no_age_with_a_reason():
    clock = clocks.get("horvath2013")
    betas = _random_betas(clock.cpg_ids, 2)
    betas.iloc[0, 0] = np.nan
    result = clock.predict(betas, imputation="none")
    assert np.isnan(result["dnam_age"].iloc[0]) and not np.isnan(result["dnam_age"].iloc[1])
    assert "imputation is 'none'" in result["status"].iloc[0]


def test_low_coverage_gives_no_age_with_a_reason():
    clock = clocks.get("horvath2013")
    betas = _random_betas(clock.cpg_ids[:100], 2)
    result = clock.predict(betas, imputation="reference", min_coverage=0.8)
    assert result["dnam_age"].isna().all()
    assert result["status"].str.contains("100 of 353 CpGs measured, below the minimum coverage 0.8").all()


def test_a_samples_age_does_not_depend_on_the_other_samples():
    clock = clocks.get("horvath_skin_blood2018")
    betas = _random_betas(clock.cpg_ids, 6)
    betas.iloc[:30, :] = np.nan   # the same CpGs missing in every sample: imputation must not look at the batch
    alone = clock.predict(betas[["S0"]])["dnam_age"].iloc[0]
    with_others = clock.predict(betas)["dnam_age"].iloc[0]
    with_different_others = clock.predict(pd.concat([betas[["S0"]], _random_betas(clock.cpg_ids, 3) * 0.2], axis=1))
    assert alone == with_others == with_different_others["dnam_age"].iloc[0]


def test_unknown_clock_and_imputation_are_clear_errors():
    with pytest.raises(EpiclockError, match="unknown clock 'hannum'; available clocks: horvath2013"):
        clocks.get("hannum")
    with pytest.raises(EpiclockError, match="unknown imputation 'mean'"):
        clocks.get("horvath2013").predict(_random_betas(["cg00000029"]), imputation="mean")


def test_predict_long_table_matches_the_output_contract():
    betas = _random_betas(clocks.get("horvath2013").cpg_ids + clocks.get("horvath_skin_blood2018").cpg_ids, 3)
    table = clocks.predict(betas.loc[~betas.index.duplicated()], clocks.available())
    assert {"sample_id", "clock", "dnam_age", "n_cpgs_used", "n_cpgs_missing"} <= set(table.columns)
    assert len(table) == 6


def test_vendored_files_match_their_recorded_checksums():
    table = provenance.vendored_data()
    assert set(table["file"]) >= {"clocks/horvath2013.tsv", "clocks/horvath_skin_blood2018.tsv",
                                  "reference/sesame_450k_median.tsv.gz"}
    assert table["doi"].str.startswith("10.").all()
    assert (table["source_version"] == "0.9.1").all()


def test_linear_clock_fit_follows_scikit_learn_conventions():
    cpg_ids = [f"cg{i:08d}" for i in range(20)]
    X = pd.DataFrame(RNG.uniform(0, 1, (80, 20)), columns=cpg_ids)
    ages = 30 + 40 * X.iloc[:, 0] - 20 * X.iloc[:, 1]
    model = clocks.LinearClock(transform="anti_trafo", alpha=1e-4, l1_ratio=0.5).fit(X, ages)
    assert model.get_params()["transform"] == "anti_trafo"
    assert list(model.feature_names_in_) == cpg_ids
    assert np.abs(model.predict(X) - ages).mean() < 1.5
