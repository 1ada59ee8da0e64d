r"""The nested logit with an outside good alone in its own nest.

Utility is :math:`u_{ij} = \delta_j + \varepsilon_{ij}` with
:math:`\delta_j = x_j \beta + \alpha p_j + \xi_j` (``alpha < 0``, pyBLP's convention) and
:math:`\varepsilon` distributed as generalised extreme value (McFadden 1978) with the
products partitioned into nests :math:`B_1, \dots, B_K`:

.. math::
    F(\varepsilon) = \exp\Big(-e^{-\varepsilon_0}
        - \sum_{k=1}^K \big(\textstyle\sum_{j \in B_k} e^{-\varepsilon_j / \sigma_k}\big)^{\sigma_k}\Big).

**Convention.** :math:`\sigma_k \in (0, 1]` is nest k's *dissimilarity* parameter (the
slides' :math:`\sigma^k`): :math:`\sigma_k = 1` for every nest is the plain logit, and
:math:`\sigma_k \to 0` makes the products of a nest perfect substitutes. pyBLP uses
:math:`\rho_k = 1 - \sigma_k` instead (its ``rho``; :math:`\rho_k = 0` is the logit).
The outside good (``delta_0 = 0``) is alone in its own nest.

With :math:`IV_k = \sum_{d \in B_k} e^{\delta_d / \sigma_k}` (the slides' notation),
formula (1) of the slides reads

.. math::
    s_j = \underbrace{\frac{e^{\delta_j / \sigma_k}}{IV_k}}_{s_{j|k}}
          \underbrace{\frac{IV_k^{\sigma_k}}{1 + \sum_{l} IV_l^{\sigma_l}}}_{s_k},
    \qquad k = k(j),

and taking logs and eliminating :math:`\log IV_k` through :math:`\log s_{j|k}` gives
Berry's (1994) estimating equation

.. math::
    \log \frac{s_j}{s_0} = \delta_j + (1 - \sigma_k) \log s_{j|k}.

**Correction of the slides.** The slides' Berry regression writes the coefficient of
:math:`\log s_{j|k}` as :math:`(\sigma^{k(j)} - 1)`. With :math:`\sigma` the
dissimilarity parameter of formula (1) the coefficient is :math:`1 - \sigma_k` (it is
:math:`\sigma` itself only in Berry's own parametrisation, where his :math:`\sigma` is
our :math:`1 - \sigma_k`). The within-nest share on that slide also writes
:math:`p_{jm}, x_{jm}` inside the sum over :math:`d` where :math:`p_{dm}, x_{dm}` are
meant (and omits :math:`\xi`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ._checks import _plain, as_matrix, as_vector, check_finite, check_same_length, check_shares, unique_inverse
from .iv import IVResult, _tsls_fit

__all__ = [
    "nested_logit_shares",
    "log_inclusive_values",
    "within_nest_shares",
    "nested_logit_inversion",
    "nested_logit_elasticities",
    "nest_instruments",
    "NestedLogitResult",
    "berry_regression",
]


# --------------------------------------------------------------------------- helpers


def _ids(ids, n: int, name: str) -> np.ndarray:
    """``ids`` as a 1-D array of length ``n`` (all zeros if None)."""
    if ids is None:
        return np.zeros(n, dtype=int)
    arr = np.asarray(ids)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {arr.shape}.")
    if len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} entries for {n} products (one per product).")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} has a NaN at position {int(np.flatnonzero(~np.isfinite(arr))[0])}.")
    if arr.dtype.kind == "O" and pd.isna(arr).any():
        raise ValueError(f"{name} has a missing value at position {int(np.flatnonzero(pd.isna(arr))[0])}.")
    return arr


def _groups(nest_ids: np.ndarray, market_ids: np.ndarray):
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


def _sigma_per_nest(sigma, nests: np.ndarray) -> np.ndarray:
    r"""Sigma for each of the sorted unique ``nests``, checked to lie in (0, 1].

    ``sigma`` is a scalar (the same for every nest), a mapping (dict or pandas Series)
    keyed by nest id and covering every nest present, or an array aligned with
    ``numpy.unique(nest_ids)``, the sorted nest ids (pyBLP's order for ``rho``).
    """
    if isinstance(sigma, Mapping | pd.Series):
        lookup = dict(sigma.items())
        missing = [_plain(k) for k in nests if _plain(k) not in lookup and k not in lookup]
        if missing:
            raise ValueError(f"sigma has no value for nest(s) {missing}; it is keyed by nest id.")
        values = np.array([float(lookup[_plain(k)] if _plain(k) in lookup else lookup[k]) for k in nests])
    else:
        values = np.asarray(sigma, dtype=float)
        if values.ndim == 0:
            values = np.full(len(nests), float(values))
        values = values.ravel()
        if len(values) != len(nests):
            raise ValueError(
                f"sigma has {len(values)} entries for {len(nests)} nests; give one per nest, in the "
                f"order of the sorted unique nest ids {[_plain(k) for k in nests]}, or a dict keyed by nest id."
            )
    for k, s in zip(nests, values):
        if not (np.isfinite(s) and 0 < s <= 1):
            raise ValueError(
                f"sigma for nest {_plain(k)!r} is {s}; the dissimilarity parameter must lie in (0, 1] "
                "(1 is the plain logit; pyBLP's rho = 1 - sigma)."
            )
    return values


# --------------------------------------------------------------------------- shares


def _utilities(delta, nest_ids, sigma, market_ids):
    """Checked mean utilities, the (market, nest) cells of :func:`_groups` and sigma per nest."""
    delta = as_vector(delta, "delta")
    check_finite(delta, "delta")
    n = len(delta)
    groups = _groups(_ids(nest_ids, n, "nest_ids"), _ids(market_ids, n, "market_ids"))
    return delta, groups, _sigma_per_nest(sigma, groups[0])


def _log_inclusive(v: np.ndarray, cell: np.ndarray, n_cells: int):
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
    return _log_inclusive(delta / sig[nest_pos], cell, n_cells)[0][cell]


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
    log_iv, log_within = _log_inclusive(delta / sig[nest_pos], cell, n_cells)
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


def _check_all(shares, nest_ids, market_ids):
    shares = as_vector(shares, "shares")
    n = len(shares)
    nest_ids = _ids(nest_ids, n, "nest_ids")
    single = market_ids is None
    market_ids = _ids(market_ids, n, "market_ids")
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
    shares, nest_ids, market_ids = _check_all(shares, nest_ids, market_ids)
    _, _, _, cell, n_cells, _, _ = _groups(nest_ids, market_ids)
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
    shares, nest_ids, market_ids = _check_all(shares, nest_ids, market_ids)
    nests, nest_pos, market_pos, cell, n_cells, _, _ = _groups(nest_ids, market_ids)
    sig = _sigma_per_nest(sigma, nests)
    outside = 1.0 - np.bincount(market_pos, weights=shares)
    within = shares / np.bincount(cell, weights=shares, minlength=n_cells)[cell]
    return np.log(shares) - np.log(outside[market_pos]) - (1.0 - sig[nest_pos]) * np.log(within)


# --------------------------------------------------------------------------- elasticities


def nested_logit_elasticities(prices, shares, nest_ids, sigma, alpha: float) -> np.ndarray:
    r"""Price elasticities of nested-logit demand in one market.

    From :math:`\log s_j = \delta_j/\sigma_k - \log IV_k + \sigma_k \log IV_k - \log IV`,

    .. math::
        \frac{\partial \log s_j}{\partial \delta_d} = \frac{1\{j = d\}}{\sigma_k}
            - \Big(\frac{1}{\sigma_k} - 1\Big) 1\{d \in B_k\}\, s_{d|k} - s_d,

    and :math:`\partial \delta_d / \partial \log p_d = \alpha p_d`, so entry ``[j, d]`` of the
    returned matrix, :math:`\varepsilon_{jd} = \partial \log s_j / \partial \log p_d`, is

    .. math::
        \varepsilon_{jd} = \begin{cases}
            \alpha p_j \big(\tfrac{1}{\sigma_k} - (\tfrac{1}{\sigma_k} - 1) s_{j|k} - s_j\big) & d = j,\\
            -\alpha p_d \big((\tfrac{1}{\sigma_k} - 1) s_{d|k} + s_d\big) & d \ne j,\ d \in B_{k(j)},\\
            -\alpha p_d\, s_d & d \notin B_{k(j)}.
        \end{cases}

    With every :math:`\sigma_k = 1` this is :func:`course_lib.logit.logit_elasticities`.
    The slides' cross elasticities agree once read correctly: their same-nest case
    :math:`(\sigma_k - 1)\frac{\beta_p}{\sigma_k} P_{j'|k} p_{j'} - \beta_p P_{j'} p_{j'}` is our
    second line (:math:`\beta_p = \alpha`), and their other-nest case
    :math:`-\beta_{j'} P_{j'} p_{j'}` is our third line with the typo :math:`\beta_{j'}` read as
    :math:`\beta_p`. Their same-nest case is stated for every :math:`j' \in B_{k(j)}`, which
    would include :math:`j' = j`; it holds only for :math:`j' \ne j`, and the own-price
    elasticity (our first line, with the extra :math:`\alpha p_j / \sigma_k`) is missing there.

    Parameters
    ----------
    prices, shares : array_like, shape (J,)
        Prices and inside shares of the market's products.
    nest_ids : array_like, shape (J,)
    sigma : float, array_like or mapping
        As in :func:`nested_logit_shares` (an array is aligned with the sorted nest ids
        present in this market; a dict keyed by nest id is safer across markets).
    alpha : float
        Price coefficient (negative: utility includes ``alpha * price``).

    Returns
    -------
    ndarray, shape (J, J)
    """
    prices = as_vector(prices, "prices")
    shares = as_vector(shares, "shares")
    check_same_length(prices=prices, shares=shares)
    check_finite(prices, "prices")
    if not np.isfinite(alpha):
        raise ValueError(f"alpha must be finite; got {alpha}.")
    shares, nest_ids, _ = _check_all(shares, nest_ids, None)
    nests, nest_pos, _, cell, n_cells, _, _ = _groups(nest_ids, np.zeros(len(shares), dtype=int))
    sig = _sigma_per_nest(sigma, nests)[nest_pos]
    within = shares / np.bincount(cell, weights=shares, minlength=n_cells)[cell]
    same = nest_pos[:, None] == nest_pos[None, :]
    dlogs_ddelta = (np.diag(1.0 / sig) - same * ((1.0 / sig - 1.0)[:, None] * within[None, :])
                    - shares[None, :])
    return dlogs_ddelta * (alpha * prices)[None, :]


# --------------------------------------------------------------------------- instruments


def _others_log_sum_exp(x: np.ndarray, cell: np.ndarray, n_cells: int) -> np.ndarray:
    r"""For each row, :math:`\log \sum_{d \ne j,\ d \in \mathrm{cell}(j)} e^{x_d}`; ``-inf`` if alone.

    Stable without cancellation: shifted by its cell's maximum, the sum over the cell keeps
    a term 1 that is not the row's own, unless the row is its cell's only maximum, so
    subtracting the row's own term cannot cancel; the row of a cell's only maximum sums
    the others directly, shifted by the largest of them.
    """
    top = np.full(n_cells, -np.inf)
    np.maximum.at(top, cell, x)
    own = np.exp(x - top[cell])
    total = np.bincount(cell, weights=own, minlength=n_cells)
    is_max = x == top[cell]
    only_max = is_max & (np.bincount(cell, weights=is_max, minlength=n_cells)[cell] == 1)
    rest = np.flatnonzero(~only_max)
    out = np.empty(len(x))
    out[rest] = top[cell[rest]] + np.log(total[cell[rest]] - own[rest])
    second = np.full(n_cells, -np.inf)  # the largest of the others, where the maximum is alone
    np.maximum.at(second, cell[rest], x[rest])
    others = np.bincount(cell[rest], weights=np.exp(x[rest] - second[cell[rest]]), minlength=n_cells)
    tops = cell[only_max]
    with np.errstate(divide="ignore"):  # a product alone in its cell: log 0 = -inf
        out[only_max] = second[tops] + np.log(others[tops])
    return out


def nest_instruments(X_char, nest_ids, market_ids, interact: bool = True, names=None):
    r"""The slides' instrument for the within-nest share, for each characteristic.

    .. math::
        z_{jm} = -\log \sum_{d \ne j,\ d \in B_{k(j)}} e^{x_{dm}},

    the sum running over the *other* products of j's nest in market m (computed by
    log-sum-exp, without cancellation). It moves :math:`\log s_{j|k}` through the rivals'
    characteristics, which are excluded from j's utility.

    **Singletons.** A product alone in its nest in a market has no other products: the sum
    is empty and the formula gives :math:`+\infty`. We set :math:`z_{jm} = 0` there and flag
    the row in ``alone``; this is harmless in the Berry regression, where the same rows have
    :math:`\log s_{j|k} = \log 1 = 0` and carry no information on :math:`\sigma_k`.

    Parameters
    ----------
    X_char : array_like, shape (N,) or (N, L)
        Exogenous characteristics (the slides use the single x; pass no constant column).
    nest_ids, market_ids : array_like, shape (N,)
    interact : bool
        If True (default) return each instrument times each nest dummy, N x (K L) columns,
        nest-major (all characteristics of the first sorted nest, then the next), so that
        each nest's :math:`1 - \sigma_k` has its own instruments; if False, the N x L matrix.
    names : sequence of str, optional
        Names of the columns of ``X_char`` (default ``x0, x1, ...``).

    Returns
    -------
    Z : ndarray, shape (N, K L) or (N, L)
    columns : list of str
        ``"z[x0]|nest=a"`` style names of the columns of Z.
    alone : ndarray of bool, shape (N,)
        True where the product is the only one of its nest in its market.
    """
    X = np.asarray(X_char, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"X_char must be one- or two-dimensional; got shape {X.shape}.")
    check_finite(X, "X_char")
    n, L = X.shape
    nest_ids = _ids(nest_ids, n, "nest_ids")
    market_ids = _ids(market_ids, n, "market_ids")
    names = [f"x{l}" for l in range(L)] if names is None else list(names)
    if len(names) != L:
        raise ValueError(f"names has {len(names)} entries for {L} columns of X_char.")
    nests, nest_pos, _, cell, n_cells, _, _ = _groups(nest_ids, market_ids)
    Zt, alone = _slides_instruments(X.T, cell, n_cells)
    if not interact:
        return Zt.T, [f"z[{nm}]" for nm in names], alone
    columns = [f"z[{nm}]|nest={_plain(k)}" for k in nests for nm in names]
    return _by_nest(Zt, nest_pos, len(nests)).T, columns, alone


def _slides_instruments(Xt: np.ndarray, cell: np.ndarray, n_cells: int):
    r"""The slides' instruments of :func:`nest_instruments`, for the characteristics Xt (L, N)
    (by rows): :math:`-\log \sum_{d \ne j, d \in \mathrm{cell}(j)} e^{x_d}` for each row j,
    0 where j is alone in its cell; returns them (L, N) and the indicator of those rows."""
    alone = np.bincount(cell, minlength=n_cells)[cell] == 1
    Zt = np.zeros(Xt.shape)
    for l, x in enumerate(Xt):  # characteristics, never products or markets
        Zt[l, ~alone] = -_others_log_sum_exp(x, cell, n_cells)[~alone]
    return Zt, alone


def _by_nest(values: np.ndarray, nest_pos: np.ndarray, K: int) -> np.ndarray:
    """Variables (..., L, N) times the K nest dummies of the N rows: (..., K L, N), nest-major."""
    dummies = nest_pos[..., None, :] == np.arange(K)[:, None]  # (..., K, N)
    out = dummies[..., :, None, :] * values[..., None, :, :]  # (..., K, L, N)
    return out.reshape(nest_pos.shape[:-1] + (K * values.shape[-2], nest_pos.shape[-1]))


# --------------------------------------------------------------------------- Berry regression


@dataclass
class NestedLogitResult:
    r"""Berry (1994) 2SLS estimates of the nested logit with known nests.

    Attributes
    ----------
    beta : pandas.Series
        Coefficients of the exogenous characteristics (``"1"`` first if a constant was added).
    alpha : float
        Price coefficient; ``alpha_se`` its standard error.
    sigma, sigma_se : pandas.Series
        Dissimilarity parameters, indexed by nest id, and their standard errors.
    rho : pandas.Series
        pyBLP's :math:`\rho_k = 1 - \sigma_k`, the coefficients of the log within-nest shares.
    delta, xi : ndarray, shape (N,)
        Mean utilities (the inversion at the estimated sigma) and the structural errors.
    iv : IVResult
        The underlying regression (all coefficients, covariance, residuals), whose
        regressors are the exogenous characteristics, the price and one log within-nest
        share per nest, in that order.
    nests : ndarray
        The nest ids, sorted (the order of the last regressors).
    """

    nests: np.ndarray
    delta: np.ndarray
    iv: IVResult

    # The parameters are read from the regression on first use: building pandas objects
    # costs more than the regression itself in a Monte Carlo of small problems.
    @property
    def _n_exog(self) -> int:  # the regressors are [exogenous, prices, one per nest]
        return len(self.iv.coefficients) - 1 - len(self.nests)

    @cached_property
    def _nest_index(self) -> pd.Index:
        return pd.Index([_plain(k) for k in self.nests], name="nest")

    @property
    def alpha(self) -> float:
        return float(self.iv.coefficients[self._n_exog])

    @property
    def alpha_se(self) -> float:
        return float(np.sqrt(self.iv.cov[self._n_exog, self._n_exog]))

    @cached_property
    def beta(self) -> pd.Series:
        return self.iv.params.iloc[: self._n_exog]

    @cached_property
    def rho(self) -> pd.Series:
        return pd.Series(self.iv.coefficients[self._n_exog + 1:], index=self._nest_index)

    @cached_property
    def sigma(self) -> pd.Series:
        return 1.0 - self.rho

    @cached_property
    def sigma_se(self) -> pd.Series:
        return pd.Series(self.iv.standard_errors[self._n_exog + 1:], index=self._nest_index)

    @property
    def xi(self) -> np.ndarray:
        return self.iv.residuals

    def table(self) -> pd.DataFrame:
        """All parameters (beta, alpha, sigma per nest) with standard errors."""
        est = pd.concat([self.beta, pd.Series({"alpha": self.alpha}),
                         self.sigma.rename(lambda k: f"sigma[{k}]")])
        se = pd.concat([self.iv.std_errors[self.beta.index], pd.Series({"alpha": self.alpha_se}),
                        self.sigma_se.rename(lambda k: f"sigma[{k}]")])
        return pd.DataFrame({"estimate": est, "std. error": se})


def berry_regression(
    shares,
    prices,
    X,
    nest_ids,
    market_ids,
    instruments=None,
    *,
    x_names=None,
    constant: bool = True,
    exogenous_prices: bool = False,
    cov_type: str = "robust",
) -> NestedLogitResult:
    r"""Nested logit with known nests by Berry's (1994) linear IV regression.

    Estimates, by two-stage least squares (:func:`course_lib.iv.tsls`, weight :math:`(Z'Z)^{-1}`),

    .. math::
        \log \frac{s_{jm}}{s_{0m}} = x_{jm}\beta + \alpha p_{jm}
            + \sum_{k=1}^K (1 - \sigma_k)\, 1\{k(j) = k\} \log s_{jm|k} + \xi_{jm},

    one log within-nest share regressor per nest (DESIGN.md, section 6, item 8: the slides'
    :math:`\sigma^{k(j)} - 1` is a typo for :math:`1 - \sigma_k`). Then
    :math:`\hat\sigma_k = 1 - \hat\rho_k` and, the map being affine with slope -1,
    :math:`\mathrm{se}(\hat\sigma_k) = \mathrm{se}(\hat\rho_k)` exactly. The log within-nest
    shares are endogenous (they contain :math:`\xi_{jm}`), and so are prices unless
    ``exogenous_prices``. Unlike pyBLP (which bounds :math:`\rho_k` to [0, 0.99]) the
    regression does not restrict :math:`\hat\sigma_k` to (0, 1] (it warns when an estimate
    falls outside); at an interior optimum the
    two coincide: pyBLP's one-step GMM with :math:`W = (Z'Z)^{-1}` is this 2SLS with
    :math:`\beta, \alpha` concentrated out.

    Parameters
    ----------
    shares : array_like, shape (N,)
        Inside-good shares.
    prices : array_like, shape (N,)
    X : array_like, shape (N,) or (N, L)
        Exogenous characteristics (without a constant column: see ``constant``).
    nest_ids, market_ids : array_like, shape (N,)
    instruments : array_like, shape (N, q), optional
        Excluded instruments. Default: :func:`nest_instruments` of ``X`` interacted with the
        nest dummies (the slides' instrument), which is enough only with ``exogenous_prices``.
        The instrument set is ``[1, X, (prices if exogenous_prices), instruments]``.
    x_names : sequence of str, optional
        Names of the columns of X (default ``x0, x1, ...``).
    constant : bool
        Add an intercept ``"1"`` (default True; the slides' design has none).
    exogenous_prices : bool
        Treat prices as exogenous (their own instrument), as in the slides' first design.
    cov_type : {"robust", "unadjusted"}
        Passed to :func:`course_lib.iv.tsls`.

    Returns
    -------
    NestedLogitResult

    Raises
    ------
    ValueError
        On bad shares or ids (as :func:`within_nest_shares`), mismatched shapes, a nest that
        never has two products in one market (its sigma is not identified), or too few
        instruments.
    """
    shares, nest_ids, market_ids = _check_all(shares, nest_ids, market_ids)
    n = len(shares)
    prices = as_vector(prices, "prices")
    check_same_length(shares=shares, prices=prices)
    check_finite(prices, "prices")
    X = as_matrix(X, "X", n, row="product")
    x_names = [f"x{l}" for l in range(X.shape[1])] if x_names is None else list(x_names)
    if len(x_names) != X.shape[1]:
        raise ValueError(f"x_names has {len(x_names)} entries for {X.shape[1]} columns of X.")

    nests, nest_pos, market_pos, cell, n_cells, _, _ = _groups(nest_ids, market_ids)
    lonely = ~_identified(cell, n_cells, nest_pos[None], len(nests))[0]
    if lonely.any():
        raise ValueError(
            f"Nest {_plain(nests[np.argmax(lonely)])!r} never has two products in the same market: its log "
            "within-nest share is always 0 and its sigma is not identified."
        )
    exog = np.column_stack(([np.ones(n)] if constant else []) + [X])
    names = (["1"] if constant else []) + x_names + ["prices"] + [f"log_within_share[{_plain(k)}]" for k in nests]
    if instruments is None:
        instruments = _by_nest(_slides_instruments(X.T, cell, n_cells)[0], nest_pos, len(nests)).T
    Zx = as_matrix(instruments, "instruments", n, row="product")
    n_instruments = exog.shape[1] + int(exogenous_prices) + Zx.shape[1]
    if n_instruments < len(names):
        raise ValueError(f"Underidentified: {n_instruments} instruments for {len(names)} regressors.")
    coefficients, e, cov, delta = _berry_fit(shares[None], prices[None], exog.T[None], nest_pos[None], market_pos,
                                             cell, len(nests), Zx.T[None], exogenous_prices, cov_type)
    result = NestedLogitResult(nests, delta[0], IVResult(coefficients[0], tuple(names), e[0], cov[0], cov_type))
    _warn_sigma(result.sigma.to_numpy(), nests)
    return result


def _identified(cell: np.ndarray, n_cells: int, nest_pos: np.ndarray, K: int) -> np.ndarray:
    """(B, K): whether each nest of each data set has two products in some market.

    ``cell`` indexes the (data set, market, nest) cells of the rows of ``nest_pos`` (B, N),
    flattened.
    """
    pairs = np.bincount(cell, minlength=n_cells)[cell] > 1
    B, N = nest_pos.shape
    flat = (np.arange(B)[:, None] * K + nest_pos).ravel()
    return np.bincount(flat, weights=pairs, minlength=B * K).reshape(B, K) > 0


def _warn_sigma(sigma: np.ndarray, nests, where: str = "") -> None:
    """Warn when an estimated sigma falls outside (0, 1]."""
    outside = (sigma <= 0) | (sigma > 1)
    if outside.any():
        warnings.warn(
            f"Estimated sigma outside (0, 1]{where} for nest(s) {[_plain(k) for k in np.asarray(nests)[outside]]} "
            f"({', '.join(f'{v:.4g}' for v in sigma[outside])}): the estimates are not a nested logit "
            "consistent with utility maximisation (misspecified nests, e.g. too many of them, or weak "
            "instruments).",
            stacklevel=3,
        )


def _berry_fit(shares, prices, exog_t, nest_pos, market, cell, K: int, Zx_t, exogenous_prices: bool,
               cov_type: str):
    r"""Berry's 2SLS for a stack of B data sets of N rows each, unchecked.

    ``shares``, ``prices`` and ``nest_pos`` (0, ..., K-1) are (B, N); ``market`` and
    ``cell`` (B N,) index each row's (data set, market) and (data set, market, nest) cell;
    the exogenous regressors ``exog_t`` (B, E, N) and the excluded instruments ``Zx_t``
    (B, q, N) come variables by rows. Computes :math:`y = \log(s_{jm}/s_{0m})` and
    :math:`\log s_{jm|k}` over all cells at once, then :func:`course_lib.iv._tsls_fit` of y
    on ``[exog, prices, D]`` (D the log within-nest share in its nest's column) with
    instruments ``[exog, (prices), Zx]``. Returns the coefficients (B, E + 1 + K), residuals
    (B, N), covariances and the mean utilities :math:`\delta = y - D \rho` (B, N).
    """
    B, N = shares.shape
    s = shares.ravel()
    outside = 1.0 - np.bincount(market, weights=s)
    y = (np.log(s) - np.log(outside[market])).reshape(B, N)
    log_within = np.log(s / np.bincount(cell, weights=s)[cell]).reshape(B, N)
    D_t = _by_nest(log_within[:, None, :], nest_pos, K)  # (B, K, N)
    regressors = np.concatenate([exog_t, prices[:, None, :], D_t], axis=1)
    instruments = np.concatenate([exog_t] + ([prices[:, None, :]] if exogenous_prices else []) + [Zx_t], axis=1)
    coefficients, e, cov = _tsls_fit(y, regressors, instruments, cov_type)
    rho = coefficients[:, -K:]
    return coefficients, e, cov, y - (rho[:, None, :] @ D_t)[:, 0]
