"""Multi-product Bertrand-Nash pricing for any demand model with linear prices.

Firm f chooses the prices of its products to maximise
``sum_{j in F_f} (p_j - mc_j) s_j(p)``. Stacking the first-order conditions of
all firms, with ``Omega[j, k] = 1{j, k same firm}`` and
``(ds/dp)[j, k] = ds_j / dp_k``,

    s(p) + (Omega * ds/dp)' (p - mc) = 0.

The transpose matters: the derivative of firm f's profit with respect to
``p_k`` sums ``(p_j - mc_j) ds_j/dp_k`` over the firm's products j, a column
of ``ds/dp``. The demand model enters only through a callable that returns
:class:`PriceDerivatives` at given prices, so the same solver serves the logit
and the random-coefficients logit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.optimize

from ._checks import as_vector, check_finite, check_method, check_same_length

__all__ = [
    "PriceDerivatives",
    "EquilibriumResult",
    "ownership_matrix",
    "foc_residual",
    "bertrand_nash_prices",
    "METHODS",
]

METHODS = ("fixed_point", "zeta", "newton")


@dataclass(frozen=True)
class PriceDerivatives:
    r"""Shares and their price derivatives in one market, split as Morrow and Skerlos (2011) do.

    For a mixed logit with price coefficient :math:`\alpha_i` and individual choice
    probabilities :math:`\pi_{ij}`,

    .. math::
        \frac{\partial s_j}{\partial p_k} = \Lambda_{jk} - \Gamma_{jk},\quad
        \Lambda = \mathrm{diag}\big(E[\alpha_i \pi_{ij}]\big),\quad
        \Gamma_{jk} = E[\alpha_i \pi_{ij} \pi_{ik}].

    Attributes
    ----------
    shares : ndarray, shape (J,)
    lambda_diag : ndarray, shape (J,)
        Diagonal of :math:`\Lambda`.
    gamma : ndarray, shape (J, J)
    """

    shares: np.ndarray
    lambda_diag: np.ndarray
    gamma: np.ndarray

    @property
    def jacobian(self) -> np.ndarray:
        """``ds/dp`` with entry ``[j, k] = ds_j / dp_k``."""
        return np.diag(self.lambda_diag) - self.gamma


@dataclass
class EquilibriumResult:
    """Equilibrium prices of one market and how the solver got there.

    Attributes
    ----------
    prices, markups, shares : ndarray, shape (J,)
        Equilibrium prices, ``prices - costs`` and shares at those prices.
    iterations : int
        Price updates (fixed point, zeta), or warm-start zeta steps plus evaluations of the
        markup equation (newton).
    converged : bool
    method : str
    residuals : list of float
        The convergence criterion at each iteration: ``max |step(p) - p|`` for the
        iterations; for newton, the warm-start steps' changes, then ``max |p - c - zeta(p)|``
        at each function evaluation.
    foc_norm : float
        Max absolute first-order condition at the returned prices.
    """

    prices: np.ndarray
    markups: np.ndarray
    shares: np.ndarray
    iterations: int
    converged: bool
    method: str
    residuals: list = field(default_factory=list)
    foc_norm: float = np.nan


def ownership_matrix(firm_ids) -> np.ndarray:
    """Ownership matrix ``Omega[j, k] = 1`` if products j and k belong to the same firm.

    Parameters
    ----------
    firm_ids : array_like, shape (J,)

    Returns
    -------
    ndarray, shape (J, J) of float
    """
    firm_ids = np.asarray(firm_ids).ravel()
    if len(firm_ids) == 0:
        raise ValueError("firm_ids is empty.")
    return (firm_ids[:, None] == firm_ids[None, :]).astype(float)


def foc_residual(derivatives: PriceDerivatives, prices, costs, omega) -> np.ndarray:
    r"""Stacked first-order conditions :math:`s + (\Omega \circ \partial s/\partial p)'(p - c)`."""
    return derivatives.shares + (omega * derivatives.jacobian).T @ (np.asarray(prices) - np.asarray(costs))


def _fixed_point_step(d: PriceDerivatives, prices, costs, omega):
    # p = c - ((Omega * ds/dp)')^{-1} s: solve rather than invert.
    return costs - np.linalg.solve((omega * d.jacobian).T, d.shares)


def _zeta_step(d: PriceDerivatives, prices, costs, omega):
    # Morrow-Skerlos: p - c = zeta = Lambda^{-1} (Omega * Gamma)' (p - c) - Lambda^{-1} s.
    zeta = ((omega * d.gamma).T @ (prices - costs) - d.shares) / d.lambda_diag
    return costs + zeta


def bertrand_nash_prices(
    demand: Callable[[np.ndarray], PriceDerivatives],
    costs,
    firm_ids,
    initial_prices=None,
    method: str = "zeta",
    tol: float = 1e-13,
    max_iterations: int = 10_000,
    damping: float = 1.0,
    newton_warm_start: int = 10,
    newton_xtol: float = 1e-10,
) -> EquilibriumResult:
    r"""Solve for multi-product Bertrand-Nash equilibrium prices in one market.

    The equilibrium solves :math:`s(p) + (\Omega \circ \partial s / \partial p)'(p - c) = 0`.

    Parameters
    ----------
    demand : callable
        ``demand(prices)`` returns :class:`PriceDerivatives` at those prices.
    costs : array_like, shape (J,)
        Marginal costs.
    firm_ids : array_like, shape (J,)
        Owner of each product.
    initial_prices : array_like, shape (J,), optional
        Starting prices; ``costs`` if omitted.
    method : {"fixed_point", "zeta", "newton"}
        ``"fixed_point"``: :math:`p \leftarrow c - ((\Omega \circ \partial s/\partial p)')^{-1} s(p)`;
        ``"zeta"``: the zeta-markup iteration of Morrow and Skerlos (2011),
        :math:`p \leftarrow c + \Lambda^{-1}(\Omega \circ \Gamma)'(p - c) - \Lambda^{-1} s`;
        ``"newton"``: ``newton_warm_start`` zeta steps, then ``scipy.optimize.root``
        (MINPACK's hybrid Powell method, a quasi-Newton solver with a finite-difference
        Jacobian) on the markup equation :math:`p - c - \zeta(p) = 0`, which is
        equivalent to the FOCs but, unlike them, does not vanish as prices go to infinity.
    tol : float
        fixed_point and zeta stop when ``max |step(p) - p|`` < tol.
    max_iterations : int
    damping : float in (0, 1]
        Iterations move ``p <- p + damping * (step(p) - p)``. The naive fixed point is
        no contraction in general: with several multi-product firms it can cycle, and
        damping (e.g. 0.5) restores convergence. Ignored by newton.
    newton_warm_start : int
        Zeta steps before the quasi-Newton solve (newton only). From a poor start the
        solver alone can stall; the zeta steps make it reliable (tested on every market of
        the motorcycle data and on random mixed-logit markets).
    newton_xtol : float
        MINPACK's relative-step tolerance (newton only). Its superlinear steps have reached
        rounding by the time a step is 1e-10 of the prices (market 17 of chapter 6: the same
        prices to 1e-13 at any xtol from 1e-8 to 1e-13); below about 1e-12 the finite-difference
        Jacobian's noise decides how many more evaluations it spends (25 to 36 at 1e-13,
        depending on the BLAS kernel), so the default stays well above that floor.

    Returns
    -------
    EquilibriumResult
        A run that does not converge returns ``converged=False`` and warns with its
        iteration count and last residual.
    """
    check_method(method, METHODS)
    costs = as_vector(costs, "costs")
    check_finite(costs, "costs")
    firm_ids = np.asarray(firm_ids).ravel()
    prices = costs.copy() if initial_prices is None else as_vector(initial_prices, "initial_prices").copy()
    check_same_length(costs=costs, firm_ids=firm_ids, initial_prices=prices)
    check_finite(prices, "initial_prices")
    if tol <= 0:
        raise ValueError(f"tol must be positive; got {tol}.")
    if not 0 < damping <= 1:
        raise ValueError(f"damping must be in (0, 1]; got {damping}.")
    if newton_warm_start < 0:
        raise ValueError(f"newton_warm_start must be >= 0; got {newton_warm_start}.")
    if newton_xtol <= 0:
        raise ValueError(f"newton_xtol must be positive; got {newton_xtol}.")
    omega = ownership_matrix(firm_ids)

    residuals: list[float] = []
    converged = False
    if method == "newton":
        # Solve the markup equation p - c - zeta(p) = 0 rather than the raw FOCs: both
        # vanish at the equilibrium, but the raw FOCs also vanish as p -> infinity (shares
        # go to zero), a spurious root that Newton can run into.
        def markup_residual(p):
            r = p - _zeta_step(demand(p), p, costs, omega)
            residuals.append(float(np.max(np.abs(r))))
            return r

        # Far from equilibrium (raw costs, a near-monopoly share) the quasi-Newton solver can
        # stall in a flat region; a few zeta steps first bring it where Newton converges fast.
        for _ in range(newton_warm_start):
            new = _zeta_step(demand(prices), prices, costs, omega)
            residuals.append(float(np.max(np.abs(new - prices))))
            prices = new
        solution = scipy.optimize.root(markup_residual, prices, method="hybr", options={"xtol": newton_xtol, "maxfev": max_iterations})
        prices, iterations = solution.x, newton_warm_start + int(solution.nfev)
        # MINPACK may stop with "no further improvement possible" once steps reach machine
        # precision: accept that when the markup equation holds to rounding error.
        final = float(np.max(np.abs(prices - _zeta_step(demand(prices), prices, costs, omega))))
        converged = bool(solution.success or final < 1e-12 * max(1.0, float(np.max(np.abs(prices)))))
    else:
        step = _fixed_point_step if method == "fixed_point" else _zeta_step
        iterations = 0
        while iterations < max_iterations:
            new = step(demand(prices), prices, costs, omega)
            iterations += 1
            change = float(np.max(np.abs(new - prices)))
            residuals.append(change)
            prices = prices + damping * (new - prices)
            if not np.isfinite(change):
                break
            if change < tol:
                converged = True
                break

    final = demand(prices)
    foc_norm = float(np.max(np.abs(foc_residual(final, prices, costs, omega))))
    if not converged:
        warnings.warn(
            f"bertrand_nash_prices(method={method!r}) did not converge after {iterations} "
            f"iterations; last residual {residuals[-1] if residuals else np.nan:.3e}.",
            RuntimeWarning,
            stacklevel=2,
        )
    return EquilibriumResult(
        prices=prices,
        markups=prices - costs,
        shares=final.shares,
        iterations=iterations,
        converged=converged,
        method=method,
        residuals=residuals,
        foc_norm=foc_norm,
    )
