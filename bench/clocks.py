"""Seconds to predict all shipped clocks for N samples from betas in memory, and peak memory.

One core: BLAS and OpenMP threads are set to 1 before numpy loads. The matrix holds every probe a
clock reads, including DunedinPACE's 20,000 normalisation probes (which also serve as the whole
array for Zhang's per-sample standardisation). Printed, all timed in the same process (medians):
every clock; every clock but DunedinPACE; the clocks without per-sample preprocessing; and two
floors, each as a ratio: one dense matrix product of the matrix by one weight per probe and clock
(the floor for any linear clock), and np.sort of DunedinPACE's normalisation matrix (samples x its
20,000 probes) along its rows, the floor for any exact rank of its CpGs among them. The ratios are
what to compare across machines.

    .venv/bin/python bench/clocks.py [--samples 10000] [--repeats 3]
    .venv/bin/python bench/clocks.py --versus-biolearn [--biolearn-python /tmp/blvenv/bin/python] [--samples 1000]

--versus-biolearn times, on one matrix, every clock that biolearn 0.9.1 also computes (clocks.yaml's
biolearn_model) with epiclock and with biolearn (bench/biolearn_timing.py, run by the python of a
scratch virtualenv that has biolearn; see tests/fixtures/biolearn/README.md), side by side. Without
that python the comparison is skipped with a message.
"""

from _timing import timed  # first: one thread for BLAS and OpenMP before numpy loads

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from epiclock.clocks import data, registry  # noqa: E402
from epiclock.clocks import predict as clocks_predict  # noqa: E402
from epiclock.clocks import preprocessing as clocks_preprocessing


DEFAULT_BIOLEARN_PYTHON = "/tmp/blvenv/bin/python"


def versus_biolearn(samples: int, biolearn_python: str) -> None:
    """The clocks both tools compute, timed on one matrix by each, side by side."""
    if not Path(biolearn_python).is_file():
        print(f"biolearn comparison skipped: no python with biolearn at {biolearn_python} (make one as "
              "tests/fixtures/biolearn/README.md says, or pass --biolearn-python)")
        return
    entries = registry._registry()
    # GP-age is left out: biolearn refits each GP (GPy, an 8,337-sample Cholesky) when it first predicts,
    # minutes per model, and needs GPy besides biolearn.
    common = {name: entry["biolearn_model"] for name, entry in entries.items()
              if "biolearn_model" in entry and entry.get("model") != "gp_age"}
    shipped = [registry.get(name) for name in common]
    cpg_ids = sorted(set().union(*(clock.cpg_ids for clock in shipped))
                     | set(registry.get("dunedinpace2022").preprocessing.target.index))
    rng = np.random.default_rng(1)
    values = rng.uniform(0.02, 0.98, (samples, len(cpg_ids)))
    ages = rng.uniform(20, 80, samples)
    sexes = rng.integers(0, 2, samples)
    betas = pd.DataFrame(values.T, index=pd.Index(cpg_ids, name="cpg_id"), columns=[f"S{i}" for i in range(samples)])
    covariates = pd.DataFrame({"age": ages, "female": (sexes == 0).astype(float)}, index=betas.columns)
    with tempfile.TemporaryDirectory() as directory:
        np.save(Path(directory) / "betas.npy", values)
        np.save(Path(directory) / "ages.npy", ages)
        np.save(Path(directory) / "sexes.npy", sexes)
        (Path(directory) / "cpg_ids.txt").write_text("\n".join(cpg_ids))
        result = subprocess.run([biolearn_python, str(Path(__file__).with_name("biolearn_timing.py")), directory,
                                 *common.values()], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"biolearn comparison failed: {result.stderr.strip().splitlines()[-1:]}")
        return
    theirs = {line.split("\t")[0]: float(line.split("\t")[1]) for line in result.stdout.splitlines() if "\t" in line}
    ours = {clock.name: min(timed(lambda: clocks_predict.predict(betas, [clock], covariates=covariates), 3)) for clock in shipped}
    all_ours = statistics.median(timed(lambda: clocks_predict.predict(betas, shipped, covariates=covariates), 3))
    print(f"epiclock vs biolearn 0.9.1, {samples} samples x {len(cpg_ids)} probes, one core, best of 3 (biolearn: one run)")
    print("clock\tbiolearn_model\tepiclock_s\tbiolearn_s\tratio")
    for name, model in common.items():
        print(f"{name}\t{model}\t{ours[name]:.4f}\t{theirs[model]:.4f}\t{theirs[model] / ours[name]:.1f}x")
    total_theirs = sum(theirs[model] for model in common.values())
    print(f"all {len(common)} together: epiclock {all_ours:.3f} s (one call, median of 3); biolearn {total_theirs:.3f} s "
          f"(sum of its models); ratio {total_theirs / all_ours:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=None, help="10,000 (1,000 with --versus-biolearn)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--versus-biolearn", action="store_true")
    parser.add_argument("--biolearn-python", default=DEFAULT_BIOLEARN_PYTHON)
    arguments = parser.parse_args()
    if arguments.versus_biolearn:
        versus_biolearn(arguments.samples or 1_000, arguments.biolearn_python)
        return
    arguments.samples = arguments.samples or 10_000

    names = registry.available()
    shipped = [registry.get(name) for name in names]
    needed = set().union(*(clock.cpg_ids for clock in shipped))
    for clock in shipped:
        if isinstance(clock.preprocessing, clocks_preprocessing.QuantileNormalisation):
            needed |= set(clock.preprocessing.target.index)
    cpg_ids = sorted(needed)
    rng = np.random.default_rng(0)
    # Samples as rows of one block: the layout pandas keeps for a CpG x sample frame.
    values = rng.uniform(0.02, 0.98, (arguments.samples, len(cpg_ids)))
    betas = pd.DataFrame(values.T, index=pd.Index(cpg_ids, name="cpg_id"),
                         columns=[f"S{i}" for i in range(arguments.samples)], copy=False)
    del values
    data.reference_medians()  # loaded once per process, not part of the per-call time
    weights = rng.normal(0, 1, (len(cpg_ids), len(names)))
    normalised = [clock for clock in shipped if isinstance(clock.preprocessing, clocks_preprocessing.QuantileNormalisation)]
    without_normalisation = [clock for clock in shipped if clock not in normalised]
    linear_only = [clock for clock in shipped if clock.preprocessing is None]
    target = normalised[0].preprocessing.target.index
    normalisation_matrix = betas.loc[target].to_numpy().T.copy()

    covariates = pd.DataFrame({"age": rng.uniform(20, 80, arguments.samples), "female": rng.integers(0, 2, arguments.samples)},
                              index=betas.columns, dtype=float)
    cpu_start = time.process_time()
    clock_times = timed(lambda: clocks_predict.predict(betas, shipped, covariates=covariates), arguments.repeats)
    clock_cpu = (time.process_time() - cpu_start) / arguments.repeats
    without_times = timed(lambda: clocks_predict.predict(betas, without_normalisation, covariates=covariates),
                          arguments.repeats)
    linear_times = timed(lambda: clocks_predict.predict(betas, linear_only), arguments.repeats)
    product_times = timed(lambda: betas.to_numpy().T @ weights, arguments.repeats)
    # Sorted in place, so the time is the sort's, not a 10,000 x 20,000 allocation's; each run
    # sorts a fresh copy (made outside the timing).
    sort_times = []
    for _ in range(arguments.repeats):
        unsorted = normalisation_matrix.copy()
        sort_times += timed(lambda: unsorted.sort(axis=1), 1)

    tracemalloc.start()
    clocks_predict.predict(betas, shipped, covariates=covariates)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    clock_median, without_median = statistics.median(clock_times), statistics.median(without_times)
    linear_median, product_median = statistics.median(linear_times), statistics.median(product_times)
    sort_median = statistics.median(sort_times)
    print(f"clocks: {len(names)}; samples: {arguments.samples}; probes in matrix: {len(cpg_ids)} (one core); "
          f"medians of {arguments.repeats} runs")
    print(f"predict all {len(shipped)} clocks: {clock_median:.3f} s (min {min(clock_times):.3f}, max {max(clock_times):.3f}); "
          f"{clock_median / product_median:.2f}x the dense product; CPU time {clock_cpu:.3f} s a run (mean: wall "
          "time above CPU time means other processes shared the core)")
    print(f"predict the {len(without_normalisation)} clocks without DunedinPACE: {without_median:.3f} s; "
          f"{without_median / product_median:.2f}x the dense product")
    print(f"predict the {len(linear_only)} clocks without per-sample preprocessing: {linear_median:.3f} s; "
          f"{linear_median / product_median:.2f}x the dense product")
    print(f"floor, one dense matrix product ({arguments.samples} x {len(cpg_ids)} by {len(cpg_ids)} x {len(names)}): "
          f"{product_median:.3f} s")
    print(f"floor, np.sort of the normalisation matrix ({arguments.samples} x {len(target)}, in place along rows): "
          f"{sort_median:.3f} s; DunedinPACE's share of the run ({clock_median - without_median:.3f} s) is "
          f"{(clock_median - without_median) / sort_median:.2f}x that sort; all clocks are "
          f"{clock_median / sort_median:.2f}x it")
    print(f"peak memory allocated during predict: {peak / 2**20:.1f} MiB "
          f"(input matrix {betas.memory_usage(deep=True).sum() / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
