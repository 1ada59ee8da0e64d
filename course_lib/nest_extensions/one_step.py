r"""Data-driven nests in one step: Berry's regression and the reassignment of products, alternated.

:func:`one_step_berry` alternates Berry's 2SLS given the nests and the reassignment of each
product to the nest that minimises its own squared Berry residual, from a starting
assignment (e.g. :func:`course_lib.nests.classify`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import plain
from ..nested_logit import NestedLogitResult, berry_regression, nest_instruments
from ..nests import GFEResult, first_within
from .common import check_frame, log_share_ratio

__all__ = ["OneStepResult", "one_step_berry"]


@dataclass
class OneStepResult:
    r"""The alternation of Berry's 2SLS and the reassignment of products, from one start.

    Attributes
    ----------
    labels : pandas.Series
        Final nest of each product (0, ..., K-1), indexed by product id.
    estimates : NestedLogitResult
        Berry's regression at the final nests.
    objectives : ndarray
        :math:`\sum \hat\xi^2`, the sum of squared 2SLS residuals, after each regression.
    moves : ndarray of int
        Number of products that changed nest after each regression.
    converged : bool
        No product moved.
    cycled : bool
        An assignment came back (the alternation does not descend a common objective, so
        it can cycle); it stops there.
    """

    labels: pd.Series
    estimates: NestedLogitResult
    objectives: np.ndarray
    moves: np.ndarray
    converged: bool
    cycled: bool


def one_step_berry(
    data: pd.DataFrame,
    K: int,
    start,
    characteristics=("x",),
    exogenous_prices: bool = True,
    price_instruments=(),
    max_iterations: int = 50,
) -> OneStepResult:
    r"""The slides' one-step problem with Berry's inversion, by alternation.

    Alternates, from the assignment ``start``,

    (a) given the nests, Berry's 2SLS (:func:`course_lib.nested_logit.berry_regression`,
        the slides' instruments of the characteristics, and of prices when exogenous):
        :math:`\hat\beta, \hat\alpha, \hat\sigma_k`;
    (b) given :math:`(\hat\beta, \hat\alpha, \hat\sigma)`, each product to the nest that
        minimises its own sum of squared Berry residuals, with its within-nest share
        recomputed as if it alone moved there:

        .. math::
            \hat k(j) = \arg\min_k \sum_m \Big(\log\frac{s_{jm}}{s_{0m}} - x_{jm}\hat\beta
            - \hat\alpha p_{jm} - (1 - \hat\sigma_k) \log\frac{s_{jm}}{S^{-j}_{km} + s_{jm}}\Big)^2,

        :math:`S^{-j}_{km}` the total share of nest k's other products in market m (a
        product stays unless another nest fits it strictly better);

    until no product moves, an assignment repeats, or ``max_iterations``. A nest left with
    fewer than two products takes the worst-fitted products of the largest nests.

    Step (b) ignores that moving j changes the within-nest shares of its old and new
    nest-mates, and step (a) minimises the 2SLS criterion, not the sum of squares: the
    alternation descends no single objective, so it may cycle or stop at a poor
    assignment; start it from a good classification (e.g. :func:`course_lib.nests.classify`).
    Warnings of the intermediate regressions (a :math:`\hat\sigma_k` outside (0, 1] on
    badly mixed nests) are silenced; the regression at the final nests warns as usual.

    Parameters
    ----------
    data : pandas.DataFrame
        ``market_ids``, ``product_ids``, ``shares``, ``prices``, the characteristics and the
        price instruments.
    K : int
    start : pandas.Series, GFEResult or array_like
        Starting nest (0, ..., K-1) of each product: a Series indexed by product id, a
        :class:`course_lib.nests.GFEResult`, or an array over the sorted product ids.
    characteristics, exogenous_prices, price_instruments
        As in :func:`course_lib.nests.two_step`.
    max_iterations : int

    Returns
    -------
    OneStepResult
    """
    characteristics = (characteristics,) if isinstance(characteristics, str) else tuple(characteristics)
    price_instruments = (price_instruments,) if isinstance(price_instruments, str) else tuple(price_instruments)
    check_frame(data, ("market_ids", "product_ids", "shares", "prices", *characteristics, *price_instruments),
             "one_step_berry")
    if not exogenous_prices and not price_instruments:
        raise ValueError("With endogenous prices, name at least one excluded instrument in price_instruments.")
    if "outside_shares" in data.columns:
        raise ValueError("one_step_berry computes the outside share from the rows of data (as Berry's regression "
                         "does); drop the outside_shares column.")
    if int(K) != K or K < 1:
        raise ValueError(f"K must be a positive integer; got {K}.")
    if int(max_iterations) != max_iterations or max_iterations < 1:
        raise ValueError(f"max_iterations must be a positive integer; got {max_iterations}.")
    K = int(K)
    products, j_pos = np.unique(data["product_ids"].to_numpy(), return_inverse=True)
    J = len(products)
    if isinstance(start, GFEResult):
        start = start.labels
    if isinstance(start, pd.Series):
        missing = [plain(p) for p in products if p not in start.index]
        if missing:
            raise ValueError(f"start has no nest for product(s) {missing[:5]}.")
        labels = start.loc[products].to_numpy()
    else:
        labels = np.asarray(start).ravel()
        if len(labels) != J:
            raise ValueError(f"start has {len(labels)} labels for {J} products (one per sorted product id).")
    if pd.isna(labels).any() or not np.all(np.isin(labels, np.arange(K))):
        raise ValueError(f"start must label every product with a nest in 0, ..., {K - 1}.")
    if 2 * K > J:
        raise ValueError(f"K={K} nests of at least two products need {2 * K} products; data has {J}.")
    labels = labels.astype(int)

    s = data["shares"].to_numpy(dtype=float)
    p = data["prices"].to_numpy(dtype=float)
    X = data[list(characteristics)].to_numpy(dtype=float)
    market_ids = data["market_ids"].to_numpy()
    _, m_pos = np.unique(market_ids, return_inverse=True)
    y = log_share_ratio(data)
    base = np.column_stack([X, p]) if exogenous_prices else X
    extra = data[list(price_instruments)].to_numpy(dtype=float) if price_instruments else np.zeros((len(s), 0))
    M = int(m_pos.max()) + 1

    def regression(labels):
        nest_ids = labels[j_pos]
        Z = np.column_stack([nest_instruments(base, nest_ids, market_ids)[0], extra])
        return nest_ids, berry_regression(s, p, X, nest_ids, market_ids, Z, x_names=list(characteristics),
                                          constant=False, exogenous_prices=exogenous_prices)

    objectives, moves, seen = [], [], {labels.tobytes()}
    converged = cycled = False
    for _ in range(int(max_iterations)):  # iterations of the alternation
        with warnings.catch_warnings():  # sigma outside (0, 1] on the way is expected; the final fit warns
            warnings.simplefilter("ignore", UserWarning)
            nest_ids, est = regression(labels)
        objectives.append(float(est.xi @ est.xi))
        one_minus_sigma = 1.0 - est.sigma.reindex(range(K)).to_numpy()
        totals = np.zeros((M, K))
        np.add.at(totals, (m_pos, nest_ids), s)
        others = totals[m_pos] - s[:, None] * (nest_ids[:, None] == np.arange(K))  # S^{-j}_{km}, (N, K)
        resid = (y - X @ est.beta.to_numpy() - est.alpha * p)[:, None] \
            - one_minus_sigma[None, :] * np.log(s[:, None] / (others + s[:, None]))
        cost = np.zeros((J, K))
        np.add.at(cost, j_pos, resid**2)
        own = cost[np.arange(J), labels]
        # Step (b) with classify's rule for ties (nests.first_within): a product stays where
        # its own nest is tied with the best one, else joins the lowest-numbered tied nest.
        # The costs are direct sums of squares, so their rounding is relative to themselves
        # plus one (scale 1).
        best, threshold = first_within(cost.T, 1.0, axis=0)
        new = np.where(own <= threshold, labels, best)
        new = _at_least_two(new, cost[np.arange(J), new], K)
        moves.append(int((new != labels).sum()))
        if moves[-1] == 0:
            converged = True
            break
        labels = new
        key = labels.tobytes()
        if key in seen:
            cycled = True
            break
        seen.add(key)
    _, est = regression(labels)  # the final nests' regression, with berry_regression's own warnings
    return OneStepResult(
        labels=pd.Series(labels, index=pd.Index(products, name="product_ids"), name="nest"),
        estimates=est, objectives=np.array(objectives), moves=np.array(moves, dtype=int),
        converged=converged, cycled=cycled,
    )


def _at_least_two(labels: np.ndarray, cost: np.ndarray, K: int) -> np.ndarray:
    """Give every nest with fewer than two products the worst-fitted products of the largest nests
    (the lowest-numbered among tied costs, as in :func:`course_lib.nests.classify`)."""
    labels = labels.copy()
    cost = cost.astype(float).copy()
    for k in range(K):  # nests
        while (labels == k).sum() < 2:  # 2K <= J, so some other nest has more than two
            sizes = np.bincount(labels, minlength=K)
            donors = np.flatnonzero((sizes[labels] > 2) & (labels != k))
            j = int(donors[first_within(-cost[donors], 1.0)[0]])  # the largest cost
            labels[j] = k
            cost[j] = -np.inf
    return labels
