"""course_lib.optimize: L-BFGS-B stopped above the rounding floor, then Newton steps.

The point of the two phases is that every decision of the search sits above the objective's
rounding noise, so that machines that round differently take the same path. The tests imitate
"another machine" by adding deterministic pseudo-noise of the measured size (objective 4e-14
relative, gradient 1e-12 absolute; course_lib.optimize's docstring) to an objective shaped like
the motorcycle GMM objective near its optimum (value 0.4, Hessian eigenvalues about 1 and 2).
"""

from __future__ import annotations

import numpy as np
import pytest

from course_lib.optimize import (GTOL, NEWTON_KEEP, fd_hessian, lbfgsb_newton, projected_gradient,
                                 pyblp_method)

A = np.array([0.3, 0.9])                      # the minimiser (interior)
H = np.array([[1.2, 0.4], [0.4, 1.7]])        # the Hessian there


def objective(x, machine=None):
    """0.4 + (x - a)'H(x - a)/2 + a quartic; with ``machine`` a seed, rounding-size pseudo-noise."""
    d = np.asarray(x, dtype=float) - A
    f = 0.4 + d @ H @ d / 2 + 0.25 * np.sum(d ** 4)
    g = H @ d + d ** 3
    if machine is not None:
        rng = np.random.default_rng([machine, *np.frombuffer(np.asarray(x, dtype=float).tobytes(), np.uint32)])
        f *= 1 + 4e-14 * rng.uniform(-1, 1)
        g = g + 1e-12 * rng.uniform(-1, 1, 2)
    return f, g


def test_reaches_the_minimum_at_the_floor():
    found = lbfgsb_newton([2.0, -1.0], None, objective)
    assert found.converged and found.newton_steps == 2 and found.message.endswith("; 2 Newton steps")
    np.testing.assert_allclose(found.x, A, rtol=0, atol=1e-13)
    assert found.gradient_norm < 1e-13
    assert found.value[0] == objective(found.x)[0]


def test_the_path_is_the_same_on_every_machine():
    """Five 'machines' (noise seeds): the same iterations, evaluations and Newton steps, and
    minimisers that agree to the noise divided by the curvature (1e-12). L-BFGS-B alone at a
    gtol near the floor lets the noise decide: its line searches fail at different points (39 to
    89 evaluations here) and its stopping points differ by up to 5e-8."""
    runs = [lbfgsb_newton([2.0, -1.0], None, lambda x, m=m: objective(x, m)) for m in range(5)]
    assert len({(r.iterations, r.evaluations, r.newton_steps) for r in runs}) == 1
    assert all(r.gradient_norm < NEWTON_KEEP for r in runs)
    spread = np.ptp([r.x for r in runs], axis=0)
    assert spread.max() < 1e-11
    near_floor = [lbfgsb_newton([2.0, -1.0], None, lambda x, m=m: objective(x, m), gtol=1e-13, newton_steps=0)
                  for m in range(5)]
    assert len({r.evaluations for r in near_floor}) > 1
    assert np.ptp([r.x for r in near_floor], axis=0).max() > 1e-9


def test_a_bound_that_binds():
    """Minimiser outside the box: x0 stays on its bound (projected gradient 0 there) and the
    Newton steps move the free coordinate only."""
    bounds = [(0.5, None), (None, None)]
    found = lbfgsb_newton([2.0, -1.0], bounds, objective)
    assert found.x[0] == 0.5 and found.converged
    g = objective(found.x)[1]
    assert g[0] > 0 and projected_gradient(found.x, g, bounds)[0] == 0
    assert abs(g[1]) < 1e-12


def test_projected_gradient_and_fd_hessian():
    bounds = [(0.0, 1.0), (0.0, 1.0)]
    np.testing.assert_array_equal(projected_gradient([0.0, 1.0], [2.0, -3.0], bounds), [0.0, 0.0])
    np.testing.assert_array_equal(projected_gradient([0.0, 1.0], [-2.0, 3.0], bounds), [-2.0, 3.0])
    np.testing.assert_array_equal(projected_gradient([0.5, 0.5], [2.0, -3.0], bounds), [2.0, -3.0])
    # At the minimiser the quartic adds nothing: the Hessian is H; the central difference is exact
    # for the quadratic and the quartic's contribution is O(step^2).
    np.testing.assert_allclose(fd_hessian(lambda x: objective(x)[1], A), H, rtol=1e-7)
    # Forward differences (given g(x)) have an O(step) truncation error from the quartic.
    np.testing.assert_allclose(fd_hessian(lambda x: objective(x)[1], A, at_x=objective(A)[1]), H, rtol=1e-7)
    near_top = fd_hessian(lambda x: objective(x)[1], A, [(None, A[0]), (None, None)], at_x=objective(A)[1])
    np.testing.assert_allclose(near_top, H, rtol=1e-7)  # backward in x0 at its upper bound
    # One-sided at a bound: the lower point is clipped to the bound.
    x = np.array([0.0, 0.9])
    one_sided = fd_hessian(lambda y: objective(y)[1], x, [(0.0, None), (None, None)])
    d = x - A
    np.testing.assert_allclose(one_sided, H + np.diag(3 * d ** 2), rtol=1e-6)


def test_pyblp_signature_and_bad_options():
    calls = []
    x, converged = pyblp_method(np.array([2.0, -1.0]), None, lambda x: (*objective(x), "progress"),
                                lambda: calls.append(1), gtol=GTOL)
    assert converged and len(calls) > 2
    np.testing.assert_allclose(x, A, atol=1e-12)
    with pytest.raises(ValueError, match="gtol must be positive"):
        lbfgsb_newton([0.0, 0.0], None, objective, gtol=0.0)
    with pytest.raises(ValueError, match="newton_steps non-negative"):
        lbfgsb_newton([0.0, 0.0], None, objective, newton_steps=-1)
