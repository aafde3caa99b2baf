"""GP-age (Varshavsky et al. 2023): Gaussian-process regression of age on a few blood CpGs.

The prediction is the posterior mean of an exact GP with an isotropic RBF kernel and no mean
function: age(x) = sum_j k(x, X_j) * w_j, k(x, x') = variance * exp(-|x - x'|^2 / (2 lengthscale^2)),
over the model's 8,337 training samples X_j; the weights w = (K + noise I)^-1 Y were solved once,
when vendoring (tools/vendor_nonlinear_clocks.py), so nothing is factorised at run time.

An unmeasured CpG is filled with the mean of that CpG over the training samples, as biolearn 0.9.1
does (GPAgeModel); the GP-age authors' code does the same with its training data. Within the
project's imputation that mean is the clock's imputation reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiclock.clocks.model import PerSampleModel
from epiclock.errors import EpiclockError

# Samples per block of the kernel matrix (block x training samples doubles): bounds memory.
BLOCK_SAMPLES = 256
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
        self.training_inputs = np.ascontiguousarray(np.asarray(training_inputs, dtype=float)[:, order])
        self.weights = np.asarray(weights, dtype=float)
        self.variance, self.lengthscale = float(variance), float(lengthscale)
        self._training_norms = np.add.reduce(self.training_inputs ** 2, axis=1)
        self.imputation_reference = pd.Series(self.training_inputs.mean(axis=0), index=self.feature_names_in_)

    def _predict_complete(self, values: np.ndarray) -> np.ndarray:
        ages = np.empty(len(values))
        for start in range(0, len(values), BLOCK_SAMPLES):
            ages[start:start + BLOCK_SAMPLES] = self._mean(values[start:start + BLOCK_SAMPLES])
        return ages

    def _mean(self, values: np.ndarray) -> np.ndarray:
        # |x - X_j|^2 = |x|^2 + |X_j|^2 - 2 x.X_j, at least 0 (as GPy computes it).
        squared = np.add.reduce(values ** 2, axis=1)[:, None] + self._training_norms[None, :] - 2.0 * values @ self.training_inputs.T
        kernel = self.variance * np.exp(-0.5 * np.maximum(squared, 0.0) / self.lengthscale ** 2)
        return np.add.reduce(kernel * self.weights, axis=1)


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
