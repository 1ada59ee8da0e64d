"""Tables for the page: a DataFrame shown as an HTML table with fixed decimals per column.

``print(frame)`` gives a monospaced block that wraps or is cut on a narrow page and shows each
float with as many digits as pandas likes (4 in one column, 3 in the next). :func:`table` returns
a pandas ``Styler`` that the notebook and the book render as a real table (padded, scrolling
sideways on a phone instead of wrapping) with the number of decimals each column deserves. The
HTML is the same on every run (fixed id, no per-cell ids), so the tests can compare it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["table"]


def _formatter(decimals: int | str):
    """A cell formatter: ``decimals`` digits after the point, or a format string such as ``"{:.1%}"``."""
    if isinstance(decimals, str):
        return lambda v: "" if _missing(v) else decimals.format(v)
    if decimals < 0:
        raise ValueError(f"decimals must be at least 0; got {decimals}.")
    return lambda v: "" if _missing(v) else f"{v:,.{decimals}f}" if isinstance(v, (int, float, np.number)) \
        and not isinstance(v, (bool, np.bool_)) else str(v)


def _table_id(frame: pd.DataFrame, caption: str | None) -> str:
    """An HTML id from the table's labels, shape and caption (never its numbers, whose last bits
    vary by machine): the same on every run, and different for the tables of one page."""
    labels = repr((list(map(str, frame.columns)), list(map(str, frame.index)), frame.shape, caption))
    return "table-" + hashlib.sha1(labels.encode()).hexdigest()[:8]


def _missing(v) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and np.isnan(v))


def table(frame: pd.DataFrame, decimals: int | str | Mapping[str, int | str] = 3, *,
          index: bool = True, caption: str | None = None):
    """``frame`` as a page table: floats to ``decimals`` places, integers with thousands separators.

    Parameters
    ----------
    frame : DataFrame
        The table. Column labels are shown as they are (make them words, not code names).
    decimals : int, str or mapping, default 3
        Places after the decimal point for every float column; or a format string
        (``"{:.2e}"``, ``"{:.1%}"``); or a mapping ``{column: decimals or format}``, where
        columns not named get 3 places. Integer columns always show as integers, text as text.
    index : bool, default True
        Whether to show the row labels.
    caption : str, optional
        A caption above the table.

    Returns
    -------
    pandas.io.formats.style.Styler
        Rendered as HTML by Jupyter and by the book.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"table expects a pandas DataFrame; got {type(frame).__name__}.")
    if isinstance(decimals, Mapping):
        unknown = set(decimals) - set(frame.columns)
        if unknown:
            raise KeyError(f"decimals names columns that the table does not have: {sorted(map(str, unknown))}.")
        per_column = {c: decimals.get(c, 3) for c in frame.columns}
    else:
        per_column = {c: decimals for c in frame.columns}
    formats = {c: (_formatter(0) if pd.api.types.is_integer_dtype(frame[c]) else _formatter(d))
               for c, d in per_column.items()}
    from pandas.io.formats.style import Styler  # needs jinja2: imported only when a table is made

    styler = Styler(frame, uuid=_table_id(frame, caption), cell_ids=False).format(formats, escape="html")
    # Numbers right-aligned (digits line up), text left-aligned; padding so columns do not touch.
    text = [i for i, c in enumerate(frame.columns) if not pd.api.types.is_numeric_dtype(frame[c])]
    styler = styler.set_table_styles(
        [{"selector": "td, th", "props": "padding: 0.25em 0.75em; text-align: right;"}]
        + [{"selector": f"td.col{i}", "props": "text-align: left;"} for i in text])
    if not index:
        styler = styler.hide(axis="index")
    if caption is not None:
        styler = styler.set_caption(caption)
    return styler
