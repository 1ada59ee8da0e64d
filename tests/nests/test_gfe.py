"""Tests of course_lib.nests.gfe (with steps and result): classify, fit_assignment, assign, and the
readable algorithm of steps (a) and (b) run by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib import nests
from course_lib.nests import (
    TIE_RTOL,
    classify,
    fit_assignment,
    matched_share,
    simulate_nested_logit,
)
from course_lib.nests import gfe, steps
from course_lib.nests.starts import random_start


# ---------------------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------------------


def test_classifier_recovers_true_nests():
    sim = simulate_nested_logit(J=200, M=50, seed=2)
    res = classify(sim.data, K=3, n_starts=10, seed=0)
    assert matched_share(res.labels, sim.nests) == 1.0
    # Canonical order by price slope: beta_p / sigma_k increasing, so sigma_k increasing.
    np.testing.assert_array_equal(res.labels.to_numpy(), sim.nests.to_numpy())
    slopes = res.coefficients["prices"].to_numpy()
    assert np.all(np.diff(slopes) > 0)
    np.testing.assert_allclose(slopes, -1 / sim.sigma, rtol=0.1)
    np.testing.assert_allclose(res.coefficients["x"], 1 / sim.sigma, rtol=0.1)
    # The intercepts are (sigma_k - 1) log IV_m^k.
    d = sim.data
    log_iv = (d.assign(a=sim.delta / sim.sigma[d["nesting_ids"]])
              .groupby(["market_ids", "nesting_ids"])["a"]
              .agg(lambda a: np.log(np.exp(a).sum())).unstack())
    truth = (sim.sigma - 1)[None, :] * log_iv.to_numpy()
    assert np.corrcoef(truth.ravel(), res.intercepts.to_numpy().ravel())[0, 1] > 0.99
    assert res.labels_for(d["product_ids"]).shape == (len(d),)


def test_classifier_with_instrument_on_endogenous_design():
    sim = simulate_nested_logit(J=150, M=50, seed=8, endogenous=True)
    res = classify(sim.data, K=3, n_starts=10, seed=0, regressors=("z", "x"))
    assert matched_share(res.labels, sim.nests) == 1.0
    assert list(res.coefficients.columns) == ["z", "x"]


def _drop_pairs_and_a_nest(data: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Drop 20% of product-market pairs at random and nest 1 from a quarter of the markets."""
    rng = np.random.default_rng(seed)
    keep = rng.random(len(data)) >= 0.2
    markets = np.unique(data["market_ids"])
    gone = rng.choice(markets, size=len(markets) // 4, replace=False)
    keep &= ~((data["nesting_ids"] == 1) & data["market_ids"].isin(gone)).to_numpy()
    return data[keep].reset_index(drop=True), gone


def test_classifier_handles_unbalanced_panel():
    sim = simulate_nested_logit(J=200, M=60, seed=1)
    data, gone = _drop_pairs_and_a_nest(sim.data, seed=1)
    res = classify(data, K=3, n_starts=10, seed=0)
    assert matched_share(res.labels, sim.nests) == 1.0
    # Nest 1 has no intercept in the markets it left, and one everywhere else.
    missing = res.intercepts[1].isna()
    assert set(missing[missing].index) == set(gone)
    assert not res.intercepts[[0, 2]].isna().to_numpy().any()
    # Same with shares recomputed among the products sold (the simulator's own option).
    sim2 = simulate_nested_logit(J=200, M=60, seed=3, missing=0.2, nest_exit=0.2)
    res2 = classify(sim2.data, K=3, n_starts=10, seed=0)
    assert matched_share(res2.labels, sim2.nests) == 1.0
    assert res2.intercepts.isna().to_numpy().any()


def test_objective_never_rises_and_more_starts_never_worse():
    # A hard draw (few markets, five nests): starts end at different local minima.
    sim = simulate_nested_logit(J=300, M=8, K=5, sigma=(0.2, 0.3, 0.45, 0.6, 0.8), seed=7)
    runs = {n: classify(sim.data, K=5, n_starts=n, seed=3) for n in (1, 4, 16)}
    # A start computed in a batch of 16 starts rounds its matrix products differently from one
    # computed in a batch of 4 (measured: objectives differ by at most 4e-16 times the total
    # sum of squares, 1e-15 of themselves): objectives are compared at a relative 1e-12, the
    # steps each start takes, which are discrete, exactly.
    assert runs[1].objective >= runs[4].objective * (1 - 1e-12)
    assert runs[4].objective >= runs[16].objective * (1 - 1e-12)
    # Same seed stream: the first starts are the same starts.
    np.testing.assert_array_equal(runs[16].iterations[:4], runs[4].iterations)
    np.testing.assert_allclose(runs[16].objectives[:4], runs[4].objectives, rtol=1e-12, atol=0)
    assert len(np.unique(np.round(runs[16].objectives, 6))) > 1
    for history in runs[16].histories:
        assert np.all(np.diff(history) <= 1e-9 * history[0])
    best = runs[16]
    assert best.objective == best.objectives[best.best_start]
    # The best start is the lowest-numbered start tied with the minimum (TIE_RTOL times the
    # total sum of squares): no earlier start is tied with it, none is lower beyond the tie.
    total = (np.log(sim.data["shares"] / (1 - sim.data.groupby("market_ids")["shares"].transform("sum")))
             .pipe(lambda y: ((y - y.mean()) ** 2).sum()) + 300)
    tied = best.objectives <= best.objectives.min() + TIE_RTOL * (best.objectives.min() + total)
    assert tied[best.best_start] and not tied[: best.best_start].any()
    assert np.bincount(best.labels, minlength=5).min() > 0  # no empty group


def test_canonical_order_is_deterministic():
    sim = simulate_nested_logit(J=120, M=30, seed=9)
    a = classify(sim.data, K=3, n_starts=6, seed=1)
    b = classify(sim.data, K=3, n_starts=6, seed=2)
    # Rows shuffled and product ids renamed to strings: same groups, same labels.
    shuffled = sim.data.sample(frac=1.0, random_state=0).reset_index(drop=True)
    shuffled["product_ids"] = "car" + shuffled["product_ids"].astype(str).str.zfill(3)
    c = classify(shuffled, K=3, n_starts=6, seed=1)
    pd.testing.assert_series_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.labels.to_numpy(), c.labels.to_numpy())
    assert np.all(np.diff(a.coefficients["prices"]) > 0)
    np.testing.assert_allclose(a.objective, c.objective, rtol=1e-10)


def test_k_equal_one_is_pooled_regression():
    sim = simulate_nested_logit(J=30, M=6, seed=10)
    res = classify(sim.data, K=1, n_starts=3, seed=0)
    assert set(res.labels) == {0}
    d = sim.data
    s0 = 1 - d.groupby("market_ids")["shares"].transform("sum")
    y = np.log(d["shares"] / s0)
    X = np.column_stack([d["prices"], d["x"], pd.get_dummies(d["market_ids"]).to_numpy(float)])
    coef, ssr, *_ = np.linalg.lstsq(X, y, rcond=None)
    np.testing.assert_allclose(res.coefficients.iloc[0].to_numpy(), coef[:2], rtol=1e-9)
    np.testing.assert_allclose(res.intercepts[0].to_numpy(), coef[2:], rtol=1e-9, atol=1e-9)
    assert res.objective == pytest.approx(ssr[0], rel=1e-9)


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


@pytest.mark.parametrize("K, match", [(0, "K must be a positive"), (12, "K=12"), (2.5, "K must")])
def test_bad_K(small, K, match):
    with pytest.raises(ValueError, match=match):
        classify(small, K=K)


# ---------------------------------------------------------------------------------------
# Assigning products to estimated groups; step (a) for a given assignment
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


# ---------------------------------------------------------------------------------------
# The readable algorithm: steps (a) and (b) of course_lib.nests.steps by hand
# ---------------------------------------------------------------------------------------


def test_the_algorithm_by_hand_is_lloyd_and_the_steps_are_the_formulas():
    """Steps (a) and (b), alternated by hand from a random start until no product moves, are
    gfe.lloyd: the objective never rises, and the run ends at lloyd's labels and objective.
    On an unbalanced panel with a group absent from a market, steps.costs is the direct sum of
    squared residuals and steps.fit_groups is least squares on each group's observed pairs."""
    data = simulate_nested_logit(J=40, M=8, seed=3).columns
    panel = nests.build_panel(data, ("prices", "x"))
    J = len(panel.product_ids)
    start = random_start(np.random.default_rng(0), J, 3)
    labels, objectives = start.copy(), []
    for _ in range(100):
        beta, lam = steps.fit_groups(panel, labels, 3)  # step (a)
        c = steps.costs(panel, beta, lam)  # (J, K)
        objectives.append(c[np.arange(J), labels].sum())
        new = steps.reassign(c, labels, panel.product_scale)  # step (b)
        if (new == labels).all():
            break
        labels = new
    assert (new == labels).all() and len(objectives) > 2  # converged, after products moved
    # Never rises (up to the rounding of the sums, TIE_RTOL times their size).
    assert np.all(np.diff(objectives) <= TIE_RTOL * panel.total_scale)
    run = gfe.lloyd(panel, start, 3)
    assert run.converged
    np.testing.assert_array_equal(labels, run.labels)
    np.testing.assert_allclose(objectives[-1], run.objective, rtol=1e-12)

    # An unbalanced panel; group 2 holds two products that are both absent from market 0.
    sim = simulate_nested_logit(J=40, M=8, seed=3, missing=0.2)
    panel = nests.build_panel(sim.columns, ("prices", "x"))
    J, M = panel.observed.shape
    labels = np.random.default_rng(1).integers(0, 2, J)
    labels[np.flatnonzero(panel.observed[:, 0] == 0)[:2]] = 2
    assert (np.bincount(labels) >= 2).all() and panel.observed.sum() < J * M
    beta, lam = steps.fit_groups(panel, labels, 3)
    assert np.isnan(lam[0, 2]) and np.isnan(lam).sum() == 1
    # Costs: for each product and group, the sum over the product's markets; where the group
    # has no product (group 2 in market 0) its intercept is its mean over the other markets.
    direct = np.zeros((J, 3))
    for j in range(J):
        for k in range(3):
            lam_k = np.where(np.isnan(lam[:, k]), np.nanmean(lam[:, k]), lam[:, k])
            sold = panel.observed[j] == 1
            direct[j, k] = np.sum((panel.y[j, sold] - beta[k] @ panel.w[:, j, sold] - lam_k[sold]) ** 2)
    np.testing.assert_allclose(steps.costs(panel, beta, lam), direct, rtol=1e-12)
    # Step (a): y on [w, market dummies] by least squares over each group's observed pairs.
    for k in range(3):
        j, m = np.nonzero(panel.observed * (labels == k)[:, None])
        markets = np.unique(m)
        X = np.column_stack([panel.w[:, j, m].T, (m[:, None] == markets).astype(float)])
        coef = np.linalg.lstsq(X, panel.y[j, m], rcond=None)[0]
        np.testing.assert_allclose(beta[k], coef[:2], rtol=1e-9)
        np.testing.assert_allclose(lam[markets, k], coef[2:], rtol=1e-9, atol=1e-9)


def test_reassign_keeps_near_ties_and_moves_to_the_lowest_cheapest_group():
    """Step (b) on costs written by hand. Costs within TIE_RTOL times (|cost| + scale) of each
    other are tied: a product whose own group is tied with the cheapest stays; one that another
    group fits better beyond the tie moves to the lowest-numbered group tied with the cheapest;
    a group left empty takes the worst-fitted product of a group with more than one."""
    scale = np.full(6, 10.0)  # the size of each product's sums
    tie = TIE_RTOL * (3.0 + 10.0)  # the width of a tie at a cost of 3
    labels = np.array([0, 0, 1, 1, 2, 2])
    for sign in (1.0, -1.0):  # whichever way another machine's rounding goes
        costs = np.array([
            [3.0, 3.0 - sign * 0.5 * tie, 8.0],  # 0: group 1 within a tie of its own group 0: stays
            [3.0, 3.0 - (2 - sign * 0.25) * tie, 3.0 - (2 + sign * 0.25) * tie],  # 1: 1 and 2 tied, 2 ties below 0: to 1
            [8.0, 4.0, 9.0],  # 2: stays in group 1
            [8.0, 5.0, 9.0],  # 3: stays in group 1, its worst-fitted product
            [1.0, 5.0, 7.0],  # 4: to group 0
            [6.0, 2.0, 9.0],  # 5: to group 1; group 2 is left empty
        ])
        assert costs[0, 0] - costs[0].min() < tie < costs[1, 0] - costs[1].min()
        new = steps.reassign(costs, labels, scale)
        # After the moves, [0, 1, 1, 1, 0, 1]: group 2 takes product 3, the largest own cost (5).
        np.testing.assert_array_equal(new, [0, 1, 1, 2, 0, 1])
        np.testing.assert_array_equal(labels, [0, 0, 1, 1, 2, 2])  # the input is not changed


def test_residuals_written_out_and_summing_to_the_objective():
    """GFEResult.residuals is y - beta^g'w - lambda^g_m row by row (written out here), its
    squares sum to the objective at the estimated groups, and a group absent from a market
    gives NaN there."""
    sim = simulate_nested_logit(J=60, M=12, seed=4, missing=0.2, nest_exit=0.3)
    data = sim.data
    res = classify(data, K=3, n_starts=5, seed=0)
    e = res.residuals(data)
    assert np.isclose(e @ e, res.objective, rtol=1e-10)
    inside = data.groupby("market_ids")["shares"].transform("sum").to_numpy()
    y = np.log(data["shares"].to_numpy()) - np.log1p(-inside)
    for g in range(3):
        by_hand = (y - data[["prices", "x"]].to_numpy() @ res.slopes[g]
                   - res.intercepts[g].loc[data["market_ids"]].to_numpy())
        np.testing.assert_allclose(res.residuals(data, np.full(len(data), g)), by_hand,
                                   rtol=1e-12, atol=1e-12, equal_nan=True)
    absent = res.intercepts.isna().to_numpy()
    assert absent.any()
    m, g = (int(a[0]) for a in np.nonzero(absent))
    rows = (data["market_ids"] == res.intercepts.index[m]).to_numpy()
    assert np.isnan(res.residuals(data, np.full(len(data), g))[rows]).all()
    # With the outside share given as a column, y uses it.
    shifted = data.assign(outside_shares=0.5 * (1 - inside))
    np.testing.assert_allclose(res.residuals(shifted) - e, np.log(2.0), rtol=1e-10)


def test_assign_takes_products_seen_in_one_market():
    """An entrant seen once is assigned on its one market: its SSR under each group is its
    one squared residual (GFEResult.residuals), and the cheapest group wins; classify itself
    still refuses such a product."""
    sim = simulate_nested_logit(J=120, M=15, seed=6)
    d = sim.data
    res = classify(d[d["product_ids"] < 100], 3, n_starts=5, seed=0)
    once = d[(d["product_ids"] >= 100) & (d["market_ids"] == 3)]
    labels, ssr = res.assign(once)
    assert len(labels) == 20
    e = np.column_stack([res.residuals(once, np.full(len(once), g)) for g in range(3)])
    np.testing.assert_allclose(ssr.to_numpy(), e ** 2, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(labels.to_numpy(), (e ** 2).argmin(axis=1))
    with pytest.raises(ValueError, match="seen in 1 market"):
        classify(pd.concat([d[d["product_ids"] < 100], once]), 3, n_starts=2)
