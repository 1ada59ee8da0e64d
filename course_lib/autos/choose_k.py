r"""Choosing the number of nests on the automobile panel: the K curve, the elbow and cross-validation.

Run ``python -m course_lib.autos.choose_k data/results`` to classify the 82-model panel
(:func:`course_lib.autos.panel_sample`) into K = 1, ..., 12 groups by
:func:`course_lib.nests.search` and write

- ``autos_k_curve.csv``: per K, the best objective, how the searches found it, the elbow
  criteria, the cross-validated error and the second step's sigmas;
- ``autos_groups.csv``: per K, every model's group (groups in canonical order).

The classification regressors are the slides' endogenous-price extension: the first-stage
fitted price ``price_hat`` (Gandhi-Houde instruments, as the authors' ddnests code) and the
four characteristics, :data:`REGRESSORS`. Each K is searched from :data:`SEEDS` (two
independent searches); the tables keep the better. :func:`load_k_curve` and
:func:`load_groups` read the stored files.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..nested_logit import berry_regression, nest_instruments
from ..nests import TIE_RTOL, one_standard_error_rule, search
from ..nests.panel import build_panel
from ..nests.steps import fit_groups
from ..nests.ties import onehot
from .instruments import SLIDES_CHARACTERISTICS, instrument_columns
from .panel import panel_sample
from .statistics import RESULTS_DIR

__all__ = [
    "REGRESSORS",
    "K_VALUES",
    "SEEDS",
    "SEARCH_OPTIONS",
    "N_FOLDS",
    "STORED_DIGITS",
    "generations",
    "classify_k",
    "market_folds",
    "cross_validate_markets",
    "second_step_design",
    "second_step",
    "second_step_sigmas",
    "elbow_chord",
    "elbow_second_difference",
    "run_search",
    "k_curve",
    "chosen_k",
    "write_results",
    "load_k_curve",
    "load_groups",
]

#: Classification regressors: the first-stage price (its slope orders the groups) and the characteristics.
REGRESSORS = ("price_hat", *SLIDES_CHARACTERISTICS)
K_VALUES = tuple(range(1, 13))
#: Two independent searches per K; "runs_at_best" says how many reached the best objective.
SEEDS = (0, 1)
#: Options of :func:`course_lib.nests.search` (the generations grow with K: :func:`generations`).
SEARCH_OPTIONS = {"n_starts": 30, "patience": 300, "min_size": 2}
#: Cross-validation: folds of markets (years), as ddnests (10 folds, seeded shuffle).
N_FOLDS = 10
FOLD_SEED = 0
#: Significant digits of the stored numbers.
STORED_DIGITS = 8
CURVE_FILE, GROUPS_FILE = "autos_k_curve.csv", "autos_groups.csv"


def generations(K: int) -> int:
    """Children bred by the search for K groups, ``750 K``: the larger K, the rougher Q (at K = 10
    one of the two seeds first reaches the best objective after 6,860 local searches)."""
    return 750 * int(K)


def classify_k(data: pd.DataFrame, K: int, seed: int, **options):
    """One search (:func:`course_lib.nests.search`) of the panel with the stored settings
    (:data:`SEARCH_OPTIONS`, :func:`generations`); ``options`` override them."""
    settings = {**SEARCH_OPTIONS, "generations": generations(K), **options}
    return search(data, K, seed=seed, regressors=REGRESSORS, **settings)


def market_folds(market_ids, n_folds: int = N_FOLDS, seed: int = FOLD_SEED) -> pd.Series:
    """Each market's fold: the sorted markets in a seeded random order, cut into ``n_folds``
    nearly equal runs (20 years, 10 folds: two years each)."""
    markets = np.unique(np.asarray(market_ids))
    order = np.random.default_rng(seed).permutation(len(markets))
    folds = np.empty(len(markets), dtype=int)
    folds[order] = np.arange(len(markets)) * n_folds // len(markets)
    return pd.Series(folds, index=pd.Index(markets, name="market_ids"), name="fold")


def cross_validate_markets(data: pd.DataFrame, labels: pd.Series, n_folds: int = N_FOLDS,
                           seed: int = FOLD_SEED) -> np.ndarray:
    r"""Out-of-sample error of a classification over held-out markets, one MSE per fold.

    For fold f, the groups' slopes :math:`\hat\beta^k_{-f}` are refitted
    (:func:`course_lib.nests.steps.fit_groups`, groups fixed at ``labels``) on the other
    folds' markets. A held-out market's intercepts :math:`\lambda^k_m` cannot come from
    other markets (they are free year-by-group effects, :math:`(\sigma_k - 1)\log IV^k_m`),
    so each held-out product's comes from its peers: with :math:`r_{jm} = y_{jm} -
    \hat\beta^{k(j)\prime}_{-f} w_{jm}`,

    .. math::
        \hat y_{jm} = \hat\beta^{k(j)\prime}_{-f} w_{jm} + \operatorname{mean}\{r_{im}: i \ne j,\ k(i) = k(j)\},

    the leave-one-out mean over the other products of its group in the market, or, where it
    is alone in its group there, over all other products of the market. The fold's MSE is
    the mean of :math:`(y_{jm} - \hat y_{jm})^2` over its markets' observations. No
    :math:`y_{jm}` predicts itself; more groups mean fewer, closer peers.
    """
    panel = build_panel(data, REGRESSORS)
    codes = pd.Index(panel.product_ids).get_indexer(labels.index)
    groups = np.empty(len(panel.product_ids), dtype=int)
    groups[codes] = labels.to_numpy()
    K = int(groups.max()) + 1
    fold = market_folds(panel.market_ids, n_folds, seed).to_numpy()
    mse = np.zeros(n_folds)
    for f in range(n_folds):  # folds, never products or markets
        train = panel.observed * (fold != f)[None]
        beta, _ = fit_groups(dataclasses.replace(panel, observed=train, y=panel.y * train, w=panel.w * train),
                             groups, K)
        test = panel.observed * (fold == f)[None]
        r = (panel.y - np.einsum("jq,qjm->jm", beta[groups], panel.w)) * test  # (J, M)
        members = onehot(groups, K)  # (J, K)
        cell_n = (members.T @ test)[groups] - test  # peers of j in its group and market
        cell_sum = (members.T @ r)[groups] - r
        market_n, market_sum = test.sum(axis=0) - test, r.sum(axis=0) - r
        peers = np.where(cell_n > 0, cell_sum / np.maximum(cell_n, 1), market_sum / np.maximum(market_n, 1))
        mse[f] = ((r - peers) ** 2 * test).sum() / test.sum()
    return mse


def second_step_design(data: pd.DataFrame, nest_ids) -> tuple[np.ndarray, np.ndarray, list]:
    """The second step's exogenous regressors and excluded instruments for the nests ``nest_ids``.

    Returns X (the four characteristics, then year effects), Z (the slides' nest instruments of
    the characteristics, interacted with the nests, then the differentiation instruments for
    the price, :func:`~course_lib.autos.instrument_columns`) and the names of X's columns.
    """
    characteristics = list(SLIDES_CHARACTERISTICS)
    X_char = data[characteristics].to_numpy(float)
    years = pd.get_dummies(data["market_ids"], prefix="year", drop_first=True, dtype=float)
    nest_z = nest_instruments(X_char, nest_ids, data["market_ids"])[0]
    Z = np.column_stack([nest_z, data[instrument_columns("gh")].to_numpy(float)])
    return np.column_stack([X_char, years.to_numpy()]), Z, characteristics + list(years.columns)


def second_step(data: pd.DataFrame, labels: pd.Series):
    r"""Berry's regression with the groups ``labels`` as nests: the second step on the panel.

    :func:`course_lib.nested_logit.berry_regression` of :math:`\log(s_{jt}/s_{0t})` on hdm's
    price, the four characteristics, year effects and the log within-nest shares, with the
    panel's outside shares (the year's, over all its models), instruments from
    :func:`second_step_design`. This is :func:`course_lib.nests.two_step`'s second step with
    year effects, as in ddnests, and the differentiation instruments for the price.

    Returns
    -------
    NestedLogitResult
    """
    nest_ids = labels.loc[data["product_ids"]].to_numpy()
    X, Z, names = second_step_design(data, nest_ids)
    return berry_regression(data["shares"].to_numpy(float), data["price"].to_numpy(float), X, nest_ids,
                            data["market_ids"].to_numpy(), Z, x_names=names, outside_shares=data["outside_shares"])


def second_step_sigmas(data: pd.DataFrame, labels: pd.Series) -> np.ndarray:
    r"""The :math:`\hat\sigma_k` of :func:`second_step` (NaN if a nest is not identified)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sigma outside (0, 1] is reported, not warned about
            return second_step(data, labels).sigma.to_numpy()
    except ValueError:  # a nest that never has two products in one market: sigma not identified
        return np.full(int(labels.max()) + 1, np.nan)


def elbow_chord(K: np.ndarray, Q: np.ndarray) -> np.ndarray:
    r"""Each point's distance to the chord from the first to the last point of the curve
    (both axes scaled to [0, 1]); the elbow is its largest (ddnests' ``find_elbow_chord``)."""
    k, q = (K - K.min()) / np.ptp(K), (Q - Q.min()) / np.ptp(Q)
    dk, dq = k[-1] - k[0], q[-1] - q[0]
    return np.abs((k - k[0]) * dq - (q - q[0]) * dk) / np.hypot(dk, dq)


def elbow_second_difference(Q: np.ndarray) -> np.ndarray:
    r"""The slow-down of the percentage drop of Q, :math:`d_K - d_{K+1}` with
    :math:`d_K = 100 (Q_{K-1} - Q_K) / Q_{K-1}` (NaN at the ends); the elbow is its largest
    (ddnests' ``find_elbow_secondderiv``)."""
    drop = 100 * (Q[:-1] - Q[1:]) / Q[:-1]
    return np.concatenate([[np.nan], drop[:-1] - drop[1:], [np.nan]])


def run_search(data: pd.DataFrame, K: int, seed: int) -> dict:
    """One (K, seed) task of :func:`k_curve`: the best labels and the search's counts."""
    start = time.perf_counter()
    found = classify_k(data, K, seed)
    return {"K": K, "seed": seed, "objective": found.classification.objective, "labels": found.classification.labels,
            "n_best": found.n_best, "optima": {a.tobytes() for a in found.optima["labels"]},
            "searches": len(found.classification.objectives), "seconds": time.perf_counter() - start}


def k_curve(data: pd.DataFrame | None = None, K_values=K_VALUES, seeds=SEEDS, n_jobs: int | None = None,
            progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The K curve and the groups of every K (the tables of ``autos_k_curve.csv`` and
    ``autos_groups.csv``): every (K, seed) search in parallel (joblib, the largest K first),
    then per K the best search's groups, :func:`cross_validate_markets`,
    :func:`second_step_sigmas` and the elbow criteria."""
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    data = panel_sample() if data is None else data
    tasks = sorted(((K, s) for K in K_values for s in seeds), key=lambda t: -t[0])
    jobs = Parallel(n_jobs=n_jobs or os.cpu_count(), return_as="generator_unordered")(
        delayed(run_search)(data, K, s) for K, s in tasks)
    runs = pd.DataFrame(list(tqdm(jobs, total=len(tasks), desc="K curve", disable=not progress)))
    runs = runs.sort_values(["K", "seed"]).reset_index(drop=True)
    rows, groups = [], []
    scale = build_panel(data, REGRESSORS).total_scale
    for K, by_seed in runs.groupby("K"):
        best = by_seed.loc[by_seed["objective"].idxmin()]  # the lowest seed on ties
        at_best = by_seed["objective"] <= best["objective"] + TIE_RTOL * scale
        labels = best["labels"]
        mse = cross_validate_markets(data, labels)
        # One nest: its log within share is log(s/s0) less a year constant, which the year
        # effects absorb, so its sigma is not identified.
        sigma = second_step_sigmas(data, labels) if K > 1 else np.full(1, np.nan)
        rows.append({"K": K, "objective": best["objective"], "runs_at_best": int(at_best.sum()), "runs": len(by_seed),
                     "worst_run": by_seed["objective"].max(),
                     "n_best": int(by_seed.loc[at_best, "n_best"].sum()),
                     "distinct_optima": len(set().union(*by_seed["optima"])),
                     "local_searches": int(by_seed["searches"].sum()), "min_size": int(labels.value_counts().min()),
                     "cv_mse": mse.mean(), "cv_se": mse.std(ddof=1) / np.sqrt(len(mse)),
                     "sigma_min": np.min(sigma), "sigma_max": np.max(sigma),
                     "sigma_valid": bool(np.all((sigma > 0) & (sigma <= 1))),
                     "seconds": by_seed["seconds"].sum()})
        groups.append(pd.DataFrame({"K": K, "product_ids": labels.index, "group": labels.to_numpy()}))
    curve = pd.DataFrame(rows)
    curve["elbow_chord"] = elbow_chord(curve["K"].to_numpy(float), curve["objective"].to_numpy())
    curve["elbow_second_difference"] = elbow_second_difference(curve["objective"].to_numpy())
    return curve, pd.concat(groups, ignore_index=True)


def chosen_k(curve: pd.DataFrame) -> int:
    r"""The number of nests a curve chooses: the one-standard-error rule on the cross-validated
    error (:func:`course_lib.nests.one_standard_error_rule`) among the K whose second-step
    sigmas all lie in (0, 1], or among all K where none does.

    On the automobile panel none does (every K from 2 to 10 has a nest with sigma above 1, 11
    and 12 one below 0), and the rule picks K = 8, the minimum of the cross-validated error.
    ddnests' rule (the K of least error if its sigmas are valid, else the largest valid of it
    and the two elbows, else the largest of the three) picks 8 as well; its in-sample rule
    (the elbows alone) would pick 3.
    """
    valid = curve[curve["sigma_valid"]] if curve["sigma_valid"].any() else curve
    valid = valid.set_index("K")
    return one_standard_error_rule(valid["cv_mse"], valid["cv_se"])


HEADER = """\
# Data-driven nests on the BLP (1995) automobile panel (course_lib.autos.panel_sample(): 82 models,
# years 1971-1990 as markets), K = 1..12 groups; written by `python -m course_lib.autos.choose_k data/results`.
# Classification: course_lib.nests.search of y = log(s/s0) on the regressors {regressors};
# min group size {min_size}, {n_starts} starts, 750 K children, patience {patience}, seeds {seeds} (one search each;
# the better kept).
# Stored to {digits} significant digits; every discrete decision within nests.TIE_RTOL is a tie (lowest index wins).
"""
CURVE_NOTE = """\
# objective: best Q; runs_at_best of runs: searches (seeds) that reached it (within TIE_RTOL); worst_run: the Q
# the worse search ended at; n_best: local searches ending at the best (in the runs that reached it);
# distinct_optima: distinct local optima met (all runs); local_searches: all runs; min_size: smallest group.
# cv_mse, cv_se: mean and standard error over {folds} folds of markets (2 years each, seeded shuffle) of the
# held-out error: slopes refitted on the other years, each held-out product's intercept the mean residual of its
# group's other products that year (all other products if alone); groups fixed at the best.
# sigma_min, sigma_max, sigma_valid (all in (0, 1]): Berry 2SLS, hdm price, characteristics, year effects, GH price
# instruments, the slides' nest instruments. elbow_chord, elbow_second_difference: ddnests' two elbow criteria.
# seconds: search time (machine-dependent).
"""


def write_results(curve: pd.DataFrame, groups: pd.DataFrame, directory=None) -> None:
    """Write ``autos_k_curve.csv`` and ``autos_groups.csv`` with their ``#`` headers."""
    directory = Path(directory or RESULTS_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    header = HEADER.format(regressors=", ".join(REGRESSORS), seeds=", ".join(map(str, SEEDS)),
                           digits=STORED_DIGITS, **SEARCH_OPTIONS)
    with open(directory / CURVE_FILE, "w") as f:
        f.write(header + CURVE_NOTE.format(folds=N_FOLDS))
        curve.to_csv(f, index=False, float_format=f"%.{STORED_DIGITS}g")
    with open(directory / GROUPS_FILE, "w") as f:
        f.write(header + "# group: 0..K-1 in canonical order (increasing slope on price_hat, ties by first model id).\n")
        groups.to_csv(f, index=False)


def load_k_curve(directory=None) -> pd.DataFrame:
    """The stored K curve (``autos_k_curve.csv``), one row per K."""
    return pd.read_csv(Path(directory or RESULTS_DIR) / CURVE_FILE, comment="#")


def load_groups(K: int, directory=None) -> pd.Series:
    """The stored groups for K nests (``autos_groups.csv``): the group of each model, indexed by model id."""
    groups = pd.read_csv(Path(directory or RESULTS_DIR) / GROUPS_FILE, comment="#")
    chosen = groups[groups["K"] == int(K)]
    if chosen.empty:
        raise ValueError(f"No stored groups for K={K}; the file has K = {sorted(groups['K'].unique())}.")
    return pd.Series(chosen["group"].to_numpy(), index=pd.Index(chosen["product_ids"], name="product_ids"),
                     name="group")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", nargs="?", default=str(RESULTS_DIR), help="where to write the CSV files")
    parser.add_argument("--n-jobs", type=int, default=None, help="parallel searches (default: all cores)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    curve, groups = k_curve(n_jobs=args.n_jobs, progress=not args.no_progress)
    write_results(curve, groups, args.directory)
    with pd.option_context("display.width", 200):
        print(curve.drop(columns=["seconds"]).to_string(index=False, float_format="{:.6g}".format))
    print(f"chosen K (one-standard-error rule on the CV error, among K with valid sigmas if any): "
          f"{chosen_k(curve)}; total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
