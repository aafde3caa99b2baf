"""The run's plan without Snakemake: settings against the sheet, batches, IDAT pairs, missing inputs."""

from __future__ import annotations

import copy
import re
import shutil

import pandas as pd
import pytest
import yaml

from conftest import PROJECT_ROOT
from epiclock import deltas, plan
from epiclock.demo import simulate
from epiclock.errors import EpiclockError
from epiclock.io.tables import write_tsv

DEMO_CONFIG = yaml.safe_load((PROJECT_ROOT / "config/config.yaml").read_text())


@pytest.fixture(scope="module")
def study():
    return simulate.simulate_study(simulate.StudyParameters(donors=3, replicates=2, seed=4, background_cpgs=50))


def study_config(tmp_path, samples: pd.DataFrame, change=None) -> dict:
    """The demo's design and contrasts on a beta-matrix study in ``tmp_path``."""
    write_tsv(samples, tmp_path / "samples.tsv")
    (tmp_path / "betas.tsv.gz").write_bytes(b"")
    config = {"samples": str(tmp_path / "samples.tsv"),
              "input": {"type": "betas", "betas": str(tmp_path / "betas.tsv.gz")},
              "clocks": {"names": ["horvath2013"]},
              "design": copy.deepcopy(DEMO_CONFIG["design"]),
              "contrasts": copy.deepcopy(DEMO_CONFIG["contrasts"])}
    if change is not None:
        change(config)
    return config


def stops(config, pattern) -> str:
    with pytest.raises(EpiclockError) as caught:
        plan.make_plan(config)
    message = str(caught.value)
    assert re.search(pattern, message), message
    assert "\n" not in message
    return message


def row_of(samples, sample_id) -> int:
    """The spreadsheet row of a sample: the header is row 1."""
    return int(samples.index[samples["sample_id"] == sample_id][0]) + 2


def test_a_beta_matrix_study_is_one_batch_of_every_sample(tmp_path, study):
    planned = plan.make_plan(study_config(tmp_path, study.samples))
    assert planned.batches == {plan.MATRIX_BATCH: study.samples["sample_id"].tolist()}
    assert planned.missing_inputs == {}
    assert planned.input_files() == {"samples": str(tmp_path / "samples.tsv"), "betas": str(tmp_path / "betas.tsv.gz")}


def test_a_donor_age_column_of_another_name_is_read_as_numbers(tmp_path, study):
    # The age column named 'age' in the design: it is numeric, so deltas can subtract it.
    samples = study.samples.rename(columns={"donor_age": "age"})
    planned = plan.make_plan(study_config(tmp_path, samples, lambda c: c["design"].update(donor_age_column="age")))
    assert pd.api.types.is_float_dtype(planned.sheet["age"])
    predictions = pd.DataFrame({"sample_id": samples["sample_id"], "clock": "horvath2013", "dnam_age": 50.0,
                                "status": "ok"})
    per_sample = deltas.per_sample(predictions, planned.sheet,
                                   deltas.Design.from_config(planned.settings.raw["design"]))
    expected = 50.0 - samples["age"].astype(float).to_numpy()
    assert per_sample["delta_age"].to_numpy() == pytest.approx(expected, abs=1e-12)


def test_a_clock_only_study_needs_only_sample_ids(tmp_path, study):
    samples = study.samples[["sample_id"]]

    def clock_only(config):
        del config["design"], config["contrasts"]

    planned = plan.make_plan(study_config(tmp_path, samples, clock_only))
    assert not planned.settings.has_design
    assert planned.batches[plan.MATRIX_BATCH] == samples["sample_id"].tolist()


def test_contrasts_without_a_design_are_refused(tmp_path, study):
    stops(study_config(tmp_path, study.samples, lambda c: c.pop("design")),
          r"^config contrasts: contrasts compare conditions within donors and need a design")


def test_sample_ids_equal_up_to_case(tmp_path, study):
    samples = study.samples.copy()
    first = samples["sample_id"].iloc[1]
    samples.loc[6, "sample_id"] = first.upper()
    path = re.escape(str(tmp_path / "samples.tsv"))
    stops(study_config(tmp_path, samples),
          rf"^{path}: rows 3, 8 \(samples {first}, {first.upper()}\) have sample IDs that differ only in case")


def test_a_sample_id_the_schema_refuses_names_its_row(tmp_path, study):
    samples = study.samples.copy()
    samples.loc[2, "sample_id"] = "S 3/b"
    stops(study_config(tmp_path, samples), r"row 4 \(sample S 3/b\): sample_id: 'S 3/b' does not match")


def test_a_donor_with_two_ages(tmp_path, study):
    samples = study.samples.copy()
    donor = samples["donor"].iloc[0]
    odd = samples.index[samples["donor"] == donor][4]
    age = samples.loc[odd, "donor_age"]
    samples.loc[odd, "donor_age"] = age + 24
    sample = samples.loc[odd, "sample_id"]
    stops(study_config(tmp_path, samples),
          rf"donor '{donor}' has donor_age {age:g} in rows .* but {age + 24:g} in row {odd + 2} \(sample {sample}\); "
          r"a donor has one donor_age")


def test_a_donor_with_two_sexes(tmp_path, study):
    samples = study.samples.copy()
    donor = samples["donor"].iloc[0]
    rows = samples.index[samples["donor"] == donor]
    sex = samples.loc[rows[0], "sex"]
    samples.loc[rows[2], "sex"] = {"F": "male", "M": "female"}[sex]
    stops(study_config(tmp_path, samples), rf"donor '{donor}' has sex {sex} in rows .* but "
                                           rf"{'M' if sex == 'F' else 'F'} in row {rows[2] + 2}")


def test_a_condition_that_contradicts_the_factors(tmp_path, study):
    samples = study.samples.copy()
    wrong = samples.index[samples["condition"] == "skin_bm_young_serum"][1]
    samples.loc[wrong, "serum"] = "old"
    sample = samples.loc[wrong, "sample_id"]
    stops(study_config(tmp_path, samples),
          rf"condition 'skin_bm_young_serum' goes with bone_marrow=yes, serum=young in row \d+ \(sample \S+\) but "
          rf"with bone_marrow=yes, serum=old in row {wrong + 2} \(sample {sample}\); the 'condition' column "
          r"contradicts the factor columns \(bone_marrow, serum\)")


def test_two_conditions_for_one_combination_of_factors(tmp_path, study):
    samples = study.samples.copy()
    wrong = samples.index[samples["condition"] == "skin_alone"][0]
    samples.loc[wrong, "condition"] = "skin_only"

    def order_without(config):
        config["design"]["condition_order"] = []

    stops(study_config(tmp_path, samples, order_without),
          rf"bone_marrow=no, serum=none is condition 'skin_only' in row {wrong + 2} \(sample \S+\) but 'skin_alone' in row")


def test_condition_order_naming_an_absent_condition(tmp_path, study):
    def misspell(config):
        config["design"]["condition_order"][2] = "skin_old_serun"

    stops(study_config(tmp_path, study.samples, misspell),
          r"^config design.condition_order: 'skin_old_serun' is not a condition of .*samples.tsv")


def test_a_contrast_whose_sides_select_the_same_samples(tmp_path, study):
    def same_sides(config):
        config["contrasts"][0]["reference"] = {"serum": "young", "bone_marrow": "yes"}

    stops(study_config(tmp_path, study.samples, same_sides),
          r"^config contrasts: contrast 'young_vs_old_serum_with_bm' selects the same 6 sample\(s\) as treated and "
          r"as reference")

    def same_minus(config):
        config["contrasts"][3]["minus"]["reference"] = {"bone_marrow": "no", "serum": "young"}

    stops(study_config(tmp_path, study.samples, same_minus),
          r"contrast 'young_vs_old_serum_bm_minus_no_bm \(its minus part\)' selects the same")


def write_pair(directory, stem, content=b"idat"):
    directory.mkdir(parents=True, exist_ok=True)
    for channel in ("Red", "Grn"):
        (directory / f"{stem}_{channel}.idat").write_bytes(content + channel.encode())


def idat_sheet(stems):
    return pd.DataFrame({"sample_id": [f"S{n}" for n in range(1, len(stems) + 1)], "basename": stems})


def test_idat_pairs_found_under_subfolders_and_samples_without_one(tmp_path):
    write_pair(tmp_path / "chip1", "201_R01C01")
    write_pair(tmp_path / "chip2", "202_R01C01")
    found, missing = plan.find_idat_basenames(idat_sheet(["201_R01C01", "202_R01C01", "203_R01C01"]), tmp_path)
    assert found == {"S1": str(tmp_path / "chip1/201_R01C01"), "S2": str(tmp_path / "chip2/202_R01C01")}
    assert list(missing) == ["S3"] and "no IDAT pair 203_R01C01_Red/_Grn" in missing["S3"]


def test_one_idat_pair_claimed_by_two_samples(tmp_path):
    write_pair(tmp_path, "201_R01C01")
    with pytest.raises(EpiclockError, match=r"sample sheet: rows 2, 4 \(samples S1, S3\) name the same IDAT pair "
                                            r"201_R01C01; one array is one sample"):
        plan.find_idat_basenames(idat_sheet(["201_R01C01", "201_R02C01", "201_R01C01"]), tmp_path)


def test_one_basename_in_two_places(tmp_path):
    write_pair(tmp_path / "run1", "201_R01C01")
    write_pair(tmp_path / "copy", "201_R01C01")
    found, _ = plan.find_idat_basenames(idat_sheet(["201_R01C01"]), tmp_path)
    assert found == {"S1": str(tmp_path / "copy/201_R01C01")}      # the same bytes: one pair
    write_pair(tmp_path / "run1", "201_R01C01", content=b"other")
    with pytest.raises(EpiclockError, match=rf"{re.escape(str(tmp_path))}: the IDAT pair 201_R01C01 is found twice "
                                            r"with different contents, in .*copy and .*run1"):
        plan.find_idat_basenames(idat_sheet(["201_R01C01"]), tmp_path)


def test_batches_of_at_most_the_batch_size():
    assert plan.plan_batches(["a", "b", "c"], 2) == {"batch_0001": ["a", "b"], "batch_0002": ["c"]}
    with pytest.raises(EpiclockError, match="config input.batch_size: must be at least 1"):
        plan.plan_batches(["a"], 0)


def test_inputs_not_there_yet_are_listed_not_fatal(tmp_path, study):
    config = study_config(tmp_path, study.samples)
    (tmp_path / "betas.tsv.gz").unlink()
    assert plan.make_plan(config).missing_inputs == {config["input"]["betas"]: "config input.betas"}
    (tmp_path / "samples.tsv").unlink()
    planned = plan.make_plan(config)
    assert planned.missing_inputs == {config["samples"]: "config samples"} and planned.batches == {}

    def idats(config):
        config["input"] = {"type": "idat", "idat_dir": str(tmp_path / "idats")}
        config["manifest"] = {"path": str(tmp_path / "manifest.csv")}

    planned = plan.make_plan(study_config(tmp_path, study.samples, idats))
    assert planned.missing_inputs == {str(tmp_path / "manifest.csv"): "config manifest.path",
                                      str(tmp_path / "idats"): "config input.idat_dir"}


def test_custom_clock_named_like_a_shipped_one(tmp_path, study):
    def clash(config):
        config["custom_clocks"] = [{"name": "horvath2013", "betas": "b", "ages": "a"}]

    stops(study_config(tmp_path, study.samples, clash), r"^config custom_clocks: horvath2013 would hide a shipped clock")


def test_the_demo_plan_batches_its_idats(tmp_path):
    # The demo's sheet and settings, with IDATs as the simulator names them (chip and position).
    config = copy.deepcopy(DEMO_CONFIG)
    sheet = pd.read_csv(PROJECT_ROOT / config["samples"], sep="\t", dtype=str)
    for row in sheet.itertuples():
        write_pair(tmp_path / "idats" / row.chip, f"{row.chip}_{row.position}")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("")
    config.update(samples=str(PROJECT_ROOT / config["samples"]), custom_clocks=[])
    config["clocks"]["names"] = ["horvath2013"]
    config["input"].update(idat_dir=str(tmp_path / "idats"), batch_size=40)
    config["manifest"]["path"] = str(manifest)
    planned = plan.make_plan(config)
    assert [len(batch) for batch in planned.batches.values()] == [40, 40, 28]
    assert planned.missing_idats == {}
    assert len([key for key in planned.input_files() if key.startswith("idat_")]) == 2 * len(sheet)
    shutil.rmtree(tmp_path / "idats")
