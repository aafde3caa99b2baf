"""Time and peak memory to train a custom clock (nested CV) on N samples x M CpGs, 2 cores.

Betas are simulated (a reference cohort with 200 CpGs tracking age) and held as float32, as a
450k-CpG training set would be. The reference run in the same process is the correlation
prefilter alone (one pass over the matrix): the ratio says what the elastic net fits cost on top.

    .venv/bin/python bench/train.py [--samples 1000] [--cpgs 450000] [--top-k 5000]

With --replicates R > 1 it measures what grouping is worth instead: a cohort of --samples donors,
each with R replicate arrays sharing the donor's biological noise, trained twice with the same
settings, folds grouped by donor and plain shuffled folds; it prints both outer-CV errors (and the
median over --repeats cohorts). Ungrouped folds put a donor's replicates on both sides of a split.

    .venv/bin/python bench/train.py --samples 40 --replicates 3 --cpgs 5000 --signal-cpgs 50 --repeats 5
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
    parser.add_argument("--replicates", type=int, default=1, help="arrays per donor; > 1 compares grouped folds")
    parser.add_argument("--replicate-sd", type=float, default=0.1)
    parser.add_argument("--signal-cpgs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=1)
    arguments = parser.parse_args()
    if arguments.replicates > 1:
        compare_grouping(arguments)
        return

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


def compare_grouping(arguments) -> None:
    grouped_mae, plain_mae = [], []
    for repeat in range(arguments.repeats):
        cohort = simulate.simulate_reference_cohort(
            n_samples=arguments.samples, signal_cpgs=arguments.signal_cpgs,
            background_cpgs=arguments.cpgs - arguments.signal_cpgs, replicates=arguments.replicates,
            replicate_sd=arguments.replicate_sd, seed=1 + repeat)
        estimator = training.ElasticNetClock(top_k=arguments.top_k, n_jobs=arguments.threads)
        start = time.perf_counter()
        grouped = training.train_clock("grouped", cohort.betas, cohort.ages, estimator,
                                       outer_folds=arguments.outer_folds, groups=cohort.donors)
        plain = training.train_clock("plain", cohort.betas, cohort.ages, estimator, outer_folds=arguments.outer_folds)
        elapsed = time.perf_counter() - start
        grouped_mae.append(grouped.card["outer_cv"]["mae_years"])
        plain_mae.append(plain.card["outer_cv"]["mae_years"])
        print(f"cohort {repeat + 1}: {arguments.samples} donors x {arguments.replicates} arrays, "
              f"{cohort.betas.shape[0]} CpGs: outer-CV MAE grouped by donor {grouped_mae[-1]:.2f} y "
              f"({grouped.card['n_cpgs_kept']} CpGs), ungrouped {plain_mae[-1]:.2f} y "
              f"({plain.card['n_cpgs_kept']} CpGs); both trainings {elapsed:.1f} s")
    grouped_median, plain_median = float(np.median(grouped_mae)), float(np.median(plain_mae))
    print(f"median over {arguments.repeats} cohorts: grouped {grouped_median:.2f} y, ungrouped {plain_median:.2f} y; "
          f"ungrouped folds understate the error {grouped_median / plain_median:.1f}-fold")


if __name__ == "__main__":
    main()
