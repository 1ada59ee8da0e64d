"""Tests of course_lib._checks: the input helpers shared by the library."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib._checks import unique_inverse


@pytest.mark.parametrize("ids", [
    np.array([3, 0, 3, 7, 7, 1]),  # small non-negative integers: counted
    np.array([5, -2, 5, 9]),  # negative: sorted
    np.array([10**9, 4, 10**9]),  # large: sorted
    np.array(["b", "a", "b"]),
    np.array([2.5, 1.0, 2.5]),
    np.array([], dtype=int),
])
def test_unique_inverse_is_numpy_unique(ids):
    values, inverse = unique_inverse(ids)
    expected_values, expected_inverse = np.unique(ids, return_inverse=True)
    np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(inverse, expected_inverse)
    assert values.dtype == expected_values.dtype
