"""End-to-end: the Snakefile on a small simulated study, in a temporary directory."""

import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from conftest import bench_script, planned_rules, snakemake
from epiclock.clocks import clock as clocks_clock
from epiclock.clocks import registry
from epiclock.steps import run as steps_run

pytestmark = pytest.mark.workflow

PLANTED_YOUNG_VS_OLD = -2.0
PLANTED_CLOCKS = ["horvath2013", "horvath_skin_blood2018", "skin_demo"]
RUN_CLOCKS = registry.expand_names(PLANTED_CLOCKS + ["in_vitro"])


def test_snakemake_lint_finds_nothing(project_root, finished_run):
    result = snakemake(project_root, finished_run, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_outputs_follow_the_contract(finished_run):
    results = finished_run / "results"
    qc_table = pd.read_csv(results / "qc/samples.tsv", sep="\t")
    assert (~qc_table["passed"]).sum() == 1 and "call rate" in qc_table.loc[~qc_table["passed"], "reasons"].iloc[0]
    predictions = pd.read_csv(results / "clocks/predictions.tsv", sep="\t")
    assert list(predictions.columns[:2]) == ["sample_id", "clock"]
    assert {"dnam_age", "n_cpgs_used", "n_cpgs_missing"} <= set(predictions.columns)
    # The quarantined sample is excluded downstream.
    failed = qc_table.loc[~qc_table["passed"], "sample_id"].iloc[0]
    assert failed not in set(predictions["sample_id"])
    contrasts = pd.read_csv(results / "deltas/contrasts.tsv", sep="\t")
    assert list(contrasts.columns[:6]) == ["contrast", "clock", "estimate", "unit", "estimate_years", "ci_low"]
    # Each clock's contrast is in its own unit (the in-vitro panel: divisions, scores); years only for ages.
    units = {name: registry.get(name).unit for name in RUN_CLOCKS if name != "skin_demo"} | {"skin_demo": "years"}
    assert (contrasts["unit"] == contrasts["clock"].map(units)).all()
    in_years = contrasts["unit"] == "years"
    assert contrasts.loc[in_years, "estimate"].to_numpy() == pytest.approx(contrasts.loc[in_years, "estimate_years"].to_numpy(), nan_ok=True)
    assert contrasts.loc[~in_years, "estimate_years"].isna().all() and (~in_years).any()
    assert (results / "deltas/per_sample.tsv").is_file()
    record = json.loads((results / "provenance.json").read_text())
    assert set(record["inputs"]) == {str(finished_run / "data/samples.tsv"), str(finished_run / "data/betas.tsv.gz")}
    assert record["software"]["snakemake"] != "not installed"
    # The demo config names the in-vitro panel, which the workflow runs as its clocks.
    assert record["config"]["clocks"]["names"] == RUN_CLOCKS
    card = json.loads((results / "training/skin_demo/model_card.json").read_text())
    assert card["n_samples"] == 60 and card["outer_cv"]["mae_years"] < 5
    # The reference cohort's ages table names each sample's donor: folds are grouped by it.
    assert card["n_donors"] == 60 and card["grouping"]["column"] == "donor"
    assert set(card["outer_cv"]["calibration"]) == {"slope", "intercept"} and card["outer_cv"]["by_age_band"]
    reference = pd.read_csv(results / "training/skin_demo/imputation_reference.tsv", sep="\t")
    coefficients = pd.read_csv(results / "training/skin_demo/coefficients.tsv", sep="\t")
    assert list(reference["cpg_id"]) == list(coefficients["cpg_id"])
    coverage = pd.read_csv(results / "clocks/coverage.tsv", sep="\t")
    assert set(coverage["clock"]) == set(RUN_CLOCKS)
    assert set(registry.panel("in_vitro")) <= set(predictions.loc[predictions["dnam_age"].notna(), "clock"])
    details = pd.read_csv(results / "clocks/details.tsv", sep="\t")
    assert list(details.columns) == clocks_clock.DETAIL_COLUMNS and set(details["clock"]) == {"epitoc2_2020", "epitoc3_2024"}
    assert (details["quantity"] == "per_year_of_age").all() and failed not in set(details["sample_id"])
    blood = predictions[predictions["clock"] == "intrinclock2024"]
    assert blood["status"].str.endswith("a blood clock applied to skin)").all()   # the demo's tissue is skin
    html = (results / "report.html").read_text()
    assert "young_vs_old_serum_with_bm" in html and html.count("<svg") >= 3
    # Self-contained: nothing is loaded from elsewhere (SVG namespace URIs are names, not loads).
    for external in ('src="http', "src='http", 'href="http', "<link", "<script src", "url(http", "@import"):
        assert external not in html


# A sampled peak of a job's process tree can exceed the step's own peak by the shell Snakemake starts
# the script in (a few MiB) and libraries both map; it cannot exceed it by more.
SHELL_ALLOWANCE_MIB = 32


def test_every_job_leaves_its_log_benchmark_and_usage(finished_run):
    """logs/<rule>/<wildcards>.log, Snakemake's benchmark and the step's usage beside it for every job
    (epiclock.steps.run), read as bench/scale.py reads them."""
    jobs = bench_script("scale").job_usage(finished_run / steps_run.BENCHMARK_DIR)
    logs = finished_run / steps_run.LOG_DIR
    assert sorted((jobs["rule"] + "/" + jobs["job"]).str.rstrip("/")) == sorted(
        str(path.relative_to(logs).with_suffix("")) for path in logs.rglob("*.log"))
    assert {"import_betas", "sample_qc", "train_clock", "predict_batch_clocks", "predict_clocks",
            "estimate_composition", "compute_deltas", "write_provenance", "write_figures",
            "write_report"} <= set(jobs["rule"])
    assert (jobs["s"] > 0).all() and (jobs["cpu_time_exact"] > 0).all()
    # A Python process with numpy and pandas loaded holds more than 50 MiB.
    assert (jobs["max_rss_exact"] > 50).all(), jobs
    sampled = jobs.dropna(subset=["max_rss"])
    assert (sampled["max_rss"] <= sampled["max_rss_exact"] + SHELL_ALLOWANCE_MIB).all(), sampled


def test_planted_contrast_is_inside_the_confidence_interval(finished_run):
    contrasts = pd.read_csv(finished_run / "results/deltas/contrasts.tsv", sep="\t")
    rows = contrasts[(contrasts["contrast"] == "young_vs_old_serum_with_bm") & contrasts["clock"].isin(PLANTED_CLOCKS)]
    assert len(rows) == 3     # two published clocks and the custom clock trained in the run
    for row in rows.itertuples():
        assert row.ci_low <= PLANTED_YOUNG_VS_OLD <= row.ci_high, row


def test_rerun_has_nothing_to_do(project_root, finished_run):
    assert planned_rules(project_root, finished_run) == set()


def test_the_study_records_date_reruns_nothing(project_root, finished_run):
    """results/study.yaml is written before the first steps, which wait for it, but only its being there counts."""
    record = finished_run / "results/study.yaml"
    assert record.is_file()
    os.utime(record)
    assert planned_rules(project_root, finished_run) == set()


def _without_run_date(html: str) -> str:
    return re.sub(r'<span id="run-date">[^<]*</span>', "", html)


def test_report_is_byte_identical_but_for_the_run_date(project_root, finished_run):
    report = finished_run / "results/report.html"
    first = report.read_bytes()
    snakemake(project_root, finished_run, "--forcerun", "write_figures")
    assert report.read_bytes() == first
    snakemake(project_root, finished_run, "--forcerun", "write_provenance")
    second = report.read_text()
    assert second != first.decode() or "run-date" not in second
    assert _without_run_date(second) == _without_run_date(first.decode())


def test_snakemake_report_has_the_annotated_outputs(project_root, finished_run, tmp_path):
    archive = tmp_path / "report.zip"
    snakemake(project_root, finished_run, "--report", str(archive))
    import zipfile

    names = zipfile.ZipFile(archive).namelist()
    for expected in ("report.html", "contrasts.tsv", "predictions.tsv", "samples.tsv",
                     "contrasts.forest.young_vs_old_serum_with_bm.svg"):
        assert any(name.endswith(expected) for name in names), expected


def test_changing_the_sample_sheet_reruns_only_what_reads_it(project_root, finished_run):
    # Snakemake compares checksums of inputs whose mtime changed, so the sheet's content must change.
    sheet = finished_run / "data/samples.tsv"
    table = pd.read_csv(sheet, sep="\t", dtype=str)
    table["operator"] = "AB"
    table.to_csv(sheet, sep="\t", index=False)
    planned = planned_rules(project_root, finished_run)
    assert "import_betas" not in planned
    assert {"sample_qc", "compute_deltas", "write_provenance", "write_report"} <= planned


def test_a_bad_contrast_stops_before_any_job(project_root, finished_run, tmp_path):
    config = yaml.safe_load((finished_run / "config.yaml").read_text())
    config["contrasts"][0]["treated"]["serum"] = "yuong"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(project_root, tmp_path, check=False)
    assert result.returncode != 0
    assert "young_vs_old_serum_with_bm" in result.stderr + result.stdout
    assert "serum='yuong'" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


def test_composition_per_sample_and_per_contrast(finished_run):
    """The planted cell mix comes back (mean absolute error under 0.01), and the fibroblast loss with
    bone marrow is the composition difference of bone_marrow_vs_skin_alone."""
    results = finished_run / "results"
    fractions = pd.read_csv(results / "qc/composition.tsv", sep="\t")
    planted = pd.read_csv(finished_run / "data/composition_truth.tsv", sep="\t")
    merged = fractions.merge(planted, on=["sample_id", "cell_type"], suffixes=("", "_planted"))
    assert len(merged) == len(fractions) == 3 * fractions["sample_id"].nunique()
    assert (merged["fraction"] - merged["fraction_planted"]).abs().mean() < 0.01
    contrasts = pd.read_csv(results / "qc/composition_contrasts.tsv", sep="\t").set_index(["contrast", "cell_type"])
    assert contrasts.loc[("bone_marrow_vs_skin_alone", "Fib"), "estimate"] < -0.02
    assert contrasts.loc[("bone_marrow_vs_skin_alone", "Fib"), "n_donors"] == 4


def test_contrasts_adjusted_for_composition_beside_the_unadjusted(finished_run):
    """config deltas.adjust_for: [Fib] puts the adjusted estimates after the unadjusted ones, labelled."""
    contrasts = pd.read_csv(finished_run / "results/deltas/contrasts.tsv", sep="\t")
    columns = list(contrasts.columns)
    assert columns.index("adjusted_for") > columns.index("mixed_note")
    assert (contrasts["adjusted_for"] == "Fib").all()
    assert contrasts[["adjusted_estimate", "adjusted_mixed_estimate"]].notna().all().all()
    html = (finished_run / "results/report.html").read_text()
    assert 'id="contrasts-adjusted"' in html and "adjusted (donor level)" in html


def test_demo_accuracy_reports_every_clock_in_its_own_unit(project_root, finished_run):
    """bench/demo_accuracy.py once read estimate_years, empty for clocks not in years: every clock of
    contrasts.tsv must come out with its estimate, under its unit's heading."""
    result = subprocess.run(
        [sys.executable, str(project_root / "bench/demo_accuracy.py"), "--results", str(finished_run / "results"),
         "--truth", str(finished_run / "data/truth.tsv"), "--samples", str(finished_run / "data/samples.tsv"),
         "--config", str(finished_run / "config.yaml")], capture_output=True, text=True, cwd=project_root)
    assert result.returncode == 0, result.stderr[-3000:]
    contrasts = pd.read_csv(finished_run / "results/deltas/contrasts.tsv", sep="\t")
    sections = dict(re.findall(r"\ncontrasts in ([^:]+):[^\n]*\n(.*?)(?=\ncontrasts in |\Z)", result.stdout, re.S))
    assert set(sections) == set(contrasts["unit"]) and {"years", "divisions"} <= set(sections)
    for row in contrasts.itertuples():
        line = next(line for line in sections[row.unit].splitlines() if line.split()[:2] == [row.contrast, row.clock])
        assert f"{row.estimate:.4g}" == line.split()[2], line
