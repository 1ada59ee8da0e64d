r"""The RC-logit GMM problem on all markets: objective, analytic gradient, one- and two-step estimation.

:class:`BLPProblem` holds the data (padded by market, :class:`course_lib.rc_logit.MarketLayout`),
computes :math:`\delta(\sigma)` with :func:`course_lib.rc_logit.contract_markets`, the objective,
its gradient and robust covariances (formulas in the package docstring, :mod:`course_lib.gmm`),
and estimates with :func:`course_lib.optimize.lbfgsb_newton`. :func:`motorcycle_problem` builds
the course's default problem.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .._checks import check_finite, check_method, check_shares
from ..optimize import GTOL, NEWTON_STEPS, fd_hessian, lbfgsb_newton
from ..rc_logit import (
    MarketLayout,
    MarketsInversionResult,
    contract_markets,
    padded_mu,
    padded_probabilities,
)
from .results import Evaluation, GMMResults
from .specification import EXCLUDED_NAMES, X1_NAMES, X2_NAMES

__all__ = ["BLPProblem", "motorcycle_problem"]


def _columns(frame: pd.DataFrame, names, what: str) -> np.ndarray:
    """Columns of ``frame`` as a float matrix; ``"1"`` is a constant."""
    missing = [n for n in names if n != "1" and n not in frame]
    if missing:
        raise ValueError(f"{what}: the data have no column(s) {missing}.")
    out = np.column_stack([np.ones(len(frame)) if n == "1" else frame[n].to_numpy(dtype=float) for n in names])
    check_finite(out, what)
    return out


class BLPProblem:
    r"""The RC-logit GMM problem on all markets, built from pyBLP-style data frames.

    Parameters
    ----------
    products : DataFrame
        ``market_ids``, ``shares`` and the columns named in ``x1``, ``x2`` and ``excluded``.
    agents : DataFrame
        ``market_ids``, ``weights`` (summing to one in each market) and ``nodes0..`` (one per
        column of ``x2``: the standard-normal draws of that random coefficient).
    x1 : sequence of str
        Linear characteristics; ``"1"`` is the constant. Default: pyBLP's order for the
        motorcycle data, ``1, prices, EngineSize, SportsBike, Brand2, Brand3``.
    x2 : sequence of str
        Characteristics with random coefficients (``prices, EngineSize``).
    excluded : sequence of str
        Excluded instruments (the cost shifters ``demand_instruments0..3``).
    endogenous : sequence of str
        Columns of ``x1`` that are not instruments for themselves (``prices``).

    Notes
    -----
    ``Z = [exogenous columns of X1, excluded]``. pyBLP orders its ``ZD`` the other way
    round (excluded first); the objective, estimates and standard errors do not depend on
    the order of the instruments, only the rows and columns of W are permuted.
    """

    def __init__(self, products: pd.DataFrame, agents: pd.DataFrame, x1=X1_NAMES, x2=X2_NAMES,
                 excluded=EXCLUDED_NAMES, endogenous=("prices",)):
        if not isinstance(products, pd.DataFrame) or not isinstance(agents, pd.DataFrame):
            raise ValueError("products and agents must be pandas DataFrames.")
        for frame, what, needed in ((products, "products", ("market_ids", "shares")),
                                    (agents, "agents", ("market_ids", "weights"))):
            missing = [c for c in needed if c not in frame]
            if missing:
                raise ValueError(f"{what} lacks the column(s) {missing}.")
        self.x1_names, self.x2_names, self.excluded_names = tuple(x1), tuple(x2), tuple(excluded)
        if not set(endogenous) <= set(self.x1_names):
            raise ValueError(f"endogenous {list(endogenous)} must be columns of x1 {list(self.x1_names)}.")
        self.exogenous_names = tuple(n for n in self.x1_names if n not in set(endogenous))
        self.z_names = self.exogenous_names + self.excluded_names
        self.market_ids = products["market_ids"].to_numpy()
        self.shares = products["shares"].to_numpy(dtype=float)
        check_shares(self.shares, self.market_ids)
        self.X1 = _columns(products, self.x1_names, "X1")
        self.X2 = _columns(products, self.x2_names, "X2")
        self.Z = _columns(products, self.z_names, "Z")
        node_names = [f"nodes{k}" for k in range(len(self.x2_names))]
        self.nodes = _columns(agents, node_names, "agent nodes")
        self.agent_market_ids = agents["market_ids"].to_numpy()
        self.weights = agents["weights"].to_numpy(dtype=float)
        check_finite(self.weights, "weights")
        if (self.weights < 0).any():
            raise ValueError("Agent weights must be non-negative.")
        self.N, self.K1 = self.X1.shape
        self.K2 = self.X2.shape[1]
        self.L = self.Z.shape[1]
        if self.L < self.K1 + self.K2:
            raise ValueError(f"{self.L} instruments for {self.K1 + self.K2} parameters: not identified.")
        if np.linalg.matrix_rank(self.Z) < self.L:
            raise ValueError("The instruments Z are collinear (Z'Z is singular).")
        self.layout = MarketLayout.build(self.market_ids, self.agent_market_ids)
        totals = np.bincount(self.layout.agent_market, weights=self.weights, minlength=self.layout.T)
        if not np.allclose(totals, 1.0):
            t = int(np.flatnonzero(~np.isclose(totals, 1.0))[0])
            raise ValueError(f"Agent weights in market {self.layout.market_ids[t]!r} sum to {totals[t]:.6g}, not one.")
        # Padded (T, J, .) / (T, I, .) arrays for the all-markets computations.
        self._X2p = self.layout.pad_products(self.X2)
        self._nodesp = self.layout.pad_agents(self.nodes)
        self._wp = self.layout.pad_agents(self.weights)
        self._log_sp = self.layout.pad_products(np.log(self.shares))
        market_totals = np.bincount(self.layout.product_market, weights=self.shares)
        # pyBLP's starting values: the logit delta log s_j - log(1 - sum_k s_k).
        self.logit_delta = np.log(self.shares) - np.log(1 - market_totals)[self.layout.product_market]

    # ----------------------------------------------------------------------------- checks
    def _check_sigma(self, sigma) -> np.ndarray:
        sigma = np.asarray(sigma, dtype=float).ravel()
        if sigma.shape != (self.K2,):
            raise ValueError(f"sigma must have {self.K2} entries ({', '.join(self.x2_names)}); got {sigma.shape[0]}.")
        check_finite(sigma, "sigma")
        if (sigma < 0).any():
            raise ValueError(f"sigma must be non-negative (standard deviations); got {sigma.tolist()}.")
        return sigma

    def _check_W(self, W) -> np.ndarray:
        if W is None:
            return self.initial_weights()
        W = np.asarray(W, dtype=float)
        if W.shape != (self.L, self.L):
            raise ValueError(f"W must be {self.L} x {self.L} (one row per instrument); got shape {W.shape}.")
        check_finite(W, "W")
        if not np.allclose(W, W.T, rtol=1e-10, atol=1e-12 * np.abs(W).max()):
            raise ValueError("W must be symmetric.")
        if np.linalg.eigvalsh(W).min() < -1e-10 * np.abs(W).max():
            raise ValueError("W must be positive semi-definite.")
        return W

    # ----------------------------------------------------------------------------- pieces
    def initial_weights(self) -> np.ndarray:
        r"""pyBLP's first-step weight :math:`W_1 = (Z'Z/N)^{-1}` (the 2SLS weight, scaled)."""
        return np.linalg.inv(self.Z.T @ self.Z / self.N)

    def solve_delta(self, sigma, delta0=None, tol: float = 1e-14, max_iterations: int = 10_000,
                    method: str = "squarem") -> MarketsInversionResult:
        r""":math:`\delta(\sigma)`: invert the shares of every market at once (SQUAREM by default).

        Parameters
        ----------
        sigma : array_like, shape (K2,)
        delta0 : array_like, shape (N,), optional
            Starting values; pyBLP's logit delta :math:`\log s_j - \log s_0` by default.
        tol, max_iterations, method
            As in :func:`course_lib.rc_logit.invert_shares_markets`.
        """
        import warnings

        sigma = self._check_sigma(sigma)
        check_method(method, ("squarem", "simple"))
        start = self.logit_delta if delta0 is None else np.asarray(delta0, dtype=float).ravel()
        if start.shape != (self.N,):
            raise ValueError(f"delta0 must have {self.N} entries; got {start.shape}.")
        mu = padded_mu(self._X2p, sigma, self._nodesp, self.layout.mask)
        deltap, iterations, residual = contract_markets(
            self.layout.pad_products(start), self._log_sp, mu, self._wp, self.layout.mask, method, tol, max_iterations
        )
        converged = np.isfinite(residual) & (residual < tol)
        if not converged.all():
            bad = np.flatnonzero(~converged)
            warnings.warn(
                f"The contraction did not converge in {len(bad)} market(s) at sigma={sigma.tolist()}, e.g. market "
                f"{self.layout.market_ids[bad[0]]!r} after {iterations[bad[0]]} iterations, residual "
                f"{residual[bad[0]]:.3e}.", RuntimeWarning, stacklevel=2,
            )
        return MarketsInversionResult(self.layout.unpad(deltap), iterations, converged, residual,
                                      self.layout.market_ids, method)

    def delta(self, sigma, delta0=None, tol: float = 1e-14) -> np.ndarray:
        r""":math:`\delta(\sigma)`, shape (N,); see :meth:`solve_delta`."""
        return self.solve_delta(sigma, delta0, tol).delta

    def delta_jacobian(self, sigma, delta) -> np.ndarray:
        r""":math:`\partial\delta/\partial\sigma'` by the implicit function theorem, shape (N, K2).

        In each market (all at once, padded)

        .. math::
            \frac{\partial \delta_t}{\partial \sigma'} =
            -\Big(\frac{\partial s_t}{\partial \delta_t'}\Big)^{-1} \frac{\partial s_t}{\partial \sigma'},

        .. math::
            \frac{\partial s_j}{\partial \delta_k} = \sum_i w_i \pi_{ij}(1\{j=k\} - \pi_{ik}),

        .. math::
            \frac{\partial s_j}{\partial \sigma_k} = \sum_i w_i \pi_{ij} \zeta_{ik}
            \Big(X_{2,jk} - \sum_l \pi_{il} X_{2,lk}\Big).
        """
        sigma = self._check_sigma(sigma)
        mask = self.layout.mask
        pi = padded_probabilities(self.layout.pad_products(delta), padded_mu(self._X2p, sigma, self._nodesp, mask))
        w = self._wp
        pw = pi * w[:, None, :]  # (T, J, I)
        ds_ddelta = -np.matmul(pw, np.swapaxes(pi, 1, 2))  # (T, J, J)
        diag = pw.sum(axis=2)
        diag = np.where(mask, diag, 1.0)  # padded products: identity rows, so their derivative is 0
        idx = np.arange(self.layout.J)
        ds_ddelta[:, idx, idx] += diag
        mean_x = np.matmul(np.swapaxes(pi, 1, 2), self._X2p)  # (T, I, K): sum_l pi_il X2_lk
        wz = w[:, :, None] * self._nodesp  # (T, I, K)
        ds_dsigma = self._X2p * np.matmul(pi, wz) - np.matmul(pi, wz * mean_x)  # (T, J, K)
        return self.layout.unpad(-np.linalg.solve(ds_ddelta, ds_dsigma))

    def beta_from_delta(self, delta, W=None) -> np.ndarray:
        r"""Linear IV-GMM :math:`\hat\beta = (X_1'Z W Z'X_1)^{-1} X_1'Z W Z'\delta`."""
        W = self._check_W(W)
        XZ = self.X1.T @ self.Z
        return np.linalg.solve(XZ @ W @ XZ.T, XZ @ W @ (self.Z.T @ delta))

    def beta(self, sigma, W=None) -> np.ndarray:
        r""":math:`\hat\beta(\sigma)` concentrated out for weight ``W`` (default :math:`W_1`)."""
        return self.beta_from_delta(self.delta(sigma), W)

    def xi(self, sigma, W=None) -> np.ndarray:
        r""":math:`\xi(\sigma) = \delta(\sigma) - X_1\hat\beta(\sigma)`."""
        delta = self.delta(sigma)
        return delta - self.X1 @ self.beta_from_delta(delta, W)

    def evaluate(self, sigma, W=None, gradient: bool = True, delta0=None, tol: float = 1e-14) -> Evaluation:
        r"""Objective (and gradient) at ``sigma`` for weight ``W`` (default :math:`W_1`).

        :math:`q = N \bar g' W \bar g` with :math:`\bar g = Z'\xi/N` (pyBLP's scaling);
        :math:`\nabla q = 2 N \bar G' W \bar g` with
        :math:`\bar G = Z' (\partial\delta/\partial\sigma')/N`.
        """
        sigma = self._check_sigma(sigma)
        W = self._check_W(W)
        inversion = self.solve_delta(sigma, delta0, tol)
        delta = inversion.delta
        beta = self.beta_from_delta(delta, W)
        xi = delta - self.X1 @ beta
        g = self.Z.T @ xi / self.N
        objective = float(self.N * g @ W @ g)
        jac = grad = None
        if gradient:
            jac = self.delta_jacobian(sigma, delta)
            G = self.Z.T @ jac / self.N
            grad = 2 * self.N * G.T @ W @ g
        return Evaluation(sigma, delta, beta, xi, g, objective, grad, jac, inversion)

    def objective(self, sigma, W=None) -> float:
        r"""The GMM objective :math:`N \bar g(\sigma)' W \bar g(\sigma)`."""
        return self.evaluate(sigma, W, gradient=False).objective

    def gradient(self, sigma, W=None) -> np.ndarray:
        r"""The analytic gradient :math:`2 N \bar G' W \bar g` (implicit function theorem)."""
        return self.evaluate(sigma, W).gradient

    def moment_covariances(self, xi, center: bool = True) -> np.ndarray:
        r""":math:`S = \frac1N \sum_j (g_j - \bar g)(g_j - \bar g)'`, :math:`g_j = Z_j\xi_j`
        (uncentred with ``center=False``); pyBLP's robust ``S``."""
        g = self.Z * np.asarray(xi, dtype=float)[:, None]
        if center:
            g = g - g.mean(axis=0)
        S = g.T @ g / self.N
        return (S + S.T) / 2

    def parameter_covariances(self, delta_jacobian, W, S) -> np.ndarray:
        r"""Robust :math:`\hat V` of :math:`(\sigma, \beta)`; see the package docstring."""
        G = self.Z.T @ np.column_stack([delta_jacobian, -self.X1]) / self.N
        bread = np.linalg.inv(G.T @ W @ G)
        V = bread @ G.T @ W @ S @ W @ G @ bread
        return (V + V.T) / 2

    # ----------------------------------------------------------------------------- estimation
    def _step(self, sigma0, W, delta0, step, gtol, ftol, maxiter, tol, hessian, newton_steps, previous_inner):
        start_time = time.perf_counter()
        inner = 0

        def objective_function(x):
            nonlocal inner
            ev = self.evaluate(x, W, gradient=True, delta0=delta0, tol=tol)
            inner += ev.inversion.total_iterations
            return ev.objective, ev.gradient, ev

        bounds = [(0.0, np.inf)] * self.K2
        found = lbfgsb_newton(sigma0, bounds, objective_function, gtol=gtol, ftol=ftol, maxiter=maxiter,
                              newton_steps=newton_steps)
        sigma, final = found.x, found.value[2]
        H = np.full((self.K2, self.K2), np.nan)
        if hessian:  # pyBLP's diagnostic: at the estimates, step sqrt(eps), one-sided at the bound
            H = fd_hessian(lambda x: objective_function(x)[1], sigma, bounds)
        S = self.moment_covariances(final.xi, center=True)
        updated_W = np.linalg.inv(S)
        updated_W = (updated_W + updated_W.T) / 2
        V = self.parameter_covariances(final.delta_jacobian, W, S)
        se = np.sqrt(np.diag(V) / self.N)
        return GMMResults(
            sigma=sigma, beta=final.beta, sigma_se=se[: self.K2], beta_se=se[self.K2:],
            parameter_covariances=V, objective=final.objective, gradient=final.gradient,
            gradient_norm=found.gradient_norm, hessian=H,
            hessian_eigenvalues=np.linalg.eigvalsh(H) if np.isfinite(H).all() else np.full(self.K2, np.nan),
            W=W, updated_W=updated_W, step=step, converged=found.converged,
            optimizer_message=found.message, optimizer_iterations=found.iterations,
            objective_evaluations=found.evaluations, inner_iterations=inner,
            cumulative_inner_iterations=previous_inner + inner, time=time.perf_counter() - start_time,
            delta=final.delta, xi=final.xi, sigma_names=self.x2_names, beta_names=self.x1_names,
            newton_steps=found.newton_steps,
        )

    def solve(self, sigma0, method: str = "2s", W=None, gtol: float = GTOL, ftol: float = 0.0,
              maxiter: int = 1000, tol: float = 1e-14, hessian: bool = True,
              newton_steps: int = NEWTON_STEPS) -> GMMResults:
        r"""One- or two-step GMM: minimise :math:`q(\sigma)` subject to :math:`\sigma \ge 0`.

        Each step runs :func:`course_lib.optimize.lbfgsb_newton`: L-BFGS-B until the largest
        projected-gradient entry is at most ``gtol``, then ``newton_steps`` Newton steps on the
        analytic gradient with its finite-difference Hessian. ``gtol`` sits far above the
        objective's rounding noise, so every decision of the search is the same on any machine,
        and the Newton steps take the gradient from ``gtol`` to its floor (see
        :mod:`course_lib.optimize`). Step 1 uses ``W`` (default :math:`W_1 = (Z'Z/N)^{-1}`) and
        starts every contraction from the logit delta; step 2 (``method="2s"``) starts from step
        1's sigma with :math:`W_2 = S^{-1}` (centred moments) and starts every contraction from
        step 1's delta, as pyBLP does (``delta_behavior="first"``).

        Parameters
        ----------
        sigma0 : array_like, shape (K2,)
            Starting values (positive: pyBLP fixes a sigma that starts at zero).
        method : {"1s", "2s"}
        W : array_like, shape (L, L), optional
        gtol, ftol, maxiter
            L-BFGS-B's options (defaults :data:`course_lib.optimize.GTOL` = 1e-5; ``ftol`` = 0,
            pyBLP's default, leaves ``gtol`` in charge: SciPy's default 2.2e-9 would stop these
            problems early).
        tol : float
            Contraction tolerance (max absolute change in delta).
        hessian : bool
            Compute the finite-difference Hessian at the estimates (a diagnostic, as pyBLP does
            by default; ``2 K2`` more evaluations).
        newton_steps : int
            Newton steps after L-BFGS-B (0: L-BFGS-B alone, stopped at ``gtol``).

        Returns
        -------
        GMMResults
            The last step; ``first_step`` holds step 1 when ``method="2s"``.
        """
        check_method(method, ("1s", "2s"))
        sigma0 = self._check_sigma(sigma0)
        W1 = self._check_W(W)
        if gtol <= 0 or ftol < 0 or tol <= 0 or newton_steps < 0:
            raise ValueError("gtol and tol must be positive, ftol and newton_steps non-negative.")
        first = self._step(sigma0, W1, self.logit_delta, 1, gtol, ftol, maxiter, tol, hessian, newton_steps, 0)
        if method == "1s":
            return first
        second = self._step(first.sigma, first.updated_W, first.delta, 2, gtol, ftol, maxiter, tol, hessian,
                            newton_steps, first.cumulative_inner_iterations)
        second.first_step = first
        return second


def motorcycle_problem() -> BLPProblem:
    """The motorcycle data's problem on all markets (``course_lib.data``), the course's default."""
    from .. import data

    return BLPProblem(data.load_motorcycles(), data.load_motorcycle_agents())
