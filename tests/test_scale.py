"""bench/scale.py reads the jobs' benchmark files (tests/fixtures/benchmarks, README there)."""

import math

import pandas as pd
import pytest

from conftest import PROJECT_ROOT, bench_script

FIXTURE = PROJECT_ROOT / "tests/fixtures/benchmarks"


@pytest.fixture(scope="module")
def scale():
    return bench_script("scale")


def test_job_usage_reads_snakemake_benchmark_beside_the_step_usage(scale):
    jobs = scale.job_usage(FIXTURE).set_index(["rule", "job"])
    assert sorted(jobs.index) == [("predict_batch_clocks", "matrix"), ("sample_qc", ""), ("train_clock", "skin_demo"),
                                  ("write_provenance", "")]
    # Values as written in the files (two decimals), compared within half of their last digit.
    assert jobs.loc[("sample_qc", ""), ["s", "max_rss", "max_uss", "cpu_time", "max_rss_exact",
                                        "cpu_time_exact"]].tolist() == pytest.approx(
        [2.92, 140.13, 76.50, 0.61, 140.06, 0.54], abs=0.005)
    assert jobs.loc[("train_clock", "skin_demo"), "max_rss_exact"] == pytest.approx(276.39, abs=0.005)
    # A job without its usage file keeps Snakemake's values; a job too short to be sampled keeps its own.
    missing_usage = jobs.loc[("predict_batch_clocks", "matrix")]
    assert missing_usage["max_rss"] == pytest.approx(301.50, abs=0.005) and math.isnan(missing_usage["max_rss_exact"])
    unsampled = jobs.loc[("write_provenance", "")]
    assert math.isnan(unsampled["max_rss"]) and unsampled["s"] == pytest.approx(0.41, abs=0.005)
    assert unsampled["max_rss_exact"] == pytest.approx(61.20, abs=0.005)


def test_rule_usage_takes_the_largest_peak_and_adds_cpu_time_per_rule(scale):
    jobs = scale.job_usage(FIXTURE)
    second_training = {"rule": "train_clock", "job": "blood_demo", "s": 20.0, "max_rss": 280.0, "max_uss": 190.0,
                       "cpu_time": 10.0, "max_rss_exact": 350.0, "cpu_time_exact": 12.0}
    summary = scale.rule_usage(pd.concat([jobs, pd.DataFrame([second_training])], ignore_index=True))
    training = summary.loc["train_clock"]
    assert training["jobs"] == 2
    assert training[["median_s", "max_s", "max_rss", "max_rss_exact", "cpu_time", "cpu_time_exact"]].tolist() == (
        pytest.approx([(7.54 + 20.0) / 2, 20.0, 280.0, 350.0, 3.49 + 10.0, 3.20 + 12.0], abs=0.005))
    # A rule with a job that left no usage file has no exact figures, not those of its other jobs.
    assert summary.loc["predict_batch_clocks", ["max_rss_exact", "cpu_time_exact"]].isna().all()
    # Largest exact peak first; rules without one last.
    assert list(summary.index) == ["train_clock", "sample_qc", "write_provenance", "predict_batch_clocks"]
