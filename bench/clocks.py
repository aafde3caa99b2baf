"""Seconds to predict all shipped clocks for N samples from betas in memory, and peak memory.

One core: BLAS and OpenMP threads are set to 1 before numpy loads. The matrix holds every probe a
clock reads, including DunedinPACE's 20,000 normalisation probes (which also serve as the whole
array for Zhang's per-sample standardisation). The reference run, in the same process, is one dense
matrix product of the same shape (the floor for any linear clock): the ratio clocks/reference is
what to compare across machines. Per-clock times show where the time goes.

    .venv/bin/python bench/clocks.py [--samples 10000] [--repeats 3]
"""

import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from epiclock.clocks import data, registry  # noqa: E402
from epiclock.clocks import predict as clocks_predict
from epiclock.clocks import preprocessing as clocks_preprocessing


def timed(function, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()

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
    preprocessed = [clock.name for clock in shipped if clock.preprocessing is not None]
    linear_only = [name for name in names if name not in preprocessed]

    clock_times = timed(lambda: clocks_predict.predict(betas, names), arguments.repeats)
    linear_times = timed(lambda: clocks_predict.predict(betas, linear_only), arguments.repeats)
    reference_times = timed(lambda: betas.to_numpy().T @ weights, arguments.repeats)
    per_clock = {name: min(timed(lambda: clocks_predict.predict(betas, [name]), 1)) for name in names}

    tracemalloc.start()
    clocks_predict.predict(betas, names)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    clock_median, reference_median = statistics.median(clock_times), statistics.median(reference_times)
    linear_median = statistics.median(linear_times)
    print(f"clocks: {len(names)}; samples: {arguments.samples}; probes in matrix: {len(cpg_ids)} (one core)")
    print(f"predict all clocks: median {clock_median:.3f} s over {arguments.repeats} runs "
          f"(min {min(clock_times):.3f}, max {max(clock_times):.3f})")
    print(f"predict the {len(linear_only)} clocks without per-sample preprocessing: median {linear_median:.3f} s")
    print(f"reference matrix product: median {reference_median:.4f} s; ratio {clock_median / reference_median:.1f}x "
          f"(without preprocessing {linear_median / reference_median:.1f}x)")
    print("per clock, one run: " + ", ".join(f"{name} {seconds:.3f} s" for name, seconds in per_clock.items()))
    print(f"peak memory allocated during predict: {peak / 2**20:.1f} MiB "
          f"(input matrix {betas.memory_usage(deep=True).sum() / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
