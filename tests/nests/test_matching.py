"""Tests of course_lib.nests.matching: the share of products classified alike up to relabelling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.nests import best_relabelling, matched_share


def test_matched_share_on_permuted_labels():
    true = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    perm = np.array([2, 0, 1])
    assert matched_share(perm[true], true) == 1.0
    est = perm[true].copy()
    est[0] = perm[1]  # one product misclassified
    assert matched_share(est, true) == pytest.approx(7 / 8)
    assert matched_share(np.array(list("bbaaccca")), true) == pytest.approx(7 / 8)
    assert matched_share(np.zeros(8, dtype=int), true) == pytest.approx(3 / 8)
    # Series are aligned on product ids.
    s_true = pd.Series(true, index=list("abcdefgh"))
    s_est = pd.Series(perm[true], index=list("abcdefgh")).iloc[::-1]
    assert matched_share(s_est, s_true) == 1.0


def test_best_relabelling():
    true = np.array([0, 0, 1, 1, 2, 2, 2])
    est = np.array(["b", "b", "c", "c", "a", "a", "c"])
    assert best_relabelling(est, true) == {"b": 0, "c": 1, "a": 2}
    assert matched_share(est, true) == pytest.approx(6 / 7)
