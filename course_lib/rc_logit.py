"""The random-coefficients (BLP) logit in one market: shares, derivatives, inversion.

Consumer i's utility from product j is

    u_ij = delta_j + mu_ij + eps_ij,   mu_ij = sum_k X2[j, k] * sigma_k * zeta[i, k],

with ``eps`` type I extreme value and the outside good's utility ``eps_i0``. The
standard-normal draws ``zeta`` (one row per simulated consumer) make ``sigma_k`` the
standard deviation of the random coefficient on characteristic k. Market shares integrate
the individual logit probabilities over consumers by the (weighted) mean over draws.
Everything is vectorised over consumers and products: no Python loop over draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._checks import as_matrix, as_vector, check_finite, check_method, check_shares

__all__ = [
    "InversionResult",
    "individual_probabilities",
    "s_hat",
    "share_jacobian_delta",
    "share_jacobian_sigma",
    "invert_shares",
    "METHODS",
    "MarketLayout",
    "MarketsInversionResult",
    "invert_shares_markets",
    "padded_mu",
    "padded_probabilities",
    "padded_shares",
    "price_derivatives",
    "elasticities",
    "diversion_ratios",
]

METHODS = ("squarem", "simple")


def _check_x2_sigma(X2, sigma, n_products: int):
    """X2 as a (J, K) finite array and sigma as K non-negative standard deviations."""
    X2 = as_matrix(X2, "X2", n_products, row="product")
    sigma = as_vector(sigma, "sigma")
    if len(sigma) != X2.shape[1]:
        raise ValueError(f"sigma has {len(sigma)} entries for {X2.shape[1]} columns of X2.")
    check_finite(sigma, "sigma")
    if (sigma < 0).any():
        raise ValueError(f"sigma must be non-negative (standard deviations); got {sigma.tolist()}.")
    return X2, sigma


def _check_draws(draws, n_coefficients: int, name: str) -> np.ndarray:
    """Draws as a finite (I, K) array with one column per random coefficient."""
    draws = np.asarray(draws, dtype=float)
    if draws.ndim == 1:
        draws = draws[:, None]
    if draws.ndim != 2 or draws.shape[1] != n_coefficients:
        raise ValueError(
            f"{name} must have one column per random coefficient ({n_coefficients}); got shape {draws.shape}."
        )
    check_finite(draws, name)
    return draws


def _check_inputs(delta, X2, sigma, zeta, weights):
    """Validate and convert the inputs of one market; return arrays and weights."""
    delta = as_vector(delta, "delta")
    check_finite(delta, "delta")
    X2, sigma = _check_x2_sigma(X2, sigma, len(delta))
    zeta = _check_draws(zeta, X2.shape[1], "zeta")
    if zeta.shape[0] == 0:
        raise ValueError("zeta has no rows (no simulated consumers).")
    n = zeta.shape[0]
    if weights is None:
        weights = np.full(n, 1.0 / n)
    else:
        weights = as_vector(weights, "weights")
        if len(weights) != n:
            raise ValueError(f"weights has {len(weights)} entries for {n} rows of zeta.")
        if (weights < 0).any() or not np.isclose(weights.sum(), 1.0):
            raise ValueError("weights must be non-negative and sum to one.")
    return delta, X2, sigma, zeta, weights


def individual_probabilities(delta, X2, sigma, zeta) -> np.ndarray:
    r"""Each simulated consumer's logit choice probabilities.

    .. math::
        \pi_{ij} = \frac{\exp(\delta_j + \mu_{ij})}{1 + \sum_k \exp(\delta_k + \mu_{ik})},
        \qquad \mu_{ij} = \sum_k X_{2,jk}\, \sigma_k\, \zeta_{ik},

    computed with the largest utility (or 0, the outside good's) subtracted first, so
    that huge utilities give finite probabilities.

    Parameters
    ----------
    delta : array_like, shape (J,)
        Mean utilities.
    X2 : array_like, shape (J, K)
        Characteristics with random coefficients.
    sigma : array_like, shape (K,)
        Standard deviations of the random coefficients (non-negative).
    zeta : array_like, shape (I, K)
        Standard-normal draws, one row per simulated consumer.

    Returns
    -------
    ndarray, shape (J, I)
        Column i holds consumer i's probabilities of buying each inside good.
    """
    delta, X2, sigma, zeta, _ = _check_inputs(delta, X2, sigma, zeta, None)
    return _probabilities(delta, X2, sigma, zeta)


def _probabilities(delta, X2, sigma, zeta):
    utilities = delta[:, None] + (X2 * sigma) @ zeta.T  # (J, I)
    top = np.maximum(utilities.max(axis=0), 0.0)  # the outside good's utility is 0
    exp_u = np.exp(utilities - top)
    return exp_u / (np.exp(-top) + exp_u.sum(axis=0))


def s_hat(delta, X2, sigma, zeta, weights=None) -> np.ndarray:
    r"""Predicted market shares of the random-coefficients logit in one market.

    .. math::
        \hat s_j = \sum_{i=1}^{I} w_i\, \pi_{ij}, \qquad w_i = 1/I \text{ by default},

    a Monte Carlo (or quadrature, with weights) approximation of
    :math:`s_j = \int \pi_j(\zeta)\, dF(\zeta)`. The problem set's ``sHat``; the number of
    consumers I is the number of rows of ``zeta``.

    Parameters
    ----------
    delta, X2, sigma, zeta
        As in :func:`individual_probabilities`.
    weights : array_like, shape (I,), optional
        Integration weights summing to one.

    Returns
    -------
    ndarray, shape (J,)
    """
    delta, X2, sigma, zeta, weights = _check_inputs(delta, X2, sigma, zeta, weights)
    return _probabilities(delta, X2, sigma, zeta) @ weights


def share_jacobian_delta(delta, X2, sigma, zeta, weights=None) -> np.ndarray:
    r"""Derivatives of the shares with respect to the mean utilities.

    .. math::
        \frac{\partial s_j}{\partial \delta_k} = \sum_i w_i\, \pi_{ij} (1\{j = k\} - \pi_{ik}).

    Not :math:`s_j(1\{j=k\} - s_k)`: the mean of a product is not the product of means.

    Returns
    -------
    ndarray, shape (J, J)
        Entry ``[j, k]`` is :math:`\partial s_j / \partial \delta_k`.
    """
    delta, X2, sigma, zeta, weights = _check_inputs(delta, X2, sigma, zeta, weights)
    pi = _probabilities(delta, X2, sigma, zeta)
    return np.diag(pi @ weights) - (pi * weights) @ pi.T


def share_jacobian_sigma(delta, X2, sigma, zeta, weights=None) -> np.ndarray:
    r"""Derivatives of the shares with respect to sigma, holding delta fixed.

    .. math::
        \frac{\partial s_j}{\partial \sigma_k} = \sum_i w_i\, \pi_{ij}\, \zeta_{ik}
        \Big(X_{2,jk} - \sum_l \pi_{il} X_{2,lk}\Big).

    Returns
    -------
    ndarray, shape (J, K)
    """
    delta, X2, sigma, zeta, weights = _check_inputs(delta, X2, sigma, zeta, weights)
    pi = _probabilities(delta, X2, sigma, zeta)  # (J, I)
    mean_x = pi.T @ X2  # (I, K): sum_l pi_il X2[l, k]
    # sum_i w_i pi_ij zeta_ik (X2[j, k] - mean_x[i, k])
    wz = weights[:, None] * zeta  # (I, K)
    return X2 * (pi @ wz) - pi @ (wz * mean_x)


@dataclass
class InversionResult:
    """Mean utilities that reproduce observed shares, and how the contraction got there.

    Attributes
    ----------
    delta : ndarray, shape (J,)
    iterations : int
        Evaluations of the contraction mapping (each costs one share computation).
    converged : bool
    residual : float
        The last max |delta_new - delta|.
    residuals : list of float
        That quantity at every evaluation.
    method : str
    """

    delta: np.ndarray
    iterations: int
    converged: bool
    residual: float
    method: str
    residuals: list = field(default_factory=list)


def invert_shares(
    shares,
    X2,
    sigma,
    zeta,
    weights=None,
    method: str = "squarem",
    tol: float = 1e-14,
    max_iterations: int = 10_000,
    delta0=None,
) -> InversionResult:
    r"""Invert observed shares into mean utilities with the BLP contraction.

    Berry, Levinsohn and Pakes (1995) show that

    .. math::
        \delta \mapsto \delta + \log s - \log \hat s(\delta)

    is a contraction whose fixed point solves :math:`\hat s(\delta) = s`.

    Parameters
    ----------
    shares : array_like, shape (J,)
        Observed inside shares of one market: each in (0, 1), summing below one.
    X2, sigma, zeta, weights
        As in :func:`s_hat`.
    method : {"squarem", "simple"}
        ``"simple"`` iterates the contraction; ``"squarem"`` accelerates it with the
        SQUAREM scheme S3 of Varadhan and Roland (2008), with the step-length bounds that
        pyBLP uses (start at 1, expand by a factor 4 whenever the bound binds).
    tol : float
        Stop when :math:`\max_j |\delta^{new}_j - \delta_j| <` ``tol`` after an evaluation.
    max_iterations : int
        Maximum number of contraction evaluations.
    delta0 : array_like, shape (J,), optional
        Starting values; the logit inversion :math:`\log s_j - \log s_0` if omitted.

    Returns
    -------
    InversionResult
        A run that does not converge says so (``converged=False``) and warns with its
        iteration count and last residual.
    """
    import warnings

    check_method(method, METHODS)
    shares = as_vector(shares, "shares")
    check_shares(shares)
    if tol <= 0:
        raise ValueError(f"tol must be positive; got {tol}.")
    log_shares = np.log(shares)
    start = log_shares - np.log1p(-shares.sum()) if delta0 is None else as_vector(delta0, "delta0")
    _, X2, sigma, zeta, weights = _check_inputs(start, X2, sigma, zeta, weights)

    def contraction(delta):
        predicted = _probabilities(delta, X2, sigma, zeta) @ weights
        return delta + log_shares - np.log(predicted)

    residuals: list[float] = []

    def evaluate(delta):
        new = contraction(delta)
        residuals.append(float(np.max(np.abs(new - delta))) if np.all(np.isfinite(new)) else np.inf)
        return new

    def done():
        return residuals[-1] < tol or len(residuals) >= max_iterations or not np.isfinite(residuals[-1])

    delta = start.copy()
    if method == "simple":
        while True:
            new = evaluate(delta)
            if np.all(np.isfinite(new)):
                delta = new
            if done():
                break
    else:
        step_max = 1.0
        while True:
            x0 = delta
            x1 = evaluate(x0)
            if not np.all(np.isfinite(x1)) or done():
                delta = x1 if np.all(np.isfinite(x1)) else x0
                break
            x2 = evaluate(x1)
            if not np.all(np.isfinite(x2)) or done():
                delta = x2 if np.all(np.isfinite(x2)) else x1
                break
            r, v = x1 - x0, (x2 - x1) - (x1 - x0)
            vv = v @ v
            # S3 step length, bounded below by 1 and above by a bound that grows when hit.
            step = np.sqrt((r @ r) / vv) if vv > 0 else step_max
            step = max(1.0, min(step_max, step))
            if step == step_max:
                step_max *= 4.0
            extrapolated = x0 + 2 * step * r + step**2 * v
            x3 = evaluate(extrapolated)
            if not np.all(np.isfinite(x3)):
                delta = x2
                break
            delta = x3
            if done():
                break
    converged = bool(np.isfinite(residuals[-1]) and residuals[-1] < tol)
    if not converged:
        warnings.warn(
            f"invert_shares(method={method!r}) did not converge after {len(residuals)} "
            f"iterations; last residual {residuals[-1]:.3e}.",
            RuntimeWarning,
            stacklevel=2,
        )
    return InversionResult(
        delta=delta, iterations=len(residuals), converged=converged,
        residual=residuals[-1], method=method, residuals=residuals,
    )


# ---------------------------------------------------------------------------------------------
# All markets at once: markets padded to the largest J (and I) with a mask.


@dataclass
class MarketLayout:
    r"""Where each product and each simulated consumer sits in a padded (market, slot) array.

    Markets have different numbers of products ``J_t`` (and possibly of draws ``I_t``). To run
    the contraction for every market at once, product data are stored in arrays of shape
    ``(T, J)`` with :math:`J = \max_t J_t` and agent data in ``(T, I)`` with
    :math:`I = \max_t I_t`; ``mask[t, j]`` says whether slot ``j`` of market ``t`` holds a
    product. Padded agents get weight zero, padded products utility :math:`-\infty` (share 0).

    Attributes
    ----------
    market_ids : ndarray, shape (T,)
        The distinct markets, sorted.
    product_market, product_slot : ndarray, shape (N,)
        Position of each product's market in ``market_ids`` and its slot within the market
        (products keep their order of appearance within a market).
    agent_market, agent_slot : ndarray, shape (R,)
        The same for the agent (draw) rows.
    mask : ndarray of bool, shape (T, J)
    J, I : int
    """

    market_ids: np.ndarray
    product_market: np.ndarray
    product_slot: np.ndarray
    agent_market: np.ndarray
    agent_slot: np.ndarray
    mask: np.ndarray
    J: int
    I: int

    @classmethod
    def build(cls, market_ids, agent_market_ids) -> "MarketLayout":
        """Lay out products (``market_ids``) and draws (``agent_market_ids``) market by market.

        Raises ``ValueError`` when a market has products but no draws.
        """
        market_ids = np.asarray(market_ids).ravel()
        agent_market_ids = np.asarray(agent_market_ids).ravel()
        if market_ids.size == 0:
            raise ValueError("There are no products.")
        unique = np.unique(market_ids)
        product_market = np.searchsorted(unique, market_ids)
        in_products = np.isin(agent_market_ids, unique)
        if not in_products.all():
            bad = agent_market_ids[~in_products][0]
            raise ValueError(f"Agent rows refer to market {bad!r}, which has no products.")
        agent_market = np.searchsorted(unique, agent_market_ids)
        counts_agents = np.bincount(agent_market, minlength=len(unique))
        if (counts_agents == 0).any():
            bad = unique[np.flatnonzero(counts_agents == 0)[0]]
            raise ValueError(f"Market {bad.item() if isinstance(bad, np.generic) else bad!r} has no agent draws.")

        def slots(positions):
            order = np.argsort(positions, kind="stable")
            counts = np.bincount(positions, minlength=len(unique))
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            slot = np.empty(len(positions), dtype=int)
            slot[order] = np.arange(len(positions)) - np.repeat(starts, counts)
            return slot, int(counts.max())

        product_slot, J = slots(product_market)
        agent_slot, I = slots(agent_market)
        mask = np.zeros((len(unique), J), dtype=bool)
        mask[product_market, product_slot] = True
        return cls(unique, product_market, product_slot, agent_market, agent_slot, mask, J, I)

    @property
    def T(self) -> int:
        """Number of markets."""
        return len(self.market_ids)

    def pad_products(self, values, fill: float = 0.0) -> np.ndarray:
        """Stacked product rows ``(N, ...)`` to a padded array ``(T, J, ...)``."""
        values = np.asarray(values, dtype=float)
        out = np.full((self.T, self.J) + values.shape[1:], fill)
        out[self.product_market, self.product_slot] = values
        return out

    def pad_agents(self, values, fill: float = 0.0) -> np.ndarray:
        """Stacked agent rows ``(R, ...)`` to a padded array ``(T, I, ...)``."""
        values = np.asarray(values, dtype=float)
        out = np.full((self.T, self.I) + values.shape[1:], fill)
        out[self.agent_market, self.agent_slot] = values
        return out

    def unpad(self, padded) -> np.ndarray:
        """A padded product array ``(T, J, ...)`` back to stacked rows ``(N, ...)``."""
        return np.asarray(padded)[self.product_market, self.product_slot]


def padded_mu(X2p, sigma, nodesp, mask) -> np.ndarray:
    r"""Heterogeneous utilities :math:`\mu_{tji} = \sum_k X_{2,tjk} \sigma_k \zeta_{tik}` for all markets.

    Returns an array of shape ``(T, J, I)`` with :math:`-\infty` at padded products.
    """
    mu = np.matmul(X2p * sigma, np.swapaxes(nodesp, 1, 2))
    mu[~mask] = -np.inf
    return mu


def padded_probabilities(deltap, mu) -> np.ndarray:
    r"""Individual choice probabilities for all markets, shape ``(T, J, I)``.

    The same log-sum-exp stable formula as :func:`individual_probabilities`, market by market:
    the largest utility (or 0, the outside good's) is subtracted first. Padded products
    (:math:`\mu = -\infty`) get probability 0.
    """
    exp_u, denominator = _padded_exp_utilities(deltap, mu)
    exp_u /= denominator[:, None, :]
    return exp_u


def _padded_exp_utilities(deltap, mu):
    """exp(u - top) (T, J, I), computed in place in one buffer, and exp(-top) + sum_j exp(u_j - top) (T, I)."""
    utilities = deltap[:, :, None] + mu
    top = utilities.max(axis=1)
    np.maximum(top, 0.0, out=top)  # the outside good's utility is 0
    utilities -= top[:, None, :]
    np.exp(utilities, out=utilities)
    np.negative(top, out=top)
    np.exp(top, out=top)
    top += utilities.sum(axis=1)
    return utilities, top


def padded_shares(deltap, mu, wp) -> np.ndarray:
    r"""Predicted shares of all padded markets, shape ``(T, J)``: :math:`\sum_i w_i \pi_{tji}`.

    The log-sum-exp stable formula of :func:`padded_probabilities`, with the weights divided by
    each consumer's denominator (one pass over the ``(T, J, I)`` array fewer).
    """
    exp_u, denominator = _padded_exp_utilities(deltap, mu)
    return np.matmul(exp_u, (wp / denominator)[:, :, None])[:, :, 0]


@dataclass
class MarketsInversionResult:
    """Mean utilities of all markets from :func:`invert_shares_markets`.

    Attributes
    ----------
    delta : ndarray, shape (N,)
        Stacked in the order of the product rows.
    iterations : ndarray of int, shape (T,)
        Contraction evaluations in each market (order of ``market_ids``).
    converged : ndarray of bool, shape (T,)
    residual : ndarray, shape (T,)
        Last max |delta_new - delta| in each market.
    market_ids : ndarray, shape (T,)
    method : str
    """

    delta: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    residual: np.ndarray
    market_ids: np.ndarray
    method: str

    @property
    def total_iterations(self) -> int:
        """Contraction evaluations summed over markets (pyBLP's ``contraction_evaluations.sum()``)."""
        return int(self.iterations.sum())


def invert_shares_markets(
    shares,
    X2,
    sigma,
    nodes,
    weights,
    market_ids,
    agent_market_ids,
    method: str = "squarem",
    tol: float = 1e-14,
    max_iterations: int = 10_000,
    delta0=None,
    layout: MarketLayout | None = None,
    warn: bool = True,
) -> MarketsInversionResult:
    r"""The BLP contraction in every market at once, markets padded to the largest J.

    Runs, for all markets simultaneously, exactly the iteration of :func:`invert_shares`
    (the map :math:`\delta \mapsto \delta + \log s - \log \hat s(\delta)`, plain or SQUAREM
    accelerated), with per-market SQUAREM step lengths and step bounds and per-market
    convergence: a market stops being updated after the evaluation at which its
    :math:`\max_j |\delta^{new}_j - \delta_j|` falls below ``tol``, as :func:`invert_shares`
    stops it. Sums over padded arrays round differently from the per-market ones, so a market
    whose last step lands within rounding of ``tol`` can stop one evaluation earlier or later
    (2416 against 2414 evaluations over the motorcycle data's 100 markets); the deltas agree to
    about 1e-13. Only the markets still iterating are evaluated.

    Parameters
    ----------
    shares : array_like, shape (N,)
        Observed inside shares, stacked over markets.
    X2 : array_like, shape (N, K)
    sigma : array_like, shape (K,)
        Non-negative standard deviations.
    nodes : array_like, shape (R, K)
        Draws, stacked over markets (agent rows).
    weights : array_like, shape (R,)
        Integration weights; within each market they must sum to one.
    market_ids : array_like, shape (N,)
    agent_market_ids : array_like, shape (R,)
    method, tol, max_iterations
        As in :func:`invert_shares`.
    delta0 : array_like, shape (N,), optional
        Starting values; the logit inversion :math:`\log s_j - \log s_0` by default.
    layout : MarketLayout, optional
        A layout of these ids built once (saves the set-up in repeated calls).
    warn : bool
        Warn (``RuntimeWarning``) naming the markets that did not converge.

    Returns
    -------
    MarketsInversionResult
    """
    import warnings

    check_method(method, METHODS)
    if tol <= 0:
        raise ValueError(f"tol must be positive; got {tol}.")
    shares = as_vector(shares, "shares")
    market_ids = np.asarray(market_ids).ravel()
    if len(market_ids) != len(shares):
        raise ValueError(f"market_ids has {len(market_ids)} entries for {len(shares)} shares.")
    check_shares(shares, market_ids)
    X2, sigma = _check_x2_sigma(X2, sigma, len(shares))
    nodes = _check_draws(nodes, X2.shape[1], "nodes")
    weights = as_vector(weights, "weights")
    agent_market_ids = np.asarray(agent_market_ids).ravel()
    if not (len(weights) == len(agent_market_ids) == nodes.shape[0]):
        raise ValueError(
            f"nodes ({nodes.shape[0]} rows), weights ({len(weights)}) and agent_market_ids "
            f"({len(agent_market_ids)}) must have one entry per agent row."
        )
    check_finite(weights, "weights")
    if (weights < 0).any():
        raise ValueError("weights must be non-negative.")
    if layout is None:
        layout = MarketLayout.build(market_ids, agent_market_ids)
    totals = np.bincount(layout.agent_market, weights=weights, minlength=layout.T)
    if not np.allclose(totals, 1.0):
        t = int(np.flatnonzero(~np.isclose(totals, 1.0))[0])
        raise ValueError(f"weights in market {layout.market_ids[t]!r} sum to {totals[t]:.6g}, not one.")
    if delta0 is None:
        start = np.log(shares) - np.log1p(-np.bincount(layout.product_market, weights=shares)[layout.product_market])
    else:
        start = as_vector(delta0, "delta0")
        if len(start) != len(shares):
            raise ValueError(f"delta0 has {len(start)} entries for {len(shares)} products.")
        check_finite(start, "delta0")
    mask = layout.mask
    mu = padded_mu(layout.pad_products(X2), sigma, layout.pad_agents(nodes), mask)
    wp = layout.pad_agents(weights)
    log_sp = layout.pad_products(np.log(shares))
    delta, iterations, residual = _contract_markets(
        layout.pad_products(start), log_sp, mu, wp, mask, method, tol, max_iterations
    )
    converged = np.isfinite(residual) & (residual < tol)
    if warn and not converged.all():
        bad = np.flatnonzero(~converged)
        listed = ", ".join(
            f"{layout.market_ids[t]!r} ({iterations[t]} iterations, residual {residual[t]:.3e})" for t in bad[:5]
        )
        warnings.warn(
            f"invert_shares_markets(method={method!r}) did not converge in {len(bad)} market(s): {listed}"
            + (" ..." if len(bad) > 5 else "."),
            RuntimeWarning,
            stacklevel=2,
        )
    return MarketsInversionResult(
        delta=layout.unpad(delta), iterations=iterations, converged=converged, residual=residual,
        market_ids=layout.market_ids, method=method,
    )


def _contract_markets(deltap, log_sp, mu, wp, mask, method, tol, max_iterations):
    """Run the (SQUAREM or simple) contraction for all padded markets; see invert_shares_markets."""
    T = deltap.shape[0]
    delta = deltap.copy()
    iterations = np.zeros(T, dtype=int)
    residual = np.full(T, np.inf)
    everyone = np.arange(T)

    def evaluate(idx, x):
        """One contraction evaluation for markets idx; returns the new values and their residuals."""
        full = len(idx) == T
        m, w, ls, mk = (mu, wp, log_sp, mask) if full else (mu[idx], wp[idx], log_sp[idx], mask[idx])
        predicted = padded_shares(x, m, w)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = x + ls - np.log(np.where(mk, predicted, 1.0))
        finite = np.isfinite(new).all(axis=1)
        res = np.where(finite, np.abs(new - x).max(axis=1), np.inf)
        iterations[idx] += 1
        residual[idx] = res
        stop = ~finite | (res < tol) | (iterations[idx] >= max_iterations)
        return new, finite, stop

    active = everyone
    if method == "simple":
        while len(active):
            x = delta[active]
            new, finite, stop = evaluate(active, x)
            delta[active[finite]] = new[finite]
            active = active[~stop]
        return delta, iterations, residual

    step_max = np.ones(T)
    while len(active):
        x0 = delta[active]
        x1, finite, stop = evaluate(active, x0)
        delta[active] = np.where(finite[:, None], x1, x0)
        keep = ~stop
        active, x0, x1 = active[keep], x0[keep], x1[keep]
        if not len(active):
            break
        x2, finite, stop = evaluate(active, x1)
        delta[active] = np.where(finite[:, None], x2, x1)
        keep = ~stop
        active, x0, x1, x2 = active[keep], x0[keep], x1[keep], x2[keep]
        if not len(active):
            break
        r, v = x1 - x0, (x2 - x1) - (x1 - x0)
        rr = np.einsum("tj,tj->t", r, r)
        vv = np.einsum("tj,tj->t", v, v)
        smax = step_max[active]
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(vv > 0, np.sqrt(rr / vv), smax)
        step = np.maximum(1.0, np.minimum(smax, step))
        step_max[active] = np.where(step == smax, 4.0 * smax, smax)
        extrapolated = x0 + 2 * step[:, None] * r + step[:, None] ** 2 * v
        x3, finite, stop = evaluate(active, extrapolated)
        delta[active] = np.where(finite[:, None], x3, x2)
        active = active[~stop]
    return delta, iterations, residual



# ---------------------------------------------------------------------------------------------
# Price derivatives, elasticities and diversion ratios in one market.


def _check_price_inputs(delta, X2, sigma, zeta, alpha, price_column, weights):
    """Validate the inputs of the price-derivative functions; return arrays and alpha_i."""
    delta, X2, sigma, zeta, weights = _check_inputs(delta, X2, sigma, zeta, weights)
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
        \qquad \Lambda = \mathrm{diag}\Big(\sum_i w_i \alpha_i \pi_{ij}\Big),
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
    from .supply import PriceDerivatives

    delta, X2, sigma, zeta, weights, alpha_i = _check_price_inputs(delta, X2, sigma, zeta, alpha, price_column,
                                                                  weights)
    pi = _probabilities(delta, X2, sigma, zeta)  # (J, I)
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
