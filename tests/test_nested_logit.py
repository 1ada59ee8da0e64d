"""Unit tests of course_lib.nested_logit: shares, inversion, elasticities, the slides'
instrument, Berry's 2SLS with known nests, and agreement with pyBLP's nested logit.

Convention: sigma_k in (0, 1] is nest k's dissimilarity parameter (1 = logit); pyBLP's
rho_k = 1 - sigma_k.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib import iv, logit
from course_lib import nested_logit as nl
from _finite_differences import log_price_elasticities

SIGMA = np.array([0.2, 0.3, 0.6])  # the slides' Monte Carlo design


def simulate(seed, J, M, sigma=SIGMA, keep=0.8, constant=0.0, endogenous=False):
    """Nested-logit data in the slides' design (K = len(sigma), beta_p = -1, beta_x = 1).

    Nests drawn uniformly; nest means of (p, x) from N(0, [[1, .3], [.3, 1]]); p, x, xi
    normal around them with variances (1, 1, 0.5). ``keep`` < 1 drops product-market rows
    at random (an unbalanced panel with singletons). ``endogenous``: p = w + 0.8 xi + noise
    with an excluded cost shifter w.
    """
    rng = np.random.default_rng(seed)
    K = len(sigma)
    nest = rng.integers(0, K, J)
    mu = rng.multivariate_normal([0, 0], [[1, 0.3], [0.3, 1]], K)
    pid = np.tile(np.arange(J), M)
    mid = np.repeat(np.arange(M), J)
    nid = nest[pid]
    x = mu[nid, 1] + rng.normal(size=J * M)
    xi = rng.normal(0, np.sqrt(0.5), J * M)
    w = rng.normal(size=J * M)
    p = mu[nid, 0] + (w + 0.8 * xi + 0.3 * rng.normal(size=J * M) if endogenous else rng.normal(size=J * M))
    rows = rng.random(J * M) < keep
    p, x, xi, w, mid, nid = (a[rows] for a in (p, x, xi, w, mid, nid))
    delta = constant - p + x + xi
    shares = nl.nested_logit_shares(delta, nid, sigma, mid)
    return dict(shares=shares, prices=p, x=x, xi=xi, w=w, market_ids=mid, nest_ids=nid, delta=delta)


# --------------------------------------------------------------------------- shares


def test_shares_match_hand_computation_two_nests():
    delta = np.array([1.0, 2.0, 0.5])
    nests = np.array(["a", "a", "b"])
    sa, sb = 0.5, 0.8
    iv_a = np.exp(1 / sa) + np.exp(2 / sa)
    iv_b = np.exp(0.5 / sb)
    denom = 1 + iv_a**sa + iv_b**sb
    expected = np.array([np.exp(1 / sa) * iv_a ** (sa - 1), np.exp(2 / sa) * iv_a ** (sa - 1),
                         np.exp(0.5 / sb) * iv_b ** (sb - 1)]) / denom
    s = nl.nested_logit_shares(delta, nests, {"a": sa, "b": sb})
    np.testing.assert_allclose(s, expected, rtol=1e-14)
    assert s.sum() < 1 and np.all(s > 0)
    np.testing.assert_allclose(1 - s.sum(), 1 / denom, rtol=1e-13)
    # Sequential form: s_j = s_{j|k} * s_k.
    within = np.array([np.exp(1 / sa), np.exp(2 / sa), iv_b]) / np.array([iv_a, iv_a, iv_b])
    nest_share = np.array([iv_a**sa, iv_a**sa, iv_b**sb]) / denom
    np.testing.assert_allclose(s, within * nest_share, rtol=1e-14)


def test_sigma_conventions_agree():
    rng = np.random.default_rng(5)
    delta = rng.normal(size=9)
    nests = np.array([3, 1, 3, 2, 1, 1, 2, 3, 3])
    as_array = nl.nested_logit_shares(delta, nests, [0.4, 0.7, 0.9])  # sorted ids 1, 2, 3
    as_dict = nl.nested_logit_shares(delta, nests, {1: 0.4, 2: 0.7, 3: 0.9})
    as_series = nl.nested_logit_shares(delta, nests, pd.Series({3: 0.9, 1: 0.4, 2: 0.7}))
    np.testing.assert_array_equal(as_array, as_dict)
    np.testing.assert_array_equal(as_array, as_series)
    np.testing.assert_allclose(nl.nested_logit_shares(delta, nests, 0.5),
                               nl.nested_logit_shares(delta, nests, [0.5, 0.5, 0.5]), rtol=1e-15)


def test_sigma_one_is_logit():
    rng = np.random.default_rng(1)
    delta = rng.normal(0, 2, 40)
    mid = rng.integers(0, 5, 40)
    nid = rng.integers(0, 4, 40)
    np.testing.assert_allclose(nl.nested_logit_shares(delta, nid, 1.0, mid), logit.logit_shares(delta, mid),
                               rtol=1e-13)


def test_markets_are_separate_and_sum_below_one():
    rng = np.random.default_rng(2)
    ids = rng.permutation(np.repeat([7, 40, 2, 13], [3, 6, 1, 5]))
    nid = rng.integers(0, 3, len(ids))
    delta = rng.normal(size=len(ids))
    sig = {0: 0.3, 1: 0.6, 2: 1.0}
    stacked = nl.nested_logit_shares(delta, nid, sig, ids)
    for t in np.unique(ids):
        rows = ids == t
        np.testing.assert_allclose(stacked[rows], nl.nested_logit_shares(delta[rows], nid[rows], sig), rtol=1e-14)
    assert np.all(np.bincount(np.unique(ids, return_inverse=True)[1], weights=stacked) < 1)


def test_huge_deltas_give_finite_shares():
    delta = np.array([800.0, 799.0, -800.0, 5.0])
    nests = np.array([0, 0, 1, 2])
    s = nl.nested_logit_shares(delta, nests, [0.05, 0.5, 1.0])
    assert np.all(np.isfinite(s)) and np.all(s >= 0) and s.sum() <= 1 + 1e-12
    # Within the top nest, s1/s2 = exp((800 - 799) / 0.05) = exp(20).
    np.testing.assert_allclose(np.log(s[0] / s[1]), 20.0, rtol=1e-12)
    # Very small sigma, moderate deltas: delta / sigma = 1e4, still finite and correct ratios.
    s = nl.nested_logit_shares([10.0, 9.0, 0.0], [0, 0, 1], [1e-3, 1.0])
    assert np.all(np.isfinite(s)) and s[0] > 0.99


# --------------------------------------------------------------------------- within shares, inversion


def test_within_shares_sum_to_one_per_nest_market():
    d = simulate(11, J=40, M=8, keep=0.6)
    w = nl.within_nest_shares(d["shares"], d["nest_ids"], d["market_ids"])
    cell = pd.MultiIndex.from_arrays([d["market_ids"], d["nest_ids"]])
    totals = pd.Series(w).groupby(cell).sum()
    np.testing.assert_allclose(totals.to_numpy(), 1.0, rtol=1e-14)
    sizes = pd.Series(w).groupby(cell).transform("size").to_numpy()
    np.testing.assert_array_equal(w[sizes == 1], 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_inversion_round_trips_unbalanced(seed):
    rng = np.random.default_rng(100 + seed)
    n = 120
    mid = rng.choice([5, 9, 17, 23, 42, 61], n)
    nid = rng.choice(np.array(["cars", "bikes", "vans", "trucks"]), n)
    # Make nests absent from some markets: drop every truck in markets 5 and 9, every van in 42.
    keep = ~((nid == "trucks") & np.isin(mid, [5, 9])) & ~((nid == "vans") & (mid == 42))
    mid, nid = mid[keep], nid[keep]
    delta = rng.normal(-1, 1.5, len(mid))
    sig = {"bikes": 0.25, "cars": 0.5, "trucks": 0.8, "vans": 1.0}
    s = nl.nested_logit_shares(delta, nid, sig, mid)
    np.testing.assert_allclose(nl.nested_logit_inversion(s, nid, sig, mid), delta, rtol=0, atol=1e-11)
    # Absent nests are really absent somewhere.
    assert not ((nid == "trucks") & (mid == 5)).any()


def test_inversion_sigma_one_is_logit_inversion():
    d = simulate(4, J=30, M=5)
    np.testing.assert_allclose(nl.nested_logit_inversion(d["shares"], d["nest_ids"], 1.0, d["market_ids"]),
                               logit.logit_inversion(d["shares"], d["market_ids"]), rtol=1e-13)


# --------------------------------------------------------------------------- elasticities


@pytest.mark.parametrize("seed", [0, 1])
def test_elasticities_match_finite_differences(seed):
    rng = np.random.default_rng(seed)
    J, alpha = 7, -1.3
    nests = np.array([0, 0, 0, 1, 1, 2, 3])  # nest 3 is a singleton
    sigma = {0: 0.3, 1: 0.55, 2: 0.9, 3: 0.7}
    p = rng.uniform(1, 3, J)
    rest = rng.normal(size=J)

    def log_shares(prices):
        return np.log(nl.nested_logit_shares(rest + alpha * prices, nests, sigma))

    s = np.exp(log_shares(p))
    E = nl.nested_logit_elasticities(p, s, nests, sigma, alpha)
    fd = log_price_elasticities(log_shares, p)
    np.testing.assert_allclose(E, fd, rtol=1e-7, atol=0)
    # Signs: own negative, cross positive, and within-nest cross above the other-nest one.
    assert np.all(np.diag(E) < 0) and np.all(E[~np.eye(J, dtype=bool)] > 0)
    assert E[1, 0] > E[3, 0]


def test_elasticities_closed_forms_and_logit_limit():
    p = np.array([1.0, 2.0, 1.5])
    s = np.array([0.1, 0.2, 0.3])
    nests = [0, 0, 1]
    sig, alpha = 0.4, -2.0
    E = nl.nested_logit_elasticities(p, s, nests, [sig, 1.0], alpha)
    w0 = 0.1 / 0.3
    np.testing.assert_allclose(E[0, 0], alpha * 1.0 * (1 / sig - (1 / sig - 1) * w0 - 0.1), rtol=1e-14)
    np.testing.assert_allclose(E[1, 0], -alpha * 1.0 * ((1 / sig - 1) * w0 + 0.1), rtol=1e-14)
    np.testing.assert_allclose(E[2, 0], -alpha * 1.0 * 0.1, rtol=1e-14)
    np.testing.assert_allclose(nl.nested_logit_elasticities(p, s, nests, 1.0, alpha),
                               logit.logit_elasticities(p, s, alpha), rtol=1e-14)


# --------------------------------------------------------------------------- instruments


def test_nest_instruments_brute_force_and_singletons():
    rng = np.random.default_rng(8)
    n = 60
    mid = rng.integers(0, 4, n)
    nid = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 2))
    X[0, 0] = 700.0  # one huge value: no overflow, no cancellation
    Z, cols, alone = nl.nest_instruments(X, nid, mid, interact=False)
    for j in range(n):
        others = (mid == mid[j]) & (nid == nid[j]) & (np.arange(n) != j)
        assert alone[j] == (not others.any())
        for l in range(2):
            expected = -np.logaddexp.reduce(X[others, l]) if others.any() else 0.0
            np.testing.assert_allclose(Z[j, l], expected, rtol=1e-13, atol=1e-13)
    Zi, cols_i, _ = nl.nest_instruments(X, nid, mid)
    assert Zi.shape == (n, 6) and len(cols_i) == 6
    for k in range(3):
        np.testing.assert_array_equal(Zi[:, 2 * k:2 * k + 2], Z * (nid == k)[:, None])
    # Ties for a cell's maximum, and a cell of equal values, take the same formula.
    x_tied = np.array([5.0, 5.0, 1.0, 2.0, 2.0, 2.0])
    Zt, _, _ = nl.nest_instruments(x_tied, [0, 0, 0, 1, 1, 1], [0] * 6, interact=False)
    expected = [-np.logaddexp(5.0, 1.0)] * 2 + [-(5.0 + np.log(2.0))] + [-(2.0 + np.log(2.0))] * 3
    np.testing.assert_allclose(Zt.ravel(), expected, rtol=1e-15)
    # A singleton cell is flagged and gets z = 0.
    Z1, _, alone1 = nl.nest_instruments([1.0, 2.0, 3.0], [0, 0, 1], [0, 0, 0], interact=False)
    np.testing.assert_array_equal(alone1, [False, False, True])
    np.testing.assert_allclose(Z1.ravel(), [-2.0, -1.0, 0.0])


# --------------------------------------------------------------------------- Berry regression


def test_berry_recovers_truth_exogenous_prices():
    d = simulate(2024, J=300, M=50, keep=0.9)
    Z, _, _ = nl.nest_instruments(d["x"], d["nest_ids"], d["market_ids"])
    r = nl.berry_regression(d["shares"], d["prices"], d["x"], d["nest_ids"], d["market_ids"], Z,
                            constant=False, exogenous_prices=True)
    truth = pd.Series({"x0": 1.0})
    assert abs(r.alpha + 1.0) < 4 * r.alpha_se and abs(r.alpha + 1.0) < 0.03
    assert abs(r.beta["x0"] - truth["x0"]) < 4 * r.iv.std_errors["x0"] and abs(r.beta["x0"] - 1) < 0.03
    assert np.all(np.abs(r.sigma.to_numpy() - SIGMA) < 4 * r.sigma_se.to_numpy())
    np.testing.assert_allclose(r.sigma.to_numpy(), SIGMA, atol=0.02)
    np.testing.assert_allclose(r.rho.to_numpy(), 1 - r.sigma.to_numpy(), rtol=1e-15)
    np.testing.assert_array_equal(r.sigma_se.to_numpy(), r.iv.std_errors.iloc[-3:].to_numpy())
    # delta is the inversion at the estimated sigma, and xi = delta - x beta - alpha p.
    np.testing.assert_allclose(
        r.delta, nl.nested_logit_inversion(d["shares"], d["nest_ids"], r.sigma, d["market_ids"]), atol=1e-11)
    np.testing.assert_allclose(r.xi, r.delta - r.beta["x0"] * d["x"] - r.alpha * d["prices"], atol=1e-11)
    # Default instruments are the same slides-style ones.
    r2 = nl.berry_regression(d["shares"], d["prices"], d["x"], d["nest_ids"], d["market_ids"],
                             constant=False, exogenous_prices=True)
    np.testing.assert_allclose(r2.iv.params.to_numpy(), r.iv.params.to_numpy(), rtol=1e-12)
    assert list(r.table().index) == ["x0", "alpha", "sigma[0]", "sigma[1]", "sigma[2]"]


def test_rho_bounds_hold_the_furthest_estimate_and_refit_the_rest():
    """rho_bounds: bounds that do not bind change nothing; a binding bound holds that nest's
    rho at it, and the rest is the 2SLS of the offset regression (written out here)."""
    d = simulate(2024, J=300, M=50, keep=0.9)
    Z, _, _ = nl.nest_instruments(d["x"], d["nest_ids"], d["market_ids"])
    args = (d["shares"], d["prices"], d["x"], d["nest_ids"], d["market_ids"], Z)
    kw = dict(constant=False, exogenous_prices=True)
    free = nl.berry_regression(*args, **kw)
    loose = nl.berry_regression(*args, **kw, rho_bounds=(-5.0, 5.0))
    np.testing.assert_array_equal(loose.iv.params.to_numpy(), free.iv.params.to_numpy())
    assert loose.fixed_rho == {}
    # rho = 1 - sigma is about (0.8, 0.7, 0.4): an upper bound of 0.5 binds for nests 0 and 1,
    # nest 0 (further out) first; refitting may or may not free nest 1.
    bounded = nl.berry_regression(*args, **kw, rho_bounds=(0.0, 0.5))
    assert 0 in bounded.fixed_rho and bounded.fixed_rho[0] == 0.5
    assert np.all((bounded.rho.to_numpy() >= 0.0) & (bounded.rho.to_numpy() <= 0.5 + 1e-15))
    assert np.isnan(bounded.sigma_se[list(bounded.fixed_rho)]).all()
    assert not np.isnan(bounded.sigma_se.drop(list(bounded.fixed_rho))).any()
    # By hand: the held nests' log within-nest shares, times their rho, on the left-hand side.
    y = logit.logit_inversion(d["shares"], d["market_ids"])
    log_within = np.log(nl.within_nest_shares(d["shares"], d["nest_ids"], d["market_ids"]))
    D = np.column_stack([(d["nest_ids"] == k) * log_within for k in range(3)])
    held = sorted(bounded.fixed_rho)
    free_nests = [k for k in range(3) if k not in held]
    by_hand = iv.tsls(y - D[:, held] @ np.array([bounded.fixed_rho[k] for k in held]),
                      np.column_stack([d["x"], d["prices"], D[:, free_nests]]),
                      np.column_stack([d["x"], d["prices"], Z]))
    np.testing.assert_allclose(bounded.iv.coefficients, by_hand.coefficients, rtol=1e-12)
    np.testing.assert_allclose(bounded.delta, y - D @ bounded.rho.to_numpy(), rtol=1e-12)
    assert list(bounded.table().index) == ["x0", "alpha", "sigma[0]", "sigma[1]", "sigma[2]"]
    with pytest.raises(ValueError, match="lower < upper"):
        nl.berry_regression(*args, **kw, rho_bounds=(0.5, 0.5))


def test_berry_with_outside_shares_of_the_whole_market():
    """Rows that are only some of a market's products: with the whole market's outside share the
    regression is the one on the full data's log share ratio, restricted to those rows."""
    d = simulate(2024, J=300, M=50, keep=0.9)
    s0 = 1 - pd.Series(d["shares"]).groupby(d["market_ids"]).transform("sum").to_numpy()
    keep = d["nest_ids"] != 2  # drop a whole nest: the rest is not the whole market
    sub = {key: np.asarray(value)[keep] for key, value in d.items() if np.ndim(value) == 1 and len(value) == len(keep)}
    Z, _, _ = nl.nest_instruments(sub["x"], sub["nest_ids"], sub["market_ids"])
    r = nl.berry_regression(sub["shares"], sub["prices"], sub["x"], sub["nest_ids"], sub["market_ids"], Z,
                            constant=False, exogenous_prices=True, outside_shares=s0[keep])
    y = np.log(sub["shares"]) - np.log(s0[keep])
    D = np.column_stack([np.log(nl.within_nest_shares(sub["shares"], sub["nest_ids"], sub["market_ids"]))
                         * (sub["nest_ids"] == k) for k in (0, 1)])
    by_hand = iv.tsls(y, np.column_stack([sub["x"], sub["prices"], D]),
                      np.column_stack([sub["x"], sub["prices"], Z]))
    np.testing.assert_allclose(r.iv.coefficients, by_hand.coefficients, rtol=1e-12)
    # Without them the rows' own inside shares would define the outside good: another regression,
    # here so far off that its sigmas leave (0, 1].
    with pytest.warns(UserWarning, match=r"sigma outside \(0, 1\]"):
        other = nl.berry_regression(sub["shares"], sub["prices"], sub["x"], sub["nest_ids"], sub["market_ids"], Z,
                                    constant=False, exogenous_prices=True)
    assert not np.allclose(other.iv.coefficients, r.iv.coefficients, rtol=1e-3)


def test_berry_recovers_truth_endogenous_prices():
    d = simulate(7, J=300, M=50, endogenous=True, constant=0.5)
    Z, _, _ = nl.nest_instruments(d["x"], d["nest_ids"], d["market_ids"])
    r = nl.berry_regression(d["shares"], d["prices"], d["x"], d["nest_ids"], d["market_ids"],
                            np.column_stack([Z, d["w"]]))
    assert abs(r.alpha + 1.0) < 4 * r.alpha_se
    assert abs(r.beta["1"] - 0.5) < 4 * r.iv.std_errors["1"]
    assert np.all(np.abs(r.sigma.to_numpy() - SIGMA) < 4 * r.sigma_se.to_numpy())
    # OLS-style treatment of prices as exogenous is biased: it misses alpha by many standard errors.
    # Here it also pushes a sigma above one, which berry_regression flags.
    with pytest.warns(UserWarning, match=r"sigma outside \(0, 1\]"):
        biased = nl.berry_regression(d["shares"], d["prices"], d["x"], d["nest_ids"], d["market_ids"],
                                     np.column_stack([Z, d["w"]]), exogenous_prices=True)
    assert abs(biased.alpha + 1.0) > 10 * biased.alpha_se


@pytest.mark.parametrize("design", [dict(seed=99, J=90, M=20, keep=0.7, constant=0.3),
                                    dict(seed=5, J=12, M=150, keep=0.6, constant=0.2)],
                         ids=["many-products", "with-singletons"])
def test_berry_equals_pyblp_nested_logit(design):
    from course_lib.pyblp_bridge import pyblp_nested_logit_data, pyblp_nested_logit_solve

    d = simulate(**design)
    Z, _, alone = nl.nest_instruments(d["x"], d["nest_ids"], d["market_ids"])
    if design["J"] == 12:
        assert alone.sum() > 20  # products alone in their nest in a market: z = 0, log s_{j|k} = 0
    ours = nl.berry_regression(d["shares"], d["prices"], d["x"], d["nest_ids"], d["market_ids"], Z,
                               exogenous_prices=True)
    products = pyblp_nested_logit_data(d["shares"], d["prices"], d["x"], d["nest_ids"], d["market_ids"], Z,
                                       exogenous_prices=True)
    res = pyblp_nested_logit_solve(products, x_names=["x0"], constant=True, rho0=0.5)
    # pyBLP orders beta as its formula: 1, prices, x0; rho per sorted nest id, rho = 1 - sigma.
    theirs = np.r_[res.beta.ravel(), res.rho.ravel()]
    mine = np.r_[ours.beta["1"], ours.alpha, ours.beta["x0"], ours.rho.to_numpy()]
    np.testing.assert_allclose(mine, theirs, rtol=1e-6)
    np.testing.assert_allclose(ours.sigma.to_numpy(), 1 - res.rho.ravel(), rtol=1e-6)
    # Standard errors (HC0 sandwich, uncentred moments) agree too.
    theirs_se = np.r_[res.beta_se.ravel(), res.rho_se.ravel()]
    mine_se = np.r_[ours.iv.std_errors["1"], ours.alpha_se, ours.iv.std_errors["x0"], ours.sigma_se.to_numpy()]
    np.testing.assert_allclose(mine_se, theirs_se, rtol=1e-6)


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("sigma", [0.0, -0.2, 1.5, np.nan, [0.5, 1.01], {0: 0.5, 1: 0.0}])
def test_sigma_outside_unit_interval_raises(sigma):
    with pytest.raises(ValueError, match="sigma for nest"):
        nl.nested_logit_shares([0.1, 0.2, 0.3], [0, 0, 1], sigma)
    with pytest.raises(ValueError, match="sigma for nest"):
        nl.nested_logit_inversion([0.1, 0.2, 0.3], [0, 0, 1], sigma)


def test_sigma_wrong_size_or_missing_nest_raises():
    with pytest.raises(ValueError, match="3 entries for 2 nests"):
        nl.nested_logit_shares([0.1, 0.2, 0.3], [0, 0, 1], [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"no value for nest\(s\) \[1\]"):
        nl.nested_logit_shares([0.1, 0.2, 0.3], [0, 0, 1], {0: 0.5})


def test_nest_ids_length_mismatch_raises():
    with pytest.raises(ValueError, match="nest_ids has 2 entries for 3 products"):
        nl.nested_logit_shares([0.1, 0.2, 0.3], [0, 1], 0.5)
    with pytest.raises(ValueError, match="nest_ids has 2 entries"):
        nl.within_nest_shares([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match="market_ids has 4 entries"):
        nl.nested_logit_inversion([0.1, 0.2, 0.3], [0, 1, 1], 0.5, [0, 0, 1, 1])
    with pytest.raises(ValueError, match="Mismatched lengths"):
        nl.nested_logit_elasticities([1.0, 2.0], [0.1, 0.2, 0.3], [0, 0, 1], 0.5, -1.0)


@pytest.mark.parametrize("bad, message", [(0.0, "is 0"), (np.nan, "not finite"), (-0.1, "is -0.1")])
def test_zero_nan_negative_shares_raise(bad, message):
    s = np.array([0.1, bad, 0.3])
    for call in (lambda: nl.within_nest_shares(s, [0, 0, 1], [4, 4, 4]),
                 lambda: nl.nested_logit_inversion(s, [0, 0, 1], 0.5, [4, 4, 4]),
                 lambda: nl.nested_logit_elasticities([1.0, 1.0, 1.0], s, [0, 0, 1], 0.5, -1.0),
                 lambda: nl.berry_regression(s, [1.0, 2, 3], [1.0, 2, 3], [0, 0, 1], [4, 4, 4], [1.0, 2, 3])):
        with pytest.raises(ValueError, match=message):
            call()


def test_other_bad_inputs_raise():
    with pytest.raises(ValueError, match="market 4"):
        nl.nested_logit_inversion([0.5, 0.6], [0, 1], 0.5, [4, 4])  # shares sum >= 1
    with pytest.raises(ValueError, match="delta has a non-finite value"):
        nl.nested_logit_shares([0.1, np.nan], [0, 1], 0.5)
    with pytest.raises(ValueError, match="nest_ids has a NaN"):
        nl.nested_logit_shares([0.1, 0.2], [0.0, np.nan], 0.5)
    # Nest 1 never has two products in a market: its sigma is not identified.
    s = np.array([0.1, 0.2, 0.05, 0.1, 0.15, 0.05])
    with pytest.raises(ValueError, match="Nest 1 never has two products"):
        nl.berry_regression(s, np.ones(6), np.arange(6.0), [0, 0, 1, 0, 0, 1], [0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="X must have 6 rows"):
        nl.berry_regression(s, np.ones(6), np.ones(5), [0, 0, 1, 0, 0, 1], [0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="Underidentified"):
        d = simulate(3, J=30, M=4)
        nl.berry_regression(d["shares"], d["prices"], d["x"], d["nest_ids"], d["market_ids"])


def test_log_inclusive_values_match_the_definition_and_the_shares():
    rng = np.random.default_rng(31)
    n = 40
    delta = rng.normal(size=n) * 3
    nest_ids = rng.integers(0, 3, n)
    market_ids = np.repeat([0, 1], n // 2)
    sigma = np.array([0.2, 0.5, 0.9])
    log_iv = nl.log_inclusive_values(delta, nest_ids, sigma, market_ids)
    for m in (0, 1):
        for k in range(3):
            rows = (market_ids == m) & (nest_ids == k)
            np.testing.assert_allclose(log_iv[rows], np.log(np.exp(delta[rows] / sigma[k]).sum()), rtol=1e-13)
    # log s_j = delta_j / sigma_k + (sigma_k - 1) log IV_k - log(1 + sum_l IV_l^sigma_l)
    s = nl.nested_logit_shares(delta, nest_ids, sigma, market_ids)
    s0 = 1 - np.bincount(market_ids, weights=s)[market_ids]
    sig = sigma[nest_ids]
    np.testing.assert_allclose(np.log(s / s0), delta / sig + (sig - 1) * log_iv, atol=1e-12)
    # Finite for huge utilities.
    assert np.isfinite(nl.log_inclusive_values(np.array([800.0, 799.0]), [0, 0], 0.1)).all()
