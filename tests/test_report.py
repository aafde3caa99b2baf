import dataclasses
import html as html_module
import itertools
import re

import numpy as np
import pandas as pd
import pytest

from epiclock import deltas, report
from epiclock.clocks import predict, registry
from epiclock.preprocess import controls
from epiclock.qc import assess
from epiclock.qc import identity as qc_identity
from epiclock.report import provenance, reading

from conftest import build_report_inputs


@pytest.fixture(scope="module")
def report_inputs(small_study, project_root):
    import yaml

    config = yaml.safe_load((project_root / "config/config.yaml").read_text())
    # The shipped clocks of the demo config; custom clocks are exercised by the workflow tests.
    config["clocks"]["names"] = [name for name in config["clocks"]["names"] if name in registry.available()]
    return build_report_inputs(small_study, config)


def test_report_has_every_section_and_a_figure_per_clock(report_inputs):
    html = report.render(report_inputs)
    for section in ("summary", "qc", "coverage", "clocks", "contrasts", "methods", "provenance"):
        assert f'<section id="{section}">' in html
    for name in report_inputs.config["clocks"]["names"]:
        assert f'id="clock-{name}"' in html
    outside_qc = re.sub(r'<section id="qc">.*?</section>', "", html, flags=re.S)
    n_contrasts = len(report_inputs.config["contrasts"])
    assert outside_qc.count("<svg") == len(report_inputs.config["clocks"]["names"]) + n_contrasts   # + a forest each
    # The first screen names contrasts by their description, not their ID.
    summary = re.search(r'<section id="summary">.*?</section>', html, re.S).group(0)
    assert "Young against old donor serum, both with bone marrow" in summary
    assert "young_vs_old_serum_with_bm</h3>" not in summary
    assert "Licence notes" in html and "Clock Foundation" in html
    failed = report_inputs.qc.loc[~report_inputs.qc["passed"], "sample_id"].iloc[0]
    assert re.search(rf"<table id=\"qc-failed\">.*<tr class=\"failed\"><td class=\"text\">{failed}</td>", html, re.S)


def test_report_is_deterministic(report_inputs):
    assert report.render(report_inputs) == report.render(report_inputs)


def test_run_date_is_the_only_difference_between_runs(report_inputs):
    later = dataclasses.replace(report_inputs, provenance={**report_inputs.provenance, "run_date": "2027-05-05"})
    first, second = report.render(report_inputs), report.render(later)
    assert first != second
    strip = lambda html: re.sub(r'<span id="run-date">[^<]*</span>', "", html)  # noqa: E731
    assert strip(first) == strip(second)


def contrast_row(clock: str, estimate: float, low: float, high: float, p: float, q: float, pairs: int = 6,
                 contrast: str = "a", note: str = "") -> dict:
    return {"contrast": contrast, "clock": clock, "estimate": estimate, "ci_low": low, "ci_high": high, "p_value": p,
            "q_value": q, reading.PAIRS_COLUMN: pairs, "note": note, "test": "paired t-test on donor means"}


RUN_CLOCKS = ("horvath_skin_blood2018", "dnamtl2019", "dunedinpace2022")


def test_verdicts_carry_each_clocks_unit_and_direction():
    clocks = {name: registry.get(name) for name in RUN_CLOCKS}
    table = pd.DataFrame([
        contrast_row("horvath_skin_blood2018", -2.0, -2.5, -1.5, 0.001, 0.002),
        # Shorter telomeres: biologically older, in kb.
        contrast_row("dnamtl2019", -0.031, -0.05, -0.012, 0.004, 0.006),
        # A faster pace of ageing, in years per year, with three decimals.
        contrast_row("dunedinpace2022", 0.021, 0.008, 0.034, 0.01, 0.012),
    ])
    [line] = reading.headlines(table, [{"name": "a", "description": "young vs old", "treated": {}, "reference": {}}],
                               clocks, "horvath_skin_blood2018")
    assert line["description"] == "young vs old" and line["head"]["clock"] == "horvath_skin_blood2018"
    assert line["head"]["finding"] == "DNAm age -2.00 years (younger)"
    assert line["head"]["verdict"] == ("DNAm age -2.00 years (younger); 95% CI -2.50 to -1.50 years; "
                                       "paired t-test on donor means, p = 0.001, q = 0.002, 6 donors")
    telomere, pace = line["others"]
    assert telomere["finding"] == "telomere length -0.031 kb (older)" and telomere["ci"] == "-0.050 to -0.012 kb"
    assert pace["finding"] == "pace of ageing +0.021 years/year (faster ageing)"
    assert "years" not in telomere["verdict"] and "younger" not in telomere["verdict"]
    assert line["others_summary"] == "2 of 2 other clocks show a shift at q < 0.05"


def test_untestable_contrast_says_not_tested_and_why():
    clocks = {name: registry.get(name) for name in RUN_CLOCKS}
    table = pd.DataFrame([
        contrast_row("horvath_skin_blood2018", np.nan, np.nan, np.nan, np.nan, np.nan, pairs=0),
        contrast_row("dnamtl2019", 0.01, np.nan, np.nan, np.nan, np.nan, pairs=1,
                     note="only 1 donor(s): too few for a test to mean anything (at least 3 needed)"),
    ])
    [line] = reading.headlines(table, [{"name": "a", "treated": {}, "reference": {}}], clocks, "horvath_skin_blood2018")
    assert line["description"] == "a"
    assert line["head"]["status"] == "not tested" and not line["head"]["significant"]
    assert line["head"]["verdict"] == ("not tested: no donor has samples with this clock's age on both sides "
                                       "of the contrast")
    assert line["others"][0]["verdict"].startswith("not tested: only 1 donor(s)")
    assert line["others_summary"] == "0 of 0 other clocks show a shift at q < 0.05; 1 not tested"


def test_interaction_is_worded_as_an_interaction():
    entry = {"name": "i", "treated": {"bone_marrow": "yes", "serum": "young"},
             "reference": {"bone_marrow": "yes", "serum": "old"},
             "minus": {"treated": {"bone_marrow": "no", "serum": "young"},
                       "reference": {"bone_marrow": "no", "serum": "old"}}}
    clock = registry.get("horvath_skin_blood2018")
    row = pd.DataFrame([contrast_row(clock.name, -1.234, -2.0, -0.5, 0.01, 0.02, contrast="i")]).iloc[0]
    sentence = reading.clock_sentence(row, clock, entry)
    assert sentence["finding"] == ("the serum young vs old difference in DNAm age is 1.23 years smaller with "
                                   "bone marrow yes than with bone marrow no")
    assert "younger" not in sentence["verdict"]
    assert reading.interaction_phrase({**entry, "minus": None}) is None


def test_imbalanced_imputation_is_flagged_beside_the_headline(report_inputs):
    """A contrast whose sides imputed different numbers of CpGs says so under its headline, with the
    threshold (design.max_imputed_difference, 2% in the demo config) and each side's mean."""
    contrasts = report_inputs.contrasts.copy()
    first = contrasts["contrast"].iloc[0]
    flagged = (contrasts["contrast"] == first) & (contrasts["clock"] == "horvath_skin_blood2018")
    assert flagged.sum() == 1 and not contrasts["imputation_flag"].any()
    contrasts.loc[flagged, ["imputation_flag", "treated_mean_imputed", "reference_mean_imputed"]] = [True, 30.0, 2.0]
    html = report.render(dataclasses.replace(report_inputs, contrasts=contrasts))
    notes = re.findall(r'<p class="note imputation-flag">(.*?)</p>', html)
    assert notes == ["Imputation differs between the sides by more than 2% of the clock's CpGs (mean imputed per "
                     "sample, treated vs reference) under horvath_skin_blood2018 (30.0 vs 2.0 CpGs): part of a "
                     "shift there may come from imputation alone."]
    assert "imputation-flag" not in report.render(report_inputs)


def test_primary_clock_falls_back_to_the_first_clock_and_says_so():
    assert reading.primary_clock({"report": {"primary_clock": "hannum2013"}}, ["horvath2013", "hannum2013"]) == (
        "hannum2013", "")
    chosen, note = reading.primary_clock({"report": {"primary_clock": "horvath_skin_blood2018"}}, ["horvath2013"])
    assert chosen == "horvath2013" and "horvath_skin_blood2018 is not among" in note


def test_contrast_table_carries_estimate_and_unit():
    from epiclock.deltas import units

    table = pd.DataFrame({"contrast": ["a", "a"], "clock": ["horvath2013", "dnamtl2019"],
                          "estimate_years": [-1.5, -0.03], "ci_low": [-2.0, -0.05]})
    labelled = units.with_units(table, {"horvath2013": "years", "dnamtl2019": "kb"})
    assert list(labelled.columns) == ["contrast", "clock", "estimate", "unit", "estimate_years", "ci_low"]
    assert labelled["estimate"].tolist() == [-1.5, -0.03] and labelled["unit"].tolist() == ["years", "kb"]
    # The old column stays an alias for clocks in years only: a kb difference is never read as years.
    assert labelled["estimate_years"].iloc[0] == -1.5 and np.isnan(labelled["estimate_years"].iloc[1])


# --- QC section: synthetic tables of the shapes the workflow writes ------------------------------


MIN_CALL_RATE = 0.95


def synthetic_qc(n_samples: int, idat: bool, seed: int = 1) -> dict[str, pd.DataFrame]:
    """QC tables for ``n_samples`` arrays: every 20th sample fails its call rate, every 25th a control
    metric (sample 3 among them); sample 7's sheet gives the other sex; samples 1 and 2 are the same
    donor with different genotypes (a swap), samples 4 and 5 different donors with the same (a duplicate)."""
    rng = np.random.default_rng(seed)
    ids = [f"S{index:04d}" for index in range(n_samples)]
    low_call_rate = np.arange(n_samples) % 20 == 19
    call_rate = np.where(low_call_rate, rng.uniform(0.80, 0.94, n_samples), rng.uniform(0.975, 0.999, n_samples))
    qc_table = pd.DataFrame({"sample_id": ids, "call_rate": call_rate})
    control_failed = (np.arange(n_samples) % 25 == 3) if idat else np.zeros(n_samples, bool)
    passed = ~low_call_rate & ~control_failed
    reasons = [("call rate below 0.95" if low else "") + ("; " if low and control else "")
               + ("controls failed" if control else "") for low, control in zip(low_call_rate, control_failed)]
    qc_table["passed"] = passed
    qc_table["reasons"] = reasons
    metric_rows, density_rows, identity = [], [], pd.DataFrame(columns=report.IDENTITY_COLUMNS)
    if idat:
        sex = np.where(np.arange(n_samples) % 2 == 0, "F", "M")
        sheet = sex.copy()
        sheet[7 % n_samples] = "M" if sex[7 % n_samples] == "F" else "F"
        qc_table = qc_table.assign(
            detection_call_rate=call_rate - 0.001, controls_passed=~control_failed,
            control_notes=np.where(control_failed, "bisulfite_conversion_ii 0.40 below 1", ""),
            predicted_sex=sex, sheet_sex=pd.array(sheet, dtype="string"),
            sex_matches=pd.array(sex == sheet, dtype="boolean"),
            x_median=rng.normal(12.5, 0.15, n_samples),
            y_median=np.where(sex == "F", rng.normal(8.5, 0.3, n_samples), rng.normal(11.8, 0.2, n_samples)),
            n_masked=rng.integers(100, 5000, n_samples))
        qc_table.loc[0, "sheet_sex"] = pd.NA     # a sheet without a sex for sample 0: not compared
        qc_table.loc[0, "sex_matches"] = pd.NA
        # Findings noted without failing the sample (the config's qc.fail_on names only the controls).
        flags = {ids[index % n_samples]: note for index, note in
                 ((7, "predicted sex differs from the sheet"), (1, "possible swap with S0002"),
                  (2, "possible swap with S0001"), (4, "unexpected duplicate of S0005"),
                  (5, "unexpected duplicate of S0004"))}
        qc_table["flags"] = qc_table["sample_id"].map(flags).fillna("")
        for sample_index, sample_id in enumerate(ids):
            for metric, threshold in controls.CONTROL_THRESHOLDS.items():
                value = max(threshold, 1.0) * (1.05 + rng.lognormal(1.0, 0.5))
                if control_failed[sample_index] and metric == "bisulfite_conversion_ii":
                    value = 0.4
                absent = metric == "restoration" and sample_index % 2 == 0   # controls missing from the array
                metric_rows.append({"sample_id": sample_id, "metric": metric,
                                    "value": np.nan if absent else value, "threshold": threshold,
                                    "passed": pd.NA if absent else value >= threshold})
        pairs = list(itertools.combinations(ids, 2))
        donor = {sample_id: sample_id for sample_id in ids} | {ids[2]: ids[1]}
        identity = pd.DataFrame({"sample_a": [a for a, _ in pairs], "sample_b": [b for _, b in pairs],
                                 "n_snps": 59, "concordance": rng.uniform(0.3, 0.6, len(pairs))})
        identity.loc[(identity["sample_a"] == ids[4]) & (identity["sample_b"] == ids[5]), "concordance"] = 0.98
        identity["same_donor"] = pd.array([donor[a] == donor[b] for a, b in pairs], dtype="boolean")
        identity["same_genotype"] = identity["concordance"] >= qc_identity.DUPLICATE_CONCORDANCE
        identity["problem"] = np.where(~identity["same_donor"] & identity["same_genotype"], "unexpected duplicate",
                                       np.where(identity["same_donor"] & ~identity["same_genotype"],
                                                "possible swap", ""))
    edges = np.linspace(0, 1, 51)
    for sample_index, sample_id in enumerate(ids):
        n_low = 3000 if passed[sample_index] else 1000
        betas = np.concatenate([rng.beta(1.5, 12, n_low), rng.beta(12, 1.5, 4000), rng.uniform(0, 1, 1000)])
        density, _ = np.histogram(betas, bins=edges, density=True)
        density_rows.append(pd.DataFrame({"sample_id": sample_id, "bin_left": edges[:-1], "bin_right": edges[1:],
                                          "density": density}))
    control_metrics = (pd.DataFrame(metric_rows, columns=report.CONTROL_METRIC_COLUMNS) if metric_rows
                       else pd.DataFrame(columns=report.CONTROL_METRIC_COLUMNS))
    if metric_rows:
        control_metrics["passed"] = control_metrics["passed"].astype("boolean")
    return {"qc": qc_table, "control_metrics": control_metrics, "beta_density": pd.concat(density_rows),
            "identity": identity}


def qc_report_inputs(base: report.ReportInputs, tables: dict[str, pd.DataFrame], input_type: str,
                     with_figures: bool = True) -> report.ReportInputs:
    """The fixture's report with synthetic QC tables, and their figures handed in as the workflow does."""
    config = {**base.config, "input": {**base.config["input"], "type": input_type}}
    figures = dict(base.figures)
    if with_figures:
        figures |= report.qc_figures(tables["qc"], tables["control_metrics"], tables["beta_density"], MIN_CALL_RATE)
    return dataclasses.replace(base, config=config, figures=figures, **tables)


def qc_section(html: str) -> str:
    return re.search(r'<section id="qc">.*?</section>', html, re.S).group(0)


def test_qc_figures_for_idat_input_are_all_four():
    tables = synthetic_qc(30, idat=True)
    drawn = report.qc_figures(tables["qc"], tables["control_metrics"], tables["beta_density"], MIN_CALL_RATE)
    assert set(drawn) == {"qc_call_rate", "qc_beta_density", "qc_controls", "qc_sex"}
    assert all(svg.startswith("<svg") and svg.rstrip().endswith("</svg>") for svg in drawn.values())


def test_qc_figures_for_beta_matrix_input_are_call_rate_and_density_only():
    tables = synthetic_qc(30, idat=False)
    assert "x_median" not in tables["qc"].columns and tables["control_metrics"].empty
    drawn = report.qc_figures(tables["qc"], tables["control_metrics"], tables["beta_density"], MIN_CALL_RATE)
    assert set(drawn) == {"qc_call_rate", "qc_beta_density"}


def test_qc_figures_are_byte_identical_across_calls():
    tables = synthetic_qc(40, idat=True)
    first = report.qc_figures(tables["qc"], tables["control_metrics"], tables["beta_density"], MIN_CALL_RATE)
    second = report.qc_figures(tables["qc"], tables["control_metrics"], tables["beta_density"], MIN_CALL_RATE)
    assert first == second


def test_failed_samples_are_drawn_in_red_in_the_beta_density():
    tables = synthetic_qc(40, idat=True)
    svg = report.beta_density_plot(tables["beta_density"], tables["qc"])
    n_failed = int((~tables["qc"]["passed"]).sum())
    red_lines = re.findall(r'<path d="M[^"]*"[^>]*style="[^"]*stroke: ' + report.FAILED_COLOUR, svg)
    # one line per failing sample, plus the legend's samples
    assert n_failed >= 3 and len(red_lines) == n_failed + min(n_failed, report.NAMED_FAILURES)


def test_idat_report_lists_failures_first_with_their_reasons(report_inputs):
    tables = synthetic_qc(30, idat=True)
    html = qc_section(report.render(qc_report_inputs(report_inputs, tables, "idat")))
    failed = tables["qc"].loc[~tables["qc"]["passed"], "sample_id"].tolist()
    failed_table = re.search(r'<table id="qc-failed">(.*?)</table>', html, re.S).group(1)
    assert re.findall(r'<tr class="failed"><td class="text">(\w+)</td>', failed_table) == failed
    assert "controls failed" in failed_table and "call rate below 0.95" in failed_table
    all_table = re.search(r'<table id="qc-all">(.*?)</table>', html, re.S).group(1)
    listed = re.findall(r'<tr(?: class="\w+")?><td class="text">(\w+)</td>', all_table)
    assert listed[:len(failed)] == failed and len(listed) == 30
    # a failing control is flagged in its own cell, not only by the row colour
    assert re.search(r'<td class="text">S0003</td>.*?<td class="text problem">no</td>', failed_table)
    for part in ("qc-call-rate", "qc-beta-density", "qc-controls", "qc-sex"):
        figure_opens_the_part = rf'<div class="qc-part" id="{part}">\s*<h3>[^<]+</h3>\s*(<p>[^<]*</p>\s*)?<figure><svg'
        assert re.search(figure_opens_the_part, html), part
    assert 'id="qc-identity"' in html
    assert 'id="qc-no-intensities"' not in html


def test_idat_report_shows_control_failures_sex_mismatches_and_identity_problems(report_inputs):
    tables = synthetic_qc(30, idat=True)
    html = qc_section(report.render(qc_report_inputs(report_inputs, tables, "idat")))
    control_table = re.search(r'<table id="qc-control-failures">(.*?)</table>', html, re.S).group(1)
    assert re.findall(r'<tr><td class="text">(\w+)</td><td class="text">bisulfite_conversion_ii</td>',
                      control_table) == ["S0003", "S0028"]
    sex_table = re.search(r'<table id="qc-sex-mismatches">(.*?)</table>', html, re.S).group(1)
    assert re.findall(r'<td class="text">(\w+)</td><td class="text">(\w)</td><td class="text">(\w)</td>',
                      sex_table) == [("S0007", "M", "F")]
    assert "435 pairs of samples compared" in html and "2 contradict the sample sheet" in html
    identity_table = re.search(r'<table id="qc-identity-problems">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r'<td class="text">(\w+)</td><td class="text">(\w+)</td>.*?<td class="text">([a-z ]+)</td></tr>',
                      identity_table)
    assert rows == [("S0004", "S0005", "unexpected duplicate"), ("S0001", "S0002", "possible swap")]


def test_identity_without_problems_says_so(report_inputs):
    tables = synthetic_qc(12, idat=True)
    tables["identity"] = tables["identity"].assign(problem="")
    html = qc_section(report.render(qc_report_inputs(report_inputs, tables, "idat")))
    assert "66 pairs of samples compared on their SNP-probe genotypes; 0 contradict the sample sheet." in html
    assert 'id="qc-identity-problems"' not in html


def test_beta_matrix_report_has_call_rate_and_density_and_says_why_the_rest_is_absent(report_inputs):
    tables = synthetic_qc(30, idat=False)
    html = qc_section(report.render(qc_report_inputs(report_inputs, tables, "betas")))
    assert html.count("<svg") == 2
    assert re.search(r'id="qc-call-rate">\s*<h3>Call rate</h3>\s*<figure><svg', html)
    assert re.search(r'id="qc-beta-density">\s*<h3>Beta density</h3>\s*<figure><svg', html)
    note = re.search(r'<p class="note" id="qc-no-intensities">([^<]*)</p>', html).group(1)
    assert "IDAT" in note and "input type 'betas'" in html_module.unescape(note)
    for part in ("qc-controls", "qc-sex", "qc-identity"):
        assert f'id="{part}"' not in html


def test_report_built_without_the_qc_tables_still_renders(report_inputs):
    """The workflow's older call (no control metrics, density or identity) gives a QC section with a
    call-rate figure drawn from the QC table and nothing broken."""
    html = qc_section(report.render(report_inputs))
    assert report_inputs.control_metrics.empty and report_inputs.identity.empty
    assert re.search(r'id="qc-call-rate">\s*<h3>Call rate</h3>\s*<figure><svg', html)
    assert "No beta densities were computed for this run." in html


def test_qc_figures_handed_in_are_used_as_they_are(report_inputs):
    tables = synthetic_qc(12, idat=True)
    inputs = qc_report_inputs(report_inputs, tables, "idat")
    inputs.figures["qc_sex"] = "<svg>handed in</svg>"
    assert "<svg>handed in</svg>" in report.render(inputs)


def test_report_with_600_samples_renders_every_qc_part(report_inputs):
    tables = synthetic_qc(600, idat=True)
    inputs = qc_report_inputs(report_inputs, tables, "idat")
    html = qc_section(report.render(inputs))
    assert html.count("<svg") == 4
    all_table = re.search(r'<table id="qc-all">(.*?)</table>', html, re.S).group(1)
    assert all_table.count("<tr") == 601
    assert "179,700 pairs of samples compared" in html
    # Passing control values are boxes at this size, not 12,000 dots: the figure stays small.
    assert len(inputs.figures["qc_controls"]) < 300_000
    assert len(html) < 3_000_000


def test_qc_report_is_deterministic(report_inputs):
    tables = synthetic_qc(30, idat=True)
    without_figures = qc_report_inputs(report_inputs, tables, "idat", with_figures=False)
    assert report.render(without_figures) == report.render(qc_report_inputs(report_inputs, tables, "idat"))


def test_flagged_samples_follow_the_failed_ones(report_inputs):
    tables = synthetic_qc(30, idat=True)
    html = qc_section(report.render(qc_report_inputs(report_inputs, tables, "idat")))
    flagged_table = re.search(r'<table id="qc-flagged">(.*?)</table>', html, re.S).group(1)
    assert re.findall(r'<tr class="flagged"><td class="text">(\w+)</td>', flagged_table) == [
        "S0001", "S0002", "S0004", "S0005", "S0007"]
    assert "possible swap with S0002" in flagged_table
    all_table = re.search(r'<table id="qc-all">(.*?)</table>', html, re.S).group(1)
    statuses = re.findall(r'<tr(?: class="(\w+)")?><td class="text">\w+</td>', all_table)
    assert statuses == ["failed"] * 3 + ["flagged"] * 5 + [""] * 22
