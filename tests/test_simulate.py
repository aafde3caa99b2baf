import numpy as np
import pandas as pd
import pytest

from epiclock import EpiclockError
from epiclock.clocks import predict, registry
from epiclock.demo import simulate, simulate_arrays
from epiclock.io.tables import read_beta_matrix


def test_design_has_every_donor_condition_and_replicate(small_study):
    samples = small_study.samples
    assert len(samples) == 3 * len(simulate.CONDITIONS) * 2
    assert len(simulate.CONDITIONS) == 6
    assert samples.groupby(["donor", "condition"]).size().eq(2).all()
    assert set(samples["condition"]) == {c for c, _, _ in simulate.CONDITIONS}
    assert samples.groupby("donor")["donor_age"].nunique().eq(1).all()
    assert samples["chip"].value_counts().max() <= simulate.SAMPLES_PER_CHIP
    assert samples["sample_id"].is_unique


def test_every_donor_has_one_sex_and_both_sexes_are_present(small_study):
    samples = small_study.samples
    assert samples.columns[-1] == "sex"
    assert samples.groupby("donor")["sex"].nunique().eq(1).all()
    assert set(samples["sex"]) == {"F", "M"}
    assert simulate.donor_sexes(6, seed=1) == simulate.donor_sexes(6, seed=1)
    assert sorted(simulate.donor_sexes(6, seed=1)) == ["F", "F", "F", "M", "M", "M"]
    for seed in range(20):
        assert set(simulate.donor_sexes(3, seed)) == {"F", "M"}


def test_every_clock_reads_the_planted_age_exactly(small_study):
    good = small_study.truth.loc[~small_study.truth["simulated_failure"]]
    predicted = predict.predict(small_study.betas, registry.resolve(registry.available()), imputation="none", min_coverage=1.0)
    merged = good.merge(predicted, on=["sample_id", "clock"])
    assert len(merged) == len(good)
    assert np.abs(merged["dnam_age"] - merged["true_dnam_age"]).max() < 1e-8


def test_betas_are_bimodal_inside_the_unit_interval(small_study):
    values = small_study.betas.to_numpy()
    values = values[~np.isnan(values)]
    assert values.min() >= simulate.BETA_FLOOR and values.max() <= simulate.BETA_CEILING
    low, middle, high = (values < 0.2).mean(), ((values > 0.4) & (values < 0.6)).mean(), (values > 0.8).mean()
    assert low > 0.2 and high > 0.2 and middle < 0.15
    assert small_study.betas.shape[0] > 700 + 250    # clock CpGs plus background
    assert small_study.betas.index.str.match(r"^cg\d{8}$").all()


def test_planted_effect_is_recorded_and_parameterised():
    parameters = simulate.StudyParameters(donors=3, replicates=1, seed=2, background_cpgs=100, failed_samples=0)
    parameters.condition_effects["skin_bm_young_serum"] = -5.0
    study = simulate.simulate_study(parameters)
    effects = study.truth.groupby("condition")["planted_effect_years"].unique()
    assert effects["skin_bm_young_serum"].tolist() == [-5.0]
    assert effects["skin_bm_old_serum"].tolist() == [0.0]
    assert not study.betas.isna().any().any()


def test_failed_array_has_a_poor_call_rate(small_study):
    failed = small_study.truth.loc[small_study.truth["simulated_failure"], "sample_id"].unique()
    assert len(failed) == 1
    assert small_study.betas[failed[0]].isna().mean() == pytest.approx(0.3, abs=0.05)


def test_same_seed_same_bytes_and_readable_by_the_importer(tmp_path):
    parameters = simulate.StudyParameters(donors=3, replicates=1, seed=11, background_cpgs=50)
    first = simulate.write_study(simulate.simulate_study(parameters), tmp_path / "a")
    second = simulate.write_study(simulate.simulate_study(parameters), tmp_path / "b")
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes()
    betas = read_beta_matrix(first["betas.tsv.gz"])
    assert betas.shape[1] == 3 * len(simulate.CONDITIONS)


def test_demo_sample_sheet_is_the_default_simulation(project_root):
    shipped = pd.read_csv(project_root / "config/samples.tsv", sep="\t", dtype=str)
    simulated = simulate.simulate_study(simulate.StudyParameters()).samples.astype(str)
    simulated["donor_age"] = simulated["donor_age"].astype(float).map(str)
    pd.testing.assert_frame_equal(shipped, simulated.reset_index(drop=True), check_dtype=False)


def test_bad_parameters_are_clear_errors():
    with pytest.raises(EpiclockError, match="at least 3 donors"):
        simulate.simulate_study(simulate.StudyParameters(donors=2))
    with pytest.raises(EpiclockError, match="unknown conditions"):
        simulate.simulate_study(simulate.StudyParameters(condition_effects={"skin_only": 1.0}))


def test_correction_keeps_targets_inside_bounds():
    rng = np.random.default_rng(0)
    weights = rng.normal(0, 1, (2, 50))
    start = rng.uniform(0.01, 0.99, 50)
    targets = weights @ start + np.array([3.0, -2.0])
    corrected = simulate.correct_to_targets(start, weights, targets)
    assert weights @ corrected == pytest.approx(targets, abs=1e-9)
    assert corrected.min() >= simulate.BETA_FLOOR and corrected.max() <= simulate.BETA_CEILING


def test_array_sized_simulation_pads_the_study_to_the_arrays_probe_count(small_study):
    cpg_ids = simulate_arrays.array_cpg_ids("450k", small_study.betas.index)
    assert len(cpg_ids) == simulate_arrays.ARRAYS["450k"] and set(small_study.betas.index) <= set(cpg_ids)
    padded = simulate_arrays.pad_betas(small_study.betas.iloc[:, :2], cpg_ids[:20_000].union(small_study.betas.index))
    assert padded.loc[small_study.betas.index].equals(small_study.betas.iloc[:, :2])
    values = padded.to_numpy()
    assert np.nanmin(values) > 0 and np.nanmax(values) < 1


def test_sex_chromosome_probes_come_in_the_epic_manifests_shares():
    epic = simulate_arrays.sex_chromosome_probes(simulate_arrays.ARRAYS["epic"]).value_counts()
    assert epic["X"] == pytest.approx(19_000, rel=0.01) and epic["Y"] == pytest.approx(500, rel=0.01)
    small = simulate_arrays.sex_chromosome_probes(1000).value_counts()
    assert small.to_dict() == simulate_arrays.MIN_SEX_CHROMOSOME_PROBES


@pytest.fixture(scope="module")
def simulated_arrays(small_study, tmp_path_factory):
    """The small study's IDAT pairs and manifest, and the sample ID of its failed array."""
    from epiclock.io import manifest

    out = tmp_path_factory.mktemp("arrays")
    paths = simulate_arrays.write_idats(small_study.betas, small_study.samples, {}, out, seed=7)
    (failed,) = small_study.truth.loc[small_study.truth["simulated_failure"], "sample_id"].unique()
    basenames = {row.sample_id: paths["idat_dir"] / str(row.chip) / f"{row.chip}_{row.position}"
                 for row in small_study.samples.itertuples()}
    return manifest.parse_manifest(paths["manifest"]), basenames, failed


def test_simulated_controls_pass_every_metric_on_good_arrays_and_fail_staining_on_the_failed_one(simulated_arrays):
    from epiclock.io import idat
    from epiclock.preprocess import controls

    parsed, basenames, failed = simulated_arrays
    for sample_id, basename in basenames.items():
        metrics = controls.control_metrics(idat.read_idat_pair(basename), parsed.controls)
        assert not metrics["value"].isna().any(), sample_id  # every metric finds its controls
        passed, reasons = controls.control_summary(metrics)
        if sample_id == failed:
            assert not passed and "staining_green" in reasons and "staining_red" in reasons
        else:
            assert passed, f"{sample_id}: {reasons}"


def test_simulated_manifest_carries_the_real_control_names(simulated_arrays):
    parsed = simulated_arrays[0]
    names = set(parsed.controls["extended_type"])
    assert {"Biotin (High)", "DNP (Bkg)", "Extension (A)", "Hyb (Medium)", "Target Removal 1", "BS Conversion I-C1",
            "BS Conversion I-U4", "BS Conversion II-1", "GT Mismatch 1 (PM)", "GT Mismatch 4 (MM)", "Specificity 1",
            "NP (A)", "Negative 1", "Norm_A1", "Restore"} <= names
    assert set(parsed.controls["type"]) >= {"STAINING", "BISULFITE CONVERSION II", "SPECIFICITY II", "NORM_T"}


def test_simulated_manifest_writes_chromosomes_as_real_manifests_do(simulated_arrays, small_study):
    import gzip
    import io

    parsed = simulated_arrays[0]
    text = gzip.decompress(open(parsed.source, "rb").read()).decode()
    assay = text.split("[Assay]\n")[1].split("[Controls]")[0]
    raw = pd.read_csv(io.StringIO(assay), dtype=str).set_index("IlmnID")
    assert set(raw["CHR"]) == {str(number) for number in range(1, 23)} | {"X", "Y"}
    # The study's CpGs, the clocks' among them, stay on autosomes: the sex-chromosome probes are extra ones.
    assert raw.loc[small_study.betas.index, "CHR"].str.isdigit().all()
    chromosomes = parsed.probes.set_index("probe_id")["chromosome"]
    assert (chromosomes == "chrX").sum() >= 200 and (chromosomes == "chrY").sum() >= 50


@pytest.fixture(scope="module")
def predicted_sexes(simulated_arrays):
    """minfi's sex check on every simulated array, by sample ID."""
    from epiclock.io import idat
    from epiclock.qc import sex as qc_sex

    parsed, basenames, _ = simulated_arrays
    rows = [qc_sex.predict_sex(idat.read_idat_pair(basename), parsed.probes) | {"sample": sample_id}
            for sample_id, basename in basenames.items()]
    return pd.DataFrame(rows).set_index("sample")


def test_sex_predicted_from_simulated_arrays_is_the_simulated_sex(predicted_sexes, small_study):
    from epiclock.qc import sex as qc_sex

    sheet_sex = small_study.samples.set_index("sample_id")["sex"]
    assert set(sheet_sex) == {"F", "M"}
    assert predicted_sexes["predicted_sex"].to_dict() == sheet_sex.to_dict()
    # Far from the cutoff: females' chrY probes read background, males' chrX and chrY one copy each.
    margin = (predicted_sexes["y_minus_x"] - qc_sex.SEX_CUTOFF).abs()
    assert margin.min() > 1.0


def test_check_sex_with_the_simulated_sheet_finds_exactly_the_swapped_sample(predicted_sexes, small_study):
    from epiclock.qc import sex as qc_sex

    sheet_sex = small_study.samples.set_index("sample_id")["sex"]
    checked = qc_sex.check_sex(predicted_sexes.reset_index(), sheet_sex)
    assert checked["sex_matches"].eq(True).all()
    swapped = sheet_sex.copy()
    swapped.iloc[0] = {"F": "M", "M": "F"}[swapped.iloc[0]]
    checked = qc_sex.check_sex(predicted_sexes.reset_index(), swapped)
    assert checked.index[checked["sex_matches"].eq(False)].tolist() == [swapped.index[0]]
    assert checked["sex_matches"].notna().all()


def _quiet_study(**overrides) -> simulate.SimulatedStudy:
    """Four donors, one replicate, no replicate, chip or clock noise: what is left is the design's own."""
    parameters = simulate.StudyParameters(donors=4, replicates=1, seed=3, background_cpgs=200, failed_samples=0,
                                          replicate_sd=0.0, clock_noise_sd=0.0, chip_sd=0.0, **overrides)
    return simulate.simulate_study(parameters)


def _ages(study: simulate.SimulatedStudy, clock: str = "horvath2013") -> pd.Series:
    return study.truth[study.truth["clock"] == clock].set_index("sample_id")["true_dnam_age"]


def test_donors_respond_to_a_condition_each_in_their_own_way():
    donors = ["D01", "D02", "D03", "D04"]
    for response_sd, spread in ((0.0, 0.0), (1.5, None)):
        ages = _ages(_quiet_study(donor_response_sd=response_sd))
        responses = np.array([ages[f"{donor}_skin_bm_young_serum_r1"] - ages[f"{donor}_skin_alone_r1"]
                              for donor in donors])
        if spread == 0.0:
            assert responses == pytest.approx(np.full(4, -2.0), abs=1e-9)
        else:
            assert responses.std(ddof=1) > 0.3
    # The same draw for every clock: a donor's response is biology, not a clock's reading.
    study = _quiet_study(donor_response_sd=1.5)
    first, second = (_ages(study, name) for name in registry.for_simulation()[:2])
    assert (first - first["D01_skin_alone_r1"]).to_numpy() == pytest.approx(
        (second - second["D01_skin_alone_r1"]).to_numpy(), abs=1e-9)


def test_culture_time_points_drift_together_within_donor():
    study = _quiet_study(time_points=3, drift_sd=0.0, donor_response_sd=0.0)
    assert sorted(study.samples["time"].unique()) == ["t1", "t2", "t3"]
    assert len(study.samples) == 4 * len(simulate.CONDITIONS) * 3
    ages = _ages(study)
    assert ages["D02_skin_bm_t3_r1"] - ages["D02_skin_bm_t1_r1"] == pytest.approx(2 * 0.5)


def test_conditions_move_cpgs_outside_the_clocks():
    plain, shifted = (_quiet_study(genome_wide_effect_sd=sd).betas for sd in (0.0, 0.5))
    background = plain.index.difference(sorted(set().union(*(registry.get(name).cpg_ids
                                                              for name in registry.for_simulation()))))
    alone = [column for column in plain.columns if "skin_alone" in column]
    treated = [column for column in plain.columns if "skin_bm_young_serum" in column]
    assert np.abs(plain.loc[background, alone] - shifted.loc[background, alone]).max().max() < 1e-12
    assert np.abs(plain.loc[background, treated] - shifted.loc[background, treated]).mean().mean() > 0.02


def test_dye_bias_varies_by_probe():
    probes, controls = simulate_arrays.synthetic_manifest([f"cg{number:08d}" for number in range(200)], seed=2)
    addresses = np.sort(np.concatenate([
        probes["AddressA_ID"].to_numpy(dtype=np.int64),
        probes.loc[probes["Infinium_Design_Type"] == "I", "AddressB_ID"].astype(np.int64).to_numpy(),
        controls["Address"].to_numpy(dtype=np.int64)]))
    model = simulate_arrays.IntensityModel(background_sd=0.0, signal_noise=0.0)
    probe_dye = np.exp(np.random.default_rng(0).normal(0, 0.2, len(probes)))
    arguments = (np.zeros(len(probes)), np.zeros(len(probes), bool), np.full(len(probes), 5000.0),
                 np.ones(len(probes)), probes, controls, addresses, model)
    plain = simulate_arrays.sample_intensities(*arguments, np.random.default_rng(1))[0]
    biased = simulate_arrays.sample_intensities(*arguments, np.random.default_rng(1), probe_dye)[0]
    # Unmethylated type II signal is read in red: above the (constant) background it scales by the probe's factor.
    type_two = (probes["Infinium_Design_Type"] == "II").to_numpy()
    rows = np.searchsorted(addresses, probes.loc[type_two, "AddressA_ID"].to_numpy(dtype=np.int64))
    ratio = (biased[rows] - model.background_mean) / (plain[rows] - model.background_mean)
    assert ratio == pytest.approx(probe_dye[type_two], rel=1e-9)
