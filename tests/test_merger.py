"""course_lib.merger: costs, merger prices, consumer surplus, diversion and elasticities.

Checked against pyBLP on the BLP automobile data for a logit, a nested logit and a
random-coefficients model (pyBLP's ``compute_costs``, ``compute_prices``,
``compute_consumer_surpluses``, ``compute_diversion_ratios``, ``compute_elasticities``), against
finite differences of the share functions, and on bad inputs.

Measured agreement with pyBLP (this machine): costs, consumer surplus, elasticities and diversion
ratios to about 1e-14; post-merger prices to 5e-14 (logit, nested logit) and 3e-12 (random
coefficients, where pyBLP's zeta iteration stops on a step weighted by |Lambda|, so it is asked
for atol=1e-17; its default 1e-14 leaves the prices 4e-9 away). The tolerances below sit three or
more orders of magnitude above those floors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from course_lib import merger
from course_lib import pyblp_bridge as pb
from course_lib.supply import foc_residual, ownership_matrix

pyblp = pytest.importorskip("pyblp")

GM, CHRYSLER = pb.BLP_AUTOS_FIRMS["GM"], pb.BLP_AUTOS_FIRMS["Chrysler"]
RC_MARKETS = (1971, 1990)
PRICES_ITERATION = {"atol": 1e-17, "max_evaluations": 100_000}  # see the module docstring


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def autos():
    return pb.blp_autos_data()


@pytest.fixture(scope="module")
def logit_results(autos):
    return pb.pyblp_autos_logit_solve(autos[0])


@pytest.fixture(scope="module")
def nested_results(autos):
    products = autos[0]
    nests = pb.size_class_nests(products["space"])
    results, _ = pb.pyblp_autos_nested_logit_solve(products, nests, extra_instruments=_nest_counts(products, nests))
    return results


@pytest.fixture(scope="module")
def rc_results(autos):
    """pyBLP's BLP model on two markets at fixed parameters near the published ones (no estimation)."""
    products, agents = autos
    products = products[products["market_ids"].isin(RC_MARKETS)].reset_index(drop=True)
    agents = agents[agents["market_ids"].isin(RC_MARKETS)].reset_index(drop=True)
    old = pyblp.options.collinear_atol, pyblp.options.collinear_rtol
    pyblp.options.collinear_atol = pyblp.options.collinear_rtol = 0  # two markets: the sums of characteristics collide
    try:
        with warnings.catch_warnings():
            # BLP's importance-sampling weights sum to 0.154 (by design); W = I on collinear instruments
            warnings.filterwarnings("ignore", message="Integration weights|Detected that the estimated covariance")
            problem = pb.pyblp_autos_rc_problem(products, agents)
            results = problem.solve(np.diag([2.0, 0.0, 6.1, 4.0, 0.25, 1.9]),
                                    np.c_[[0.0, -44.8, 0.0, 0.0, 0.0, 0.0]], W=np.eye(problem.MD), method="1s",
                                    optimization=pyblp.Optimization("return"),
                                    iteration=pyblp.Iteration("squarem", {"atol": 1e-14}))
    finally:
        pyblp.options.collinear_atol, pyblp.options.collinear_rtol = old
    return results, products, agents


def _nest_counts(products, nests):
    """Other products in the same nest and market, one column per nest (instruments for rho)."""
    count = pd.Series(nests).groupby([products["market_ids"].to_numpy(), nests]).transform("size").to_numpy() - 1
    return np.column_stack([(nests == k) * count for k in np.unique(nests)])


def _all_results(request, name):
    results = request.getfixturevalue(name)
    return results[0] if isinstance(results, tuple) else results


# --------------------------------------------------------------------------- agreement with pyBLP


@pytest.mark.parametrize("name", ["logit_results", "nested_results", "rc_results"])
def test_costs_prices_surplus_match_pyblp(request, name):
    results = _all_results(request, name)
    products = results.problem.products
    market_ids = np.asarray(products.market_ids).ravel()
    firm_ids = np.asarray(products.firm_ids).ravel()
    demands = pb.pyblp_demands(results)

    costs = results.compute_costs().ravel()
    ours = np.concatenate([merger.recover_costs(demands[t], firm_ids[market_ids == t]) for t in sorted(demands)])
    np.testing.assert_allclose(ours, costs, rtol=0, atol=1e-10)

    new = merger.merge_firm_ids(firm_ids, [GM, CHRYSLER])
    result = merger.simulate_merger(demands, firm_ids, new, market_ids)
    assert result.converged.all()
    np.testing.assert_allclose(result.costs, costs, rtol=0, atol=1e-10)
    prices = results.compute_prices(firm_ids=new, costs=costs, iteration=pyblp.Iteration("simple", PRICES_ITERATION))
    np.testing.assert_allclose(result.prices_post, prices.ravel(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.shares_post, results.compute_shares(prices=prices).ravel(), rtol=1e-8, atol=0)

    cs_pre = results.compute_consumer_surpluses().ravel()
    cs_post = results.compute_consumer_surpluses(prices=prices).ravel()
    np.testing.assert_allclose(result.cs_pre, cs_pre, rtol=1e-12, atol=0)
    np.testing.assert_allclose(result.delta_cs, cs_post - cs_pre, rtol=1e-9, atol=0)
    assert (result.delta_cs < 0).all()  # a merger of substitutes raises prices and hurts consumers
    np.testing.assert_allclose(result.lerner_pre, results.compute_markups(costs=costs).ravel(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["logit_results", "nested_results", "rc_results"])
def test_elasticities_and_diversion_match_pyblp(request, name):
    results = _all_results(request, name)
    demands = pb.pyblp_demands(results)
    for t in (1971, 1990):
        np.testing.assert_allclose(merger.elasticities(demands[t]), results.compute_elasticities(market_id=t),
                                   rtol=0, atol=1e-10)
        ratios = merger.diversion_ratios(demands[t])
        np.testing.assert_allclose(ratios, results.compute_diversion_ratios(market_id=t), rtol=0, atol=1e-10)
        np.testing.assert_allclose(ratios.sum(axis=1), 1.0, rtol=0, atol=1e-12)  # every lost sale goes somewhere


def test_logit_and_nested_logit_estimates_match_course_lib(autos, logit_results, nested_results):
    """pyBLP's 2SLS logit and nested logit equal course_lib.iv.tsls and nested_logit.berry_regression."""
    from course_lib.iv import tsls
    from course_lib.nested_logit import berry_regression

    products = autos[0]
    chars = products[["hpwt", "air", "mpd", "space"]].to_numpy()
    excluded = products[list(pb.BLP_AUTOS_INSTRUMENTS)].to_numpy()
    ones = np.ones(len(products))
    y = np.log(products["shares"]) - np.log(1 - products.groupby("market_ids")["shares"].transform("sum"))
    iv = tsls(y, np.column_stack([ones, products["prices"], chars]), np.column_stack([ones, chars, excluded]))
    # measured: 7e-11 (coefficients), 1e-12 (standard errors)
    np.testing.assert_allclose(logit_results.beta.ravel(), iv.coefficients, rtol=0, atol=1e-8)
    np.testing.assert_allclose(logit_results.beta_se.ravel(), iv.standard_errors, rtol=0, atol=1e-8)

    nests = pb.size_class_nests(products["space"])
    berry = berry_regression(products["shares"], products["prices"], chars, nests, products["market_ids"],
                             instruments=np.column_stack([excluded, _nest_counts(products, nests)]))
    beta = berry.beta.to_numpy()
    ours = np.r_[beta[0], berry.alpha, beta[1:]]  # pyBLP's order: 1, prices, hpwt, air, mpd, space
    # measured: 1e-9 (coefficients), 9e-11 (rho); pyBLP's L-BFGS-B on rho stops at gtol=1e-14
    np.testing.assert_allclose(nested_results.beta.ravel(), ours, rtol=0, atol=1e-7)
    np.testing.assert_allclose(nested_results.rho.ravel(), 1 - berry.sigma.to_numpy(), rtol=0, atol=1e-8)


def test_bridge_draws_equal_the_explicit_price_income_column(rc_results):
    """pyBLP's alpha_i = pi / income fits rc_logit's alpha + sigma_p zeta_ip as one more draw column."""
    results, products, agents = rc_results
    t = 1990
    rows = (products["market_ids"] == t).to_numpy()
    people = agents[agents["market_ids"] == t]
    pi = float(results.pi[1, 0])
    sigma_p, zeta_p = merger.price_interaction_draws(pi, 1 / people["income"].to_numpy())
    nodes = people[[f"nodes{k}" for k in range(5)]].to_numpy()
    zeta = np.column_stack([nodes[:, 0], zeta_p, nodes[:, 1:]])  # X2 = 1, prices, hpwt, air, mpd, space
    sigma = np.diag(results.sigma).copy()
    sigma[1] = sigma_p
    X2 = np.column_stack([np.ones(rows.sum()), products.loc[rows, ["prices", "hpwt", "air", "mpd", "space"]]])
    explicit = merger.RCLogitDemand(results.delta.ravel()[rows], products.loc[rows, "prices"], 0.0, X2, sigma, zeta,
                                    people["weights"], price_column=1)
    bridged = pb.pyblp_demands(results)[t]
    np.testing.assert_allclose(explicit.alpha_i, pi / people["income"].to_numpy(), rtol=1e-14)
    a, b = explicit(explicit.prices), bridged(bridged.prices)
    np.testing.assert_allclose(a.shares, products.loc[rows, "shares"], rtol=1e-10)
    np.testing.assert_allclose(a.gamma, b.gamma, rtol=1e-12, atol=0)
    np.testing.assert_allclose(explicit.consumer_surplus(), bridged.consumer_surplus(), rtol=1e-12)


# --------------------------------------------------------------------------- closed forms


def _fd_jacobian(shares, prices, h=1e-6):
    """Central differences, entry [j, k] = ds_j/dp_k."""
    out = np.empty((len(prices), len(prices)))
    for k in range(len(prices)):  # one column per price
        up, down = prices.copy(), prices.copy()
        up[k] += h
        down[k] -= h
        out[:, k] = (shares(up) - shares(down)) / (2 * h)
    return out


def _some_demands(autos):
    """One market (1971) under each model, at parameters that make the three differ."""
    products, agents = autos
    rows = (products["market_ids"] == 1971).to_numpy()
    p = products.loc[rows, "prices"].to_numpy()
    delta = np.log(products.loc[rows, "shares"].to_numpy()) + 5.0
    nests = pb.size_class_nests(products["space"])[rows]
    people = agents[agents["market_ids"] == 1971]
    sigma_p, zeta_p = merger.price_interaction_draws(-40.0, 1 / people["income"].to_numpy())
    X2 = np.column_stack([np.ones(rows.sum()), p, products.loc[rows, "hpwt"]])
    zeta = np.column_stack([people["nodes0"], zeta_p, people["nodes1"]])
    return {
        "logit": merger.LogitDemand(delta, p, -0.3),
        "nested": merger.NestedLogitDemand(delta, p, -0.3, nests, {0: 0.4, 1: 0.7, 2: 1.0}),
        "rc": merger.RCLogitDemand(delta, p, -0.1, X2, [1.5, sigma_p, 2.0], zeta, people["weights"], price_column=1),
    }, products.loc[rows, "firm_ids"].to_numpy()


@pytest.mark.parametrize("model", ["logit", "nested", "rc"])
def test_derivatives_and_surplus_match_finite_differences(autos, model):
    demands, _ = _some_demands(autos)
    demand = demands[model]
    p = demand.prices.astype(float)
    d = demand(p)
    fd = _fd_jacobian(demand.shares, p)
    scale = np.abs(d.jacobian).max()
    np.testing.assert_allclose(d.jacobian, fd, rtol=0, atol=1e-7 * scale)  # measured about 1e-10 of the scale
    np.testing.assert_allclose(d.gamma, d.gamma.T, rtol=0, atol=1e-15 * np.abs(d.gamma).max())  # Slutsky symmetry
    # Roy's identity: dCS/dp_j = -s_j (no income effects), for each closed form / integral of CS
    h = 1e-5
    for j in (0, 3, len(p) - 1):
        up, down = p.copy(), p.copy()
        up[j] += h
        down[j] -= h
        dcs = (demand.consumer_surplus(up) - demand.consumer_surplus(down)) / (2 * h)
        np.testing.assert_allclose(dcs, -d.shares[j], rtol=1e-6)


def test_special_cases_reduce_to_logit(autos):
    demands, _ = _some_demands(autos)
    logit = demands["logit"]
    p, delta = logit.prices, logit.mean_utility()
    ones = merger.NestedLogitDemand(delta, p, -0.3, pb.size_class_nests(np.arange(len(p))), 1.0)
    flat = merger.RCLogitDemand(delta, p, -0.3, np.ones((len(p), 1)), [0.0], np.zeros((5, 1)))
    for other in (ones, flat):
        for attribute in ("shares", "lambda_diag", "gamma"):
            np.testing.assert_allclose(getattr(other(p), attribute), getattr(logit(p), attribute), rtol=1e-12, atol=0)
        np.testing.assert_allclose(other.consumer_surplus(), logit.consumer_surplus(), rtol=1e-13)
    s = logit.shares()
    ratios = merger.diversion_ratios(logit)
    np.testing.assert_allclose(ratios[0, 1:], s[1:] / (1 - s[0]), rtol=1e-12)  # D_jk = s_k / (1 - s_j)


@pytest.mark.parametrize("model", ["logit", "nested", "rc"])
def test_foc_hold_before_and_after_a_merger(autos, model):
    demands, firms = _some_demands(autos)
    demand = demands[model]
    costs = merger.recover_costs(demand, firms)
    pre = foc_residual(demand(demand.prices), demand.prices, costs, ownership_matrix(firms))
    assert np.abs(pre).max() < 1e-13  # the costs make observed prices an equilibrium
    new = merger.merge_firm_ids(firms, [GM, CHRYSLER])
    result = merger.simulate_merger({1971: demand}, firms, new, np.full(len(firms), 1971))
    assert result.converged.all() and result.foc_norm.max() < 1e-13
    merged = np.isin(firms, [GM, CHRYSLER])
    assert (result.prices_post[merged] > result.prices_pre[merged]).all()
    if model == "logit":  # DESIGN.md section 6 item 4: one markup per firm, -1/(alpha (1 - firm share))
        for f in np.unique(firms):
            own = firms == f
            np.testing.assert_allclose(result.markups_pre[own], -1 / (demand.alpha * (1 - demand.shares()[own].sum())),
                                       rtol=1e-12)


def test_a_merger_that_changes_nothing(autos, logit_results):
    products = autos[0]
    demands = pb.pyblp_demands(logit_results)
    firms = products["firm_ids"].to_numpy()
    same = merger.merge_firm_ids(firms, [GM, GM])
    np.testing.assert_array_equal(same, firms)
    result = merger.simulate_merger(demands, firms, same, products["market_ids"])
    np.testing.assert_allclose(result.prices_post, result.prices_pre, rtol=0, atol=1e-11)
    np.testing.assert_allclose(result.delta_cs, 0.0, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- bad input


def test_bad_input(autos):
    demands, firms = _some_demands(autos)
    logit, nested, rc = demands["logit"], demands["nested"], demands["rc"]
    p, delta = logit.prices, logit.mean_utility()
    nests = nested.nest_ids
    with pytest.raises(ValueError, match="prices has 3 entries for 92 products"):
        merger.LogitDemand(delta, p[:3], -0.3)
    with pytest.raises(ValueError, match="alpha must be negative"):
        merger.LogitDemand(delta, p, 0.2)
    for bad in (0.0, 1.5, -0.2, np.nan):
        with pytest.raises(ValueError, match=r"must lie in \(0, 1\].*rho = 1 - sigma"):
            merger.NestedLogitDemand(delta, p, -0.3, nests, bad)
    with pytest.raises(ValueError, match="sigma for nest 2 is 1.2"):
        merger.NestedLogitDemand(delta, p, -0.3, nests, {0: 0.5, 1: 0.5, 2: 1.2})
    with pytest.raises(ValueError, match=r"no value for nest\(s\) \[2\]"):
        merger.NestedLogitDemand(delta, p, -0.3, nests, {0: 0.5, 1: 0.5})
    with pytest.raises(ValueError, match="nest_ids has 4 entries for 92 products"):
        merger.NestedLogitDemand(delta, p, -0.3, nests[:4], 0.5)
    with pytest.raises(ValueError, match="differs from prices at product 0"):
        merger.RCLogitDemand(delta, p, -0.1, np.column_stack([p + 1.0]), [1.0], np.ones((4, 1)), price_column=0)
    with pytest.raises(ValueError, match="zeta must have one column per column of X2"):
        merger.RCLogitDemand(delta, p, -0.1, np.ones((len(p), 2)), [1.0, 1.0], np.ones((4, 3)))
    with pytest.raises(ValueError, match="weights must be non-negative"):
        merger.RCLogitDemand(delta, p, -0.1, np.ones((len(p), 1)), [1.0], np.ones((2, 1)), weights=[1.0, -0.5])
    upward = merger.RCLogitDemand(delta, p, -0.1, p[:, None], [1.0], np.array([[-1.0], [0.5]]), price_column=0)
    with pytest.raises(ValueError, match="Consumer 1's price coefficient is 0.4 >= 0"):
        upward.consumer_surplus()
    with pytest.raises(ValueError, match=r"Unknown firm id\(s\) \[99\]"):
        merger.merge_firm_ids(firms, [GM, 99])
    with pytest.raises(ValueError, match="new_id 'GM' cannot be stored in firm_ids of dtype int64"):
        merger.merge_firm_ids(firms, [GM, CHRYSLER], new_id="GM")
    with pytest.raises(ValueError, match="new_id 'GMC' does not fit firm_ids of dtype <U2 .*stored as 'GM'"):
        merger.merge_firm_ids(np.array(["GM", "CR", "FD"]), ["GM", "CR"], new_id="GMC")
    with pytest.raises(ValueError, match="n_classes must be an integer; got 2.5"):
        pb.size_class_nests(np.arange(5.0), 2.5)
    with pytest.raises(ValueError, match="n_classes must be at least 1"):
        pb.size_class_nests(np.arange(5.0), 0)
    with pytest.raises(ValueError, match="space is not finite at position 2"):
        pb.size_class_nests([1.0, 2.0, np.nan])
    with pytest.raises(ValueError, match="firm_ids has 3 entries for the market's 92 products"):
        merger.recover_costs(logit, firms[:3])
    markets = np.full(len(p), 1971)
    with pytest.raises(ValueError, match="new_firm_ids has 91 entries for 92 products"):
        merger.simulate_merger({1971: logit}, firms, firms[:-1], markets)
    with pytest.raises(ValueError, match="Market 1971 has 91 rows but its demand has 92 products"):
        merger.simulate_merger({1971: logit}, firms[:-1], firms[:-1], markets[:-1])
    with pytest.raises(ValueError, match="No demand for market 1972"):
        merger.simulate_merger({1971: logit}, firms, firms, np.full(len(p), 1972))
    with pytest.raises(ValueError, match="prices has 2 entries for the market's 92 products"):
        merger.elasticities(rc, p[:2])
    bad_prices = p.copy()
    bad_prices[5] = np.nan
    with pytest.raises(ValueError, match="Market 1971: prices has a non-finite value .* at position 5"):
        merger.logit_demands(delta, bad_prices, -0.3, markets)
    with pytest.raises(ValueError, match=r"sigma for nest 0 is 0.0.*\(0, 1\]"):
        merger.nested_logit_demands(delta, p, -0.3, nests, [0.0, 0.5, 0.5], markets)
