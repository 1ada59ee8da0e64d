r"""Nested-logit shares and their inversion: the formulas of chapter 14.

The (market, nest) cells every formula sums over are indexed once, by :func:`nest_cells`;
:func:`check_sigma` is the one check that each nest's sigma lies in (0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._checks import as_ids, as_vector, check_finite, check_shares, plain, unique_inverse
from ..logit import logit_inversion

def nest_cells(nest_ids: np.ndarray, market_ids: np.ndarray):
    """Index the (market, nest) cells.

    Returns the sorted unique nest ids, each product's nest position among them, each
    product's market position, each product's cell, the number of cells, each cell's
    market position and each cell's nest position.
    """
    nests, nest_pos = unique_inverse(nest_ids)
    _, market_pos = unique_inverse(market_ids)
    code = market_pos.astype(np.int64) * len(nests) + nest_pos
    cells, cell = unique_inverse(code)
    return nests, nest_pos, market_pos, cell, len(cells), cells // len(nests), cells % len(nests)


def check_sigma(sigma, nests: np.ndarray) -> np.ndarray:
    r"""Sigma for each of the sorted unique ``nests``, checked to lie in (0, 1].

    ``sigma`` is a scalar (the same for every nest), a mapping (dict or pandas Series)
    keyed by nest id and covering every nest present, or an array aligned with
    ``numpy.unique(nest_ids)``, the sorted nest ids (pyBLP's order for ``rho``).
    """
    if isinstance(sigma, Mapping | pd.Series):
        lookup = dict(sigma.items())
        missing = [plain(k) for k in nests if plain(k) not in lookup and k not in lookup]
        if missing:
            raise ValueError(f"sigma has no value for nest(s) {missing}; it is keyed by nest id.")
        values = np.array([float(lookup[plain(k)] if plain(k) in lookup else lookup[k]) for k in nests])
    else:
        values = np.asarray(sigma, dtype=float)
        if values.ndim == 0:
            values = np.full(len(nests), float(values))
        values = values.ravel()
        if len(values) != len(nests):
            raise ValueError(
                f"sigma has {len(values)} entries for {len(nests)} nests; give one per nest, in the "
                f"order of the sorted unique nest ids {[plain(k) for k in nests]}, or a dict keyed by nest id."
            )
    for k, s in zip(nests, values):
        if not (np.isfinite(s) and 0 < s <= 1):
            raise ValueError(
                f"sigma for nest {plain(k)!r} is {s}; the dissimilarity parameter must lie in (0, 1] "
                "(1 is the plain logit; pyBLP's rho = 1 - sigma)."
            )
    return values


def _utilities(delta, nest_ids, sigma, market_ids):
    """Checked mean utilities, the (market, nest) cells of :func:`nest_cells` and sigma per nest."""
    delta = as_vector(delta, "delta")
    check_finite(delta, "delta")
    n = len(delta)
    groups = nest_cells(as_ids(nest_ids, n, "nest_ids"), as_ids(market_ids, n, "market_ids"))
    return delta, groups, check_sigma(sigma, groups[0])


def log_sum_exp_by_cell(v: np.ndarray, cell: np.ndarray, n_cells: int):
    """log IV of every (market, nest) cell and log s_{j|k} of every row, by log-sum-exp of v."""
    top = np.full(n_cells, -np.inf)
    np.maximum.at(top, cell, v)
    v_rel = v - top[cell]  # shift each cell by its maximum
    log_sum = np.log(np.bincount(cell, weights=np.exp(v_rel), minlength=n_cells))
    return top + log_sum, v_rel - log_sum[cell]


def log_inclusive_values(delta, nest_ids, sigma, market_ids=None) -> np.ndarray:
    r"""Log inclusive value of each product's nest in its market, on every row.

    .. math::
        \log IV_{k m} = \log \sum_{d \in B_k,\ d \text{ sold in } m} e^{\delta_{dm} / \sigma_k},
        \qquad k = k(j),

    by log-sum-exp (finite for any finite delta). The slides' group-by-market intercepts
    are :math:`\lambda^k_m = (\sigma_k - 1) \log IV_{km}`.

    Parameters
    ----------
    delta, nest_ids, sigma, market_ids
        As in :func:`nested_logit_shares`.

    Returns
    -------
    ndarray, shape (N,)
    """
    delta, (nests, nest_pos, _, cell, n_cells, _, _), sig = _utilities(delta, nest_ids, sigma, market_ids)
    return log_sum_exp_by_cell(delta / sig[nest_pos], cell, n_cells)[0][cell]


def nested_logit_shares(delta, nest_ids, sigma, market_ids=None) -> np.ndarray:
    r"""Nested-logit market shares, the outside good alone in its own nest.

    Formula (1) of the slides, with the outside good's term :math:`e^{\delta_0} = 1`
    added to the denominator:

    .. math::
        s_j = \frac{e^{\delta_j / \sigma_k}\, IV_k^{\sigma_k - 1}}{1 + \sum_{l=1}^K IV_l^{\sigma_l}},
        \qquad IV_k = \sum_{d \in B_k} e^{\delta_d / \sigma_k},\quad k = k(j),

    within each market. It is computed in logs,
    :math:`\log s_j = \delta_j/\sigma_k - \log IV_k + \sigma_k \log IV_k - \log(1 + \sum_l IV_l^{\sigma_l})`,
    with every sum of exponentials shifted by its maximum (log-sum-exp), so that huge
    mean utilities (``delta = 800``) or small sigmas (``delta / sigma`` large) give finite shares.

    Parameters
    ----------
    delta : array_like, shape (N,)
        Mean utilities of the inside goods.
    nest_ids : array_like, shape (N,)
        Nest of each product (any sortable labels).
    sigma : float, array_like or mapping
        Dissimilarity parameters in (0, 1]: a scalar for all nests; an array with one
        entry per nest in the order of ``numpy.unique(nest_ids)`` (the sorted nest ids,
        pyBLP's order for ``rho``); or a dict / pandas Series keyed by nest id. pyBLP's
        ``rho = 1 - sigma``.
    market_ids : array_like, shape (N,), optional
        Market of each product; all products form one market if omitted.

    Returns
    -------
    ndarray, shape (N,)
        Inside-good shares; with ``sigma = 1`` for every nest they equal
        :func:`course_lib.logit.logit_shares`.

    Raises
    ------
    ValueError
        If ``delta`` is not finite, the ids do not have one entry per product, or a sigma
        lies outside (0, 1].
    """
    delta, groups, sig = _utilities(delta, nest_ids, sigma, market_ids)
    nests, nest_pos, _, cell, n_cells, cell_market, cell_nest = groups
    log_iv, log_within = log_sum_exp_by_cell(delta / sig[nest_pos], cell, n_cells)
    # Shift each market by its largest inclusive value (or 0, the outside good's), and
    # subtract the shift before adding the logs, to keep rounding small.
    inclusive = sig[cell_nest] * log_iv                       # sigma_k log IV_k = log IV_k^{sigma_k}
    n_markets = cell_market.max() + 1 if n_cells else 0
    m_top = np.zeros(n_markets)                               # the outside good's 0 is in the max
    np.maximum.at(m_top, cell_market, inclusive)
    inc_rel = inclusive - m_top[cell_market]
    log_denom = np.log(np.exp(-m_top) + np.bincount(cell_market, weights=np.exp(inc_rel), minlength=n_markets))
    log_nest_share = inc_rel - log_denom[cell_market]         # log s_k
    return np.exp(log_within + log_nest_share[cell])


def checked_shares(shares, nest_ids, market_ids):
    """Shares, nest ids and market ids, checked (one entry per product; shares as in
    :func:`course_lib._checks.check_shares`)."""
    shares = as_vector(shares, "shares")
    n = len(shares)
    nest_ids = as_ids(nest_ids, n, "nest_ids")
    single = market_ids is None
    market_ids = as_ids(market_ids, n, "market_ids")
    check_shares(shares, None if single else market_ids)
    return shares, nest_ids, market_ids


def within_nest_shares(shares, nest_ids, market_ids=None) -> np.ndarray:
    r"""Shares within the nest, :math:`s_{j|k} = s_j / \sum_{d \in B_k} s_d`, market by market.

    In the nested logit :math:`s_{j|k} = e^{\delta_j/\sigma_k} / IV_k`, a logit within the nest
    with utilities scaled by :math:`1/\sigma_k`. They sum to one in every (market, nest) cell;
    a product alone in its nest in a market has :math:`s_{j|k} = 1`.

    Parameters
    ----------
    shares : array_like, shape (N,)
        Inside-good shares, each in (0, 1), summing below one in each market.
    nest_ids, market_ids : array_like, shape (N,)
        Nest and market of each product (``market_ids`` omitted: one market).

    Returns
    -------
    ndarray, shape (N,)

    Raises
    ------
    ValueError
        If a share is zero, negative or NaN, a market's shares sum to one or more, or the
        ids do not have one entry per product.
    """
    shares, nest_ids, market_ids = checked_shares(shares, nest_ids, market_ids)
    _, _, _, cell, n_cells, _, _ = nest_cells(nest_ids, market_ids)
    return shares / np.bincount(cell, weights=shares, minlength=n_cells)[cell]


def nested_logit_inversion(shares, nest_ids, sigma, market_ids=None) -> np.ndarray:
    r"""Invert nested-logit shares into mean utilities (closed form, Berry 1994).

    .. math::
        \delta_j = \log s_j - \log s_0 - (1 - \sigma_k) \log s_{j|k}, \qquad
        s_0 = 1 - \sum_{d} s_d, \quad k = k(j),

    in each market (pyBLP: ``delta = log(s/s0) - rho log s_{j|k}`` with ``rho = 1 - sigma``).
    Note the coefficient :math:`1 - \sigma_k`, not the slides' :math:`\sigma_k - 1`.

    Parameters
    ----------
    shares : array_like, shape (N,)
        Observed inside-good shares.
    nest_ids : array_like, shape (N,)
    sigma : float, array_like or mapping
        As in :func:`nested_logit_shares`.
    market_ids : array_like, shape (N,), optional

    Returns
    -------
    ndarray, shape (N,)
        ``delta`` with ``nested_logit_shares(delta, nest_ids, sigma, market_ids) == shares``.

    Raises
    ------
    ValueError
        As :func:`within_nest_shares`, and if a sigma lies outside (0, 1].
    """
    shares, nest_ids, market_ids = checked_shares(shares, nest_ids, market_ids)
    nests, nest_pos, _, _, _, _, _ = nest_cells(nest_ids, market_ids)
    sig = check_sigma(sigma, nests)
    within = within_nest_shares(shares, nest_ids, market_ids)
    return logit_inversion(shares, market_ids) - (1.0 - sig[nest_pos]) * np.log(within)
