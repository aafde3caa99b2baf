import copy
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from epiclock import plan
from epiclock.demo import simulate
from epiclock.errors import EpiclockError
from epiclock.io.tables import write_tsv
from epiclock.qc import assess, metrics

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = PROJECT_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the project: skipped where absent, but a failure where CI requires it."""
    if not SHARED_DIR.is_dir():
        message = f"{SHARED_DIR} is absent (only CI and developer machines have it)"
        if os.environ.get("EPICLOCK_REQUIRE_SHARED") == "1":
            pytest.fail(message + ", and EPICLOCK_REQUIRE_SHARED=1 says it must be there")
        pytest.skip(message)
    return SHARED_DIR


@pytest.fixture(scope="session")
def synthetic450k(shared_dir) -> Path:
    """The synthetic 450k reference (manifest, IDATs, minfi's outputs) in ../shared."""
    return shared_dir / "reference" / "synthetic450k"


@pytest.fixture(scope="session")
def synthetic_manifest(synthetic450k, tmp_path_factory):
    """Its manifest, parsed once for the whole test run (485,577 probes take seconds)."""
    from epiclock.io import manifest

    return manifest.load_manifest(synthetic450k / "SyntheticHumanMethylation450_manifest.csv.gz",
                                  cache_dir=tmp_path_factory.mktemp("manifest_cache"))


@pytest.fixture(scope="session")
def small_study() -> simulate.SimulatedStudy:
    """A small simulated study: 3 donors x 4 conditions x 2 replicates, one failed array."""
    parameters = simulate.StudyParameters(donors=3, replicates=2, seed=7, background_cpgs=300)
    return simulate.simulate_study(parameters)


def bench_script(name: str):
    """bench/<name>.py as a module, so that tests can call its functions. A timing script imports
    bench/_timing.py, which sets the BLAS and OpenMP thread variables to 1: the test process's own
    values are put back, so that later tests' subprocesses keep theirs."""
    kept = {variable: os.environ.get(variable) for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    if str(PROJECT_ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT / "bench"))
    try:
        return _load_bench_script(name)
    finally:
        for variable, value in kept.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value


def _load_bench_script(name: str):
    spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / f"bench/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


# --- configs and sample sheets for epiclock.plan (tests/test_plan.py, tests/test_bad_inputs.py) ---


DEMO_CONFIG = yaml.safe_load((PROJECT_ROOT / "config/config.yaml").read_text())


def plan_config(tmp_path, samples: pd.DataFrame, change=None) -> dict:
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


def plan_stops(config, pattern) -> str:
    """The plan refuses ``config`` with one line matching ``pattern``."""
    with pytest.raises(EpiclockError) as caught:
        plan.make_plan(config)
    message = str(caught.value)
    assert re.search(pattern, message), message
    assert "\n" not in message
    return message


def write_pair(directory, stem, content=b"idat"):
    """A stand-in IDAT pair ``stem`` in ``directory`` (the plan only looks for the files)."""
    directory.mkdir(parents=True, exist_ok=True)
    for channel in ("Red", "Grn"):
        (directory / f"{stem}_{channel}.idat").write_bytes(content + channel.encode())


def idat_sheet(stems):
    """A sample sheet S1, S2, ... with these IDAT basenames."""
    return pd.DataFrame({"sample_id": [f"S{n}" for n in range(1, len(stems) + 1)], "basename": stems})


def snakemake(project_root, workdir, *arguments, check=True):
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(project_root / "Snakefile"),
               "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", "2",
               *arguments]
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def planned_rules(project_root, workdir) -> set[str]:
    """Rules a dry run would execute."""
    output = snakemake(project_root, workdir, "--dry-run", "--quiet", "rules").stdout
    rules = set()
    for line in output.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].isdigit() and fields[0] not in ("job", "total"):
            rules.add(fields[0])
    return rules


@pytest.fixture(scope="session")
def finished_run(project_root, tmp_path_factory):
    """The workflow run once on a small simulated study (4 donors x 2 replicates), shared by the tests."""
    workdir = tmp_path_factory.mktemp("run")
    # With the demo's composition shift (fibroblast loss with bone marrow), as `epiclock simulate` plants it.
    parameters = simulate.StudyParameters(donors=4, replicates=2, seed=5, background_cpgs=500,
                                          composition=simulate.bone_marrow_composition())
    study = simulate.simulate_study(parameters)
    paths = simulate.write_study(study, workdir / "data")
    cohort = simulate.simulate_reference_cohort(n_samples=60, seed=5, cpg_ids=study.betas.index)
    cohort_paths = simulate.write_reference_cohort(cohort, workdir / "data/reference_cohort")
    config = yaml.safe_load((project_root / "config/config.yaml").read_text())
    config["samples"] = str(paths["samples.tsv"])
    config["input"] = {"type": "betas", "betas": str(paths["betas.tsv.gz"])}
    (custom_clock,) = config["custom_clocks"]
    custom_clock.update(betas=str(cohort_paths["betas.tsv.gz"]), ages=str(cohort_paths["ages.tsv"]), top_k=300)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(project_root, workdir)
    return workdir


def build_report_inputs(study, config: dict):
    """ReportInputs for a simulated study under ``config`` (clocks, design and contrasts from it),
    computed as the workflow would: QC, predictions, deltas with units, figures."""
    from epiclock import deltas, report
    from epiclock.clocks import predict, registry
    from epiclock.deltas import units
    from epiclock.qc import assess
    from epiclock.report import provenance

    qc_table = matrix_qc(study.betas, study.samples["sample_id"].tolist(), assess.QcThresholds())
    passed = assess.passing_samples(qc_table)
    predictions = predict.predict(study.betas[passed], registry.resolve(config["clocks"]["names"]))
    design = deltas.Design.from_config(config["design"])
    per_sample = deltas.per_sample(predictions, study.samples, design)
    contrasts = [deltas.Contrast.from_config(entry) for entry in config["contrasts"]]
    record = {"run_date": "2026-01-01T00:00:00+00:00", "config_sha256": provenance.config_sha256(config),
              "inputs": {"betas.tsv.gz": "0" * 64}, "software": provenance.software_versions()}
    contrast_table = units.with_units(deltas.contrast_table(per_sample, contrasts, design),
                                      units.clock_units(predictions))
    run_clocks = {name: registry.get(name) for name in config["clocks"]["names"]}
    return report.ReportInputs(
        qc=qc_table, predictions=predictions, per_sample=per_sample,
        per_condition=deltas.per_condition(per_sample, design), contrasts=contrast_table, provenance=record,
        config=config, clocks=run_clocks, figures=report.figures(per_sample, contrast_table, config, run_clocks))


def study_for_units(seed: int = 7):
    """A small simulated study measuring DNAmTL's and DunedinPACE's CpGs (at reference values with
    per-sample noise), in which only donor D01 has skin-alone arrays, so a contrast against skin
    alone has a single donor pair and cannot be tested."""
    import dataclasses

    import numpy as np

    from epiclock.clocks import data as clocks_data
    from epiclock.clocks import registry

    study = simulate.simulate_study(simulate.StudyParameters(donors=3, replicates=2, seed=seed, background_cpgs=300))
    keep = study.samples[(study.samples["condition"] != "skin_alone") | (study.samples["donor"] == "D01")]
    pace = registry.get("dunedinpace2022")
    wanted = pace.preprocessing.target.copy()
    medians = clocks_data.reference_medians()
    telomere = registry.get("dnamtl2019").required_cpgs
    wanted = pd.concat([wanted, medians.reindex(telomere).fillna(0.5)])
    wanted = wanted[~wanted.index.duplicated() & ~wanted.index.isin(study.betas.index)]
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 0.02, (len(wanted), len(keep)))
    added = pd.DataFrame(np.clip(wanted.to_numpy()[:, None] + noise, 0.001, 0.999), index=wanted.index,
                         columns=keep["sample_id"].to_list())
    betas = pd.concat([study.betas[keep["sample_id"]], added])
    return dataclasses.replace(study, betas=betas, samples=keep.reset_index(drop=True))


def matrix_qc(betas, sample_ids, thresholds):
    """QC of a whole beta matrix at once, as the beta-matrix route judges it: ``judge`` of its ``beta_metrics``."""
    return assess.judge(metrics.beta_metrics(betas), sample_ids, thresholds)
