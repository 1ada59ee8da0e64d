"""Build the same problems in pyBLP, to check course_lib against it.

pyBLP orders the linear parameters as its formulation does: ``1, prices, EngineSize,
SportsBike, Brand2, Brand3`` for the motorcycle data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["X1_FORMULA", "pyblp_logit_simulation", "pyblp_logit_equilibrium_prices"]

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
