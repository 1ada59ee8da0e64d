"""Tests of course_lib.nests.ties: empty groups filled the same way on every machine."""

from __future__ import annotations

import numpy as np


def test_no_empty_groups_moves_the_worst_fitted_product_of_a_shared_group():
    from course_lib.nests.ties import no_empty_groups as _no_empty_groups

    labels = np.array([[0, 0, 1, 1, 1], [0, 1, 2, 2, 1]])  # row 0 leaves group 2 empty
    costs = np.zeros((2, 5, 3))
    costs[0, :, :] = [[1, 0, 0], [9, 0, 0], [0, 2, 0], [0, 7, 0], [0, 3, 0]]  # own costs 1, 9, 2, 7, 3
    fixed = _no_empty_groups(labels.copy(), costs, 3, np.ones(5))
    np.testing.assert_array_equal(fixed[0], [0, 2, 1, 1, 1])  # product 1 has the largest own cost, 9
    np.testing.assert_array_equal(fixed[1], labels[1])  # no gap: unchanged
    # Own costs tied to rounding (product 3's exceeds product 1's by 1e-14, far below
    # TIE_RTOL times their scale): the lower-numbered product moves, whichever way the
    # rounding went.
    for last_bits in (1e-14, -1e-14):
        costs[0, 3, 1] = 9 + last_bits
        fixed = _no_empty_groups(labels.copy(), costs, 3, np.ones(5))
        np.testing.assert_array_equal(fixed[0], [0, 2, 1, 1, 1])
