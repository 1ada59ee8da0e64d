"""Loaders for the course's data sets, with pyBLP's field names."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pandas as pd

__all__ = [
    "DATA_DIR",
    "load_motorcycles",
    "load_motorcycle_agents",
    "load_motorcycle_truth",
    "load_motorcycle_parameters",
    "market",
]

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@lru_cache(maxsize=None)
def _read(name: str) -> pd.DataFrame:
    path = DATA_DIR / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; regenerate it with `python -m course_lib.simulate`.")
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


def market(frame: pd.DataFrame, t) -> pd.DataFrame:
    """Rows of ``frame`` in market ``t`` (by ``market_ids``, never by position)."""
    rows = frame[frame["market_ids"] == t]
    if rows.empty:
        raise ValueError(f"Market {t!r} is not in the data; markets run from "
                         f"{frame['market_ids'].min()} to {frame['market_ids'].max()}.")
    return rows.reset_index(drop=True)
