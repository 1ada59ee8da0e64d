"""Time the slides' Monte Carlo tables (data-driven nests) and compare with the slides' runtimes.

Runs every cell of both tables (exogenous and endogenous prices; J in {100, 500, 1000} x
M in {10, 50, 100}; 50 replications each; K = 3; course_lib.monte_carlo's replications:
simulation, classification with 10 starts, Berry's second step, matching with the truth; in
small cells a worker classifies its replications together, nests.classify_many) and prints,
per cell, our wall time, the slides' reported runtime and their ratio.

The slides' runtime (mm:ss) is read as the total for the cell's 50 replications: the
conservative reading (were it per replication, every ratio would be 50 times larger). The
slides do not say on what machine they ran. Ours: this machine, ``--n-jobs`` worker
processes (default: all cores), workers started before the clock; ``1-core ratio`` divides by
the sum of the replications' own wall times instead, i.e. what one core alone would need.

Run:     .venv/bin/python benchmarks/bench_nests_monte_carlo.py [--n-jobs N] [--stored]
``--stored`` prints the ratios of the runtimes recorded in data/results/ (written by
``python -m course_lib.monte_carlo``) instead of running the cells again.
"""

from __future__ import annotations

import argparse
import os

import pandas as pd

from course_lib import monte_carlo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count())
    parser.add_argument("--stored", action="store_true", help="use the runtimes stored in data/results/")
    args = parser.parse_args()
    slides = monte_carlo.load_slides_tables().set_index(["table", "J", "M"])
    total = 0.0
    for endogenous in (False, True):
        design = "endogenous" if endogenous else "exogenous"
        if args.stored:
            table, _ = monte_carlo.load_results(endogenous)
        else:
            table, _ = monte_carlo.run_table(endogenous, n_jobs=args.n_jobs, progress=False)
        total += table["seconds"].sum()
        rows = []
        for _, cell in table.iterrows():
            slide = slides.loc[(design, cell["J"], cell["M"])]
            rows.append({
                "J": int(cell["J"]), "M": int(cell["M"]),
                "ours (s)": round(cell["seconds"], 2),
                "slides": slide["runtime"],
                "ratio": round(slide["runtime_s"] / cell["seconds"], 1),
                "1-core ratio": round(slide["runtime_s"] / cell["replication_seconds"], 1),
                "matched (ours, slides)": f"{cell['matched']:.3f}, {slide['matched']:.3f}",
            })
        print(f"\n{design} prices ({'stored' if args.stored else f'{args.n_jobs} workers'}):")
        print(pd.DataFrame(rows).to_string(index=False))
        print(f"smallest ratio: {min(r['ratio'] for r in rows)}; "
              f"table total: ours {table['seconds'].sum():.1f} s, slides "
              f"{slides.loc[design]['runtime_s'].sum()} s")
    print(f"\nboth tables: {total:.1f} s ({total / 60:.2f} min)")


if __name__ == "__main__":
    main()
