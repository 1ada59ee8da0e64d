r"""Two-level data-driven nests: upper nests :math:`A_n` of lower nests :math:`B_k`.

:func:`two_level_shares` (the two-level nested logit, the outside good alone at the top),
:func:`simulate_two_level` (the slides' design with the lower nests grouped),
:func:`classify_two_level` (lower nests by GFE, then upper nests by a GFE over the lower
nests, the key observation one level up) and :func:`two_level_berry_regression` (Berry's
2SLS with both levels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import plain, as_ids, as_matrix, as_vector, check_finite
from ..iv import IVResult, tsls
from ..nested_logit import log_sum_exp_by_cell, nest_instruments, nested_logit_shares
from ..nested_logit.gev import sigma_per_nest, upper_of_lower_nests
from ..nests import GFEResult, classify, simulate_nested_logit
from .common import ExtensionSimulation, cells, check_frame, log_share_ratio

__all__ = ["two_level_shares", "simulate_two_level", "TwoLevelResult", "classify_two_level",
           "TwoLevelBerryResult", "two_level_berry_regression"]


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
    lower_ids = as_ids(lower_ids, n, "lower_ids")
    upper_ids = as_ids(upper_ids, n, "upper_ids")
    market_ids = as_ids(market_ids, n, "market_ids")
    lowers, lpos = np.unique(lower_ids, return_inverse=True)
    uppers, upos = np.unique(upper_ids, return_inverse=True)
    sig_lo = sigma_per_nest(sigma_lower, len(lowers), "sigma_lower")
    sig_up = sigma_per_nest(sigma_upper, len(uppers), "sigma_upper")
    up_of_lo = upper_of_lower_nests(lpos, upos, lowers)
    over = sig_lo > sig_up[up_of_lo] + 1e-12
    if over.any():
        k = int(np.flatnonzero(over)[0])
        raise ValueError(f"sigma_lower of nest {plain(lowers[k])!r} ({sig_lo[k]}) exceeds its upper nest's "
                         f"({sig_up[up_of_lo[k]]}); the model needs sigma_k <= sigma_n.")
    cell, n_cells, first = cells(market_ids, lpos)
    v = delta / sig_lo[lpos]
    lse = log_sum_exp_by_cell(v, cell, n_cells)[0]               # log IV_k, per (market, lower nest)
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
    sig_lo = sigma_per_nest(sigma_lower, len(up), "sigma_lower")
    sig_up = sigma_per_nest(sigma_upper, N, "sigma_upper")
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
    cell, n_cells, first = cells(m_pos, lower_ids)
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
    check_frame(data, ("market_ids", "shares", "prices", *characteristics, *price_instruments),
             "two_level_berry_regression")
    if not exogenous_prices and not price_instruments:
        raise ValueError("With endogenous prices, name at least one excluded instrument in price_instruments.")
    n = len(data)
    lower_ids = as_ids(lower_ids, n, "lower_ids")
    upper_ids = as_ids(upper_ids, n, "upper_ids")
    market_ids = data["market_ids"].to_numpy()
    lowers, lpos = np.unique(lower_ids, return_inverse=True)
    uppers, upos = np.unique(upper_ids, return_inverse=True)
    upper_of_lower_nests(lpos, upos, lowers)
    s = data["shares"].to_numpy(dtype=float)
    y = log_share_ratio(data)
    low_cell, n_low, _ = cells(market_ids, lpos)
    up_cell, n_up, _ = cells(market_ids, upos)
    s_low = np.bincount(low_cell, weights=s, minlength=n_low)[low_cell]
    s_up = np.bincount(up_cell, weights=s, minlength=n_up)[up_cell]
    log_within = np.log(s / s_low)
    log_lower = np.log(s_low / s_up)
    for name, values, pos, ids in (("Lower", log_within, lpos, lowers), ("Upper", log_lower, upos, uppers)):
        flat = np.bincount(pos, weights=np.abs(values), minlength=len(ids)) < 1e-12
        if flat.any():
            k = int(np.flatnonzero(flat)[0])
            raise ValueError(f"{name} nest {plain(ids[k])!r} never has two members in one market: its sigma is "
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
        + [f"1-sigma[{plain(k)}]" for k in lowers] + [f"1-sigma_upper[{plain(u)}]" for u in uppers]
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
                              index=pd.Index([plain(k) for k in lowers], name="lower nest")),
        sigma_upper=pd.Series(1 - params[n_exog + 1 + len(lowers):],
                              index=pd.Index([plain(u) for u in uppers], name="upper nest")),
        iv=iv,
    )
