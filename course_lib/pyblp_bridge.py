"""Build the same problems in pyBLP, to check course_lib against it.

pyBLP orders the linear parameters as its formulation does: ``1, prices, EngineSize,
SportsBike, Brand2, Brand3`` for the motorcycle data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .optimize import GTOL, NEWTON_STEPS

__all__ = ["X1_FORMULA", "X2_FORMULA", "pyblp_logit_simulation", "pyblp_logit_equilibrium_prices",
           "pyblp_rc_problem", "pyblp_rc_solve", "pyblp_nested_logit_data", "pyblp_nested_logit_solve"]

X1_FORMULA = "1 + prices + EngineSize + SportsBike + Brand2 + Brand3"


def pyblp_logit_simulation(products: pd.DataFrame, beta, xi):
    """A pyBLP ``Simulation`` of logit demand on the products' characteristics.

    ``beta`` is in pyBLP's order: 1, prices, EngineSize, SportsBike, Brand2, Brand3.
    """
    import pyblp

    pyblp.options.verbose = False
    return pyblp.Simulation(
        pyblp.Formulation(X1_FORMULA),
        products.drop(columns=[c for c in ("shares",) if c in products]),
        beta=np.asarray(beta, dtype=float),
        xi=np.asarray(xi, dtype=float),
    )


def pyblp_logit_equilibrium_prices(products: pd.DataFrame, beta, xi, costs, atol: float = 1e-14,
                                   simulation=None) -> np.ndarray:
    """Bertrand-Nash prices under logit demand from pyBLP's ``Simulation.replace_endogenous``.

    pyBLP iterates on the zeta-markup equation of Morrow and Skerlos (2011) in each market.

    Parameters
    ----------
    products : DataFrame
        ``market_ids``, ``firm_ids`` and the columns of :data:`X1_FORMULA` (prices are replaced).
    beta : array_like, shape (6,)
        In pyBLP's order: 1, prices, EngineSize, SportsBike, Brand2, Brand3.
    xi, costs : array_like, shape (N,)
    atol : float
        Absolute tolerance of pyBLP's fixed-point iteration.
    simulation : pyblp.Simulation, optional
        A simulation from :func:`pyblp_logit_simulation`, to time the solve alone.

    Returns
    -------
    ndarray, shape (N,)
    """
    import pyblp

    if simulation is None:
        simulation = pyblp_logit_simulation(products, beta, xi)
    iteration = pyblp.Iteration("simple", {"atol": atol})
    results = simulation.replace_endogenous(costs=np.asarray(costs, dtype=float), iteration=iteration)
    return results.product_data.prices.ravel()


X2_FORMULA = "0 + prices + EngineSize"


def pyblp_rc_problem(products: pd.DataFrame, agents: pd.DataFrame, x1_formula: str = X1_FORMULA,
                     x2_formula: str = X2_FORMULA):
    """The random-coefficients logit ``pyblp.Problem`` identical to :class:`course_lib.gmm.BLPProblem`.

    Same products and shares, the same agent nodes and weights (``agent_data``, so pyBLP does
    no integration of its own), X1 = ``1, prices, EngineSize, SportsBike, Brand2, Brand3``,
    X2 = ``prices, EngineSize`` and instruments ``demand_instruments0..3`` plus the exogenous
    columns of X1 (pyBLP adds these itself; its ``ZD`` puts the excluded instruments first).
    """
    import pyblp

    pyblp.options.verbose = False
    return pyblp.Problem((pyblp.Formulation(x1_formula), pyblp.Formulation(x2_formula)), products,
                         agent_data=agents)


def pyblp_rc_solve(products: pd.DataFrame, agents: pd.DataFrame, sigma0, method: str = "2s",
                   gtol: float = GTOL, ftol: float = 0.0, newton_steps: int = NEWTON_STEPS, atol: float = 1e-14,
                   W=None, optimize: bool = True, optimizer: str = "course_lib", problem=None):
    """Solve the identical problem with pyBLP, with course_lib's settings.

    Parameters
    ----------
    products, agents : DataFrame
        As for :class:`course_lib.gmm.BLPProblem`.
    sigma0 : array_like, shape (2,)
        Starting standard deviations (the diagonal of pyBLP's ``sigma``; off-diagonals fixed
        at zero, and a zero on the diagonal fixes that sigma, pyBLP's convention).
    method : {"1s", "2s"}
    gtol, ftol, newton_steps
        The optimizer's settings, as in :meth:`course_lib.gmm.BLPProblem.solve`.
    atol : float
        ``Iteration("squarem", {"atol": atol})``: the contraction's tolerance.
    W : array_like, optional
        Weighting matrix in pyBLP's instrument order; default pyBLP's ``(Z'Z/N)^{-1}``.
    optimize : bool
        ``False`` evaluates the objective and gradient at ``sigma0`` (``Optimization("return")``).
    optimizer : {"course_lib", "l-bfgs-b"}
        ``"course_lib"`` (default) hands pyBLP course_lib's routine as a custom optimization
        method (``Optimization(course_lib.optimize.pyblp_method, {...})``), so that both
        libraries make the same search decisions; ``"l-bfgs-b"`` is pyBLP's own SciPy L-BFGS-B
        with ``gtol`` and ``ftol`` (no Newton steps).
    problem : pyblp.Problem, optional
        A problem from :func:`pyblp_rc_problem` (to time the solve alone).

    Returns
    -------
    pyblp.ProblemResults
    """
    import pyblp

    from .optimize import pyblp_method

    if optimizer not in ("course_lib", "l-bfgs-b"):
        raise ValueError(f"Unknown optimizer {optimizer!r}; choose 'course_lib' or 'l-bfgs-b'.")
    if problem is None:
        problem = pyblp_rc_problem(products, agents)
    if not optimize:
        optimization = pyblp.Optimization("return")
    elif optimizer == "course_lib":
        optimization = pyblp.Optimization(pyblp_method, {"gtol": gtol, "ftol": ftol, "newton_steps": newton_steps})
    else:
        optimization = pyblp.Optimization("l-bfgs-b", {"gtol": gtol, "ftol": ftol})
    return problem.solve(
        sigma=np.diag(np.asarray(sigma0, dtype=float)), method=method, W=W, optimization=optimization,
        iteration=pyblp.Iteration("squarem", {"atol": atol}),
    )


def pyblp_nested_logit_data(shares, prices, X, nest_ids, market_ids, instruments, x_names=None,
                            exogenous_prices: bool = False) -> pd.DataFrame:
    """pyBLP ``product_data`` for the nested logit of :func:`course_lib.nested_logit.berry_regression`.

    Columns ``market_ids``, ``nesting_ids``, ``shares``, ``prices``, the characteristics (named
    ``x_names``, default ``x0, x1, ...``) and ``demand_instruments0...`` (the excluded
    instruments; with ``exogenous_prices`` the prices are appended as one more, since pyBLP
    always treats ``prices`` as endogenous). pyBLP adds the exogenous columns of X1 to the
    instruments itself, so its instrument set spans the same space as ``berry_regression``'s.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    Z = np.asarray(instruments, dtype=float)
    if Z.ndim == 1:
        Z = Z[:, None]
    prices = np.asarray(prices, dtype=float).ravel()
    if exogenous_prices:
        Z = np.column_stack([Z, prices])
    x_names = [f"x{l}" for l in range(X.shape[1])] if x_names is None else list(x_names)
    data = {"market_ids": np.asarray(market_ids).ravel(), "nesting_ids": np.asarray(nest_ids).ravel(),
            "shares": np.asarray(shares, dtype=float).ravel(), "prices": prices}
    data.update({name: X[:, l] for l, name in enumerate(x_names)})
    data.update({f"demand_instruments{q}": Z[:, q] for q in range(Z.shape[1])})
    return pd.DataFrame(data)


def pyblp_nested_logit_solve(products: pd.DataFrame, x_names=("x0",), constant: bool = True, rho0=0.5,
                             gtol: float = 1e-14, se_type: str = "robust", finite_differences: bool = True):
    """Estimate the nested logit with known nests in pyBLP: one-step GMM with ``W = (Z'Z)^{-1}`` (2SLS).

    pyBLP's ``rho_k = 1 - sigma_k`` (course_lib's sigma is the dissimilarity parameter), one per
    nest in the order of the sorted unique ``nesting_ids``, bounded by pyBLP to [0, 0.99]. The
    linear parameters (``1`` if ``constant``, ``prices``, then ``x_names``: pyBLP's order) are
    concentrated out by linear IV given rho, and rho is found by L-BFGS-B; the objective is
    quadratic in rho, so at an interior optimum this is exactly Berry's 2SLS regression.

    Parameters
    ----------
    products : DataFrame
        From :func:`pyblp_nested_logit_data`.
    x_names : sequence of str
        The characteristics in X1 (after ``prices``).
    constant : bool
        Include an intercept in X1.
    rho0 : float or array_like
        Starting rho, a scalar for every nest or one per sorted nest id.
    gtol : float
        L-BFGS-B's gradient tolerance.
    se_type : str
        pyBLP's ``se_type``; moments are not centred, so "robust" is the HC0 sandwich of
        :func:`course_lib.iv.tsls`.
    finite_differences : bool
        pyBLP's option: with True (default) pyBLP computes delta by its closed-form nested-logit
        inversion at every rho and the Jacobian of xi by central differences, which are exact up to
        rounding because xi is linear in rho; with False it takes its market-by-market analytic
        Jacobian path (the same estimates, much slower when BLAS threads compete for cores).

    Returns
    -------
    pyblp.ProblemResults
        ``beta`` (pyBLP order), ``rho`` (one per nest), their standard errors.
    """
    import pyblp

    pyblp.options.verbose = False
    formula = ("1 + " if constant else "0 + ") + " + ".join(["prices", *x_names])
    problem = pyblp.Problem(pyblp.Formulation(formula), products)
    H = problem.H
    rho = np.broadcast_to(np.asarray(rho0, dtype=float).ravel(), (H,)).astype(float).reshape(H, 1)
    ZD = problem.products.ZD
    W = np.linalg.inv(ZD.T @ ZD)
    return problem.solve(rho=rho, method="1s", W=W, center_moments=False, se_type=se_type,
                         finite_differences=finite_differences, optimization=pyblp.Optimization("l-bfgs-b", {"gtol": gtol, "ftol": 0}))
