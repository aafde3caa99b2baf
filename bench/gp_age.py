"""Seconds to predict GP-age's six models for N samples: clocks/gp_age.py against the GP's posterior
mean written out as the formula reads (the reference below), in the same process, and how far apart.

One core: BLAS and OpenMP threads are set to 1 before numpy loads. Betas are drawn uniformly in
[0.02, 0.98], one row per sample. For each model both are timed on the same matrix, alternately,
--repeats times; printed per model and in total: the medians, their ratio, and the largest absolute
and relative difference between the two predictions. --through-predict times each clock through
clocks.predict.predict instead (a CpG x sample frame, one clock per call, as the workflow calls it),
once with the clock's model and once with the reference in its place.

--accuracy prints, per model, instead of times: the largest error of the reference and of
clocks/gp_age.py against the formula evaluated in 80-bit arithmetic (numpy's longdouble, where it is
wider than float64) on realistic betas (the biolearn fixture's 8 samples), on adversarial ones (20
training samples, and the same moved by 1e-3 per CpG) and on 20 uniform draws; both against biolearn
0.9.1's own predictions on the fixture (tests/fixtures/biolearn); and the largest relative difference
between a sample's age predicted in one batch of 300 and in pieces of 1, 5, 127 and 129 samples.

    .venv/bin/python bench/gp_age.py [--samples 2000] [--repeats 5] [--through-predict]
    .venv/bin/python bench/gp_age.py --accuracy
"""

from _timing import timed  # first: one thread for BLAS and OpenMP before numpy loads

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import statistics  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from epiclock.clocks import registry  # noqa: E402
from epiclock.clocks import predict as clocks_predict  # noqa: E402
from epiclock.clocks.data import data_path  # noqa: E402
from epiclock.clocks.model import PerSampleModel  # noqa: E402

GP_AGE = [name for name, entry in registry._registry().items() if entry.get("model") == "gp_age"]
# The reference's blocks of samples (samples x training samples per temporary).
REFERENCE_BLOCK = 256
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "biolearn"
BATCH_PIECES = (1, 5, 127, 129)


class WrittenOutGaussianProcess(PerSampleModel):
    """The GP's posterior mean as the formula reads: sum_j variance * exp(-|x - X_j|^2 / (2 l^2)) * w_j,
    with |x - X_j|^2 = |x|^2 + |X_j|^2 - 2 x.X_j (at least 0, as GPy computes it), a block of samples
    against every training sample at a time."""

    def __init__(self, clock):
        path = data_path(registry._registry()[clock.name]["coefficients"])
        with path.open("rb") as handle, np.load(handle) as archive:
            order = np.argsort(archive["cpg_ids"], kind="stable")
            self.feature_names_in_ = np.asarray(archive["cpg_ids"], dtype=object)[order]
            self.training_inputs = np.ascontiguousarray(archive["training_inputs"][:, order], dtype=float)
            self.weights = archive["weights"]
            self.variance, self.lengthscale = float(archive["variance"]), float(archive["lengthscale"])
        assert list(self.feature_names_in_) == list(clock.model.feature_names_in_)
        self.training_norms = np.add.reduce(self.training_inputs ** 2, axis=1)

    def _predict_complete(self, values: np.ndarray) -> np.ndarray:
        ages = np.empty(len(values))
        for start in range(0, len(values), REFERENCE_BLOCK):
            block = values[start:start + REFERENCE_BLOCK]
            squared = (np.add.reduce(block ** 2, axis=1)[:, None] + self.training_norms[None, :]
                       - 2.0 * block @ self.training_inputs.T)
            kernel = self.variance * np.exp(-0.5 * np.maximum(squared, 0.0) / self.lengthscale ** 2)
            ages[start:start + REFERENCE_BLOCK] = np.add.reduce(kernel * self.weights, axis=1)
        return ages

    def in_80_bits(self, values: np.ndarray) -> np.ndarray:
        """The formula with |x - X_j|^2 summed from differences, in numpy's longdouble."""
        inputs, weights = self.training_inputs.astype(np.longdouble), self.weights.astype(np.longdouble)
        scale = np.longdouble(0.5) / np.longdouble(self.lengthscale) ** 2
        variance = np.longdouble(self.variance)
        return np.array([np.add.reduce(variance * np.exp(-scale * np.add.reduce((row - inputs) ** 2, axis=1)) * weights)
                         for row in values.astype(np.longdouble)])


def accuracy() -> None:
    """Errors against the formula in 80-bit arithmetic and against biolearn; batch invariance."""
    if np.finfo(np.longdouble).eps >= np.finfo(float).eps:
        print("numpy's longdouble is no wider than float64 here: no 80-bit reference")
        return
    betas = pd.read_csv(FIXTURES / "models_betas.tsv.gz", sep="\t", index_col="cpg_id")
    biolearn = pd.read_csv(FIXTURES / "models_predictions.tsv", sep="\t")
    biolearn = biolearn[biolearn["input"] == "complete"].set_index(["clock", "sample_id"])["prediction"]
    rng = np.random.default_rng(1)
    print("largest |error| in years against the formula in 80-bit arithmetic (reference / epiclock); "
          "against biolearn 0.9.1 on its fixture; relative difference across batches (epiclock)")
    print("clock\tfixture\ttraining_samples\tnear_training\tuniform\tversus_biolearn\tacross_batches")
    for name in GP_AGE:
        clock = registry.get(name)
        reference = WrittenOutGaussianProcess(clock)
        fixture = betas.loc[clock.model.feature_names_in_].T
        chosen = reference.training_inputs[rng.choice(len(reference.training_inputs), 20, replace=False)]
        inputs = {"fixture": fixture.to_numpy(), "training": chosen,
                  "near": chosen + rng.normal(0, 1e-3, chosen.shape), "uniform": rng.uniform(0.02, 0.98, chosen.shape)}
        cells = []
        for values in inputs.values():
            exact = reference.in_80_bits(values)
            errors = [np.abs(model.predict_array(values) - exact).max() for model in (reference, clock.model)]
            cells.append(f"{float(errors[0]):.1e} / {float(errors[1]):.1e}")
        theirs = biolearn.loc[name].reindex(fixture.index).to_numpy()
        cells.append(" / ".join(f"{np.abs(model.predict_array(inputs['fixture']) - theirs).max():.1e}"
                                for model in (reference, clock.model)))
        batch = rng.uniform(0.02, 0.98, (300, len(clock.cpg_ids)))
        whole = clock.model.predict_array(batch)
        pieces = [np.concatenate([clock.model.predict_array(batch[start:start + size])
                                  for start in range(0, len(batch), size)]) for size in BATCH_PIECES]
        cells.append(f"{max(np.abs(piece / whole - 1).max() for piece in pieces):.1e}")
        print("\t".join([name, *cells]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--through-predict", action="store_true")
    parser.add_argument("--accuracy", action="store_true")
    arguments = parser.parse_args()
    if arguments.accuracy:
        accuracy()
        return
    rng = np.random.default_rng(0)
    print(f"GP-age, {arguments.samples} samples, one core, medians of {arguments.repeats} alternating runs"
          + (", through clocks.predict" if arguments.through_predict else ""))
    print("clock\tcpgs\treference_s\tepiclock_s\tratio\tmax_abs_difference\tmax_relative_difference")
    totals = [0.0, 0.0]
    for name in GP_AGE:
        clock = registry.get(name)
        reference = WrittenOutGaussianProcess(clock)
        values = rng.uniform(0.02, 0.98, (arguments.samples, len(clock.cpg_ids)))
        if arguments.through_predict:
            betas = pd.DataFrame(values.T, index=pd.Index(clock.model.feature_names_in_, name="cpg_id"),
                                 columns=[f"S{i}" for i in range(arguments.samples)])
            pair = [dataclasses.replace(clock, model=reference), clock]
            runs = [lambda chosen=chosen: clocks_predict.predict(betas, [chosen])["dnam_age"].to_numpy()
                    for chosen in pair]
        else:
            runs = [lambda: reference.predict_array(values), lambda: clock.model.predict_array(values)]
        times = [[], []]
        for _ in range(arguments.repeats):
            for side, run in enumerate(runs):
                times[side] += timed(run, 1)
        theirs, ours = (run() for run in runs)
        medians = [statistics.median(side) for side in times]
        totals = [total + median for total, median in zip(totals, medians)]
        difference = np.abs(ours - theirs)
        print(f"{name}\t{len(clock.cpg_ids)}\t{medians[0]:.3f}\t{medians[1]:.3f}\t{medians[0] / medians[1]:.2f}x\t"
              f"{difference.max():.1e}\t{(difference / np.abs(theirs)).max():.1e}")
    print(f"all {len(GP_AGE)}\t\t{totals[0]:.3f}\t{totals[1]:.3f}\t{totals[0] / totals[1]:.2f}x")


if __name__ == "__main__":
    main()
