r"""A stronger search for the classification: exact single-product moves and crossover.

On an unbalanced panel the objective of :func:`course_lib.nests.classify`,

.. math::
    Q(k) = \sum_{g=1}^{K} SSR_g, \qquad SSR_g = \min_{\beta, \lambda} \sum_{j: k(j) = g}
    \sum_{m: (j, m) \text{ observed}} \big(y_{jm} - \beta' w_{jm} - \lambda_m\big)^2,

has a great many local optima. A Lloyd fixed point (:func:`course_lib.nests.gfe.lloyd`) is
only where no product wants to move *under the current coefficients*; :class:`Moves` adds
the exact test (move one product, refit the two groups it touches), :func:`improve` runs
both until neither lowers Q, and :func:`search` breeds such optima (:func:`crossover`): the
hybrid genetic search of Gribel and Vidal (2019) for k-means, :func:`improve` its local search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from .gfe import check_groups, check_options, draw_seed, lloyd
from .panel import Panel, build_panel
from .result import GFEResult, canonical_order, gfe_result
from .starts import random_start, starting_assignments
from .steps import costs, fit_groups, reassign
from .ties import TIE_RTOL, fill_empty_groups, first_within, onehot, pseudo_solve


def within_ssr(within: np.ndarray, scale) -> np.ndarray:
    r"""The least-squares SSR from within sums :math:`T` (..., P, P) of (y, w), y first:

    .. math::
        SSR = T_{yy} - T_{yw} T_{ww}^{+} T_{wy},

    sweeping out one regressor at a time (:math:`T \leftarrow T - T_{\cdot i} T_{i \cdot} / T_{ii}`).
    A regressor whose remaining within variation :math:`T_{ii}` is below :data:`TIE_RTOL` times
    ``scale`` (:math:`\sum w'w`) has only rounding left (e.g. ``air`` constant in every cell
    of a group) and is skipped, as :func:`~course_lib.nests.ties.pseudo_solve` zeroes it.
    """
    order = [*range(1, within.shape[-1]), 0]  # y last: each sweep updates a smaller block
    T = np.asarray(within, dtype=float)[..., order, :][..., order]
    cutoff = TIE_RTOL * np.abs(np.asarray(scale, dtype=float))
    for i in range(T.shape[-1] - 1):  # regressors, never products or markets
        pivot = T[..., i, i]
        inverse = np.divide(1.0, pivot, out=np.zeros_like(pivot), where=pivot > cutoff)
        column = T[..., i + 1:, i]
        T[..., i + 1:, i + 1:] -= column[..., :, None] * column[..., None, :] * inverse[..., None, None]
    return T[..., -1, -1]


class Moves:
    r"""An assignment's group sums and the exact change of Q from every single-product move.

    With :math:`u_{jm} = (y_{jm}, w_{jm}')'` (0 where (j, m) is not observed, :math:`o_{jm} = 1`
    where it is), group g keeps per market :math:`n_{mg} = \sum_{j \in g} o_{jm}` and the mean
    :math:`\bar u_{mg}`, and :math:`T_g = \sum_{j \in g, m} o_{jm} (u_{jm} - \bar u_{mg})(u_{jm} -
    \bar u_{mg})'`, whose :func:`within_ssr` is :math:`SSR_g`. Adding j to a cell of n products
    adds :math:`\frac{n}{n+1} d d'`, :math:`d = u_{jm} - \bar u`, to T; taking j out of a cell
    of n (j included) removes :math:`\frac{n}{n-1} d d'` (nothing if n = 1). So moving j from
    g to h changes two groups:

    .. math::
        \Delta_{jh} = {} & \underbrace{SSR\big(T_g - \textstyle\sum_m o_{jm} \tfrac{n_{mg}}{n_{mg}-1}
                           d_{jmg} d_{jmg}'\big) - SSR_g}_{\text{out}_j} \\
                         & + \underbrace{SSR\big(T_h + \textstyle\sum_m o_{jm} \tfrac{n_{mh}}{n_{mh}+1}
                           d_{jmh} d_{jmh}'\big) - SSR_h}_{\text{into}_{jh}} .

    :meth:`move` recomputes the two groups, their "into" columns and their products' "out".
    """

    def __init__(self, panel: Panel, labels: np.ndarray, K: int):
        self.u = np.concatenate([panel.y[None], panel.w], axis=0).transpose(1, 2, 0)  # (J, M, P)
        self.observed, self.K = panel.observed, K
        self.squares = self.u.transpose(0, 2, 1) @ self.u  # (J, P, P): sum_m u u'
        self.w_scale = np.trace(self.squares[:, 1:, 1:], axis1=1, axis2=2)  # sum_m w'w
        J, M, P = self.u.shape
        self.count, self.mean, self.within = np.zeros((K, M)), np.zeros((K, M, P)), np.zeros((K, P, P))
        self.scale, self.ssr, self.into, self.out = np.zeros(K), np.zeros(K), np.zeros((J, K)), np.zeros(J)
        self.labels = np.asarray(labels).copy()
        self.refresh(np.arange(K))

    def refresh(self, groups: np.ndarray) -> None:
        """Recompute the sums of ``groups``, their "into" columns and their products' "out"."""
        J, M, P = self.u.shape
        members = (self.labels[None] == groups[:, None]).astype(float)  # (G, J)
        count = members @ self.observed
        total = (members @ self.u.reshape(J, M * P)).reshape(-1, M, P)
        mean = np.divide(total, count[..., None], out=np.zeros_like(total), where=count[..., None] > 0)
        squares = (members @ self.squares.reshape(J, P * P)).reshape(-1, P, P)
        self.count[groups], self.mean[groups] = count, mean
        self.within[groups] = squares - (count[..., None] * mean).transpose(0, 2, 1) @ mean
        self.scale[groups] = members @ self.w_scale
        self.ssr[groups] = within_ssr(self.within[groups], self.scale[groups])
        weight = self.observed[:, None] * (count / (count + 1))[None]  # (J, G, M)
        d = self.u[:, None] - mean[None]  # (J, G, M, P)
        into = self.within[groups][None] + (weight[..., None] * d).transpose(0, 1, 3, 2) @ d
        self.into[:, groups] = within_ssr(into, self.scale[groups] + self.w_scale[:, None]) - self.ssr[groups]
        js = np.flatnonzero(np.isin(self.labels, groups))
        g, n = self.labels[js], self.count[self.labels[js]]
        weight = self.observed[js] * np.divide(n, n - 1, out=np.zeros_like(n), where=n > 1)
        d = self.u[js] - self.mean[g]
        out = self.within[g] - (weight[..., None] * d).transpose(0, 2, 1) @ d
        self.out[js] = within_ssr(out, self.scale[g] - self.w_scale[js]) - self.ssr[g]

    def gains(self, min_size: int = 1) -> np.ndarray:
        """:math:`\\Delta_{jh}`, shape (J, K): 0 at j's own group, ``+inf`` where the move
        would leave j's group with fewer than ``min_size`` products."""
        J = len(self.labels)
        gains = self.out[:, None] + self.into
        gains[np.arange(J), self.labels] = 0.0
        too_small = np.bincount(self.labels, minlength=self.K)[self.labels] <= min_size
        gains[too_small] = np.where(np.arange(self.K)[None] == self.labels[too_small, None], 0.0, np.inf)
        return gains

    def move(self, j: int, h: int) -> None:
        """Move product j to group h."""
        g, self.labels[j] = self.labels[j], h
        self.refresh(np.array([g, h]))


def objective(panel: Panel, labels: np.ndarray, K: int) -> float:
    """Q of an assignment: its groups' SSRs summed (:class:`Moves`)."""
    return float(Moves(panel, labels, K).ssr.sum())


def move_gains(panel: Panel, labels: np.ndarray, K: int, min_size: int = 1) -> np.ndarray:
    """The exact change of Q from moving each product to each group, (J, K) (:meth:`Moves.gains`)."""
    return Moves(panel, labels, K).gains(min_size)


def best_move(gains: np.ndarray, scale: float):
    r"""The move (product, group) lowering Q most, None if none does by :data:`TIE_RTOL` times
    ``scale``; ties (:func:`~course_lib.nests.ties.first_within`) to the lowest product, then group."""
    if not gains.min() < -TIE_RTOL * scale:
        return None
    return divmod(int(first_within(gains.ravel(), scale)[0]), gains.shape[1])


def fitted(moves: Moves):
    r"""Slopes (K, Q), :math:`T_{g,ww}^{+} T_{g,wy}`, and intercepts (M, K), :math:`\bar y_{mg} -
    \hat\beta_g' \bar w_{mg}` (NaN where g is absent): :func:`course_lib.nests.steps.fit_groups`."""
    beta = pseudo_solve(moves.within[:, 1:, 1:], moves.within[:, 1:, 0], moves.scale)
    lam = moves.mean[..., 0] - np.einsum("kmq,kq->km", moves.mean[..., 1:], beta)
    return beta, np.where(moves.count > 0, lam, np.nan).T


def improve(panel: Panel, labels: np.ndarray, K: int, min_size: int = 1, max_steps: int = 10_000):
    r"""Lower Q from ``labels`` by Lloyd steps and exact single moves until neither helps.

    Groups below ``min_size`` products first take the cheapest moves into them. Then, in
    turn, Lloyd steps (:func:`course_lib.nests.steps.reassign` under the refitted groups) while
    Q falls by over :data:`TIE_RTOL` times ``panel.total_scale`` and no group gets below
    ``min_size``, and best single moves (:meth:`Moves.gains`, :func:`best_move`) while one
    lowers Q. Returns the labels and Q after each step (falling)."""
    moves = Moves(panel, labels, K)
    while (sizes := np.bincount(moves.labels, minlength=K)).min() < min_size:
        g = int(np.argmin(sizes))  # the smallest group takes its cheapest new product
        into = np.where(moves.labels == g, np.inf, moves.gains(min_size)[:, g])
        moves.move(int(first_within(into, panel.total_scale)[0]), g)
    history = [moves.ssr.sum()]
    for _ in range(max_steps):
        new = reassign(costs(panel, *fitted(moves)), moves.labels, panel.product_scale)
        if ((new != moves.labels).any() and np.bincount(new, minlength=K).min() >= min_size
                and (candidate := Moves(panel, new, K)).ssr.sum() < history[-1] - TIE_RTOL * panel.total_scale):
            moves = candidate
            history.append(moves.ssr.sum())
            continue
        steps = len(history)
        while (move := best_move(moves.gains(min_size), panel.total_scale)) is not None:
            moves.move(*move)
            history.append(moves.ssr.sum())
        if len(history) == steps:  # neither phase moved a product
            break
    return moves.labels, np.array(history)


def crossover(panel: Panel, a: np.ndarray, b: np.ndarray, K: int, rng: np.random.Generator) -> np.ndarray:
    r"""A child of two assignments: their groups matched to maximise the common products
    :math:`\sum_g |A_g \cap B_{\pi(g)}|`, each pair's coefficients (:func:`fitted`) from one
    parent at random, every product in its cheapest group (the lowest on ties; an empty group
    takes the worst-fitted product, :func:`~course_lib.nests.ties.fill_empty_groups`)."""
    rows, columns = linear_sum_assignment(-(onehot(a, K).T @ onehot(b, K)))
    (beta_a, lam_a), (beta_b, lam_b) = fitted(Moves(panel, a, K)), fitted(Moves(panel, b, K))
    from_a = rng.random(K) < 0.5
    beta = np.where(from_a[:, None], beta_a[rows], beta_b[columns])
    lam = np.where(from_a[None], lam_a[:, rows], lam_b[:, columns])
    ssr = costs(panel, beta, lam)
    child = first_within(ssr, panel.product_scale, axis=1)[0]
    return fill_empty_groups(child, ssr[np.arange(len(a)), child], K, panel.product_scale.max())


@dataclass
class SearchResult:
    """What :func:`search` found.

    Attributes
    ----------
    classification : GFEResult
        The best assignment (:func:`course_lib.nests.steps.fit_groups`, canonical order);
        ``objectives``: the final Q of every local search (starts, children, renewals, in
        order); ``best_start``: the first to reach the best.
    n_best : int
        Local searches ending at the best Q (within :data:`TIE_RTOL` times ``total_scale``).
    optima : pandas.DataFrame
        The distinct local optima, best first: ``objective``, ``found`` (local searches ending
        there), ``first`` (the first that did), ``labels`` (numbered by first product).
    """

    classification: GFEResult
    n_best: int
    optima: pd.DataFrame


def relabelled(labels: np.ndarray) -> bytes:
    """An assignment's key up to relabelling: groups numbered in order of their first product."""
    first = np.unique(labels, return_index=True)[1]  # each group's first product
    return np.argsort(np.argsort(first))[labels].astype(np.int64).tobytes()


def search(data, K: int, n_starts: int = 30, seed=0, regressors=("prices", "x"), *, min_size: int = 2,
           generations: int = 2500, patience: int = 300, perturbation: float = 0.5) -> SearchResult:
    r"""Classify into K groups by a population of exact local optima (a hybrid genetic search).

    Minimises the objective of :func:`course_lib.nests.classify` (same data, regressors and
    canonical order of groups), every random draw from ``seed``:

    1. the population: the ``n_starts`` starts of :func:`~course_lib.nests.classify`, each
       taken to a Lloyd fixed point (:func:`~course_lib.nests.gfe.lloyd`), then :func:`improve`;
    2. ``generations`` children: two members drawn at random, :func:`crossover`,
       :func:`improve`. A child new to the population and better than its worst member (the
       highest Q, the first on ties) replaces it. After ``patience`` children without a new
       best, every member but the best is replaced by a fresh random start (Lloyd,
       :func:`improve`).

    Groups keep ``min_size`` products, by default 2: a one-product nest has :math:`\log
    s_{j|k} = 0` (its :math:`\sigma_k` is not identified) and SSR 0 whatever the product (a
    sink for the worst-fitted). A product alone in its group in a market (``GFEResult.alone``:
    the intercept fits it exactly) is allowed, or no nest could be absent from a year.

    Parameters
    ----------
    data, n_starts, seed, regressors, perturbation
        As for :func:`course_lib.nests.classify`.
    K, min_size : int
        Number of groups and fewest products in a group (``K * min_size`` <= products).
    generations, patience : int
        Children bred; children without a new best before the population is renewed.

    Returns
    -------
    SearchResult
    """
    K, n_starts, regressors = check_options(K, n_starts, regressors, 100, perturbation)
    panel = build_panel(data, regressors)
    check_groups(K, J := len(panel.product_ids))
    if int(min_size) != min_size or min_size < 1 or K * min_size > J:
        raise ValueError(f"K={K} groups of at least min_size={min_size} products need {K * min_size} "
                         f"products; the data have {J}.")
    seed = draw_seed() if seed is None else seed
    rng = np.random.default_rng([seed, n_starts, 1])  # never a start's generator [seed, s]
    tolerance = TIE_RTOL * panel.total_scale
    runs, found = [], {}  # every local search's (history, labels); optimum -> [Q, found, first, labels]

    def local_search(start):
        labels, history = improve(panel, start, K, min_size)
        key = relabelled(labels)
        found.setdefault(key, [history[-1], 0, len(runs), np.frombuffer(key, dtype=np.int64)])[1] += 1
        runs.append((history, labels))
        return history[-1], labels

    population = [local_search(lloyd(panel, s, K).labels)
                  for s in starting_assignments([panel], K, n_starts, [seed], perturbation)[0]]
    best, since = min(q for q, _ in population), 0
    for _ in range(generations):
        i, k = rng.choice(len(population), 2, replace=False) if len(population) > 1 else (0, 0)
        q, child = local_search(crossover(panel, population[i][1], population[k][1], K, rng))
        values = np.array([v for v, _ in population])
        worst = int(first_within(-values, panel.total_scale)[0])
        if relabelled(child) not in {relabelled(m) for _, m in population} and q < values[worst] - tolerance:
            population[worst] = (q, child)
        since = 0 if q < best - tolerance else since + 1
        best = min(best, q)
        if since >= patience:  # renew all but the best
            keep = population[int(first_within(np.array([v for v, _ in population]), panel.total_scale)[0])]
            population = [keep] + [local_search(lloyd(panel, random_start(rng, J, K), K).labels)
                                   for _ in range(len(population) - 1)]
            since = 0
    objectives = np.array([h[-1] for h, _ in runs])
    best_run = int(first_within(objectives, panel.total_scale)[0])
    beta, lam = fit_groups(panel, runs[best_run][1], K)
    labels, beta, lam = canonical_order(runs[best_run][1], beta, lam)
    result = gfe_result(panel, labels, beta, lam, objectives, [h for h, _ in runs],
                        np.ones(len(runs), dtype=bool), best_run)
    optima = (pd.DataFrame(list(found.values()), columns=["objective", "found", "first", "labels"])
              .sort_values(["objective", "first"], kind="stable").reset_index(drop=True))
    return SearchResult(result, int((objectives <= objectives[best_run] + tolerance).sum()), optima)
