r"""The data of the classification as a products x markets panel, checked once.

:func:`build_panel` reads long-format data (one row per product sold in a market), checks
it, and returns a :class:`Panel`: :math:`y_{jm} = \log(s_{jm}/s_{0m})`, the regressors
:math:`w_{jm}` and the indicator of the pairs observed, as (J, M) arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .._checks import plain, table_columns, unique_inverse
from ..logit import logit_inversion


def show_id(x) -> str:
    """An id as it reads in a message: ``7`` or ``'a'``, not ``np.int64(7)``."""
    return repr(plain(x))


@dataclass
class Panel:
    r"""One data set as products x markets arrays: the layout of the slides' formulas.

    Pairs (j, m) where product j is not sold hold 0 in ``y`` and ``w`` and 0 in
    ``observed``, so that sums over the observed pairs are plain sums. ``y`` and ``w`` are
    centred (their means over the observed pairs subtracted): slopes are unchanged, the
    intercepts absorb the means (undone by :func:`course_lib.nests.result.gfe_result`), and
    sums of squares lose less to cancellation.
    """

    product_ids: np.ndarray  # (J,) sorted
    market_ids: np.ndarray  # (M,) sorted
    regressors: tuple  # names of the Q regressors
    observed: np.ndarray  # (J, M), 1.0 where product j is sold in market m
    y: np.ndarray  # (J, M), log(s_jm / s_0m), centred
    w: np.ndarray  # (Q, J, M), the regressors, centred
    y_mean: float
    w_mean: np.ndarray  # (Q,)

    @cached_property
    def product_scale(self) -> np.ndarray:
        r"""(J,): the size of the sums in a product's sum of squares, :math:`\sum_m y_{jm}^2 + 1`,
        which carries their rounding (the scale of :data:`~course_lib.nests.ties.TIE_RTOL`)."""
        return np.einsum("jm,jm->j", self.y, self.y) + 1.0

    @cached_property
    def total_scale(self) -> float:
        r"""The size of the sums in the objective, :math:`\sum_{jm} y_{jm}^2 + J`."""
        return float(np.einsum("jm,jm->j", self.y, self.y).sum() + len(self.product_ids))


def build_panel(data, regressors: tuple, min_markets: int = 2) -> Panel:
    """Check the long-format data and pivot it to the products x markets layout.

    Every check names the product or market at fault: a missing column, a missing id, a
    share that is not finite or not positive, a non-finite regressor, a repeated
    product-market pair, inside shares that leave no room for the outside good (or that
    exceed one with the given ``outside_shares``), a product seen in fewer than ``min_markets``
    markets (two for a classification; one suffices to assign a product to estimated groups).
    """
    needed = ["market_ids", "product_ids", "shares", *regressors]
    data = table_columns(data, needed, ("outside_shares",), who="classify")
    if len(data["shares"]) == 0:
        raise ValueError("data has no rows.")
    market_raw, product_raw = data["market_ids"], data["product_ids"]
    for name, ids in (("market_ids", market_raw), ("product_ids", product_raw)):
        if pd.isna(ids).any():
            i = int(np.flatnonzero(pd.isna(ids))[0])
            raise ValueError(f"{name} is missing (NaN) in row {i}.")
    shares = data["shares"].astype(float, copy=False)
    bad = ~np.isfinite(shares)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"Share of product {show_id(product_raw[i])} in market {show_id(market_raw[i])} is not "
            "finite (NaN or inf); drop the row if the product is not sold there."
        )
    bad = shares <= 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"Share of product {show_id(product_raw[i])} in market {show_id(market_raw[i])} is "
            f"{shares[i]:.6g}; shares must be strictly positive (log 0 is undefined)."
        )
    W = np.column_stack([data[c].astype(float, copy=False) for c in regressors] or [np.zeros((len(shares), 0))])
    bad = ~np.isfinite(W)
    if bad.any():
        i, q = (int(a[0]) for a in np.nonzero(bad))
        raise ValueError(
            f"Regressor {regressors[q]!r} of product {show_id(product_raw[i])} in market "
            f"{show_id(market_raw[i])} is not finite."
        )
    markets, m_idx = unique_inverse(market_raw)
    products, j_idx = unique_inverse(product_raw)
    J, M, Q = len(products), len(markets), len(regressors)
    pair = j_idx * M + m_idx  # position of (j, m) in the flattened J x M layout
    counts = np.bincount(pair, minlength=J * M).reshape(J, M)
    if (counts > 1).any():
        j, m = (int(a[0]) for a in np.nonzero(counts > 1))
        raise ValueError(
            f"Product {show_id(products[j])} appears {counts[j, m]} times in market "
            f"{show_id(markets[m])}; each product-market pair must be one row."
        )
    n_markets = counts.sum(axis=1)
    if (n_markets < min_markets).any():
        j = int(np.flatnonzero(n_markets < min_markets)[0])
        raise ValueError(
            f"Product {show_id(products[j])} is seen in {n_markets[j]} market(s); classification "
            "needs every product in at least two markets (drop it or pool markets)."
        )
    # y_jm = log(s_jm / s_0m), checking the outside shares (given, or one minus the inside shares).
    y_long = logit_inversion(shares, market_raw, data.get("outside_shares"))
    y_mean = float(y_long.mean())
    w_mean = W.mean(axis=0)
    # Centring leaves slopes unchanged (intercepts absorb it) and tames cancellation.
    observed = (counts > 0).astype(float)
    y = np.zeros(J * M)
    y[pair] = y_long - y_mean
    w = np.zeros((Q, J * M))
    for q in range(Q):  # regressors, never products or markets
        w[q, pair] = W[:, q] - w_mean[q]
    return Panel(products, markets, tuple(regressors), observed, y.reshape(J, M), w.reshape(Q, J, M),
                 y_mean, w_mean)
