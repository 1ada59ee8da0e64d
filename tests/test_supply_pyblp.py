"""course_lib's Bertrand-Nash prices equal pyBLP's on the same logit problem, all markets."""

import numpy as np
import pytest

from course_lib import data, logit
from course_lib.pyblp_bridge import pyblp_logit_equilibrium_prices

TOL = 1e-13  # the damped fixed point stalls near 3e-14 in some markets: rounding
BETA = np.array([1.0, -3.0, 1.0, 2.0, -1.0, 1.0])  # pyBLP order: 1, prices, EngineSize, SportsBike, Brand2, Brand3


@pytest.mark.parametrize("method,options", [("zeta", {}), ("newton", {}), ("fixed_point", {"damping": 0.5})])
def test_equilibrium_prices_match_pyblp(method, options):
    products = data.load_motorcycles()
    costs = data.load_motorcycle_truth()["costs"].to_numpy()
    xi = np.random.default_rng(0).standard_normal(len(products))
    X = products[["EngineSize", "SportsBike", "Brand2", "Brand3"]].to_numpy()
    mean_utility = BETA[0] + X @ BETA[2:] + xi
    ours, results = logit.logit_equilibrium_prices(
        mean_utility, BETA[1], costs, products["firm_ids"], products["market_ids"], method=method, tol=TOL, **options
    )
    theirs = pyblp_logit_equilibrium_prices(products, BETA, xi, costs)
    assert len(results) == products["market_ids"].nunique()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)
