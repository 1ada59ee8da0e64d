"""Price derivatives, elasticities and diversion ratios in one market of the random-coefficients logit."""

from __future__ import annotations

import numpy as np

from .._checks import as_vector, check_finite
from .shares import check_inputs, probabilities

__all__ = ["price_derivatives", "elasticities", "diversion_ratios"]


def _check_price_inputs(delta, X2, sigma, zeta, alpha, price_column, weights):
    """Validate the inputs of the price-derivative functions; return arrays and alpha_i."""
    delta, X2, sigma, zeta, weights = check_inputs(delta, X2, sigma, zeta, weights)
    alpha = float(alpha)
    if not np.isfinite(alpha):
        raise ValueError(f"alpha must be finite; got {alpha}.")
    if price_column is None:
        alpha_i = np.full(zeta.shape[0], alpha)
    else:
        if isinstance(price_column, bool) or not isinstance(price_column, (int, np.integer)):
            raise ValueError(f"price_column must be an integer column index of X2 or None; got {price_column!r}.")
        if not 0 <= price_column < X2.shape[1]:
            raise ValueError(f"price_column {price_column} is not a column of X2 (it has {X2.shape[1]}).")
        alpha_i = alpha + sigma[price_column] * zeta[:, price_column]
    return delta, X2, sigma, zeta, weights, alpha_i


def price_derivatives(delta, X2, sigma, zeta, alpha, price_column=0, weights=None):
    r"""Shares and their price derivatives in one market of the random-coefficients logit.

    Consumer i's price coefficient is :math:`\alpha_i = \alpha + \sigma_p \zeta_{ip}`, with
    :math:`\sigma_p` and :math:`\zeta_{ip}` the entries of ``sigma`` and ``zeta`` in the price
    column of ``X2`` (``price_column``). Since :math:`\partial u_{ij} / \partial p_k =
    \alpha_i 1\{j = k\}`,

    .. math::
        \frac{\partial s_j}{\partial p_k} = \sum_i w_i\, \alpha_i\, \pi_{ij}\,(1\{j = k\} - \pi_{ik})
        = \Lambda_{jk} - \Gamma_{jk},

    .. math::
        \Lambda = \mathrm{diag}\Big(\sum_i w_i \alpha_i \pi_{ij}\Big),
        \qquad \Gamma_{jk} = \sum_i w_i \alpha_i \pi_{ij} \pi_{ik},

    the split of Morrow and Skerlos (2011) that
    :func:`course_lib.supply.bertrand_nash_prices` uses. With ``sigma = 0`` it is the logit's
    :math:`\alpha s_j (1\{j=k\} - s_k)`.

    Parameters
    ----------
    delta : array_like, shape (J,)
        Mean utilities :math:`\delta_j = x_j \beta + \alpha p_j + \xi_j` at the current prices.
    X2 : array_like, shape (J, K)
        Characteristics with random coefficients at the current prices; column
        ``price_column`` holds the prices.
    sigma : array_like, shape (K,)
        Standard deviations of the random coefficients (non-negative).
    zeta : array_like, shape (I, K)
        Standard-normal draws, one row per simulated consumer.
    alpha : float
        Mean price coefficient (negative: utility includes ``alpha * price``).
    price_column : int or None
        Column of ``X2`` (and of ``sigma``, ``zeta``) that is price; ``None`` if price has no
        random coefficient (then :math:`\alpha_i = \alpha`).
    weights : array_like, shape (I,), optional
        Integration weights summing to one (default :math:`1/I`).

    Returns
    -------
    course_lib.supply.PriceDerivatives
        ``shares``, ``lambda_diag`` (:math:`\Lambda`'s diagonal) and ``gamma``; its
        ``jacobian`` has entry ``[j, k]`` :math:`= \partial s_j / \partial p_k`.

    Notes
    -----
    To use it as the demand of :func:`course_lib.supply.bertrand_nash_prices`, recompute
    ``delta`` (:math:`\delta_j + \alpha (p_j' - p_j)`) and the price column of ``X2`` at each
    trial price vector :math:`p'`.
    """
    from ..supply import PriceDerivatives

    delta, X2, sigma, zeta, weights, alpha_i = _check_price_inputs(delta, X2, sigma, zeta, alpha, price_column,
                                                                  weights)
    pi = probabilities(delta, X2, sigma, zeta)  # (J, I)
    wa = weights * alpha_i
    return PriceDerivatives(shares=pi @ weights, lambda_diag=pi @ wa, gamma=(pi * wa) @ pi.T)


def elasticities(prices, delta, X2, sigma, zeta, alpha, price_column=0, weights=None) -> np.ndarray:
    r"""Matrix of price elasticities in one market of the random-coefficients logit.

    .. math::
        \varepsilon_{jk} = \frac{\partial \log s_j}{\partial \log p_k}
        = \frac{p_k}{s_j} \sum_i w_i\, \alpha_i\, \pi_{ij}\,(1\{j = k\} - \pi_{ik}),
        \qquad \alpha_i = \alpha + \sigma_p \zeta_{ip},

    with the derivatives of :func:`price_derivatives`. With ``sigma = 0`` this is the logit's
    :math:`\alpha p_k (1\{j=k\} - s_k)` (:func:`course_lib.logit.logit_elasticities`), whose
    off-diagonal entries are equal within each column (IIA); with random coefficients they are not.

    Parameters
    ----------
    prices : array_like, shape (J,)
        The market's prices; they must equal ``X2[:, price_column]`` when price has a random
        coefficient.
    delta, X2, sigma, zeta, alpha, price_column, weights
        As in :func:`price_derivatives`.

    Returns
    -------
    ndarray, shape (J, J)
        Entry ``[j, k]`` is the elasticity of product j's share with respect to product k's
        price (pyBLP's ``compute_elasticities`` layout, one market).
    """
    delta, X2, sigma, zeta, weights, _ = _check_price_inputs(delta, X2, sigma, zeta, alpha, price_column, weights)
    prices = as_vector(prices, "prices")
    if len(prices) != len(delta):
        raise ValueError(f"prices has {len(prices)} entries for {len(delta)} products.")
    check_finite(prices, "prices")
    if price_column is not None and not np.allclose(prices, X2[:, price_column], rtol=1e-12, atol=0):
        j = int(np.flatnonzero(~np.isclose(prices, X2[:, price_column], rtol=1e-12, atol=0))[0])
        raise ValueError(f"prices differ from X2[:, {price_column}] (the price column) at product {j}: "
                         f"{prices[j]!r} vs {X2[j, price_column]!r}.")
    d = price_derivatives(delta, X2, sigma, zeta, alpha, price_column, weights)
    return d.jacobian * prices[None, :] / d.shares[:, None]


def diversion_ratios(delta, X2, sigma, zeta, alpha, price_column=0, weights=None):
    r"""Diversion ratios in one market of the random-coefficients logit.

    When product j's price rises, the share of j's lost sales that goes to product k is

    .. math::
        D_{jk} = -\frac{\partial s_k / \partial p_j}{\partial s_j / \partial p_j}, \quad k \ne j,
        \qquad
        D_{j0} = -\frac{\partial s_0 / \partial p_j}{\partial s_j / \partial p_j}
        = \frac{\sum_{k} \partial s_k / \partial p_j}{\partial s_j / \partial p_j}

    to the outside good (:math:`s_0 = 1 - \sum_k s_k`). Since shares sum to one,
    :math:`\sum_{k \ne j} D_{jk} + D_{j0} = 1`. With logit demand
    :math:`D_{jk} = s_k / (1 - s_j)`, the same for every j (IIA).

    Parameters
    ----------
    delta, X2, sigma, zeta, alpha, price_column, weights
        As in :func:`price_derivatives`.

    Returns
    -------
    inside : ndarray, shape (J, J)
        Entry ``[j, k]`` is :math:`D_{jk}`, from j (row) to k (column); the diagonal is 0
        (not the -1 of the formula at k = j). pyBLP's ``compute_diversion_ratios`` has the same
        layout (from row j to column k) but puts :math:`D_{j0}` on the diagonal.
    outside : ndarray, shape (J,)
        :math:`D_{j0}`, the share of j's lost sales that leave the market.
    """
    d = price_derivatives(delta, X2, sigma, zeta, alpha, price_column, weights)
    jac = d.jacobian  # [j, k] = ds_j / dp_k
    own = np.diag(jac)
    if (own >= 0).any():
        j = int(np.flatnonzero(own >= 0)[0])
        raise ValueError(f"Product {j}'s share does not fall with its own price (ds/dp = {own[j]:.3g}); "
                         "diversion ratios are undefined.")
    inside = -jac.T / own[:, None]  # [j, k] = -(ds_k/dp_j) / (ds_j/dp_j)
    np.fill_diagonal(inside, 0.0)
    outside = jac.sum(axis=0) / own  # -(ds_0/dp_j) / (ds_j/dp_j), ds_0/dp_j = -sum_k ds_k/dp_j
    return inside, outside
