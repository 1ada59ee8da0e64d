r"""Data-driven nests with Type II extreme-value (Frechet) errors.

With utility :math:`u_{ij} = \delta_j \varepsilon_{ij}`, :math:`\delta_j > 0` and
:math:`\varepsilon` nested Frechet with shape :math:`\theta`,
:math:`P(\varepsilon \le t) = \exp(-\sum_k (\sum_{j \in B_k} t_j^{-\theta/\sigma_k})^{\sigma_k})`,
:math:`\theta \log u_{ij} = \theta \log \delta_j + \eta_{ij}` with :math:`\eta` nested
Gumbel, so the shares are the nested logit with mean utility :math:`\theta \log \delta_j`
(:func:`frechet_shares`). With :math:`\delta_{jm} = (\gamma_0 + \gamma_1 x_{jm}) e^{\xi_{jm}}`
(:func:`simulate_frechet`), :func:`estimate_frechet` profiles the grouped fixed-effects (GFE)
objective over the ratio :math:`g = \gamma_1/\gamma_0` (only the ratio moves the
classification) and recovers :math:`\theta`, :math:`\gamma_0` and :math:`\sigma` by Berry's
regression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from .._checks import as_vector, check_finite
from ..nested_logit import NestedLogitResult, berry_regression, nest_instruments, nested_logit_shares
from ..nested_logit.gev import sigma_per_nest
from ..nests import GFEResult, classify, first_within
from .common import ExtensionSimulation, check_frame

__all__ = ["frechet_shares", "simulate_frechet", "FrechetResult", "estimate_frechet"]


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
    sig = sigma_per_nest(sigma, K, "sigma")
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

    .. math::
        g = \frac{\gamma_1}{\gamma_0},\quad
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
    check_frame(data, ("market_ids", "product_ids", "shares", characteristic), "estimate_frechet")
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
