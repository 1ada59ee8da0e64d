"""Tests of course_lib.nests.batched_gfe and batched_two_step: classify_many and two_step_many give
each data set what classify and two_step give it alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.nested_logit import berry_regression, nest_instruments
from course_lib.nests import classify, classify_many, simulate_nested_logit, two_step, two_step_many


@pytest.mark.parametrize("design", [dict(), dict(endogenous=True), dict(missing=0.2, nest_exit=0.1)])
def test_classify_many_gives_each_data_set_its_own_classification(design):
    """Stacked or alone, every data set gets the same starts, path and result."""
    regressors = ("z", "x") if design.get("endogenous") else ("prices", "x")
    datasets = [simulate_nested_logit(J=40, M=6, seed=100 + i, **design).data for i in range(5)]
    if design.get("missing"):  # unbalanced: keep the products and markets of the stack the same
        keep = set.intersection(*(set(data["product_ids"]) for data in datasets))
        datasets = [data[data["product_ids"].isin(keep)] for data in datasets]
        datasets = [data[data.groupby("product_ids")["market_ids"].transform("size") >= 2] for data in datasets]
        keep = set.intersection(*(set(data["product_ids"]) for data in datasets))
        datasets = [data[data["product_ids"].isin(keep)] for data in datasets]
    seeds = [7, 3, 3, 0, 11]
    many = classify_many(datasets, 3, n_starts=6, seeds=seeds, regressors=regressors)
    for data, seed, stacked in zip(datasets, seeds, many):
        alone = classify(data, 3, n_starts=6, seed=seed, regressors=regressors)
        # The discrete results (labels, steps, convergence, best start) exactly; the numbers
        # to rounding: a matrix product over a stack may add its terms in another order than
        # over one panel (measured on four BLAS/SIMD kernels: objectives up to 4e-16 relative,
        # coefficients identical; 1e-12 and 1e-10 leave a wide margin).
        pd.testing.assert_series_equal(stacked.labels, alone.labels)
        np.testing.assert_allclose(stacked.objectives, alone.objectives, rtol=1e-12)
        np.testing.assert_array_equal(stacked.iterations, alone.iterations)
        np.testing.assert_array_equal(stacked.converged, alone.converged)
        assert stacked.best_start == alone.best_start
        pd.testing.assert_frame_equal(stacked.coefficients, alone.coefficients, rtol=1e-10)
        pd.testing.assert_frame_equal(stacked.intercepts, alone.intercepts, rtol=1e-10, atol=1e-10)
        pd.testing.assert_series_equal(stacked.alone, alone.alone)


@pytest.mark.parametrize("endogenous", [False, True])
def test_two_step_many_gives_each_data_set_its_own_two_step(endogenous):
    """Stacked step 2 (one batch of regressions) equals two_step on each data set alone."""
    options = (dict(exogenous_prices=False, price_instruments=("z",), regressors=("z", "x"))
               if endogenous else {})
    datasets = [simulate_nested_logit(J=60, M=15, seed=200 + i, endogenous=endogenous).data for i in range(4)]
    seeds = [5, 1, 1, 8]
    many = two_step_many(datasets, 3, n_starts=4, seeds=seeds, cov_type="unadjusted", constant=True, **options)
    for data, seed, stacked in zip(datasets, seeds, many):
        alone = two_step(data, 3, n_starts=4, seed=seed, cov_type="unadjusted", constant=True, **options)
        pd.testing.assert_series_equal(stacked.classification.labels, alone.classification.labels)
        np.testing.assert_array_equal(stacked.nest_ids, alone.nest_ids)
        # two_step solves its 2SLS by least squares (iv.tsls), the stack by QR (iv.tsls_many):
        # measured here, coefficients agree to 1e-12 and delta and xi to 3e-11 absolute (1e-8
        # relative where they are near zero); the tolerances leave a margin of at least 7.
        pd.testing.assert_frame_equal(stacked.estimates.table(), alone.estimates.table(), rtol=1e-10)
        np.testing.assert_allclose(stacked.estimates.iv.cov, alone.estimates.iv.cov, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(stacked.estimates.delta, alone.estimates.delta, rtol=1e-9, atol=2e-10)
        np.testing.assert_allclose(stacked.estimates.xi, alone.estimates.xi, rtol=1e-9, atol=2e-10)
        # And the known-nests regression itself, on the estimated nests.
        known = berry_regression(data["shares"], data["prices"], data[["x"]], stacked.nest_ids, data["market_ids"],
                                 np.column_stack([nest_instruments(data["x"], stacked.nest_ids, data["market_ids"])[0],
                                                  *([data["z"]] if endogenous else [])]),
                                 x_names=["x"], exogenous_prices=not endogenous, cov_type="unadjusted")
        pd.testing.assert_frame_equal(stacked.estimates.table(), known.table(), rtol=1e-12)


def test_two_step_many_bad_inputs():
    a = simulate_nested_logit(J=30, M=5, seed=0).data
    b = simulate_nested_logit(J=30, M=5, seed=1).data
    with pytest.raises(ValueError, match="Data set 1 has other .market, product. rows"):
        two_step_many([a, b.iloc[::-1]], 3, n_starts=2)
    with pytest.raises(ValueError, match="Data set 1 has other .market, product. rows"):
        two_step_many([a, b.iloc[1:]], 3, n_starts=2)
    with pytest.raises(ValueError, match="classifications has 1 entries for 2 data sets"):
        two_step_many([a, b], 3, classifications=[classify(a, 3, n_starts=2)])
    with pytest.raises(ValueError, match="'prices' has a value that is not finite in data set 1"):
        two_step_many([a, b.assign(prices=np.nan)], 3, classifications=[classify(a, 3, n_starts=2)] * 2)
    # A group that never has two products in a market: the message names the data set.
    lonely = classify(a, 3, n_starts=2)
    lonely.group_of[:] = 0
    lonely.group_of[1] = 1
    lonely.group_of[2:4] = 2
    with pytest.raises(ValueError, match="never has two products in the same market in data set 1"):
        two_step_many([a, a], 3, classifications=[classify(a, 3, n_starts=2), lonely])


def test_classify_many_bad_inputs():
    a = simulate_nested_logit(J=30, M=5, seed=0).data
    b = simulate_nested_logit(J=31, M=5, seed=1).data
    with pytest.raises(ValueError, match="Data set 1 has other product or market ids"):
        classify_many([a, b], 3, n_starts=2)
    with pytest.raises(ValueError, match="seeds has 1 entries for 2 data sets"):
        classify_many([a, a], 3, seeds=[0])
    with pytest.raises(ValueError, match="datasets is empty"):
        classify_many([], 3)
    with pytest.raises(ValueError, match="K must be a positive integer"):
        classify_many([a], 0)
    with pytest.raises(ValueError, match="shares must be strictly positive"):
        classify_many([a, a.assign(shares=0.0)], 3)


def test_reassignment_breaks_near_ties_by_the_lowest_group():
    """Step (b): costs tied to rounding (within TIE_RTOL of their scale) never decide a move."""
    from course_lib.nests.batched_gfe import _select

    labels = np.array([[2, 2, 2, 1]])  # one start, four products
    for last_bits in (1e-13, -1e-13):  # whichever way another machine's rounding goes
        costs = np.array([[5 + last_bits, 1.0, 4.0, 2.0],  # group 0
                          [7.0, 1 + last_bits, 2.0, 1.0],  # group 1
                          [5.0, 9.0, 3.0, 2.0]])[:, None, :]  # group 2; shape (K, S, J)
        own, new = _select(costs, labels, np.ones((1, 4)))
        np.testing.assert_array_equal(own, [[5.0, 9.0, 3.0, 1.0]])
        # 0 stays (its own group is tied with the cheapest), 1 joins the lower of two tied
        # groups, 2 moves to a group cheaper beyond rounding, 3 stays at its cheapest group.
        np.testing.assert_array_equal(new, [[2, 0, 1, 1]])
