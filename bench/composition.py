"""Seconds to estimate cell composition for N samples from betas in memory, on one core.

BLAS and OpenMP threads are set to 1 before numpy loads. The samples are mixtures of the chosen
reference's profiles with planted fractions, Gaussian noise (SD 0.03) and 1% gross outliers, inside
a matrix of --cpgs rows (the reference's CpGs among random others), as a CpG x sample frame the way
the workflow holds it. Times include selecting the reference's rows. The reference run, in the same
process, is one ordinary least-squares fit of all samples (the floor for any regression on the
reference): the ratio is what to compare across machines. The mean absolute error against the
planted fractions (rescaled to sum 1 for RPC) is printed as a check that the timed run did the work.

    .venv/bin/python bench/composition.py [--samples 10000] [--reference epidish_epi_fib_ic]
        [--method rpc] [--repeats 3]
"""

from _timing import timed  # first: one thread for BLAS and OpenMP before numpy loads

import argparse  # noqa: E402
import statistics  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from epiclock import composition  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--reference", default="epidish_epi_fib_ic", choices=composition.available())
    parser.add_argument("--method", default="rpc", choices=composition.METHODS)
    parser.add_argument("--cpgs", type=int, default=5_000, help="rows of the matrix (at least the reference's)")
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()

    reference = composition.load(arguments.reference)
    profiles = reference.to_numpy()
    rng = np.random.default_rng(0)
    planted = rng.dirichlet(np.ones(profiles.shape[1]), size=arguments.samples)
    mixed = planted @ profiles.T + rng.normal(0, 0.03, (arguments.samples, len(reference)))
    gross = rng.random(mixed.shape) < 0.01
    mixed[gross] = rng.random(gross.sum())
    others = max(0, arguments.cpgs - len(reference))
    values = np.hstack([mixed, rng.uniform(0.02, 0.98, (arguments.samples, others))])
    order = rng.permutation(values.shape[1])
    cpg_ids = np.concatenate([reference.index.to_numpy(), [f"cgX{i:07d}" for i in range(others)]])
    betas = pd.DataFrame(np.ascontiguousarray(values[:, order].T), index=pd.Index(cpg_ids[order], name="cpg_id"),
                         columns=[f"S{i}" for i in range(arguments.samples)], copy=False)
    del values, mixed

    result = {}
    times = timed(lambda: result.update(fractions=composition.estimate(betas, reference, arguments.method)[0]),
                  arguments.repeats)
    design = np.column_stack([np.ones(len(reference)), profiles])
    selected = betas.loc[reference.index].to_numpy()
    reference_times = timed(lambda: np.linalg.lstsq(design, selected, rcond=None), arguments.repeats)

    expected = planted / planted.sum(axis=1, keepdims=True) if arguments.method == "rpc" else planted
    error = np.abs(result["fractions"].to_numpy() - expected).mean()
    median, reference_median = statistics.median(times), statistics.median(reference_times)
    print(f"composition {arguments.method} on {arguments.reference} ({len(reference)} CpGs x "
          f"{profiles.shape[1]} cell types); samples: {arguments.samples}; matrix rows: {len(betas)} (one core)")
    print(f"estimate: median {median:.3f} s over {arguments.repeats} runs (min {min(times):.3f}, max {max(times):.3f})")
    print(f"reference least-squares fit of all samples: median {reference_median:.4f} s; "
          f"ratio {median / reference_median:.1f}x")
    print(f"mean absolute error against the planted fractions: {error:.4f}")


if __name__ == "__main__":
    main()
