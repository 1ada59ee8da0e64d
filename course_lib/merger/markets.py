"""The demand objects of every market from stacked data (pyBLP's layout: one row per product
and market, the markets' rows in any order).

:func:`logit_demands`, :func:`nested_logit_demands` and :func:`rc_logit_demands` return a
dict from market id to the market's :mod:`~course_lib.merger.demand` object, the input of
:func:`course_lib.merger.simulate_merger`; :func:`market_rows` and :func:`stacked_vector`
are the row bookkeeping they share with it.
"""

from __future__ import annotations

import numpy as np

from .._checks import as_matrix, as_vector, plain
from .demand import LogitDemand, NestedLogitDemand, RCLogitDemand, sigma_by_nest

__all__ = ["market_rows", "stacked_vector", "logit_demands", "nested_logit_demands", "rc_logit_demands"]


def market_rows(market_ids):
    """The stacked rows of each market.

    Parameters
    ----------
    market_ids : array_like, shape (N,)

    Returns
    -------
    market_ids : ndarray, shape (N,)
        Flattened.
    unique : ndarray, shape (T,)
        The sorted unique market ids.
    rows : list of ndarray
        For each of ``unique``, the positions of its rows (in their order of appearance).
    """
    market_ids = np.asarray(market_ids).ravel()
    if len(market_ids) == 0:
        raise ValueError("market_ids is empty.")
    unique, inverse = np.unique(market_ids, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    splits = np.cumsum(np.bincount(inverse))[:-1]
    return market_ids, unique, np.split(order, splits)


def _in_market(t, build):
    """``build()``, with the market named in any ValueError it raises."""
    try:
        return build()
    except ValueError as error:
        raise ValueError(f"Market {plain(t)!r}: {error}") from error


def stacked_vector(name, values, n):
    """``values`` as a 1-D float array of the ``n`` stacked rows (``name`` in the message if not)."""
    v = as_vector(values, name)
    if len(v) != n:
        raise ValueError(f"{name} has {len(v)} entries for {n} products (market_ids).")
    return v


def logit_demands(delta, prices, alpha: float, market_ids) -> dict:
    """:class:`LogitDemand` of every market, keyed by market id (stacked rows, pyBLP's layout)."""
    market_ids, unique, rows = market_rows(market_ids)
    n = len(market_ids)
    delta, prices = stacked_vector("delta", delta, n), stacked_vector("prices", prices, n)
    return {plain(t): _in_market(t, lambda r=r: LogitDemand(delta[r], prices[r], alpha)) for t, r in zip(unique, rows)}


def nested_logit_demands(delta, prices, alpha: float, nest_ids, sigma, market_ids) -> dict:
    """:class:`NestedLogitDemand` of every market, keyed by market id.

    ``sigma`` (dissimilarity, pyBLP's ``rho = 1 - sigma``): a scalar, a dict keyed by nest id, or
    one value per sorted nest id of the whole data (pyBLP's order for ``rho``).
    """
    market_ids, unique, rows = market_rows(market_ids)
    n = len(market_ids)
    delta, prices = stacked_vector("delta", delta, n), stacked_vector("prices", prices, n)
    nest_ids = np.asarray(nest_ids).ravel()
    if len(nest_ids) != n:
        raise ValueError(f"nest_ids has {len(nest_ids)} entries for {n} products (market_ids).")
    by_nest = sigma_by_nest(sigma, np.unique(nest_ids))
    return {plain(t): _in_market(t, lambda r=r: NestedLogitDemand(delta[r], prices[r], alpha, nest_ids[r], by_nest))
            for t, r in zip(unique, rows)}


def rc_logit_demands(delta, prices, alpha: float, X2, sigma, zeta, market_ids, agent_market_ids, weights=None,
                     price_column=None) -> dict:
    """:class:`RCLogitDemand` of every market, keyed by market id.

    ``X2`` (N, K) stacked like the products; ``zeta`` (R, K) and ``weights`` (R,) stacked like the
    agents, whose markets are ``agent_market_ids``.
    """
    market_ids, unique, rows = market_rows(market_ids)
    n = len(market_ids)
    delta, prices = stacked_vector("delta", delta, n), stacked_vector("prices", prices, n)
    X2 = as_matrix(X2, "X2", n, row="product")
    agent_market_ids = np.asarray(agent_market_ids).ravel()
    zeta = np.asarray(zeta, dtype=float)
    if zeta.ndim == 1:
        zeta = zeta[:, None]
    if zeta.shape[0] != len(agent_market_ids):
        raise ValueError(f"zeta has {zeta.shape[0]} rows for {len(agent_market_ids)} agent_market_ids.")
    if weights is not None:
        weights = as_vector(weights, "weights")
        if len(weights) != len(agent_market_ids):
            raise ValueError(f"weights has {len(weights)} entries for {len(agent_market_ids)} agent_market_ids.")
    demands = {}
    for t, r in zip(unique, rows):
        agents = np.flatnonzero(agent_market_ids == t)
        if len(agents) == 0:
            raise ValueError(f"Market {plain(t)!r} has no agents (agent_market_ids).")
        demands[plain(t)] = _in_market(t, lambda r=r, agents=agents: RCLogitDemand(
            delta[r], prices[r], alpha, X2[r], sigma, zeta[agents], None if weights is None else weights[agents],
            price_column))
    return demands
