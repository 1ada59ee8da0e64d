"""Time Bertrand-Nash pricing under logit demand in all 100 motorcycle markets:
course_lib's three methods against pyBLP's solver (its zeta-markup iteration), in one
process, on the identical problem and tolerance (pyBLP's Simulation is built once, outside
the timing). Prints wall times, ratios and the
largest price difference from pyBLP.

Run: .venv/bin/python benchmarks/bench_pricing.py [repeats]
"""

from __future__ import annotations

import sys

import numpy as np

from course_lib import data, logit
from course_lib.pyblp_bridge import pyblp_logit_equilibrium_prices, pyblp_logit_simulation
from _timing import best_time

BETA = np.array([1.0, -3.0, 1.0, 2.0, -1.0, 1.0])  # 1, prices, EngineSize, SportsBike, Brand2, Brand3
TOL = 1e-13  # the fixed point cannot get below ~3e-14 in some markets: rounding



def main(repeats: int = 5) -> None:
    products = data.load_motorcycles()
    costs = data.load_motorcycle_truth()["costs"].to_numpy()
    xi = np.random.default_rng(0).standard_normal(len(products))
    X = products[["EngineSize", "SportsBike", "Brand2", "Brand3"]].to_numpy()
    mean_utility = BETA[0] + X @ BETA[2:] + xi
    firms, markets = products["firm_ids"], products["market_ids"]

    # Build pyBLP's Simulation once, outside the timing: only its price solve is timed.
    simulation = pyblp_logit_simulation(products, BETA, xi)
    anchor, pyblp_prices = best_time(
        lambda: pyblp_logit_equilibrium_prices(products, BETA, xi, costs, atol=TOL, simulation=simulation), repeats
    )
    print(f"{'solver':<32}{'best of ' + str(repeats) + ' (s)':>16}{'pyBLP / this':>14}{'iterations':>12}{'max |p - p_pyBLP|':>20}")
    print(f"{'pyBLP Simulation (zeta)':<32}{anchor:>16.4f}{1.0:>14.2f}{'':>12}{0.0:>20.1e}")
    for label, method, options in [
        ("course_lib zeta", "zeta", {}),
        ("course_lib newton (hybr)", "newton", {}),
        ("course_lib fixed point, damped", "fixed_point", {"damping": 0.5}),
    ]:
        seconds, (prices, results) = best_time(
            lambda: logit.logit_equilibrium_prices(mean_utility, BETA[1], costs, firms, markets, method=method, tol=TOL, **options),
            repeats,
        )
        iterations = sum(r.iterations for r in results)
        gap = np.max(np.abs(prices - pyblp_prices))
        print(f"{label:<32}{seconds:>16.4f}{anchor / seconds:>14.2f}{iterations:>12d}{gap:>20.1e}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
