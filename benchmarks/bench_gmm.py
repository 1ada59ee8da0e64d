"""Time full-sample two-step GMM of the RC logit: course_lib against pyBLP, in one process,
on the identical problem (same products, agent nodes and weights, instruments, starting
values sigma0 = (0.5, 0.5), contraction SQUAREM with atol 1e-14, the same optimizer: course_lib's
L-BFGS-B to gtol 1e-5 then two Newton steps, handed to pyBLP as a custom optimization routine, and
the finite-difference Hessian computed in each step as pyBLP does by default).
Problems are built outside the timing (pyBLP's Problem once; course_lib's BLPProblem once).
Prints wall times, the ratio, and the largest relative differences in estimates, standard
errors and objective.

Run:     .venv/bin/python benchmarks/bench_gmm.py [repeats]
Profile: .venv/bin/python benchmarks/bench_gmm.py --profile
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from course_lib import data, gmm
from course_lib.pyblp_bridge import pyblp_rc_problem, pyblp_rc_solve
from _timing import best_time

SIGMA0 = np.array([0.5, 0.5])


def main(repeats: int = 3) -> None:
    products, agents = data.load_motorcycles(), data.load_motorcycle_agents()
    ours_problem = gmm.BLPProblem(products, agents)
    theirs_problem = pyblp_rc_problem(products, agents)

    def run_pyblp():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pyblp_rc_solve(products, agents, SIGMA0, method="2s", problem=theirs_problem)

    t_pyblp, theirs = best_time(run_pyblp, repeats)
    t_ours, ours = best_time(lambda: ours_problem.solve(SIGMA0, method="2s"), repeats)

    their_params = np.r_[theirs.sigma.diagonal(), theirs.beta.ravel()]
    their_se = np.r_[theirs.sigma_se.diagonal(), theirs.beta_se.ravel()]
    rel = lambda a, b: float(np.max(np.abs(a - b) / np.abs(b)))  # noqa: E731

    print(f"two-step GMM, {ours_problem.N} products in {ours_problem.layout.T} markets, "
          f"{len(agents) // ours_problem.layout.T} draws per market, best of {repeats}")
    print(f"{'':<12}{'wall (s)':>10}{'objective':>22}{'sigma[prices]':>16}{'sigma[EngineSize]':>19}"
          f"{'objective evals (1s, 2s)':>26}")
    print(f"{'pyBLP 1.3':<12}{t_pyblp:>10.3f}{float(theirs.objective):>22.15f}{their_params[0]:>16.9f}"
          f"{their_params[1]:>19.9f}{'':>16}{theirs.last_results.objective_evaluations - 1:>4d},"
          f"{theirs.objective_evaluations - 1:>4d}")
    print(f"{'course_lib':<12}{t_ours:>10.3f}{ours.objective:>22.15f}{ours.sigma[0]:>16.9f}"
          f"{ours.sigma[1]:>19.9f}{'':>16}{ours.first_step.objective_evaluations:>4d},"
          f"{ours.objective_evaluations:>4d}")
    print(f"ratio course_lib / pyBLP wall time: {t_ours / t_pyblp:.3f}  (pyBLP / course_lib: {t_pyblp / t_ours:.1f}x)")
    print(f"largest relative difference: estimates {rel(ours.parameters, their_params):.2e}, "
          f"standard errors {rel(ours.se, their_se):.2e}, objective "
          f"{abs(ours.objective - float(theirs.objective)) / float(theirs.objective):.2e}")
    print(f"projected gradient norm: course_lib {ours.gradient_norm:.2e}, pyBLP "
          f"{float(np.max(np.abs(theirs.projected_gradient))):.2e}; Hessian eigenvalues course_lib "
          f"{np.array2string(ours.hessian_eigenvalues, precision=6)}, pyBLP "
          f"{np.array2string(np.linalg.eigvalsh(theirs.hessian), precision=6)}")
    print("objective evals: the optimizer's (Newton phase included), pyBLP's count less its final re-evaluation")
    print(f"contraction evaluations (all markets, both steps, Hessians included): course_lib "
          f"{ours.cumulative_inner_iterations}")
    print()
    print(ours.table().assign(**{"pyBLP estimate": their_params, "pyBLP std. error": their_se}).to_string())


def profile() -> None:
    """cProfile of course_lib's two-step GMM: the ten largest own-time entries."""
    import cProfile
    import pstats

    problem = gmm.motorcycle_problem()
    profiler = cProfile.Profile()
    profiler.enable()
    problem.solve(SIGMA0, method="2s")
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(10)


if __name__ == "__main__":
    if "--profile" in sys.argv[1:]:
        profile()
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
