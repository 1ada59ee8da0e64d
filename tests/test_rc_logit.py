"""course_lib.rc_logit: the problem set's test cases, derivatives, the contraction, pyBLP."""

import numpy as np
import pytest

from course_lib import data
from course_lib import rc_logit as rc

SIGMA = np.array([0.5, 1.0])


@pytest.fixture(scope="module")
def market17():
    m = data.market(data.load_motorcycles(), 17)
    return m[["prices", "EngineSize"]].to_numpy()


@pytest.fixture
def zeta():
    return np.random.default_rng(0).standard_normal((20, 2))


# ------------------------------------------------------------------ the problem set's cases (Q9)

def test_case1_no_heterogeneity_equal_deltas(zeta):
    np.testing.assert_allclose(rc.s_hat(np.zeros(3), np.ones((3, 2)), [0.0, 0.0], zeta), 0.25, rtol=1e-15)


def test_case2_extreme_deltas_are_not_one(zeta):
    s = rc.s_hat(np.array([40.0, 20.0, 20.0]), np.ones((3, 2)), [0.0, 0.0], zeta)
    np.testing.assert_allclose(s, [9.99999996e-01, 2.06115361e-09, 2.06115361e-09], rtol=1e-8)
    assert s[0] < 1.0 and s.sum() < 1.0


def test_case3_sigma_with_zero_x(zeta):
    np.testing.assert_allclose(rc.s_hat(np.zeros(3), np.zeros((3, 2)), [0.1, 0.1], zeta), 0.25, rtol=1e-15)


def test_case4_market17_characteristics_move_shares(zeta, market17):
    s = rc.s_hat(np.zeros(3), market17[:3], [0.1, 0.1], zeta)
    assert np.all(np.abs(s - 0.25) > 1e-5) and np.all(np.abs(s - 0.25) < 0.01)
    # ... and a hand-rolled loop over the 20 consumers gives the same answer.
    by_hand = np.zeros(3)
    for z in zeta:
        u = market17[:3] @ (np.array([0.1, 0.1]) * z)
        by_hand += np.exp(u) / (1 + np.exp(u).sum()) / len(zeta)
    np.testing.assert_allclose(s, by_hand, rtol=1e-13)


def test_case5(zeta):
    s = rc.s_hat(np.array([4.0, 2.0, 2.0]), np.zeros((3, 2)), [0.0, 0.0], zeta)
    np.testing.assert_allclose(s, [0.77580349, 0.10499359, 0.10499359], rtol=1e-7)


def test_case2_cannot_be_inverted_in_double_precision(zeta, market17):
    """Its outside share, about 4e-18, is lost when 1 - sum(s) is formed: the shares sum to
    exactly 1 in floating point and delta is not identified from them. The library says so."""
    shares = rc.s_hat(np.array([40.0, 20.0, 20.0]), market17[:3], SIGMA, zeta)
    assert shares.sum() == 1.0
    with pytest.raises(ValueError, match="sum to 1 >= 1"):
        rc.invert_shares(shares, market17[:3], SIGMA, zeta)


@pytest.mark.parametrize("delta", [[0, 0, 0], [4, 2, 2], [1, -1, 0.5]])
@pytest.mark.parametrize("method", ["simple", "squarem"])
def test_inverting_the_test_cases_gives_back_delta(delta, method, zeta, market17):
    delta = np.asarray(delta, float)
    shares = rc.s_hat(delta, market17[:3], SIGMA, zeta)
    result = rc.invert_shares(shares, market17[:3], SIGMA, zeta, method=method)
    assert result.converged
    np.testing.assert_allclose(result.delta, delta, atol=1e-9)


# ------------------------------------------------------------------ properties

def test_sigma_zero_is_logit(market17):
    from course_lib.logit import logit_shares
    delta = np.array([0.3, -1.0, 2.0, 0.1, 0.0, 1.5, -0.4])
    z = np.random.default_rng(1).standard_normal((50, 2))
    np.testing.assert_allclose(rc.s_hat(delta, market17, [0, 0], z), logit_shares(delta), rtol=1e-14)


def test_huge_utilities_give_finite_shares(zeta):
    for delta in ([800.0, 0.0, -5.0], [-800.0, -800.0, -800.0], [800.0, 800.0, 799.0]):
        s = rc.s_hat(np.array(delta), np.ones((3, 2)), SIGMA, zeta)
        assert np.all(np.isfinite(s)) and s.sum() <= 1.0 + 1e-15


def test_weights_act_as_quadrature(market17):
    """Gauss-Hermite quadrature reproduces a very large Monte Carlo integral."""
    nodes, w = np.polynomial.hermite_e.hermegauss(15)
    grid = np.array(np.meshgrid(nodes, nodes)).reshape(2, -1).T
    weights = np.outer(w, w).ravel() / (2 * np.pi)
    delta = np.linspace(-1, 1, 7)
    quad = rc.s_hat(delta, market17, SIGMA, grid, weights)
    mc = rc.s_hat(delta, market17, SIGMA, np.random.default_rng(2).standard_normal((400_000, 2)))
    np.testing.assert_allclose(quad, mc, atol=2e-3)


def test_jacobians_match_finite_differences(market17):
    rng = np.random.default_rng(3)
    z = rng.standard_normal((300, 2))
    delta = rng.normal(size=7)
    h = 1e-6
    shares = lambda d, s=SIGMA: rc.s_hat(d, market17, s, z)  # noqa: E731
    fd_delta = np.column_stack([(shares(delta + h * e) - shares(delta - h * e)) / (2 * h) for e in np.eye(7)])
    fd_sigma = np.column_stack([(shares(delta, SIGMA + h * e) - shares(delta, SIGMA - h * e)) / (2 * h) for e in np.eye(2)])
    np.testing.assert_allclose(rc.share_jacobian_delta(delta, market17, SIGMA, z), fd_delta, atol=1e-9)
    np.testing.assert_allclose(rc.share_jacobian_sigma(delta, market17, SIGMA, z), fd_sigma, atol=1e-9)


def test_jacobian_delta_is_not_the_logit_formula(market17):
    """DESIGN.md section 6 item 5: the mean of pi_j (1 - pi_j) is not s_j (1 - s_j)."""
    z = np.random.default_rng(4).standard_normal((200, 2))
    delta = np.zeros(7)
    s = rc.s_hat(delta, market17, SIGMA, z)
    J = rc.share_jacobian_delta(delta, market17, SIGMA, z)
    assert np.max(np.abs(np.diag(J) - s * (1 - s))) > 1e-3


@pytest.mark.parametrize("seed", range(5))
def test_inversion_round_trips_on_random_markets(seed):
    rng = np.random.default_rng(seed)
    J = rng.integers(1, 12)
    X2 = rng.normal(size=(J, 2))
    z = rng.standard_normal((100, 2))
    sigma = rng.uniform(0, 2, 2)
    delta = rng.normal(0, 3, J)
    shares = rc.s_hat(delta, X2, sigma, z)
    for method in ("simple", "squarem"):
        result = rc.invert_shares(shares, X2, sigma, z, method=method, max_iterations=200_000)
        assert result.converged, (method, result.residual)
        np.testing.assert_allclose(result.delta, delta, atol=1e-8)


def test_small_outside_share_slows_the_contraction():
    """The contraction's modulus approaches 1 - s0 (Dube, Fox and Su 2012): with s0 below 1e-3
    the simple iteration needs tens of thousands of evaluations, SQUAREM over twenty times fewer."""
    rng = np.random.default_rng(11)
    z = rng.standard_normal((100, 2))
    X2 = rng.normal(size=(5, 2))
    delta = rng.normal(0, 1, 5) + 6
    shares = rc.s_hat(delta, X2, SIGMA, z)
    assert 1e-5 < 1 - shares.sum() < 1e-3
    # The tolerance sits above this market's rounding floor, about eps / s0 = 6e-13: at 1e-14 SQUAREM
    # wanders at the floor until a residual happens to fall below it (1,700 to 8,700 evaluations,
    # by BLAS kernel); at 1e-12 it needs 380 to 460, the plain iteration 45,925 on every kernel.
    simple = rc.invert_shares(shares, X2, SIGMA, z, method="simple", max_iterations=500_000, tol=1e-12)
    squarem = rc.invert_shares(shares, X2, SIGMA, z, method="squarem", tol=1e-12)
    assert simple.converged and squarem.converged
    assert simple.iterations > 20 * squarem.iterations
    np.testing.assert_allclose(squarem.delta, delta, atol=1e-9)


def test_squarem_needs_far_fewer_evaluations(market17):
    z = np.random.default_rng(5).standard_normal((200, 2))
    shares = rc.s_hat(np.array([4.0, 2.0, 2.0]), market17[:3], SIGMA, z)
    simple = rc.invert_shares(shares, market17[:3], SIGMA, z, method="simple")
    squarem = rc.invert_shares(shares, market17[:3], SIGMA, z, method="squarem")
    assert squarem.iterations * 5 < simple.iterations
    assert simple.residuals[-1] < 1e-14 and len(simple.residuals) == simple.iterations


def test_non_convergence_is_reported(market17, zeta):
    shares = rc.s_hat(np.array([4.0, 2.0, 2.0]), market17[:3], SIGMA, zeta)
    with pytest.warns(RuntimeWarning, match=r"did not converge after 5 iterations; last residual"):
        result = rc.invert_shares(shares, market17[:3], SIGMA, zeta, method="simple", max_iterations=5)
    assert not result.converged and result.iterations == 5


# ------------------------------------------------------------------ agreement with pyBLP

def test_inversion_matches_pyblp_on_every_market():
    """Same shares, draws, weights, sigma, SQUAREM settings and tolerance as pyBLP."""
    import pyblp

    pyblp.options.verbose = False
    products, agents = data.load_motorcycles(), data.load_motorcycle_agents()
    problem = pyblp.Problem(
        (pyblp.Formulation("1 + prices + EngineSize + SportsBike + Brand2 + Brand3"),
         pyblp.Formulation("0 + prices + EngineSize")),
        products, agent_data=agents,
    )
    results = problem.solve(
        sigma=np.diag(SIGMA), method="1s", optimization=pyblp.Optimization("return"),
        iteration=pyblp.Iteration("squarem", {"atol": 1e-14}),
    )
    ours = np.empty(len(products))
    evaluations = []
    for t in np.unique(products["market_ids"]):
        rows = (products["market_ids"] == t).to_numpy()
        draws = agents[agents["market_ids"] == t]
        r = rc.invert_shares(products.loc[rows, "shares"], products.loc[rows, ["prices", "EngineSize"]],
                             SIGMA, draws[["nodes0", "nodes1"]], draws["weights"])
        assert r.converged
        ours[rows] = r.delta
        evaluations.append(r.iterations)
    np.testing.assert_allclose(ours, results.delta.ravel(), rtol=0, atol=1e-12)
    # The same floating-point operations: identical counts and bits on most machines. Where NumPy's
    # SIMD loops round the two libraries' differently laid-out arrays differently (NumPy without its
    # AVX-512 loops: delta 3e-15 apart), a market whose last residual lands within rounding of the
    # 1e-14 tolerance stops one evaluation apart (1 market of 100 there).
    gap = np.abs(np.array(evaluations) - np.asarray(results.contraction_evaluations).ravel())
    assert (gap > 0).sum() <= 3 and gap.max() <= 3


# ------------------------------------------------------------------ bad inputs

def test_bad_inputs_raise(market17, zeta):
    X3 = market17[:3]
    with pytest.raises(ValueError, match="sigma must be non-negative"):
        rc.s_hat(np.zeros(3), X3, [-0.1, 0.1], zeta)
    with pytest.raises(ValueError, match="zeta must have one column per random coefficient"):
        rc.s_hat(np.zeros(3), X3, [0.1, 0.1], zeta[:, :1])
    with pytest.raises(ValueError, match=r"X2 must have 4 rows \(one per product\)"):
        rc.s_hat(np.zeros(4), X3, [0.1, 0.1], zeta)
    with pytest.raises(ValueError, match="sigma has 1 entries for 2 columns"):
        rc.s_hat(np.zeros(3), X3, [0.1], zeta)
    with pytest.raises(ValueError, match="weights"):
        rc.s_hat(np.zeros(3), X3, [0.1, 0.1], zeta, np.ones(20))
    with pytest.raises(ValueError, match="delta has a non-finite value"):
        rc.s_hat(np.array([0.0, np.nan, 0.0]), X3, [0.1, 0.1], zeta)
    with pytest.raises(ValueError, match="strictly positive"):
        rc.invert_shares([0.2, 0.0, 0.1], X3, [0.1, 0.1], zeta)
    with pytest.raises(ValueError, match=r"sum to 1.1 >= 1"):
        rc.invert_shares([0.5, 0.3, 0.3], X3, [0.1, 0.1], zeta)
    with pytest.raises(ValueError, match="not finite"):
        rc.invert_shares([0.2, np.nan, 0.1], X3, [0.1, 0.1], zeta)
    with pytest.raises(ValueError, match="Unknown method 'newton'; choose one of 'squarem', 'simple'"):
        rc.invert_shares([0.2, 0.1, 0.1], X3, [0.1, 0.1], zeta, method="newton")
