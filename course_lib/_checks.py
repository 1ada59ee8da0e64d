"""Input checks shared by the public functions of course_lib.

Every public function validates its inputs before computing and raises a
``ValueError`` that names the argument, market or product at fault.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["as_vector", "as_matrix", "check_finite", "check_shares", "check_same_length", "check_method",
           "unique_inverse"]


def as_vector(x, name: str) -> np.ndarray:
    """Return ``x`` as a 1-D float array, or raise naming ``name``."""
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {arr.shape}.")
    return arr


def as_matrix(a, name: str, n_rows: int, row: str = "observation") -> np.ndarray:
    """Return ``a`` as a finite 2-D float array with ``n_rows`` rows (a vector becomes a
    column), or raise naming ``name``; ``row`` says what a row is in the message."""
    arr = np.asarray(a, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n_rows:
        raise ValueError(f"{name} must have {n_rows} rows (one per {row}); got shape {arr.shape}.")
    check_finite(arr, name)
    return arr


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise if ``arr`` has NaN or infinite entries, naming the first one."""
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise ValueError(f"{name} has a non-finite value (NaN or inf) at position {i}.")


def check_same_length(**arrays) -> None:
    """Raise if the named arrays do not share their first dimension."""
    lengths = {name: len(a) for name, a in arrays.items() if a is not None}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ValueError(f"Mismatched lengths: {listed}.")


def check_method(method: str, allowed: tuple[str, ...]) -> None:
    """Raise if ``method`` is not one of ``allowed``, listing them."""
    if method not in allowed:
        raise ValueError(f"Unknown method {method!r}; choose one of {', '.join(map(repr, allowed))}.")


def unique_inverse(ids: np.ndarray):
    """``numpy.unique(ids, return_inverse=True)``, by counting when ids are small non-negative integers.

    Counting is linear in the number of ids instead of a sort, which matters when the
    same small problem is solved many times (a Monte Carlo)."""
    if ids.ndim == 1 and ids.dtype.kind in "iu" and len(ids) and 0 <= ids.min() and ids.max() < 4 * len(ids):
        present = np.bincount(ids) > 0
        position = np.cumsum(present) - 1
        return np.flatnonzero(present).astype(ids.dtype), position[ids]
    return np.unique(ids, return_inverse=True)


def plain(x):
    """A numpy scalar as the plain Python value, so messages read "market 7", not "np.int64(7)"."""
    return x.item() if isinstance(x, np.generic) else x


def check_shares(shares: np.ndarray, market_ids: np.ndarray | None = None) -> None:
    """Check that inside-good shares are in (0, 1) and sum below 1 in every market.

    Parameters
    ----------
    shares : ndarray, shape (N,)
        Inside-good market shares.
    market_ids : ndarray, shape (N,), optional
        Market of each product; omit it for a single market (messages then name no market).

    Raises
    ------
    ValueError
        Naming the market (and product position) whose shares are NaN, not
        strictly positive, or sum to one or more (no room for the outside good).
    """
    single = market_ids is None
    if single:
        market_ids = np.zeros(len(shares), dtype=int)

    def where(i):
        return "" if single else f" in market {plain(market_ids[i])!r}"

    for i in np.flatnonzero(~np.isfinite(shares)):
        raise ValueError(f"Share of product at position {i}{where(i)} is not finite.")
    for i in np.flatnonzero(shares <= 0):
        raise ValueError(
            f"Share of product at position {i}{where(i)} is {float(shares[i]):.6g}; "
            "logit shares are strictly positive (zero shares cannot be inverted: log 0)."
        )
    ids, inverse = unique_inverse(np.asarray(market_ids))
    totals = np.bincount(inverse, weights=shares)
    for m in np.flatnonzero(totals >= 1):
        place = "" if single else f" in market {plain(ids[m])!r}"
        raise ValueError(
            f"Inside shares{place} sum to {totals[m]:.6g} >= 1; "
            "the outside good needs a positive share."
        )


def table_columns(data, needed, optional=(), who: str = "", where: str = "") -> dict:
    """The columns ``needed`` (and those of ``optional`` that it has) of a data set, as arrays.

    ``data`` is a pandas DataFrame or, like pyBLP's ``product_data``, a mapping of column
    names to 1-D arrays of one length (read without pandas' per-column cost). ``who`` names
    the function in the message for a missing column; ``where`` names the data set.
    """
    if isinstance(data, pd.DataFrame):
        names = data.columns
    elif isinstance(data, Mapping):
        names = data.keys()
    else:
        raise ValueError(f"data must be a pandas DataFrame or a mapping of column names to arrays{where}; "
                         f"got {type(data).__name__}.")
    missing = [c for c in needed if c not in names]
    if missing:
        raise ValueError(f"data lacks the column(s) {missing}{where}" + (f"; {who} needs {list(needed)}." if who else "."))
    wanted = [*needed, *(c for c in optional if c in names)]
    if isinstance(data, pd.DataFrame):
        return {c: data[c].to_numpy() for c in wanted}
    columns = {c: np.asarray(data[c]) for c in wanted}
    shapes = {c: a.shape for c, a in columns.items()}
    if len(set(shapes.values())) > 1 or any(len(shape) != 1 for shape in shapes.values()):
        raise ValueError(f"data's columns must be 1-D arrays of one length{where}; got shapes {shapes}.")
    return columns


def as_ids(ids, n: int, name: str) -> np.ndarray:
    """``ids`` as a 1-D array of length ``n`` (all zeros if None)."""
    if ids is None:
        return np.zeros(n, dtype=int)
    arr = np.asarray(ids)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {arr.shape}.")
    if len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} entries for {n} products (one per product).")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} has a NaN at position {int(np.flatnonzero(~np.isfinite(arr))[0])}.")
    if arr.dtype.kind == "O" and pd.isna(arr).any():
        raise ValueError(f"{name} has a missing value at position {int(np.flatnonzero(pd.isna(arr))[0])}.")
    return arr
