"""Tests of the two-step estimator, cross-validation for K and the Monte Carlo of course_lib."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib import monte_carlo
from course_lib._checks import unique_inverse
from course_lib.nested_logit import berry_regression, nest_instruments
from course_lib.nests import (
    best_relabelling,
    classify,
    classify_many,
    fit_assignment,
    cross_validate,
    matched_share,
    one_standard_error_rule,
    simulate_nested_logit,
    two_step,
    two_step_many,
)


# ---------------------------------------------------------------------------------------
# Two-step estimator
# ---------------------------------------------------------------------------------------


def test_two_step_equals_berry_with_true_nests_when_classification_is_perfect():
    sim = simulate_nested_logit(J=200, M=40, seed=21)
    fit = two_step(sim.data, 3, n_starts=10)
    assert matched_share(fit.classification.labels, sim.nests) == 1.0
    d = sim.data
    truth = np.array([sim.beta_x, sim.beta_p, *sim.sigma])
    known = berry_regression(d["shares"], d["prices"], d["x"], d["nesting_ids"], d["market_ids"],
                             nest_instruments(d["x"], d["nesting_ids"], d["market_ids"], names=["x"])[0],
                             x_names=["x"], constant=False, exogenous_prices=True)
    # Canonical order puts the groups in the order of sigma, the true nests' order here.
    np.testing.assert_array_equal(fit.nest_ids, d["nesting_ids"].to_numpy())
    pd.testing.assert_frame_equal(fit.estimates.table(), known.table(), rtol=1e-12)
    table = fit.estimates.table()
    t = (table["estimate"].to_numpy() - truth) / table["std. error"].to_numpy()
    assert np.all(np.abs(t) < 3.5), t


def test_two_step_endogenous_prices_with_instrument():
    sim = simulate_nested_logit(J=200, M=40, seed=22, endogenous=True)
    fit = two_step(sim.data, 3, exogenous_prices=False, price_instruments="z", regressors=("z", "x"),
                   n_starts=10)
    assert matched_share(fit.classification.labels, sim.nests) == 1.0
    table = fit.estimates.table()
    truth = np.array([sim.beta_x, sim.beta_p, *sim.sigma])
    t = (table["estimate"].to_numpy() - truth) / table["std. error"].to_numpy()
    assert np.all(np.abs(t) < 3.5), t
    # Treating the endogenous price as exogenous biases alpha (corr(p, xi) > 0 in the design).
    naive = two_step(sim.data, 3, regressors=("z", "x"), n_starts=10)
    assert naive.estimates.alpha > fit.estimates.alpha + 5 * fit.estimates.alpha_se


def test_two_step_bad_inputs():
    d = simulate_nested_logit(J=30, M=5, seed=0, endogenous=True).data
    with pytest.raises(ValueError, match="price_instruments"):
        two_step(d, 3, exogenous_prices=False)
    with pytest.raises(ValueError, match="classify on exogenous regressors"):
        two_step(d, 3, exogenous_prices=False, price_instruments=("z",))
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['w'\]"):
        two_step(d, 3, characteristics=("w",))
    with pytest.raises(ValueError, match="K=30"):
        two_step(d, 30)


def test_two_step_on_a_given_classification():
    d = simulate_nested_logit(J=60, M=8, seed=5).data
    step1 = classify(d, 3, n_starts=4, seed=2)
    fresh = two_step(d, 3, n_starts=4, seed=2)
    given = two_step(d, 3, classification=step1)
    assert given.classification is step1
    pd.testing.assert_series_equal(given.estimates.iv.params, fresh.estimates.iv.params)
    with pytest.raises(ValueError, match="classification has K=3 groups; two_step was asked for K=2"):
        two_step(d, 2, classification=step1)


# ---------------------------------------------------------------------------------------
# Several data sets at once
# ---------------------------------------------------------------------------------------


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
        pd.testing.assert_frame_equal(stacked.estimates.table(), alone.estimates.table(), rtol=1e-12)
        np.testing.assert_allclose(stacked.estimates.iv.cov, alone.estimates.iv.cov, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(stacked.estimates.delta, alone.estimates.delta, rtol=1e-12)
        np.testing.assert_allclose(stacked.estimates.xi, alone.estimates.xi, rtol=1e-10, atol=1e-12)
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


# ---------------------------------------------------------------------------------------
# Assigning products to estimated groups; outside shares given
# ---------------------------------------------------------------------------------------


def test_assign_reproduces_the_classification_and_classifies_new_products():
    sim = simulate_nested_logit(J=250, M=30, seed=23)
    d = sim.data
    res = classify(d, 3, n_starts=10)
    labels, ssr = res.assign(d)
    pd.testing.assert_series_equal(labels, res.labels)  # a converged start: each product at its argmin
    assert ssr.to_numpy()[np.arange(len(labels)), labels.to_numpy()].sum() == pytest.approx(res.objective, rel=1e-9)
    # Fit on 200 products; the other 50 are assigned with the estimated coefficients.
    s0 = 1 - d.groupby("market_ids")["shares"].transform("sum")
    d = d.assign(outside_shares=s0)
    train, test = d[d["product_ids"] < 200], d[d["product_ids"] >= 200]
    new_labels, _ = classify(train, 3, n_starts=10).assign(test)
    assert matched_share(new_labels, sim.nests.loc[new_labels.index]) == 1.0


def test_outside_shares_column_gives_the_full_market_outcome():
    sim = simulate_nested_logit(J=40, M=6, seed=24)
    d = sim.data
    s0 = 1 - d.groupby("market_ids")["shares"].transform("sum")
    sub = d.assign(outside_shares=s0)[d["product_ids"] < 20]
    res = classify(sub, K=1, n_starts=2)
    y = np.log(sub["shares"] / sub["outside_shares"])
    X = np.column_stack([sub["prices"], sub["x"], pd.get_dummies(sub["market_ids"]).to_numpy(float)])
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(res.coefficients.iloc[0].to_numpy(), coef[:2], rtol=1e-10)
    # Without the column, the outside share of the subset would be wrong (larger).
    plain = classify(sub.drop(columns="outside_shares"), K=1, n_starts=2)
    assert not np.allclose(plain.intercepts.to_numpy(), res.intercepts.to_numpy())


def test_outside_shares_bad_values():
    d = simulate_nested_logit(J=10, M=3, seed=25).data
    s0 = 1 - d.groupby("market_ids")["shares"].transform("sum")
    bad = d.assign(outside_shares=s0)
    bad.loc[0, "outside_shares"] = 0.5 * bad.loc[0, "outside_shares"]
    with pytest.raises(ValueError, match="differs across rows of market 0"):
        classify(bad, 2)
    with pytest.raises(ValueError, match="must lie in"):
        classify(d.assign(outside_shares=0.0), 2)
    with pytest.raises(ValueError, match="exceeds one"):
        classify(d.assign(outside_shares=0.999), 2)


def test_intercept_only_classification():
    """The textbook GFE model y = lambda^k(j) + noise (no regressors) separates two groups."""
    rng = np.random.default_rng(26)
    J, M = 300, 30
    k = rng.integers(0, 2, J)
    y = np.array([0.0, 1.5])[k][:, None] + rng.standard_normal((J, M))
    s = np.exp(y) / (1 + np.exp(y).sum(axis=0))
    d = pd.DataFrame({"market_ids": np.repeat(np.arange(M), J), "product_ids": np.tile(np.arange(J), M),
                      "shares": s.T.ravel()})
    res = classify(d, 2, regressors=(), n_starts=6)
    assert res.coefficients.shape == (2, 0)
    assert matched_share(res.labels, k) == 1.0
    np.testing.assert_allclose(res.intercepts.mean().to_numpy(), [0.0, 1.5], atol=0.1)


def test_best_relabelling():
    true = np.array([0, 0, 1, 1, 2, 2, 2])
    est = np.array(["b", "b", "c", "c", "a", "a", "c"])
    assert best_relabelling(est, true) == {"b": 0, "c": 1, "a": 2}
    assert matched_share(est, true) == pytest.approx(6 / 7)


# ---------------------------------------------------------------------------------------
# Cross-validation for K
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------------------

_NUMBERS = ["matched", "beta_p", "beta_x", "sigma_1", "sigma_2", "sigma_3"]


def _assert_same_replications(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """The same replications computed in other stacks or processes: the matched shares (from the
    classifications) exactly, the estimates to rounding (a stack of regressions may add the terms
    of its matrix products in another order: identical in our measurements, and the same
    estimates differ across BLAS/SIMD kernels by at most 2e-13 relative)."""
    np.testing.assert_array_equal(a["matched"], b["matched"])
    np.testing.assert_allclose(a[_NUMBERS[1:]], b[_NUMBERS[1:]], rtol=1e-10, atol=0)


def test_replication_is_seeded_and_backend_free():
    a = monte_carlo.replication(100, 10, 3)
    b = monte_carlo.replication(100, 10, 3)
    assert {k: a[k] for k in _NUMBERS} == {k: b[k] for k in _NUMBERS}  # the same computation twice
    serial, _ = monte_carlo.run_cell(100, 10, replications=4, n_jobs=1, progress=False)
    parallel, _ = monte_carlo.run_cell(100, 10, replications=4, n_jobs=2, progress=False)
    _assert_same_replications(serial, parallel)
    _assert_same_replications(serial.loc[[3]], pd.DataFrame([a], index=[3]))
    # Replications computed together (stacked classifications) are the ones computed alone.
    together = pd.DataFrame(monte_carlo.run_replications(100, 10, [3, 0, 8], endogenous=True))
    alone = pd.DataFrame([monte_carlo.replication(100, 10, r, endogenous=True) for r in (3, 0, 8)])
    _assert_same_replications(together, alone)


def test_dask_backend_gives_the_same_replications():
    distributed = pytest.importorskip("dask.distributed", reason="dask[distributed] is pinned in requirements.txt")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None):
        reps, _ = monte_carlo.run_cell(100, 10, replications=3, n_jobs=2, backend="dask", progress=False)
    serial, _ = monte_carlo.run_cell(100, 10, replications=3, n_jobs=1, progress=False)
    _assert_same_replications(reps, serial)


@pytest.mark.parametrize("endogenous", [False, True])
def test_stored_monte_carlo_cell_reproduces(endogenous):
    """Re-run the smallest cell of each stored table: every replication and the summary row."""
    table, stored = monte_carlo.load_results(endogenous)
    reps, _ = monte_carlo.run_cell(100, 10, endogenous, replications=50, n_jobs=1, progress=False)
    cell = stored[(stored["J"] == 100) & (stored["M"] == 10)].reset_index(drop=True)
    assert len(cell) == 50
    # Matched shares (k / 100) are exact in the files; the estimates are stored to
    # monte_carlo.STORED_DIGITS = 8 significant digits, a relative error of at most 5e-8,
    # far above their rounding across machines (2e-13) and far below what a different
    # classification of a replication would change.
    np.testing.assert_array_equal(reps["matched"], cell["matched"])
    np.testing.assert_allclose(reps[_NUMBERS[1:]], cell[_NUMBERS[1:]], rtol=1e-7, atol=0)
    row = table[(table["J"] == 100) & (table["M"] == 10)].iloc[0]
    summary = monte_carlo.summarize(reps)
    np.testing.assert_allclose(summary.to_numpy(float), row[summary.index].to_numpy(float), rtol=1e-7, atol=0)


def test_stored_tables_are_complete():
    for endogenous in (False, True):
        table, reps = monte_carlo.load_results(endogenous)
        cells = set(zip(table["J"], table["M"]))
        assert cells == {(J, M) for J in monte_carlo.J_VALUES for M in monte_carlo.M_VALUES}
        assert (table["replications"] == 50).all() and len(reps) == 50 * 9
        assert reps[_NUMBERS].notna().all().all()


def test_slides_tables():
    slides = monte_carlo.load_slides_tables()
    assert len(slides) == 18
    row = slides[(slides["table"] == "exogenous") & (slides["J"] == 500) & (slides["M"] == 100)].iloc[0]
    assert row["runtime"] == "29:24" and row["runtime_s"] == 1764


# ---------------------------------------------------------------------------------------
# Step (a) for a given assignment; products alone in their group
# ---------------------------------------------------------------------------------------


def test_fit_assignment_reproduces_classify_and_runs_the_algorithm_by_hand():
    sim = simulate_nested_logit(J=120, M=15, seed=27)
    d = sim.data
    res = classify(d, 3, n_starts=6)
    again = fit_assignment(d, res.labels)
    assert again.objective == pytest.approx(res.objective, rel=1e-10)
    pd.testing.assert_frame_equal(again.coefficients, res.coefficients, rtol=1e-9)
    pd.testing.assert_frame_equal(again.intercepts, res.intercepts, rtol=1e-9, atol=1e-9)
    assert (res.alone == 0).all()
    # By hand from a random assignment: (a) fit, (b) reassign, until nothing moves.
    labels = pd.Series(np.random.default_rng(0).integers(0, 3, 120), index=res.labels.index)
    objectives = []
    for _ in range(50):
        step = fit_assignment(d, labels)
        objectives.append(step.objective)
        new, _ = step.assign(d)
        if new.equals(labels):
            break
        labels = new
    assert np.all(np.diff(objectives) <= 1e-9 * objectives[0])
    assert objectives[-1] >= res.objective * (1 - 1e-12)
    # Bad labels.
    with pytest.raises(ValueError, match="entries for 120 products"):
        fit_assignment(d, [0, 1])
    with pytest.raises(ValueError, match="Group 1 has no product"):
        fit_assignment(d, np.where(res.labels.to_numpy() == 1, 2, res.labels.to_numpy()))


def test_alone_counts_markets_where_a_product_is_alone_in_its_group():
    sim = simulate_nested_logit(J=40, M=6, seed=28)
    d = sim.data
    # Product 0 in group 3 by itself: alone in all 6 markets; group 3 is absent from none.
    labels = sim.nests.copy()
    labels.loc[0] = 3
    res = fit_assignment(d, labels)
    assert res.alone.loc[0] == 6 and (res.alone.drop(0) == 0).all()
    # A group of one product has no within variation: its slopes are exactly 0, not the
    # rounding noise of its (zero) within matrix, which differs between BLAS kernels and once
    # gave slopes of -4 here (the rank cutoff is relative to the sums the matrix comes from).
    assert (res.coefficients.loc[3] == 0).all()
    # Its residuals are exactly zero: the free fit the classify docstring warns about.
    _, ssr = res.assign(d)
    assert ssr.loc[0, 3] == pytest.approx(0.0, abs=1e-9)


def test_replication_with_unidentified_second_step_records_nan():
    """A replication whose estimated nests leave step 2 unidentified (a group that never has two
    products in one market) records NaN, and the other replications of its stack go on.

    The cases are unidentified by construction, not by a classification that rounding could
    change: four products in three non-empty groups leave at least one group with a single
    product; and a classification is given explicitly with a group of one product."""
    out = monte_carlo.replication(4, 10, 0, endogenous=True)
    assert np.isnan(out["beta_p"]) and np.isnan(out["beta_p_se"]) and np.isnan(out["sigma_1"])
    assert 0 < out["matched"] <= 1
    # In a stack: the second of three replications gets a classification with a lonely group.
    rs, options = [0, 1, 2], dict(exogenous_prices=False, price_instruments=("z",), regressors=("z", "x"))
    sims = [simulate_nested_logit(100, 10, seed=monte_carlo._seed(True, 100, 10, r), endogenous=True) for r in rs]
    classifications = classify_many([sim.columns for sim in sims], 3, n_starts=monte_carlo.N_STARTS, seeds=rs,
                                    regressors=("z", "x"))
    lonely = classify(sims[1].columns, 3, n_starts=1, seed=1, regressors=("z", "x"))
    lonely.group_of[:] = 0
    lonely.group_of[:50] = 1
    lonely.group_of[7] = 2  # product 7 alone in group 2
    rows = pd.DataFrame(monte_carlo._second_steps(rs, sims, [classifications[0], lonely, classifications[2]], options))
    assert rows.loc[1, ["beta_p", "beta_x", "beta_p_se"]].isna().all()
    assert rows.loc[1, ["sigma_1", "sigma_2", "sigma_3"]].isna().all() and 0 < rows.loc[1, "matched"] < 1
    # The others are the replications computed as usual (step 2 alone instead of stacked: to
    # rounding, at most 2e-13 relative across kernels and stacks; checked at 1e-10).
    usual = pd.DataFrame(monte_carlo.run_replications(100, 10, rs, endogenous=True))
    np.testing.assert_array_equal(rows.loc[[0, 2], "matched"], usual.loc[[0, 2], "matched"])
    np.testing.assert_allclose(rows.loc[[0, 2], _NUMBERS[1:]], usual.loc[[0, 2], _NUMBERS[1:]], rtol=1e-10)
    assert usual[_NUMBERS].notna().all().all()
    # Design settings pass through to the simulation.
    weak = monte_carlo.replication(100, 10, 0, endogenous=True, instrument_strength=0.3)
    assert weak["beta_p"] != monte_carlo.replication(100, 10, 0, endogenous=True)["beta_p"]


def test_a_dict_of_arrays_is_read_as_its_dataframe():
    """classify, classify_many, two_step and two_step_many accept a mapping of columns (the
    Monte Carlo's fast path) and give exactly what they give on the same data as a DataFrame;
    the simulation's DataFrame and Series are the lazily built views of its arrays."""
    sims = [simulate_nested_logit(J=40, M=6, seed=s, endogenous=True) for s in range(3)]
    for sim in sims:
        pd.testing.assert_frame_equal(sim.data, pd.DataFrame(sim.columns))
        assert np.array_equal(sim.nests.to_numpy(), sim.nest_of) and sim.nests.index.name == "product_ids"
    frames, dicts = [sim.data for sim in sims], [sim.columns for sim in sims]
    one_frame, one_dict = classify(frames[0], 3, n_starts=4), classify(dicts[0], 3, n_starts=4)
    assert np.array_equal(one_frame.group_of, one_dict.group_of) and one_frame.objective == one_dict.objective
    for f, d in zip(classify_many(frames, 3, n_starts=4), classify_many(dicts, 3, n_starts=4)):
        assert np.array_equal(f.group_of, d.group_of) and np.array_equal(f.objectives, d.objectives)
    options = dict(exogenous_prices=False, price_instruments=("z",), regressors=("z", "x"), n_starts=4)
    for f, d in zip(two_step_many(frames, 3, **options), two_step_many(dicts, 3, **options)):
        assert np.array_equal(f.estimates.iv.coefficients, d.estimates.iv.coefficients)
        assert np.array_equal(f.estimates.iv.cov, d.estimates.iv.cov)
    single = two_step(dicts[1], 3, seed=1, **options)
    assert np.array_equal(single.estimates.iv.coefficients,
                          two_step(frames[1], 3, seed=1, **options).estimates.iv.coefficients)
    # Bad mappings: a column of another length, a 2-D column, a missing column, not a table.
    short = dict(dicts[0], x=dicts[0]["x"][:-1])
    with pytest.raises(ValueError, match="1-D arrays of one length"):
        classify(short, 3, n_starts=2)
    with pytest.raises(ValueError, match="1-D arrays of one length"):
        classify(dict(dicts[0], x=dicts[0]["x"][:, None]), 3, n_starts=2)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['z'\] in data set 1"):
        two_step_many([dicts[0], {k: v for k, v in dicts[1].items() if k != "z"}], 3, **options)
    with pytest.raises(ValueError, match="must be a pandas DataFrame or a mapping"):
        classify([1, 2, 3], 3)
