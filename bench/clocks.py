"""Seconds to predict all shipped clocks for N samples from betas in memory, and peak memory.

The reference run, in the same process, is one dense matrix product of the same shape (the floor
for any linear clock): the ratio clocks/reference is what to compare across machines.

    .venv/bin/python bench/clocks.py [--samples 10000] [--repeats 5]
"""

import argparse
import statistics
import time
import tracemalloc

import numpy as np
import pandas as pd

from epiclock import clocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()

    names = clocks.available()
    cpg_ids = sorted(set().union(*(clocks.get(name).cpg_ids for name in names)))
    rng = np.random.default_rng(0)
    betas = pd.DataFrame(rng.uniform(0, 1, (len(cpg_ids), arguments.samples)), index=cpg_ids,
                         columns=[f"S{i}" for i in range(arguments.samples)])
    clocks.reference_medians()  # loaded once per process, not part of the per-call time
    weights = rng.normal(0, 1, (len(cpg_ids), len(names)))

    clock_times, reference_times = [], []
    for _ in range(arguments.repeats):
        start = time.perf_counter()
        clocks.predict(betas, names)
        clock_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        betas.to_numpy().T @ weights
        reference_times.append(time.perf_counter() - start)

    tracemalloc.start()
    clocks.predict(betas, names)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    clock_median, reference_median = statistics.median(clock_times), statistics.median(reference_times)
    print(f"clocks: {', '.join(names)}; samples: {arguments.samples}; CpGs in matrix: {len(cpg_ids)}")
    print(f"predict all clocks: median {clock_median:.3f} s over {arguments.repeats} runs "
          f"(min {min(clock_times):.3f}, max {max(clock_times):.3f})")
    print(f"reference matrix product: median {reference_median:.4f} s; ratio {clock_median / reference_median:.1f}x")
    print(f"peak memory allocated during predict: {peak / 2**20:.1f} MiB "
          f"(input matrix {betas.memory_usage(deep=True).sum() / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
