r"""One market's demand at any prices: logit, nested logit and random-coefficients logit.

**Demand objects.** :class:`LogitDemand`, :class:`NestedLogitDemand` and :class:`RCLogitDemand`
describe one market's demand at *any* prices. Each is built from the mean utilities ``delta`` at
the observed prices (:math:`\delta_j = x_j\beta + \alpha p_j + \xi_j`, ``alpha < 0``, pyBLP's
convention) and keeps :math:`x_j\beta + \xi_j` fixed when prices move. Calling one with a price
vector returns :class:`course_lib.supply.PriceDerivatives` (the shares and the split
:math:`\partial s/\partial p = \Lambda - \Gamma` of Morrow and Skerlos 2011), so that it can be
handed to :func:`course_lib.supply.bertrand_nash_prices` as it is. The splits:

- logit: :math:`\partial s_j/\partial p_k = \alpha s_j(1\{j=k\} - s_k)`, so
  :math:`\Lambda = \alpha\,\mathrm{diag}(s)` and :math:`\Gamma = \alpha s s'`;
- nested logit (products in nests :math:`g`, dissimilarity :math:`\sigma_g \in (0, 1]`, pyBLP's
  :math:`\rho_g = 1 - \sigma_g`): from
  :math:`\log s_j = \delta_j/\sigma_g - (1 - \sigma_g)\log IV_g - \log(1 + \sum_h IV_h^{\sigma_h})`,

  .. math::
      \frac{\partial s_j}{\partial p_k} = \alpha s_j\Big(\frac{1\{j=k\}}{\sigma_g}
          - \Big(\frac{1}{\sigma_g} - 1\Big) 1\{k \in g\}\, s_{k|g} - s_k\Big),
      \qquad g = g(j),

  so :math:`\Lambda = \mathrm{diag}(\alpha s_j / \sigma_{g(j)})` and
  :math:`\Gamma_{jk} = \alpha s_j s_k + \alpha (1/\sigma_g - 1) 1\{g(j) = g(k) = g\}\, s_j s_k / S_g`
  with :math:`S_g = \sum_{d \in g} s_d` (:math:`s_j s_k / S_g = s_{j|g} s_k`, pyBLP's
  :math:`\rho/(1-\rho)` term); :math:`\Gamma` is symmetric;
- random-coefficients logit: :math:`\Lambda = \mathrm{diag}(\sum_i w_i \alpha_i \pi_{ij})`,
  :math:`\Gamma_{jk} = \sum_i w_i \alpha_i \pi_{ij}\pi_{ik}`
  (:func:`course_lib.rc_logit.price_derivatives`).

**Consumer surplus** per unit of market size, pyBLP's ``compute_consumer_surpluses`` convention
(no income effects: :math:`\partial V_{ij}/\partial p_j = \alpha_i` is the same for every product):

.. math::
    CS = \sum_i w_i \frac{\log\big(1 + \sum_j e^{V_{ij}}\big)}{-\alpha_i},

the logit's :math:`\log(1 + \sum_j e^{\delta_j}) / |\alpha|`, the nested logit's
:math:`\log(1 + \sum_g IV_g^{\sigma_g}) / |\alpha|` (:math:`IV_g = \sum_{j \in g} e^{\delta_j/\sigma_g}`),
and for the random-coefficients logit the weighted sum over simulated consumers with their own
:math:`\alpha_i` (e.g. :math:`\alpha_i = \alpha + \pi / y_i` with income :math:`y_i`), the weights
taken as given (pyBLP does not rescale them; BLP's importance-sampling weights sum to 0.154 in
every market of the automobile data, the mass of consumers who might buy a car, the rest
contributing nothing). The change in consumer surplus from a merger is
:math:`CS(p^{post}) - CS(p^{pre})`, with :math:`\xi` and :math:`x\beta` held fixed.
"""

from __future__ import annotations

import numpy as np

from .._checks import as_matrix, as_vector, check_finite, plain
from ..nested_logit import check_sigma
from ..supply import PriceDerivatives

__all__ = [
    "LogitDemand",
    "NestedLogitDemand",
    "RCLogitDemand",
    "price_interaction_draws",
    "sigma_by_nest",
]


def _log1p_sum_exp(v: np.ndarray, axis: int = 0) -> np.ndarray:
    r""":math:`\log(1 + \sum e^{v})` along ``axis``, shifted by :math:`\max(0, \max v)` (no overflow)."""
    top = np.maximum(v.max(axis=axis), 0.0)
    return top + np.log(np.exp(-top) + np.exp(v - np.expand_dims(top, axis)).sum(axis=axis))


def _check_alpha(alpha) -> float:
    alpha = float(alpha)
    if not (np.isfinite(alpha) and alpha < 0):
        raise ValueError(f"alpha must be negative and finite (utility includes alpha * price); got {alpha}.")
    return alpha


def _check_delta_prices(delta, prices):
    delta = as_vector(delta, "delta")
    check_finite(delta, "delta")
    prices = as_vector(prices, "prices")
    check_finite(prices, "prices")
    if len(prices) != len(delta):
        raise ValueError(f"prices has {len(prices)} entries for {len(delta)} products (delta).")
    if len(delta) == 0:
        raise ValueError("The market has no products.")
    return delta, prices


class _Demand:
    """What every demand model shares: prices at which to evaluate, and the call protocol."""

    prices: np.ndarray

    @property
    def J(self) -> int:
        """Number of products."""
        return len(self.prices)

    def checked_prices(self, prices=None) -> np.ndarray:
        """The prices to evaluate at: the observed ones if ``prices`` is None, else ``prices``
        checked (one finite entry per product) as an array."""
        if prices is None:
            return self.prices
        p = as_vector(prices, "prices")
        if len(p) != self.J:
            raise ValueError(f"prices has {len(p)} entries for the market's {self.J} products.")
        check_finite(p, "prices")
        return p

    def __call__(self, prices) -> PriceDerivatives:
        """Shares and price derivatives at ``prices``: the demand of :func:`~course_lib.supply.bertrand_nash_prices`."""
        return self.derivatives(prices)

    def derivatives(self, prices=None) -> PriceDerivatives:  # pragma: no cover - abstract
        raise NotImplementedError

    def shares(self, prices=None) -> np.ndarray:
        """Inside shares at ``prices`` (default: the observed prices)."""
        return self.derivatives(prices).shares


class LogitDemand(_Demand):
    r"""Logit demand in one market.

    :math:`s_j(p) = e^{\delta_j(p)} / (1 + \sum_k e^{\delta_k(p)})` with
    :math:`\delta_j(p) = \delta_j + \alpha (p_j - p^{obs}_j)`;
    :math:`\Lambda = \alpha\,\mathrm{diag}(s)`, :math:`\Gamma = \alpha s s'`.

    Parameters
    ----------
    delta : array_like, shape (J,)
        Mean utilities at the observed prices.
    prices : array_like, shape (J,)
        Observed prices.
    alpha : float
        Price coefficient (negative).
    """

    def __init__(self, delta, prices, alpha: float):
        delta, self.prices = _check_delta_prices(delta, prices)
        self.alpha = _check_alpha(alpha)
        self.base = delta - self.alpha * self.prices  # x beta + xi: what prices do not move

    def mean_utility(self, prices=None) -> np.ndarray:
        r""":math:`\delta(p) = x\beta + \xi + \alpha p`."""
        return self.base + self.alpha * self.checked_prices(prices)

    def derivatives(self, prices=None) -> PriceDerivatives:
        v = self.mean_utility(prices)
        s = np.exp(v - _log1p_sum_exp(v))
        return PriceDerivatives(shares=s, lambda_diag=self.alpha * s, gamma=self.alpha * np.outer(s, s))

    def consumer_surplus(self, prices=None) -> float:
        r""":math:`\log(1 + \sum_j e^{\delta_j(p)}) / (-\alpha)`, per unit of market size."""
        return float(_log1p_sum_exp(self.mean_utility(prices)) / -self.alpha)


def sigma_by_nest(sigma, nests: np.ndarray) -> dict:
    r"""Sigma as a dict keyed by the (sorted) nest ids, each checked to lie in (0, 1].

    Parameters
    ----------
    sigma : float, array_like or mapping
        A scalar (every nest), a mapping keyed by nest id, or an array aligned with ``nests``.
    nests : ndarray
        The sorted unique nest ids.

    Returns
    -------
    dict
        Nest id (a plain Python value) to its sigma.

    Raises
    ------
    ValueError
        A nest without a value, the wrong number of values, or a value outside (0, 1].
    """
    values = check_sigma(sigma, nests)  # the one sigma check (course_lib.nested_logit)
    return {plain(k): float(s) for k, s in zip(nests, values)}


class NestedLogitDemand(_Demand):
    r"""Nested-logit demand in one market, the outside good alone in its nest.

    Shares by :func:`course_lib.nested_logit.nested_logit_shares` at
    :math:`\delta(p) = \delta + \alpha(p - p^{obs})`;
    :math:`\Lambda = \mathrm{diag}(\alpha s_j/\sigma_{g(j)})` and
    :math:`\Gamma_{jk} = \alpha s_j s_k + \alpha(1/\sigma_g - 1)\,1\{g(j) = g(k) = g\}\,s_j s_k/S_g`
    (derived in the module docstring).

    Parameters
    ----------
    delta, prices, alpha
        As in :class:`LogitDemand`.
    nest_ids : array_like, shape (J,)
        Nest of each product.
    sigma : float, array_like or mapping
        Dissimilarity parameters in (0, 1] (1: plain logit), a scalar, one per sorted nest id of
        this market, or a dict keyed by nest id. pyBLP's ``rho = 1 - sigma``.
    """

    def __init__(self, delta, prices, alpha: float, nest_ids, sigma):
        delta, self.prices = _check_delta_prices(delta, prices)
        self.alpha = _check_alpha(alpha)
        self.nest_ids = np.asarray(nest_ids).ravel()
        if len(self.nest_ids) != len(delta):
            raise ValueError(f"nest_ids has {len(self.nest_ids)} entries for {len(delta)} products.")
        nests, self._nest_pos = np.unique(self.nest_ids, return_inverse=True)
        self.sigma = sigma_by_nest(sigma, nests)
        self._sig = np.array([self.sigma[plain(k)] for k in nests])[self._nest_pos]  # per product
        self._same = self._nest_pos[:, None] == self._nest_pos[None, :]
        self.base = delta - self.alpha * self.prices

    def mean_utility(self, prices=None) -> np.ndarray:
        r""":math:`\delta(p) = x\beta + \xi + \alpha p`."""
        return self.base + self.alpha * self.checked_prices(prices)

    def derivatives(self, prices=None) -> PriceDerivatives:
        from ..nested_logit import nested_logit_shares

        s = nested_logit_shares(self.mean_utility(prices), self.nest_ids, self.sigma)
        nest_total = np.bincount(self._nest_pos, weights=s)[self._nest_pos]  # S_g on every row
        a = self.alpha
        gamma = a * np.outer(s, s) + self._same * (a * (1.0 / self._sig - 1.0) * s / nest_total)[:, None] * s[None, :]
        return PriceDerivatives(shares=s, lambda_diag=a * s / self._sig, gamma=gamma)

    def consumer_surplus(self, prices=None) -> float:
        r""":math:`\log(1 + \sum_g IV_g^{\sigma_g}) / (-\alpha)`, per unit of market size."""
        from ..nested_logit import log_inclusive_values

        log_iv = log_inclusive_values(self.mean_utility(prices), self.nest_ids, self.sigma)
        first = np.unique(self._nest_pos, return_index=True)[1]  # one row per nest
        return float(_log1p_sum_exp(self._sig[first] * log_iv[first]) / -self.alpha)


def price_interaction_draws(pi: float, demographic) -> tuple[float, np.ndarray]:
    r"""Write a price-demographic interaction as a random coefficient of :mod:`course_lib.rc_logit`.

    rc_logit's consumer-specific price coefficient is :math:`\alpha_i = \alpha + \sigma_p\zeta_{ip}`
    with :math:`\sigma_p \ge 0`. BLP's :math:`\alpha_i = \alpha + \pi d_i` (pyBLP's ``Pi`` entry on
    ``prices`` and, for the automobiles, :math:`d_i = 1/y_i`) is that form with

    .. math::
        \sigma_p = |\pi|, \qquad \zeta_{ip} = \mathrm{sign}(\pi)\, d_i,

    the price column of X2 carrying ``prices`` as usual.

    Parameters
    ----------
    pi : float
    demographic : array_like, shape (I,)
        :math:`d_i` for each simulated consumer.

    Returns
    -------
    sigma_p : float
    zeta_p : ndarray, shape (I,)
    """
    pi = float(pi)
    if not np.isfinite(pi):
        raise ValueError(f"pi must be finite; got {pi}.")
    d = as_vector(demographic, "demographic")
    check_finite(d, "demographic")
    return abs(pi), np.sign(pi) * d


class RCLogitDemand(_Demand):
    r"""Random-coefficients logit demand in one market, through :mod:`course_lib.rc_logit`.

    :math:`s_j(p) = \sum_i w_i \pi_{ij}(p)` with utilities :math:`\delta_j(p) + \mu_{ij}(p)`,
    :math:`\mu_{ij} = \sum_k X_{2,jk}\sigma_k\zeta_{ik}`, X2's price column (if any) replaced by p;
    consumer i's price coefficient is :math:`\alpha_i = \alpha + \sigma_p\zeta_{ip}`
    (:func:`price_interaction_draws` writes a demographic interaction in that form). Shares and
    derivatives are :func:`course_lib.rc_logit.s_hat` and :func:`course_lib.rc_logit.price_derivatives`.

    Parameters
    ----------
    delta, prices, alpha
        As in :class:`LogitDemand`; ``alpha`` is the mean price coefficient in X1 (0 when price
        enters only through X2, as in BLP's automobile specification; then every
        :math:`\alpha_i` must still be negative for consumer surplus).
    X2 : array_like, shape (J, K)
        Characteristics with random coefficients at the observed prices.
    sigma : array_like, shape (K,)
        Non-negative scale of each random coefficient.
    zeta : array_like, shape (I, K)
        Draws, one row per simulated consumer.
    weights : array_like, shape (I,), optional
        Integration weights, non-negative (default 1/I). Used as given, like pyBLP: shares are
        :math:`\sum_i w_i\pi_{ij}` even when the weights do not sum to one (BLP's importance
        sampling weights). rc_logit wants weights summing to one, so it gets
        :math:`w / \sum_i w_i` and its shares and derivatives are multiplied by :math:`\sum_i w_i`.
    price_column : int, optional
        Column of X2 holding prices (``None``: no random coefficient on price,
        :math:`\alpha_i = \alpha`).
    """

    def __init__(self, delta, prices, alpha: float, X2, sigma, zeta, weights=None, price_column=None):
        delta, self.prices = _check_delta_prices(delta, prices)
        alpha = float(alpha)
        if not np.isfinite(alpha) or alpha > 0:
            raise ValueError(f"alpha must be finite and not positive (utility includes alpha * price); got {alpha}.")
        self.alpha = alpha
        J = len(delta)
        self.X2 = as_matrix(X2, "X2", J, row="product").copy()
        self.sigma = as_vector(sigma, "sigma")
        if len(self.sigma) != self.X2.shape[1]:
            raise ValueError(f"sigma has {len(self.sigma)} entries for {self.X2.shape[1]} columns of X2.")
        check_finite(self.sigma, "sigma")
        if (self.sigma < 0).any():
            raise ValueError(f"sigma must be non-negative; got {self.sigma.tolist()}.")
        self.zeta = np.asarray(zeta, dtype=float)
        if self.zeta.ndim == 1:
            self.zeta = self.zeta[:, None]
        if self.zeta.ndim != 2 or self.zeta.shape[1] != self.X2.shape[1]:
            raise ValueError(f"zeta must have one column per column of X2 ({self.X2.shape[1]}); "
                             f"got shape {self.zeta.shape}.")
        check_finite(self.zeta, "zeta")
        n = self.zeta.shape[0]
        if n == 0:
            raise ValueError("zeta has no rows (no simulated consumers).")
        w = np.full(n, 1.0 / n) if weights is None else as_vector(weights, "weights")
        if len(w) != n:
            raise ValueError(f"weights has {len(w)} entries for {n} rows of zeta.")
        check_finite(w, "weights")
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError("weights must be non-negative with a positive sum.")
        self.weights = w
        self._mass = float(w.sum())
        self._unit_weights = w / self._mass
        if price_column is not None:
            if isinstance(price_column, bool) or not isinstance(price_column, (int, np.integer)):
                raise ValueError(f"price_column must be an integer column index of X2 or None; got {price_column!r}.")
            if not 0 <= price_column < self.X2.shape[1]:
                raise ValueError(f"price_column {price_column} is not a column of X2 (it has {self.X2.shape[1]}).")
            off = ~np.isclose(self.X2[:, price_column], self.prices, rtol=1e-12, atol=0)
            if off.any():
                j = int(np.flatnonzero(off)[0])
                raise ValueError(f"X2[:, {price_column}] (the price column) differs from prices at product {j}: "
                                 f"{self.X2[j, price_column]!r} vs {self.prices[j]!r}.")
        self.price_column = price_column
        deviation = np.zeros(n) if price_column is None else self.sigma[price_column] * self.zeta[:, price_column]
        self.alpha_i = alpha + deviation  # consumer i's price coefficient
        self.base = delta - alpha * self.prices

    def _state(self, prices):
        p = self.checked_prices(prices)
        X2 = self.X2
        if self.price_column is not None:
            X2 = X2.copy()
            X2[:, self.price_column] = p
        return self.base + self.alpha * p, X2

    def mean_utility(self, prices=None) -> np.ndarray:
        r""":math:`\delta(p) = x\beta + \xi + \alpha p`."""
        return self._state(prices)[0]

    def derivatives(self, prices=None) -> PriceDerivatives:
        from ..rc_logit import price_derivatives

        delta, X2 = self._state(prices)
        d = price_derivatives(delta, X2, self.sigma, self.zeta, self.alpha, self.price_column, self._unit_weights)
        m = self._mass
        return PriceDerivatives(shares=m * d.shares, lambda_diag=m * d.lambda_diag, gamma=m * d.gamma)

    def consumer_surplus(self, prices=None, keep_all: bool = False):
        r""":math:`\sum_i w_i \log(1 + \sum_j e^{\delta_j + \mu_{ij}}) / (-\alpha_i)` (pyBLP's convention).

        With ``keep_all`` the individual :math:`CS_i` (before weighting), shape (I,).
        Raises ``ValueError`` if some consumer's :math:`\alpha_i \ge 0` (surplus is unbounded).
        """
        if (self.alpha_i >= 0).any():
            i = int(np.flatnonzero(self.alpha_i >= 0)[0])
            raise ValueError(f"Consumer {i}'s price coefficient is {self.alpha_i[i]:.4g} >= 0: consumer surplus "
                             "in money needs every alpha_i < 0.")
        delta, X2 = self._state(prices)
        utilities = delta[:, None] + (X2 * self.sigma) @ self.zeta.T  # (J, I)
        individual = _log1p_sum_exp(utilities, axis=0) / -self.alpha_i
        return individual if keep_all else float(individual @ self.weights)
