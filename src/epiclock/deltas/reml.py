"""Restricted maximum likelihood for a linear model with independent variance components.

    y = X beta + sum_k Z_k u_k + e,   u_k ~ N(0, sigma^2 gamma_k I),   e ~ N(0, sigma^2 I)

The residual variance sigma^2 is profiled out, and the REML log-likelihood (Patterson & Thompson
1971; the profiled form as in lme4, Bates et al. 2015, J Stat Softw 67(1)) is maximised over the
variance ratios gamma_k = theta_k^2 >= 0 (gamma_k itself for a component allowed below zero) with
L-BFGS-B and its analytic gradient

    d l / d gamma_k = -1/2 [ tr(P Z_k Z_k') - (n - p) (y'P Z_k Z_k' P y) / (y'P y) ],
    P = H^-1 - H^-1 X (X'H^-1 X)^-1 X'H^-1,   H = I + sum_k gamma_k Z_k Z_k'.

Studies here have at most a few hundred samples, so dense Cholesky factors are the simple and
fast choice (about a millisecond per evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize

START_RATIO = 1.0
# A variance below this share of the residual variance is at the boundary (estimated at zero).
BOUNDARY_RATIO = 1e-6


@dataclass(frozen=True)
class RemlFit:
    fixed: np.ndarray            # beta
    fixed_covariance: np.ndarray  # sigma^2 (X' H^-1 X)^-1
    residual_variance: float     # sigma^2
    variances: np.ndarray        # sigma^2 gamma_k, one per component
    log_likelihood: float        # REML, up to a constant
    converged: bool
    message: str
    X: np.ndarray
    components: list[np.ndarray]

    def contrast_inference(self, vector: np.ndarray) -> tuple[float, float, str]:
        """Standard error and degrees of freedom of ``vector @ beta``, and which method gave them.

        Kenward-Roger: the covariance of beta is inflated for the uncertainty of the estimated
        variances, and the Wald statistic is scaled and referred to a t distribution whose degrees
        of freedom come from matching moments (Kenward & Roger 1997, Biometrics 53:983; for one
        contrast and a covariance linear in its variances, as pbkrtest computes it, Halekoh &
        Hojsgaard 2014, J Stat Softw 59(9)); the CI is the estimate +- the t quantile times the
        returned error. Kenward and Roger's adjustment assumes variances above zero; when one was
        estimated below zero (a component fitted without the bound), the unadjusted error with
        Satterthwaite's degrees of freedom 2 phi^2 / (g' W g) is returned instead (Giesbrecht &
        Burns 1985, Biometrics 41:477). Components at zero (the boundary) count as known zeros.
        """
        n = self.X.shape[0]
        kept = [(component, variance) for component, variance in zip(self.components, self.variances)
                if abs(variance) > BOUNDARY_RATIO * self.residual_variance]
        factors = [np.eye(n), *(component for component, _ in kept)]      # G_i = F_i F_i'
        V = self.residual_variance * np.eye(n)
        for component, variance in kept:
            V += variance * (component @ component.T)
        L = linalg.cholesky(V, lower=True, check_finite=False)
        Vinv_X = linalg.cho_solve((L, True), self.X, check_finite=False)
        Phi = linalg.inv(self.X.T @ Vinv_X)
        Vinv = linalg.cho_solve((L, True), np.eye(n), check_finite=False)
        projection = Vinv - Vinv_X @ Phi @ Vinv_X.T
        k = len(factors)
        information = np.empty((k, k))
        projected = [projection @ factor for factor in factors]
        for i in range(k):
            for j in range(i, k):
                information[i, j] = information[j, i] = 0.5 * np.sum((factors[i].T @ projected[j]) ** 2)
        W = linalg.pinv(information)
        phi = float(vector @ Phi @ vector)
        a = Vinv_X @ (Phi @ vector)
        gradient = np.array([np.sum((factor.T @ a) ** 2) for factor in factors])
        spread = float(gradient @ W @ gradient)
        satterthwaite = (float(np.sqrt(phi)), 2 * phi ** 2 / spread if spread > 0 else np.inf, "Satterthwaite")
        if any(variance < 0 for _, variance in kept):
            return satterthwaite
        G_Vinv_X = [factor @ (factor.T @ Vinv_X) for factor in factors]       # G_i V^-1 X
        P = [-(Vinv_X.T @ product) for product in G_Vinv_X]                  # d(X'V^-1 X)/d psi_i
        correction = np.zeros_like(Phi)
        for i in range(k):
            for j in range(k):
                Q = G_Vinv_X[i].T @ Vinv @ G_Vinv_X[j]
                correction += W[i, j] * (Q - P[i] @ Phi @ P[j])
        adjusted = float(vector @ (Phi + 2 * Phi @ correction @ Phi) @ vector)
        Theta = np.outer(vector, vector) / phi
        M = [Theta @ Phi @ P_i @ Phi for P_i in P]
        traces = np.array([np.trace(matrix) for matrix in M])
        A1 = float(traces @ W @ traces)
        A2 = float(sum(W[i, j] * np.trace(M[i] @ M[j]) for i in range(k) for j in range(k)))
        if not (0 < A2 < 1) or adjusted <= 0:
            return satterthwaite
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            B = np.float64(A1 + 6 * A2) / 2
            g = np.float64(2 * A1 - 5 * A2) / (3 * A2)
            denominator = 3 + 2 * (1 - g)
            c1, c2, c3 = g / denominator, (1 - g) / denominator, (3 - g) / denominator
            expectation = 1 / (1 - np.float64(A2))
            variance = 2 * (1 + c1 * B) / ((1 - c2 * B) ** 2 * (1 - c3 * B))
            rho = variance / (2 * expectation ** 2)
            df = 4 + 3 / (rho - 1)
            scale = df / (expectation * (df - 2))
        # The moment matching has no solution in degenerate cases (a denominator at zero): Satterthwaite.
        if not (np.isfinite(df) and df > 2 and np.isfinite(scale) and scale > 0):
            return satterthwaite
        return float(np.sqrt(adjusted / scale)), float(df), "Kenward-Roger"


def _evaluate(x: np.ndarray, y: np.ndarray, X: np.ndarray, Z: np.ndarray, columns: list[slice],
              grams: list[np.ndarray], unbounded: np.ndarray, gradient: bool = True):
    """REML log-likelihood (and its gradient) at parameters x: gamma_k = x_k^2, or x_k where unbounded."""
    n, p = X.shape
    gammas = np.where(unbounded, x, x ** 2)
    H = np.eye(n)
    for gram, gamma in zip(grams, gammas):
        H += gamma * gram
    L = linalg.cholesky(H, lower=True, check_finite=False)
    whitened = linalg.solve_triangular(L, np.column_stack([X, y]), lower=True, check_finite=False)
    Xt, yt = whitened[:, :p], whitened[:, p]
    information = Xt.T @ Xt
    Lx = linalg.cholesky(information, lower=True, check_finite=False)
    beta = linalg.cho_solve((Lx, True), Xt.T @ yt, check_finite=False)
    residual = yt - Xt @ beta
    rss = float(residual @ residual)
    dof = n - p
    log_lik = -0.5 * (2 * np.log(np.diag(L)).sum() + 2 * np.log(np.diag(Lx)).sum() + dof * np.log(rss / dof))
    if not gradient:
        return log_lik, beta, information, rss
    Py = linalg.solve_triangular(L, residual, lower=True, trans="T", check_finite=False)  # H^-1 (y - X beta)
    Zt = linalg.solve_triangular(L, Z, lower=True, check_finite=False)                     # L^-1 Z
    projected = linalg.solve_triangular(Lx, Xt.T @ Zt, lower=True, check_finite=False)
    traces_by_column = (Zt ** 2).sum(axis=0) - (projected ** 2).sum(axis=0)
    quadratic_by_column = (Z.T @ Py) ** 2
    grad_gamma = np.array([-0.5 * (traces_by_column[block].sum() - dof * quadratic_by_column[block].sum() / rss)
                           for block in columns])
    return log_lik, np.where(unbounded, grad_gamma, 2 * x * grad_gamma)


def fit(y: np.ndarray, X: np.ndarray, components: list[np.ndarray], may_be_negative: list[bool] | None = None
        ) -> RemlFit:
    """REML fit; ``components`` are the Z_k (n x q_k), each with its own variance.

    A component marked in ``may_be_negative`` is estimated without the zero bound (down to where the
    covariance stops being positive definite), as SAS PROC MIXED's NOBOUND does: in a balanced design
    its estimate is then the ANOVA one and the test of a contrast along it is the exact paired test,
    instead of switching to the replicates whenever the estimate would fall below zero.
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    components = [np.asarray(component, dtype=float) for component in components]
    unbounded = np.array(may_be_negative if may_be_negative is not None else [False] * len(components), dtype=bool)
    Z = np.hstack(components) if components else np.zeros((n, 0))
    edges = np.cumsum([0] + [component.shape[1] for component in components])
    columns = [slice(int(low), int(high)) for low, high in zip(edges[:-1], edges[1:])]
    grams = [component @ component.T for component in components]
    bounds = []
    for component, free in zip(components, unbounded):
        # I + gamma Z Z' stays positive definite while gamma > -1 / (largest eigenvalue of Z'Z).
        largest = float(np.linalg.eigvalsh(component.T @ component)[-1]) if free else 0.0
        bounds.append((-(1 - 1e-3) / largest, None) if free else (0.0, None))
    x = np.where(unbounded, START_RATIO, np.sqrt(START_RATIO))
    converged, message = True, ""
    if components:
        def objective(values):
            value, grad = _evaluate(values, y, X, Z, columns, grams, unbounded)
            return -value, -grad
        result = optimize.minimize(objective, x, jac=True, method="L-BFGS-B", bounds=bounds,
                                   options={"maxiter": 500})
        x = result.x
        converged, message = bool(result.success), str(result.message)
    log_lik, beta, information, rss = _evaluate(x, y, X, Z, columns, grams, unbounded, gradient=False)
    residual_variance = rss / (n - p)
    return RemlFit(fixed=beta, fixed_covariance=residual_variance * linalg.inv(information),
                   residual_variance=residual_variance, variances=residual_variance * np.where(unbounded, x, x ** 2),
                   log_likelihood=float(log_lik), converged=converged, message=message, X=X,
                   components=components)
