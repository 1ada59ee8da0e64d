"""Time the BLP contraction on all 100 motorcycle markets at sigma = (0.5, 1.0), with the
shipped agent draws (200 per market) and tolerance 1e-14 on the max absolute change in delta:

- course_lib, a loop over markets of ``rc_logit.invert_shares`` (``"simple"`` and ``"squarem"``);
- course_lib, all markets at once, ``rc_logit.invert_shares_markets`` (``"simple"`` and
  ``"squarem"``; markets padded to the largest J, per-market step lengths and stopping);
- pyBLP 1.3: ``Problem.solve`` at fixed sigma with ``Optimization("return", compute_gradient=False)``
  and ``Iteration("squarem", {"atol": 1e-14})``, method "1s". Only ``solve`` is timed (the
  ``Problem`` is built once, outside); it still includes more than the contraction: the
  concentrated-out beta, xi, the objective, the xi-by-theta Jacobian and robust standard errors
  (which need it), the weighting-matrix update and building the results object. To size that
  overhead, the same solve is timed again started at its own converged delta (a few evaluations
  per market): the difference is roughly the contraction's share.

Every method starts each market from the logit delta log s_j - log s_0 (pyBLP's default). The
iteration counts are contraction evaluations summed over markets (pyBLP's
``contraction_evaluations``); the table also shows the largest |delta - delta_pyBLP|.

Run: .venv/bin/python benchmarks/bench_contraction.py [repeats]
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from course_lib import data
from course_lib import rc_logit as rc
from course_lib.pyblp_bridge import pyblp_rc_problem
from _timing import best_time

SIGMA = np.array([0.5, 1.0])
TOL = 1e-14


def main(repeats: int = 3) -> None:
    import pyblp

    products, agents = data.load_motorcycles(), data.load_motorcycle_agents()
    shares = products["shares"].to_numpy()
    X2 = products[["prices", "EngineSize"]].to_numpy()
    nodes = agents[["nodes0", "nodes1"]].to_numpy()
    weights = agents["weights"].to_numpy()
    ids, agent_ids = products["market_ids"].to_numpy(), agents["market_ids"].to_numpy()
    markets = np.unique(ids)
    # Per-market slices, by market id, built outside the timing.
    pieces = [(np.flatnonzero(ids == t), shares[ids == t], X2[ids == t], nodes[agent_ids == t],
               weights[agent_ids == t]) for t in markets]
    layout = rc.MarketLayout.build(ids, agent_ids)

    def per_market(method):
        def run():
            delta, iterations = np.empty(len(shares)), 0
            for rows, s, x2, z, w in pieces:
                r = rc.invert_shares(s, x2, SIGMA, z, w, method=method, tol=TOL)
                assert r.converged
                delta[rows] = r.delta
                iterations += r.iterations
            return delta, iterations
        return run

    def all_markets(method):
        def run():
            r = rc.invert_shares_markets(shares, X2, SIGMA, nodes, weights, ids, agent_ids, method=method,
                                         tol=TOL, layout=layout)
            assert r.converged.all()
            return r.delta, r.total_iterations
        return run

    problem = pyblp_rc_problem(products, agents)
    optimization = pyblp.Optimization("return", compute_gradient=False)
    iteration = pyblp.Iteration("squarem", {"atol": TOL})

    def run_pyblp(delta0=None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = problem.solve(sigma=np.diag(SIGMA), method="1s", optimization=optimization,
                                    iteration=iteration, delta=delta0)
        return results.delta.ravel(), int(np.sum(results.contraction_evaluations))

    t_pyblp, (delta_pyblp, it_pyblp) = best_time(run_pyblp, repeats)
    # The same solve started at the converged delta: the contraction stops almost at once, so
    # this is roughly the overhead of Problem.solve beyond the contraction.
    t_overhead, (_, it_overhead) = best_time(lambda: run_pyblp(delta_pyblp), repeats)
    rows = [("pyBLP 1.3 SQUAREM (Problem.solve)", t_pyblp, it_pyblp, 0.0)]
    for label, run in [
        ("course_lib SQUAREM, all markets", all_markets("squarem")),
        ("course_lib SQUAREM, market loop", per_market("squarem")),
        ("course_lib simple, all markets", all_markets("simple")),
        ("course_lib simple, market loop", per_market("simple")),
    ]:
        seconds, (delta, iterations) = best_time(run, repeats)
        rows.append((label, seconds, iterations, float(np.abs(delta - delta_pyblp).max())))

    print(f"BLP contraction, {len(shares)} products in {len(markets)} markets, {len(nodes) // len(markets)} draws "
          f"per market, sigma = {SIGMA.tolist()}, tol {TOL:g}, best of {repeats}")
    print(f"{'':<36}{'wall (s)':>10}{'/ pyBLP':>9}{'/ SQUAREM all':>15}{'iterations':>12}"
          f"{'max |d - d_pyBLP|':>19}")
    t_ref = rows[1][1]
    for label, seconds, iterations, gap in rows:
        print(f"{label:<36}{seconds:>10.4f}{seconds / t_pyblp:>9.3f}{seconds / t_ref:>15.2f}{iterations:>12d}"
              f"{gap:>19.1e}")
    print(f"pyBLP's Problem.solve started at its converged delta ({it_overhead} evaluations): {t_overhead:.4f} s, "
          f"so about {t_pyblp - t_overhead:.4f} s of its time is the contraction itself; "
          f"course_lib SQUAREM (all markets) / that: {rows[1][1] / max(t_pyblp - t_overhead, 1e-12):.3f}")
    print("iterations: contraction evaluations summed over markets. pyBLP's time includes beta, xi, the objective, "
          "the xi Jacobian and standard errors, not just the contraction.")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
