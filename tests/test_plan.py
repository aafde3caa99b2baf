"""The run's plan without Snakemake: settings against the sheet, batches, IDAT pairs, missing inputs."""

from __future__ import annotations

import copy
import re
import shutil

import pandas as pd
import pytest

from conftest import DEMO_CONFIG, PROJECT_ROOT, idat_sheet, plan_config, plan_stops, write_pair
from epiclock import deltas, plan
from epiclock.demo import simulate
from epiclock.errors import EpiclockError
from epiclock.io.tables import write_tsv
from epiclock.steps.record_study import record_study

@pytest.fixture(scope="module")
def study():
    return simulate.simulate_study(simulate.StudyParameters(donors=3, replicates=2, seed=4, background_cpgs=50))


def test_a_beta_matrix_study_is_one_batch_of_every_sample(tmp_path, study):
    planned = plan.make_plan(plan_config(tmp_path, study.samples))
    assert planned.batches == {plan.MATRIX_BATCH: study.samples["sample_id"].tolist()}
    assert planned.missing_inputs == {}
    assert planned.input_files() == {"samples": str(tmp_path / "samples.tsv"), "betas": str(tmp_path / "betas.tsv.gz")}


def test_a_donor_age_column_of_another_name_is_read_as_numbers(tmp_path, study):
    # The age column named 'age' in the design: it is numeric, so deltas can subtract it.
    samples = study.samples.rename(columns={"donor_age": "age"})
    planned = plan.make_plan(plan_config(tmp_path, samples, lambda c: c["design"].update(donor_age_column="age")))
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

    planned = plan.make_plan(plan_config(tmp_path, samples, clock_only))
    assert not planned.settings.has_design
    assert planned.batches[plan.MATRIX_BATCH] == samples["sample_id"].tolist()


def test_contrasts_without_a_design_are_refused(tmp_path, study):
    plan_stops(plan_config(tmp_path, study.samples, lambda c: c.pop("design")),
          r"^config contrasts: contrasts compare conditions within donors and need a design")


def test_idat_pairs_found_under_subfolders_and_samples_without_one(tmp_path):
    write_pair(tmp_path / "chip1", "201_R01C01")
    write_pair(tmp_path / "chip2", "202_R01C01")
    found, missing = plan.find_idat_basenames(idat_sheet(["201_R01C01", "202_R01C01", "203_R01C01"]), tmp_path)
    assert found == {"S1": str(tmp_path / "chip1/201_R01C01"), "S2": str(tmp_path / "chip2/202_R01C01")}
    assert list(missing) == ["S3"] and "no IDAT pair 203_R01C01_Red/_Grn" in missing["S3"]


def test_batches_of_at_most_the_batch_size():
    assert plan.plan_batches(["a", "b", "c"], 2) == {"batch_0001": ["a", "b"], "batch_0002": ["c"]}
    with pytest.raises(EpiclockError, match="config input.batch_size: must be at least 1"):
        plan.plan_batches(["a"], 0)


def test_inputs_not_there_yet_are_listed_not_fatal(tmp_path, study):
    config = plan_config(tmp_path, study.samples)
    (tmp_path / "betas.tsv.gz").unlink()
    assert plan.make_plan(config).missing_inputs == {config["input"]["betas"]: "config input.betas"}
    (tmp_path / "samples.tsv").unlink()
    planned = plan.make_plan(config)
    assert planned.missing_inputs == {config["samples"]: "config samples"} and planned.batches == {}

    def idats(config):
        config["input"] = {"type": "idat", "idat_dir": str(tmp_path / "idats")}
        config["manifest"] = {"path": str(tmp_path / "manifest.csv")}

    planned = plan.make_plan(plan_config(tmp_path, study.samples, idats))
    assert planned.missing_inputs == {str(tmp_path / "manifest.csv"): "config manifest.path",
                                      str(tmp_path / "idats"): "config input.idat_dir"}


def test_custom_clock_named_like_a_shipped_one(tmp_path, study):
    def clash(config):
        config["custom_clocks"] = [{"name": "horvath2013", "betas": "b", "ages": "a"}]

    plan_stops(plan_config(tmp_path, study.samples, clash), r"^config custom_clocks: horvath2013 would hide a shipped clock")


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


def test_results_of_another_study_are_refused(tmp_path, study):
    config = plan_config(tmp_path, study.samples)
    settings = plan.make_plan(config).settings
    results = tmp_path / "results"
    plan.check_results_dir(settings, results)        # nothing there yet
    record_study(plan.study_identity(settings), str(results / plan.STUDY_MARK))   # what rule record_study writes
    plan.check_results_dir(settings, results)        # the same study again
    other = dict(config, samples=str(tmp_path / "other.tsv"))
    write_tsv(study.samples, tmp_path / "other.tsv")
    with pytest.raises(EpiclockError, match=rf"^{re.escape(str(results))}/ holds the results of another study "
                                            rf"\(samples {re.escape(str(tmp_path / 'samples.tsv'))}, this config: "
                                            r".*other.tsv\); run each study in its own directory \(snakemake -d "
                                            r"STUDY_DIR"):
        plan.check_results_dir(plan.make_plan(other).settings, results)
