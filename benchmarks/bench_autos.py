"""Time the automobile application's two estimations in one run: the data-driven-nests
classification at K = 8 and pyBLP's random-coefficients (BLP 1995) estimation.

- Classification: ``course_lib.autos.choose_k.classify_k`` on the 82-model panel, K = 8, seed 0,
  the stored settings (30 starts, 6,000 children of the genetic search with exact single-product
  moves; ``course_lib.nests.search``), one process, one core.
- pyBLP: ``course_lib.pyblp_bridge.pyblp_autos_rc_solve`` on all 2,217 model-years, demand only
  (``--supply`` adds the supply side): BLP's 200 draws per market, two-step GMM, the course's
  optimizer (L-BFGS-B to gtol 1e-5, then two Newton steps), SQUAREM to 1e-14. The problem is
  built outside the timing.

Prints both wall times (one run each; ``repeats`` for the best of several) and their ratio.

Run:     .venv/bin/python benchmarks/bench_autos.py [repeats] [--supply]
"""

from __future__ import annotations

import sys
import warnings

from _timing import best_time
from course_lib import autos
from course_lib.autos.choose_k import classify_k, load_k_curve
from course_lib.pyblp_bridge import pyblp_autos_rc_problem, pyblp_autos_rc_solve


def main(repeats: int = 1, supply: bool = False) -> None:
    panel = autos.panel_sample()
    t_search, found = best_time(lambda: classify_k(panel, 8, seed=0), repeats)
    stored = load_k_curve().set_index("K").loc[8, "objective"]
    with warnings.catch_warnings():  # pyBLP notes that BLP's importance-sampling weights do not sum to 1
        warnings.simplefilter("ignore")
        problem = pyblp_autos_rc_problem(supply=supply)

    def run_pyblp():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pyblp_autos_rc_solve(supply=supply, problem=problem)

    t_pyblp, results = best_time(run_pyblp, repeats)
    print(f"classification, K = 8 (nests.search, {len(found.classification.objectives)} local searches): "
          f"{t_search:.1f} s, objective {found.classification.objective:.8g} (stored {stored:.8g})")
    print(f"pyBLP random coefficients ({'demand and supply' if supply else 'demand only'}, "
          f"{results.optimization_iterations} optimizer iterations): {t_pyblp:.1f} s, "
          f"GMM objective {float(results.objective.squeeze()):.6g}")
    print(f"ratio classification / pyBLP: {t_search / t_pyblp:.2f}")


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(arguments[0]) if arguments else 1, supply="--supply" in sys.argv)
