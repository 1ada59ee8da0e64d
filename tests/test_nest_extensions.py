"""Tests of course_lib.nest_extensions: Frechet errors, consumer types, two-level nests, one step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

from course_lib import nest_extensions as ne
from course_lib.nested_logit import nested_logit_inversion, nested_logit_shares, within_nest_shares
from course_lib.nests import best_relabelling, classify, matched_share, simulate_nested_logit


def z_scores(frequencies, probabilities, n):
    return (frequencies - probabilities) / np.sqrt(probabilities * (1 - probabilities) / n)


# ---------------------------------------------------------------------------------------
# GEV shocks
# ---------------------------------------------------------------------------------------


def test_gev_shocks_one_level_moments_and_joint_cdf():
    """Gumbel marginals (mean Euler's constant, variance pi^2/6), correlation 1 - sigma^2
    within a nest and 0 across, and the joint cdf exp(-(e^{-a/s} + e^{-b/s})^s)."""
    n = 200_000
    eps = ne.gev_shocks(n, [0, 0, 1, 1], [0.4, 0.8], seed=1)
    assert eps.shape == (n, 5)
    np.testing.assert_allclose(eps.mean(axis=0), np.euler_gamma, atol=0.02)
    np.testing.assert_allclose(eps.var(axis=0), np.pi**2 / 6, rtol=0.03)
    c = np.corrcoef(eps.T)
    np.testing.assert_allclose([c[1, 2], c[3, 4]], [1 - 0.4**2, 1 - 0.8**2], atol=0.01)
    assert abs(c[1, 3]) < 0.01 and abs(c[0, 1]) < 0.01
    a, b, s = 0.3, 1.1, 0.4
    freq = np.mean((eps[:, 1] <= a) & (eps[:, 2] <= b))
    cdf = np.exp(-(np.exp(-a / s) + np.exp(-b / s)) ** s)
    assert abs(z_scores(freq, cdf, n)) < 4.5


def test_gev_shocks_two_levels_choices_match_two_level_shares():
    """Consumers maximising delta + two-level GEV shocks choose with two_level_shares."""
    delta = np.array([0.5, -0.2, 0.1, 0.3, -0.4, 0.0])
    lower = np.array([0, 0, 1, 2, 2, 3])
    upper = np.array([0, 0, 0, 1, 1, 1])
    sl, su = np.array([0.3, 0.6, 0.4, 0.9]), np.array([0.7, 0.95])
    n = 300_000
    eps = ne.gev_shocks(n, lower, sl, seed=2, upper_ids=upper, sigma_upper=su)
    choice = np.argmax(eps + np.r_[0.0, delta], axis=1)
    freq = np.bincount(choice, minlength=7) / n
    s = ne.two_level_shares(delta, lower, upper, sl, su)
    probs = np.r_[1 - s.sum(), s]
    assert np.abs(z_scores(freq, probs, n)).max() < 4.5
    c = np.corrcoef(eps[:, 1:].T)
    # Same lower nest: 1 - sigma_k^2; same upper nest, different lower nests: 1 - sigma_n^2.
    assert abs(c[0, 1] - (1 - 0.3**2)) < 0.01 and abs(c[0, 2] - (1 - 0.7**2)) < 0.01
    assert abs(c[0, 3]) < 0.01


def test_gev_shocks_bad_inputs():
    with pytest.raises(ValueError, match="n must be"):
        ne.gev_shocks(0, [0], 0.5)
    with pytest.raises(ValueError, match=r"sigma\[1\]"):
        ne.gev_shocks(5, [0, 1], [0.5, 1.5])
    with pytest.raises(ValueError, match="exceeds its upper"):
        ne.gev_shocks(5, [0, 1], [0.9, 0.5], upper_ids=[0, 0], sigma_upper=0.6)
    with pytest.raises(ValueError, match="more than one upper"):
        ne.gev_shocks(5, [0, 0], 0.5, upper_ids=[0, 1], sigma_upper=[0.6, 0.6])
    with pytest.raises(ValueError, match="without upper_ids"):
        ne.gev_shocks(5, [0, 0], 0.5, sigma_upper=0.6)


# ---------------------------------------------------------------------------------------
# Frechet
# ---------------------------------------------------------------------------------------


def test_frechet_shares_closed_forms():
    delta = np.array([0.5, 2.0, 1.2, 0.8])
    theta = 1.7
    # One nest with sigma = 1: the multinomial logit in theta log delta, delta^theta / (1 + sum).
    s = ne.frechet_shares(delta, [0, 0, 0, 0], 1.0, theta)
    np.testing.assert_allclose(s, delta**theta / (1 + np.sum(delta**theta)), rtol=1e-13)
    # Nested: the formula with sums over the own nest and the outside good's 1.
    nest, sigma = np.array([0, 0, 1, 1]), np.array([0.4, 0.7])
    iv = np.array([np.sum(delta[nest == k] ** (theta / sigma[k])) for k in range(2)])
    expected = delta ** (theta / sigma[nest]) * iv[nest] ** (sigma[nest] - 1) / (1 + np.sum(iv**sigma))
    np.testing.assert_allclose(ne.frechet_shares(delta, nest, sigma, theta), expected, rtol=1e-12)


def test_frechet_choices_match_shares_and_differ_from_additive_utility():
    """Consumers maximising delta * Frechet choose with frechet_shares; delta + Frechet does not."""
    delta = np.array([0.6, 1.5, 1.0, 0.9])
    nest, sigma, theta = np.array([0, 0, 1, 1]), np.array([0.3, 0.8]), 2.0
    n = 200_000
    frechet = np.exp(ne.gev_shocks(n, nest, sigma, seed=3) / theta)
    probs = ne.frechet_shares(delta, nest, sigma, theta)
    probs = np.r_[1 - probs.sum(), probs]
    mult = np.bincount(np.argmax(frechet * np.r_[1.0, delta], axis=1), minlength=5) / n
    add = np.bincount(np.argmax(frechet + np.r_[1.0, delta], axis=1), minlength=5) / n
    assert np.abs(z_scores(mult, probs, n)).max() < 4.5
    assert np.abs(z_scores(add, probs, n)).max() > 20


def test_frechet_shares_bad_inputs():
    with pytest.raises(ValueError, match=r"delta\[1\] is 0"):
        ne.frechet_shares([1.0, 0.0], [0, 0], 0.5, 2.0)
    with pytest.raises(ValueError, match="theta"):
        ne.frechet_shares([1.0, 2.0], [0, 0], 0.5, -1.0)


def test_simulate_frechet_inverts_to_theta_log_delta():
    sim = ne.simulate_frechet(30, 5, seed=1)
    d = sim.data
    sigma = dict(enumerate(sim.truth["sigma"]))
    v = nested_logit_inversion(d["shares"], d["nesting_ids"], sigma, d["market_ids"])
    np.testing.assert_allclose(v, sim.truth["theta"] * np.log(sim.truth["delta"]), atol=1e-9)
    g = sim.truth["gamma"]
    np.testing.assert_allclose(sim.truth["delta"], (g[0] + g[1] * d["x"]) * np.exp(sim.truth["xi"]), rtol=1e-12)
    with pytest.raises(ValueError, match="gamma"):
        ne.simulate_frechet(10, 2, gamma=(-1.0, 1.0))


def test_estimate_frechet_recovers_ratio_nests_theta_gamma_sigma():
    sim = ne.simulate_frechet(90, 30, seed=3)
    res = ne.estimate_frechet(sim.data, 3)
    assert matched_share(res.classification.labels, sim.nests) == 1.0
    assert not res.at_boundary
    assert abs(res.ratio - sim.truth["ratio"]) < 0.1
    assert abs(res.theta - sim.truth["theta"]) < 0.15
    np.testing.assert_allclose(res.gamma, sim.truth["gamma"], rtol=0.1)
    relabel = best_relabelling(res.classification.labels, sim.nests)
    sigma_true = np.array([sim.truth["sigma"][relabel[k]] for k in range(3)])
    np.testing.assert_allclose(res.sigma.to_numpy(), sigma_true, atol=0.05)
    # The profile is minimised near the estimate and the estimate beats every grid point.
    assert res.classification.objective <= res.profile.min() + 1e-9
    with pytest.raises(ValueError, match="lacks the column"):
        ne.estimate_frechet(sim.data.drop(columns="x"), 3)
    with pytest.raises(ValueError, match="ratio_grid"):
        ne.estimate_frechet(sim.data, 3, ratio_grid=[1.0, 2.0])


# ---------------------------------------------------------------------------------------
# Consumer types
# ---------------------------------------------------------------------------------------


def test_simulate_types_each_type_is_a_nested_logit():
    sim = ne.simulate_types(20, 3, seed=2)
    d = sim.data
    sigma = dict(enumerate(sim.truth["sigma"]))
    for t in range(2):
        rows = d["type_ids"] == t
        delta = nested_logit_inversion(d.loc[rows, "shares"], d.loc[rows, "nesting_ids"], sigma,
                                       d.loc[rows, "market_ids"])
        np.testing.assert_allclose(delta, sim.truth["delta"][t], atol=1e-10)
    np.testing.assert_allclose(sim.truth["delta"][1] - sim.truth["delta"][0],
                               (sim.truth["beta_p"][1] - sim.truth["beta_p"][0]) * sim.aggregate["prices"], atol=1e-12)
    w = sim.truth["weights"]
    np.testing.assert_allclose(sim.aggregate["shares"],
                               w[0] * d.loc[d.type_ids == 0, "shares"].to_numpy()
                               + w[1] * d.loc[d.type_ids == 1, "shares"].to_numpy())


def test_type_classifications_recover_the_nests():
    sim = ne.simulate_types(60, 20, seed=4)
    by_type = ne.classify_by_type(sim.data, 3)
    assert set(by_type) == {0, 1}
    assert all(matched_share(r.labels, sim.nests) == 1.0 for r in by_type.values())
    joint = ne.classify_types_jointly(sim.data, 3)
    assert matched_share(joint.labels, sim.nests) == 1.0
    # Slopes beta_p^t / sigma_k and beta_x / sigma_k, groups ordered by the type-0 price slope.
    sigma = np.sort(sim.truth["sigma"])
    expected = np.column_stack([sim.truth["beta_p"][0] / sigma, sim.truth["beta_p"][1] / sigma,
                                sim.truth["beta_x"] / sigma])
    assert list(joint.coefficients.columns) == ["prices[type=0]", "prices[type=1]", "x"]
    np.testing.assert_allclose(joint.coefficients.to_numpy(), expected, rtol=0.25)
    # xi is common to the types, so the gap between the types' price slopes has no sampling error.
    gap = joint.coefficients.iloc[:, 1] - joint.coefficients.iloc[:, 0]
    np.testing.assert_allclose(gap, expected[:, 1] - expected[:, 0], rtol=1e-6)


def test_differencing_types_removes_xi_exactly():
    """With xi common to the types, the type difference has no error: few markets suffice and
    the slopes are (beta_p^1 - beta_p^0) / sigma_k to rounding."""
    sim = ne.simulate_types(60, 3, seed=5)
    res = ne.classify_types_jointly(sim.data, 3, difference=True)
    assert matched_share(res.labels, sim.nests) == 1.0
    assert res.objective < 1e-8
    gap = sim.truth["beta_p"][1] - sim.truth["beta_p"][0]
    np.testing.assert_allclose(res.coefficients.iloc[:, 0].to_numpy(), gap / np.sort(sim.truth["sigma"]), rtol=1e-8)


def test_type_classification_bad_inputs():
    sim = ne.simulate_types(20, 3, seed=2)
    with pytest.raises(ValueError, match="type_ids"):
        ne.classify_by_type(sim.data.drop(columns="type_ids"), 3)
    one = sim.data[sim.data.type_ids == 0]
    with pytest.raises(ValueError, match="at least two types"):
        ne.classify_types_jointly(one, 3, difference=True)
    with pytest.raises(ValueError, match="not among the regressors"):
        ne.classify_types_jointly(sim.data, 3, type_specific=("z",))
    with pytest.raises(ValueError, match="weights"):
        ne.simulate_types(10, 2, weights=(0.2, 0.2))


# ---------------------------------------------------------------------------------------
# Two-level nests
# ---------------------------------------------------------------------------------------


def test_two_level_shares_reduce_to_one_level():
    sim = simulate_nested_logit(12, 3, K=4, sigma=(0.3, 0.5, 0.7, 0.9), seed=3)
    d = sim.data
    lower = d["nesting_ids"].to_numpy()
    one = nested_logit_shares(sim.delta, lower, dict(enumerate(sim.sigma)), d["market_ids"])
    # Upper nests with sigma_n = 1 add nothing.
    s = ne.two_level_shares(sim.delta, lower, lower // 2, sim.sigma[np.unique(lower)], 1.0, d["market_ids"])
    np.testing.assert_allclose(s, one, rtol=1e-12)
    # Each lower nest alone in its upper nest: sigma_n cancels (IV_n^{sigma_n} = IV_k^{sigma_k}).
    s = ne.two_level_shares(sim.delta, lower, lower, sim.sigma[np.unique(lower)], 0.95, d["market_ids"])
    np.testing.assert_allclose(s, one, rtol=1e-12)


def test_two_level_log_share_ratio_and_berry_identity():
    """log(s_j/s_0) = delta_j/sigma_k + (sigma_k/sigma_n - 1) log IV_k + (sigma_n - 1) log IV_n, and
    log(s_j/s_0) = delta_j + (1 - sigma_k) log s_{j|k} + (1 - sigma_n) log s_{k|n}, exactly."""
    sim = ne.simulate_two_level(40, 4, seed=1)
    d = sim.data
    sl, su, up = sim.truth["sigma_lower"], sim.truth["sigma_upper"], sim.truth["upper_of_lower"]
    k, m, s, delta = d["nesting_ids"].to_numpy(), d["market_ids"].to_numpy(), d["shares"].to_numpy(), sim.truth["delta"]
    n = up[k]
    frame = pd.DataFrame({"m": m, "k": k, "n": n, "v": delta / sl[k], "s": s})
    log_iv_k = frame.groupby(["m", "k"])["v"].transform(logsumexp).to_numpy()
    cells = frame.assign(w=sl[k] / su[n] * log_iv_k).drop_duplicates(["m", "k"])
    log_iv_n = cells.groupby(["m", "n"])["w"].apply(logsumexp)
    log_iv_n = log_iv_n.loc[list(zip(m, n))].to_numpy()
    y = np.log(s) - np.log(1 - frame.groupby("m")["s"].transform("sum").to_numpy())
    lam = (sl[k] / su[n] - 1) * log_iv_k + (su[n] - 1) * log_iv_n
    np.testing.assert_allclose(y, delta / sl[k] + lam, atol=1e-10)
    s_k = frame.groupby(["m", "k"])["s"].transform("sum").to_numpy()
    s_n = frame.groupby(["m", "n"])["s"].transform("sum").to_numpy()
    berry = delta + (1 - sl[k]) * np.log(s / s_k) + (1 - su[n]) * np.log(s_k / s_n)
    np.testing.assert_allclose(y, berry, atol=1e-10)
    np.testing.assert_allclose(np.log(s / s_k), np.log(within_nest_shares(s, k, m)), atol=1e-12)


def test_two_level_estimation_recovers_both_levels_and_parameters():
    sim = ne.simulate_two_level(120, 40, seed=5)
    res = ne.classify_two_level(sim.data, 6, 2)
    assert matched_share(res.lower.labels, sim.nests) == 1.0
    relabel = best_relabelling(res.lower.labels, sim.nests)
    true_upper = sim.truth["upper_of_lower"][[relabel[k] for k in range(6)]]
    assert matched_share(res.upper.labels.to_numpy(), true_upper) == 1.0
    # The upper slope is beta_p / sigma_n.
    up_relabel = best_relabelling(res.upper.labels.to_numpy(), true_upper)
    slope_true = [sim.truth["beta_p"] / sim.truth["sigma_upper"][up_relabel[u]] for u in range(2)]
    np.testing.assert_allclose(res.upper.coefficients.iloc[:, 0], slope_true, rtol=0.15)
    est = ne.two_level_berry_regression(sim.data, res.lower_ids, res.upper_ids)
    assert abs(est.alpha - sim.truth["beta_p"]) < 0.05 and abs(est.beta["x"] - sim.truth["beta_x"]) < 0.05
    sl = [sim.truth["sigma_lower"][relabel[k]] for k in range(6)]
    np.testing.assert_allclose(est.sigma_lower.to_numpy(), sl, atol=0.05)
    np.testing.assert_allclose(est.sigma_upper.to_numpy(),
                               [sim.truth["sigma_upper"][up_relabel[u]] for u in range(2)], atol=0.05)


def test_two_level_bad_inputs():
    with pytest.raises(ValueError, match="more than one upper"):
        ne.two_level_shares([0.1, 0.2], [0, 0], [0, 1], 0.5, [0.6, 0.7])
    with pytest.raises(ValueError, match="exceeds its upper"):
        ne.two_level_shares([0.1, 0.2], [0, 1], [0, 0], [0.5, 0.8], 0.6)
    with pytest.raises(ValueError, match="sigma_upper"):
        ne.two_level_shares([0.1, 0.2], [0, 1], [0, 0], 0.5, 1.3)
    sim = ne.simulate_two_level(30, 4, seed=1)
    with pytest.raises(ValueError, match="1 <= N < K"):
        ne.classify_two_level(sim.data, 3, 3)
    with pytest.raises(ValueError, match="never has two members"):
        ne.two_level_berry_regression(sim.data, sim.data["nesting_ids"], sim.data["nesting_ids"])
    with pytest.raises(ValueError, match="every upper nest"):
        ne.simulate_two_level(10, 2, upper_of_lower=(0, 2))


# ---------------------------------------------------------------------------------------
# One step
# ---------------------------------------------------------------------------------------


def test_one_step_berry_stays_at_the_truth_and_recovers_from_a_random_start():
    sim = simulate_nested_logit(60, 30, seed=7)
    at_truth = ne.one_step_berry(sim.data, 3, sim.nests)
    assert at_truth.converged and at_truth.moves.tolist() == [0]
    assert matched_share(at_truth.labels, sim.nests) == 1.0
    start = np.random.default_rng(0).integers(0, 3, 60)
    res = ne.one_step_berry(sim.data, 3, start)
    assert res.converged and matched_share(res.labels, sim.nests) == 1.0
    assert res.objectives[-1] == pytest.approx(at_truth.objectives[0])
    # From the GFE classification (a GFEResult as start) it also stays put.
    gfe = classify(sim.data, 3)
    assert ne.one_step_berry(sim.data, 3, gfe).moves.tolist() == [0]


def test_one_step_berry_bad_inputs():
    sim = simulate_nested_logit(20, 5, seed=1)
    with pytest.raises(ValueError, match="20 products"):
        ne.one_step_berry(sim.data, 3, [0, 1, 2])
    with pytest.raises(ValueError, match="nest in 0"):
        ne.one_step_berry(sim.data, 3, np.full(20, 5))
    with pytest.raises(ValueError, match="outside_shares"):
        ne.one_step_berry(sim.data.assign(outside_shares=0.1), 3, sim.nests)
    with pytest.raises(ValueError, match="price_instruments"):
        ne.one_step_berry(sim.data, 3, sim.nests, exogenous_prices=False)
