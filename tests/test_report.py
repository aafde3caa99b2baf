import re

import pandas as pd
import pytest

from epiclock import clocks, deltas, provenance, qc, report


@pytest.fixture(scope="module")
def report_inputs(small_study, project_root):
    import yaml

    config = yaml.safe_load((project_root / "config/config.yaml").read_text())
    qc_table = qc.sample_qc(small_study.betas, small_study.samples["sample_id"].tolist(), qc.QcThresholds())
    passed = qc.passing_samples(qc_table)
    # The shipped clocks of the demo config; custom clocks are exercised by the workflow tests.
    config["clocks"]["names"] = [name for name in config["clocks"]["names"] if name in clocks.available()]
    predictions = clocks.predict(small_study.betas[passed], config["clocks"]["names"])
    design = deltas.Design.from_config(config["design"])
    per_sample = deltas.per_sample(predictions, small_study.samples, design)
    contrasts = [deltas.Contrast.from_config(entry) for entry in config["contrasts"]]
    record = {"run_date": "2026-01-01T00:00:00+00:00", "config_sha256": provenance.config_sha256(config),
              "inputs": {"betas.tsv.gz": "0" * 64}, "software": provenance.software_versions()}
    contrast_table = deltas.contrast_table(per_sample, contrasts, design)
    return report.ReportInputs(
        qc=qc_table, predictions=predictions, per_sample=per_sample,
        per_condition=deltas.per_condition(per_sample, design), contrasts=contrast_table, provenance=record,
        config=config, clocks={name: clocks.get(name) for name in config["clocks"]["names"]},
        figures=report.figures(per_sample, contrast_table, config,
                               {name: clocks.get(name).unit for name in config["clocks"]["names"]}))


def test_report_has_every_section_and_a_figure_per_clock(report_inputs):
    html = report.render(report_inputs)
    for section in ("summary", "qc", "coverage", "clocks", "contrasts", "methods", "provenance"):
        assert f'<section id="{section}">' in html
    for name in report_inputs.config["clocks"]["names"]:
        assert f'id="clock-{name}"' in html
    assert html.count("<svg") == len(report_inputs.config["clocks"]["names"]) + 1   # + forest plot
    assert "young_vs_old_serum_with_bm" in html
    assert "Licence notes" in html and "Clock Foundation" in html
    failed = report_inputs.qc.loc[~report_inputs.qc["passed"], "sample_id"].iloc[0]
    assert re.search(rf"<table id=\"qc-failed\">.*<tr class=\"failed\"><td class=\"text\">{failed}</td>", html, re.S)


def test_report_is_deterministic(report_inputs):
    assert report.render(report_inputs) == report.render(report_inputs)


def test_headline_states_the_answer_per_contrast():
    table = pd.DataFrame([
        {"contrast": "a", "clock": "c1", "estimate_years": -2.0, "ci_low": -2.5, "ci_high": -1.5, "q_value": 0.002},
        {"contrast": "a", "clock": "c2", "estimate_years": -1.5, "ci_low": -2.5, "ci_high": -0.5, "q_value": 0.01},
        {"contrast": "b", "clock": "c1", "estimate_years": 0.1, "ci_low": -0.5, "ci_high": 0.7, "q_value": 0.7},
    ])
    lines = report.headlines(table, [{"name": "a", "description": "young vs old"}])
    assert lines[0]["verdict"] == "shifts DNAm age (younger) under 2 of 2 clocks (q <= 0.01)"
    assert lines[0]["shifts"] == "-2.00 y [-2.50, -1.50] under c1, -1.50 y [-2.50, -0.50] under c2"
    assert lines[1]["verdict"] == "no clock shows a shift at q < 0.05" and not lines[1]["significant"]


def test_run_date_is_the_only_difference_between_runs(report_inputs):
    import dataclasses

    later = dataclasses.replace(report_inputs, provenance={**report_inputs.provenance, "run_date": "2027-05-05"})
    first, second = report.render(report_inputs), report.render(later)
    assert first != second
    strip = lambda html: re.sub(r'<span id="run-date">[^<]*</span>', "", html)  # noqa: E731
    assert strip(first) == strip(second)


def test_summary_flags_significant_contrasts():
    table = pd.DataFrame([
        {"contrast": "a", "clock": "c", "estimate_years": -2.0, "ci_low": -2.5, "ci_high": -1.5, "p_value": 0.001,
         "q_value": 0.002, "n_pairs": 6, "note": ""},
        {"contrast": "b", "clock": "c", "estimate_years": 0.1, "ci_low": -0.5, "ci_high": 0.7, "p_value": 0.7,
         "q_value": 0.7, "n_pairs": 6, "note": ""},
    ])
    sentences = report.summary_sentences(table)
    assert [s["significant"] for s in sentences] == [True, False]
    assert sentences[0]["text"] == "a: -2.00 years under c (95% CI -2.50 to -1.50; p = 0.001, q = 0.002; 6 donor pairs)"
