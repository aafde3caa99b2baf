"""Wall time of the whole workflow on the demo study, against the same steps run in one process.

Each repeat runs Snakemake from scratch in a temporary directory; the reference runs the same
library steps (epiclock.workflow) in this process. The difference is Snakemake's own cost
(start-up, DAG, one Python process per job) and is printed as a share of the wall time.

    .venv/bin/python bench/workflow.py [--repeats 3] [--donors 6] [--replicates 3]
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from epiclock import clocks, simulate, workflow

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run_snakemake(workdir: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT_ROOT / "Snakefile"),
                    "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", "2",
                    "--quiet"], check=True, capture_output=True)
    return time.perf_counter() - start


def run_in_process(config: dict, out: Path) -> float:
    start = time.perf_counter()
    workflow.import_betas(config["input"]["betas"], out / "betas.parquet")
    workflow.quality_control(out / "betas.parquet", config["samples"], out / "qc.tsv", out / "qc.parquet", config["qc"])
    workflow.normalize_betas(out / "betas.parquet", out / "qc.parquet", out / "normalized.parquet",
                             config["normalize"]["method"])
    workflow.predict_clocks(out / "normalized.parquet", out / "predictions.tsv", out / "predictions.parquet",
                            out / "coverage.tsv", out / "coverage.parquet", config["clocks"])
    outputs = {f"{name}_{kind}": out / f"{name}.{kind}" for name in ("per_sample", "per_condition", "contrasts")
               for kind in ("tsv", "parquet")}
    workflow.compute_deltas(out / "predictions.parquet", config["samples"], config["design"], config["contrasts"],
                            outputs)
    workflow.write_provenance(config, {"samples": config["samples"], "betas": config["input"]["betas"]},
                              out / "provenance.json")
    workflow.write_figures(out / "per_sample.parquet", out / "contrasts.parquet", config, out / "figures")
    workflow.write_report(out / "qc.parquet", out / "predictions.parquet", out / "per_sample.parquet",
                          out / "per_condition.parquet", out / "contrasts.parquet", out / "provenance.json",
                          out / "figures", config, out / "report.html")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--donors", type=int, default=6)
    parser.add_argument("--replicates", type=int, default=3)
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        parameters = simulate.StudyParameters(donors=arguments.donors, replicates=arguments.replicates)
        study = simulate.simulate_study(parameters)
        paths = simulate.write_study(study, root / "data")
        config = yaml.safe_load((PROJECT_ROOT / "config/config.yaml").read_text())
        # The beta-matrix route with the published clocks: the same steps the in-process reference runs.
        config.update(samples=str(paths["samples.tsv"]), input={"type": "betas", "betas": str(paths["betas.tsv.gz"])},
                      custom_clocks=[])
        config["clocks"]["names"] = [name for name in config["clocks"]["names"] if name in clocks.available()]
        snakemake_times, library_times = [], []
        for repeat in range(arguments.repeats):
            workdir = root / f"run{repeat}"
            workdir.mkdir()
            (workdir / "config.yaml").write_text(yaml.safe_dump(config))
            snakemake_times.append(run_snakemake(workdir))
            library_dir = root / f"library{repeat}"
            library_dir.mkdir()
            library_times.append(run_in_process(config, library_dir))
            shutil.rmtree(workdir)

    snakemake_median, library_median = statistics.median(snakemake_times), statistics.median(library_times)
    print(f"study: {study.samples.shape[0]} samples x {study.betas.shape[0]} CpGs")
    print(f"workflow (snakemake, 2 cores): median {snakemake_median:.1f} s over {arguments.repeats} runs "
          f"({', '.join(f'{t:.1f}' for t in snakemake_times)})")
    print(f"same steps in one process: median {library_median:.1f} s")
    print(f"Snakemake's share of the wall time: {100 * (1 - library_median / snakemake_median):.0f}% "
          f"(ratio {snakemake_median / library_median:.1f}x)")


if __name__ == "__main__":
    main()
