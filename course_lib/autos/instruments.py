r"""Instruments for price in the automobile application, and the first stage.

- Gandhi-Houde differentiation instruments (:func:`differentiation_instruments`), over
  every product of a year ("quadratic" sums of squared differences or "local" counts of
  close products), pyBLP's ``build_differentiation_instruments``;
- the named sets of excluded instruments (:func:`instrument_columns`): pyBLP's BLP
  instruments, the differentiation instruments, or both;
- the first-stage regression of price on the exogenous characteristics, year effects and
  the excluded instruments (:func:`first_stage_price`), whose fitted price the
  classification uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from .._checks import check_method, plain
from ..iv import first_stage_f

__all__ = [
    "SLIDES_CHARACTERISTICS",
    "BLP_INSTRUMENTS",
    "DIFFERENTIATION_VERSIONS",
    "INSTRUMENT_SETS",
    "differentiation_instruments",
    "instrument_columns",
    "FirstStage",
    "exogenous_matrix",
    "first_stage_price",
]

#: The slides' exogenous characteristics (their regressors besides price).
SLIDES_CHARACTERISTICS = ("log_hpwt", "air", "log_mpd", "log_space")
#: The BLP instruments pyBLP ships (sums of 1, hpwt, air, mpd over own-firm others and rivals).
BLP_INSTRUMENTS = tuple(f"demand_instruments{i}" for i in range(8))
DIFFERENTIATION_VERSIONS = ("quadratic", "local")
#: Named sets of excluded instruments for :func:`first_stage_price`.
INSTRUMENT_SETS = ("blp", "gh", "blp+gh")


def differentiation_instruments(
    data: pd.DataFrame,
    characteristics: Sequence[str] = SLIDES_CHARACTERISTICS,
    version: str = "quadratic",
) -> pd.DataFrame:
    r"""Gandhi-Houde differentiation instruments, over all rows of each market.

    For characteristic :math:`\ell`, product j of firm f in market t, and
    :math:`d_{jkt\ell} = x_{kt\ell} - x_{jt\ell}`: the "quadratic" version

    .. math::
        Z^{\text{other}}_{jt\ell} = \sum_{k \in \mathcal J_{ft} \setminus \{j\}} d_{jkt\ell}^2, \qquad
        Z^{\text{rival}}_{jt\ell} = \sum_{k \in \mathcal J_t \setminus \mathcal J_{ft}} d_{jkt\ell}^2,

    computed as :math:`\sum_{k \in G} (x_k - x_j)^2 = \sum_{k \in G} (x_k - \bar x_G)^2 + |G| (x_j - \bar x_G)^2`
    over the group G (firm-market or market; the centred form avoids cancellation); the
    "local" version counts the close products instead,

    .. math::
        Z^{\text{other}}_{jt\ell} = \sum_{k \in \mathcal J_{ft} \setminus \{j\}} 1(|d_{jkt\ell}| < \mathrm{SD}_\ell),
        \qquad \mathrm{SD}_\ell^2 = \frac{\sum_t \sum_{j \ne k} d_{jkt\ell}^2}{\sum_t J_t (J_t - 1)}

    (the standard deviation of the pairwise differences over all markets; their mean is 0).
    These are ``pyblp.build_differentiation_instruments`` (``interact=False``), same column
    order (the "other" block, then the "rival" block), checked against it in the tests.

    Rivals are all the rows of ``data`` in the market: pass all of a year's products, not
    a sample, so that products outside the sample still count as rivals.

    Parameters
    ----------
    data : pandas.DataFrame
        With ``market_ids``, ``firm_ids`` and the ``characteristics``.
    characteristics : sequence of str
    version : {"quadratic", "local"}

    Returns
    -------
    pandas.DataFrame
        Index of ``data``; columns ``gh_other_<c>`` then ``gh_rival_<c>``.
    """
    check_method(version, DIFFERENTIATION_VERSIONS)
    characteristics = list(characteristics)
    missing = [c for c in ("market_ids", "firm_ids", *characteristics) if c not in data.columns]
    if missing:
        raise ValueError(f"data lacks the column(s) {missing}.")
    X = data[characteristics].to_numpy(dtype=float)
    if not np.isfinite(X).all():
        i, q = (int(a[0]) for a in np.nonzero(~np.isfinite(X)))
        raise ValueError(f"{characteristics[q]} is not finite in row {i} "
                         f"(market {plain(data['market_ids'].iloc[i])}).")
    market = pd.factorize(data["market_ids"])[0]
    firm_market = pd.factorize(pd.MultiIndex.from_arrays([data["market_ids"], data["firm_ids"]]))[0]
    if version == "quadratic":
        def squares(groups):
            n = np.bincount(groups)[groups][:, None]
            mean = np.stack([np.bincount(groups, weights=x) for x in X.T], axis=1)[groups] / n
            centred = (X - mean) ** 2
            total = np.stack([np.bincount(groups, weights=c) for c in centred.T], axis=1)[groups]
            return total + n * centred

        other = squares(firm_market)
        rival = squares(market) - other
    else:
        n = np.bincount(market)
        means = np.stack([np.bincount(market, weights=x) for x in X.T], axis=1) / n[:, None]
        within = np.stack([np.bincount(market, weights=c) for c in ((X - means[market]) ** 2).T], axis=1)
        sd = np.sqrt(2 * (n[:, None] * within).sum(axis=0) / (n * (n - 1)).sum())
        other = np.zeros_like(X)
        rival = np.zeros_like(X)
        firms = data["firm_ids"].to_numpy()
        for t in range(market.max() + 1):  # markets, not rows: a J_t x J_t x L block each
            rows = np.flatnonzero(market == t)
            close = np.abs(X[rows, None, :] - X[None, rows, :]) < sd
            close[np.arange(len(rows)), np.arange(len(rows))] = False
            same = (firms[rows, None] == firms[None, rows])[:, :, None]
            other[rows] = (close & same).sum(axis=1)
            rival[rows] = (close & ~same).sum(axis=1)
    columns = [f"gh_other_{c}" for c in characteristics] + [f"gh_rival_{c}" for c in characteristics]
    result = pd.DataFrame(np.hstack([other, rival]), index=data.index, columns=columns)
    result.attrs["version"] = version
    return result


def instrument_columns(instruments: str = "gh", characteristics: Sequence[str] = SLIDES_CHARACTERISTICS) -> list[str]:
    """The column names of a named set of excluded instruments: ``"blp"`` (pyBLP's
    ``demand_instruments0..7``), ``"gh"`` (``gh_other_*``, ``gh_rival_*``) or both."""
    check_method(instruments, INSTRUMENT_SETS)
    gh = [f"gh_other_{c}" for c in characteristics] + [f"gh_rival_{c}" for c in characteristics]
    return {"blp": list(BLP_INSTRUMENTS), "gh": gh, "blp+gh": [*BLP_INSTRUMENTS, *gh]}[instruments]


@dataclass
class FirstStage:
    """A first-stage regression of price.

    Attributes
    ----------
    fitted : pandas.Series
        The fitted price, index of the data, name ``price_hat``.
    f_statistic : float
        F of the excluded instruments kept (:func:`course_lib.iv.first_stage_f`).
    n_obs : int
    instruments : tuple of str
        Excluded instruments used.
    dropped : tuple of str
        Excluded instruments dropped as linear combinations of the regressors and the
        instruments before them (e.g. with year effects, the rival count and rival ``air``
        sum of the BLP instruments: own + rival + self = the year's total).
    coefficients : pandas.Series
    """

    fitted: pd.Series
    f_statistic: float
    n_obs: int
    instruments: tuple
    dropped: tuple
    coefficients: pd.Series


def exogenous_matrix(data: pd.DataFrame, exogenous: Sequence[str], year_effects: bool):
    """The first stage's exogenous regressors :math:`w_{jt}`: a constant, the columns
    ``exogenous`` and, if ``year_effects``, a dummy for each year but the first.

    Returns
    -------
    W : ndarray, shape (N, 1 + len(exogenous) [+ years - 1])
    names : list of str
        ``"constant"``, the ``exogenous`` names and ``"year_<t>"``.
    """
    names = ["constant", *exogenous]
    W = [np.ones(len(data)), *(data[c].to_numpy(dtype=float) for c in exogenous)]
    if year_effects:
        years = np.unique(data["market_ids"].to_numpy())
        for y in years[1:]:
            W.append((data["market_ids"].to_numpy() == y).astype(float))
            names.append(f"year_{plain(y)}")
    return np.column_stack(W), names


def first_stage_price(
    data: pd.DataFrame,
    instruments: str | Sequence[str] = "gh",
    *,
    exogenous: Sequence[str] = SLIDES_CHARACTERISTICS,
    year_effects: bool = True,
    price: str = "price",
) -> FirstStage:
    r"""The first-stage fitted price: OLS of price on the exogenous regressors and the
    excluded instruments,

    .. math::
        p_{jt} = w_{jt}'\gamma + z_{jt}'\pi + v_{jt}, \qquad \hat p_{jt} = w_{jt}'\hat\gamma + z_{jt}'\hat\pi,

    with :math:`w_{jt}` a constant, ``exogenous`` (the slides' log(hpwt), air, log(mpd),
    log(space)) and, if ``year_effects``, year dummies (the second step has market
    effects), and :math:`z_{jt}` the excluded instruments. F tests :math:`\pi = 0`
    (homoskedastic, :func:`course_lib.iv.first_stage_f`). An instrument that is a linear
    combination of :math:`w` and the instruments listed before it is dropped (relative
    residual norm below 1e-8) and reported in ``dropped``.

    Which rows: the fit runs on the rows passed. :func:`panel_sample` passes all 2,217
    model-years by default (``first_stage="full"``): every product's price comes from the
    same pricing, the instruments are exogenous for all of them, the sample rule selects
    models on survival (present 1986-1988), which may be related to the demand shocks,
    and the full data has three times the rows; the fitted values of the sample's rows are
    still functions of exogenous variables only, so they remain valid instruments and
    classification regressors in the sample. ``first_stage="sample"`` fits on the
    sample's rows instead. F on pyBLP's data (quadratic differentiation instruments;
    asserted to 0.01 in ``tests/test_autos.py``):

    ===============================  ===============  ======  ========
    rows, regressors                 BLP              GH      BLP + GH
    ===============================  ===============  ======  ========
    all 2,217, year effects          124.13 (6 kept)  114.02  106.57
    all 2,217, no year effects       50.31            115.15  90.60
    "slides" 745, year effects       14.74 (6 kept)   30.59   26.45
    "slides" 745, no year effects    11.84            25.64   20.85
    ===============================  ===============  ======  ========

    With year effects two BLP instruments are dropped, the rival count and the rival sum
    of ``air`` (a product's own-firm sum, rival sum and own value add up to the year's
    total), and the rival sums of ``hpwt`` and ``mpd`` are nearly collinear for the same
    reason (relative residual 4e-4 and 6e-4: only the logs in the regressors separate
    them).

    Parameters
    ----------
    data : pandas.DataFrame
        Rows from :func:`product_variables` or :func:`panel_sample`.
    instruments : {"gh", "blp", "blp+gh"} or sequence of str
        A named set (:func:`instrument_columns`) or column names.
    exogenous : sequence of str
    year_effects : bool
    price : str
        The endogenous column (hdm's centred ``price``; pyBLP's ``prices`` differs by a
        constant, which the fit absorbs).

    Returns
    -------
    FirstStage
    """
    names = instrument_columns(instruments) if isinstance(instruments, str) else list(instruments)
    if not names:
        raise ValueError("first_stage_price needs at least one excluded instrument.")
    missing = [c for c in (price, "market_ids", *exogenous, *names) if c not in data.columns]
    if missing:
        raise ValueError(f"data lacks the column(s) {missing}.")
    y = data[price].to_numpy(dtype=float)
    W, w_names = exogenous_matrix(data, exogenous, year_effects)
    Z = data[names].to_numpy(dtype=float)
    for label, A, cols in (("regressor", W, w_names), ("instrument", Z, names)):
        bad = ~np.isfinite(A)
        if bad.any():
            i, q = (int(a[0]) for a in np.nonzero(bad))
            raise ValueError(f"{label} {cols[q]} is not finite in row {i}.")
    if not np.isfinite(y).all():
        raise ValueError(f"{price} is not finite in row {int(np.flatnonzero(~np.isfinite(y))[0])}.")
    # Partial W out once, then Gram-Schmidt over the instruments in the order given (a few
    # columns): an instrument whose residual is (relatively) zero adds nothing.
    Q_w = np.linalg.qr(W)[0]
    residuals = Z - Q_w @ (Q_w.T @ Z)
    keep, dropped, kept_basis = [], [], []
    for q, name in enumerate(names):
        r = residuals[:, q].copy()
        for e in kept_basis:
            r -= e * (e @ r)
        norm = np.linalg.norm(r)
        if norm > 1e-8 * np.linalg.norm(Z[:, q]):
            keep.append(q)
            kept_basis.append(r / norm)
        else:
            dropped.append(name)
    if not keep:
        raise ValueError(f"Every instrument in {names} is a linear combination of the exogenous regressors.")
    Zk = Z[:, keep]
    full = np.column_stack([W, Zk])
    coefficients = np.linalg.lstsq(full, y, rcond=None)[0]
    kept_names = [names[q] for q in keep]
    return FirstStage(
        fitted=pd.Series(full @ coefficients, index=data.index, name="price_hat"),
        f_statistic=first_stage_f(y, W, Zk),
        n_obs=len(y),
        instruments=tuple(kept_names),
        dropped=tuple(dropped),
        coefficients=pd.Series(coefficients, index=[*w_names, *kept_names], name="coefficient"),
    )
