r"""Costs, elasticities, diversion and mergers, given one market's demand object.

**Costs** (DESIGN.md section 6 item 3, mind the transpose): the first-order conditions
:math:`s + (\Omega \circ \partial s/\partial p)'(p - c) = 0` give
:math:`c = p + ((\Omega \circ \partial s/\partial p)')^{-1} s`, pyBLP's
``ProblemResults.compute_costs`` (its :math:`c = p - \eta`).

**Diversion ratios** follow pyBLP's ``compute_diversion_ratios`` layout: entry ``[j, k]`` for
:math:`k \ne j` is :math:`D_{jk} = -(\partial s_k/\partial p_j)/(\partial s_j/\partial p_j)`, the
share of product j's lost sales that go to k, and the diagonal holds the outside good's
:math:`D_{j0} = (\sum_k \partial s_k/\partial p_j)/(\partial s_j/\partial p_j)`; each row sums to one.

**Mergers** (:func:`simulate_merger`): costs under the old ownership, the Bertrand-Nash prices
under the new one (:func:`course_lib.supply.bertrand_nash_prices`) and consumer surplus at both,
market by market (:class:`MergerResult`); the change in consumer surplus is
:math:`CS(p^{post}) - CS(p^{pre})`, with :math:`\xi` and :math:`x\beta` held fixed.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .._checks import check_finite, plain
from ..supply import bertrand_nash_prices, ownership_matrix
from .markets import market_rows, stacked_vector

__all__ = [
    "recover_costs",
    "elasticities",
    "diversion_ratios",
    "merge_firm_ids",
    "MergerResult",
    "simulate_merger",
]


def _firm_ids(firm_ids, J: int, name: str = "firm_ids") -> np.ndarray:
    firm_ids = np.asarray(firm_ids).ravel()
    if len(firm_ids) != J:
        raise ValueError(f"{name} has {len(firm_ids)} entries for the market's {J} products.")
    return firm_ids


def recover_costs(demand, firm_ids, prices=None) -> np.ndarray:
    r"""Marginal costs that make ``prices`` a Bertrand-Nash equilibrium of one market.

    .. math::
        c = p + \big((\Omega \circ \partial s/\partial p)'\big)^{-1} s,

    from :math:`s + (\Omega\circ\partial s/\partial p)'(p - c) = 0` (solved, not inverted).

    Parameters
    ----------
    demand : LogitDemand, NestedLogitDemand or RCLogitDemand
    firm_ids : array_like, shape (J,)
    prices : array_like, shape (J,), optional
        Default: the observed prices the demand was built at.

    Returns
    -------
    ndarray, shape (J,)
    """
    p = demand.checked_prices(prices)
    omega = ownership_matrix(_firm_ids(firm_ids, demand.J))
    d = demand(p)
    return p + np.linalg.solve((omega * d.jacobian).T, d.shares)


def elasticities(demand, prices=None) -> np.ndarray:
    r"""Price elasticities :math:`\varepsilon_{jk} = (\partial s_j/\partial p_k)\, p_k / s_j` in one market.

    Entry ``[j, k]``: the elasticity of j's share with respect to k's price (pyBLP's
    ``compute_elasticities`` layout).
    """
    p = demand.checked_prices(prices)
    d = demand(p)
    return d.jacobian * p[None, :] / d.shares[:, None]


def diversion_ratios(demand, prices=None) -> np.ndarray:
    r"""Diversion ratios in one market, pyBLP's layout (outside good on the diagonal).

    .. math::
        D_{jk} = -\frac{\partial s_k/\partial p_j}{\partial s_j/\partial p_j}\ (k \ne j), \qquad
        D_{jj} := D_{j0} = \frac{\sum_k \partial s_k/\partial p_j}{\partial s_j/\partial p_j}.

    Rows sum to one. pyBLP forms row j from the j-th *row* of the Jacobian,
    :math:`-(\partial s_j/\partial p_k)/(\partial s_j/\partial p_j)`; without income effects the
    Jacobian is symmetric (Slutsky), so the two agree.

    Returns
    -------
    ndarray, shape (J, J)
    """
    jac = demand(demand.checked_prices(prices)).jacobian  # [j, k] = ds_j/dp_k
    own = np.diag(jac).copy()
    if (own >= 0).any():
        j = int(np.flatnonzero(own >= 0)[0])
        raise ValueError(f"Product {j}'s share does not fall with its own price (ds/dp = {own[j]:.3g}); "
                         "diversion ratios are undefined.")
    ratios = -jac.T / own[:, None]
    np.fill_diagonal(ratios, jac.sum(axis=0) / own)
    return ratios


# ----------------------------------------------------------------------------------------------
# Mergers.


def merge_firm_ids(firm_ids, merging, new_id=None) -> np.ndarray:
    """Firm ids after the firms in ``merging`` merge into one.

    Parameters
    ----------
    firm_ids : array_like, shape (N,)
    merging : sequence
        Ids of the merging firms (each must occur in ``firm_ids``; repeating one is allowed and
        merges nothing).
    new_id : optional
        Id of the merged firm; default the first of ``merging``.

    Returns
    -------
    ndarray, shape (N,)

    Raises
    ------
    ValueError
        No merging firm, a merging firm not in ``firm_ids``, or a ``new_id`` that
        ``firm_ids``' dtype cannot hold as it is (e.g. a name for integer ids, or a name
        longer than the ids' fixed-width strings).
    """
    firm_ids = np.asarray(firm_ids).ravel()
    merging = [plain(f) for f in np.atleast_1d(np.asarray(merging, dtype=object))]
    if not merging:
        raise ValueError("merging lists no firm.")
    present = set(plain(f) for f in np.unique(firm_ids))
    unknown = [f for f in merging if f not in present]
    if unknown:
        raise ValueError(f"Unknown firm id(s) {unknown}: firm_ids has {sorted(present)}.")
    new_id = merging[0] if new_id is None else new_id
    out = firm_ids.copy()
    merged = np.isin(firm_ids, np.array(merging, dtype=firm_ids.dtype))
    try:
        out[merged] = new_id
    except (TypeError, ValueError) as error:
        raise ValueError(f"new_id {new_id!r} cannot be stored in firm_ids of dtype {firm_ids.dtype}; "
                         "give an id of the same kind as firm_ids.") from error
    stored = plain(out[merged][0])
    if stored != new_id:
        raise ValueError(f"new_id {new_id!r} does not fit firm_ids of dtype {firm_ids.dtype} (it would be stored "
                         f"as {stored!r}); give an id of the same kind as firm_ids.")
    return out


@dataclass
class MergerResult:
    r"""Prices, markups, shares and consumer surplus before and after a change in ownership.

    Product-level arrays are stacked like the input rows; market-level ones follow
    ``market_ids`` (sorted).

    Attributes
    ----------
    prices_pre, prices_post : ndarray, shape (N,)
        Observed prices and the new equilibrium prices.
    costs : ndarray, shape (N,)
        Marginal costs (recovered from the pre-merger first-order conditions unless given).
    markups_pre, markups_post : ndarray, shape (N,)
        :math:`p - c`.
    lerner_pre, lerner_post : ndarray, shape (N,)
        :math:`(p - c)/p`, pyBLP's ``compute_markups``.
    shares_pre, shares_post : ndarray, shape (N,)
        The model's shares at the two price vectors.
    market_ids : ndarray, shape (T,)
    cs_pre, cs_post, delta_cs : ndarray, shape (T,)
        Consumer surplus per unit of market size (money units of prices) and its change.
    converged : ndarray of bool, shape (T,)
    iterations : ndarray of int, shape (T,)
    foc_norm : ndarray, shape (T,)
        Max absolute first-order condition at the new prices, post-merger ownership.
    """

    prices_pre: np.ndarray
    prices_post: np.ndarray
    costs: np.ndarray
    shares_pre: np.ndarray
    shares_post: np.ndarray
    market_ids: np.ndarray
    cs_pre: np.ndarray
    cs_post: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    foc_norm: np.ndarray

    @property
    def markups_pre(self) -> np.ndarray:
        return self.prices_pre - self.costs

    @property
    def markups_post(self) -> np.ndarray:
        return self.prices_post - self.costs

    @property
    def lerner_pre(self) -> np.ndarray:
        return self.markups_pre / self.prices_pre

    @property
    def lerner_post(self) -> np.ndarray:
        return self.markups_post / self.prices_post

    @property
    def delta_cs(self) -> np.ndarray:
        return self.cs_post - self.cs_pre


def _demand_of(demands, t):
    if isinstance(demands, Mapping):
        for key in (plain(t), t):
            if key in demands:
                return demands[key]
        raise ValueError(f"No demand for market {plain(t)!r}.")
    raise ValueError("demands must be a mapping from market id to a demand object (e.g. logit_demands(...)).")


def simulate_merger(demands, firm_ids, new_firm_ids, market_ids, costs=None, method: str = "zeta",
                    tol: float = 1e-13, max_iterations: int = 10_000, damping: float = 1.0) -> MergerResult:
    r"""Bertrand-Nash prices and consumer surplus after a change in ownership, market by market.

    In each market: costs :math:`c = p + ((\Omega\circ\partial s/\partial p)')^{-1}s` under the
    pre-merger ownership (unless ``costs`` are given), then the prices solving
    :math:`s(p) + (\Omega^{post}\circ\partial s/\partial p)'(p - c) = 0`
    (:func:`course_lib.supply.bertrand_nash_prices`, started at the observed prices), then the
    shares and consumer surplus at both price vectors (the demand's ``consumer_surplus``).

    Parameters
    ----------
    demands : mapping
        Market id to demand object (:func:`logit_demands`, :func:`nested_logit_demands`,
        :func:`rc_logit_demands`); each holds its market's observed prices.
    firm_ids, new_firm_ids : array_like, shape (N,)
        Owners before and after (:func:`merge_firm_ids`).
    market_ids : array_like, shape (N,)
        Market of each row; a market's rows, in order, are its demand's products.
    costs : array_like, shape (N,), optional
        Marginal costs; recovered from the pre-merger first-order conditions if omitted.
    method, tol, max_iterations, damping
        Passed to :func:`~course_lib.supply.bertrand_nash_prices` (zeta-markup iteration by default,
        the iteration pyBLP's ``compute_prices`` uses).

    Returns
    -------
    MergerResult
        A market whose prices do not converge is flagged (``converged``) and warned about.
    """
    market_ids, unique, rows = market_rows(market_ids)
    n = len(market_ids)
    firm_ids = np.asarray(firm_ids).ravel()
    new_firm_ids = np.asarray(new_firm_ids).ravel()
    for name, ids in (("firm_ids", firm_ids), ("new_firm_ids", new_firm_ids)):
        if len(ids) != n:
            raise ValueError(f"{name} has {len(ids)} entries for {n} products (market_ids).")
    if costs is not None:
        costs = stacked_vector("costs", costs, n)
        check_finite(costs, "costs")
    out = {k: np.empty(n) for k in ("prices_pre", "prices_post", "costs", "shares_pre", "shares_post")}
    T = len(unique)
    cs_pre, cs_post, foc = np.empty(T), np.empty(T), np.empty(T)
    converged, iterations = np.zeros(T, dtype=bool), np.zeros(T, dtype=int)
    for m, (t, r) in enumerate(zip(unique, rows)):
        demand = _demand_of(demands, t)
        if demand.J != len(r):
            raise ValueError(f"Market {plain(t)!r} has {len(r)} rows but its demand has {demand.J} products.")
        p0 = demand.prices
        c = recover_costs(demand, firm_ids[r]) if costs is None else costs[r]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # reported below, naming the market
            eq = bertrand_nash_prices(demand, c, new_firm_ids[r], initial_prices=p0, method=method, tol=tol,
                                      max_iterations=max_iterations, damping=damping)
        if not eq.converged:
            warnings.warn(f"Post-merger prices did not converge in market {plain(t)!r} after {eq.iterations} "
                          f"iterations (last change {eq.residuals[-1]:.3e}).", RuntimeWarning, stacklevel=2)
        out["prices_pre"][r], out["prices_post"][r], out["costs"][r] = p0, eq.prices, c
        out["shares_pre"][r], out["shares_post"][r] = demand.shares(p0), eq.shares
        cs_pre[m], cs_post[m] = demand.consumer_surplus(p0), demand.consumer_surplus(eq.prices)
        converged[m], iterations[m], foc[m] = eq.converged, eq.iterations, eq.foc_norm
    return MergerResult(market_ids=np.array([plain(t) for t in unique]), cs_pre=cs_pre, cs_post=cs_post,
                        converged=converged, iterations=iterations, foc_norm=foc, **out)
