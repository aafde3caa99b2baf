"""The whole workflow on N simulated array-size IDAT pairs: wall time, samples/s, peak RSS, overhead.

Simulates a study of N samples on an array of real size (EPIC: ~866k probes, ~1.05M addresses),
writes its manifest and IDAT pairs, then runs Snakemake from IDATs to the report. Peak RSS is the
largest resident size of any process of the run (Snakemake and its jobs, from the kernel's
accounting of waited-for children, taken in a small launcher process so that the simulation's own
memory is not counted). Snakemake's own share is the wall time during which no job ran
(start-up, DAG building, scheduling), from the jobs' start and end stamps in Snakemake's log. The
stamps have one-second resolution and a job's time includes its Python start-up.

Per rule, from each job's files in benchmarks/ (epiclock.steps.run says where and what they hold):
the wall seconds and, side by side, the peak memory and CPU time Snakemake sampled (its benchmark)
and those the step's process read from the kernel (its usage file), which no sampling interval can miss.

    .venv/bin/python bench/scale.py --samples 100 [--array epic] [--batch-size 50] [--keep DIR]
    .venv/bin/python bench/scale.py --reuse DIR      # the workflow again on the IDATs a --keep run left
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import yaml

from epiclock.demo import simulate, simulate_arrays
from epiclock.steps.run import BENCHMARK_DIR, USAGE_COLUMNS, USAGE_SUFFIX

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Runs its arguments as a command and prints the peak RSS (KiB) of the command's process tree.
LAUNCHER = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
if done.returncode:
    sys.exit(done.stderr[-5000:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def busy_seconds(log_text: str) -> float:
    """Seconds during which at least one job ran: the union of the jobs' start-to-finish intervals."""
    started, intervals, stamp = {}, [], None
    for line in log_text.splitlines():
        match = re.match(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$", line.strip())
        if match:
            stamp = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
            continue
        job = re.match(r"^\s*jobid: (\d+)", line)
        if job and stamp:
            started.setdefault(job.group(1), stamp)
        finished = re.match(r"^Finished jobid: (\d+)", line.strip())
        if finished and stamp and finished.group(1) in started:
            intervals.append((started[finished.group(1)], stamp))
    busy, current_end = 0.0, None
    for begin, end in sorted(intervals):
        if current_end is None or begin > current_end:
            busy += (end - begin).total_seconds()
            current_end = end
        elif end > current_end:
            busy += (end - current_end).total_seconds()
            current_end = end
    return busy


# What is read of Snakemake's benchmark files (its column names).
SAMPLED_COLUMNS = ("s", "max_rss", "max_uss", "cpu_time")


def job_usage(benchmark_dir: Path) -> pd.DataFrame:
    """One row per job: its rule, the job (its wildcards, empty for a rule without any), Snakemake's
    sampled ``s``, ``max_rss``, ``max_uss``, ``cpu_time`` and the step's own ``max_rss_exact`` and
    ``cpu_time_exact`` (NA where the job left no usage file); MiB and seconds. A benchmark file with
    several rows (Snakemake's benchmark repeats) counts with its largest values."""
    rows = []
    for path in sorted(benchmark_dir.rglob("*.tsv")):
        if path.name.endswith(USAGE_SUFFIX):
            continue
        parts = path.relative_to(benchmark_dir).with_suffix("").parts
        sampled = pd.read_csv(path, sep="\t", na_values=["NA", "-"])[list(SAMPLED_COLUMNS)].max()
        usage_path = path.with_name(path.name.removesuffix(".tsv") + USAGE_SUFFIX)
        exact = (pd.read_csv(usage_path, sep="\t", na_values=["NA"])[list(USAGE_COLUMNS)].max() if usage_path.is_file()
                 else pd.Series(float("nan"), index=list(USAGE_COLUMNS)))
        rows.append({"rule": parts[0], "job": "/".join(parts[1:]), **sampled.to_dict(),
                     **{f"{column}_exact": value for column, value in exact.items()}})
    return pd.DataFrame(rows, columns=["rule", "job", *SAMPLED_COLUMNS, *(f"{c}_exact" for c in USAGE_COLUMNS)])


def rule_usage(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per rule: its jobs, their median and largest wall time, the largest peak memory (sampled and
    exact) and the CPU time of all its jobs (sampled and exact); largest peak first. An exact figure is
    NA where a job of the rule left no usage file, rather than the figure of the other jobs."""
    summary = jobs.groupby("rule").agg(
        jobs=("job", "size"), median_s=("s", "median"), max_s=("s", "max"),
        max_rss=("max_rss", "max"), max_rss_exact=("max_rss_exact", lambda values: values.max(skipna=False)),
        max_uss=("max_uss", "max"), cpu_time=("cpu_time", "sum"),
        cpu_time_exact=("cpu_time_exact", lambda values: values.sum(skipna=False)))
    return summary.sort_values("max_rss_exact", ascending=False, na_position="last")


def simulate_study(out: Path, n_samples: int, array: str) -> dict[str, Path]:
    """A study of ``n_samples`` on an array of real size, as IDAT pairs and a manifest under ``out``."""
    replicates = max(1, n_samples // (6 * 6))
    donors = max(3, -(-n_samples // (6 * replicates)))
    study = simulate.simulate_study(simulate.StudyParameters(donors=donors, replicates=replicates, background_cpgs=2000))
    samples = study.samples.iloc[:n_samples]
    cpg_ids = simulate_arrays.array_cpg_ids(array, study.betas.index)
    true_betas = simulate_arrays.pad_betas(study.betas[samples["sample_id"]], cpg_ids)
    paths = simulate.write_study(simulate.SimulatedStudy(samples, study.betas[samples["sample_id"]],
                                                         study.truth[study.truth["sample_id"].isin(samples["sample_id"])]),
                                 out)
    arrays = simulate_arrays.write_idats(true_betas, samples, {}, out)
    return {"samples": paths["samples.tsv"], "idat_dir": arrays["idat_dir"], "manifest": arrays["manifest"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--array", default="epic", choices=["demo", "450k", "epic"])
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--keep", help="keep the run directory here instead of a temporary one")
    parser.add_argument("--reuse", help="a directory an earlier --keep run left: run the workflow again on its "
                                        "simulated IDATs (its results are removed first)")
    arguments = parser.parse_args()

    if arguments.reuse:
        root = Path(arguments.reuse)
        for generated in ("results", "logs", BENCHMARK_DIR, ".snakemake", "resources"):
            shutil.rmtree(root / generated, ignore_errors=True)
        data = {"samples": root / "data/samples.tsv", "idat_dir": root / "data/idats",
                "manifest": root / "data/manifest.csv.gz"}
        n_samples = sum(1 for _ in open(data["samples"])) - 1
        simulated = 0.0
    else:
        root = Path(arguments.keep or tempfile.mkdtemp(prefix="epiclock-scale."))
        root.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        data, n_samples = simulate_study(root / "data", arguments.samples, arguments.array), arguments.samples
        simulated = time.perf_counter() - start

    config = yaml.safe_load((PROJECT_ROOT / "config/config.yaml").read_text())
    config.update(samples=str(data["samples"]), custom_clocks=[],
                  input={"type": "idat", "idat_dir": str(data["idat_dir"]), "batch_size": arguments.batch_size},
                  manifest={"path": str(data["manifest"])})
    config["clocks"]["names"] = ["horvath2013", "horvath_skin_blood2018"]
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    # Linux hands a process's peak resident size on through fork and exec, so Snakemake started from
    # this process (which just held the simulated study) would report this process's peak as its own.
    # A small launcher process starts it instead and reports the peak of its own descendants.
    launcher = subprocess.run([sys.executable, "-c", LAUNCHER, sys.executable, "-m", "snakemake", "--snakefile",
                               str(PROJECT_ROOT / "Snakefile"), "--directory", str(root), "--configfile",
                               str(root / "config.yaml"), "--cores", "2", "--workflow-profile", "none"],
                              check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak_gib = int(launcher.stdout.split()[-1]) / 2**20
    log_text = sorted((root / ".snakemake/log").glob("*.log"))[-1].read_text()
    # Snakemake's own time: wall time during which no job was running (start-up, DAG, scheduling).
    overhead = max(0.0, 1 - busy_seconds(log_text) / wall)

    print(f"study: {n_samples} samples on a simulated {arguments.array} array, batch size {arguments.batch_size}; "
          + (f"simulating and writing IDATs took {simulated:.0f} s" if simulated else f"IDATs of {root}"))
    print(f"workflow from IDATs to report (2 cores): {wall:.0f} s wall, {n_samples / wall:.2f} samples/s")
    print(f"peak RSS of any process of the run: {peak_gib:.2f} GiB")
    print(f"Snakemake's own share of the wall time (outside jobs): {100 * overhead:.0f}%")
    print(f"per rule, from {BENCHMARK_DIR}/ (MiB, seconds; sampled: Snakemake's benchmark, exact: the step's "
          "own VmHWM and CPU time):")
    print(rule_usage(job_usage(root / BENCHMARK_DIR)).to_string(float_format=lambda value: f"{value:.1f}"))
    if not (arguments.keep or arguments.reuse):
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
