"""Printing only the digits that every machine agrees on.

Two machines (another BLAS kernel, other SIMD loops) round differently. A difference at rounding
level between two implementations, a residual at a tolerance's floor, or a count of iterations
that stops when a residual crosses a tolerance can therefore read differently on a reader's
laptop than in the book. The chapters print such numbers through these helpers, which show what is
stable: the bound a rounding-level number is under, and a count to the digits that do not move.
"""

from __future__ import annotations

import numpy as np

__all__ = ["below", "about"]


def below(x, bound: float) -> str:
    """``"< bound"`` when every ``|x|`` is below ``bound``, else the largest ``|x|`` (``.1e``).

    For numbers at rounding level, whose digits vary by machine: only the bound they are under is
    stable. A value above the bound is printed, so that a failure shows.
    """
    largest = float(np.max(np.abs(np.asarray(x, dtype=float))))
    return f"< {bound:.0e}" if largest < bound else f"{largest:.1e}"


def about(count, significant: int = 2) -> str:
    """A count rounded to ``significant`` figures with thousands separators, e.g. ``"2,400"``.

    For totals of iteration counts over many markets or evaluations: each market's count can move by
    one where its last residual lands within rounding of the tolerance, so the last digits of a total
    differ by machine while its leading digits do not.
    """
    count = float(count)
    if not np.isfinite(count):
        raise ValueError(f"count must be finite; got {count}.")
    if significant < 1:
        raise ValueError(f"significant must be at least 1; got {significant}.")
    if count == 0:
        return "0"
    rounded = float(f"{count:.{significant}g}")
    return f"{rounded:,.0f}" if abs(rounded) >= 1 else f"{rounded:g}"
