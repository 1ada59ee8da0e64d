r"""The slides' Monte Carlo of the two-step data-driven-nests estimator.

Each replication draws a panel from :func:`course_lib.nests.simulate_nested_logit` (the
slides' design, or our endogenous-price design), runs :func:`course_lib.nests.two_step`
with K = 3, and records the matched share and the estimates of
:math:`(\beta_p, \beta_x, \sigma_1, \sigma_2, \sigma_3)`, each :math:`\hat\sigma` reported
for the true nest its estimated group is matched to (:func:`course_lib.nests.best_relabelling`).
A cell is 50 replications at one (J, M); a table is the nine cells
:math:`J \in \{100, 500, 1000\} \times M \in \{10, 50, 100\}`.

Replications run in parallel through joblib (``n_jobs`` local processes by default). Any
joblib backend works, among them Dask's: start a ``dask.distributed.Client`` and pass
``backend="dask"`` (or ``--dask-scheduler ADDRESS`` on the command line) to spread the
replications over a cluster. Every replication has its own seed, derived from
(design, J, M, replication), so results do not depend on the backend, the number of
workers or the order in which replications finish.

Run ``python -m course_lib.monte_carlo`` to write both tables to ``data/results/``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .data import RESULTS_DIR
from .nests import classify, classify_many, match, simulate_nested_logit, two_step, two_step_many

__all__ = [
    "J_VALUES",
    "M_VALUES",
    "ESTIMATES",
    "RESULTS_DIR",
    "STORED_DIGITS",
    "replication",
    "run_replications",
    "run_cell",
    "summarize",
    "run_table",
    "load_slides_tables",
    "load_results",
]

J_VALUES = (100, 500, 1000)
M_VALUES = (10, 50, 100)
#: The slides' parameters, in the slides' column order, with their true values.
ESTIMATES = {"beta_p": -1.0, "beta_x": 1.0, "sigma_1": 0.2, "sigma_2": 0.3, "sigma_3": 0.6}
_DESIGN_SEED = 20240501  # the root of every replication's seed
N_STARTS = 10  # starting values of the classification in every replication
#: Significant digits of the stored tables. The classifications are the same on every machine
#: (:data:`course_lib.nests.TIE_RTOL`), but the estimates carry the rounding of the machine's
#: BLAS and SIMD kernels in their last digits: across OpenBLAS's SkylakeX, Haswell and
#: Sandybridge kernels and NumPy with and without AVX-512 we measured relative differences of
#: at most 2e-13 in the replications and 5e-12 in the tables' standard deviations. Eight
#: digits (a relative step of 1e-8 to 1e-7) are far above that, so the stored files are the
#: same on every machine but for the seconds, and far below what the chapters print.
STORED_DIGITS = 8


def replication_seed(endogenous: bool, J: int, M: int, r: int) -> list:
    """The seed sequence of replication r of cell (J, M) of one design."""
    return [_DESIGN_SEED, int(endogenous), int(J), int(M), int(r)]


def replication(J: int, M: int, r: int, endogenous: bool = False, n_starts: int = N_STARTS,
                **design) -> dict:
    r"""One replication: simulate, classify, estimate, compare with the truth.

    The exogenous design classifies on (p, x) and treats prices as exogenous in step 2;
    the endogenous design classifies on (z, x) and instruments the price with z in step 2
    (:func:`course_lib.nests.two_step`). The within-nest shares are instrumented by the
    slides' :math:`-\log \sum_{d \ne j, d \in \hat B_k} e^{x_{dm}}` in both. Keyword
    arguments in ``design`` (e.g. ``sigma``, ``instrument_strength``) go to
    :func:`course_lib.nests.simulate_nested_logit`, for experiments beyond the slides' design.

    A replication whose estimated nests leave step 2 unidentified (a group that never has
    two products in one market; possible with very few starts or markets) is recorded with
    NaN estimates rather than stopping the whole cell.

    Returns
    -------
    dict
        ``replication``, ``matched`` (share of products in their true nest under the best
        relabelling), the estimates ``beta_p, beta_x, sigma_1, sigma_2, sigma_3`` (sigma of
        the true nests 1, 2, 3, i.e. of sigma = 0.2, 0.3, 0.6) and ``seconds``, the
        replication's own wall time (simulation included); ``beta_p_se``, the step-2
        standard error of ``beta_p``.
    """
    start = time.perf_counter()
    options = _options(endogenous)
    sim = simulate_nested_logit(J, M, seed=replication_seed(endogenous, J, M, r), endogenous=endogenous, **design)
    K = len(sim.sigma)
    classification = classify(sim.columns, K, n_starts=n_starts, seed=r,
                              regressors=options.get("regressors", ("prices", "x")))
    row = compare_with_truth(r, sim, classification, _two_step_or_none(sim.columns, K, classification, options))
    row["seconds"] = time.perf_counter() - start
    return row


def _options(endogenous: bool) -> dict:
    """The two-step options of a design (see :func:`replication`)."""
    return (dict(exogenous_prices=False, price_instruments=("z",), regressors=("z", "x"))
            if endogenous else {})


#: Replications whose panels :func:`run_replications` classifies at once, in cells with at
#: most :data:`STACK_MAX_PAIRS` product-market pairs. Stacking shares numpy's per-call cost
#: among small problems (``benchmarks/bench_classify_many.py``: faster at J = 100 and at
#: J = 500, M = 10); with larger panels the arrays outgrow the cache and it no longer pays
#: (no faster at J = 1000, M = 10, slower with two workers; slower at J = 500, M = 100).
STACK_SIZE = 25
STACK_MAX_PAIRS = 5_000


def _per_stack(J: int, M: int) -> int:
    return STACK_SIZE if J * M <= STACK_MAX_PAIRS else 1


def run_replications(J: int, M: int, rs, endogenous: bool = False, n_starts: int = N_STARTS,
                 **design) -> list:
    """The replications ``rs`` of one cell, each as :func:`replication` returns it (the Monte Carlo's fast path).

    The replications are only computed together: in cells with few products their
    classifications run in stacks of :data:`STACK_SIZE` (:func:`course_lib.nests.classify_many`,
    which gives each data set the classification :func:`course_lib.nests.classify` gives it alone),
    so that small cells pay numpy's per-call overhead once per stack, not once per
    replication; the second steps of all of ``rs`` run as one stack
    (:func:`course_lib.nests.two_step_many`). A replication's ``seconds`` is an even share
    of its stack's simulation and classification time plus an even share of the second
    steps' time.
    """
    rs = [int(r) for r in rs]
    options = _options(endogenous)
    sims, classifications, seconds = [], [], []
    per_stack = _per_stack(J, M)
    for first in range(0, len(rs), per_stack):  # stacks of replications
        stack = rs[first:first + per_stack]
        start = time.perf_counter()
        drawn = [simulate_nested_logit(J, M, seed=replication_seed(endogenous, J, M, r), endogenous=endogenous, **design)
                 for r in stack]
        classifications += classify_many([sim.columns for sim in drawn], len(drawn[0].sigma), n_starts=n_starts,
                                         seeds=stack, regressors=options.get("regressors", ("prices", "x")))
        sims += drawn
        seconds += [(time.perf_counter() - start) / len(stack)] * len(stack)
    start = time.perf_counter()
    rows = second_steps(rs, sims, classifications, options)
    shared = (time.perf_counter() - start) / len(rs)
    for row, own in zip(rows, seconds):
        row["seconds"] = own + shared
    return rows


def second_steps(rs: list, sims: list, classifications: list, options: dict) -> list:
    """Step 2 of the replications ``rs`` (all at once), and the comparison with the truth."""
    K = classifications[0].K
    try:
        fits = two_step_many([sim.columns for sim in sims], K, classifications, **options)
    except ValueError as error:  # a replication whose nests leave step 2 unidentified: find it
        if "never has two products" not in str(error):
            raise
        fits = [_two_step_or_none(sim.columns, K, classification, options)
                for sim, classification in zip(sims, classifications)]
    return [compare_with_truth(r, sim, classification, fit)
            for r, sim, classification, fit in zip(rs, sims, classifications, fits)]  # replications


def compare_with_truth(r: int, sim, classification, fit) -> dict:
    """A replication's row: the share of products in their true nest under the best relabelling,
    and the estimates with sigma by true nest (NaN where step 2 was not identified, ``fit`` None)."""
    K = classification.K
    # The design's product ids are the positions 0, ..., J - 1 in nest_of.
    share, to_true = match(classification.group_of, sim.nest_of[classification.product_ids])
    sigma = np.full(K, np.nan)  # by true nest; NaN if a true nest got no estimated group
    if fit is None:
        beta_p = beta_x = beta_p_se = np.nan
    else:
        # From the arrays rather than the pandas Series (costlier than the regression here).
        estimates = fit.estimates.iv.coefficients
        for group, value in zip(fit.estimates.nests, 1.0 - estimates[-K:]):
            if group in to_true:
                sigma[to_true[group]] = value
        beta_p, beta_p_se = fit.estimates.alpha, fit.estimates.alpha_se
        beta_x = float(estimates[fit.estimates.iv.names.index("x")])
    return {
        "replication": int(r),
        "matched": share,
        "beta_p": beta_p,
        "beta_x": beta_x,
        **{f"sigma_{k + 1}": sigma[k] for k in range(K)},
        "beta_p_se": beta_p_se,
    }


def _two_step_or_none(data, K: int, classification, options: dict):
    """Step 2 of one replication, or None where its estimated nests leave it unidentified."""
    try:
        return two_step(data, K, classification=classification, **options)
    except ValueError as error:
        if "never has two products" not in str(error):
            raise
        return None


def run_cell(
    J: int,
    M: int,
    endogenous: bool = False,
    replications: int = 50,
    n_jobs: int | None = None,
    backend: str | None = None,
    progress: bool = True,
    n_starts: int = N_STARTS,
) -> tuple[pd.DataFrame, float]:
    """Run one cell's replications in parallel.

    Parameters
    ----------
    J, M : int
        Products and markets.
    endogenous : bool
        Our endogenous-price design instead of the slides' exogenous one.
    replications : int
        Number of replications (50 in the slides).
    n_jobs : int, optional
        Parallel workers (default: the number of CPU cores); 1 runs in this process.
    backend : str, optional
        A joblib backend, e.g. ``"dask"`` with a ``dask.distributed.Client`` running.
    progress : bool
        Show a progress bar (tqdm) over replications.
    n_starts : int
        Starting values of each classification.

    Returns
    -------
    reps : pandas.DataFrame
        One row per replication (see :func:`replication`).
    seconds : float
        Wall time of the whole cell.
    """
    from joblib import Parallel, delayed, parallel_config

    if progress:
        from tqdm.auto import tqdm
    else:  # the plain class: disabled, and no notebook-widget warning from tqdm.auto
        from tqdm.std import tqdm

    n_jobs = os.cpu_count() if n_jobs is None else int(n_jobs)
    label = f"{'endogenous' if endogenous else 'exogenous'} J={J} M={M}"
    # Batches of replications, one task each, of equal sizes (to within one) for a balanced
    # load: four per worker, or where replications are stacked (see run_replications) as
    # few as fill every worker with stacks.
    per_stack = _per_stack(J, M)
    if per_stack > 1:
        n_batches = n_jobs * -(-replications // (n_jobs * per_stack))
    else:
        n_batches = 4 * n_jobs
    batches = [b.tolist() for b in np.array_split(np.arange(replications), min(n_batches, replications))]
    start = time.perf_counter()
    serial = n_jobs == 1 and backend is None
    rows = []
    with (tqdm(total=replications, desc=label, disable=not progress, leave=False) as bar,
          parallel_config(backend=backend) if backend else parallel_config()):
        if serial:
            tasks = (run_replications(J, M, rs, endogenous, n_starts) for rs in batches)
        else:
            tasks = Parallel(n_jobs=n_jobs, return_as="generator")(
                delayed(run_replications)(J, M, rs, endogenous, n_starts) for rs in batches
            )
        for batch in tasks:
            rows += batch
            bar.update(len(batch))
    seconds = time.perf_counter() - start
    return pd.DataFrame(rows), seconds


def summarize(reps: pd.DataFrame) -> pd.Series:
    """A cell's row of the slides' table: mean matched share, mean and sd of each estimate.

    Standard deviations are across replications with ``ddof=1``; a sigma that is NaN in a
    replication (its true nest matched no estimated group) is left out of that sigma's
    mean and sd, and ``unmatched_nests`` counts such cases.
    """
    out = {"matched": reps["matched"].mean()}
    for name in ESTIMATES:
        out[f"mean_{name}"] = reps[name].mean()
    for name in ESTIMATES:
        out[f"sd_{name}"] = reps[name].std(ddof=1)
    out["unmatched_nests"] = int(reps[[f"sigma_{k}" for k in (1, 2, 3)]].isna().to_numpy().sum())
    return pd.Series(out)


def run_table(
    endogenous: bool = False,
    J_values=J_VALUES,
    M_values=M_VALUES,
    replications: int = 50,
    n_jobs: int | None = None,
    backend: str | None = None,
    progress: bool = True,
    n_starts: int = N_STARTS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All cells of one table.

    With parallel workers, the smallest cell runs twice first, untimed, so that no cell's
    wall time includes starting the workers or their first garbage collection.

    Returns
    -------
    table : pandas.DataFrame
        One row per cell: ``J, M, replications, seconds`` (the cell's wall time with
        ``n_jobs`` workers), ``replication_seconds`` (the sum of the replications' own wall
        times, about what one core would need) and :func:`summarize`'s columns.
    reps : pandas.DataFrame
        Every replication, with its cell's ``J`` and ``M``.
    """
    rows, all_reps = [], []
    if n_jobs != 1 or backend is not None:
        # Start the workers (and their imports) before the first cell's clock starts: the
        # smallest cell, untimed, twice. A loky worker collects garbage after its first
        # task (about 35 ms here, pandas and scipy loaded), which would delay the next
        # cell's start; the second run absorbs it. (Without psutil, loky collects after a
        # task every second instead: requirements.txt installs it.)
        for _ in range(2):
            run_cell(min(J_values), min(M_values), endogenous, min(replications, 50), n_jobs, backend,
                     progress=False, n_starts=n_starts)
    for J in J_values:
        for M in M_values:
            reps, seconds = run_cell(J, M, endogenous, replications, n_jobs, backend, progress, n_starts)
            rows.append(pd.concat([
                pd.Series({"J": J, "M": M, "replications": replications, "seconds": seconds,
                           "replication_seconds": reps["seconds"].sum()}),
                summarize(reps),
            ]))
            all_reps.append(reps.assign(J=J, M=M))
    table = pd.DataFrame(rows)
    for column in ("J", "M", "replications", "unmatched_nests"):
        table[column] = table[column].astype(int)
    reps = pd.concat(all_reps, ignore_index=True)
    return table, reps[["J", "M", *[c for c in reps.columns if c not in ("J", "M")]]]


def _results_path(design: str, kind: str, directory=None) -> Path:
    return Path(directory or RESULTS_DIR) / f"nests_mc_{design}_{kind}.csv"


def load_results(endogenous: bool = False, directory=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stored table and replications of one design (written by ``python -m course_lib.monte_carlo``)."""
    design = "endogenous" if endogenous else "exogenous"
    return (pd.read_csv(_results_path(design, "table", directory)),
            pd.read_csv(_results_path(design, "replications", directory)))


def load_slides_tables() -> pd.DataFrame:
    """The slides' two tables as published (``data/results/slides_tables.csv``), runtimes in seconds.

    ``runtime`` is the slides' mm:ss; ``runtime_s`` its value in seconds, read as the total
    for the cell's 50 replications (the conservative reading when comparing speeds).
    """
    slides = pd.read_csv(RESULTS_DIR / "slides_tables.csv", dtype={"runtime": str})
    minutes_seconds = slides["runtime"].str.split(":", expand=True).astype(int)
    slides.insert(4, "runtime_s", 60 * minutes_seconds[0] + minutes_seconds[1])
    return slides


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", nargs="?", default=str(RESULTS_DIR), help="where to write the CSV files")
    parser.add_argument("--design", choices=("exogenous", "endogenous", "both"), default="both")
    parser.add_argument("--replications", type=int, default=50)
    parser.add_argument("--n-jobs", type=int, default=None, help="local workers (default: all cores)")
    parser.add_argument("--dask-scheduler", default=None,
                        help="address of a running Dask scheduler, e.g. tcp://10.0.0.1:8786 (joblib's dask backend)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    backend = None
    if args.dask_scheduler:
        from dask.distributed import Client

        Client(args.dask_scheduler)  # joblib's dask backend uses the current client
        backend = "dask"
    designs = {"exogenous": [False], "endogenous": [True], "both": [False, True]}[args.design]
    Path(args.directory).mkdir(parents=True, exist_ok=True)
    for endogenous in designs:
        design = "endogenous" if endogenous else "exogenous"
        table, reps = run_table(endogenous, replications=args.replications, n_jobs=args.n_jobs,
                                backend=backend, progress=not args.no_progress)
        table.to_csv(_results_path(design, "table", args.directory), index=False,
                     float_format=f"%.{STORED_DIGITS}g")
        reps.to_csv(_results_path(design, "replications", args.directory), index=False,
                    float_format=f"%.{STORED_DIGITS}g")
        print(f"{design}: {table['seconds'].sum():.1f} s for {len(table)} cells")
        print(table.drop(columns=["replications"]).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
