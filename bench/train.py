"""Time and peak memory to train a custom clock (nested CV) on N samples x M CpGs, 2 cores.

Betas are simulated (a reference cohort with 200 CpGs tracking age) and held as float32, as a
450k-CpG training set would be. The reference run in the same process is the correlation
prefilter alone (one pass over the matrix): the ratio says what the elastic net fits cost on top.

    .venv/bin/python bench/train.py [--samples 1000] [--cpgs 450000] [--top-k 5000]
"""

import argparse
import resource
import time

import numpy as np

from epiclock.clocks import training
from epiclock.demo import simulate


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--cpgs", type=int, default=450_000)
    parser.add_argument("--top-k", type=int, default=5000)
    parser.add_argument("--outer-folds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    arguments = parser.parse_args()

    start = time.perf_counter()
    cohort = simulate.simulate_reference_cohort(n_samples=arguments.samples, signal_cpgs=200,
                                                background_cpgs=arguments.cpgs - 200, seed=1)
    betas = cohort.betas.astype(np.float32)
    del cohort.betas
    simulated = time.perf_counter() - start
    print(f"simulated {betas.shape[1]} samples x {betas.shape[0]} CpGs in {simulated:.1f} s "
          f"({betas.memory_usage().sum() / 2**30:.2f} GiB as float32); peak RSS so far {peak_rss_gib():.2f} GiB")

    X = betas.T
    start = time.perf_counter()
    training.correlation_with(X.to_numpy(), cohort.ages.to_numpy())
    prefilter = time.perf_counter() - start

    estimator = training.ElasticNetClock(top_k=arguments.top_k, n_jobs=arguments.threads)
    start = time.perf_counter()
    trained = training.train_clock("bench", betas, cohort.ages, estimator, outer_folds=arguments.outer_folds)
    elapsed = time.perf_counter() - start
    card = trained.card
    print(f"train (nested CV: {arguments.outer_folds} outer folds + final fit, top-k {arguments.top_k}, "
          f"{arguments.threads} threads): {elapsed:.1f} s")
    print(f"reference, one correlation prefilter pass: {prefilter:.2f} s; ratio {elapsed / prefilter:.0f}x")
    print(f"outer-CV MAE {card['outer_cv']['mae_years']:.2f} years, r {card['outer_cv']['correlation']:.3f}, "
          f"{card['n_cpgs_kept']} CpGs kept")
    print(f"peak RSS of the process: {peak_rss_gib():.2f} GiB")


if __name__ == "__main__":
    main()
