r"""What every extension of data-driven nests shares: the simulation result and frame helpers.

:class:`ExtensionSimulation` holds a simulated panel of one of the extensions with the truth
that generated it; :func:`check_frame` checks a data frame's columns (through
:func:`course_lib._checks.table_columns`); :func:`log_share_ratio` reads a frame's
:math:`\log(s_{jm}/s_{0m})` (:func:`course_lib.logit.logit_inversion`); :func:`share_panel`
builds a panel that :func:`course_lib.nests.classify` reads as a given dependent variable; :func:`cells` indexes
the cells defined by several id arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import table_columns
from ..logit import logit_inversion

__all__ = ["ExtensionSimulation", "cells", "check_frame", "log_share_ratio", "share_panel"]


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


def cells(*ids):
    """Index the cells defined by several id arrays (e.g. market and nest).

    Parameters
    ----------
    *ids : array_like, shape (N,)
        One id per row in each array; a cell is a distinct combination of them.

    Returns
    -------
    cell : ndarray of int, shape (N,)
        Cell of each row, numbered in the lexicographic order of the sorted ids.
    n_cells : int
    first : ndarray of int, shape (n_cells,)
        First row of each cell.
    """
    codes = [np.unique(np.asarray(a), return_inverse=True)[1].astype(np.int64) for a in ids]
    code = codes[0]
    for c in codes[1:]:
        code = code * (int(c.max()) + 1) + c
    _, first, cell = np.unique(code, return_index=True, return_inverse=True)
    return cell, len(first), first


def check_frame(data, needed, who: str) -> None:
    """Check that data is a DataFrame (these functions use pandas on it) with the columns ``needed``.

    Raises a ``ValueError`` naming ``who`` (the calling function) for a missing column.
    """
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame; got {type(data).__name__}.")
    table_columns(data, needed, who=who)  # the library's missing-column check (course_lib._checks)


def log_share_ratio(data: pd.DataFrame, market_ids=None) -> np.ndarray:
    r""":math:`y = \log(s_{jm}/s_{0m})`, with :math:`s_{0m}` from ``outside_shares`` or one minus
    the market's inside shares (``market_ids`` overrides the data's markets).

    Parameters
    ----------
    data : pandas.DataFrame
        ``shares`` and ``outside_shares`` (by row) or ``market_ids``.
    market_ids : array_like, shape (N,), optional

    Returns
    -------
    ndarray, shape (N,)
    """
    markets = data["market_ids"].to_numpy() if market_ids is None else market_ids
    outside = data["outside_shares"].to_numpy(dtype=float) if "outside_shares" in data.columns else None
    return logit_inversion(data["shares"].to_numpy(dtype=float), markets, outside)


def share_panel(y: np.ndarray, market_ids: np.ndarray, product_ids: np.ndarray, **columns) -> pd.DataFrame:
    r"""A panel that :func:`course_lib.nests.classify` reads as :math:`\log(s/s_0) = y`.

    ``classify`` works on :math:`\log(s_{jm}/s_{0m})`. To classify on another dependent
    variable y (a difference across types), pass shares :math:`c_m e^{y_{jm} - a_m}` and
    outside shares :math:`c_m e^{-a_m}` with :math:`a_m = \max_j y_{jm}` and :math:`c_m`
    such that they sum to 1/2 in each market; their log ratio is y.
    """
    cell, n_cells, _ = cells(market_ids)
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
