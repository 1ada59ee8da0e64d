"""Loaders for the course's data sets, with pyBLP's field names."""

from __future__ import annotations

import importlib.util
import json
from importlib import resources
from functools import lru_cache
from pathlib import Path

import pandas as pd

__all__ = [
    "DATA_DIR",
    "RESULTS_DIR",
    "load_motorcycles",
    "load_motorcycle_agents",
    "load_motorcycle_truth",
    "load_motorcycle_parameters",
    "load_blp_autos",
    "market",
]

#: The data files that ship inside the package (``course_lib/datasets``; ``data/`` in the
#: repository links to it), so that a chapter opened anywhere finds them after one install.
#:
#: :meta hide-value:
DATA_DIR = Path(str(resources.files("course_lib") / "datasets"))
#: Stored results of long runs (Monte Carlo tables, the automobile classification) and the
#: slides' published tables.
#:
#: :meta hide-value:
RESULTS_DIR = DATA_DIR / "results"


@lru_cache(maxsize=None)
def _read(name: str) -> pd.DataFrame:
    path = DATA_DIR / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; reinstall course_lib, or regenerate it with `python -m course_lib.simulate`.")
    return pd.read_csv(path)


def load_motorcycles() -> pd.DataFrame:
    """The motorcycle product data: one row per product and market.

    Columns: ``market_ids``, ``product_ids``, ``firm_ids``, ``shares``, ``prices``,
    ``EngineSize``, ``SportsBike``, ``Brand2``, ``Brand3`` and the excluded
    cost-shifter instruments ``demand_instruments0..3``. See ``data/README.md``.
    """
    return _read("motorcycles.csv").copy()


def load_motorcycle_agents() -> pd.DataFrame:
    """Estimation draws: ``market_ids``, ``weights``, ``nodes0`` (prices), ``nodes1`` (EngineSize)."""
    return _read("motorcycle_agents.csv").copy()


def load_motorcycle_truth() -> pd.DataFrame:
    """Product-level truth: ``xi``, ``omega``, marginal ``costs`` and true mean utility ``delta``."""
    return _read("motorcycle_truth.csv").copy()


def load_motorcycle_parameters() -> dict:
    """True parameters of the data-generating process (``beta``, ``sigma``, ``gamma``, ...)."""
    return json.loads((DATA_DIR / "motorcycle_parameters.json").read_text())


@lru_cache(maxsize=None)
def _read_blp_autos() -> pd.DataFrame:
    # find_spec locates pyBLP's installed data without importing pyblp (sympy, patsy: slow).
    spec = importlib.util.find_spec("pyblp")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("pyblp is not installed; the BLP automobile data ship inside it "
                                "(pip install pyblp).")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "blp_products.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the installed pyblp.")
    frame = pd.read_csv(path)
    suffix = frame["clustering_ids"].str[-2:]
    bad = ~suffix.str.fullmatch(r"\d\d")
    if bad.any():
        raise ValueError(f"clustering_ids {frame['clustering_ids'][bad].iloc[0]!r} does not end in a two-digit "
                         "model-generation year; cannot derive its model id.")
    frame.insert(frame.columns.get_loc("clustering_ids") + 1, "model_ids", frame["clustering_ids"].str[:-2])
    return frame


def load_blp_autos() -> pd.DataFrame:
    r"""The BLP (1995) automobile product data that pyBLP ships, plus a model id.

    All 2,217 rows of ``pyblp.data.BLP_PRODUCTS_LOCATION`` (extracted by Andrews, Gentzkow
    and Shapiro (2017) from the GAUSS code of Berry, Levinsohn and Pakes (1999); the same
    model-years as the R package hdm's ``BLP`` data), in pyBLP's row order (by year, and
    within a year by ``car_ids`` but for two swapped rows), with pyBLP's field names.
    The file is read from the installed pyblp without importing it.

    Returns
    -------
    pandas.DataFrame
        One row per car and year (a "model-year"; a few models have two or three rows,
        body or engine variants, in some years). Columns:

        ``market_ids``
            Year, 1971-1990: the market.
        ``clustering_ids``
            Model and generation: the model's name code and the two-digit year its
            generation was introduced (``AMGREM71``); 999 values. pyBLP clusters
            standard errors on it.
        ``model_ids``
            (added) ``clustering_ids`` without its last two characters (``AMGREM``): the
            model across generations, the "product" of the data-driven-nests application;
            557 models.
        ``car_ids``
            A row id (unique).
        ``firm_ids``
            Manufacturer, 1-26 (three models change firm over the period).
        ``region``
            Origin of the make: ``US``, ``EU``, ``JP``.
        ``shares``
            Market share :math:`s_{jt} = q_{jt} / M_t`, sales over the number of US
            households (BLP 1995); the outside good has :math:`1 - \sum_j s_{jt}`.
        ``prices``
            List price in thousands of 1983 dollars (BLP 1995; mean 11.761). hdm's
            ``price`` is this minus its mean over the 2,217 rows.
        ``hpwt``
            Horsepower per weight (horsepower per 10 pounds in BLP 1995).
        ``air``
            1 if air conditioning is standard equipment.
        ``mpd``
            Miles per dollar: miles per gallon over the real price of a gallon (tens of
            miles per 1983 dollar).
        ``mpg``
            Miles per gallon (in tens).
        ``space``
            Length times width of the car (in 10,000 square inches).
        ``trend``
            Year minus 1971.
        ``demand_instruments0..7``
            BLP instruments built with ``pyblp.build_blp_instruments`` over all products
            of the year: sums over the same firm's other products (0-3) and over rival
            firms' products (4-7) of the constant, ``hpwt``, ``air`` and ``mpd``.
        ``supply_instruments0..11``
            pyBLP's excluded supply-side instruments.

    Notes
    -----
    The pyBLP documentation names the variables and their source; the units above are
    those of BLP (1995, pp. 868-871) and agree with the data's means. See
    :mod:`course_lib.autos` for the application's sample and variables.
    """
    return _read_blp_autos().copy()


def market(frame: pd.DataFrame, t) -> pd.DataFrame:
    """Rows of ``frame`` in market ``t`` (by ``market_ids``, never by position)."""
    rows = frame[frame["market_ids"] == t]
    if rows.empty:
        raise ValueError(f"Market {t!r} is not in the data; markets run from "
                         f"{frame['market_ids'].min()} to {frame['market_ids'].max()}.")
    return rows.reset_index(drop=True)
