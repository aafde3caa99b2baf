"""Wall time of the whole workflow on the demo study, against the same steps run in one process.

Each repeat runs Snakemake from scratch in a temporary directory; the reference runs the same
library steps (epiclock.steps) in this process. The difference is Snakemake's own cost
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

from epiclock.clocks import registry
from epiclock.demo import simulate
from epiclock.steps.import_betas import import_betas
from epiclock.steps.sample_qc import sample_qc
from epiclock.steps.predict_batch_clocks import predict_batch_clocks
from epiclock.steps.predict_clocks import predict_clocks
from epiclock.steps.merge_betas import merge_betas
from epiclock.steps.compute_deltas import compute_deltas
from epiclock.steps.write_provenance import write_provenance
from epiclock.steps.write_figures import write_figures
from epiclock.steps.write_report import write_report

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run_snakemake(workdir: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT_ROOT / "Snakefile"),
                    "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", "2",
                    "--quiet"], check=True, capture_output=True)
    return time.perf_counter() - start


def run_in_process(config: dict, out: Path) -> float:
    """The beta-matrix route's steps, each called as its rule calls it, on one batch."""
    start = time.perf_counter()
    batch = {table: str(out / f"matrix.{table}.parquet") for table in ("betas", "samples", "controls", "snps", "density")}
    import_betas(config["input"]["betas"], batch)
    qc_outputs = {name: str(out / f"qc_{name}") for name in (
        "table_tsv", "table_parquet", "controls_tsv", "controls_parquet", "identity_tsv", "identity_parquet")}
    qc_outputs["density"] = str(out / "beta_density.parquet")
    sample_qc({table: [batch[table]] for table in ("samples", "controls", "snps", "density")},
              config["samples"], config["qc"], config["design"], {}, qc_outputs)
    predict_batch_clocks(batch["betas"], str(out / "batch_predictions.parquet"), config["clocks"])
    prediction_outputs = {f"{name}_{kind}": str(out / f"{name}.{kind}") for name in ("predictions", "coverage")
                          for kind in ("tsv", "parquet")}
    predict_clocks([str(out / "batch_predictions.parquet")], qc_outputs["table_parquet"], prediction_outputs,
                   config["clocks"]["names"])
    merge_betas([batch["betas"]], qc_outputs["table_parquet"], {"betas": str(out / "normalized.parquet")},
                config["normalize"]["method"])
    outputs = {f"{name}_{kind}": out / f"{name}.{kind}" for name in ("per_sample", "per_condition", "contrasts")
               for kind in ("tsv", "parquet")}
    compute_deltas(prediction_outputs["predictions_parquet"], config["samples"], config["design"],
                   config["contrasts"], outputs)
    write_provenance(config, {"samples": config["samples"], "betas": config["input"]["betas"]},
                     out / "provenance.json")
    qc_tables = {"qc_table": qc_outputs["table_parquet"], "controls": qc_outputs["controls_parquet"],
                 "density": qc_outputs["density"], "identity": qc_outputs["identity_parquet"]}
    write_figures(out / "per_sample.parquet", out / "contrasts.parquet", qc_tables, config, out / "figures")
    write_report(qc_tables, prediction_outputs["predictions_parquet"], out / "per_sample.parquet",
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
        config["clocks"]["names"] = [name for name in config["clocks"]["names"] if name in registry.available()]
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
