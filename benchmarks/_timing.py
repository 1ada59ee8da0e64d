"""Timing helper shared by the benchmark scripts."""

from __future__ import annotations

import time


def best_time(function, repeats: int) -> tuple[float, object]:
    """Minimum wall time over ``repeats`` runs of ``function()``, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result
