"""Tests of course_lib.nests: the slides' simulation design and the GFE classifier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.nested_logit import nested_logit_inversion
from course_lib.nests import (
    TIE_RTOL,
    classify,
    matched_share,
    simulate_nested_logit,
)


# ---------------------------------------------------------------------------------------
# Simulation
# ---------------------------------------------------------------------------------------


def test_simulated_shares_invert_to_the_true_delta():
    """The simulator's shares come from the nested logit with its true nests and sigma: the
    closed-form inversion gives back its delta (a check of the wiring: nests, sigma order,
    market ids), on a balanced and on an unbalanced panel."""
    for options in ({}, {"missing": 0.2, "nest_exit": 0.2}):
        sim = simulate_nested_logit(J=60, M=20, seed=4, **options)
        d = sim.data
        sigma = dict(enumerate(sim.sigma))
        delta = nested_logit_inversion(d["shares"], d["nesting_ids"], sigma, d["market_ids"])
        np.testing.assert_allclose(delta, sim.delta, atol=1e-10)


def test_simulation_reproduces_the_slides_design_moments():
    """Many nests so the K group means have a sampling distribution to compare with."""
    K = 4000
    sim = simulate_nested_logit(J=12000, M=2, K=K, sigma=np.full(K, 0.5), seed=11)
    mu = sim.group_means
    n = K
    # corr 0.3, unit variances, zero means: 4 standard errors.
    assert abs(np.corrcoef(mu.T)[0, 1] - 0.3) < 4 * (1 - 0.09) / np.sqrt(n)
    np.testing.assert_allclose(mu.var(axis=0), 1.0, atol=4 * np.sqrt(2 / n))
    np.testing.assert_allclose(mu.mean(axis=0), 0.0, atol=4 / np.sqrt(n))
    d = sim.data
    nest = d["nesting_ids"].to_numpy()
    dev_p = d["prices"].to_numpy() - mu[nest, 0]
    dev_x = d["x"].to_numpy() - mu[nest, 1]
    N = len(d)
    assert N == 12000 * 2
    for dev, var in ((dev_p, 1.0), (dev_x, 1.0), (sim.xi, 0.5)):
        assert abs(dev.var() - var) < 4 * var * np.sqrt(2 / N)
        assert abs(dev.mean()) < 4 * np.sqrt(var / N)
    c = np.corrcoef([dev_p, dev_x, sim.xi])
    assert np.all(np.abs(c[np.triu_indices(3, 1)]) < 4 / np.sqrt(N))
    # Nests uniform on {0, ..., K-1}.
    counts = np.bincount(sim.nests, minlength=K)
    assert counts.sum() == 12000 and abs(counts.mean() - 3) < 1e-12
    # delta = beta_p p + beta_x x + xi, and the shares invert to the slides' key equation.
    np.testing.assert_allclose(sim.delta, -d["prices"] + d["x"] + sim.xi, rtol=1e-12, atol=1e-12)


def test_simulation_default_is_the_slides_design_and_is_seeded():
    sim = simulate_nested_logit(J=60, M=5, seed=4)
    again = simulate_nested_logit(J=60, M=5, seed=4)
    pd.testing.assert_frame_equal(sim.data, again.data)
    assert list(sim.data.columns) == ["market_ids", "product_ids", "shares", "prices", "x", "nesting_ids"]
    np.testing.assert_array_equal(sim.sigma, [0.2, 0.3, 0.6])
    assert (sim.beta_p, sim.beta_x) == (-1.0, 1.0)
    assert len(sim.data) == 60 * 5  # balanced
    totals = sim.data.groupby("market_ids")["shares"].sum()
    assert np.all((totals > 0) & (totals < 1))
    # Key observation: log(s_j/s_0) - delta_j/sigma_k is the same within a nest and market.
    d = sim.data
    s0 = 1 - d.groupby("market_ids")["shares"].transform("sum")
    resid = np.log(d["shares"] / s0) - sim.delta / sim.sigma[d["nesting_ids"]]
    spread = resid.groupby([d["market_ids"], d["nesting_ids"]]).agg(lambda r: r.max() - r.min())
    assert spread.max() < 1e-9


def test_endogenous_design():
    sim = simulate_nested_logit(J=2000, M=20, seed=5, endogenous=True)
    d = sim.data
    assert "z" in d.columns
    nest = d["nesting_ids"].to_numpy()
    p_dev = d["prices"].to_numpy() - sim.group_means[nest, 0]
    N = len(d)
    se = 4 / np.sqrt(N)
    assert abs(p_dev.var() - 1.0) < 4 * np.sqrt(2 / N)
    assert abs(np.corrcoef(p_dev, sim.xi)[0, 1] - 0.5 * np.sqrt(0.5)) < se  # endogenous
    assert abs(np.corrcoef(d["z"], sim.xi)[0, 1]) < se  # valid
    assert abs(np.corrcoef(d["z"], p_dev)[0, 1] - np.sqrt(0.5)) < se  # relevant


def test_unbalanced_simulation_drops_pairs_and_nests():
    sim = simulate_nested_logit(J=90, M=30, seed=6, missing=0.2, nest_exit=0.2)
    d = sim.data
    assert 0.5 * 90 * 30 < len(d) < 0.75 * 90 * 30
    present = d.groupby(["market_ids", "nesting_ids"]).size().unstack(fill_value=0)
    assert (present == 0).to_numpy().any()  # some nest absent from some market
    totals = d.groupby("market_ids")["shares"].sum()
    assert np.all(totals < 1)


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


# ---------------------------------------------------------------------------------------
# matched_share
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    return simulate_nested_logit(J=12, M=4, seed=0).data


@pytest.mark.parametrize("K, match", [(0, "K must be a positive"), (12, "K=12"), (2.5, "K must")])
def test_bad_K(small, K, match):
    with pytest.raises(ValueError, match=match):
        classify(small, K=K)


def test_bad_shares(small):
    d = small.copy()
    d.loc[5, "shares"] = np.nan
    with pytest.raises(ValueError, match=r"product 5 in market 0 is not finite"):
        classify(d, K=2)
    d = small.copy()
    d.loc[14, "shares"] = 0.0
    with pytest.raises(ValueError, match=r"product 2 in market 1 is 0"):
        classify(d, K=2)
    d = small.copy()
    d.loc[d["market_ids"] == 3, "shares"] = 0.2
    with pytest.raises(ValueError, match=r"market 3 sum to 2\.4"):
        classify(d, K=2)


def test_product_in_one_market(small):
    d = small[~((small["product_ids"] == 7) & (small["market_ids"] > 0))]
    with pytest.raises(ValueError, match=r"Product 7 is seen in 1 market"):
        classify(d, K=2)


def test_bad_columns_and_rows(small):
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['z'\]"):
        classify(small, K=2, regressors=("z", "x"))
    with pytest.raises(ValueError, match=r"Product 3 appears 2 times in market 0"):
        classify(pd.concat([small, small.iloc[[3]]]), K=2)
    d = small.copy()
    d.loc[2, "prices"] = np.inf
    with pytest.raises(ValueError, match=r"Regressor 'prices' of product 2 in market 0"):
        classify(d, K=2)
    with pytest.raises(ValueError, match="n_starts"):
        classify(small, K=2, n_starts=0)
    with pytest.raises(ValueError, match="DataFrame"):
        classify(small.to_numpy(), K=2)


def test_mismatched_shapes():
    with pytest.raises(ValueError, match="Mismatched lengths"):
        matched_share([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="sigma has 2 entries for K=3"):
        simulate_nested_logit(10, 3, K=3, sigma=(0.2, 0.3))
    with pytest.raises(ValueError, match=r"sigma must lie in \(0, 1\]"):
        simulate_nested_logit(10, 3, sigma=(0.2, 0.3, 1.5))


def test_no_empty_groups_moves_the_worst_fitted_product_of_a_shared_group():
    from course_lib.nests import _no_empty_groups

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


def test_reassignment_breaks_near_ties_by_the_lowest_group():
    """Step (b): costs tied to rounding (within TIE_RTOL of their scale) never decide a move."""
    from course_lib.nests import _select

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
