"""One study, one place: a study's config gets the schema's defaults (never the demo's), its results
stay in its own directory, a clock-only study needs no design, and a study whose data is not there
yet can still be dry-run."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import PROJECT_ROOT, snakemake
from epiclock import config as settings_module
from epiclock.steps.compute_deltas import compute_deltas
from epiclock.demo import simulate
from epiclock.io.tables import write_beta_matrix, write_tsv


@pytest.fixture(scope="module")
def clock_only_run(tmp_path_factory):
    """A study that names only its samples and its betas, run in a directory that also holds the demo's
    config/config.yaml (as the project root does): the demo's values must not leak into it."""
    workdir = tmp_path_factory.mktemp("clock_only")
    study = simulate.simulate_study(simulate.StudyParameters(donors=3, replicates=1, seed=11, background_cpgs=100))
    (workdir / "data").mkdir()
    write_tsv(study.samples[["sample_id"]], workdir / "data/samples.tsv")
    write_beta_matrix(study.betas, workdir / "data/betas.tsv.gz")
    (workdir / "config").mkdir()
    shutil.copy(PROJECT_ROOT / "config/config.yaml", workdir / "config/config.yaml")
    config = {"samples": "data/samples.tsv", "input": {"type": "betas", "betas": "data/betas.tsv.gz"},
              "clocks": {"names": ["horvath2013"]}}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(PROJECT_ROOT, workdir)
    return workdir, study


@pytest.mark.workflow
def test_a_clock_only_study_gets_ages_qc_and_coverage(clock_only_run):
    workdir, study = clock_only_run
    results = workdir / "results"
    predictions = pd.read_csv(results / "clocks/predictions.tsv", sep="\t")
    qc_table = pd.read_csv(results / "qc/samples.tsv", sep="\t")
    passed = set(qc_table.loc[qc_table["passed"], "sample_id"])
    assert set(predictions["sample_id"]) == passed and predictions["dnam_age"].notna().all()
    assert (results / "clocks/coverage.tsv").is_file()
    assert not (results / "deltas").exists()
    html = (results / "report.html").read_text()
    assert 'id="contrasts"' not in html and 'id="ages"' in html
    assert "A clock-only run" in html


@pytest.mark.workflow
def test_a_study_config_gets_the_schemas_defaults_not_the_demos(clock_only_run):
    workdir, _ = clock_only_run
    html = (workdir / "results/report.html").read_text()
    demo = yaml.safe_load((PROJECT_ROOT / "config/config.yaml").read_text())
    schema_title = settings_module.load_schema()["properties"]["report"]["properties"]["title"]["default"]
    assert f"<h1>{schema_title}</h1>" in html and demo["report"]["title"] not in html
    assert "skin_demo" not in html           # the demo's custom clock
    assert not (workdir / "results/training").exists()


@pytest.mark.workflow
def test_results_of_another_study_are_refused(clock_only_run, tmp_path):
    workdir, study = clock_only_run
    assert (workdir / "results/study.yaml").is_file()
    other = dict(yaml.safe_load((workdir / "config.yaml").read_text()), samples=str(tmp_path / "other.tsv"))
    write_tsv(study.samples[["sample_id"]], tmp_path / "other.tsv")
    (workdir / "other.yaml").write_text(yaml.safe_dump(other))
    result = snakemake(PROJECT_ROOT, workdir, "--dry-run", "--configfile", str(workdir / "other.yaml"), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "epiclock: error: results/ holds the results of another study (samples " in output
    assert "run each study in its own directory (snakemake -d STUDY_DIR" in output


@pytest.mark.workflow
def test_a_study_whose_data_is_not_there_yet_can_be_dry_run_and_linted(tmp_path):
    config = {"samples": "data/samples.tsv", "input": {"type": "idat", "idat_dir": "data/idats"},
              "manifest": {"path": "data/manifest.csv.gz"}, "clocks": {"names": ["horvath2013"]}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(PROJECT_ROOT, tmp_path, "--dry-run", check=False)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert "epiclock: data/samples.tsv (config samples) is not there yet" in output
    assert "data/samples.tsv" in output.split("Missing input files for rule all")[-1]     # asked for by name
    # Lint parses the workflow too: the missing data is no error there.
    linted = snakemake(PROJECT_ROOT, tmp_path, "--lint", check=False)
    assert "Traceback" not in linted.stdout + linted.stderr and "epiclock: error" not in linted.stderr
    (tmp_path / "data").mkdir()
    write_tsv(pd.DataFrame({"sample_id": ["S1"], "basename": ["201_R01C01"]}), tmp_path / "data/samples.tsv")
    result = snakemake(PROJECT_ROOT, tmp_path, "--dry-run", check=False)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert "epiclock: data/manifest.csv.gz (config manifest.path) is not there yet" in output
    assert "epiclock: data/idats (config input.idat_dir) is not there yet" in output


def test_the_deltas_step_reads_the_age_column_the_design_names(tmp_path):
    # design.donor_age_column: age once died with a TypeError: only a column named donor_age was numeric.
    study = simulate.simulate_study(simulate.StudyParameters(donors=3, replicates=1, seed=2, background_cpgs=10))
    samples = study.samples.rename(columns={"donor_age": "age"})
    write_tsv(samples, tmp_path / "samples.tsv")
    dnam_age = pd.Series(np.random.default_rng(0).normal(60.0, 5.0, len(samples)), index=samples["sample_id"])
    predictions = pd.DataFrame({"sample_id": samples["sample_id"], "clock": "horvath2013",
                                "dnam_age": dnam_age.to_numpy(), "unit": "years", "status": "ok"})
    predictions.to_parquet(tmp_path / "predictions.parquet")
    demo = settings_module.demo_settings().raw
    outputs = {f"{table}_{kind}": str(tmp_path / f"{table}.{kind}") for table in ("per_sample", "per_condition",
                                                                               "contrasts") for kind in ("tsv", "parquet")}
    compute_deltas(str(tmp_path / "predictions.parquet"), str(tmp_path / "samples.tsv"),
                            dict(demo["design"], donor_age_column="age"), demo["contrasts"], outputs)
    per_sample = pd.read_parquet(outputs["per_sample_parquet"]).set_index("sample_id")
    ages = samples.set_index("sample_id")["age"].astype(float)
    expected = (dnam_age - ages).reindex(per_sample.index).to_numpy()
    assert per_sample["delta_age"].to_numpy() == pytest.approx(expected, abs=1e-12)
