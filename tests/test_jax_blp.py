"""course_lib.jax_blp: the GMM objective in JAX, differentiated in forward mode through the
contraction, against course_lib.gmm's objective and its analytic (implicit-function) gradient."""

import numpy as np
import pytest

pytest.importorskip("jax")

from course_lib import gmm, jax_blp  # noqa: E402


@pytest.fixture(scope="module")
def problem():
    return gmm.motorcycle_problem()


@pytest.fixture(scope="module")
def jax_objective(problem):
    return jax_blp.JaxObjective(problem)


@pytest.fixture(scope="module")
def weights(problem):
    """Two weighting matrices: pyBLP's first-step (Z'Z/N)^{-1} and an efficient-type S^{-1}."""
    return {"W1": problem.initial_weights(),
            "S_inv": np.linalg.inv(problem.moment_covariances(problem.xi([0.5, 1.0])))}


@pytest.mark.parametrize("sigma", [[0.5, 1.0], [1.2, 0.3]])
@pytest.mark.parametrize("which_W", ["W1", "S_inv"])
def test_jax_gradient_equals_analytic_gradient(problem, jax_objective, weights, sigma, which_W):
    W = weights[which_W]
    np.testing.assert_allclose(jax_objective.gradient(sigma, W), problem.gradient(sigma, W), rtol=1e-6)


@pytest.mark.parametrize("sigma", [[0.0, 0.0], [0.5, 1.0]])
def test_jax_objective_equals_blp_problem(problem, jax_objective, weights, sigma):
    for W in weights.values():
        assert jax_objective.objective(sigma, W) == pytest.approx(problem.objective(sigma, W), rel=1e-10)
    np.testing.assert_allclose(jax_objective.delta(sigma), problem.delta(sigma), rtol=0, atol=1e-11)


def test_jax_bad_inputs_raise(problem, jax_objective):
    with pytest.raises(ValueError, match="sigma must be non-negative"):
        jax_objective.objective([-0.1, 1.0])
    with pytest.raises(ValueError, match="W must be 9 x 9"):
        jax_objective.gradient([0.5, 1.0], np.eye(3))
    with pytest.raises(RuntimeError, match="did not converge"):
        jax_blp.JaxObjective(problem, max_iterations=5).objective([0.5, 1.0])
