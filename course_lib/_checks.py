"""Input checks shared by the public functions of course_lib.

Every public function validates its inputs before computing and raises a
``ValueError`` that names the argument, market or product at fault.
"""

from __future__ import annotations

import numpy as np

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


def _plain(x):
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
        return "" if single else f" in market {_plain(market_ids[i])!r}"

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
        place = "" if single else f" in market {_plain(ids[m])!r}"
        raise ValueError(
            f"Inside shares{place} sum to {totals[m]:.6g} >= 1; "
            "the outside good needs a positive share."
        )
