r"""The grouped fixed-effects classifier (Bonhomme and Manresa 2015) as the slides write it.

:func:`lloyd` runs the algorithm from one start, alternating step (a), least squares given
the groups (:func:`~course_lib.nests.steps.fit_groups`), and step (b), each product to its
best group (:func:`~course_lib.nests.steps.reassign`); :func:`classify` runs it from many
starts and keeps the best. :func:`course_lib.nests.batched_gfe.classify_many` computes the
same classification for many data sets at once (the Monte Carlo's path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .panel import Panel, build_panel, show_id
from .result import GFEResult, canonical_order, gfe_result
from .starts import starting_assignments
from .steps import costs, fit_groups, reassign
from .ties import first_within


@dataclass
class LloydResult:
    """One start's run: the best assignment it reached and its fit (in the panel's centred
    units), the objective after each least-squares step, and whether it converged."""

    objective: float
    labels: np.ndarray  # (J,)
    beta: np.ndarray  # (K, Q)
    lam: np.ndarray  # (M, K)
    history: np.ndarray
    converged: bool


def lloyd(panel: Panel, start: np.ndarray, K: int, max_iterations: int = 100) -> LloydResult:
    r"""Alternate steps (a) and (b) from the assignment ``start`` until no product moves.

    Each step (a) gives the objective of the current assignment,
    :math:`Q = \sum_j SSR_{j k(j)}`; it never rises. The run stops when step (b) moves no
    product (converged), after ``max_iterations`` steps, or (a safeguard: it cannot happen
    in exact arithmetic) when the objective does not fall.
    """
    J = len(start)
    labels = np.asarray(start).copy()
    best = None
    history = []
    converged = False
    for _ in range(max_iterations):
        beta, lam = fit_groups(panel, labels, K)  # step (a)
        ssr = costs(panel, beta, lam)  # (J, K)
        objective = ssr[np.arange(J), labels].sum()
        history.append(objective)
        improved = best is None or objective < best.objective
        if improved:
            best = LloydResult(objective, labels, beta, lam, None, False)
        new = reassign(ssr, labels, panel.product_scale)  # step (b)
        if (new == labels).all():
            converged = True
            break
        if not improved:
            break
        labels = new
    best.history, best.converged = np.array(history), converged
    return best


def check_groups(K: int, J: int) -> None:
    """K groups need more than K products."""
    if K >= J:
        raise ValueError(f"K={K} groups need more products than that; data has {J} products.")


def draw_seed() -> int:
    """A fresh seed, for ``seed=None``."""
    return int(np.random.default_rng().integers(2**63))


def check_options(K, n_starts, regressors, max_iterations, perturbation) -> tuple:
    """Validate the options of :func:`classify`; returns (K, n_starts, regressors)."""
    if isinstance(regressors, str):
        regressors = (regressors,)
    regressors = tuple(regressors)
    if len(set(regressors)) != len(regressors):
        raise ValueError(f"regressors repeats a column: {list(regressors)}.")
    if int(n_starts) != n_starts or n_starts < 1:
        raise ValueError(f"n_starts must be a positive integer; got {n_starts}.")
    if int(max_iterations) != max_iterations or max_iterations < 1:
        raise ValueError(f"max_iterations must be a positive integer; got {max_iterations}.")
    if not perturbation >= 0:
        raise ValueError(f"perturbation must be non-negative; got {perturbation}.")
    if int(K) != K or K < 1:
        raise ValueError(f"K must be a positive integer; got {K}.")
    return int(K), int(n_starts), regressors


def classify(
    data: pd.DataFrame,
    K: int,
    n_starts: int = 20,
    seed=0,
    regressors=("prices", "x"),
    max_iterations: int = 100,
    perturbation: float = 0.5,
) -> GFEResult:
    r"""Classify products into K nests by grouped fixed effects (Bonhomme and Manresa 2015).

    Minimises over assignments :math:`k(j)` and group coefficients

    .. math::
        Q = \sum_{(j, m) \text{ observed}}
        \Big(\log \frac{s_{jm}}{s_{0m}} - \beta^{k(j)\prime} w_{jm} - \lambda_m^{k(j)}\Big)^2,
        \qquad s_{0m} = 1 - \sum_{j \in \mathcal J_m} s_{jm},

    with :math:`w_{jm}` the ``regressors`` (``("prices", "x")`` in the slides; with
    endogenous prices classify on an instrument instead, e.g. ``("z", "x")``, as the
    slides do). From each start, Lloyd-style alternation of

    (a) group-wise least squares given the assignment: per group, slopes common to its
        products and one intercept per market where the group has products (a within
        regression on the group's (market, group) cells);
    (b) reassignment of every product to the group whose coefficients give it the smallest
        sum of squared residuals over the markets where it is sold,
        :math:`k(j) = \arg\min_k \sum_m (y_{jm} - \beta^{k\prime} w_{jm} - \lambda_m^k)^2`,

    until no product changes group. Each step lowers the objective. A group left empty by
    (b) takes the worst-fitted product of a group with more than one.

    Panels may be unbalanced: products enter and exit, and a whole group may be absent
    from a market, where it then has no intercept. In step (b) a product sold in a market
    where group k has no product is charged k's average intercept there (a fixed value,
    so the next step (a), which fits that cell's own intercept, still lowers the
    objective). A caution for such panels: where a product is the only one of its group in
    a market, that cell's intercept fits it exactly, so a group absent from a market offers
    a perfect fit there to any product that joins it. The objective can then prefer to put
    a product in a group it does not belong to; ``GFEResult.alone`` counts, for each
    product, the markets where it is alone in its group (always 0 in balanced panels with
    groups of two or more products).

    Starts, each with its own generator ``np.random.default_rng([seed, s])`` for start s
    (so the first n starts do not depend on ``n_starts``, and more starts never give a
    higher objective, but for ties): start 0 is k-means on product-level features (each product's means
    of y and the regressors and its own slopes); odd starts
    are uniform random assignments; other even starts are k-means on the features plus
    normal noise with standard deviation ``perturbation`` (features are standardised). The
    start with the lowest objective wins, the lowest-numbered on ties, where objectives
    within :data:`TIE_RTOL` times the total sum of squares count as tied (so that rounding
    does not pick among starts that end at the same assignment); its groups are put in
    canonical order (increasing slope on the first regressor, ties by smallest product id).

    Every discrete decision (a product's group in step (b), the product moved into an empty
    group, a point's centre in k-means, the best start) treats values within
    :data:`TIE_RTOL` of the scale of their sums as tied and gives the tie to the lowest
    index, so that the classification is the same on every machine, whatever its BLAS and
    SIMD kernels round (``classify_many`` gives each data set the same classification for
    the same reason).

    Parameters
    ----------
    data : pandas.DataFrame or mapping
        Long format, one row per product-market pair: ``market_ids``, ``product_ids``,
        ``shares`` (inside shares; the outside share is one minus their market sum, unless
        an ``outside_shares`` column gives it, as when the data keep only some of a
        market's products) and the
        ``regressors``. A mapping of column names to 1-D arrays (a dict, as pyBLP's
        ``product_data`` may be) works as well.
    K : int
        Number of groups, 1 <= K < number of products.
    n_starts : int
        Number of starting values.
    seed : int or None
        Seed of the starts' generators.
    regressors : sequence of str
        Columns of ``data`` with group-specific slopes; the first orders the groups. May be
        empty, ``()``: then only the group-by-market intercepts are fitted (the textbook
        grouped fixed-effects model) and groups are ordered by their mean intercept.
    max_iterations : int
        Most least-squares steps per start.
    perturbation : float
        Standard deviation of the noise added to the standardised features for k-means starts.

    Returns
    -------
    GFEResult

    Raises
    ------
    ValueError
        For K out of range, a missing column, NaN, zero or negative shares, shares summing
        to one or more in a market, a repeated product-market pair, a non-finite regressor,
        or a product seen in fewer than two markets (each message names the product or
        market at fault).
    """
    K, n_starts, regressors = check_options(K, n_starts, regressors, max_iterations, perturbation)
    panel = build_panel(data, regressors)
    check_groups(K, len(panel.product_ids))
    seed = draw_seed() if seed is None else int(seed)
    runs = [lloyd(panel, start, K, int(max_iterations))
            for start in starting_assignments([panel], K, n_starts, [seed], perturbation)[0]]
    objectives = np.array([run.objective for run in runs])
    # Starts that end at the same assignment reach the same objective up to rounding, which
    # must not decide between them: ties go to the lowest-numbered start.
    best = int(first_within(objectives, panel.total_scale)[0])
    labels, beta, lam = canonical_order(runs[best].labels, runs[best].beta, runs[best].lam)
    return gfe_result(panel, labels, beta, lam, objectives, [run.history for run in runs],
                      np.array([run.converged for run in runs]), best)


def fit_assignment(data: pd.DataFrame, labels, regressors=("prices", "x")) -> GFEResult:
    r"""Step (a) of :func:`classify` for a given assignment: group-wise least squares.

    For the assignment :math:`k(\cdot)` given by ``labels``, the group slopes and the
    group-by-market intercepts that minimise

    .. math::
        Q = \sum_{(j, m) \text{ observed}}
        \Big(y_{jm} - \beta^{k(j)\prime} w_{jm} - \lambda_m^{k(j)}\Big)^2,

    and the minimum, ``objective``; no product changes group. With
    :meth:`GFEResult.assign` (step (b)) it lets you run the algorithm by hand, or evaluate
    the objective at any assignment, e.g. the true nests in a simulation.

    Parameters
    ----------
    data : pandas.DataFrame
        As for :func:`classify`.
    labels : pandas.Series or array_like
        The group (0, ..., K-1) of each product: a Series indexed by product id, or an
        array in the order of the sorted product ids.
    regressors : sequence of str
        As for :func:`classify`.

    Returns
    -------
    GFEResult
        The groups keep the given labels (no canonical reordering); ``objectives`` and
        ``histories`` hold the one objective.
    """
    regressors = (regressors,) if isinstance(regressors, str) else tuple(regressors)
    panel = build_panel(data, regressors)
    J = len(panel.product_ids)
    if isinstance(labels, pd.Series):
        missing = panel.product_ids[~np.isin(panel.product_ids, labels.index)]
        if len(missing):
            raise ValueError(f"labels has no group for product {show_id(missing[0])}.")
        labels = labels.loc[panel.product_ids]
    labels = np.asarray(labels).ravel()
    if len(labels) != J:
        raise ValueError(f"labels has {len(labels)} entries for {J} products.")
    if pd.isna(labels).any() or not np.all(np.equal(np.mod(labels, 1), 0)) or labels.min() < 0:
        raise ValueError("labels must be non-negative integers 0, ..., K-1.")
    labels = labels.astype(int)
    K = int(labels.max()) + 1
    if (np.bincount(labels, minlength=K) == 0).any():
        raise ValueError(f"Group {int(np.flatnonzero(np.bincount(labels, minlength=K) == 0)[0])} has no product.")
    beta, lam = fit_groups(panel, labels, K)
    objective = float(costs(panel, beta, lam)[np.arange(J), labels].sum())
    return gfe_result(panel, labels, beta, lam, np.array([objective]), [np.array([objective])],
                      np.array([False]), 0)
