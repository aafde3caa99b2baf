"""AltumAge (de Lima Camillo et al. 2022): a neural network on 20,318 CpGs, run as a numpy forward pass.

Each beta is scaled as AltumAge was trained, (beta - centre) / (scale + 1e-8) per CpG, then passes
six layers: batch normalisation with its running statistics (inference mode, epsilon 0.001), a
linear layer (20318-32-32-32-32-32-1) and SELU after every layer but the last, as biolearn 0.9.1's
torch model does. The weights are biolearn's AltumAge.pt, converted once to .npz
(tools/vendor_nonlinear_clocks.py); here they are used in float64, where torch computes in float32.

An unmeasured CpG is filled with its centre (the value that scales to 0), as biolearn's
'altumage_center' imputation does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiclock.clocks.model import PerSampleModel
from epiclock.errors import EpiclockError

BATCH_NORM_EPSILON = 1e-3
SCALE_EPSILON = 1e-8
LAYERS = 6
# SELU's constants (Klambauer et al. 2017), as torch.nn.functional.selu uses them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(values: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return SELU_SCALE * np.where(values > 0, values, SELU_ALPHA * np.expm1(np.minimum(values, 0.0)))


class AltumAgeModel(PerSampleModel):
    """AltumAge as a clock's model: ``predict_array`` maps samples x CpGs betas (in
    ``feature_names_in_`` order) to years; a row with an unmeasured CpG gets NaN."""

    transform = "neural_network"
    imputation_label = "AltumAge's scaling centres"

    def __init__(self, arrays: dict):
        # CpGs in ID order, as every clock reads them; the first layer's inputs follow.
        cpg_ids = np.asarray(arrays["cpg_ids"], dtype=object)
        order = np.argsort(cpg_ids, kind="stable")
        self.feature_names_in_ = cpg_ids[order]
        self.center = np.asarray(arrays["center"], dtype=float)[order]
        self.scale = np.asarray(arrays["scale"], dtype=float)[order]
        self.layers = []
        for layer in range(1, LAYERS + 1):
            norm = {part: np.asarray(arrays[f"bn{layer}_{part}"], dtype=float)
                    for part in ("weight", "bias", "running_mean", "running_var")}
            weight = np.asarray(arrays[f"linear{layer}_weight"], dtype=float)
            if layer == 1:
                norm = {part: values[order] for part, values in norm.items()}
                weight = weight[:, order]
            # Batch normalisation in inference mode: (x - mean) * gain + bias.
            gain = norm["weight"] / np.sqrt(norm["running_var"] + BATCH_NORM_EPSILON)
            self.layers.append((norm["running_mean"], gain, norm["bias"], np.ascontiguousarray(weight.T),
                                np.asarray(arrays[f"linear{layer}_bias"], dtype=float)))
        self.imputation_reference = pd.Series(self.center, index=self.feature_names_in_)
        # The scaling and the first batch normalisation are affine per CpG, so they fold into the first
        # linear layer: one matrix product on the betas (the same arithmetic to float64 rounding).
        mean, gain, bias, weight, linear_bias = self.layers[0]
        per_cpg = gain / (self.scale + SCALE_EPSILON)
        offset = bias - (self.center / (self.scale + SCALE_EPSILON) + mean) * gain
        # Held as units x CpGs: OpenBLAS computes the product as (weights x CpGs) @ (CpGs x samples)
        # about 1.4 times as fast as samples x CpGs @ CpGs x units, for a few hundred samples or more.
        self._first_weight_by_unit = np.ascontiguousarray((weight * per_cpg[:, None]).T)
        self._first_bias = offset @ weight + linear_bias

    def _predict_complete(self, values: np.ndarray) -> np.ndarray:
        hidden = selu((self._first_weight_by_unit @ values.T).T + self._first_bias)
        for number, (mean, gain, bias, weight, linear_bias) in enumerate(self.layers[1:], start=2):
            hidden = ((hidden - mean) * gain + bias) @ weight + linear_bias
            if number < LAYERS:
                hidden = selu(hidden)
        return hidden[:, 0]


def load(path) -> AltumAgeModel:
    """AltumAge from its .npz (cpg_ids, center, scale, and bn<i>_*, linear<i>_* of the six layers)."""
    names = ["cpg_ids", "center", "scale"] + [f"bn{layer}_{part}" for layer in range(1, LAYERS + 1)
                                            for part in ("weight", "bias", "running_mean", "running_var")]
    names += [f"linear{layer}_{part}" for layer in range(1, LAYERS + 1) for part in ("weight", "bias")]
    with path.open("rb") as handle, np.load(handle) as archive:
        absent = [name for name in names if name not in archive.files]
        if absent:
            raise EpiclockError(f"{path.name}: missing array(s) {', '.join(absent)}; re-run tools/vendor_nonlinear_clocks.py")
        arrays = {name: archive[name] for name in names}
    if arrays["linear1_weight"].shape[1] != len(arrays["cpg_ids"]):
        raise EpiclockError(f"{path.name}: the first layer's inputs and the CpG IDs disagree in size")
    return AltumAgeModel(arrays)
