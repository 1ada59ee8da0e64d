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


def pyblp_optimization(optimizer: str, gtol: float, ftol: float, newton_steps: int):
    """pyBLP's ``Optimization`` for ``optimizer``: ``"course_lib"``, the course's search
    (:func:`course_lib.optimize.pyblp_method`: L-BFGS-B to ``gtol``, then ``newton_steps``
    Newton steps), or ``"l-bfgs-b"``, pyBLP's own SciPy L-BFGS-B with ``gtol`` and ``ftol``."""
    import pyblp

    from .optimize import pyblp_method

    if optimizer == "course_lib":
        return pyblp.Optimization(pyblp_method, {"gtol": gtol, "ftol": ftol, "newton_steps": newton_steps})
    if optimizer == "l-bfgs-b":
        return pyblp.Optimization("l-bfgs-b", {"gtol": gtol, "ftol": ftol})
    raise ValueError(f"Unknown optimizer {optimizer!r}; choose 'course_lib' or 'l-bfgs-b'.")


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

    optimization = pyblp_optimization(optimizer, gtol, ftol, newton_steps)
    if problem is None:
        problem = pyblp_rc_problem(products, agents)
    if not optimize:
        optimization = pyblp.Optimization("return")
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


# ---------------------------------------------------------------------------------------------
# The BLP (1995) automobile data in pyBLP, and demand objects of course_lib.merger from pyBLP's
# estimates.

__all__ += ["BLP_AUTOS_X1", "BLP_AUTOS_X2", "BLP_AUTOS_X3", "BLP_AUTOS_AGENTS", "BLP_AUTOS_SIGMA0",
            "BLP_AUTOS_PI0", "BLP_AUTOS_LOGIT_X1", "BLP_AUTOS_INSTRUMENTS", "BLP_AUTOS_FIRMS",
            "blp_autos_data", "size_class_nests", "pyblp_autos_logit_solve", "pyblp_autos_nested_logit_solve",
            "pyblp_autos_rc_problem", "pyblp_autos_rc_solve", "pyblp_demands"]

BLP_AUTOS_X1 = "1 + hpwt + air + mpd + space"
"""Linear characteristics of pyBLP's BLP replication: prices enter only through ``Pi`` (1/income)."""
BLP_AUTOS_X2 = "1 + prices + hpwt + air + mpd + space"
"""Characteristics with random coefficients; the one on ``prices`` is ``pi / income`` (its sigma is 0)."""
BLP_AUTOS_X3 = "1 + log(hpwt) + air + log(mpg) + log(space) + trend"
"""Log marginal-cost characteristics of the supply side (``costs_type="log"``)."""
BLP_AUTOS_AGENTS = "0 + I(1 / income)"
"""The demographic: 1/income, interacted with price only (BLP 1999's linearisation of log(y - p))."""
BLP_AUTOS_SIGMA0 = (3.612, 0.0, 4.628, 1.818, 1.050, 2.056)
"""Starting values: BLP (1995)'s published sigmas, as in pyBLP's tutorial (0 fixes price's sigma)."""
BLP_AUTOS_PI0 = (0.0, -43.501, 0.0, 0.0, 0.0, 0.0)
"""Starting value of the price-income coefficient: BLP's published estimate, as in pyBLP's tutorial."""
BLP_AUTOS_LOGIT_X1 = "1 + prices + hpwt + air + mpd + space"
"""The logit and nested-logit specification on the automobile data (price in X1)."""
BLP_AUTOS_INSTRUMENTS = tuple(f"demand_instruments{q}" for q in range(8))
"""BLP's "sums of characteristics" instruments as pyBLP ships them (own-firm and rival sums of
``1, hpwt, air, mpd, space``, rival ``trend`` dropped for collinearity; see ``pyblp.data``)."""
BLP_AUTOS_FIRMS = {"GM": 19, "Chrysler": 16, "Ford": 18, "AMC": 15, "Toyota": 1, "Nissan": 2, "Honda": 3}
"""Firm ids of pyBLP's automobile data, read off the model codes in ``clustering_ids`` (GM: BK, CD,
CV, OD, PT, GE, GO; Chrysler: CH/CR, DG, PL, IM, EG; Ford: FD, LC, LN, MC; AMC: AM, EA;
Toyota: TY, LX; Nissan: NI, DT, IN; Honda: HD, AC)."""


def blp_autos_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """pyBLP's copy of the BLP (1995) automobile data: products (2,217 rows) and agents (200 per market).

    The agents' ``weights`` are BLP's importance-sampling weights; they sum to 0.154 in every
    market (pyBLP warns and uses them as given).
    """
    import pyblp

    return pd.read_csv(pyblp.data.BLP_PRODUCTS_LOCATION), pd.read_csv(pyblp.data.BLP_AGENTS_LOCATION)


def size_class_nests(space, n_classes: int = 3) -> np.ndarray:
    """Nest ids 0, ..., n_classes - 1 from the pooled quantiles of ``space`` (small to large cars).

    A stand-in grouping for the nested logit until the learned nests arrive.
    """
    space = np.asarray(space, dtype=float).ravel()
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)):
        raise ValueError(f"n_classes must be an integer; got {n_classes!r}.")
    if n_classes < 1:
        raise ValueError(f"n_classes must be at least 1; got {n_classes}.")
    if len(space) == 0:
        raise ValueError("space is empty: no product to put in a size class.")
    if not np.isfinite(space).all():
        raise ValueError(f"space is not finite at position {int(np.flatnonzero(~np.isfinite(space))[0])}.")
    cuts = np.quantile(space, np.arange(1, n_classes) / n_classes)
    return np.searchsorted(cuts, space, side="right")


def pyblp_autos_logit_solve(products: pd.DataFrame | None = None, x1_formula: str = BLP_AUTOS_LOGIT_X1):
    """The IV logit on the automobile data in pyBLP: one-step GMM with ``W = (Z'Z)^{-1}``, i.e. 2SLS.

    Instruments: the exogenous columns of X1 and :data:`BLP_AUTOS_INSTRUMENTS`. Moments are not
    centred (``center_moments=False``), so pyBLP's robust standard errors are the HC0 sandwich of
    :func:`course_lib.iv.tsls`.
    """
    import pyblp

    pyblp.options.verbose = False
    if products is None:
        products = blp_autos_data()[0]
    problem = pyblp.Problem(pyblp.Formulation(x1_formula), products)
    ZD = problem.products.ZD
    return problem.solve(method="1s", W=np.linalg.inv(ZD.T @ ZD), center_moments=False, se_type="robust")


def pyblp_autos_nested_logit_solve(products: pd.DataFrame, nest_ids, rho0=0.5, gtol: float = 1e-14,
                                   x_names=("hpwt", "air", "mpd", "space"), extra_instruments=None):
    """The nested logit on the automobile data in pyBLP, with given nests.

    Builds the data with :func:`pyblp_nested_logit_data` (excluded instruments
    :data:`BLP_AUTOS_INSTRUMENTS` plus ``extra_instruments``) and solves it with
    :func:`pyblp_nested_logit_solve` (2SLS; pyBLP's ``rho_k = 1 - sigma_k``, one per sorted nest id).

    Returns
    -------
    results : pyblp.ProblemResults
    data : DataFrame
        The product data pyBLP was given.
    """
    Z = products[list(BLP_AUTOS_INSTRUMENTS)].to_numpy(dtype=float)
    if extra_instruments is not None:
        Z = np.column_stack([Z, np.asarray(extra_instruments, dtype=float)])
    data = pyblp_nested_logit_data(products["shares"], products["prices"], products[list(x_names)].to_numpy(dtype=float),
                                   nest_ids, products["market_ids"], Z, x_names=list(x_names))
    data["firm_ids"] = products["firm_ids"].to_numpy()
    return pyblp_nested_logit_solve(data, x_names=tuple(x_names), rho0=rho0, gtol=gtol), data


def pyblp_autos_rc_problem(products: pd.DataFrame | None = None, agents: pd.DataFrame | None = None,
                           supply: bool = False):
    """pyBLP's BLP (1995) problem on the automobile data (Conlon and Gortmaker 2020's replication).

    X1 = :data:`BLP_AUTOS_X1`, X2 = :data:`BLP_AUTOS_X2`, demographics :data:`BLP_AUTOS_AGENTS`,
    the shipped instruments (``demand_instruments0..7``; with ``supply``, X3 = :data:`BLP_AUTOS_X3`
    with log costs and ``supply_instruments0..11``), BLP's 200 importance-sampling draws per market.
    """
    import pyblp

    pyblp.options.verbose = False
    if products is None or agents is None:
        default_products, default_agents = blp_autos_data()
        products = default_products if products is None else products
        agents = default_agents if agents is None else agents
    formulations = [pyblp.Formulation(BLP_AUTOS_X1), pyblp.Formulation(BLP_AUTOS_X2)]
    if supply:
        formulations.append(pyblp.Formulation(BLP_AUTOS_X3))
    return pyblp.Problem(tuple(formulations), products, pyblp.Formulation(BLP_AUTOS_AGENTS), agents,
                         costs_type="log" if supply else "linear")


def pyblp_autos_rc_solve(products: pd.DataFrame | None = None, agents: pd.DataFrame | None = None,
                         supply: bool = False, method: str = "2s", optimizer: str = "course_lib", gtol: float = GTOL,
                         newton_steps: int = NEWTON_STEPS, sigma0=BLP_AUTOS_SIGMA0, pi0=BLP_AUTOS_PI0, problem=None):
    """Estimate the BLP automobile model in pyBLP; the settings, written down.

    - Starting values: BLP (1995)'s published estimates (:data:`BLP_AUTOS_SIGMA0`,
      :data:`BLP_AUTOS_PI0`), as pyBLP's tutorial; a zero fixes price's sigma (price enters through
      ``pi / income`` only), off-diagonal sigmas fixed at zero; pyBLP's default bounds (the
      diagonal of sigma non-negative, pi unbounded).
    - Optimizer: ``"course_lib"`` (default) hands pyBLP :func:`course_lib.optimize.pyblp_method`,
      L-BFGS-B until the largest projected-gradient entry is at most ``gtol`` (1e-5), then
      ``newton_steps`` (2) Newton steps on pyBLP's analytic gradient with a finite-difference Hessian,
      the search every GMM problem of the course uses; ``"l-bfgs-b"`` is pyBLP's own SciPy L-BFGS-B
      with ``gtol`` and ``ftol=0``.
    - Contraction: SQUAREM, ``atol=1e-14``.
    - GMM: two steps (``method="2s"``), weighting matrices and standard errors clustered by model
      (``clustering_ids``), as the tutorial and the paper.
    - With ``supply``: log marginal costs bounded below by 0.001 and ``initial_update=True``
      (pyBLP's tutorial settings for the joint estimation).

    Returns
    -------
    pyblp.ProblemResults
    """
    import pyblp

    optimization = pyblp_optimization(optimizer, gtol, 0.0, newton_steps)
    if problem is None:
        problem = pyblp_autos_rc_problem(products, agents, supply=supply)
    options = dict(method=method, W_type="clustered", se_type="clustered", optimization=optimization,
                   iteration=pyblp.Iteration("squarem", {"atol": 1e-14}))
    if supply:
        options.update(costs_bounds=(0.001, None), initial_update=True)
    return problem.solve(np.diag(np.asarray(sigma0, dtype=float)), np.c_[np.asarray(pi0, dtype=float)], **options)


def pyblp_demands(results) -> dict:
    r"""The demand objects of :mod:`course_lib.merger` at a pyBLP ``ProblemResults``' estimates, by market.

    - Logit (no X2, no nests): :func:`course_lib.merger.logit_demands` with pyBLP's ``delta`` and the
      coefficient on ``prices`` in X1.
    - Nested logit (``nesting_ids``, no X2): :func:`course_lib.merger.nested_logit_demands` with
      sigma = 1 - pyBLP's ``rho`` (dissimilarity), one per sorted nest id.
    - Random coefficients (X2, linear random coefficients, no nests):
      :func:`course_lib.merger.rc_logit_demands`. Consumer i's deviation from the mean coefficient
      on X2's column k, :math:`(\Sigma\nu_i + \Pi d_i)_k` (pyBLP's ``sigma @ nodes' + pi @ demographics'``,
      nodes filling the columns whose sigma is not fixed at zero, as pyBLP does), becomes rc_logit's
      :math:`\sigma_k \zeta_{ik}` with :math:`\sigma_k = 1` and :math:`\zeta_{ik}` the deviation (0 for
      columns without heterogeneity); so price's :math:`\alpha_i = \alpha + \pi / y_i` in BLP's model.
      The weights are pyBLP's, as given.

    The mean price coefficient ``alpha`` is the ``prices`` entry of beta (0 if X1 has no prices).
    """
    from . import merger

    problem = results.problem
    products = problem.products
    x1 = list(results.beta_labels)  # pyBLP's X1 formulations as strings, in X1's column order
    beta = np.asarray(results.beta, dtype=float).ravel()
    alpha = float(beta[x1.index("prices")]) if "prices" in x1 else 0.0
    delta = np.asarray(results.delta, dtype=float).ravel()
    prices = np.asarray(products.prices, dtype=float).ravel()
    market_ids = np.asarray(products.market_ids).ravel()
    if problem.K2 == 0:
        if problem.H == 0:
            return merger.logit_demands(delta, prices, alpha, market_ids)
        nests = np.asarray(products.nesting_ids).ravel()
        sigma = 1.0 - np.asarray(results.rho, dtype=float).ravel()
        return merger.nested_logit_demands(delta, prices, alpha, nests, sigma if len(sigma) > 1 else float(sigma[0]),
                                           market_ids)
    if problem.H > 0:
        raise ValueError("Random coefficients with nests are not supported by course_lib.merger.")
    if any(t != "linear" for t in getattr(problem, "rc_types", ["linear"] * problem.K2)):
        raise ValueError("Only linear random coefficients (pyBLP's rc_types='linear') are supported.")
    x2 = list(results.sigma_labels)  # X2's formulations, in its column order
    agents = problem.agents
    sigma = np.asarray(results.sigma, dtype=float)
    # pyBLP gives nodes to the columns of X2 whose *starting* sigma has a nonzero entry (its
    # nonzero_sigma_index; an estimate that ends at its bound 0 keeps its column of nodes); where
    # nodes are fewer than X2's columns, they fill those columns in order. pyBLP fixes exactly the
    # zero starting entries with bounds (0, 0) (a nonzero start lies inside its bounds, so they are
    # never both 0), so the public sigma_bounds give that index.
    lower, upper = (np.asarray(b, dtype=float) for b in results.sigma_bounds)
    nonzero = np.any((lower != 0) | (upper != 0), axis=0)
    given = np.asarray(agents.nodes, dtype=float)
    if given.shape[1] >= problem.K2 or nonzero.all():
        nodes = given[:, : problem.K2]
    else:
        nodes = np.zeros((given.shape[0], problem.K2))
        nodes[:, nonzero] = given[:, : nonzero.sum()]
    deviations = nodes @ sigma.T
    if problem.D > 0:
        deviations = deviations + np.asarray(agents.demographics, dtype=float) @ np.asarray(results.pi, dtype=float).T
    scale = (np.abs(deviations).max(axis=0) > 0).astype(float)
    return merger.rc_logit_demands(delta, prices, alpha, np.asarray(products.X2, dtype=float), scale, deviations,
                                   market_ids, np.asarray(agents.market_ids).ravel(),
                                   np.asarray(agents.weights, dtype=float).ravel(),
                                   x2.index("prices") if "prices" in x2 else None)
