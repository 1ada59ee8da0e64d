"""Classify many small data sets one by one or stacked: nests.classify vs nests.classify_many.

For the Monte Carlo's cells with few product-market pairs, times the classification of R
replications' panels (K = 3, 10 starts, the slides' exogenous design) by a loop of
``classify`` calls and by one ``classify_many`` call on the same panels and seeds, checks
that both give the same labels (and objectives to rounding), and prints the time per data set and the
ratio. One process, one core; best of three runs.

Run:     .venv/bin/python benchmarks/bench_classify_many.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from _timing import best_time
from course_lib import monte_carlo
from course_lib.nests import classify, classify_many, simulate_nested_logit

# J, M, data sets per stack: the stacked cells of course_lib.monte_carlo and two that are not.
CELLS = [(100, 10, 25), (100, 50, 25), (100, 100, 25), (500, 10, 25), (1000, 10, 25), (500, 100, 10)]


def main() -> None:
    rows = []
    for J, M, R in CELLS:
        data = [simulate_nested_logit(J, M, seed=monte_carlo.replication_seed(False, J, M, r)).columns for r in range(R)]
        alone = [classify(d, 3, n_starts=10, seed=r) for r, d in enumerate(data)]
        stacked = classify_many(data, 3, n_starts=10, seeds=range(R))
        assert all(a.labels.equals(s.labels) and a.best_start == s.best_start
                   and np.isclose(a.objective, s.objective, rtol=1e-12, atol=0)
                   for a, s in zip(alone, stacked))
        loop, _ = best_time(lambda: [classify(d, 3, n_starts=10, seed=r) for r, d in enumerate(data)], 3)
        many, _ = best_time(lambda: classify_many(data, 3, n_starts=10, seeds=range(R)), 3)
        rows.append({"J": J, "M": M, "data sets": R, "classify (ms each)": 1e3 * loop / R,
                     "classify_many (ms each)": 1e3 * many / R, "ratio": loop / many})
    print(pd.DataFrame(rows).to_string(index=False, float_format="{:.2f}".format))


if __name__ == "__main__":
    main()
