"""Cell-type fractions of each sample from reference methylation profiles.

Two methods, both on the reference's CpGs only, each sample fitted on its own data (no statistic is
shared between samples):

- ``rpc``: EpiDISH's robust partial correlations (Teschendorff et al., BMC Bioinformatics 18:105,
  2017; EpiDISH ``DoRPC``). The sample's betas are regressed on the reference profiles plus an
  intercept by Huber M-estimation (as ``MASS::rlm`` with its defaults: least-squares start, Huber
  psi with k = 1.345, scale re-estimated each step as median(|residual|) / 0.6745, convergence when
  the residuals change by at most 1e-4 relative to their norm; EpiDISH allows 50 iterations).
  Negative coefficients are set to 0 and the rest scaled to sum to 1.
- ``cp``: Houseman's constrained projection (Houseman et al., BMC Bioinformatics 13:86, 2012;
  EpiDISH ``DoCP`` with its default 'inequality' constraint): least squares without intercept,
  fractions >= 0 and summing to at most 1, solved exactly by a primal active-set method.

The robust regression runs for all samples at once (iteratively reweighted least squares, one
batched normal-equation solve per iteration, samples leaving the loop as they converge), which is
what makes 10,000 samples take about a second rather than a minute.

What the batch can change is rounding, not the fit: the products over CpGs are BLAS matrix products
over the whole block, which sum in an order set by the block's shape, and a block where some sample
misses CpGs takes the masked path for all. So the same sample in another batch gets the same
fractions to about 1e-13, not bitwise (tests/test_composition.py allows 1e-10 across batch shapes).
A larger difference would take a sample whose convergence criterion falls within rounding of the
tolerance, so that two batches stop it one iteration apart; that difference is within the fit's own
tolerance (RLM_TOLERANCE). Summing each sample on its own, as clocks.model.segment_dots does, would
make it bitwise but costs several times the time with the 12-cell reference's 169 Gram entries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from epiclock.errors import EpiclockError

METHODS = ("rpc", "cp")
HUBER_K = 1.345  # MASS::psi.huber default
MAD_CONSTANT = 0.6745  # MASS::rlm's scale: median(|r|) / 0.6745
RLM_TOLERANCE = 1e-4  # MASS::rlm acc
RPC_MAX_ITERATIONS = 50  # EpiDISH's maxit (MASS::rlm's own default is 20)
BLOCK_SAMPLES = 1024  # samples per IRLS block: its arrays stay in cache
MIN_COVERAGE = 0.8  # a sample measuring fewer of the reference's CpGs gets no fractions


def _solve(gram: np.ndarray, moment: np.ndarray) -> np.ndarray:
    return np.linalg.solve(gram, moment[:, :, None])[:, :, 0]


def _median(absolute: np.ndarray, measured: np.ndarray | None) -> np.ndarray:
    """Row medians of ``absolute`` over the measured entries; selects in place (pass a scratch array)."""
    if measured is not None:
        return np.nanmedian(np.where(measured, absolute, np.nan), axis=1)
    n = absolute.shape[1]
    lower = (n - 1) // 2
    # One kth: numpy's vectorised selection handles a single kth several times faster than two;
    # for even n the upper middle value is then the smallest of the part above it.
    absolute.partition(lower, axis=1)
    upper = absolute[:, lower] if n % 2 else absolute[:, lower + 1:].min(axis=1)
    return 0.5 * (absolute[:, lower] + upper)


def _rlm_block(values: np.ndarray, design: np.ndarray, outer: np.ndarray, max_iterations: int,
               measured: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """IRLS for a block of samples. The working arrays hold only the samples still iterating
    (compacted when some stop); the change of the residuals, X (new - old coefficients) on the
    measured CpGs, is measured through the Gram matrix instead of a pass over the CpGs."""
    n_samples, p = values.shape[0], design.shape[1]
    mask = None if measured is None else measured.astype(float)
    response = values if measured is None else np.where(measured, values, 0.0)
    if mask is None:
        plain_gram = np.broadcast_to(design.T @ design, (n_samples, p, p))
    else:
        plain_gram = (mask @ outer).reshape(-1, p, p)
    coefficients = _solve(plain_gram, response @ design)  # least-squares start, as MASS::rlm
    result = coefficients.copy()
    converged = np.zeros(n_samples, dtype=bool)
    index = np.arange(n_samples)
    scratch = np.empty_like(response)
    for _ in range(max_iterations):
        residuals = response - coefficients @ design.T
        if mask is not None:
            residuals *= mask
        np.abs(residuals, out=scratch)
        scale = _median(scratch, measured) / MAD_CONSTANT
        stopping = scale == 0  # MASS::rlm stops when the fit is exact
        if stopping.any():
            converged[index[stopping]] = True
            going = ~stopping
            index, response, coefficients, plain_gram = (index[going], response[going], coefficients[going],
                                                         plain_gram[going])
            residuals, scale, scratch = residuals[going], scale[going], scratch[: going.sum()]
            if mask is not None:
                mask, measured = mask[going], measured[going]
            if index.size == 0:
                break
        np.abs(residuals, out=scratch)
        with np.errstate(divide="ignore"):
            np.divide((HUBER_K * scale)[:, None], scratch, out=scratch)
        np.minimum(scratch, 1.0, out=scratch)  # psi.huber(r / scale) = min(1, k scale / |r|)
        if mask is not None:
            scratch *= mask
        gram = (scratch @ outer).reshape(-1, p, p)
        scratch *= response
        new = _solve(gram, scratch @ design)
        step = new - coefficients
        change = np.einsum("si,sij,sj->s", step, plain_gram, step)
        size = np.einsum("ij,ij->i", residuals, residuals)
        coefficients = new
        result[index] = new
        done = np.sqrt(change / np.maximum(1e-20, size)) <= RLM_TOLERANCE
        converged[index[done]] = True
        if done.all():
            break
        if done.any():
            going = ~done
            index, response, coefficients, plain_gram = (index[going], response[going], coefficients[going],
                                                         plain_gram[going])
            scratch = scratch[: going.sum()]
            if mask is not None:
                mask, measured = mask[going], measured[going]
    return result, converged


def rlm_coefficients(values: np.ndarray, design: np.ndarray, max_iterations: int = RPC_MAX_ITERATIONS,
                     measured: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Huber M-estimates (MASS::rlm defaults) of ``values`` (samples x CpGs) on ``design`` (CpGs x p).

    ``measured`` (samples x CpGs, bool) marks the CpGs each sample measured; the others get weight 0.
    Returns the coefficients (samples x p) and whether each sample converged. Samples go through in
    blocks small enough to stay in cache.
    """
    outer = np.einsum("ni,nj->nij", design, design).reshape(design.shape[0], -1)
    coefficients = np.empty((values.shape[0], design.shape[1]))
    converged = np.empty(values.shape[0], dtype=bool)
    for start in range(0, values.shape[0], BLOCK_SAMPLES):
        block = slice(start, start + BLOCK_SAMPLES)
        coefficients[block], converged[block] = _rlm_block(
            values[block], design, outer, max_iterations, None if measured is None else measured[block])
    return coefficients, converged


def rpc(values: np.ndarray, reference: np.ndarray, measured: np.ndarray | None = None,
        max_iterations: int = RPC_MAX_ITERATIONS) -> np.ndarray:
    """EpiDISH RPC fractions (samples x cell types) of ``values`` (samples x CpGs) on ``reference``
    (CpGs x cell types): robust regression with intercept, negatives to 0, rescaled to sum 1."""
    design = np.column_stack([np.ones(reference.shape[0]), reference])
    coefficients, _ = rlm_coefficients(values, design, max_iterations, measured)
    fractions = np.clip(coefficients[:, 1:], 0.0, None)
    total = fractions.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, fractions / total, np.nan)


def _active_set_qp(gram: np.ndarray, linear: np.ndarray, max_iterations: int = 200) -> np.ndarray:
    """argmin 1/2 x'Gx - linear'x subject to x >= 0 and sum(x) <= 1 (primal active set, Nocedal &
    Wright, Numerical Optimization, algorithm 16.3), started from the feasible point x = 0."""
    k = gram.shape[0]
    constraints = np.vstack([np.eye(k), -np.ones((1, k))])  # rows a_i with a_i'x >= b_i
    bounds = np.concatenate([np.zeros(k), [-1.0]])
    x = np.zeros(k)
    working = list(range(k))
    tolerance = 1e-12 * max(1.0, np.abs(gram).max())
    for _ in range(max_iterations):
        gradient = gram @ x - linear
        active = constraints[working]
        m = len(working)
        kkt = np.zeros((k + m, k + m))
        kkt[:k, :k] = gram
        kkt[:k, k:] = -active.T
        kkt[k:, :k] = active
        solution = np.linalg.solve(kkt, np.concatenate([-gradient, np.zeros(m)]))
        step, multipliers = solution[:k], solution[k:]
        if np.abs(step).max() <= 1e-12 * max(1.0, np.abs(x).max()):
            if m == 0 or multipliers.min() >= -tolerance:
                x[[i for i in working if i < k]] = 0.0  # active bounds exactly, not -1e-17
                return x
            working.pop(int(np.argmin(multipliers)))
            continue
        length, blocking = 1.0, None
        slopes = constraints @ step
        for i in range(k + 1):
            if i in working or slopes[i] >= 0:
                continue
            limit = (bounds[i] - constraints[i] @ x) / slopes[i]
            if limit < length:
                length, blocking = max(limit, 0.0), i
        x = x + length * step
        if blocking is not None:
            working.append(blocking)
    raise EpiclockError("constrained projection did not converge; report this with the input matrix")


def houseman_cp(values: np.ndarray, reference: np.ndarray, measured: np.ndarray | None = None) -> np.ndarray:
    """Houseman constrained-projection fractions (samples x cell types): least squares on the
    reference without intercept, fractions >= 0 with sum <= 1 (EpiDISH ``DoCP``, 'inequality')."""
    n_samples, k = values.shape[0], reference.shape[1]
    fractions = np.empty((n_samples, k))
    if measured is None:
        gram = reference.T @ reference
        linear = values @ reference
        unconstrained = np.linalg.solve(gram, linear.T).T
        feasible = (unconstrained >= 0).all(axis=1) & (unconstrained.sum(axis=1) <= 1)
        fractions[feasible] = unconstrained[feasible]
        for sample in np.flatnonzero(~feasible):
            fractions[sample] = _active_set_qp(gram, linear[sample])
        return fractions
    for sample in range(n_samples):
        rows = measured[sample]
        sub = reference[rows]
        fractions[sample] = _active_set_qp(sub.T @ sub, values[sample, rows] @ sub)
    return fractions


def estimate(betas: pd.DataFrame, reference: pd.DataFrame, method: str = "rpc",
             min_coverage: float = MIN_COVERAGE) -> tuple[pd.DataFrame, pd.Series]:
    """Fractions (samples x cell types) of the samples in ``betas`` (CpGs x samples) on ``reference``
    (CpGs x cell types), and the number of reference CpGs each sample measured.

    A reference CpG the matrix lacks is left out for every sample (as EpiDISH does); a CpG a sample
    did not measure is left out for that sample. A sample measuring fewer than ``min_coverage`` of
    the reference's CpGs gets missing fractions.
    """
    if method not in METHODS:
        raise EpiclockError(f"unknown composition method {method!r}; choose one of {', '.join(METHODS)}")
    present = reference.index[reference.index.isin(betas.index)]
    values = betas.loc[present].to_numpy(dtype=float).T
    profile = reference.loc[present].to_numpy(dtype=float)
    measured_matrix = ~np.isnan(values)
    n_measured = measured_matrix.sum(axis=1)
    usable = n_measured >= min_coverage * len(reference.index)
    fractions = np.full((values.shape[0], profile.shape[1]), np.nan)
    if usable.any():
        chosen = values[usable]
        measured = None if measured_matrix[usable].all() else measured_matrix[usable]
        solver = rpc if method == "rpc" else houseman_cp
        fractions[usable] = solver(chosen, profile, measured=measured)
    table = pd.DataFrame(fractions, index=betas.columns, columns=reference.columns)
    return table, pd.Series(n_measured, index=betas.columns, name="n_cpgs")
