"""Seconds per sample and peak memory of per-sample preprocessing, at 450k and EPIC size, beside minfi.

Simulates a 450k-size and an EPIC-size array (manifest and IDAT pairs) in a temporary directory,
and takes the synthetic 450k reference (../shared/reference/synthetic450k) when it is there. Each
array size runs in a worker process of its own, on one core (BLAS and OpenMP held to one thread),
which reads the parsed manifest from its Parquet cache as a workflow batch job does. Per sample it
times:

- read + detection p + noob + dye bias: ``read_idat_pair``, the intensity look-up shared by the
  steps (``channels.measure``), ``detection.detection_summary`` (minfi's detectionP) and ``noob.noob``
  (offset 15, minfi's single-sample dye correction) - what minfi's 4.3 s per 450k sample covers;
- ``preprocess_sample`` as the workflow runs it: the above plus betas, failed-probe masking,
  control metrics, sex and SNP betas.

The first sample of each worker builds the probe layout (once per manifest and array type); it is
reported on its own and left out of the medians, which are over samples x repeats. Peak memory is
the worker's peak resident set size, VmHWM of /proc/self/status (interpreter, numpy/pandas and the
manifest included); the resident size after loading the manifest is shown beside it. Not
``getrusage``'s ru_maxrss: Linux carries it over from the parent through fork and exec, so a
worker started by this (larger) process would report the parent's peak.

``--bmiq`` adds ``preprocess_sample`` with ``preprocess.bmiq: true`` (one pass over the samples).

    .venv/bin/python bench/preprocess.py [--samples 3] [--repeats 3] [--bmiq]
"""

import _timing  # noqa: F401  (first: one core per worker, as a batch job has, before numpy loads here or there)

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "synthetic450k"
REFERENCE_BASENAMES = ("999000000001_R01C01", "999000000001_R05C01", "999000000002_R02C02")
# minfi 1.44 on this machine, 8 samples (issue 4): read 14.5 s + detectionP 7.1 s + preprocessNoob 12.7 s.
MINFI_SECONDS_PER_450K_SAMPLE = (14.5 + 7.1 + 12.7) / 8
TARGET_SECONDS = {"450k": 0.3, "EPIC": 0.5}
TARGET_PEAK_MB = 1024


def simulate(array: str, n_samples: int, out_dir: Path) -> tuple[Path, list[str]]:
    """A simulated array of real size: its manifest and the basenames of ``n_samples`` IDAT pairs."""
    from epiclock.demo import simulate_arrays

    sample_ids = [f"S{index + 1}" for index in range(n_samples)]
    cpg_ids = simulate_arrays.array_cpg_ids(array, pd.Index([], name="cpg_id"))
    betas = simulate_arrays.pad_betas(pd.DataFrame(columns=sample_ids, dtype=float), cpg_ids)
    samples = pd.DataFrame({"sample_id": sample_ids, "chip": "207000000001",
                            "position": [f"R{index + 1:02d}C01" for index in range(n_samples)],
                            "donor": sample_ids})
    paths = simulate_arrays.write_idats(betas, samples, failed={}, out_dir=out_dir, seed=5)
    basenames = [str(paths["idat_dir"] / "207000000001" / f"207000000001_{position}") for position in samples["position"]]
    return paths["manifest"], basenames


def time_worker(manifest_path: str, cache_dir: str, basenames: list[str], repeats: int, with_bmiq: bool) -> dict:
    """Run in a fresh process: per-sample timings (wall and CPU seconds) and the process's peak memory."""
    from epiclock.arrays import channels
    from epiclock.io.idat import read_idat_pair
    from epiclock.io.manifest import load_manifest
    from epiclock.preprocess import detection, noob, normexp
    from epiclock.preprocess.pipeline import PreprocessSettings, preprocess_sample

    manifest = load_manifest(manifest_path, cache_dir=cache_dir)
    resident_after_manifest = _resident_mb()
    settings = PreprocessSettings()

    def core(basename: str) -> None:
        pair = read_idat_pair(basename)
        measured = channels.measure(pair, manifest.probes, manifest.controls)
        detection.detection_summary(measured, manifest.probes, manifest.controls, method="minfi")
        noob.noob(measured, manifest.probes, manifest.controls, offset=normexp.NOOB_OFFSET, dye_method="single")

    def timed(step, basename: str) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        step(basename)
        return time.perf_counter() - wall, time.process_time() - cpu

    first_wall, _ = timed(core, basenames[0])
    core_times, sample_times = [], []
    for _ in range(repeats):
        for basename in basenames:
            core_times.append(timed(core, basename))
            sample_times.append(timed(lambda name: preprocess_sample(name, manifest, settings), basename))
    bmiq_settings = PreprocessSettings(bmiq=True)
    bmiq_times = [timed(lambda name: preprocess_sample(name, manifest, bmiq_settings), basename)[0]
                  for basename in (basenames if with_bmiq else [])]
    return {
        "n_probes": len(manifest.probes),
        "first_sample": first_wall,
        "core_wall": statistics.median(wall for wall, _ in core_times),
        "core_cpu": statistics.median(cpu for _, cpu in core_times),
        "sample_wall": statistics.median(wall for wall, _ in sample_times),
        "sample_cpu": statistics.median(cpu for _, cpu in sample_times),
        "bmiq_wall": statistics.median(bmiq_times) if bmiq_times else None,
        "resident_after_manifest_mb": resident_after_manifest,
        "peak_mb": _resident_mb("VmHWM"),
    }


def _resident_mb(field: str = "VmRSS") -> float:
    """This process's resident set (VmRSS) or its peak (VmHWM), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # the kernel writes kB
    return float("nan")


def in_worker(*arguments) -> dict:
    """``time_worker`` in a freshly spawned process, so that its peak memory is its own."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(time_worker, arguments)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3, help="simulated samples per array size")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the samples")
    parser.add_argument("--bmiq", action="store_true", help="also time preprocess_sample with BMIQ")
    arguments = parser.parse_args()
    from epiclock.io.manifest import load_manifest

    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        temporary = Path(temporary)
        cache_dir = temporary / "manifest_cache"
        datasets = []
        for array, label in (("450k", "450k"), ("epic", "EPIC")):
            start = time.perf_counter()
            manifest_path, basenames = simulate(array, arguments.samples, temporary / array)
            print(f"simulated {label}: {len(basenames)} samples in {time.perf_counter() - start:.0f} s", flush=True)
            datasets.append((f"{label} simulated", label, manifest_path, basenames))
        if REFERENCE.is_dir():
            datasets.append(("450k synthetic reference", "450k",
                             REFERENCE / "SyntheticHumanMethylation450_manifest.csv.gz",
                             [str(REFERENCE / "idats" / basename) for basename in REFERENCE_BASENAMES]))
        else:
            print(f"{REFERENCE} is absent: the synthetic reference is left out")
        for name, label, manifest_path, basenames in datasets:
            load_manifest(manifest_path, cache_dir=cache_dir)  # parse once; the worker reads the cache
            figures = in_worker(str(manifest_path), str(cache_dir), basenames, arguments.repeats, arguments.bmiq)
            rows.append((name, label, len(basenames), figures))

    print(f"\nseconds per sample, medians over samples x {arguments.repeats} repeats, one core; wall (CPU)")
    print(f"{'array':26s} {'probes':>8s} {'read+detP+noob+dye':>20s} {'vs target':>10s} {'vs minfi':>9s}"
          f" {'preprocess_sample':>18s} {'1st sample':>10s} {'peak MB':>8s} {'after manifest':>14s}")
    for name, label, n_samples, figures in rows:
        core = figures["core_wall"]
        speedup = f"{MINFI_SECONDS_PER_450K_SAMPLE / core:7.1f}x" if label == "450k" else f"{'-':>8s}"
        print(f"{name:26s} {figures['n_probes']:8,d} {core:9.3f} ({figures['core_cpu']:.3f})"
              f" {core / TARGET_SECONDS[label]:9.2f}x {speedup}"
              f" {figures['sample_wall']:8.3f} ({figures['sample_cpu']:.3f}) {figures['first_sample']:10.2f}"
              f" {figures['peak_mb']:8.0f} {figures['resident_after_manifest_mb']:14.0f}")
    if arguments.bmiq:
        print("\npreprocess_sample with BMIQ, seconds per sample (wall): " + ", ".join(
            f"{name} {figures['bmiq_wall']:.2f}" for name, _, _, figures in rows) + "; wateRmelon's BMIQ alone: 22-30")
    print(f"\ntargets: <= {TARGET_SECONDS['450k']} s per 450k sample, <= {TARGET_SECONDS['EPIC']} s per EPIC sample, "
          f"<= {TARGET_PEAK_MB} MB per worker; 'vs target' is seconds / target (<= 1 meets it)")
    print(f"minfi 1.44, read + detectionP + preprocessNoob: {MINFI_SECONDS_PER_450K_SAMPLE:.1f} s per 450k sample; "
          "'vs minfi' is how many times faster")
    print("peak MB: the worker's peak resident set (VmHWM), interpreter and manifest included")
    return 0


if __name__ == "__main__":
    sys.exit(main())
