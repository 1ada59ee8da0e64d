"""course_lib.digits: printing only the digits that every machine agrees on."""

import numpy as np
import pytest

from course_lib.digits import about, below


def test_below_shows_the_bound_or_the_value():
    assert below(3.1e-15, 1e-12) == "< 1e-12"
    assert below(np.array([1e-16, -4e-13]), 1e-12) == "< 1e-12"
    assert below(np.array([1e-16, -4e-11]), 1e-12) == "4.0e-11"   # a failure shows its size
    assert below(1e-12, 1e-12) == "1.0e-12"                       # the bound itself is not below


@pytest.mark.parametrize("count, significant, shown", [
    (2414, 2, "2,400"), (2413, 2, "2,400"), (19514, 2, "20,000"), (531, 2, "530"), (15, 2, "15"),
    (36671, 3, "36,700"), (0, 2, "0"), (7, 1, "7"), (0.25, 2, "0.25"),
])
def test_about_rounds_to_significant_figures(count, significant, shown):
    assert about(count, significant) == shown


def test_about_bad_input():
    with pytest.raises(ValueError, match="count must be finite"):
        about(float("nan"))
    with pytest.raises(ValueError, match="significant must be at least 1"):
        about(10, 0)
