"""The workflow used as a Snakemake module, as snakedeploy deploys it, gives the results of a direct run."""

import subprocess
import sys
import zipfile

import pandas as pd
import pytest
import yaml

from epiclock import plan
from epiclock.config import Settings

pytestmark = pytest.mark.workflow

# Tables whose every value must agree; the module runs the same code on the same inputs, so only
# the order of floating-point reductions inside BLAS could differ (relative 1e-12 allows for it).
COMPARED_TABLES = ("qc/samples.tsv", "clocks/predictions.tsv", "clocks/coverage.tsv", "deltas/per_sample.tsv",
                   "deltas/per_condition.tsv", "deltas/contrasts.tsv")


def user_snakefile(project_root) -> str:
    """What `snakedeploy deploy-workflow` writes, with a local checkout instead of github(...)."""
    return (
        'configfile: "config.yaml"\n\n\n'
        "module epiclock:\n"
        "    snakefile:\n"
        f'        "{project_root / "Snakefile"}"\n'
        "    config:\n"
        "        config\n\n\n"
        "use rule * from epiclock\n"
    )


def test_module_use_gives_the_results_of_a_direct_run(project_root, finished_run, tmp_path):
    (tmp_path / "Snakefile").write_text(user_snakefile(project_root))
    (tmp_path / "config.yaml").write_text((finished_run / "config.yaml").read_text())
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    for table in COMPARED_TABLES:
        direct = pd.read_csv(finished_run / "results" / table, sep="\t")
        module = pd.read_csv(tmp_path / "results" / table, sep="\t")
        pd.testing.assert_frame_equal(module, direct, check_exact=False, rtol=1e-12, atol=0, obj=table)
    assert (tmp_path / "results/report.html").stat().st_size > 10_000

    # The record of the study is written through the module too (a module runs no onstart), and results
    # of another study are refused there before any job.
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    recorded = yaml.safe_load((tmp_path / "results/study.yaml").read_text())
    assert recorded == plan.study_identity(Settings.from_config(config))
    other = dict(config, samples=str(tmp_path / "other.tsv"))
    pd.read_csv(config["samples"], sep="\t").to_csv(tmp_path / "other.tsv", sep="\t", index=False)
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    refused = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--dry-run", "--configfile",
                              "other.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "epiclock: error: results/ holds the results of another study (samples " in refused.stderr

    # Snakemake's report through the module: every reported output with its own caption, and the rule graph.
    archive = tmp_path / "report.zip"
    result = subprocess.run([sys.executable, "-m", "snakemake", "--report", str(archive)], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    page = zipfile.ZipFile(archive).read("report/report.html").decode()
    assert "rulegraph" in page and "compute_deltas" in page
    captions = [path for path in (project_root / "report").glob("*.rst") if path.name != "workflow.rst"]
    for caption in captions:
        opening = " ".join(caption.read_text().split()[:5])
        if "``" not in opening:
            assert opening in page, f"{caption.name}: its caption is not in the report"
