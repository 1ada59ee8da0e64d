"""Which models of the automobile data enter the application's sample.

A *model* is ``clustering_ids`` without its two-digit generation year (``AMGREM71`` ->
``AMGREM``). This module holds the data check (:func:`check_products`), each model's
spell (:func:`model_spells`, :func:`model_years`), the sample rules (:class:`SampleRule`,
:data:`SAMPLE_RULES`, :func:`select_models`) and the rows a model has twice in a year
(:func:`duplicated_model_years`, :func:`deduplicate`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import check_method, plain
from ..data import load_blp_autos

__all__ = [
    "DUPLICATE_RULES",
    "SampleRule",
    "SAMPLE_RULES",
    "check_products",
    "model_spells",
    "model_years",
    "select_models",
    "duplicated_model_years",
    "deduplicate",
]

#: How :func:`deduplicate` keeps one row of a model in a year where it has several.
DUPLICATE_RULES = ("first", "last", "largest")
_RAW_COLUMNS = ("market_ids", "firm_ids", "shares", "prices", "hpwt", "air", "mpd", "mpg", "space")


@dataclass(frozen=True)
class SampleRule:
    """Which models (products) enter the panel.

    A model is kept when it is present in at least ``min_years`` distinct years, has a run
    of at least ``min_consecutive`` consecutive years, and is present in every year of
    ``present_in``.
    """

    min_years: int = 1
    min_consecutive: int = 1
    present_in: tuple[int, ...] = ()
    description: str = ""


#: The named sample rules.
#:
#: - ``"stated"``: the slides' words, at least five years of data and at least three
#:   consecutive years. Keeps 169 of the 557 models (1,458 model-years after
#:   :func:`deduplicate`), not the slides' 82. (Five years alone keep 170: PG505 has six
#:   years, 1980-1988, but no three in a row.)
#: - ``"slides"``: at least five years and present in each of 1986, 1987 and 1988 (so also
#:   three consecutive years). Keeps exactly 82 models (745 model-years) and reproduces the
#:   slides' appendix statistics and the Mean/Std columns of their group table. It is the
#:   rule their N = 82 implies; the slides do not state it.
#: - ``"all"``: every model, 557 (the appendix's "full sample").
SAMPLE_RULES: dict[str, SampleRule] = {
    "stated": SampleRule(5, 3, (), "at least 5 years of data and at least 3 consecutive years (169 models)"),
    "slides": SampleRule(5, 3, (1986, 1987, 1988),
                         "at least 5 years of data and present in each of 1986, 1987, 1988 (82 models)"),
    "all": SampleRule(1, 1, (), "every model (557)"),
}


def check_products(products: pd.DataFrame | None) -> pd.DataFrame:
    """pyBLP's automobile data (default) or a subset of its rows, checked; adds ``model_ids``
    from ``clustering_ids`` if missing.

    Parameters
    ----------
    products : pandas.DataFrame or None
        Rows of :func:`course_lib.data.load_blp_autos`; None loads all of them.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ValueError
        Not a DataFrame, no rows, a missing column, a share that is not positive and
        finite (naming the model and year), or a year whose shares sum to one or more (no
        outside share).
    """
    if products is None:
        return load_blp_autos()
    if not isinstance(products, pd.DataFrame):
        raise ValueError(f"products must be a pandas DataFrame; got {type(products).__name__}.")
    if "model_ids" not in products.columns:
        if "clustering_ids" not in products.columns:
            raise ValueError("products lacks both model_ids and clustering_ids; load it with "
                             "course_lib.data.load_blp_autos().")
        products = products.assign(model_ids=products["clustering_ids"].astype(str).str[:-2])
    missing = [c for c in _RAW_COLUMNS if c not in products.columns]
    if missing:
        raise ValueError(f"products lacks the column(s) {missing}.")
    if products.empty:
        raise ValueError("products has no rows.")
    shares = products["shares"].to_numpy(dtype=float)
    bad = ~(np.isfinite(shares) & (shares > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"Share of model {plain(products['model_ids'].iloc[i])!r} in year "
                         f"{plain(products['market_ids'].iloc[i])} is {shares[i]:.6g}; shares must be positive.")
    totals = products.groupby("market_ids")["shares"].sum()
    if (totals >= 1).any():
        year = totals.index[np.argmax(totals.to_numpy() >= 1)]
        raise ValueError(f"Shares in year {plain(year)} sum to {totals[year]:.6g} >= 1: no outside share is left.")
    return products


def model_spells(product_ids, years) -> pd.DataFrame:
    """Per product: ``first_year``, ``last_year``, ``years`` (distinct years present) and
    ``longest_run`` (longest run of consecutive years), indexed by product id."""
    pairs = (pd.DataFrame({"product_ids": np.asarray(product_ids), "year": np.asarray(years)})
             .drop_duplicates().sort_values(["product_ids", "year"], kind="stable"))
    new_run = (pairs["year"].diff() != 1) | (pairs["product_ids"] != pairs["product_ids"].shift())
    run_length = pairs.groupby(new_run.cumsum())["year"].transform("size")
    return (pairs.assign(run=run_length).groupby("product_ids")
            .agg(first_year=("year", "min"), last_year=("year", "max"), years=("year", "size"),
                 longest_run=("run", "max")))


def model_years(products: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per model (``model_ids``): ``first_year``, ``last_year``, ``years`` (distinct years
    present), ``longest_run`` (longest run of consecutive years) and ``rows``."""
    P = check_products(products)
    spells = model_spells(P["model_ids"], P["market_ids"])
    spells["rows"] = P.groupby("model_ids").size()
    return spells.rename_axis("model_ids")


def _resolve_rule(rule, years: np.ndarray) -> SampleRule:
    if isinstance(rule, str):
        if rule not in SAMPLE_RULES:
            raise ValueError(f"Unknown sample rule {rule!r}; choose one of {', '.join(map(repr, SAMPLE_RULES))} "
                             "or pass a SampleRule.")
        return SAMPLE_RULES[rule]
    if not isinstance(rule, SampleRule):
        raise ValueError(f"rule must be the name of a rule ({', '.join(map(repr, SAMPLE_RULES))}) or a "
                         f"SampleRule; got {type(rule).__name__}.")
    for name in ("min_years", "min_consecutive"):
        value = getattr(rule, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"SampleRule.{name} must be an integer of at least 1; got {value!r}.")
    if rule.min_consecutive > rule.min_years:
        raise ValueError(f"SampleRule.min_consecutive ({rule.min_consecutive}) exceeds min_years "
                         f"({rule.min_years}); no model could have a longer run than its years.")
    if isinstance(rule.present_in, (str, bytes)) or not isinstance(rule.present_in, Iterable):
        raise ValueError(f"SampleRule.present_in must be a sequence of years, e.g. (1986, 1987, 1988); "
                         f"got {rule.present_in!r}.")
    absent = [y for y in rule.present_in if y not in set(years.tolist())]
    if absent:
        raise ValueError(f"SampleRule.present_in asks for year {absent[0]!r}, which is not in the data "
                         f"(years {years.min()}-{years.max()}).")
    return rule


def select_models(products: pd.DataFrame | None = None, rule: str | SampleRule = "slides") -> pd.Index:
    r"""The models a sample rule keeps, sorted.

    Model j is kept when, with :math:`T_j` the set of years it is present,

    .. math::
        |T_j| \ge \text{min\_years}, \quad
        \max_{\text{runs } R \subseteq T_j} |R| \ge \text{min\_consecutive}, \quad
        \text{present\_in} \subseteq T_j .

    Parameters
    ----------
    products : pandas.DataFrame, optional
        Rows of :func:`course_lib.data.load_blp_autos` (default: all).
    rule : str or SampleRule
        A key of :data:`SAMPLE_RULES` or a rule of one's own.

    Raises
    ------
    ValueError
        An unknown rule (listing the allowed), bad rule parameters, a required year that
        is not in the data, or a rule that keeps no model.
    """
    P = check_products(products)
    rule = _resolve_rule(rule, np.unique(P["market_ids"].to_numpy()))
    spells = model_spells(P["model_ids"], P["market_ids"])
    keep = (spells["years"] >= rule.min_years) & (spells["longest_run"] >= rule.min_consecutive)
    if rule.present_in:
        required = P[P["market_ids"].isin(rule.present_in)].groupby("model_ids")["market_ids"].nunique()
        keep &= required.reindex(spells.index, fill_value=0) == len(set(rule.present_in))
    if not keep.any():
        raise ValueError(f"The sample rule {rule} keeps no model.")
    return pd.Index(spells.index[keep.to_numpy()], name="model_ids")


def duplicated_model_years(products: pd.DataFrame | None = None) -> pd.DataFrame:
    """The (model, year) cells with more than one row: ``model_ids``, ``market_ids``,
    ``rows`` and the rows' ``car_ids`` in file order. In pyBLP's data: 40 cells of 20
    models, 85 rows, 45 more than one per cell."""
    P = check_products(products)
    if "car_ids" not in P.columns:
        raise ValueError("products lacks the column car_ids.")
    cells = P[P.duplicated(["model_ids", "market_ids"], keep=False)]
    return (cells.groupby(["model_ids", "market_ids"], sort=True)
            .agg(rows=("car_ids", "size"), car_ids=("car_ids", list)).reset_index())


def deduplicate(variables: pd.DataFrame, duplicates: str = "first") -> pd.DataFrame:
    """One row per (``product_ids``, ``market_ids``), keeping the rows' order.

    A few models have two or three rows in a year (variants with their own share, price
    and characteristics). The classifier needs one row per product and market, so keep

    - ``"first"``: the first row in file order (pyBLP's; in every duplicated cell of its
      data this is the row with the smallest ``car_ids``), the default. It reproduces 87
      of the 100 statistics of the slides' appendix, and the others to within 0.011
      (:func:`model_statistics`);
    - ``"last"``: the last row in file order;
    - ``"largest"``: the row with the largest share (the first of equal ones).

    In pyBLP's data this drops 45 of 2,217 rows (40 cells of 20 models); in the ``"slides"``
    sample 16 of 761 rows (15 cells of 4 models: AD5000, DGCOLT, MB560S, TYCORO).
    """
    check_method(duplicates, DUPLICATE_RULES)
    missing = [c for c in ("product_ids", "market_ids", "shares") if c not in variables.columns]
    if missing:
        raise ValueError(f"variables lacks the column(s) {missing}.")
    keys = ["product_ids", "market_ids"]
    if duplicates == "largest":
        order = np.argsort(-variables["shares"].to_numpy(), kind="stable")
        kept = ~variables.iloc[order].duplicated(keys, keep="first")
        return variables.iloc[np.sort(order[kept.to_numpy()])]
    return variables[~variables.duplicated(keys, keep=duplicates)]
