"""Nothing is lost when a run is killed: the rerun finishes and its tables equal an uninterrupted run's.

The workflow is started in its own process group on the small quarantine study, the whole group
is killed with SIGKILL as soon as the first results table appears (jobs are then mid-write or
queued), its lock is released (``--unlock``) and the workflow is started again. Every writer goes through ``epiclock.io.tables.atomic_path``
(a temporary file renamed into place), so no table is ever half-written, and Snakemake reruns the
jobs it had started. The command line passes everything the resume needs (``--rerun-incomplete``)
and switches the project's profile off, so the test does not depend on it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import PROJECT_ROOT
from test_bad_inputs import quarantine_run, write_workdir

pytestmark = pytest.mark.workflow

KILL_WHEN_PRESENT = "results/qc/samples.tsv"
START_TIMEOUT_SECONDS = 300


def snakemake_command(workdir: Path) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT_ROOT / "Snakefile"),
            "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
            "--workflow-profile", "none", "--cores", "2", "--rerun-incomplete", "--latency-wait", "5"]


def start_and_kill(workdir: Path) -> None:
    """Start the workflow; SIGKILL its whole process group once KILL_WHEN_PRESENT exists."""
    with open(workdir / "interrupted.log", "w") as log:
        process = subprocess.Popen(snakemake_command(workdir), cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not (workdir / KILL_WHEN_PRESENT).exists():
            if process.poll() is not None:
                pytest.fail(f"the workflow ended (exit {process.returncode}) before {KILL_WHEN_PRESENT} appeared:\n"
                            + (workdir / "interrupted.log").read_text())
            if time.monotonic() > deadline:
                pytest.fail(f"{KILL_WHEN_PRESENT} did not appear within {START_TIMEOUT_SECONDS} s")
            time.sleep(0.02)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def table_files(results: Path) -> list[str]:
    return sorted(str(path.relative_to(results)) for path in results.rglob("*")
                  if path.is_file() and path.suffix in (".tsv", ".parquet") and not path.name.startswith("."))


def without_run_date(html: str, run_date: str) -> str:
    html = re.sub(r'<span id="run-date">[^<]*</span>', "", html)
    return html.replace(run_date, "RUN_DATE")


def test_a_killed_run_resumes_and_equals_an_uninterrupted_run(tmp_path, tmp_path_factory):
    reference, _ = quarantine_run(tmp_path_factory)
    workdir = tmp_path / "run"
    # The same input files as the uninterrupted run, so that the provenance records name the same paths.
    write_workdir(workdir, data_dir=reference / "data")

    start_and_kill(workdir)
    assert not (workdir / "results/report.html").exists(), "the run finished before it could be interrupted"
    # Whatever was there at the kill is whole: every table present reads completely, with the rows of the
    # uninterrupted run's (some tables, such as control metrics of a beta matrix, are whole when empty).
    def read(path):
        return pd.read_csv(path, sep="\t") if path.suffix == ".tsv" else pd.read_parquet(path)

    for name in table_files(workdir / "results"):
        assert len(read(workdir / "results" / name)) == len(read(reference / "results" / name)), name

    # SIGKILL leaves Snakemake's lock on the directory behind: releasing it is the first step of a resume.
    unlock = subprocess.run([*snakemake_command(workdir), "--unlock"], cwd=workdir, capture_output=True, text=True)
    assert unlock.returncode == 0, unlock.stdout + unlock.stderr
    rerun = subprocess.run(snakemake_command(workdir), cwd=workdir, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr

    results, expected = workdir / "results", reference / "results"
    assert table_files(results) == table_files(expected)
    for name in table_files(expected):
        if name.endswith(".tsv"):
            assert (results / name).read_bytes() == (expected / name).read_bytes(), name
        else:
            pd.testing.assert_frame_equal(pd.read_parquet(results / name), pd.read_parquet(expected / name),
                                          obj=name)
    assert sorted(path.name for path in (results / "figures").iterdir()) == \
        sorted(path.name for path in (expected / "figures").iterdir())

    record = json.loads((results / "provenance.json").read_text())
    expected_record = json.loads((expected / "provenance.json").read_text())
    run_date, expected_run_date = record.pop("run_date"), expected_record.pop("run_date")
    assert record == expected_record
    html = (results / "report.html").read_text()
    expected_html = (expected / "report.html").read_text()
    assert without_run_date(html, run_date) == without_run_date(expected_html, expected_run_date)
