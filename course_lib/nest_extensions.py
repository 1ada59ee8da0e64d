r"""Extensions of data-driven nests: Frechet errors, consumer types, two-level nests, one step.

The slides' section "Extensions" of Almagro, Lai and Manresa ("Data-Driven Nests") sketches
four ways to leave the basic model of :mod:`course_lib.nests`. This module implements each
with the course's conventions (:math:`\sigma \in (0, 1]` is a dissimilarity parameter,
:math:`\sigma = 1` the plain logit, pyBLP's :math:`\rho = 1 - \sigma`; the outside good alone
in its own nest) and reuses :func:`course_lib.nests.classify` and
:mod:`course_lib.nested_logit` wherever the extension reduces to them.

1. **Type II extreme-value (Frechet) errors.** With utility
   :math:`u_{ij} = \delta_j \varepsilon_{ij}`, :math:`\delta_j > 0` and :math:`\varepsilon`
   nested Frechet with shape :math:`\theta`,
   :math:`P(\varepsilon \le t) = \exp(-\sum_k (\sum_{j \in B_k} t_j^{-\theta/\sigma_k})^{\sigma_k})`,
   :math:`\theta \log u_{ij} = \theta \log \delta_j + \eta_{ij}` with :math:`\eta` nested
   Gumbel, so the shares are the nested logit with mean utility
   :math:`\theta \log \delta_j` (:func:`frechet_shares`). With
   :math:`\delta_{jm} = (\gamma_0 + \gamma_1 x_{jm}) e^{\xi_{jm}}`,
   :func:`estimate_frechet` profiles the grouped fixed-effects (GFE) objective over the ratio
   :math:`g = \gamma_1/\gamma_0` (only the ratio moves the classification) and recovers
   :math:`\theta`, :math:`\gamma_0` and :math:`\sigma` by Berry's regression.
2. **Observed consumer types.** With type-specific shares :math:`P^t_{jm}` each type is a
   nested logit: :func:`classify_by_type` classifies type by type;
   :func:`classify_types_jointly` imposes common nests (and, through common slopes, common
   :math:`\sigma`), optionally on differences across types, which remove the common
   :math:`\xi`.
3. **Two-level nests.** :func:`two_level_shares` (upper nests :math:`A_n` of lower nests
   :math:`B_k`), :func:`classify_two_level` (lower nests by GFE, then upper nests by a GFE
   over the lower nests, the key observation one level up) and
   :func:`two_level_berry_regression` (Berry's 2SLS with both levels).
4. **One step.** :func:`one_step_berry` alternates Berry's 2SLS given the nests and the
   reassignment of each product to the nest that minimises its own squared Berry residual.

Shocks for simulation checks of the share formulas: :func:`gev_shocks` (Cardell's exact
construction of nested Gumbel shocks from positive stable draws, one or two levels).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from ._checks import _plain, as_matrix, as_vector, check_finite
from .iv import IVResult, tsls
from .nested_logit import (
    NestedLogitResult,
    _ids,
    _log_inclusive,
    berry_regression,
    nest_instruments,
    nested_logit_shares,
)
from .nests import GFEResult, classify, first_within, simulate_nested_logit
from .nests import _columns as _table_columns

__all__ = [
    "gev_shocks",
    "log_positive_stable",
    "ExtensionSimulation",
    "frechet_shares",
    "simulate_frechet",
    "FrechetResult",
    "estimate_frechet",
    "simulate_types",
    "classify_by_type",
    "classify_types_jointly",
    "two_level_shares",
    "simulate_two_level",
    "TwoLevelResult",
    "classify_two_level",
    "TwoLevelBerryResult",
    "two_level_berry_regression",
    "OneStepResult",
    "one_step_berry",
]


# ----------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------


@dataclass
class ExtensionSimulation:
    """A simulated panel of one of the extensions and the truth that generated it.

    Attributes
    ----------
    data : pandas.DataFrame
        Long format, market-major: ``market_ids``, ``product_ids``, ``shares``, the
        regressors, ``nesting_ids`` (true nest; in the two-level design the lower nest) and
        the design's own columns (``type_ids``, ``upper_ids``).
    nests : pandas.Series
        True (lower) nest of each product, indexed by product id.
    truth : dict
        The parameters (``sigma``, ``theta``, ``gamma``, ``beta_p``, ...) and, by row of
        ``data``, the unobservables (``xi``) and mean utilities (``delta``).
    aggregate : pandas.DataFrame or None
        Consumer-types design only: the market shares of all consumers,
        :math:`s_{jm} = \\sum_t w_t P^t_{jm}`, one row per product and market.
    """

    data: pd.DataFrame
    nests: pd.Series
    truth: dict
    aggregate: pd.DataFrame | None = None


def _cells(*ids):
    """Index the cells defined by several id arrays: (cell of each row, number of cells,
    first row of each cell)."""
    codes = [np.unique(np.asarray(a), return_inverse=True)[1].astype(np.int64) for a in ids]
    code = codes[0]
    for c in codes[1:]:
        code = code * (int(c.max()) + 1) + c
    _, first, cell = np.unique(code, return_index=True, return_inverse=True)
    return cell, len(first), first


def log_positive_stable(index: float, size, rng: np.random.Generator) -> np.ndarray:
    r"""Logs of positive stable draws, :math:`E[e^{-sW}] = e^{-s^{a}}`, index a in (0, 1].

    The common factor of a nest's shocks in Cardell's construction (see :func:`gev_shocks`).

    Kanter's (1975) representation from :math:`U \sim \mathcal U(0, \pi)` and
    :math:`E \sim \mathrm{Exp}(1)`:
    :math:`W = \sin(aU) \sin(U)^{-1/a} (\sin((1 - a)U)/E)^{(1 - a)/a}`, computed in logs.
    With a = 1, W = 1.
    """
    if not 0 < index <= 1:
        raise ValueError(f"The index of a positive stable law must lie in (0, 1]; got {index}.")
    u = rng.uniform(0.0, np.pi, size)
    e = rng.exponential(1.0, size)
    if index == 1.0:
        return np.zeros(size)
    return (np.log(np.sin(index * u)) - np.log(np.sin(u)) / index
            + (1.0 - index) / index * (np.log(np.sin((1.0 - index) * u)) - np.log(e)))


def _sigma_array(sigma, n: int, name: str) -> np.ndarray:
    """``sigma`` as n values in (0, 1] (a scalar is repeated), or raise naming ``name``."""
    values = np.asarray(sigma, dtype=float)
    if values.ndim == 0:
        values = np.full(n, float(values))
    values = values.ravel()
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries for {n} nests; give one per nest, in sorted nest-id order.")
    bad = ~(np.isfinite(values) & (values > 0) & (values <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] is {values[i]}; dissimilarity parameters must lie in (0, 1].")
    return values


def _columns(data, needed, who: str) -> None:
    """Check that data is a DataFrame (these functions use pandas on it) with the columns ``needed``."""
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame; got {type(data).__name__}.")
    _table_columns(data, needed, who=who)  # the missing-column check of course_lib.nests


def _log_share_ratio(data: pd.DataFrame, market_ids=None) -> np.ndarray:
    r""":math:`y = \log(s_{jm}/s_{0m})`, with :math:`s_{0m}` from ``outside_shares`` or one minus
    the market's inside shares (``market_ids`` overrides the data's markets)."""
    s = data["shares"].to_numpy(dtype=float)
    if not np.all(np.isfinite(s) & (s > 0)):
        i = int(np.flatnonzero(~(np.isfinite(s) & (s > 0)))[0])
        raise ValueError(f"Share in row {i} is {s[i]}; shares must be positive and finite.")
    if "outside_shares" in data.columns:
        return np.log(s) - np.log(data["outside_shares"].to_numpy(dtype=float))
    markets = data["market_ids"].to_numpy() if market_ids is None else market_ids
    _, m = np.unique(markets, return_inverse=True)
    inside = np.bincount(m, weights=s)
    if (inside >= 1).any():
        raise ValueError(f"Inside shares of market {_plain(np.unique(markets)[np.argmax(inside >= 1)])!r} sum to one or more.")
    return np.log(s) - np.log1p(-inside)[m]


def _share_panel(y: np.ndarray, market_ids: np.ndarray, product_ids: np.ndarray, **columns) -> pd.DataFrame:
    r"""A panel that :func:`course_lib.nests.classify` reads as :math:`\log(s/s_0) = y`.

    ``classify`` works on :math:`\log(s_{jm}/s_{0m})`. To classify on another dependent
    variable y (a difference across types), pass shares :math:`c_m e^{y_{jm} - a_m}` and
    outside shares :math:`c_m e^{-a_m}` with :math:`a_m = \max_j y_{jm}` and :math:`c_m`
    such that they sum to 1/2 in each market; their log ratio is y.
    """
    cell, n_cells, _ = _cells(market_ids)
    top = np.full(n_cells, -np.inf)
    np.maximum.at(top, cell, y)
    rel = y - top[cell]
    if (rel < -700).any() or (top > 700).any():
        raise ValueError("The dependent variable spans more than 700 log points in a market; rescale it.")
    total = np.bincount(cell, weights=np.exp(rel), minlength=n_cells) + np.exp(-top)
    scale = 0.5 / total
    return pd.DataFrame({"market_ids": market_ids, "product_ids": product_ids,
                         "shares": np.exp(rel) * scale[cell],
                         "outside_shares": np.exp(-top)[cell] * scale[cell], **columns})


# ----------------------------------------------------------------------------------------
# GEV shocks (Cardell's construction), for simulation checks
# ----------------------------------------------------------------------------------------


def gev_shocks(n: int, nest_ids, sigma, seed=None, upper_ids=None, sigma_upper=None) -> np.ndarray:
    r"""Draw nested Gumbel (GEV) shocks exactly, for the outside good and J inside goods.

    **One level** (Cardell 1997): for product j of nest k,
    :math:`\varepsilon_j = \sigma_k \log W_k + \sigma_k e_j` with :math:`e_j` iid standard
    Gumbel and :math:`W_k` positive stable with index :math:`\sigma_k`
    (:math:`E e^{-sW} = e^{-s^{\sigma_k}}`, Kanter's representation), one per consumer and
    nest. The joint distribution function is
    :math:`\exp\big(-e^{-a_0} - \sum_k (\sum_{j \in B_k} e^{-a_j/\sigma_k})^{\sigma_k}\big)`.

    **Two levels** (``upper_ids`` and ``sigma_upper`` given; lower nest k inside upper nest
    n): :math:`\varepsilon_j = \sigma_n \log W_n + \sigma_k \log W_k + \sigma_k e_j` with
    :math:`W_n` of index :math:`\sigma_n` and :math:`W_k` of index :math:`\sigma_k/\sigma_n`,
    whose distribution function is
    :math:`\exp\big(-e^{-a_0} - \sum_n (\sum_{k \in A_n} (\sum_{j \in B_k} e^{-a_j/\sigma_k})^{\sigma_k/\sigma_n})^{\sigma_n}\big)`:
    conditional on :math:`W_n` the one-level formula applies to
    :math:`(\varepsilon - \sigma_n \log W_n)/\sigma_n` with parameters
    :math:`\sigma_k/\sigma_n`, and averaging :math:`e^{-W_n S}` over :math:`W_n` gives
    :math:`e^{-S^{\sigma_n}}`. It requires :math:`\sigma_k \le \sigma_{n(k)}`.

    Parameters
    ----------
    n : int
        Number of consumers (rows).
    nest_ids : array_like, shape (J,)
        (Lower) nest of each inside good.
    sigma : float or array_like
        Dissimilarity of each nest, in the order of ``numpy.unique(nest_ids)``.
    seed : int, SeedSequence or None
        Passed to :func:`numpy.random.default_rng`.
    upper_ids : array_like, shape (J,), optional
        Upper nest of each inside good (every lower nest inside one upper nest).
    sigma_upper : float or array_like, optional
        Dissimilarity of each upper nest, in the order of ``numpy.unique(upper_ids)``.

    Returns
    -------
    ndarray, shape (n, J + 1)
        Column 0 is the outside good's shock (standard Gumbel, alone in its nest); column
        j + 1 is inside good j's.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer; got {n}.")
    nest_ids = np.asarray(nest_ids).ravel()
    J = len(nest_ids)
    if J == 0:
        raise ValueError("nest_ids is empty: give the nest of every inside good.")
    nests, pos = np.unique(nest_ids, return_inverse=True)
    sig = _sigma_array(sigma, len(nests), "sigma")
    rng = np.random.default_rng(seed)
    n = int(n)
    eps = np.empty((n, J + 1))
    eps[:, 0] = rng.gumbel(size=n)
    eps[:, 1:] = sig[pos] * rng.gumbel(size=(n, J))
    if upper_ids is None:
        if sigma_upper is not None:
            raise ValueError("sigma_upper given without upper_ids.")
        for k in range(len(nests)):  # nests, not products
            eps[:, 1:][:, pos == k] += sig[k] * log_positive_stable(sig[k], n, rng)[:, None]
        return eps
    if sigma_upper is None:
        raise ValueError("upper_ids given without sigma_upper.")
    upper_ids = _ids(upper_ids, J, "upper_ids")
    uppers, upos = np.unique(upper_ids, return_inverse=True)
    sig_up = _sigma_array(sigma_upper, len(uppers), "sigma_upper")
    upper_of_lower = _upper_of_lower(pos, upos, nests)
    ratio = sig / sig_up[upper_of_lower]
    if (ratio > 1 + 1e-12).any():
        k = int(np.argmax(ratio > 1 + 1e-12))
        raise ValueError(f"sigma of lower nest {_plain(nests[k])!r} exceeds its upper nest's; the model needs "
                         "sigma_k <= sigma_n to be consistent with utility maximisation.")
    for k in range(len(nests)):
        eps[:, 1:][:, pos == k] += sig[k] * log_positive_stable(min(ratio[k], 1.0), n, rng)[:, None]
    for u in range(len(uppers)):
        eps[:, 1:][:, upos == u] += sig_up[u] * log_positive_stable(sig_up[u], n, rng)[:, None]
    return eps


def _upper_of_lower(lower_pos: np.ndarray, upper_pos: np.ndarray, lower_names) -> np.ndarray:
    """The upper-nest position of each lower nest, checking each lower nest has one."""
    K = int(lower_pos.max()) + 1
    lo = np.full(K, np.iinfo(np.int64).max)
    hi = np.full(K, -1)
    np.minimum.at(lo, lower_pos, upper_pos)
    np.maximum.at(hi, lower_pos, upper_pos)
    if (lo != hi).any():
        k = int(np.flatnonzero(lo != hi)[0])
        raise ValueError(f"Lower nest {_plain(lower_names[k])!r} lies in more than one upper nest; each lower nest "
                         "must sit inside exactly one upper nest.")
    return lo


# ----------------------------------------------------------------------------------------
# 1. Type II extreme-value (Frechet) errors
# ----------------------------------------------------------------------------------------


def frechet_shares(delta, nest_ids, sigma, theta: float, market_ids=None) -> np.ndarray:
    r"""Market shares when utility is multiplicative with nested Frechet errors.

    Utility :math:`u_{ij} = \delta_j \varepsilon_{ij}` with :math:`\delta_j > 0`, the outside
    good's :math:`u_{i0} = \varepsilon_{i0}` (:math:`\delta_0 = 1`, alone in its nest) and

    .. math::
        P(\varepsilon_0 \le t_0, \varepsilon \le t) = \exp\Big(-t_0^{-\theta}
        - \sum_k \big(\textstyle\sum_{j \in B_k} t_j^{-\theta/\sigma_k}\big)^{\sigma_k}\Big).

    Then :math:`\eta = \theta \log \varepsilon` is nested Gumbel and maximising u maximises
    :math:`\theta \log u_{ij} = \theta \log \delta_j + \eta_{ij}`, so

    .. math::
        s_j = \frac{\delta_j^{\theta/\sigma_k} \big(\sum_{d \in B_k} \delta_d^{\theta/\sigma_k}\big)^{\sigma_k - 1}}
                   {1 + \sum_l \big(\sum_{d \in B_l} \delta_d^{\theta/\sigma_l}\big)^{\sigma_l}},

    :func:`course_lib.nested_logit.nested_logit_shares` at mean utility
    :math:`\theta \log \delta_j`.

    Parameters
    ----------
    delta : array_like, shape (N,)
        Positive scale of each inside good's utility.
    nest_ids : array_like, shape (N,)
    sigma : float, array_like or mapping
        As in :func:`course_lib.nested_logit.nested_logit_shares`.
    theta : float
        Frechet shape parameter, positive.
    market_ids : array_like, shape (N,), optional

    Returns
    -------
    ndarray, shape (N,)
    """
    delta = as_vector(delta, "delta")
    check_finite(delta, "delta")
    if (delta <= 0).any():
        i = int(np.flatnonzero(delta <= 0)[0])
        raise ValueError(f"delta[{i}] is {delta[i]}; multiplicative utility needs delta > 0.")
    if not (np.isfinite(theta) and theta > 0):
        raise ValueError(f"theta must be positive and finite; got {theta}.")
    return nested_logit_shares(theta * np.log(delta), nest_ids, sigma, market_ids)


def simulate_frechet(
    J: int,
    M: int,
    K: int = 3,
    sigma=(0.3, 0.5, 0.8),
    theta: float = 2.0,
    gamma=(0.25, 0.25),
    x_spread: float = 0.75,
    xi_sd: float = 0.2,
    seed=None,
) -> ExtensionSimulation:
    r"""A panel with multiplicative utility and nested Frechet errors.

    .. math::
        \delta_{jm} = (\gamma_0 + \gamma_1 x_{jm})\, e^{\xi_{jm}}, \qquad
        x_{jm} = e^{\mu_{k(j)} + \kappa z_{jm}}, \qquad
        k(j) \overset{iid}{\sim} \mathcal U\{0, \dots, K - 1\},

    with :math:`\mu_k \sim \mathcal N(0, 0.5^2)` once per nest, :math:`z_{jm}` standard
    normal, :math:`\kappa` = ``x_spread``, :math:`\xi_{jm} \sim \mathcal N(0, \text{xi\_sd}^2)`,
    and shares from :func:`frechet_shares`. The characteristic is positive, so
    :math:`\delta > 0` whenever :math:`\gamma_0 > 0` and :math:`\gamma_1 \ge 0`. The model
    is linear in :math:`x` in levels, not in logs: :math:`\log \delta` is concave in x, and
    no Type I logit with utility linear in x produces these shares.

    Returns
    -------
    ExtensionSimulation
        ``data`` has ``market_ids``, ``product_ids``, ``shares``, ``x``, ``nesting_ids``;
        ``truth`` has ``sigma``, ``theta``, ``gamma``, ``ratio`` (:math:`\gamma_1/\gamma_0`),
        ``delta`` and ``xi``.
    """
    J, M, K = int(J), int(M), int(K)
    if J < 1 or M < 1 or K < 1:
        raise ValueError(f"J, M and K must be positive; got J={J}, M={M}, K={K}.")
    sig = _sigma_array(sigma, K, "sigma")
    if not (np.isfinite(theta) and theta > 0):
        raise ValueError(f"theta must be positive and finite; got {theta}.")
    gamma = np.asarray(gamma, dtype=float).ravel()
    if gamma.shape != (2,) or not (gamma[0] > 0 and gamma[1] >= 0):
        raise ValueError(f"gamma must be (gamma_0 > 0, gamma_1 >= 0) so that delta > 0; got {gamma.tolist()}.")
    if not (x_spread > 0 and xi_sd >= 0):
        raise ValueError(f"x_spread must be positive and xi_sd non-negative; got {x_spread}, {xi_sd}.")
    rng = np.random.default_rng(seed)
    nests = rng.integers(0, K, size=J)
    mu = 0.5 * rng.standard_normal(K)
    x = np.exp(mu[nests][None, :] + x_spread * rng.standard_normal((M, J)))  # (M, J), market-major
    xi = xi_sd * rng.standard_normal((M, J))
    delta = (gamma[0] + gamma[1] * x) * np.exp(xi)
    market_ids = np.repeat(np.arange(M), J)
    product_ids = np.tile(np.arange(J), M)
    shares = frechet_shares(delta.ravel(), nests[product_ids], dict(enumerate(sig)), theta, market_ids)
    data = pd.DataFrame({"market_ids": market_ids, "product_ids": product_ids, "shares": shares,
                         "x": x.ravel(), "nesting_ids": nests[product_ids]})
    truth = dict(sigma=sig, theta=float(theta), gamma=gamma, ratio=float(gamma[1] / gamma[0]),
                 delta=delta.ravel(), xi=xi.ravel(), design=dict(J=J, M=M, K=K, x_spread=x_spread, xi_sd=xi_sd,
                                                                  seed=seed))
    return ExtensionSimulation(data=data, nests=pd.Series(nests, index=pd.Index(np.arange(J), name="product_ids"),
                                                          name="nest"), truth=truth)


@dataclass
class FrechetResult:
    r"""Data-driven nests with Frechet errors: profiled classification and Berry's regression.

    Attributes
    ----------
    ratio : float
        :math:`\hat g`, the estimate of :math:`\gamma_1/\gamma_0` that minimises the profiled
        GFE objective.
    profile : pandas.Series
        The GFE objective at each ratio of the grid (index ``ratio``).
    classification : GFEResult
        The classification at :math:`\hat g` (slopes :math:`\theta/\sigma_k` on
        ``log_delta``).
    estimates : NestedLogitResult
        Berry's regression at :math:`\hat g`; its ``alpha`` is :math:`\hat\theta` and its
        ``beta["theta*log(gamma0)"]`` is :math:`\hat\theta \log \hat\gamma_0`.
    theta : float
    gamma : ndarray, shape (2,)
        :math:`(\hat\gamma_0, \hat\gamma_1) = (e^{\hat b/\hat\theta}, \hat g \hat\gamma_0)`.
    sigma : pandas.Series
        :math:`\hat\sigma_k` by estimated nest.
    at_boundary : bool
        True if the grid's minimum was at one of its ends (the estimate is then a limit:
        the linear-in-x model as g goes to 0, the log-x model as g grows).
    """

    ratio: float
    profile: pd.Series
    classification: GFEResult
    estimates: NestedLogitResult
    theta: float
    gamma: np.ndarray
    sigma: pd.Series
    at_boundary: bool


def _frechet_objective(data: pd.DataFrame, x: np.ndarray, ratio: float, K: int, classify_options: dict):
    frame = data.assign(log_delta=np.log1p(ratio * x))
    return classify(frame, K, regressors=("log_delta",), **classify_options)


def estimate_frechet(
    data: pd.DataFrame,
    K: int,
    characteristic: str = "x",
    ratio_grid=None,
    n_starts: int = 10,
    seed=0,
    xtol: float = 1e-9,
    **classify_options,
) -> FrechetResult:
    r"""Estimate the nests, :math:`\gamma`, :math:`\theta` and :math:`\sigma` of the Frechet model.

    With :math:`\delta_{jm} = (\gamma_0 + \gamma_1 x_{jm}) e^{\xi_{jm}}` the log share ratio
    of :func:`frechet_shares` is

    .. math::
        \log\frac{s_{jm}}{s_{0m}} = \frac{\theta}{\sigma_k} \log(1 + g x_{jm}) + \lambda^k_m
        + \frac{\theta}{\sigma_k}\xi_{jm},
        \qquad g = \frac{\gamma_1}{\gamma_0},\quad
        \lambda^k_m = \frac{\theta}{\sigma_k}\log\gamma_0 + (\sigma_k - 1)\log IV^k_m,

    a GFE regression on :math:`\log \delta_{jm}(g)` once :math:`\gamma_0` is normalised to
    one: :math:`\log \gamma_0` is absorbed by the intercepts, so the classification depends
    on :math:`\gamma` only through g. **Step 1** profiles the GFE objective
    :math:`Q(g) = \min_{k(\cdot), \beta, \lambda} \sum (y - \beta^{k} \log(1 + g x) - \lambda^k_m)^2`
    (:func:`course_lib.nests.classify` at each g) over ``ratio_grid`` and refines the best
    grid point by a bounded scalar search on :math:`\log g` between its neighbours.
    **Step 2** is Berry's regression with the estimated nests,

    .. math::
        \log\frac{s_{jm}}{s_{0m}} = \theta \log\gamma_0 + \theta \log(1 + \hat g x_{jm})
        + (1 - \sigma_k) \log s_{jm|k} + \theta \xi_{jm},

    (:func:`course_lib.nested_logit.berry_regression`, with :math:`\log(1 + \hat g x)`
    in the price's slot, exogenous, and the slides' instruments built from it), which gives
    :math:`\theta`, :math:`\gamma_0` (the outside good's :math:`\delta_0 = 1` fixes the
    level) and :math:`\sigma_k`.

    Parameters
    ----------
    data : pandas.DataFrame
        ``market_ids``, ``product_ids``, ``shares`` and ``characteristic``.
    K : int
        Number of nests.
    characteristic : str
        The column x.
    ratio_grid : array_like, optional
        Positive values of g to profile over (default ``numpy.geomspace(0.01, 100, 41)``);
        every :math:`1 + g x` must be positive.
    n_starts, seed, **classify_options
        Passed to :func:`course_lib.nests.classify` at every g.
    xtol : float
        Tolerance of the refinement on :math:`\log g`. Tight by default: near its minimum the
        profile is flat, so the last steps of a looser search would be decided by the
        objective's rounding, which differs between machines (with 1e-6 the estimates moved in
        their fourth digit when the objectives were perturbed by 1e-11); at 1e-9 the search
        ends where the profile's curvature is resolved, and costs a few more evaluations.

    Returns
    -------
    FrechetResult
    """
    _columns(data, ("market_ids", "product_ids", "shares", characteristic), "estimate_frechet")
    x = data[characteristic].to_numpy(dtype=float)
    check_finite(x, characteristic)
    grid = np.geomspace(0.01, 100.0, 41) if ratio_grid is None else np.sort(as_vector(ratio_grid, "ratio_grid"))
    if len(grid) < 3 or not np.all(np.isfinite(grid) & (grid > 0)):
        raise ValueError("ratio_grid needs at least three positive, finite values.")
    bad = 1 + grid[:, None] * x[None, :] <= 0 if x.min() < 0 else np.zeros((1, 1), dtype=bool)
    if bad.any():
        g = grid[np.flatnonzero(bad.any(axis=1))[0]]
        raise ValueError(f"At ratio {g:.6g}, 1 + ratio * {characteristic} is not positive for every row: "
                         "delta must be positive; use a smaller grid.")
    options = dict(n_starts=n_starts, seed=seed, **classify_options)
    profile = np.array([_frechet_objective(data, x, g, K, options).objective for g in grid])  # grid points
    i = int(first_within(profile, 0.0)[0])  # the lowest grid point on ties (nests.TIE_RTOL)
    lo, hi = np.log(grid[max(i - 1, 0)]), np.log(grid[min(i + 1, len(grid) - 1)])
    search = minimize_scalar(lambda lg: _frechet_objective(data, x, np.exp(lg), K, options).objective,
                             bounds=(lo, hi), method="bounded", options={"xatol": xtol})
    ratio = float(np.exp(search.x)) if search.fun <= profile[i] else float(grid[i])
    result = _frechet_objective(data, x, ratio, K, options)

    log_delta = np.log1p(ratio * x)
    nest_ids = result.labels_for(data["product_ids"])
    market_ids = data["market_ids"].to_numpy()
    Z = nest_instruments(log_delta, nest_ids, market_ids)[0]
    estimates = berry_regression(
        data["shares"].to_numpy(dtype=float), log_delta, np.ones(len(data)), nest_ids, market_ids, Z,
        x_names=["theta*log(gamma0)"], constant=False, exogenous_prices=True,
    )
    theta = float(estimates.alpha)
    gamma0 = float(np.exp(estimates.beta["theta*log(gamma0)"] / theta))
    return FrechetResult(
        ratio=ratio,
        profile=pd.Series(profile, index=pd.Index(grid, name="ratio"), name="objective"),
        classification=result,
        estimates=estimates,
        theta=theta,
        gamma=np.array([gamma0, ratio * gamma0]),
        sigma=estimates.sigma,
        at_boundary=i in (0, len(grid) - 1),
    )


# ----------------------------------------------------------------------------------------
# 2. Observed consumer types
# ----------------------------------------------------------------------------------------


def simulate_types(
    J: int,
    M: int,
    K: int = 3,
    sigma=(0.2, 0.3, 0.6),
    beta_p=(-0.5, -2.0),
    beta_x: float = 1.0,
    weights=None,
    type_xi_sd: float = 0.0,
    seed=None,
    **design,
) -> ExtensionSimulation:
    r"""The slides' design with consumer types that differ in their price coefficient.

    Prices, x, nests and :math:`\xi` are drawn by
    :func:`course_lib.nests.simulate_nested_logit` (any of its ``design`` options); type t
    has mean utility

    .. math::
        \delta^t_{jm} = \beta_p^t p_{jm} + \beta_x x_{jm} + \xi_{jm} + \zeta^t_{jm},
        \qquad \zeta^t_{jm} \overset{iid}{\sim} \mathcal N(0, \text{type\_xi\_sd}^2),

    and nested-logit shares :math:`P^t_{jm}` with the same nests and :math:`\sigma` for
    every type (the slides' :math:`\delta_{jm}(\omega)` with
    :math:`\beta_p(\omega^t) = \beta_p^t - \beta_p`). The default ``type_xi_sd = 0`` is the
    slides' model, where :math:`\xi` is common to the types.

    Returns
    -------
    ExtensionSimulation
        ``data`` has one row per type, market and product, with ``type_ids`` and the type's
        ``shares``; ``aggregate`` has the market shares :math:`\sum_t w_t P^t_{jm}`
        (``weights`` :math:`w_t`, equal by default); ``truth`` has ``sigma``, ``beta_p``,
        ``beta_x``, ``weights``, ``xi`` and ``delta`` (shape (T, N)).
    """
    beta_p = as_vector(beta_p, "beta_p")
    check_finite(beta_p, "beta_p")
    T = len(beta_p)
    if T < 1:
        raise ValueError("beta_p needs one price coefficient per type.")
    w = np.full(T, 1.0 / T) if weights is None else as_vector(weights, "weights")
    if len(w) != T or not np.all(w > 0) or abs(w.sum() - 1) > 1e-10:
        raise ValueError(f"weights must be {T} positive numbers summing to one; got {np.asarray(weights).tolist()}.")
    if not type_xi_sd >= 0:
        raise ValueError(f"type_xi_sd must be non-negative; got {type_xi_sd}.")
    sim = simulate_nested_logit(J, M, K=K, sigma=sigma, beta_p=float(beta_p[0]), beta_x=beta_x, seed=seed, **design)
    base = sim.data
    zeta = np.zeros((T, len(base)))
    if type_xi_sd > 0:  # a generator of its own, so the common draws do not depend on it
        sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        zeta = type_xi_sd * np.random.default_rng(sequence.spawn(1)[0]).standard_normal((T, len(base)))
    delta = beta_p[:, None] * base["prices"].to_numpy()[None, :] + beta_x * base["x"].to_numpy()[None, :] \
        + sim.xi[None, :] + zeta
    sigma_by_nest = dict(enumerate(sim.sigma))
    shares = np.stack([nested_logit_shares(delta[t], base["nesting_ids"], sigma_by_nest, base["market_ids"])
                       for t in range(T)])  # types
    data = pd.concat([base.assign(type_ids=t, shares=shares[t]) for t in range(T)], ignore_index=True)
    aggregate = base.assign(shares=w @ shares)
    truth = dict(sigma=sim.sigma, beta_p=beta_p, beta_x=float(beta_x), weights=w, xi=sim.xi, delta=delta,
                 design=dict(sim.design, type_xi_sd=type_xi_sd))
    return ExtensionSimulation(data=data, nests=sim.nests, truth=truth, aggregate=aggregate)


def _types(data: pd.DataFrame, type_column: str, regressors) -> np.ndarray:
    _columns(data, ("market_ids", "product_ids", "shares", type_column, *regressors), "the types classification")
    types = data[type_column].to_numpy()
    if pd.isna(types).any():
        raise ValueError(f"{type_column} is missing (NaN) in row {int(np.flatnonzero(pd.isna(types))[0])}.")
    return np.unique(types)


def classify_by_type(data: pd.DataFrame, K: int, regressors=("prices", "x"), type_column: str = "type_ids",
                     **classify_options) -> dict:
    r"""Classify products into nests separately for each observed consumer type.

    For type t, with :math:`P^t_{jm}` its choice probabilities and :math:`P^t_{0m}` its
    outside share, the key observation holds type by type:

    .. math::
        \log\frac{P^t_{jm}}{P^t_{0m}} = \frac{\delta^t_{jm}}{\sigma_k}
        + (\sigma_k - 1)\log IV^{k,t}_m,

    so :func:`course_lib.nests.classify` on each type's rows estimates that type's nests
    (the slides' :math:`k^t(j)`: nothing forces them to agree across types).

    Returns
    -------
    dict
        ``{type: GFEResult}``, in sorted type order.
    """
    regressors = (regressors,) if isinstance(regressors, str) else tuple(regressors)
    types = _types(data, type_column, regressors)
    column = data[type_column].to_numpy()
    return {_plain(t): classify(data[column == t], K, regressors=regressors, **classify_options)
            for t in types}  # types, not products


def classify_types_jointly(
    data: pd.DataFrame,
    K: int,
    regressors=("prices", "x"),
    type_specific=("prices",),
    difference: bool = False,
    type_column: str = "type_ids",
    **classify_options,
) -> GFEResult:
    r"""Classify products into nests common to all observed consumer types.

    **Stacked** (``difference=False``). Each (market, type) pair is one market of a single
    GFE regression: product j's rows from every type share j's nest, the ``type_specific``
    regressors get one slope per type and nest (columns ``"prices[type=t]"``, the regressor
    times the type dummy), the other regressors one slope per nest common to the types,
    and every (market, type, nest) its own intercept:

    .. math::
        \log\frac{P^t_{jm}}{P^t_{0m}} = \frac{\beta_p^t}{\sigma_k} p_{jm}
        + \frac{\beta_x}{\sigma_k} x_{jm} + \lambda^{k,t}_m + \frac{\xi_{jm}}{\sigma_k}.

    A common slope on x imposes :math:`\beta_x^t/\sigma_k^t` equal across types, i.e. (with
    :math:`\beta_x` common) the same :math:`\sigma_k` for every type.

    **Differenced** (``difference=True``). With :math:`\xi_{jm}` common to the types and
    :math:`\sigma_k` too, the difference from the reference type r (the first in sorted
    order) removes :math:`\xi` and the common regressors:

    .. math::
        \log\frac{P^t_{jm}}{P^t_{0m}} - \log\frac{P^r_{jm}}{P^r_{0m}}
        = \frac{\beta_p^t - \beta_p^r}{\sigma_k} p_{jm} + \lambda^{k,t}_m - \lambda^{k,r}_m,

    a GFE regression with no error term at all: the nests are then determined exactly by
    the shares (when the :math:`\sigma_k` differ or the intercept paths do). Only the
    ``type_specific`` regressors remain, and only pairs (t, m, j) observed for both types
    enter.

    Stacked market ids are integer codes: position of the market among the sorted market
    ids times the number of types (of pairs, if differenced) plus the type's position.

    Parameters
    ----------
    data : pandas.DataFrame
        ``market_ids``, ``product_ids``, ``shares`` (each type's own choice probabilities),
        ``type_column`` and the regressors; optionally ``outside_shares`` (by type).
    K : int
    regressors : sequence of str
    type_specific : sequence of str
        The regressors whose slope differs across types (a subset of ``regressors``).
    difference : bool
    type_column : str
    **classify_options
        Passed to :func:`course_lib.nests.classify`.

    Returns
    -------
    GFEResult
    """
    regressors = (regressors,) if isinstance(regressors, str) else tuple(regressors)
    type_specific = (type_specific,) if isinstance(type_specific, str) else tuple(type_specific)
    unknown = [r for r in type_specific if r not in regressors]
    if unknown:
        raise ValueError(f"type_specific names {unknown}, which are not among the regressors {list(regressors)}.")
    types = _types(data, type_column, regressors)
    T = len(types)
    t_pos = np.searchsorted(types, data[type_column].to_numpy())
    markets, m_pos = np.unique(data["market_ids"].to_numpy(), return_inverse=True)
    y = np.empty(len(data))
    for t in range(T):  # types: each type's own outside share
        rows = t_pos == t
        y[rows] = _log_share_ratio(data[rows])
    if not difference:
        if T < 2:
            raise ValueError(f"Only one type ({_plain(types[0])!r}) in {type_column}; use nests.classify.")
        columns = {}
        for r in regressors:
            if r in type_specific:
                for t in range(T):
                    columns[f"{r}[type={_plain(types[t])}]"] = data[r].to_numpy(dtype=float) * (t_pos == t)
            else:
                columns[r] = data[r].to_numpy(dtype=float)
        panel = _share_panel(y, m_pos * T + t_pos, data["product_ids"].to_numpy(), **columns)
        return classify(panel, K, regressors=tuple(columns), **classify_options)

    if T < 2:
        raise ValueError(f"Differencing needs at least two types; {type_column} has only {_plain(types[0])!r}.")
    if not type_specific:
        raise ValueError("Differencing removes every common regressor: name at least one type_specific regressor.")
    frame = pd.DataFrame({"m": m_pos, "j": data["product_ids"].to_numpy(), "t": t_pos, "y": y})
    for r in type_specific:
        frame[r] = data[r].to_numpy(dtype=float)
    ref = frame.loc[frame["t"] == 0, ["m", "j", "y"]].rename(columns={"y": "y_ref"})
    other = frame[frame["t"] > 0].merge(ref, on=["m", "j"], how="inner")
    if len(other) == 0:
        raise ValueError("No product-market pair is observed for the reference type and another type.")
    pair = other["t"].to_numpy() - 1
    columns = {f"{r}[type={_plain(types[t + 1])}]": other[r].to_numpy() * (pair == t)
               for r in type_specific for t in range(T - 1)}
    panel = _share_panel((other["y"] - other["y_ref"]).to_numpy(), other["m"].to_numpy() * (T - 1) + pair,
                         other["j"].to_numpy(), **columns)
    return classify(panel, K, regressors=tuple(columns), **classify_options)


# ----------------------------------------------------------------------------------------
# 3. Two-level nests
# ----------------------------------------------------------------------------------------


def two_level_shares(delta, lower_ids, upper_ids, sigma_lower, sigma_upper, market_ids=None) -> np.ndarray:
    r"""Shares of the two-level nested logit, the outside good alone at the top.

    Upper nests :math:`A_n` contain lower nests :math:`B_k`; with
    :math:`IV_k = \sum_{j \in B_k} e^{\delta_j/\sigma_k}`,
    :math:`IV_n = \sum_{k \in A_n} IV_k^{\sigma_k/\sigma_n}` and
    :math:`D = 1 + \sum_n IV_n^{\sigma_n}`,

    .. math::
        s_j = \underbrace{\frac{e^{\delta_j/\sigma_k}}{IV_k}}_{s_{j|k}}
              \underbrace{\frac{IV_k^{\sigma_k/\sigma_n}}{IV_n}}_{s_{k|n}}
              \underbrace{\frac{IV_n^{\sigma_n}}{D}}_{s_n},
        \qquad k = k(j),\ n = n(k),

    from the GEV generator
    :math:`G(y) = y_0 + \sum_n (\sum_{k \in A_n} (\sum_{j \in B_k} y_j^{1/\sigma_k})^{\sigma_k/\sigma_n})^{\sigma_n}`.
    Both :math:`\sigma` are on the utility scale (:math:`\sigma_k` divides
    :math:`\delta_j`); utility maximisation needs :math:`\sigma_k \le \sigma_n \le 1`.
    Computed as the within-nest logit times
    :func:`course_lib.nested_logit.nested_logit_shares` of the lower nests, whose mean
    utilities are their inclusive values :math:`I_k = \sigma_k \log IV_k`, nested by the
    upper nests (log-sum-exp throughout).

    Parameters
    ----------
    delta : array_like, shape (N,)
    lower_ids, upper_ids : array_like, shape (N,)
        Lower and upper nest of each product; each lower nest lies in one upper nest.
    sigma_lower, sigma_upper : float or array_like
        Dissimilarities in the order of ``numpy.unique`` of the lower and upper ids.
    market_ids : array_like, shape (N,), optional

    Returns
    -------
    ndarray, shape (N,)
    """
    delta = as_vector(delta, "delta")
    check_finite(delta, "delta")
    n = len(delta)
    lower_ids = _ids(lower_ids, n, "lower_ids")
    upper_ids = _ids(upper_ids, n, "upper_ids")
    market_ids = _ids(market_ids, n, "market_ids")
    lowers, lpos = np.unique(lower_ids, return_inverse=True)
    uppers, upos = np.unique(upper_ids, return_inverse=True)
    sig_lo = _sigma_array(sigma_lower, len(lowers), "sigma_lower")
    sig_up = _sigma_array(sigma_upper, len(uppers), "sigma_upper")
    up_of_lo = _upper_of_lower(lpos, upos, lowers)
    over = sig_lo > sig_up[up_of_lo] + 1e-12
    if over.any():
        k = int(np.flatnonzero(over)[0])
        raise ValueError(f"sigma_lower of nest {_plain(lowers[k])!r} ({sig_lo[k]}) exceeds its upper nest's "
                         f"({sig_up[up_of_lo[k]]}); the model needs sigma_k <= sigma_n.")
    cell, n_cells, first = _cells(market_ids, lpos)
    v = delta / sig_lo[lpos]
    lse = _log_inclusive(v, cell, n_cells)[0]               # log IV_k, per (market, lower nest)
    log_within = v - lse[cell]
    inclusive = sig_lo[lpos[first]] * lse                    # I_k = sigma_k log IV_k
    s_lower = nested_logit_shares(inclusive, upos[first], sig_up, market_ids[first])
    return np.exp(log_within) * s_lower[cell]


def simulate_two_level(
    J: int,
    M: int,
    upper_of_lower=(0, 0, 0, 1, 1, 1),
    sigma_lower=(0.2, 0.3, 0.45, 0.3, 0.5, 0.7),
    sigma_upper=(0.5, 0.85),
    beta_p: float = -1.0,
    beta_x: float = 1.0,
    xi_variance: float = 0.1,
    seed=None,
    **design,
) -> ExtensionSimulation:
    r"""The slides' design with the K lower nests grouped into upper nests.

    Prices, x, :math:`\xi`, the lower nests (uniform over K = ``len(upper_of_lower)``) and
    :math:`\delta = \beta_p p + \beta_x x + \xi` come from
    :func:`course_lib.nests.simulate_nested_logit` (with ``sigma = sigma_lower``, any of its
    ``design`` options); the shares are then :func:`two_level_shares` with lower nest k in
    upper nest ``upper_of_lower[k]``.

    The default ``xi_variance`` is 0.1, not the slides' 0.5: with six lower nests of about
    twenty products and :math:`\sigma_k` as small as 0.2, the slides' noise makes the
    lower-level classification itself unreliable at these sizes, and the upper level
    inherits its errors. Pass ``xi_variance=0.5`` for the slides' value.

    Returns
    -------
    ExtensionSimulation
        ``data`` adds ``upper_ids``; ``truth`` has ``sigma_lower``, ``sigma_upper``,
        ``upper_of_lower``, ``beta_p``, ``beta_x``, ``delta``, ``xi``.
    """
    up = np.asarray(upper_of_lower).ravel()
    if up.dtype.kind not in "iu" or len(up) < 2 or up.min() < 0:
        raise ValueError(f"upper_of_lower must give a non-negative integer upper nest for each of at least two "
                         f"lower nests; got {up.tolist()}.")
    N = int(up.max()) + 1
    if set(up.tolist()) != set(range(N)):
        raise ValueError(f"upper_of_lower must use every upper nest 0, ..., {N - 1}; got {up.tolist()}.")
    sig_lo = _sigma_array(sigma_lower, len(up), "sigma_lower")
    sig_up = _sigma_array(sigma_upper, N, "sigma_upper")
    sim = simulate_nested_logit(J, M, K=len(up), sigma=sig_lo, beta_p=beta_p, beta_x=beta_x, seed=seed,
                                xi_variance=xi_variance, **design)
    d = sim.data
    lower = d["nesting_ids"].to_numpy()
    # sigma of the nests present in this draw (a lower nest may be empty for very small J)
    shares = two_level_shares(sim.delta, lower, up[lower], sig_lo[np.unique(lower)], sig_up[np.unique(up[lower])],
                              d["market_ids"])
    data = d.assign(shares=shares, upper_ids=up[lower])
    truth = dict(sigma_lower=sig_lo, sigma_upper=sig_up, upper_of_lower=up, beta_p=float(beta_p),
                 beta_x=float(beta_x), delta=sim.delta, xi=sim.xi, design=sim.design)
    return ExtensionSimulation(data=data, nests=sim.nests, truth=truth)


@dataclass
class TwoLevelResult:
    r"""Two-level data-driven nests: lower nests by GFE on products, upper by GFE on lower nests.

    Attributes
    ----------
    lower : GFEResult
        Step 1: products into K lower nests (slopes :math:`\beta/\sigma_k`, intercepts
        :math:`\lambda_{km}`).
    upper : GFEResult
        Step 2: the lower nests (its "products", ids 0, ..., K-1 of ``lower``) into N upper
        nests, on the regressor ``inclusive_value``; its slope is :math:`\beta_1/\sigma_n`
        (:math:`\beta_1` the coefficient of the first regressor of step 1).
    lower_panel : pandas.DataFrame
        One row per market and estimated lower nest: ``shares`` :math:`s_{km}`,
        ``outside_shares``, ``log_share_ratio`` :math:`L_{km} = \log(s_{km}/s_{0m})`,
        ``intercept`` :math:`\hat\lambda_{km}`, ``log_iv`` :math:`\log \widehat{IV}_{km}
        = L_{km} - \hat\lambda_{km}` and ``inclusive_value``
        :math:`\log\widehat{IV}_{km}/\hat\beta^k_1`.
    lower_ids, upper_ids : ndarray, shape (N_rows,)
        Estimated lower and upper nest of each row of the data.
    """

    lower: GFEResult
    upper: GFEResult
    lower_panel: pd.DataFrame
    lower_ids: np.ndarray
    upper_ids: np.ndarray


def classify_two_level(
    data: pd.DataFrame,
    K: int,
    N: int,
    regressors=("prices", "x"),
    n_starts: int = 20,
    seed=0,
    **classify_options,
) -> TwoLevelResult:
    r"""Recover lower and upper nests of a two-level nested logit from the shares.

    **Step 1 (lower nests).** In the two-level model (:func:`two_level_shares`)

    .. math::
        \log\frac{s_{jm}}{s_{0m}} = \frac{\delta_{jm}}{\sigma_k} + \lambda_{km},\qquad
        \lambda_{km} = \Big(\frac{\sigma_k}{\sigma_n} - 1\Big)\log IV_{km}
        + (\sigma_n - 1)\log IV_{nm},

    a GFE regression with lower-nest slopes :math:`\beta/\sigma_k` and lower-nest-by-market
    intercepts: :func:`course_lib.nests.classify` with K groups.

    **Step 2 (plug-in inclusive values).** Since
    :math:`\log s_{jm}/s_{0m} - \lambda_{km} = \delta_{jm}/\sigma_k`,
    :math:`\log IV_{km} = \log \sum_{j \in B_k} e^{\delta_{jm}/\sigma_k} = L_{km} - \lambda_{km}`
    with :math:`L_{km} = \log(s_{km}/s_{0m})` the lower nest's log share ratio, estimated by
    :math:`L_{km} - \hat\lambda_{km}`. The nest's inclusive value in utility units,
    :math:`I_{km} = \sigma_k \log IV_{km}`, is :math:`\beta_1 \log IV_{km}/\beta^k_1`,
    known up to the common factor :math:`\beta_1` from the slopes of step 1.

    **Step 3 (upper nests).** The lower nests are the "products" of a one-level nested logit
    with mean utilities :math:`I_{km}` and the upper nests as nests, so the key observation
    holds one level up, without error term:

    .. math::
        L_{km} = \frac{\beta_1}{\sigma_n}\,\frac{\log IV_{km}}{\beta^k_1} + (\sigma_n - 1)\log IV_{nm},

    a GFE regression over lower nests (:func:`course_lib.nests.classify` with N groups on
    the regressor ``inclusive_value``), whose slopes :math:`\beta_1/\sigma_n` and intercepts
    are common within an upper nest.

    Parameters
    ----------
    data : pandas.DataFrame
        As for :func:`course_lib.nests.classify`.
    K, N : int
        Numbers of lower and upper nests, 1 <= N < K.
    regressors : sequence of str
        Step 1's regressors; the first must have a non-zero coefficient (the price).
    n_starts, seed, **classify_options
        Passed to both classifications.

    Returns
    -------
    TwoLevelResult
    """
    if int(K) != K or int(N) != N or not 1 <= N < K:
        raise ValueError(f"Need integers 1 <= N < K (upper nests group lower nests); got K={K}, N={N}.")
    regressors = (regressors,) if isinstance(regressors, str) else tuple(regressors)
    if not regressors:
        raise ValueError("classify_two_level needs at least one regressor (its slope converts inclusive values).")
    lower = classify(data, int(K), n_starts=n_starts, seed=seed, regressors=regressors, **classify_options)
    lower_ids = lower.labels_for(data["product_ids"])
    slopes = lower.coefficients[regressors[0]].to_numpy()
    if np.any(np.abs(slopes) < 1e-8):
        k = int(np.argmin(np.abs(slopes)))
        raise ValueError(f"Estimated lower nest {k} has a zero slope on {regressors[0]!r} (a nest without "
                         "within-nest variation, e.g. a single product): its inclusive value cannot be put in "
                         "utility units.")
    market_ids = data["market_ids"].to_numpy()
    markets, m_pos = np.unique(market_ids, return_inverse=True)
    s = data["shares"].to_numpy(dtype=float)
    if "outside_shares" in data.columns:
        s0 = pd.Series(data["outside_shares"].to_numpy(dtype=float)).groupby(m_pos).first().to_numpy()
    else:
        s0 = 1.0 - np.bincount(m_pos, weights=s)
    cell, n_cells, first = _cells(m_pos, lower_ids)
    s_cell = np.bincount(cell, weights=s, minlength=n_cells)
    cm, ck = m_pos[first], lower_ids[first]
    L = np.log(s_cell) - np.log(s0[cm])
    lam = lower.intercepts.to_numpy()[cm, ck]
    log_iv = L - lam
    panel = pd.DataFrame({"market_ids": markets[cm], "product_ids": ck, "shares": s_cell,
                          "outside_shares": s0[cm], "log_share_ratio": L, "intercept": lam,
                          "log_iv": log_iv, "inclusive_value": log_iv / slopes[ck]})
    panel = panel.sort_values(["market_ids", "product_ids"], ignore_index=True)
    upper = classify(panel, int(N), n_starts=n_starts, seed=seed, regressors=("inclusive_value",),
                     **classify_options)
    return TwoLevelResult(lower=lower, upper=upper, lower_panel=panel, lower_ids=lower_ids,
                          upper_ids=upper.labels.to_numpy()[lower_ids])


@dataclass
class TwoLevelBerryResult:
    r"""Berry's 2SLS for the two-level nested logit.

    Attributes
    ----------
    beta : pandas.Series
        Coefficients of the characteristics (``"1"`` first with a constant).
    alpha : float
        Price coefficient.
    sigma_lower, sigma_upper : pandas.Series
        :math:`\hat\sigma_k` and :math:`\hat\sigma_n`, indexed by nest id.
    iv : IVResult
        The regression (all coefficients, standard errors, residuals :math:`\hat\xi`).
    """

    beta: pd.Series
    alpha: float
    sigma_lower: pd.Series
    sigma_upper: pd.Series
    iv: IVResult


def two_level_berry_regression(
    data: pd.DataFrame,
    lower_ids,
    upper_ids,
    characteristics=("x",),
    exogenous_prices: bool = True,
    price_instruments=(),
    constant: bool = False,
    cov_type: str = "robust",
) -> TwoLevelBerryResult:
    r"""Berry's (1994) regression for the two-level nested logit with known nests.

    Taking logs of :func:`two_level_shares` and eliminating the inclusive values through
    :math:`\log s_{j|k} = \delta_j/\sigma_k - \log IV_k` and
    :math:`\log s_{k|n} = (\sigma_k/\sigma_n)\log IV_k - \log IV_n`,

    .. math::
        \log\frac{s_{jm}}{s_{0m}} = x_{jm}\beta + \alpha p_{jm}
        + (1 - \sigma_k)\log s_{jm|k} + (1 - \sigma_n)\log s_{km|n} + \xi_{jm},

    with :math:`s_{j|k} = s_j/\sum_{d \in B_k} s_d` and
    :math:`s_{k|n} = \sum_{d \in B_k} s_d / \sum_{d \in A_n} s_d` (one regressor per nest at
    each level). Two-stage least squares (:func:`course_lib.iv.tsls`) with the slides'
    instruments (:func:`course_lib.nested_logit.nest_instruments`) of the characteristics
    (and of prices when they are exogenous) over the products of the same lower nest and
    over those of the same upper nest, plus ``price_instruments``.

    Parameters
    ----------
    data : pandas.DataFrame
        ``market_ids``, ``shares``, ``prices``, the characteristics and instruments.
    lower_ids, upper_ids : array_like, shape (N_rows,)
        Lower and upper nest of each row.
    characteristics : sequence of str
    exogenous_prices : bool
    price_instruments : sequence of str
        Excluded instruments for the price (needed when prices are endogenous).
    constant : bool
    cov_type : {"robust", "unadjusted"}

    Returns
    -------
    TwoLevelBerryResult
    """
    characteristics = (characteristics,) if isinstance(characteristics, str) else tuple(characteristics)
    price_instruments = (price_instruments,) if isinstance(price_instruments, str) else tuple(price_instruments)
    _columns(data, ("market_ids", "shares", "prices", *characteristics, *price_instruments),
             "two_level_berry_regression")
    if not exogenous_prices and not price_instruments:
        raise ValueError("With endogenous prices, name at least one excluded instrument in price_instruments.")
    n = len(data)
    lower_ids = _ids(lower_ids, n, "lower_ids")
    upper_ids = _ids(upper_ids, n, "upper_ids")
    market_ids = data["market_ids"].to_numpy()
    lowers, lpos = np.unique(lower_ids, return_inverse=True)
    uppers, upos = np.unique(upper_ids, return_inverse=True)
    _upper_of_lower(lpos, upos, lowers)
    s = data["shares"].to_numpy(dtype=float)
    y = _log_share_ratio(data)
    low_cell, n_low, _ = _cells(market_ids, lpos)
    up_cell, n_up, _ = _cells(market_ids, upos)
    s_low = np.bincount(low_cell, weights=s, minlength=n_low)[low_cell]
    s_up = np.bincount(up_cell, weights=s, minlength=n_up)[up_cell]
    log_within = np.log(s / s_low)
    log_lower = np.log(s_low / s_up)
    for name, values, pos, ids in (("Lower", log_within, lpos, lowers), ("Upper", log_lower, upos, uppers)):
        flat = np.bincount(pos, weights=np.abs(values), minlength=len(ids)) < 1e-12
        if flat.any():
            k = int(np.flatnonzero(flat)[0])
            raise ValueError(f"{name} nest {_plain(ids[k])!r} never has two members in one market: its sigma is "
                             "not identified.")
    D_low = np.zeros((n, len(lowers)))
    D_low[np.arange(n), lpos] = log_within
    D_up = np.zeros((n, len(uppers)))
    D_up[np.arange(n), upos] = log_lower
    X = as_matrix(data[list(characteristics)].to_numpy(dtype=float), "characteristics", n, row="product")
    p = data["prices"].to_numpy(dtype=float)
    check_finite(p, "prices")
    exog = ([np.ones((n, 1))] if constant else []) + [X]
    names = (["1"] if constant else []) + list(characteristics) + ["prices"] \
        + [f"1-sigma[{_plain(k)}]" for k in lowers] + [f"1-sigma_upper[{_plain(u)}]" for u in uppers]
    base = np.column_stack([X, p]) if exogenous_prices else X
    Z = np.column_stack(exog + ([p[:, None]] if exogenous_prices else [])
                        + [nest_instruments(base, lower_ids, market_ids)[0],
                           nest_instruments(base, upper_ids, market_ids)[0]]
                        + ([data[list(price_instruments)].to_numpy(dtype=float)] if price_instruments else []))
    iv = tsls(y, np.column_stack(exog + [p[:, None], D_low, D_up]), Z, names=names, cov_type=cov_type)
    params = iv.params.to_numpy()
    n_exog = len(names) - 1 - len(lowers) - len(uppers)
    return TwoLevelBerryResult(
        beta=iv.params.iloc[:n_exog].copy(),
        alpha=float(params[n_exog]),
        sigma_lower=pd.Series(1 - params[n_exog + 1:n_exog + 1 + len(lowers)],
                              index=pd.Index([_plain(k) for k in lowers], name="lower nest")),
        sigma_upper=pd.Series(1 - params[n_exog + 1 + len(lowers):],
                              index=pd.Index([_plain(u) for u in uppers], name="upper nest")),
        iv=iv,
    )


# ----------------------------------------------------------------------------------------
# 4. One step: Berry's regression and reassignment, alternated
# ----------------------------------------------------------------------------------------


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
    _columns(data, ("market_ids", "product_ids", "shares", "prices", *characteristics, *price_instruments),
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
        missing = [_plain(p) for p in products if p not in start.index]
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
    y = _log_share_ratio(data)
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
