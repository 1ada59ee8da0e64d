"""course_lib.rc_logit: price derivatives, elasticities and diversion ratios of the RC logit.

Checked against central finite differences of s_hat in prices, the logit's closed forms at
sigma = 0, the adding-up of diversion ratios, the Bertrand-Nash first-order conditions with
random-coefficients demand, and pyBLP's ``compute_elasticities`` / ``compute_diversion_ratios``
at the same parameters (sliced by market id, never by position: DESIGN.md section 6 item 7).
"""

import warnings

import numpy as np
import pytest

from course_lib import data, logit, supply
from course_lib import rc_logit as rc

SIGMA = np.array([0.5, 1.0])
ALPHA = -3.0


@pytest.fixture(scope="module")
def frames():
    return data.load_motorcycles(), data.load_motorcycle_agents()


def market_inputs(frames, t):
    """X2 = (prices, EngineSize), draws and weights of market t, selected by market id."""
    products, agents = frames
    m = data.market(products, t)
    a = data.market(agents, t)
    return (m["prices"].to_numpy(), m[["prices", "EngineSize"]].to_numpy(),
            a[["nodes0", "nodes1"]].to_numpy(), a["weights"].to_numpy(), m)


@pytest.fixture(scope="module")
def m17(frames):
    prices, X2, zeta, w, m = market_inputs(frames, 17)
    delta = data.market(data.load_motorcycle_truth(), 17)["delta"].to_numpy()
    return prices, X2, zeta, w, m, delta


def shares_at(prices, base_prices, delta, X2, sigma, zeta, w, alpha=ALPHA, price_column=0):
    """s_hat after moving prices from base_prices: delta by alpha * dp, X2's price column to prices."""
    X2 = X2.copy()
    if price_column is not None:
        X2[:, price_column] = prices
    return rc.s_hat(delta + alpha * (prices - base_prices), X2, sigma, zeta, w)


# ------------------------------------------------------------------ finite differences

@pytest.mark.parametrize("sigma", [SIGMA, np.array([1.5, 0.3]), np.array([0.0, 1.0])])
def test_price_jacobian_and_elasticities_match_central_differences(m17, sigma):
    prices, X2, zeta, w, _, delta = m17
    d = rc.price_derivatives(delta, X2, sigma, zeta, ALPHA, weights=w)
    np.testing.assert_allclose(d.shares, rc.s_hat(delta, X2, sigma, zeta, w), rtol=1e-14)
    h = 1e-6
    fd = np.column_stack([
        (shares_at(prices + h * e, prices, delta, X2, sigma, zeta, w)
         - shares_at(prices - h * e, prices, delta, X2, sigma, zeta, w)) / (2 * h)
        for e in np.eye(len(prices))
    ])
    np.testing.assert_allclose(d.jacobian, fd, rtol=1e-7, atol=1e-11)
    E = rc.elasticities(prices, delta, X2, sigma, zeta, ALPHA, weights=w)
    np.testing.assert_allclose(E, fd * prices[None, :] / d.shares[:, None], rtol=1e-7, atol=1e-10)
    # Lambda and Gamma are the pieces Morrow and Skerlos need: check them one by one.
    pi = rc.individual_probabilities(delta, X2, sigma, zeta)
    alpha_i = ALPHA + sigma[0] * zeta[:, 0]
    np.testing.assert_allclose(d.lambda_diag, pi @ (w * alpha_i), rtol=1e-13)
    np.testing.assert_allclose(d.gamma, np.einsum("i,ji,ki->jk", w * alpha_i, pi, pi), rtol=1e-12)


def test_price_without_random_coefficient(m17):
    """price_column=None: price is not in X2 and every consumer has alpha_i = alpha."""
    prices, X2, zeta, w, _, delta = m17
    X2e, zetae, sigma = X2[:, [1]], zeta[:, [1]], np.array([1.0])
    E = rc.elasticities(prices, delta, X2e, sigma, zetae, ALPHA, price_column=None, weights=w)
    h = 1e-6
    fd = np.column_stack([
        (shares_at(prices + h * e, prices, delta, X2e, sigma, zetae, w, price_column=None)
         - shares_at(prices - h * e, prices, delta, X2e, sigma, zetae, w, price_column=None)) / (2 * h)
        for e in np.eye(len(prices))
    ])
    s = rc.s_hat(delta, X2e, sigma, zetae, w)
    np.testing.assert_allclose(E, fd * prices[None, :] / s[:, None], rtol=1e-7, atol=1e-10)
    # ... which is the price column with sigma_p = 0.
    E0 = rc.elasticities(prices, delta, X2, [0.0, 1.0], zeta, ALPHA, weights=w)
    np.testing.assert_allclose(E, E0, rtol=1e-13)


# ------------------------------------------------------------------ closed forms at sigma = 0

def test_sigma_zero_is_the_logit(m17):
    prices, X2, zeta, w, _, delta = m17
    E = rc.elasticities(prices, delta, X2, [0.0, 0.0], zeta, ALPHA, weights=w)
    s = logit.logit_shares(delta)
    np.testing.assert_allclose(E, logit.logit_elasticities(prices, s, ALPHA), rtol=1e-13, atol=1e-15)
    d = rc.price_derivatives(delta, X2, [0.0, 0.0], zeta, ALPHA, weights=w)
    d_logit = logit.logit_price_derivatives(s, ALPHA)
    np.testing.assert_allclose(d.lambda_diag, d_logit.lambda_diag, rtol=1e-13)
    np.testing.assert_allclose(d.gamma, d_logit.gamma, rtol=1e-13)
    inside, outside = rc.diversion_ratios(delta, X2, [0.0, 0.0], zeta, ALPHA, weights=w)
    expected = s[None, :] / (1 - s[:, None])
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(inside, expected, rtol=1e-12)
    np.testing.assert_allclose(outside, (1 - s.sum()) / (1 - s), rtol=1e-12)


def test_random_coefficients_break_iia(m17):
    """With sigma > 0 the off-diagonal entries of a column differ; at sigma = 0 they do not."""
    prices, X2, zeta, w, _, delta = m17
    J = len(prices)
    off = ~np.eye(J, dtype=bool)

    def spread(sigma):
        E = rc.elasticities(prices, delta, X2, sigma, zeta, ALPHA, weights=w)
        cols = [E[off[:, k], k] for k in range(J)]
        return max(c.max() - c.min() for c in cols)

    assert spread([0.0, 0.0]) < 1e-14
    assert spread(SIGMA) > 1e-2


# ------------------------------------------------------------------ diversion ratios

@pytest.mark.parametrize("t", [1, 17, 50])
def test_diversion_rows_sum_to_one_with_the_outside_good(frames, t):
    prices, X2, zeta, w, m = market_inputs(frames, t)
    delta = rc.invert_shares(m["shares"].to_numpy(), X2, SIGMA, zeta, w).delta
    inside, outside = rc.diversion_ratios(delta, X2, SIGMA, zeta, ALPHA, weights=w)
    assert inside.shape == (len(prices), len(prices)) and outside.shape == (len(prices),)
    np.testing.assert_allclose(inside.sum(axis=1) + outside, 1.0, rtol=1e-13)
    assert (np.diag(inside) == 0).all() and (inside[~np.eye(len(prices), dtype=bool)] > 0).all()
    assert ((outside > 0) & (outside < 1)).all()
    # Entry [j, k] is -(ds_k/dp_j) / (ds_j/dp_j).
    jac = rc.price_derivatives(delta, X2, SIGMA, zeta, ALPHA, weights=w).jacobian
    np.testing.assert_allclose(inside[0, 1], -jac[1, 0] / jac[0, 0], rtol=1e-13)


# ------------------------------------------------------------------ supply side

@pytest.mark.parametrize("method", ["zeta", "newton"])
def test_bertrand_nash_prices_with_rc_demand_satisfy_the_foc(m17, method):
    prices, X2, zeta, w, m, delta = m17
    costs = data.market(data.load_motorcycle_truth(), 17)["costs"].to_numpy()
    firm_ids = m["firm_ids"].to_numpy()

    def demand(p):
        X2p = X2.copy()
        X2p[:, 0] = p
        return rc.price_derivatives(delta + ALPHA * (p - prices), X2p, SIGMA, zeta, ALPHA, weights=w)

    result = supply.bertrand_nash_prices(demand, costs, firm_ids, method=method)
    assert result.converged
    foc = supply.foc_residual(demand(result.prices), result.prices, costs, supply.ownership_matrix(firm_ids))
    assert np.abs(foc).max() < 1e-12
    assert result.foc_norm < 1e-12
    # Within a firm, RC markups are no longer equal (the logit's would be).
    for f in np.unique(firm_ids):
        mk = result.markups[firm_ids == f]
        if len(mk) > 1:
            assert mk.max() - mk.min() > 1e-4
    # The data's prices came from the same model integrated by quadrature, not these 200
    # draws: close, not equal.
    assert np.abs(result.prices - prices).max() < 0.05 * prices.max()


def test_zeta_and_newton_agree_with_rc_demand(m17):
    prices, X2, zeta, w, m, delta = m17
    costs = data.market(data.load_motorcycle_truth(), 17)["costs"].to_numpy()

    def demand(p):
        X2p = X2.copy()
        X2p[:, 0] = p
        return rc.price_derivatives(delta + ALPHA * (p - prices), X2p, SIGMA, zeta, ALPHA, weights=w)

    a = supply.bertrand_nash_prices(demand, costs, m["firm_ids"], method="zeta")
    b = supply.bertrand_nash_prices(demand, costs, m["firm_ids"], method="newton")
    np.testing.assert_allclose(a.prices, b.prices, rtol=1e-10)


# ------------------------------------------------------------------ pyBLP

@pytest.fixture(scope="module")
def pyblp_at_sigma(frames):
    pytest.importorskip("pyblp")
    from course_lib.pyblp_bridge import pyblp_rc_solve

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pyblp_rc_solve(*frames, SIGMA, method="1s", optimize=False)


@pytest.mark.parametrize("t", [17, 1, 100])
def test_elasticities_and_diversion_match_pyblp(frames, pyblp_at_sigma, t):
    """pyBLP evaluated at sigma = (0.5, 1.0) (Optimization('return')); course_lib fed pyBLP's
    delta and price coefficient. pyBLP stacks the J_t x J_t blocks by market, padded with NaN
    to the largest J_t: select market t's rows by market id, then its first J_t columns."""
    products, _ = frames
    results = pyblp_at_sigma
    prices, X2, zeta, w, m = market_inputs(frames, t)
    rows = products["market_ids"].to_numpy() == t
    J = rows.sum()
    delta = results.delta.ravel()[rows]
    alpha = float(results.beta.ravel()[1])  # 1, prices, EngineSize, ...
    ours = rc.elasticities(prices, delta, X2, SIGMA, zeta, alpha, weights=w)
    stacked = results.compute_elasticities()
    theirs = stacked[rows][:, :J]
    np.testing.assert_allclose(ours, theirs, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(ours, results.compute_elasticities(market_id=t), rtol=1e-11, atol=1e-13)
    inside, outside = rc.diversion_ratios(delta, X2, SIGMA, zeta, alpha, weights=w)
    theirs_d = results.compute_diversion_ratios(market_id=t)
    np.testing.assert_allclose(inside[~np.eye(J, dtype=bool)], theirs_d[~np.eye(J, dtype=bool)], rtol=1e-11)
    np.testing.assert_allclose(outside, np.diag(theirs_d), rtol=1e-11)


def test_index_arithmetic_picks_the_wrong_rows(frames, pyblp_at_sigma):
    """The problem set's elasticities[17*7+1 : 17*7+8] assumes 7 products in every market;
    with unbalanced markets those rows belong to other markets."""
    products, _ = frames
    ids = products["market_ids"].to_numpy()
    assert not (ids[17 * 7 + 1: 17 * 7 + 8] == 17).all()


# ------------------------------------------------------------------ bad inputs

def test_bad_inputs_raise(m17):
    prices, X2, zeta, w, _, delta = m17
    with pytest.raises(ValueError, match="price_column"):
        rc.price_derivatives(delta, X2, SIGMA, zeta, ALPHA, price_column=2, weights=w)
    with pytest.raises(ValueError, match="price_column"):
        rc.price_derivatives(delta, X2, SIGMA, zeta, ALPHA, price_column=0.0, weights=w)
    with pytest.raises(ValueError, match="alpha"):
        rc.price_derivatives(delta, X2, SIGMA, zeta, np.nan, weights=w)
    with pytest.raises(ValueError, match="zeta"):
        rc.elasticities(prices, delta, X2, SIGMA, zeta[:, :1], ALPHA, weights=w)
    with pytest.raises(ValueError, match="prices differ"):
        rc.elasticities(prices + 1, delta, X2, SIGMA, zeta, ALPHA, weights=w)
    with pytest.raises(ValueError, match="prices has"):
        rc.elasticities(prices[:-1], delta, X2, SIGMA, zeta, ALPHA, weights=w)
    with pytest.raises(ValueError, match="non-negative"):
        rc.diversion_ratios(delta, X2, [-0.5, 1.0], zeta, ALPHA, weights=w)
    with pytest.raises(ValueError, match="own price"):
        rc.diversion_ratios(delta, X2, SIGMA, zeta, 3.0, weights=w)
