r"""The two steps of the grouped fixed-effects classification, as the slides write them.

For an assignment :math:`k(\cdot)` of the J products to K groups, on a :class:`~course_lib.nests.panel.Panel`:

(a) :func:`fit_groups`: group-wise least squares, slopes :math:`\beta^k` common to a group's
    products and one intercept :math:`\lambda^k_m` per market where the group has products;
(b) :func:`reassign`: every product to the group whose coefficients give it the smallest sum
    of squared residuals (:func:`costs`) over the markets where it is sold.

Each step lowers the objective :math:`\sum_{(j, m)} (y_{jm} - \beta^{k(j)\prime} w_{jm} -
\lambda^{k(j)}_m)^2`. These functions handle one assignment with plain arrays; the Monte
Carlo runs the same steps for many data sets and starts at once in
:mod:`course_lib.nests.batched_gfe`.
"""

from __future__ import annotations

import numpy as np

from .panel import Panel
from .ties import fill_empty_groups, first_within, pseudo_solve


def fit_groups(panel: Panel, labels: np.ndarray, K: int):
    r"""Step (a): each group's slopes and market intercepts, by the within estimator.

    .. math::
        \hat\beta^k = \Big(\sum_{j \in k,\, m} \tilde w_{jm} \tilde w_{jm}'\Big)^{+}
        \sum_{j \in k,\, m} \tilde w_{jm} \tilde y_{jm}, \qquad
        \hat\lambda^k_m = \bar y_{mk} - \hat\beta^{k\prime} \bar w_{mk},

    sums over the observed pairs, with bars the means over group k's products sold in
    market m and tildes the deviations from them. :math:`(\cdot)^+` is
    :func:`~course_lib.nests.ties.pseudo_solve`: a group without within variation (each of
    its products alone in its cell) gets zero slopes.

    Returns
    -------
    beta : ndarray, shape (K, Q)
    lam : ndarray, shape (M, K)
        NaN where group k has no product in market m.
    """
    Q, _, M = panel.w.shape
    beta = np.zeros((K, Q))
    lam = np.full((M, K), np.nan)
    for k in range(K):  # groups, never products or markets
        members = labels == k
        observed, y, w = panel.observed[members], panel.y[members], panel.w[:, members]
        n = observed.sum(axis=0)  # products of group k sold in each market
        present = n > 0
        y_bar = np.divide(y.sum(axis=0), n, out=np.zeros(M), where=present)
        w_bar = np.divide(w.sum(axis=1), n, out=np.zeros((Q, M)), where=present)
        y_within = (y - y_bar) * observed
        w_within = (w - w_bar[:, None, :]) * observed
        A = np.einsum("qjm,rjm->qr", w_within, w_within)
        # The size of the sums whose difference A is (the trace of sum w w'), for the rank cutoff.
        beta[k] = pseudo_solve(A, np.einsum("qjm,jm->q", w_within, y_within), np.einsum("qjm,qjm->", w, w))
        lam[present, k] = (y_bar - beta[k] @ w_bar)[present]
    return beta, lam


def filled(lam: np.ndarray) -> np.ndarray:
    """Intercepts (..., M, K) with each absent (market, group) cell set to the group's mean intercept.

    Any fixed value keeps the algorithm monotone: the next step (a) fits that cell's own
    intercept and can only lower the objective."""
    absent = np.isnan(lam)
    if not absent.any():  # a balanced panel: nothing to fill (and nanmean is slow)
        return lam
    mean = np.nanmean(lam, axis=-2, keepdims=True)  # no group is empty in every market
    return np.where(absent, mean, lam)


def residuals(panel: Panel, beta: np.ndarray, lam: np.ndarray) -> np.ndarray:
    r"""Residuals of every product under every group's coefficients, shape (K, J, M).

    :math:`e^k_{jm} = y_{jm} - \beta^{k\prime} w_{jm} - \lambda^k_m`, 0 where (j, m) is not
    observed; where group k has no product in market m, :math:`\lambda^k_m` is the group's
    mean intercept (:func:`filled`). In y's centred units (see :class:`~course_lib.nests.panel.Panel`).
    """
    fitted = np.einsum("kq,qjm->kjm", beta, panel.w) + filled(lam).T[:, None, :]
    return (panel.y[None] - fitted) * panel.observed[None]


def costs(panel: Panel, beta: np.ndarray, lam: np.ndarray) -> np.ndarray:
    r"""Each product's sum of squared residuals under each group's coefficients, shape (J, K).

    .. math::
        SSR_{jk} = \sum_{m: (j, m) \text{ observed}} (y_{jm} - \beta^{k\prime} w_{jm} - \lambda^k_m)^2 .
    """
    e = residuals(panel, beta, lam)
    return np.einsum("kjm,kjm->jk", e, e)


def reassign(costs: np.ndarray, labels: np.ndarray, scale: np.ndarray) -> np.ndarray:
    r"""Step (b): each product to its cheapest group, :math:`k(j) = \arg\min_k SSR_{jk}`.

    A product stays where its own group is tied with the cheapest
    (:func:`~course_lib.nests.ties.first_within`, ``scale`` (J,) the size of each product's
    sums); otherwise it joins the lowest-numbered group tied with the cheapest. So a product
    moves only if another group fits it better by more than rounding, and no start cycles
    on ties. A group left empty takes the worst-fitted product of a group with more than one
    (:func:`~course_lib.nests.ties.fill_empty_groups`).
    """
    J, K = costs.shape
    cheapest, threshold = first_within(costs, scale, axis=1)
    own = costs[np.arange(J), labels]
    new = np.where(own <= threshold, labels, cheapest)
    if (np.bincount(new, minlength=K) == 0).any():
        new = fill_empty_groups(new, costs[np.arange(J), new], K, scale.max())
    return new
