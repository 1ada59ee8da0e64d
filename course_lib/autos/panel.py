r"""The application's data: every row's variables, and the panel of a sample rule.

:func:`product_variables` computes, over every row of the automobile data (before any
sample is drawn), hdm's centred price, the outside share of each year, the logs of the
characteristics and the instruments; :func:`panel_sample` adds the first-stage price,
keeps one row per model and year and the models of a sample rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import check_method, plain
from .instruments import (BLP_INSTRUMENTS, DIFFERENTIATION_VERSIONS, INSTRUMENT_SETS, SLIDES_CHARACTERISTICS,
                          differentiation_instruments, first_stage_price)
from .sample import DUPLICATE_RULES, SampleRule, check_products, deduplicate, select_models

__all__ = ["product_variables", "panel_sample"]


def product_variables(products: pd.DataFrame | None = None, differentiation: str = "quadratic") -> pd.DataFrame:
    r"""Every row of the automobile data with the application's variables, in the classifier's layout.

    Computed over all rows given (all 2,217 by default), before any sample is drawn:

    .. math::
        \text{price}_{jt} = p_{jt} - \frac{1}{N} \sum_{(k, s)} p_{ks}, \qquad
        s_{0t} = 1 - \sum_{k \in \mathcal J_t} s_{kt},

    the logs of ``hpwt``, ``mpd`` and ``space``, pyBLP's BLP instruments and the
    Gandhi-Houde differentiation instruments of :func:`differentiation_instruments` on
    :data:`SLIDES_CHARACTERISTICS` (rivals are all of the year's products).

    Parameters
    ----------
    products : pandas.DataFrame, optional
        Rows of :func:`course_lib.data.load_blp_autos` (default: all of them).
    differentiation : {"quadratic", "local"}
        Version of the differentiation instruments.

    Returns
    -------
    pandas.DataFrame
        In the rows' order, with ``market_ids`` (year), ``product_ids`` (model id),
        ``firm_ids``, ``car_ids`` and ``clustering_ids`` (if given), ``shares``,
        ``outside_shares``, ``prices`` (pyBLP's), ``price`` (hdm's), ``hpwt``, ``air``,
        ``mpd``, ``mpg``, ``space``, ``log_hpwt``, ``log_mpd``, ``log_space``, the BLP
        instruments ``demand_instruments0..7`` (if given) and ``gh_other_*``, ``gh_rival_*``.

    Raises
    ------
    ValueError
        Naming the model and year of a non-positive share or characteristic that is
        logged, or a year whose shares sum to one or more.
    """
    check_method(differentiation, DIFFERENTIATION_VERSIONS)
    P = check_products(products)
    for c in ("hpwt", "mpd", "space"):
        values = P[c].to_numpy(dtype=float)
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{c} of model {plain(P['model_ids'].iloc[i])!r} in year "
                             f"{plain(P['market_ids'].iloc[i])} is {values[i]:.6g}; its log needs a positive value.")
    out = pd.DataFrame({"market_ids": P["market_ids"], "product_ids": P["model_ids"], "firm_ids": P["firm_ids"]})
    for c in ("car_ids", "clustering_ids"):
        if c in P.columns:
            out[c] = P[c]
    out["shares"] = P["shares"].astype(float)
    out["outside_shares"] = 1.0 - P.groupby("market_ids")["shares"].transform("sum")
    out["prices"] = P["prices"].astype(float)
    out["price"] = out["prices"] - out["prices"].mean()
    for c in ("hpwt", "air", "mpd", "mpg", "space"):
        out[c] = P[c]
    for c in ("hpwt", "mpd", "space"):
        out[f"log_{c}"] = np.log(P[c].astype(float))
    for c in BLP_INSTRUMENTS:
        if c in P.columns:
            out[c] = P[c]
    return pd.concat([out, differentiation_instruments(out, SLIDES_CHARACTERISTICS, differentiation)], axis=1)


def panel_sample(
    products: pd.DataFrame | None = None,
    rule: str | SampleRule = "slides",
    *,
    duplicates: str = "first",
    differentiation: str = "quadratic",
    first_stage: str | None = "full",
    instruments: str = "gh",
) -> pd.DataFrame:
    r"""The application's panel: one row per model and year of the models a rule keeps.

    Built in this order: the variables of :func:`product_variables` on all rows of
    ``products`` (so the outside share, hdm's centred price and the instruments use every
    product of the year, in the sample or not); the first-stage fitted price
    ``price_hat`` of :func:`first_stage_price` (on all rows if ``first_stage="full"``, on
    the sample's if ``"sample"``); one row per model and year (:func:`deduplicate`); the
    models of ``rule`` (:func:`select_models`). With the defaults: 82 models, 745 rows,
    years 1971-1990.

    Parameters
    ----------
    products : pandas.DataFrame, optional
        Rows of :func:`course_lib.data.load_blp_autos` (default: all 2,217).
    rule : str or SampleRule
        A key of :data:`SAMPLE_RULES` (``"slides"``, ``"stated"``, ``"all"``) or a rule.
    duplicates : {"first", "last", "largest"}
        Which row of a model with several in a year to keep (:func:`deduplicate`).
    differentiation : {"quadratic", "local"}
        Version of the differentiation instruments.
    first_stage : {"full", "sample"} or None
        Rows of the first-stage regression for ``price_hat``; None leaves it out.
    instruments : {"gh", "blp", "blp+gh"}
        Excluded instruments of that first stage (:func:`instrument_columns`); the default,
        the differentiation instruments, follows the authors' ddnests code, which classifies
        on a first-stage price fitted with Gandhi-Houde instruments.

    Returns
    -------
    pandas.DataFrame
        Sorted by year and model, index 0..n-1: ``market_ids``, ``product_ids``,
        ``firm_ids``, ``car_ids`` (the row kept), ``clustering_ids``, ``shares``,
        ``outside_shares``, ``prices``, ``price``, ``hpwt``, ``air``, ``mpd``, ``mpg``,
        ``space``, ``log_hpwt``, ``log_mpd``, ``log_space``, ``demand_instruments0..7``,
        ``gh_other_*``, ``gh_rival_*`` and ``price_hat``. ``attrs`` records the rule, the
        duplicate rule, the first stage's rows, instruments and F.

    Raises
    ------
    ValueError
        An unknown rule, duplicate rule, differentiation version, first-stage choice or
        instrument set (listing the allowed); bad rule parameters; a rule that keeps no
        model; a year whose shares leave no outside share; a non-positive share.
    """
    check_method(duplicates, DUPLICATE_RULES)
    check_method(instruments, INSTRUMENT_SETS)
    if first_stage is not None:
        check_method(first_stage, ("full", "sample"))
    P = check_products(products)
    models = select_models(P, rule)
    variables = product_variables(P, differentiation)
    fit = None
    if first_stage == "full":
        fit = first_stage_price(variables, instruments)
        variables = variables.assign(price_hat=fit.fitted)
    panel = deduplicate(variables, duplicates)
    panel = panel[panel["product_ids"].isin(models)]
    if first_stage == "sample":
        fit = first_stage_price(panel, instruments)
        panel = panel.assign(price_hat=fit.fitted)
    panel = panel.sort_values(["market_ids", "product_ids"], kind="stable").reset_index(drop=True)
    panel.attrs = {"rule": rule if isinstance(rule, str) else repr(rule), "duplicates": duplicates,
                   "differentiation": differentiation, "first_stage": first_stage, "instruments": instruments}
    if fit is not None:
        panel.attrs.update(first_stage_f=fit.f_statistic, first_stage_nobs=fit.n_obs,
                           first_stage_instruments=list(fit.instruments), first_stage_dropped=list(fit.dropped))
    return panel
