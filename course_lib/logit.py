"""The plain logit with an outside good: shares, their inversion, elasticities.

Utility is ``u_ijt = delta_jt + eps_ijt`` with ``eps`` i.i.d. type I extreme
value and the outside good's utility normalised to ``eps_i0t``. Prices enter
``delta`` as ``+ alpha * price`` with ``alpha < 0`` (pyBLP's convention).
"""

from __future__ import annotations

import numpy as np

from ._checks import as_vector, check_finite, check_same_length, check_shares, plain
from .supply import PriceDerivatives

__all__ = [
    "logit_shares",
    "logit_inversion",
    "logit_elasticities",
    "logit_price_derivatives",
    "logit_equilibrium_prices",
]


def _market_index(market_ids, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique market ids and the position of each row's market among them."""
    if market_ids is None:
        return np.zeros(1), np.zeros(n, dtype=int)
    market_ids = np.asarray(market_ids)
    if market_ids.ndim != 1:
        market_ids = market_ids.ravel()
    check_same_length(shares_or_delta=np.empty(n), market_ids=market_ids)
    return np.unique(market_ids, return_inverse=True)


def logit_shares(delta, market_ids=None) -> np.ndarray:
    r"""Logit market shares with an outside good whose mean utility is zero.

    .. math::
        s_{jt} = \frac{\exp \delta_{jt}}{1 + \sum_{k \in J_t} \exp \delta_{kt}}

    computed as :math:`\exp(\delta_{jt} - m_t) / (\exp(-m_t) + \sum_k \exp(\delta_{kt} - m_t))`
    with :math:`m_t = \max(0, \max_k \delta_{kt})`, so that no exponential overflows
    (``delta = 800`` gives finite shares).

    Parameters
    ----------
    delta : array_like, shape (N,)
        Mean utilities of the inside goods.
    market_ids : array_like, shape (N,), optional
        Market of each product; all products form one market if omitted.

    Returns
    -------
    ndarray, shape (N,)
        Inside-good shares.
    """
    delta = as_vector(delta, "delta")
    check_finite(delta, "delta")
    _, inv = _market_index(market_ids, len(delta))
    n_markets = inv.max() + 1 if len(inv) else 0
    m = np.zeros(n_markets)
    np.maximum.at(m, inv, delta)
    expd = np.exp(delta - m[inv])
    denom = np.exp(-m) + np.bincount(inv, weights=expd, minlength=n_markets)
    return expd / denom[inv]


def logit_inversion(shares, market_ids=None, outside_shares=None) -> np.ndarray:
    r"""Berry's (1994) inversion of logit shares into mean utilities: the log share ratio.

    .. math::
        \delta_{jt} = \log s_{jt} - \log s_{0t}, \qquad s_{0t} = 1 - \sum_{k \in J_t} s_{kt}.

    It is also the left-hand side :math:`y_{jt} = \log(s_{jt}/s_{0t})` of every Berry
    regression in the course (nested logit, data-driven nests), which compute it here.

    Parameters
    ----------
    shares : array_like, shape (N,)
        Observed inside-good shares, each in (0, 1), summing below one in each market.
    market_ids : array_like, shape (N,), optional
        Market of each product; all products form one market if omitted.
    outside_shares : array_like, shape (N,), optional
        The outside share :math:`s_{0t}` of each row's market, when the data keep only some
        of a market's products (the same on every row of a market; inside plus outside
        shares at most one). Default: one minus the market's inside shares.

    Returns
    -------
    ndarray, shape (N,)
        Mean utilities ``delta`` with ``logit_shares(delta, market_ids) == shares`` (without
        ``outside_shares``).

    Raises
    ------
    ValueError
        If a share is zero, negative or NaN, a market's shares sum to one or more, or an
        outside share lies outside (0, 1), differs within a market or leaves the market's
        shares summing above one.
    """
    shares = as_vector(shares, "shares")
    ids = np.zeros(len(shares), dtype=int) if market_ids is None else np.asarray(market_ids).ravel()
    check_same_length(shares=shares, market_ids=ids)
    check_shares(shares, None if market_ids is None else ids)
    markets, inv = np.unique(ids, return_inverse=True)
    inside = np.bincount(inv, weights=shares)
    if outside_shares is None:
        return np.log(shares) - np.log1p(-inside)[inv]
    s0 = as_vector(outside_shares, "outside_shares")
    check_same_length(shares=shares, outside_shares=s0)
    bad = ~(np.isfinite(s0) & (s0 > 0) & (s0 < 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"outside_shares in market {plain(ids[i])!r} is {s0[i]:.6g}; it must lie in (0, 1).")
    by_market = np.zeros(len(markets))
    by_market[inv] = s0
    if not np.array_equal(by_market[inv], s0):
        raise ValueError(f"outside_shares differs across rows of market {plain(ids[np.argmax(by_market[inv] != s0)])!r}.")
    over = inside + by_market > 1 + 1e-12
    if over.any():
        m = int(np.flatnonzero(over)[0])
        raise ValueError(f"Inside shares in market {plain(markets[m])!r} sum to {inside[m]:.6g}, which with the "
                         f"outside share {by_market[m]:.6g} exceeds one.")
    return np.log(shares) - np.log(s0)


def logit_elasticities(prices, shares, alpha: float) -> np.ndarray:
    r"""Price elasticities of logit demand in one market.

    .. math::
        \varepsilon_{jk} = \frac{\partial \log s_j}{\partial \log p_k}
        = \alpha\, p_k \left(1\{j = k\} - s_k\right).

    Parameters
    ----------
    prices, shares : array_like, shape (J,)
        Prices and inside shares of the market's products.
    alpha : float
        Price coefficient (negative: utility includes ``alpha * price``).

    Returns
    -------
    ndarray, shape (J, J)
        Entry ``[j, k]`` is the elasticity of product j's share with respect to product k's price.
    """
    prices = as_vector(prices, "prices")
    shares = as_vector(shares, "shares")
    check_same_length(prices=prices, shares=shares)
    check_finite(prices, "prices")
    check_shares(shares)
    return alpha * (np.eye(len(shares)) - shares[None, :]) * prices[None, :]


def logit_price_derivatives(shares, alpha: float) -> PriceDerivatives:
    r"""Share derivatives with respect to prices in one logit market.

    .. math::
        \frac{\partial s_j}{\partial p_k} = \alpha s_j (1\{j=k\} - s_k)
        = \Lambda_{jk} - \Gamma_{jk}, \quad \Lambda = \alpha\,\mathrm{diag}(s), \quad \Gamma = \alpha s s'.

    The split into ``Lambda`` and ``Gamma`` is what the zeta-markup iteration of
    Morrow and Skerlos (2011) needs.
    """
    shares = as_vector(shares, "shares")
    return PriceDerivatives(shares=shares, lambda_diag=alpha * shares, gamma=alpha * np.outer(shares, shares))


def logit_equilibrium_prices(
    mean_utility,
    alpha: float,
    costs,
    firm_ids,
    market_ids,
    method: str = "zeta",
    **options,
) -> tuple[np.ndarray, list]:
    r"""Bertrand-Nash equilibrium prices under logit demand in every market.

    Utility is :math:`\delta_{jt} = \bar u_{jt} + \alpha p_{jt}`, with :math:`\bar u_{jt}`
    the part that does not depend on price (``x beta + xi``). Each market is solved by
    :func:`course_lib.supply.bertrand_nash_prices`.

    Parameters
    ----------
    mean_utility : array_like, shape (N,)
        :math:`\bar u_{jt}`, utility net of the price term.
    alpha : float
        Price coefficient (negative).
    costs, firm_ids, market_ids : array_like, shape (N,)
    method : str
        Passed to :func:`~course_lib.supply.bertrand_nash_prices`, as are ``options``.

    Returns
    -------
    prices : ndarray, shape (N,)
    results : list of EquilibriumResult
        One per market, in the order of ``numpy.unique(market_ids)``.
    """
    from .supply import bertrand_nash_prices

    mean_utility = as_vector(mean_utility, "mean_utility")
    costs = as_vector(costs, "costs")
    firm_ids = np.asarray(firm_ids).ravel()
    market_ids = np.asarray(market_ids).ravel()
    check_same_length(mean_utility=mean_utility, costs=costs, firm_ids=firm_ids, market_ids=market_ids)
    if not alpha < 0:
        raise ValueError(f"alpha must be negative (utility includes alpha * price); got {alpha}.")
    prices = np.empty_like(costs)
    results = []
    for t in np.unique(market_ids):
        rows = np.flatnonzero(market_ids == t)

        def demand(p, rows=rows):
            return logit_price_derivatives(logit_shares(mean_utility[rows] + alpha * p), alpha)

        result = bertrand_nash_prices(demand, costs[rows], firm_ids[rows], method=method, **options)
        if not result.converged:
            raise RuntimeError(f"Equilibrium prices did not converge in market {t!r}.")
        prices[rows] = result.prices
        results.append(result)
    return prices, results
