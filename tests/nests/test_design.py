"""Tests of course_lib.nests.design: the slides' Monte Carlo designs (simulate_nested_logit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.nested_logit import nested_logit_inversion
from course_lib.nests import matched_share, simulate_nested_logit


def test_simulated_shares_invert_to_the_true_delta():
    """The simulator's shares come from the nested logit with its true nests and sigma: the
    closed-form inversion gives back its delta (a check of the wiring: nests, sigma order,
    market ids), on a balanced and on an unbalanced panel."""
    for options in ({}, {"missing": 0.2, "nest_exit": 0.2}):
        sim = simulate_nested_logit(J=60, M=20, seed=4, **options)
        d = sim.data
        sigma = dict(enumerate(sim.sigma))
        delta = nested_logit_inversion(d["shares"], d["nesting_ids"], sigma, d["market_ids"])
        np.testing.assert_allclose(delta, sim.delta, atol=1e-10)


def test_simulation_reproduces_the_slides_design_moments():
    """Many nests so the K group means have a sampling distribution to compare with."""
    K = 4000
    sim = simulate_nested_logit(J=12000, M=2, K=K, sigma=np.full(K, 0.5), seed=11)
    mu = sim.group_means
    n = K
    # corr 0.3, unit variances, zero means: 4 standard errors.
    assert abs(np.corrcoef(mu.T)[0, 1] - 0.3) < 4 * (1 - 0.09) / np.sqrt(n)
    np.testing.assert_allclose(mu.var(axis=0), 1.0, atol=4 * np.sqrt(2 / n))
    np.testing.assert_allclose(mu.mean(axis=0), 0.0, atol=4 / np.sqrt(n))
    d = sim.data
    nest = d["nesting_ids"].to_numpy()
    dev_p = d["prices"].to_numpy() - mu[nest, 0]
    dev_x = d["x"].to_numpy() - mu[nest, 1]
    N = len(d)
    assert N == 12000 * 2
    for dev, var in ((dev_p, 1.0), (dev_x, 1.0), (sim.xi, 0.5)):
        assert abs(dev.var() - var) < 4 * var * np.sqrt(2 / N)
        assert abs(dev.mean()) < 4 * np.sqrt(var / N)
    c = np.corrcoef([dev_p, dev_x, sim.xi])
    assert np.all(np.abs(c[np.triu_indices(3, 1)]) < 4 / np.sqrt(N))
    # Nests uniform on {0, ..., K-1}.
    counts = np.bincount(sim.nests, minlength=K)
    assert counts.sum() == 12000 and abs(counts.mean() - 3) < 1e-12
    # delta = beta_p p + beta_x x + xi, and the shares invert to the slides' key equation.
    np.testing.assert_allclose(sim.delta, -d["prices"] + d["x"] + sim.xi, rtol=1e-12, atol=1e-12)


def test_simulation_default_is_the_slides_design_and_is_seeded():
    sim = simulate_nested_logit(J=60, M=5, seed=4)
    again = simulate_nested_logit(J=60, M=5, seed=4)
    pd.testing.assert_frame_equal(sim.data, again.data)
    assert list(sim.data.columns) == ["market_ids", "product_ids", "shares", "prices", "x", "nesting_ids"]
    np.testing.assert_array_equal(sim.sigma, [0.2, 0.3, 0.6])
    assert (sim.beta_p, sim.beta_x) == (-1.0, 1.0)
    assert len(sim.data) == 60 * 5  # balanced
    totals = sim.data.groupby("market_ids")["shares"].sum()
    assert np.all((totals > 0) & (totals < 1))
    # Key observation: log(s_j/s_0) - delta_j/sigma_k is the same within a nest and market.
    d = sim.data
    s0 = 1 - d.groupby("market_ids")["shares"].transform("sum")
    resid = np.log(d["shares"] / s0) - sim.delta / sim.sigma[d["nesting_ids"]]
    spread = resid.groupby([d["market_ids"], d["nesting_ids"]]).agg(lambda r: r.max() - r.min())
    assert spread.max() < 1e-9


def test_endogenous_design():
    sim = simulate_nested_logit(J=2000, M=20, seed=5, endogenous=True)
    d = sim.data
    assert "z" in d.columns
    nest = d["nesting_ids"].to_numpy()
    p_dev = d["prices"].to_numpy() - sim.group_means[nest, 0]
    N = len(d)
    se = 4 / np.sqrt(N)
    assert abs(p_dev.var() - 1.0) < 4 * np.sqrt(2 / N)
    assert abs(np.corrcoef(p_dev, sim.xi)[0, 1] - 0.5 * np.sqrt(0.5)) < se  # endogenous
    assert abs(np.corrcoef(d["z"], sim.xi)[0, 1]) < se  # valid
    assert abs(np.corrcoef(d["z"], p_dev)[0, 1] - np.sqrt(0.5)) < se  # relevant


def test_unbalanced_simulation_drops_pairs_and_nests():
    sim = simulate_nested_logit(J=90, M=30, seed=6, missing=0.2, nest_exit=0.2)
    d = sim.data
    assert 0.5 * 90 * 30 < len(d) < 0.75 * 90 * 30
    present = d.groupby(["market_ids", "nesting_ids"]).size().unstack(fill_value=0)
    assert (present == 0).to_numpy().any()  # some nest absent from some market
    totals = d.groupby("market_ids")["shares"].sum()
    assert np.all(totals < 1)


def test_mismatched_shapes():
    with pytest.raises(ValueError, match="Mismatched lengths"):
        matched_share([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="sigma has 2 entries for K=3"):
        simulate_nested_logit(10, 3, K=3, sigma=(0.2, 0.3))
    with pytest.raises(ValueError, match=r"sigma must lie in \(0, 1\]"):
        simulate_nested_logit(10, 3, sigma=(0.2, 0.3, 1.5))
