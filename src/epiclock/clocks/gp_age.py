"""GP-age (Varshavsky et al. 2023): Gaussian-process regression of age on a few blood CpGs.

The prediction is the posterior mean of an exact GP with an isotropic RBF kernel and no mean
function: age(x) = sum_j k(x, X_j) * w_j, k(x, x') = variance * exp(-|x - x'|^2 / (2 lengthscale^2)),
over the model's training samples X_j (8,337; 8,085 for the 71-CpG model); the weights
w = (K + noise I)^-1 Y were solved once, when vendoring (tools/vendor_nonlinear_clocks.py), so
nothing is factorised at run time.

How it is computed: a squared distance does not change when both points move by the same vector, so
inputs are centred at the training mean c (x~ = x - c, X~_j = X_j - c; this keeps the numbers, and so
their rounding, small). With l = lengthscale, the kernel's exponent is one inner product,

    -|x~ - X~_j|^2 / (2 l^2) = x~ . X~_j / l^2 - |x~|^2 / (2 l^2) - |X~_j|^2 / (2 l^2)
                             = [x~, -|x~|^2 / (2 l^2), 1] . [X~_j / l^2, 1, -|X~_j|^2 / (2 l^2)],

whose right-hand vectors (and variance * w) are stored once, when the model is loaded. So a tile of
the kernel matrix (TILE_SAMPLES samples x TILE_TRAINING training samples, small enough to stay in a
core's cache) is one matrix product, one np.exp in place and one matrix-vector product with
variance * w; the ages are the sums of these products over the tiles. This equals the formula
above, term by term, to rounding (bench/gp_age.py compares it with the formula written out).

An unmeasured CpG is filled with the mean of that CpG over the training samples, as biolearn 0.9.1
does (GPAgeModel); the GP-age authors' code does the same with its training data. Within the
project's imputation that mean is the clock's imputation reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiclock.clocks.model import PerSampleModel
from epiclock.errors import EpiclockError

# A tile of the kernel matrix: samples x training samples, 128 x 1,024 doubles (1 MiB), stays in a
# core's L2 cache from the product through np.exp to the weighted sum. Tiles of the same size but
# other shapes (256 x 512, 512 x 256) ran as fast, larger ones and whole rows of training samples
# slower; few samples per tile also bound the padding of a batch's last tile (_predict_complete):
# clocks.predict passes MODEL_SAMPLES (1,024, a multiple) samples a call, so only its last call pads.
TILE_SAMPLES = 128
TILE_TRAINING = 1024
ARRAYS = ("cpg_ids", "training_inputs", "weights", "variance", "lengthscale")


class GaussianProcessAge(PerSampleModel):
    """A GP-age model as a clock's model: ``predict_array`` maps samples x CpGs betas (in
    ``feature_names_in_`` order) to years; a row with an unmeasured CpG gets NaN."""

    transform = "gaussian_process"
    imputation_label = "the GP-age training samples' mean"

    def __init__(self, cpg_ids: np.ndarray, training_inputs: np.ndarray, weights: np.ndarray, variance: float,
                 lengthscale: float):
        # CpGs in ID order, as every clock reads them; the training inputs' columns follow.
        order = np.argsort(cpg_ids, kind="stable")
        self.feature_names_in_ = np.asarray(cpg_ids, dtype=object)[order]
        # The model as vendored; predictions read the products below, made from it once.
        self.training_inputs = np.ascontiguousarray(np.asarray(training_inputs, dtype=float)[:, order])
        self.weights = np.asarray(weights, dtype=float)
        self.variance, self.lengthscale = float(variance), float(lengthscale)
        self.centre = self.training_inputs.mean(axis=0)
        self.imputation_reference = pd.Series(self.centre, index=self.feature_names_in_)
        self._inverse_two_squared_lengthscale = 0.5 / self.lengthscale ** 2
        centred = self.training_inputs - self.centre
        # Bounds, from the six vendored models: every exponent is minus a squared distance, at most 0
        # up to rounding, so no term overflows whatever the input, and a term underflows only where the
        # kernel itself is below ~1e-308. Its parts are small: |X~_j|^2 / (2 l^2) <= 2.1 over the
        # training samples and, for betas in [0, 1], |x~|^2 / (2 l^2) <= 10.2 (uncentred: 9.9 and 22.1),
        # so an exponent is rounded by a few ulps of at most ~25, a term by ~1e-14 of itself; the terms'
        # absolute values sum to at most variance * sum_j |w_j| <= 1.2e6 years, which bounds the age's
        # rounding by ~1e-8 years. Measured (bench/gp_age.py --accuracy) it is ~1e-11 years, as for the
        # formula written out in float64, both against the formula in 80-bit arithmetic.
        exponent_factors = np.vstack([centred.T * (2.0 * self._inverse_two_squared_lengthscale),
                                      np.ones(len(centred)),
                                      -self._inverse_two_squared_lengthscale * np.add.reduce(centred ** 2, axis=1)])
        scaled_weights = self.variance * self.weights
        starts = range(0, len(centred), TILE_TRAINING)
        self._tiles = [(np.ascontiguousarray(exponent_factors[:, start:start + TILE_TRAINING]),
                        scaled_weights[start:start + TILE_TRAINING]) for start in starts]

    def _predict_complete(self, values: np.ndarray) -> np.ndarray:
        ages = np.zeros(len(values))
        n_features = values.shape[1]
        # [x~, -|x~|^2 / (2 l^2), 1] per sample (module docstring), TILE_SAMPLES rows at a time. A last,
        # shorter block is padded with zero rows, so that every matrix product has the same shapes
        # whatever the batch (BLAS takes another path for one row, and may sum a remainder of rows in
        # another order): a sample's age then depends on the batch only through its row's place in a
        # tile, measured below 1e-14 of it (bench/gp_age.py --accuracy).
        left = np.zeros((TILE_SAMPLES, n_features + 2))
        left[:, n_features + 1] = 1.0
        kernel = np.empty(TILE_SAMPLES * TILE_TRAINING)
        partial = np.empty(TILE_SAMPLES)
        for start in range(0, len(values), TILE_SAMPLES):
            rows = values[start:start + TILE_SAMPLES]
            centred = np.subtract(rows, self.centre, out=left[:len(rows), :n_features])
            left[:len(rows), n_features] = np.add.reduce(centred ** 2, axis=1)
            left[:len(rows), n_features] *= -self._inverse_two_squared_lengthscale
            left[len(rows):, :n_features + 1] = 0.0
            total = ages[start:start + len(rows)]
            for factors, weights in self._tiles:
                # Contiguous, also for the last, narrower tile of training samples.
                tile = kernel[:TILE_SAMPLES * factors.shape[1]].reshape(TILE_SAMPLES, -1)
                np.matmul(left, factors, out=tile)
                np.exp(tile, out=tile)
                total += np.matmul(tile, weights, out=partial)[:len(rows)]
        return ages


def load(path) -> GaussianProcessAge:
    """A GP-age model from its .npz (cpg_ids, training_inputs, weights, variance, lengthscale)."""
    with path.open("rb") as handle, np.load(handle) as archive:
        absent = [name for name in ARRAYS if name not in archive.files]
        if absent:
            raise EpiclockError(f"{path.name}: missing array(s) {', '.join(absent)}; re-run tools/vendor_nonlinear_clocks.py")
        arrays = {name: archive[name] for name in ARRAYS}
    if arrays["training_inputs"].shape != (len(arrays["weights"]), len(arrays["cpg_ids"])):
        raise EpiclockError(f"{path.name}: training inputs, weights and CpG IDs disagree in size")
    return GaussianProcessAge(arrays["cpg_ids"], arrays["training_inputs"], arrays["weights"],
                              float(arrays["variance"]), float(arrays["lengthscale"]))
