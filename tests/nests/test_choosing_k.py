"""Tests of course_lib.nests.choosing_k: cross-validation for K and the one-standard-error rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.nests import cross_validate, one_standard_error_rule, simulate_nested_logit


def test_cross_validation_picks_the_true_K():
    sim = simulate_nested_logit(J=100, M=50, seed=1)
    cv = cross_validate(sim.data, K_values=range(1, 6), n_folds=5, seed=0, n_starts=6)
    assert cv.selected_K == 3
    assert cv.mse.shape == (5, 5)
    assert cv.mean_mse[1] > cv.mean_mse[2] > cv.mean_mse[3]
    assert sorted(cv.folds.value_counts()) == [20] * 5
    # Past K = 3 the error is flat: within a standard error of K = 3's.
    assert np.all(np.abs(cv.mean_mse.loc[4:] - cv.mean_mse[3]) < 2 * cv.std_error[3])


def test_one_standard_error_rule():
    mean = pd.Series([10.0, 5.0, 3.0, 2.9, 2.8], index=[1, 2, 3, 4, 5])
    se = pd.Series([1.0, 0.5, 0.3, 0.3, 0.25], index=mean.index)
    assert one_standard_error_rule(mean, se) == 3  # 3.0 <= 2.8 + 0.25
    assert one_standard_error_rule(mean, se * 0.1) == 5


def test_cross_validation_bad_inputs():
    d = simulate_nested_logit(J=20, M=4, seed=2).data
    with pytest.raises(ValueError, match="n_folds"):
        cross_validate(d, n_folds=1)
    with pytest.raises(ValueError, match="training products"):
        cross_validate(d, K_values=range(1, 17), n_folds=5)
    with pytest.raises(ValueError, match="positive integers"):
        cross_validate(d, K_values=[0, 1, 2])
