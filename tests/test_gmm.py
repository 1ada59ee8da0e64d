"""course_lib.gmm: the RC-logit GMM problem on all markets, checked against pyBLP 1.3.

Conventions (pyBLP's, adopted by course_lib.gmm, so nothing needs converting): the objective is
N * gbar' W gbar with gbar = Z'xi / N, the first-step weight W1 = (Z'Z/N)^{-1} (so the objective
is xi'Z (Z'Z)^{-1} Z'xi, the problem set's), the second-step weight the inverse of the centred
moment covariance, robust standard errors sqrt(diag(V) / N). pyBLP's ZD lists the excluded
instruments first; course_lib's Z lists the exogenous X1 columns first (W is permuted, nothing
else changes).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from course_lib import data, gmm, iv
from course_lib import rc_logit as rc
from course_lib.pyblp_bridge import pyblp_rc_problem, pyblp_rc_solve

SIGMA = np.array([0.5, 1.0])
START = np.array([0.5, 0.5])
# After L-BFGS-B (gtol 1e-5) and two Newton steps the projected gradient sits at its rounding
# floor, measured at 1e-14 to 2e-12 on the BLAS/SIMD kernels of tests/kernel_matrix.py; this bound
# is a thousand times the floor (course_lib.optimize.NEWTON_KEEP).
POLISHED = 1e-9
# Two implementations on the same search path: the estimates, standard errors and objective agreed
# to 1e-11 relative at worst on every kernel (their contractions and linear algebra round
# differently); the bound leaves a factor of 100.
AGREE = 1e-9


@pytest.fixture(scope="module")
def frames():
    return data.load_motorcycles(), data.load_motorcycle_agents()


@pytest.fixture(scope="module")
def problem(frames):
    return gmm.BLPProblem(*frames)


@pytest.fixture(scope="module")
def pyblp_problem(frames):
    return pyblp_rc_problem(*frames)


@pytest.fixture(scope="module")
def ours_2s(problem):
    return problem.solve(START, method="2s")


@pytest.fixture(scope="module")
def pyblp_2s(frames, pyblp_problem):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pyblp_rc_solve(*frames, START, method="2s", problem=pyblp_problem)


def pyblp_order(problem):
    """Permutation taking course_lib's Z columns to pyBLP's ZD order (excluded instruments first)."""
    names = list(problem.z_names)
    return [names.index(n) for n in list(problem.excluded_names) + list(problem.exogenous_names)]


def pyblp_parameters(results):
    return np.r_[results.sigma.diagonal(), results.beta.ravel()]


def pyblp_se(results):
    return np.r_[results.sigma_se.diagonal(), results.beta_se.ravel()]


# ------------------------------------------------------------------ the objective and its pieces

def test_objective_at_sigma_zero_matches_pyblp_and_2sls(frames, problem, pyblp_problem):
    """At sigma = 0 delta is the logit inversion and xi the 2SLS residual; pyBLP's N-scaled
    objective with W = (Z'Z/N)^{-1} equals xi'Z (Z'Z)^{-1} Z'xi: the scalings cancel."""
    ev = problem.evaluate([0.0, 0.0], gradient=False)
    theirs = pyblp_rc_solve(*frames, [0.0, 0.0], method="1s", optimize=False, problem=pyblp_problem)
    np.testing.assert_allclose(ev.objective, float(theirs.objective), rtol=1e-12)
    Z, xi = problem.Z, ev.xi
    np.testing.assert_allclose(ev.objective, xi @ Z @ np.linalg.solve(Z.T @ Z, Z.T @ xi), rtol=1e-12)
    tsls = iv.tsls(problem.logit_delta, problem.X1, problem.Z)
    np.testing.assert_allclose(ev.beta, tsls.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(xi, tsls.residuals, atol=1e-10)


def test_objective_beta_and_gradient_match_pyblp(frames, problem, pyblp_problem):
    ev = problem.evaluate(SIGMA)
    theirs = pyblp_rc_solve(*frames, SIGMA, method="1s", optimize=False, problem=pyblp_problem)
    np.testing.assert_allclose(ev.objective, float(theirs.objective), rtol=1e-11)
    np.testing.assert_allclose(ev.beta, theirs.beta.ravel(), rtol=1e-11)
    np.testing.assert_allclose(ev.delta, theirs.delta.ravel(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ev.gradient, theirs.gradient.ravel(), rtol=1e-9)
    np.testing.assert_allclose(ev.delta_jacobian, theirs.xi_by_theta_jacobian, rtol=1e-9, atol=1e-12)
    # The convenience methods agree with evaluate().
    assert problem.objective(SIGMA) == pytest.approx(ev.objective, rel=1e-13)
    np.testing.assert_allclose(problem.beta(SIGMA), ev.beta, rtol=1e-13)
    np.testing.assert_allclose(problem.xi(SIGMA), ev.xi, atol=1e-12)


@pytest.mark.parametrize("which_W", ["W1", "other"])
def test_gradient_matches_central_finite_differences(problem, which_W):
    W = None
    if which_W == "other":
        W = np.linalg.inv(problem.moment_covariances(problem.xi(SIGMA)))
    sigma = np.array([0.7, 0.8])
    analytic = problem.gradient(sigma, W)
    h = 1e-5
    fd = np.array([(problem.objective(sigma + h * e, W) - problem.objective(sigma - h * e, W)) / (2 * h)
                   for e in np.eye(2)])
    np.testing.assert_allclose(analytic, fd, rtol=1e-6)


def test_delta_jacobian_matches_finite_differences(problem):
    h = 1e-6
    analytic = problem.delta_jacobian(SIGMA, problem.delta(SIGMA))
    fd = np.column_stack([(problem.delta(SIGMA + h * e) - problem.delta(SIGMA - h * e)) / (2 * h) for e in np.eye(2)])
    np.testing.assert_allclose(analytic, fd, atol=1e-7)


# ------------------------------------------------------------------ estimation against pyBLP

def test_one_step_matches_pyblp(problem, pyblp_2s):
    ours = problem.solve(START, method="1s")
    theirs = pyblp_2s.last_results  # pyBLP's first step: W1, standard errors with W1
    assert ours.converged and ours.gradient_norm <= POLISHED and ours.newton_steps == 2
    # The same search: pyBLP runs course_lib's optimizer, so the decisions and the counts agree
    # (pyBLP evaluates the objective once more at the optimum).
    assert (theirs.optimization_iterations, theirs.objective_evaluations) == (
        ours.optimizer_iterations, ours.objective_evaluations + 1)
    np.testing.assert_allclose(ours.parameters, pyblp_parameters(theirs), rtol=AGREE)
    np.testing.assert_allclose(ours.se, pyblp_se(theirs), rtol=AGREE)
    np.testing.assert_allclose(ours.objective, float(theirs.objective), rtol=AGREE)
    np.testing.assert_allclose(ours.W, theirs.W[np.ix_(*[np.argsort(pyblp_order(problem))] * 2)], rtol=1e-10)


def test_two_step_matches_pyblp(problem, ours_2s, pyblp_2s):
    assert ours_2s.step == 2 and ours_2s.converged
    assert (pyblp_2s.optimization_iterations, pyblp_2s.objective_evaluations) == (
        ours_2s.optimizer_iterations, ours_2s.objective_evaluations + 1)
    np.testing.assert_allclose(ours_2s.parameters, pyblp_parameters(pyblp_2s), rtol=AGREE)
    np.testing.assert_allclose(ours_2s.se, pyblp_se(pyblp_2s), rtol=AGREE)
    np.testing.assert_allclose(ours_2s.objective, float(pyblp_2s.objective), rtol=AGREE)
    order = pyblp_order(problem)
    # The second-step weight is pyBLP's: inverse of the centred moment covariance at step 1.
    np.testing.assert_allclose(ours_2s.W[np.ix_(order, order)], pyblp_2s.W, rtol=AGREE)
    # Finite-difference Hessians (step 1.5e-8) magnify the gradient's rounding noise (~1e-12):
    # measured disagreement up to 2e-5 relative across kernels and libraries.
    np.testing.assert_allclose(ours_2s.hessian_eigenvalues, np.linalg.eigvalsh(pyblp_2s.hessian), rtol=1e-4)


def test_pyblp_own_optimizer_stops_short(frames, problem, pyblp_problem):
    """pyBLP's own L-BFGS-B at gtol 1e-5 takes course_lib's first-phase path and stops where it does;
    the Newton steps then move the estimates by more than the implementations disagree."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = pyblp_rc_solve(*frames, START, method="1s", optimizer="l-bfgs-b", problem=pyblp_problem)
    lbfgsb_only = problem.solve(START, method="1s", newton_steps=0, hessian=False)
    polished = problem.solve(START, method="1s", hessian=False)
    assert lbfgsb_only.optimizer_iterations == theirs.optimization_iterations
    np.testing.assert_allclose(lbfgsb_only.parameters, pyblp_parameters(theirs), rtol=AGREE)
    assert 1e-9 < np.max(np.abs(polished.sigma - lbfgsb_only.sigma)) < 1e-4
    with pytest.raises(ValueError, match="Unknown optimizer 'newton'"):
        pyblp_rc_solve(*frames, START, optimizer="newton", problem=pyblp_problem)


def test_two_step_diagnostics(problem, ours_2s):
    """The optimum: small projected gradient, positive definite Hessian, inner loops counted.
    sigma on price is weakly identified by the cost shifters (estimate near 0, huge standard
    error); sigma on EngineSize and beta are within about two standard errors of the truth."""
    assert ours_2s.gradient_norm <= POLISHED
    assert np.all(ours_2s.hessian_eigenvalues > 0)
    assert ours_2s.cumulative_inner_iterations > ours_2s.inner_iterations > 0
    assert ours_2s.sigma_se[0] > 10 * ours_2s.sigma[0]
    truth = data.load_motorcycle_parameters()
    z_beta = (ours_2s.beta - truth["beta"]) / ours_2s.beta_se
    z_sigma = (ours_2s.sigma - truth["sigma"]) / ours_2s.sigma_se
    assert np.all(np.abs(np.r_[z_beta, z_sigma]) < 2.5)
    assert isinstance(ours_2s.table(), pd.DataFrame) and ours_2s.table().shape == (8, 2)


# ------------------------------------------------------------------ the all-markets contraction

def test_all_markets_inversion_equals_per_market(frames):
    """Same delta as invert_shares market by market; the evaluation counts agree except where a
    market's last residual sits at the rounding floor (~1e-14), where the two summation orders
    can stop one evaluation apart."""
    products, agents = frames
    X2 = products[["prices", "EngineSize"]]
    result = rc.invert_shares_markets(products["shares"], X2, SIGMA, agents[["nodes0", "nodes1"]],
                                      agents["weights"], products["market_ids"], agents["market_ids"])
    assert result.converged.all()
    per_market, counts = np.empty(len(products)), []
    for t in result.market_ids:
        rows = (products["market_ids"] == t).to_numpy()
        draws = agents[agents["market_ids"] == t]
        r = rc.invert_shares(products.loc[rows, "shares"], X2[rows], SIGMA, draws[["nodes0", "nodes1"]],
                             draws["weights"])
        per_market[rows] = r.delta
        counts.append(r.iterations)
    np.testing.assert_allclose(result.delta, per_market, rtol=0, atol=1e-12)
    differences = np.abs(np.array(counts) - result.iterations)
    assert differences.max() <= 5 and (differences == 0).mean() > 0.9


@pytest.mark.parametrize("method", ["squarem", "simple"])
def test_all_markets_inversion_with_ragged_markets(method):
    """Markets with different numbers of products and of draws (padding on both axes)."""
    rng = np.random.default_rng(7)
    sizes, draws = [1, 4, 9, 2, 6], [30, 50, 10, 40, 25]
    market_ids = np.repeat(np.arange(5), sizes)[::-1]  # rows not grouped in market order
    agent_ids = np.repeat(np.arange(5), draws)
    X2 = rng.normal(size=(len(market_ids), 2))
    nodes = rng.standard_normal((len(agent_ids), 2))
    weights = rng.uniform(0.5, 1.5, len(agent_ids))
    weights /= np.bincount(agent_ids, weights=weights)[agent_ids]
    delta = rng.normal(0, 2, len(market_ids))
    shares = np.empty(len(market_ids))
    for t in range(5):
        rows, a = market_ids == t, agent_ids == t
        shares[rows] = rc.s_hat(delta[rows], X2[rows], SIGMA, nodes[a], weights[a])
    result = rc.invert_shares_markets(shares, X2, SIGMA, nodes, weights, market_ids, agent_ids, method=method,
                                      max_iterations=100_000)
    assert result.converged.all()
    np.testing.assert_allclose(result.delta, delta, atol=1e-9)


# ------------------------------------------------------------------ bad inputs

def test_bad_inputs_raise(frames, problem):
    products, agents = frames
    with pytest.raises(ValueError, match="sigma must be non-negative"):
        problem.objective([-0.1, 1.0])
    with pytest.raises(ValueError, match="sigma must have 2 entries"):
        problem.objective([0.1])
    with pytest.raises(ValueError, match="W must be 9 x 9"):
        problem.objective(SIGMA, np.eye(3))
    with pytest.raises(ValueError, match="W must be symmetric"):
        problem.objective(SIGMA, np.eye(9) + np.triu(np.ones((9, 9)), 1))
    with pytest.raises(ValueError, match="positive semi-definite"):
        problem.objective(SIGMA, -np.eye(9))
    with pytest.raises(ValueError, match="Unknown method '3s'"):
        problem.solve(START, method="3s")
    with pytest.raises(ValueError, match="sigma has a non-finite value"):
        problem.solve([np.nan, 1.0])
    with pytest.raises(ValueError, match=r"no column\(s\) \['EngineSize'\]"):
        gmm.BLPProblem(products.drop(columns="EngineSize"), agents)
    with pytest.raises(ValueError, match="not one"):
        gmm.BLPProblem(products, agents.assign(weights=agents["weights"] * 2))
    with pytest.raises(ValueError, match="has no agent draws"):
        gmm.BLPProblem(products, agents[agents["market_ids"] != 17])
    bad = products.copy()
    bad.loc[bad["market_ids"] == 3, "shares"] = 0.4
    with pytest.raises(ValueError, match="market 3 sum to"):
        gmm.BLPProblem(bad, agents)
    with pytest.raises(ValueError, match="nodes must have one column per random coefficient"):
        rc.invert_shares_markets(products["shares"], products[["prices", "EngineSize"]], SIGMA,
                                 agents[["nodes0"]], agents["weights"], products["market_ids"], agents["market_ids"])
    with pytest.raises(ValueError, match="Unknown method 'newton'"):
        rc.invert_shares_markets(products["shares"], products[["prices", "EngineSize"]], SIGMA,
                                 agents[["nodes0", "nodes1"]], agents["weights"], products["market_ids"],
                                 agents["market_ids"], method="newton")


def test_newton_steps_finish_a_truncated_optimisation(problem):
    """Stop L-BFGS-B after five iterations (projected gradient 4e-4): two Newton steps on the
    analytic gradient with the finite-difference Hessian of that point reach the optimum that the
    full search finds (each step shrinks the gradient by a factor of about 1e-3 here)."""
    full = problem.solve(START, method="1s", hessian=False)
    truncated = problem.solve(START, method="1s", maxiter=5, hessian=False, newton_steps=0)
    assert truncated.gradient_norm > 1e-4 and not truncated.converged  # L-BFGS-B alone stopped short
    polished = problem.solve(START, method="1s", maxiter=5, hessian=False)
    assert polished.optimizer_message.endswith("; 2 Newton steps") and polished.newton_steps == 2
    assert polished.gradient_norm <= POLISHED
    np.testing.assert_allclose(polished.sigma, full.sigma, rtol=0, atol=1e-9)


def test_truth_recovery_with_differentiation_instruments(frames, problem):
    """With differentiation instruments added to the cost shifters, both sigmas are identified
    (finite, moderate standard errors) and every parameter is within two standard errors of the
    truth that generated the data."""
    products, agents = frames
    augmented = gmm.add_differentiation_instruments(problem, products)
    extended = gmm.BLPProblem(augmented, agents, excluded=gmm.EXCLUDED_NAMES + gmm.DIFFERENTIATION_NAMES)
    assert extended.Z.shape[1] == problem.Z.shape[1] + 4
    results = extended.solve(START, method="2s", hessian=False)
    assert results.converged
    truth = data.load_motorcycle_parameters()
    estimates = np.r_[results.sigma, results.beta]
    errors = np.r_[results.sigma_se, results.beta_se]
    assert errors[0] < 1.0  # sigma on price is now identified (about 48 with cost shifters alone)
    assert np.all(np.abs(estimates - np.r_[truth["sigma"], truth["beta"]]) < 2 * errors)
