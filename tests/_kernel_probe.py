"""Print, as JSON, the results that must not depend on the BLAS/SIMD kernel (tests/test_kernels.py).

Run by tests/test_kernels.py once per kernel, in a fresh process whose environment selects the
kernel. Every entry is something the book prints or a test asserts, in the form the book prints it:
search paths and counts exactly, estimates to eight significant digits.
"""

from __future__ import annotations

import json
import warnings

import numpy as np


def main() -> dict:
    from course_lib import data, gmm, logit, simulate, supply
    from course_lib import rc_logit as rc

    warnings.simplefilter("ignore")
    out = {}
    # Two-step GMM (chapters 11-12): the search path and the estimates.
    results = gmm.motorcycle_problem().solve([0.5, 0.5], method="2s", hessian=False)
    for name, r in (("step 1", results.first_step), ("step 2", results)):
        out[f"gmm {name}"] = {"iterations": r.optimizer_iterations, "evaluations": r.objective_evaluations,
                              "newton steps": r.newton_steps, "converged": bool(r.converged),
                              "sigma": [f"{v:.8g}" for v in r.sigma], "objective": f"{r.objective:.8g}"}
    # Bertrand-Nash prices in market 17 (chapter 6): the three solvers' counts.
    products = data.load_motorcycles()
    m17 = data.market(products, 17)
    X = np.column_stack([np.ones(len(m17)), m17[["EngineSize", "SportsBike", "Brand2", "Brand3"]]])
    xi = np.random.default_rng(17).standard_normal(len(m17))
    beta = np.array([1.0, 1.0, 2.0, -1.0, 1.0])

    def demand(p):
        return logit.logit_price_derivatives(logit.logit_shares(-3.0 * p + X @ beta + xi), -3.0)

    costs, firms = np.zeros(len(m17)), m17["firm_ids"].to_numpy()
    out["pricing iterations"] = {
        method: supply.bertrand_nash_prices(demand, costs, firms, method=method, **options).iterations
        for method, options in (("zeta", {}), ("newton", {}), ("fixed_point", {"damping": 0.5}))}
    # The contraction in the hard market of chapter 8 (s0 = 4e-4), above its rounding floor.
    agents, truth = data.load_motorcycle_agents(), data.load_motorcycle_truth()
    X17 = m17[["prices", "EngineSize"]].to_numpy()
    draws = data.market(agents, 17)
    nodes, weights = draws[["nodes0", "nodes1"]].to_numpy(), draws["weights"].to_numpy()
    delta = data.market(truth, 17)["delta"].to_numpy() + 6.0
    shares = rc.s_hat(delta, X17, np.array([0.5, 1.0]), nodes, weights)
    out["hard market evaluations"] = {
        method: rc.invert_shares(shares, X17, [0.5, 1.0], nodes, weights, method=method, tol=1e-12,
                                 max_iterations=100_000).iterations for method in ("simple", "squarem")}
    # Data-driven nests (chapters 16-19): Monte Carlo replications of the smallest endogenous cell,
    # whose classifications (labels, best starts, matched shares) and estimates the stored tables hold.
    from course_lib import monte_carlo

    replications, _ = monte_carlo.run_cell(100, 10, True, replications=10, n_jobs=1, progress=False)
    values = replications.drop(columns=[c for c in replications if c == "seconds" or "time" in c])
    out["monte carlo (100, 10, endogenous)"] = {
        column: [f"{v:.{monte_carlo.STORED_DIGITS}g}" for v in values[column]] for column in values}
    # The data regenerate to the stated tolerance.
    out["data regenerate"] = max(simulate.check_regeneration().values()) <= simulate.REGENERATION_RTOL
    return out


if __name__ == "__main__":
    print(json.dumps(main(), sort_keys=True))
