"""Tests of course_lib.nested_logit.gev: Cardell's nested Gumbel shocks, one and two levels."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import nest_extensions as ne
from course_lib.nested_logit.gev import gev_shocks, log_positive_stable
from _frequencies import z_scores


def test_gev_shocks_one_level_moments_and_joint_cdf():
    """Gumbel marginals (mean Euler's constant, variance pi^2/6), correlation 1 - sigma^2
    within a nest and 0 across, and the joint cdf exp(-(e^{-a/s} + e^{-b/s})^s)."""
    n = 200_000
    eps = gev_shocks(n, [0, 0, 1, 1], [0.4, 0.8], seed=1)
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
    eps = gev_shocks(n, lower, sl, seed=2, upper_ids=upper, sigma_upper=su)
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
        gev_shocks(0, [0], 0.5)
    with pytest.raises(ValueError, match=r"sigma\[1\]"):
        gev_shocks(5, [0, 1], [0.5, 1.5])
    with pytest.raises(ValueError, match="exceeds its upper"):
        gev_shocks(5, [0, 1], [0.9, 0.5], upper_ids=[0, 0], sigma_upper=0.6)
    with pytest.raises(ValueError, match="more than one upper"):
        gev_shocks(5, [0, 0], 0.5, upper_ids=[0, 1], sigma_upper=[0.6, 0.6])
    with pytest.raises(ValueError, match="without upper_ids"):
        gev_shocks(5, [0, 0], 0.5, sigma_upper=0.6)


def test_gev_shocks_are_reexported_by_nest_extensions():
    assert ne.gev_shocks is gev_shocks and ne.log_positive_stable is log_positive_stable
