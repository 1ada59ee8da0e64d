r"""The Monte Carlo's path: :func:`classify_many` classifies many data sets at once.

It must give each data set the classification of :func:`course_lib.nests.gfe.classify`
(the reference: the same starts, steps and tie rules; the same labels, and objectives equal
to rounding, checked by ``tests/nests/test_batched.py``). It runs steps (a) and (b) for all
data sets and all their starts together: cell sums as matrix products with one-hot
assignments, and each product's SSR under every group expanded into one matrix product
per data set, so that a Monte Carlo cell of small problems pays numpy's per-call costs once
per step instead of once per data set and start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gfe import check_groups, check_options, draw_seed
from .panel import build_panel
from .result import canonical_order, gfe_result
from .starts import starting_assignments
from .steps import filled
from .ties import first_within, no_empty_groups, onehot, pseudo_solve


@dataclass
class _Stack:
    """A stack of P panels (:class:`~course_lib.nests.panel.Panel`) in the layout of the batched steps.

    Every array has a leading panel axis: P = 1 for one data set, more when
    :func:`classify_many` classifies several data sets of the same shape at once. The
    observation indicators, y and the regressors are the layers of one array, kept in two
    layouts, so that each step of the algorithm is one large matrix product instead of
    several small ones.
    """

    layers: np.ndarray  # (P, 2 + Q, J, M): [obs (float 1/0), y, w_1, ..., w_Q], w centred
    # (P, (2 + Q) M + Q + Q^2 + 1, J): the same layers, markets x products, then each
    # product's sums xy, xx and yy as rows (the data of _ssr_matrix's one matrix product)
    by_market: np.ndarray
    product_ids: np.ndarray  # (J,)
    market_ids: np.ndarray  # (M,)
    xx: np.ndarray  # (P, J, Q, Q) per-product sums of w w'
    xy: np.ndarray  # (P, J, Q) per-product sums of w y
    yy: np.ndarray  # (P, J) per-product sums of y^2
    y_mean: np.ndarray  # (P,)
    w_mean: np.ndarray  # (P, Q)

    @property
    def obs(self) -> np.ndarray:  # (P, J, M)
        return self.layers[:, 0]

    @property
    def y(self) -> np.ndarray:  # (P, J, M)
        return self.layers[:, 1]

    @property
    def w(self) -> np.ndarray:  # (P, Q, J, M)
        return self.layers[:, 2:]

    def take(self, rows, layers: bool = True) -> "_Stack":
        """The panels ``rows`` (an index into the leading axis); ``layers=False`` leaves out
        the products x markets layers (empty), which the Lloyd steps do not read."""
        return _Stack(self.layers[rows] if layers else self.layers[:0], self.by_market[rows], self.product_ids,
                      self.market_ids, self.xx[rows], self.xy[rows], self.yy[rows], self.y_mean[rows],
                      self.w_mean[rows])

    @staticmethod
    def of(panels: list) -> "_Stack":
        """The stack of :class:`~course_lib.nests.panel.Panel` s over the same products and markets."""
        first = panels[0]
        for i, panel in enumerate(panels[1:], start=1):
            if not (np.array_equal(panel.product_ids, first.product_ids)
                    and np.array_equal(panel.market_ids, first.market_ids)):
                raise ValueError(
                    f"Data set {i} has other product or market ids than data set 0; classify_many "
                    "stacks data sets over the same products and markets (call classify on each instead)."
                )
        P, (Q, J, M) = len(panels), first.w.shape
        layers = np.stack([np.concatenate([p.observed[None], p.y[None], p.w]) for p in panels])  # (P, 2+Q, J, M)
        y, w = layers[:, 1], layers[:, 2:]
        xx = np.einsum("pqjm,prjm->pjqr", w, w)
        xy = np.einsum("pqjm,pjm->pjq", w, y)
        yy = np.einsum("pjm,pjm->pj", y, y)
        by_market = np.concatenate([layers.swapaxes(2, 3).reshape(P, (2 + Q) * M, J), xy.swapaxes(1, 2),
                                    xx.reshape(P, J, Q * Q).swapaxes(1, 2), yy[:, None]], axis=1)
        return _Stack(layers, by_market, first.product_ids, first.market_ids, xx, xy, yy,
                      np.array([p.y_mean for p in panels]), np.array([p.w_mean for p in panels]).reshape(P, Q))


def _fit_groups(panel: _Stack, onehot: np.ndarray):
    r""":func:`course_lib.nests.steps.fit_groups` for a batch of assignments.

    For each panel p, start s and group k the within (cell-demeaned) estimator
    :math:`\hat\beta^k = (\sum_{j \in k, m} \tilde w \tilde w')^{-1} \sum \tilde w \tilde y`,
    with tildes deviations from the (m, k) cell means, and
    :math:`\hat\lambda_m^k = \bar y_{mk} - \hat\beta^{k\prime} \bar w_{mk}`; all panels,
    starts, groups and markets at once from cell sums (matrix products with the one-hot
    assignments ``onehot``, shape (P, S, J, K)). Returns beta (P, S, K, Q) and lambda
    (P, S, M, K), NaN where a group has no product in a market.
    """
    P, S, J, K = onehot.shape
    Q, M = panel.xy.shape[-1], len(panel.market_ids)
    # Cell sums of every layer at once: products per cell n, sum of y, sums of w.
    sums = (panel.by_market[:, None, : (2 + Q) * M] @ onehot).reshape(P, S, 2 + Q, M, K)
    n, sum_y, sum_w = sums[:, :, 0], sums[:, :, 1], sums[:, :, 2:]  # (P, S, M, K), (P, S, Q, M, K)
    inv_n = np.divide(1.0, n, out=np.zeros_like(n), where=n > 0)
    sxx = (onehot.swapaxes(-1, -2) @ panel.xx.reshape(P, 1, J, Q * Q)).reshape(P, S, K, Q, Q)
    sxy = onehot.swapaxes(-1, -2) @ panel.xy[:, None]  # (P, S, K, Q)
    weighted = sum_w * inv_n[:, :, None]  # (P, S, Q, M, K)
    wxx = sxx - np.einsum("...qmk,...rmk->...kqr", weighted, sum_w)
    wxy = sxy - np.einsum("...qmk,...mk->...kq", weighted, sum_y)
    beta = pseudo_solve(wxx, wxy, np.trace(sxx, axis1=-2, axis2=-1))
    lam = (sum_y - sum(sum_w[:, :, q] * beta[:, :, None, :, q] for q in range(Q))) * inv_n  # Q is small
    lam = np.where(n > 0, lam, np.nan)
    return beta, lam


def _ssr_matrix(panel: _Stack, beta: np.ndarray, lam: np.ndarray) -> np.ndarray:
    r""":func:`course_lib.nests.steps.costs` for a batch: every product's SSR under every group.

    .. math::
        SSR_{jk} = \sum_{m: (j, m) \text{ observed}} (y_{jm} - \beta^{k\prime} w_{jm} - \lambda^k_m)^2,

    expanded into products of the panel's sums with the coefficients, so that the cost is
    one matrix product per panel (no (P, S, J, M, K) array): with y and w zero where (j, m)
    is not observed and :math:`o_{jm}` the indicator that it is,

    .. math::
        SSR_{jk} = \sum_m y_{jm}^2 - 2\beta^{k\prime} \sum_m w_{jm} y_{jm}
        + \beta^{k\prime} \Big(\sum_m w_{jm} w_{jm}'\Big) \beta^k
        - 2 \sum_m (y_{jm} - \beta^{k\prime} w_{jm}) \lambda^k_m
        + \sum_m o_{jm} (\lambda^k_m)^2 .

    Where group k has no product in market m its intercept is not defined; the product is
    then charged the group's average intercept over the markets where it has one. Any fixed
    value keeps the algorithm monotone: the next least-squares step fits that cell's own
    intercept and can only lower the objective. ``beta`` is (P, S, K, Q) and ``lam``
    (P, S, M, K); returns shape (P, K, S, J).
    """
    lam = filled(lam)
    P, S, K, Q = beta.shape
    J, M = panel.yy.shape[1], lam.shape[2]
    # One matrix product per panel: the coefficients of every (group, start), K S rows,
    # times the data's rows (panel.by_market: o, y, w by market, then xy, xx, yy), with
    # products along the last (long, contiguous) axis; the result (P, K S, J) is seen as
    # (P, K, S, J).
    lam_t = lam.transpose(0, 3, 1, 2).reshape(P, K * S, M)
    beta_t = beta.transpose(0, 2, 1, 3).reshape(P, K * S, Q)
    coefficients = np.concatenate([
        lam_t * lam_t,  # o_jm
        -2 * lam_t,  # y_jm
        (2 * beta_t[..., :, None] * lam_t[..., None, :]).reshape(P, K * S, Q * M),  # w_jm
        -2 * beta_t,  # sum_m w_jm y_jm
        (beta_t[..., :, None] * beta_t[..., None, :]).reshape(P, K * S, Q * Q),  # sum_m w_jm w_jm'
        np.ones((P, K * S, 1)),  # sum_m y_jm^2
    ], axis=-1)
    ssr = coefficients @ panel.by_market
    return ssr.reshape(P, K, S, J)


def _select(costs: np.ndarray, labels: np.ndarray, scale: np.ndarray):
    """Step (b) for costs (..., K, S, J) and labels (..., S, J): each product's cost in its own
    group and its new group, each (..., S, J).

    A product stays where its own group is tied with the cheapest (:func:`first_within`,
    ``scale`` (..., 1, J) the size of the sums its costs come from); otherwise it joins the
    lowest-numbered group tied with the cheapest. So a product moves only if another group
    fits it better by more than rounding, no start cycles on ties, and near-ties go the same
    way on every machine."""
    K = costs.shape[-3]
    own = costs[..., 0, :, :].copy()
    for k in range(1, K):  # K is small
        np.copyto(own, costs[..., k, :, :], where=labels == k)
    first, threshold = first_within(costs, scale, axis=-3)
    return own, np.where(own <= threshold, labels, first)


def _lloyd(panel: _Stack, starts: np.ndarray, K: int, max_iterations: int):
    """:func:`course_lib.nests.gfe.lloyd` from all starts of all panels at once.

    ``starts`` has shape (P, S, J). A start stops when no product changes group; a product
    changes group only if another group fits it better by more than :data:`TIE_RTOL` times
    the size of its sums (see :func:`_select`), so that ties cannot make a start cycle and
    rounding cannot decide a move. Each step computes, for the panels
    with a running start, as many starts as the busiest of them still runs (running starts
    first; a stopped start that fills a slot is recomputed unchanged and not updated).
    Returns, per panel and start, the best (objective, labels,
    beta, lambda) reached, the objective histories (a list over panels of lists over
    starts) and whether each start converged.
    """
    P, S, J = starts.shape
    Q, M = panel.w.shape[1], panel.w.shape[3]
    labels = starts.copy()
    active = np.ones((P, S), dtype=bool)
    converged = np.zeros((P, S), dtype=bool)
    history = np.full((max_iterations, P, S), np.nan)  # objective of each start at each step
    steps = np.zeros((P, S), dtype=int)
    best_objective = np.full((P, S), np.inf)
    best_labels = labels.copy()
    best_beta = np.zeros((P, S, K, Q))
    best_lam = np.zeros((P, S, M, K))
    # (P, 1, J): the size of the sums in a product's expanded SSR (see TIE_RTOL), which
    # carries their rounding.
    scale = (panel.yy + 1.0)[:, None, :]
    sub, sub_rows = panel, None  # the panels with running starts

    def at(mask):  # the (panel, start) indices of the True entries of an (L, S') mask
        l, s = np.nonzero(mask)
        return live[l], slots[l, s]

    for _ in range(max_iterations):
        live = np.flatnonzero(active.any(axis=1))
        if live.size == 0:
            break
        if live.size == P:
            sub = panel
        elif sub is panel or not np.array_equal(live, sub_rows):  # copy only when it changes
            sub, sub_rows = panel.take(live, layers=False), live
        # Each live panel's running starts first, in S' = (most running starts) slots.
        slots = np.argsort(~active[live], axis=1, kind="stable")[:, : active[live].sum(axis=1).max()]
        lab = labels[live[:, None], slots]  # (L, S', J)
        running = active[live[:, None], slots]  # (L, S')
        beta, lam = _fit_groups(sub, onehot(lab, K))
        ssr = _ssr_matrix(sub, beta, lam)  # (L, K, S, J)
        current, new = _select(ssr, lab, scale[live])
        objective = current.sum(axis=-1)  # (L, S)
        rows = at(running)
        history[steps[rows], rows[0], rows[1]] = objective[running]
        steps[rows] += 1
        improved = running & (objective < best_objective[live[:, None], slots])
        rows = at(improved)
        best_objective[rows] = objective[improved]
        best_labels[rows] = lab[improved]
        best_beta[rows] = beta[improved]
        best_lam[rows] = lam[improved]
        new = no_empty_groups(new, ssr.transpose(0, 2, 3, 1), K, scale[live])
        same = (new == lab).all(axis=-1)
        # Stop a start that converged, or (a safeguard: it cannot happen in exact
        # arithmetic) whose objective rose.
        done = running & (same | ~improved)
        moving = running & ~done
        converged[at(running & same)] = True
        labels[at(moving)] = new[moving]
        active[at(done)] = False
    histories = [[history[: steps[p, s], p, s].copy() for s in range(S)] for p in range(P)]
    return (best_objective, best_labels, best_beta, best_lam), histories, converged


def _classify_stack(panels: list, K: int, n_starts: int, seeds, max_iterations: int, perturbation: float) -> list:
    """Classify every panel of a stack, all panels and starts at once; a GFEResult per panel."""
    check_groups(K, len(panels[0].product_ids))
    stack = _Stack.of(panels)
    seeds = [draw_seed() if s is None else int(s) for s in seeds]
    starts = starting_assignments(panels, K, n_starts, seeds, perturbation)
    (objectives, all_labels, all_beta, all_lam), histories, converged = _lloyd(stack, starts, K, int(max_iterations))
    # Ties among starts as in classify: within TIE_RTOL times the panel's total sum of squares.
    best_starts, _ = first_within(objectives, stack.yy.sum(axis=1) + len(stack.product_ids), axis=1)
    results = []
    for p, panel in enumerate(panels):  # panels, never products or markets
        best = int(best_starts[p])
        labels, beta, lam = canonical_order(all_labels[p, best], all_beta[p, best], all_lam[p, best])
        results.append(gfe_result(panel, labels, beta, lam, objectives[p], histories[p], converged[p], best))
    return results


def classify_many(
    datasets,
    K: int,
    n_starts: int = 20,
    seeds=None,
    regressors=("prices", "x"),
    max_iterations: int = 100,
    perturbation: float = 0.5,
) -> list:
    r"""Classify several data sets over the same products and markets in one computation.

    The result for data set i is the one of ``classify(datasets[i], K, n_starts,
    seeds[i], ...)``: the same starts, the same algorithm, the same groups (objectives and
    coefficients agree to rounding: a matrix product over a stack may add its terms in
    another order than over one panel). The panels are stacked along a
    leading axis and the Lloyd steps of :func:`classify` run on all data sets and all their
    starts at once, so that small problems (a Monte Carlo cell with few products and
    markets) pay numpy's per-call overhead once per step for the whole stack rather than
    once per data set.

    Parameters
    ----------
    datasets : sequence of pandas.DataFrame or mapping
        Each in the format of :func:`classify`, all with the same product ids and market ids.
    K, n_starts, regressors, max_iterations, perturbation
        As for :func:`classify`.
    seeds : sequence of int, optional
        One seed per data set (default ``0, 1, 2, ...``).

    Returns
    -------
    list of GFEResult
    """
    datasets = list(datasets)
    if not datasets:
        raise ValueError("datasets is empty.")
    seeds = list(range(len(datasets))) if seeds is None else list(seeds)
    if len(seeds) != len(datasets):
        raise ValueError(f"seeds has {len(seeds)} entries for {len(datasets)} data sets.")
    K, n_starts, regressors = check_options(K, n_starts, regressors, max_iterations, perturbation)
    return _classify_stack([build_panel(data, regressors) for data in datasets], K, n_starts, seeds,
                           max_iterations, perturbation)
