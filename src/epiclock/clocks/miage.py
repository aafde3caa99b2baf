"""MiAge (Youn & Wang 2018): a sample's mitotic age is the number of cell divisions n whose curves
best fit its betas.

Each of the 268 CpGs follows beta_i(n) = c_i + d_i * b_i ** (n - 1) with the sample's number of
divisions n; the mitotic age minimises the squared error sum_i (beta_i(n) - beta_i) ** 2 over
n in [MIN_DIVISIONS, MAX_DIVISIONS] (the bounds biolearn 0.9.1 searches). biolearn runs scipy's
bounded Brent search sample by sample; here all samples are solved at once: the objective on a
fixed grid of n (one matrix product) brackets each sample's best grid point, and a safeguarded
Newton iteration on the objective's derivative, started at the vertex of the parabola through the
best grid point and its neighbours (bisection where Newton would leave the bracket), converges to
the minimum inside it, to about 1e-12 of n (in three or four steps, measured on random betas and on
betas drawn around its curves). The answer is never worse than the best grid point, so a second
local minimum cannot win over a better one the grid saw.

Each sample is solved on its own row (row-wise sums), so its value does not depend on the batch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiclock.clocks.model import PerSampleModel
from epiclock.errors import EpiclockError

MIN_DIVISIONS, MAX_DIVISIONS = 10.0, 10_000.0
# Geometric grid: neighbouring points 2.8% apart, finer than any bend of the objective in n.
GRID_POINTS = 256
# Newton steps stop below this relative change of n; the bracket halves at worst, so 200 steps
# always reach it.
RELATIVE_TOLERANCE = 1e-13
MAX_ITERATIONS = 200


class MiAgeModel(PerSampleModel):
    """The MiAge fit as a clock's model: ``predict_array`` maps samples x CpGs betas (in
    ``feature_names_in_`` order) to divisions; a row with an unmeasured CpG gets NaN."""

    transform = "miage"

    def __init__(self, parameters: pd.DataFrame):
        """parameters: b, c, d per CpG (index: CpG IDs)."""
        self.feature_names_in_ = np.asarray(parameters.index, dtype=object)
        self.b = parameters["b"].to_numpy(dtype=float)
        self.c = parameters["c"].to_numpy(dtype=float)
        self.d = parameters["d"].to_numpy(dtype=float)
        self.log_b = np.log(self.b)
        self._d_log_b = self.d * self.log_b
        self.grid = np.geomspace(MIN_DIVISIONS, MAX_DIVISIONS, GRID_POINTS)
        # The curves' moving part d * b ** (n - 1) at every grid point (CpGs x grid).
        self._grid_curves = self.d[:, None] * np.exp(self.log_b[:, None] * (self.grid[None, :] - 1.0))
        self._grid_curves_by_point = np.ascontiguousarray(self._grid_curves.T)

    def objective(self, values: np.ndarray, divisions: np.ndarray) -> np.ndarray:
        """sum_i (c_i + d_i b_i ** (n - 1) - beta_i) ** 2 per sample (row of ``values``) at its ``divisions``."""
        curves = self.c + self.d * np.exp(self.log_b * (np.asarray(divisions, dtype=float)[:, None] - 1.0))
        return np.add.reduce((curves - values) ** 2, axis=1)

    def _predict_complete(self, values: np.ndarray) -> np.ndarray:
        offset = self.c[None, :] - values                       # c_i - beta_i
        # Objective on the grid, expanded: sum (c - beta)^2 + 2 (c - beta) . curve + sum curve^2.
        on_grid = (np.add.reduce(offset ** 2, axis=1)[:, None] + 2.0 * offset @ self._grid_curves
                   + np.add.reduce(self._grid_curves ** 2, axis=0)[None, :])
        best = np.argmin(on_grid, axis=1)
        last = len(self.grid) - 1
        low = self.grid[np.maximum(best - 1, 0)]
        high = self.grid[np.minimum(best + 1, last)]
        # Newton starts at the vertex of the parabola through the best grid point and its neighbours
        # (the grid is even in log n), about 1e-4 of n from the minimum rather than the grid's 1e-2.
        inner = np.clip(best, 1, last - 1)
        rows = np.arange(len(values))
        before, centre, after = (on_grid[rows, inner - 1], on_grid[rows, inner], on_grid[rows, inner + 1])
        with np.errstate(divide="ignore", invalid="ignore"):
            vertex = 0.5 * (before - after) / (before - 2.0 * centre + after)
        vertex = np.where((best == inner) & (np.abs(vertex) <= 0.5), vertex, 0.0)
        divisions = np.clip(self.grid[best] * (self.grid[1] / self.grid[0]) ** vertex, low, high)
        active = np.arange(len(values))
        for _ in range(MAX_ITERATIONS):
            n = divisions[active]
            powers = np.exp(self.log_b * (n[:, None] - 1.0))       # b ** (n - 1)
            # fitted - observed, and d fitted / dn (in place: the same arithmetic, fewer temporaries)
            residual = (offset if len(active) == len(offset) else offset[active]) + self.d * powers
            slope = np.multiply(self._d_log_b, powers, out=powers)
            product = residual * slope
            gradient = np.add.reduce(product, axis=1)               # half the objective's derivative
            second = np.add(np.square(slope, out=slope), np.multiply(product, self.log_b, out=product), out=slope)
            curvature = np.add.reduce(second, axis=1)
            # The minimum lies where the derivative changes sign: shrink the bracket to that side.
            rising = gradient > 0
            high[active] = np.where(rising, n, high[active])
            low[active] = np.where(rising, low[active], n)
            with np.errstate(divide="ignore", invalid="ignore"):
                newton = n - gradient / curvature
            # Within the bracket, its ends included: a converged step (newton == n, which is one of
            # the ends by now) is taken, not replaced by a bisection that starts the search over.
            inside = (curvature > 0) & (newton >= low[active]) & (newton <= high[active])
            following = np.where(inside, newton, 0.5 * (low[active] + high[active]))
            # A bracket closed onto a bound (the minimum at MIN_DIVISIONS or MAX_DIVISIONS) stays there.
            following = np.where(low[active] == high[active], low[active], following)
            done = np.abs(following - n) <= RELATIVE_TOLERANCE * n
            divisions[active] = following
            active = active[~done]
            if not len(active):
                break
        # Never worse than the best grid point (its objective as ``objective`` computes it, from the
        # curves already computed there).
        on_best = np.add.reduce((self.c + self._grid_curves_by_point[best] - values) ** 2, axis=1)
        return np.where(on_best < self.objective(values, divisions), self.grid[best], divisions)


PARAMETERS = ["b", "c", "d"]


def load(path) -> MiAgeModel:
    """The MiAge model from its parameter table (TSV: cpg_id, b, c, d), CpGs in ID order."""
    with path.open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, sep="\t", dtype={"cpg_id": str})
    if list(table.columns) != ["cpg_id", *PARAMETERS] or not table["cpg_id"].is_unique or table[PARAMETERS].isna().any().any():
        raise EpiclockError(f"{path.name}: expected columns cpg_id, b, c, d with unique CpG IDs and every value present")
    return MiAgeModel(table.set_index("cpg_id").sort_index())
