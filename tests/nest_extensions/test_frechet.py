"""Tests of course_lib.nest_extensions.frechet: multiplicative utility with nested Frechet errors."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import nest_extensions as ne
from course_lib.nested_logit import nested_logit_inversion
from course_lib.nests import best_relabelling, matched_share
from _frequencies import z_scores


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
