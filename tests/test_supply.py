"""Unit tests of course_lib.supply: ownership, first-order conditions, Bertrand-Nash prices."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from course_lib import data, logit, supply
from course_lib.supply import PriceDerivatives

THETA = np.array([-3.0, 1.0, 1.0, 2.0, -1.0, 1.0])  # (alpha, const, EngineSize, SportsBike, Brand2, Brand3)


# --------------------------------------------------------------------------- demand models


def logit_demand(delta0, alpha):
    """Logit demand with delta = delta0 + alpha * prices."""

    def demand(prices):
        return logit.logit_price_derivatives(logit.logit_shares(delta0 + alpha * np.asarray(prices)), alpha)

    return demand


class TwoTypeMixedLogit:
    """Two consumer types; utility delta0_j + taste_i * x_j + alpha_i * kappa_j * p_j.

    ``kappa_j = 1`` is the usual mixed logit (Lambda = E[alpha_i pi_ij], Gamma = E[alpha_i pi_ij pi_ik]);
    its price Jacobian is symmetric. A product-specific ``kappa_j`` (an ad valorem tax, say) makes
    ``ds_j/dp_k = E[pi_ij (1{j=k} - pi_ik) alpha_i kappa_k]`` non-symmetric, so the transpose in the
    FOC matters: Lambda_jj = E[alpha_i kappa_j pi_ij], Gamma_jk = E[alpha_i kappa_k pi_ij pi_ik].
    """

    def __init__(self, delta0, x, kappa=None, alphas=(-1.0, -4.0), tastes=(1.5, -1.0), weights=(0.35, 0.65)):
        self.delta0 = np.asarray(delta0, float)
        self.x = np.asarray(x, float)
        self.kappa = np.ones_like(self.delta0) if kappa is None else np.asarray(kappa, float)
        self.alphas = np.asarray(alphas, float)
        self.tastes = np.asarray(tastes, float)
        self.weights = np.asarray(weights, float)

    def probabilities(self, prices):
        prices = np.asarray(prices, float)
        u = self.delta0[None, :] + self.tastes[:, None] * self.x[None, :] + self.alphas[:, None] * self.kappa * prices
        return np.stack([logit.logit_shares(row) for row in u])  # (types, J)

    def shares(self, prices):
        return self.weights @ self.probabilities(prices)

    def __call__(self, prices):
        pi = self.probabilities(prices)
        slope = self.alphas[:, None] * self.kappa[None, :]  # d u_ij / d p_j
        lambda_diag = self.weights @ (slope * pi)
        gamma = np.einsum("i,ij,ik,ik->jk", self.weights, pi, pi, slope)
        return PriceDerivatives(shares=self.weights @ pi, lambda_diag=lambda_diag, gamma=gamma)


def market17_demand():
    products = data.market(data.load_motorcycles(), 17)
    rng = np.random.default_rng(17)
    xi = rng.standard_normal(len(products))
    X = np.column_stack(
        [np.ones(len(products)), products[["EngineSize", "SportsBike", "Brand2", "Brand3"]].to_numpy(float)]
    )
    delta0 = X @ THETA[1:] + xi
    return logit_demand(delta0, THETA[0]), products["firm_ids"].to_numpy(), THETA[0]


def random_market(seed):
    rng = np.random.default_rng(seed)
    J = int(rng.integers(2, 9))
    firm_ids = rng.integers(1, 4, J)
    delta0 = rng.normal(1.0, 1.0, J)
    costs = rng.uniform(0.2, 1.5, J)
    alpha = -rng.uniform(1.0, 4.0)
    return delta0, costs, firm_ids, alpha, rng


# --------------------------------------------------------------------------- ownership


def test_ownership_matrix():
    omega = supply.ownership_matrix([1, 2, 1, 3, 2])
    expected = np.array(
        [
            [1, 0, 1, 0, 0],
            [0, 1, 0, 0, 1],
            [1, 0, 1, 0, 0],
            [0, 0, 0, 1, 0],
            [0, 1, 0, 0, 1],
        ],
        dtype=float,
    )
    np.testing.assert_array_equal(omega, expected)
    assert omega.dtype == float


def test_ownership_matrix_string_ids_and_single_firm():
    np.testing.assert_array_equal(supply.ownership_matrix(["a", "b", "a"]), [[1, 0, 1], [0, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(supply.ownership_matrix([4, 4, 4]), np.ones((3, 3)))
    np.testing.assert_array_equal(supply.ownership_matrix([1, 2, 3]), np.eye(3))


def test_ownership_matrix_empty_raises():
    with pytest.raises(ValueError, match="firm_ids is empty"):
        supply.ownership_matrix([])


# --------------------------------------------------------------------------- FOC vs profit gradient


def profit_gradient(shares_fn, prices, costs, firm_ids, h=1e-6):
    """Central finite differences of each product's owner's profit in its own price."""
    prices = np.asarray(prices, float)
    grad = np.empty(len(prices))
    for k in range(len(prices)):
        mine = firm_ids == firm_ids[k]

        def profit(p):
            return np.sum(((p - costs) * shares_fn(p))[mine])

        e = np.zeros(len(prices))
        e[k] = h
        grad[k] = (profit(prices + e) - profit(prices - e)) / (2 * h)
    return grad


def test_foc_residual_logit_matches_profit_gradient():
    rng = np.random.default_rng(5)
    J = 6
    firm_ids = np.array([1, 1, 2, 2, 2, 3])
    delta0, alpha = rng.normal(1.0, 1.0, J), -2.5
    costs = rng.uniform(0.2, 1.0, J)
    prices = rng.uniform(0.5, 2.5, J)  # arbitrary, not the equilibrium
    demand = logit_demand(delta0, alpha)
    foc = supply.foc_residual(demand(prices), prices, costs, supply.ownership_matrix(firm_ids))
    fd = profit_gradient(lambda p: demand(p).shares, prices, costs, firm_ids)
    np.testing.assert_allclose(foc, fd, rtol=1e-7, atol=1e-10)
    assert np.max(np.abs(foc)) > 1e-3  # away from equilibrium: the check is not 0 == 0


@pytest.mark.parametrize("tax", [False, True], ids=["symmetric", "nonsymmetric"])
def test_foc_residual_mixed_logit_matches_profit_gradient(tax):
    rng = np.random.default_rng(11)
    J = 7
    firm_ids = np.array([1, 2, 1, 3, 2, 1, 3])
    kappa = 1 + rng.uniform(0.0, 2.0, J) if tax else None
    demand = TwoTypeMixedLogit(rng.normal(0.5, 1.0, J), rng.normal(0.0, 1.0, J), kappa=kappa)
    costs = rng.uniform(0.1, 0.8, J)
    prices = rng.uniform(0.4, 2.0, J)
    d = demand(prices)

    # The Lambda - Gamma Jacobian is ds/dp (entry [j, k] = ds_j/dp_k) by finite differences.
    h = 1e-6
    fd_jac = np.column_stack([(demand.shares(prices + h * e) - demand.shares(prices - h * e)) / (2 * h) for e in np.eye(J)])
    np.testing.assert_allclose(d.jacobian, fd_jac, rtol=1e-7, atol=1e-11)
    np.testing.assert_allclose(d.shares, demand.shares(prices), rtol=1e-15)

    omega = supply.ownership_matrix(firm_ids)
    foc = supply.foc_residual(d, prices, costs, omega)
    fd = profit_gradient(demand.shares, prices, costs, firm_ids)
    np.testing.assert_allclose(foc, fd, rtol=1e-7, atol=1e-10)

    asymmetry = np.max(np.abs(d.jacobian - d.jacobian.T))
    untransposed = d.shares + (omega * d.jacobian) @ (prices - costs)
    if tax:
        # Here the transpose matters: the FOC without it is not the profit gradient.
        assert asymmetry > 1e-3
        # (finite-difference error is below 1e-9; the untransposed FOC misses by far more)
        assert np.max(np.abs(untransposed - fd)) > 1e-4
    else:
        assert asymmetry < 1e-14  # with kappa = 1 ds/dp is symmetric (Gamma is)
        np.testing.assert_allclose(untransposed, fd, rtol=1e-7, atol=1e-10)


# --------------------------------------------------------------------------- equilibrium prices

METHOD_OPTIONS = {"zeta": {}, "newton": {}, "fixed_point": {"damping": 0.5}}


def solve_all(demand, costs, firm_ids, **extra):
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a converging run must not warn
        for method, options in METHOD_OPTIONS.items():
            results[method] = supply.bertrand_nash_prices(demand, costs, firm_ids, method=method, **options, **extra)
    return results


def assert_methods_agree(results, demand, costs, firm_ids):
    omega = supply.ownership_matrix(firm_ids)
    for method, r in results.items():
        assert r.converged, method
        assert r.method == method
        assert r.iterations > 0
        np.testing.assert_allclose(r.markups, r.prices - costs, rtol=0, atol=1e-15)
        np.testing.assert_allclose(r.shares, demand(r.prices).shares, rtol=1e-14)
        foc = supply.foc_residual(demand(r.prices), r.prices, costs, omega)
        assert np.max(np.abs(foc)) < 1e-11, method
        assert r.foc_norm == pytest.approx(np.max(np.abs(foc)), abs=1e-15)
    reference = results["zeta"].prices
    for method in ("newton", "fixed_point"):
        np.testing.assert_allclose(results[method].prices, reference, rtol=0, atol=1e-10, err_msg=method)


def test_methods_agree_market17():
    demand, firm_ids, _ = market17_demand()
    costs = np.zeros(len(firm_ids))
    results = solve_all(demand, costs, firm_ids)
    assert_methods_agree(results, demand, costs, firm_ids)
    assert np.all(results["zeta"].prices > 0)
    assert len(set(firm_ids)) == 3


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_methods_agree_random_logit_markets(seed):
    delta0, costs, firm_ids, alpha, _ = random_market(seed)
    demand = logit_demand(delta0, alpha)
    results = solve_all(demand, costs, firm_ids, initial_prices=costs + 0.3)
    assert_methods_agree(results, demand, costs, firm_ids)


@pytest.mark.parametrize("seed", [7, 8])
def test_methods_agree_random_mixed_logit_markets(seed):
    delta0, costs, firm_ids, _, rng = random_market(seed)
    J = len(costs)
    demand = TwoTypeMixedLogit(delta0, rng.normal(0.0, 1.0, J), kappa=1 + rng.uniform(0.0, 0.5, J))
    results = solve_all(demand, costs, firm_ids)
    assert_methods_agree(results, demand, costs, firm_ids)


def firm_share_sums(shares, firm_ids):
    return np.array([shares[firm_ids == f].sum() for f in firm_ids])


def test_logit_markups_equal_within_firm_market17():
    demand, firm_ids, alpha = market17_demand()
    costs = np.zeros(len(firm_ids))
    r = supply.bertrand_nash_prices(demand, costs, firm_ids, method="zeta")
    expected = -1.0 / (alpha * (1.0 - firm_share_sums(r.shares, firm_ids)))
    np.testing.assert_allclose(r.markups, expected, rtol=1e-11)
    for f in np.unique(firm_ids):
        m = r.markups[firm_ids == f]
        np.testing.assert_allclose(m, m[0], rtol=1e-11)
    # ... but they differ across firms.
    per_firm = [r.markups[firm_ids == f][0] for f in np.unique(firm_ids)]
    assert np.ptp(per_firm) > 1e-2


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_logit_markups_formula_random_markets(seed):
    delta0, costs, firm_ids, alpha, _ = random_market(seed)
    r = supply.bertrand_nash_prices(logit_demand(delta0, alpha), costs, firm_ids, method="newton")
    expected = -1.0 / (alpha * (1.0 - firm_share_sums(r.shares, firm_ids)))
    np.testing.assert_allclose(r.markups, expected, rtol=1e-10)


def test_single_product_firms_markup():
    rng = np.random.default_rng(31)
    J = 5
    delta0, alpha = rng.normal(0.5, 1.0, J), -2.0
    costs = rng.uniform(0.2, 1.0, J)
    firm_ids = np.arange(J)  # every product its own firm
    r = supply.bertrand_nash_prices(logit_demand(delta0, alpha), costs, firm_ids, method="zeta")
    assert r.converged
    np.testing.assert_allclose(r.markups, -1.0 / (alpha * (1.0 - r.shares)), rtol=1e-11)
    # Different shares, different markups: single-product firms do not share one markup.
    assert np.ptp(r.markups) > 1e-3


def test_monopoly_markup():
    # One firm owning everything: markup -1 / (alpha * s0) on every product.
    delta0, alpha = np.array([1.0, 0.0, 2.0]), -1.5
    costs = np.array([0.5, 0.3, 1.0])
    r = supply.bertrand_nash_prices(logit_demand(delta0, alpha), costs, [9, 9, 9], method="zeta")
    np.testing.assert_allclose(r.markups, -1.0 / (alpha * (1 - r.shares.sum())), rtol=1e-11)


def test_undamped_fixed_point_market17_does_not_converge():
    demand, firm_ids, _ = market17_demand()
    costs = np.zeros(len(firm_ids))
    with pytest.warns(RuntimeWarning, match=r"did not converge after 10000 iterations; last residual"):
        r = supply.bertrand_nash_prices(demand, costs, firm_ids, method="fixed_point")
    assert r.converged is False
    assert r.iterations == 10_000
    assert len(r.residuals) == 10_000
    assert r.foc_norm > 1e-3
    # The damped iteration from the same start does converge (see test_methods_agree_market17).


def test_iteration_limit_warns_with_count():
    demand, firm_ids, _ = market17_demand()
    with pytest.warns(RuntimeWarning, match=r"method='zeta'\) did not converge after 3 iterations"):
        r = supply.bertrand_nash_prices(demand, np.zeros(len(firm_ids)), firm_ids, method="zeta", max_iterations=3)
    assert not r.converged and r.iterations == 3


def test_unknown_method_lists_allowed():
    demand, firm_ids, _ = market17_demand()
    with pytest.raises(ValueError, match=r"Unknown method 'bisection'.*'fixed_point'.*'zeta'.*'newton'"):
        supply.bertrand_nash_prices(demand, np.zeros(len(firm_ids)), firm_ids, method="bisection")


def test_mismatched_lengths_raise():
    demand = logit_demand(np.zeros(3), -1.0)
    with pytest.raises(ValueError, match=r"Mismatched lengths: costs=3, firm_ids=2"):
        supply.bertrand_nash_prices(demand, np.zeros(3), [1, 2])
    with pytest.raises(ValueError, match=r"Mismatched lengths: .*initial_prices=2"):
        supply.bertrand_nash_prices(demand, np.zeros(3), [1, 2, 3], initial_prices=[1.0, 1.0])


@pytest.mark.parametrize("damping", [0.0, -0.5, 1.5, np.nan])
def test_damping_outside_unit_interval_raises(damping):
    demand = logit_demand(np.zeros(3), -1.0)
    with pytest.raises(ValueError, match=r"damping must be in \(0, 1\]"):
        supply.bertrand_nash_prices(demand, np.zeros(3), [1, 2, 3], method="fixed_point", damping=damping)


def test_damping_one_is_allowed():
    demand = logit_demand(np.zeros(3), -1.0)
    r = supply.bertrand_nash_prices(demand, np.zeros(3), [1, 2, 3], method="zeta", damping=1.0)
    assert r.converged


def test_nonfinite_costs_and_bad_tol_raise():
    demand = logit_demand(np.zeros(2), -1.0)
    with pytest.raises(ValueError, match="costs has a non-finite value"):
        supply.bertrand_nash_prices(demand, [0.0, np.nan], [1, 2])
    with pytest.raises(ValueError, match="tol must be positive"):
        supply.bertrand_nash_prices(demand, [0.0, 0.0], [1, 2], tol=0.0)
    with pytest.raises(ValueError, match="newton_xtol must be positive"):
        supply.bertrand_nash_prices(demand, [0.0, 0.0], [1, 2], method="newton", newton_xtol=0.0)
