r"""Data-driven nests with observed consumer types.

With type-specific shares :math:`P^t_{jm}` each type is a nested logit
(:func:`simulate_types`): :func:`classify_by_type` classifies type by type;
:func:`classify_types_jointly` imposes common nests (and, through common slopes, common
:math:`\sigma`), optionally on differences across types, which remove the common
:math:`\xi`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import plain, as_vector, check_finite
from ..nested_logit import nested_logit_shares
from ..nests import GFEResult, classify, simulate_nested_logit
from .common import ExtensionSimulation, check_frame, log_share_ratio, share_panel

__all__ = ["simulate_types", "classify_by_type", "classify_types_jointly"]


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
    check_frame(data, ("market_ids", "product_ids", "shares", type_column, *regressors), "the types classification")
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
    return {plain(t): classify(data[column == t], K, regressors=regressors, **classify_options)
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
        y[rows] = log_share_ratio(data[rows])
    if not difference:
        if T < 2:
            raise ValueError(f"Only one type ({plain(types[0])!r}) in {type_column}; use nests.classify.")
        columns = {}
        for r in regressors:
            if r in type_specific:
                for t in range(T):
                    columns[f"{r}[type={plain(types[t])}]"] = data[r].to_numpy(dtype=float) * (t_pos == t)
            else:
                columns[r] = data[r].to_numpy(dtype=float)
        panel = share_panel(y, m_pos * T + t_pos, data["product_ids"].to_numpy(), **columns)
        return classify(panel, K, regressors=tuple(columns), **classify_options)

    if T < 2:
        raise ValueError(f"Differencing needs at least two types; {type_column} has only {plain(types[0])!r}.")
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
    columns = {f"{r}[type={plain(types[t + 1])}]": other[r].to_numpy() * (pair == t)
               for r in type_specific for t in range(T - 1)}
    panel = share_panel((other["y"] - other["y_ref"]).to_numpy(), other["m"].to_numpy() * (T - 1) + pair,
                         other["j"].to_numpy(), **columns)
    return classify(panel, K, regressors=tuple(columns), **classify_options)
