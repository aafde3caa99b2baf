"""End-to-end from IDAT pairs: synthetic manifest and IDATs, batches, quarantine of unusable arrays."""

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import planned_rules, snakemake
from epiclock.demo import simulate, simulate_arrays
from epiclock.io.tables import sha256_file

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def idat_run(project_root, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("idat_run")
    parameters = simulate.StudyParameters(donors=3, replicates=2, seed=8, background_cpgs=800, failed_samples=0)
    study = simulate.simulate_study(parameters)
    paths = simulate.write_study(study, workdir / "data")
    arrays = simulate_arrays.write_idats(study.betas, study.samples, {}, workdir / "data", seed=8)
    samples = study.samples.copy()
    # One sample's Grn file is lost, one sample's Red file is truncated: both must be quarantined.
    lost, damaged = samples.iloc[0], samples.iloc[1]
    (arrays["idat_dir"] / lost.chip / f"{lost.chip}_{lost.position}_Grn.idat.gz").unlink()
    (arrays["idat_dir"] / lost.chip / f"{lost.chip}_{lost.position}_Red.idat.gz").unlink()
    red = arrays["idat_dir"] / damaged.chip / f"{damaged.chip}_{damaged.position}_Red.idat.gz"
    red.write_bytes(gzip.compress(gzip.decompress(red.read_bytes())[:5000]))
    config = yaml.safe_load((project_root / "config/config.yaml").read_text())
    config["samples"] = str(paths["samples.tsv"])
    config["input"] = {"type": "idat", "idat_dir": str(arrays["idat_dir"]), "batch_size": 7}
    config["manifest"] = {"path": str(arrays["manifest"])}
    config["clocks"]["names"] = ["horvath2013", "horvath_skin_blood2018"]
    config["custom_clocks"] = []
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(project_root, workdir)
    return workdir, study, lost.sample_id, damaged.sample_id


def test_idat_run_quarantines_unusable_arrays_and_finishes_the_rest(idat_run):
    workdir, study, lost, damaged = idat_run
    qc_table = pd.read_csv(workdir / "results/qc/samples.tsv", sep="\t").set_index("sample_id")
    assert "no IDAT pair" in qc_table.loc[lost, "reasons"]
    assert "truncated" in qc_table.loc[damaged, "reasons"] or "gzip" in qc_table.loc[damaged, "reasons"]
    assert qc_table["passed"].sum() == len(study.samples) - 2
    predictions = pd.read_csv(workdir / "results/clocks/predictions.tsv", sep="\t")
    assert set(predictions["sample_id"]) == set(study.samples["sample_id"]) - {lost, damaged}
    html = (workdir / "results/report.html").read_text()
    assert lost in html and damaged in html


def test_idat_run_leaves_the_qc_tables_of_every_usable_array(idat_run):
    workdir, study, lost, damaged = idat_run
    usable = set(study.samples["sample_id"]) - {lost, damaged}
    controls = pd.read_csv(workdir / "results/qc/controls.tsv", sep="\t")
    assert set(controls["sample_id"]) == usable
    assert {"metric", "value", "threshold", "passed"} <= set(controls.columns)
    density = pd.read_parquet(workdir / "results/qc/beta_density.parquet")
    assert set(density["sample_id"]) == usable
    identity = pd.read_csv(workdir / "results/qc/identity.tsv", sep="\t")
    assert list(identity.columns) == ["sample_a", "sample_b", "n_snps", "concordance", "same_donor",
                                      "same_genotype", "problem"]
    # Every pair of usable arrays is compared, and the simulated donors' genotypes agree with the sheet.
    assert len(identity) == len(usable) * (len(usable) - 1) // 2
    assert identity["problem"].isna().all() and (identity["n_snps"] > 0).all()
    qc_table = pd.read_csv(workdir / "results/qc/samples.tsv", sep="\t").set_index("sample_id")
    assert {"detection_call_rate", "controls_passed", "flags"} <= set(qc_table.columns)


def test_idat_run_is_batched_and_records_its_inputs(project_root, idat_run):
    workdir, study, _, _ = idat_run
    batches = sorted((workdir / "results/preprocess").glob("batch_*.betas.parquet"))
    assert len(batches) == -(-(len(study.samples) - 1) // 7)       # the sample without IDATs is in no batch
    for table in ("methylated", "unmethylated"):                    # raw signals kept beside the betas
        kept = sorted((workdir / "results/preprocess").glob(f"batch_*.{table}.parquet"))
        assert [path.name.split(".")[0] for path in kept] == [path.name.split(".")[0] for path in batches]
    record = json.loads((workdir / "results/provenance.json").read_text())
    assert any(path.endswith("manifest.csv.gz") for path in record["inputs"])
    assert sum(path.endswith(".idat.gz") for path in record["inputs"]) == 2 * (len(study.samples) - 1)
    assert planned_rules(project_root, workdir) == set()


def test_idat_betas_follow_the_true_betas(idat_run):
    workdir, study, lost, damaged = idat_run
    betas = pd.read_parquet(workdir / "results/normalize/betas.parquet")
    assert set(betas.columns) == set(study.samples["sample_id"]) - {lost, damaged}
    sample = [s for s in study.samples["sample_id"] if s not in (lost, damaged)][0]
    error = (betas[sample].reindex(study.betas.index) - study.betas[sample]).abs().mean()
    assert error < 0.05


def test_a_run_mixing_arrays_intersects_their_cpgs(project_root, tmp_path):
    parameters = simulate.StudyParameters(donors=3, replicates=1, seed=9, background_cpgs=600, failed_samples=0)
    study = simulate.simulate_study(parameters)
    paths = simulate.write_study(study, tmp_path / "data")
    cpgs, half = study.betas.index, len(study.samples) // 2
    # Two array designs: the first lacks the last 100 CpGs, the second the first 100 (and its addresses differ).
    designs = [(cpgs[:-100], study.samples.iloc[:half], 21), (cpgs[100:], study.samples.iloc[half:], 22)]
    manifests, idat_dirs = [], []
    for number, (array_cpgs, samples, seed) in enumerate(designs):
        arrays = simulate_arrays.write_idats(study.betas.loc[array_cpgs, samples["sample_id"]], samples, {},
                                             tmp_path / f"array_{number}", seed=seed)
        manifests.append(str(arrays["manifest"]))
        idat_dirs.append(arrays["idat_dir"])
    config = yaml.safe_load((project_root / "config/config.yaml").read_text())
    config["samples"] = str(paths["samples.tsv"])
    config["input"] = {"type": "idat", "idat_dir": str(tmp_path), "batch_size": 4}
    config["manifest"] = {"path": manifests[0]}
    config["clocks"]["names"] = ["horvath2013"]
    config["custom_clocks"] = []
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    # One manifest: the second array's samples are quarantined, naming the way to combine arrays.
    snakemake(project_root, tmp_path)
    qc_table = pd.read_csv(tmp_path / "results/qc/samples.tsv", sep="\t").set_index("sample_id")
    assert qc_table["passed"].sum() == half
    assert "input.mixed_arrays: intersect" in qc_table.loc[study.samples["sample_id"].iloc[-1], "reasons"]

    # The second array's manifest comes by download (a file:// address here), pinned by its sha256.
    config["manifest"]["extra"] = [{"url": Path(manifests[1]).as_uri(), "sha256": sha256_file(manifests[1])}]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    refused = snakemake(project_root, tmp_path, check=False)
    assert refused.returncode != 0 and "'intersect' goes with further manifests" in refused.stdout + refused.stderr

    config["input"]["mixed_arrays"] = "intersect"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(project_root, tmp_path)
    assert (tmp_path / "resources/manifests/extra_1/manifest.csv.gz").is_file()
    qc_table = pd.read_csv(tmp_path / "results/qc/samples.tsv", sep="\t").set_index("sample_id")
    assert qc_table["passed"].all()
    assert set(qc_table["manifest"]) == {"manifest.csv.gz"}
    betas = pd.read_parquet(tmp_path / "results/normalize/betas.parquet")
    assert not betas.index.isin(cpgs[:100]).any() and not betas.index.isin(cpgs[-100:]).any()
    assert betas.index.isin(cpgs[100:-100]).sum() == len(cpgs) - 200
    predictions = pd.read_csv(tmp_path / "results/clocks/predictions.tsv", sep="\t")
    assert set(predictions["sample_id"]) == set(study.samples["sample_id"])
