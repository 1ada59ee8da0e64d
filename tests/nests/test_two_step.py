"""Tests of course_lib.nests.two_step: the two-step estimator (classify, then Berry's regression)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.nested_logit import berry_regression, nest_instruments
from course_lib.nests import classify, matched_share, simulate_nested_logit, two_step, two_step_many


def test_two_step_equals_berry_with_true_nests_when_classification_is_perfect():
    sim = simulate_nested_logit(J=200, M=40, seed=21)
    fit = two_step(sim.data, 3, n_starts=10)
    assert matched_share(fit.classification.labels, sim.nests) == 1.0
    d = sim.data
    truth = np.array([sim.beta_x, sim.beta_p, *sim.sigma])
    known = berry_regression(d["shares"], d["prices"], d["x"], d["nesting_ids"], d["market_ids"],
                             nest_instruments(d["x"], d["nesting_ids"], d["market_ids"], names=["x"])[0],
                             x_names=["x"], constant=False, exogenous_prices=True)
    # Canonical order puts the groups in the order of sigma, the true nests' order here.
    np.testing.assert_array_equal(fit.nest_ids, d["nesting_ids"].to_numpy())
    pd.testing.assert_frame_equal(fit.estimates.table(), known.table(), rtol=1e-12)
    table = fit.estimates.table()
    t = (table["estimate"].to_numpy() - truth) / table["std. error"].to_numpy()
    assert np.all(np.abs(t) < 3.5), t


def test_two_step_endogenous_prices_with_instrument():
    sim = simulate_nested_logit(J=200, M=40, seed=22, endogenous=True)
    fit = two_step(sim.data, 3, exogenous_prices=False, price_instruments="z", regressors=("z", "x"),
                   n_starts=10)
    assert matched_share(fit.classification.labels, sim.nests) == 1.0
    table = fit.estimates.table()
    truth = np.array([sim.beta_x, sim.beta_p, *sim.sigma])
    t = (table["estimate"].to_numpy() - truth) / table["std. error"].to_numpy()
    assert np.all(np.abs(t) < 3.5), t
    # Treating the endogenous price as exogenous biases alpha (corr(p, xi) > 0 in the design).
    naive = two_step(sim.data, 3, regressors=("z", "x"), n_starts=10)
    assert naive.estimates.alpha > fit.estimates.alpha + 5 * fit.estimates.alpha_se


def test_two_step_bad_inputs():
    d = simulate_nested_logit(J=30, M=5, seed=0, endogenous=True).data
    with pytest.raises(ValueError, match="price_instruments"):
        two_step(d, 3, exogenous_prices=False)
    with pytest.raises(ValueError, match="classify on exogenous regressors"):
        two_step(d, 3, exogenous_prices=False, price_instruments=("z",))
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['w'\]"):
        two_step(d, 3, characteristics=("w",))
    with pytest.raises(ValueError, match="K=30"):
        two_step(d, 30)


def test_two_step_on_a_given_classification():
    d = simulate_nested_logit(J=60, M=8, seed=5).data
    step1 = classify(d, 3, n_starts=4, seed=2)
    fresh = two_step(d, 3, n_starts=4, seed=2)
    given = two_step(d, 3, classification=step1)
    assert given.classification is step1
    pd.testing.assert_series_equal(given.estimates.iv.params, fresh.estimates.iv.params)
    with pytest.raises(ValueError, match="classification has K=3 groups; two_step was asked for K=2"):
        two_step(d, 2, classification=step1)


def test_two_step_reads_the_outside_shares_of_the_whole_market():
    """Data that keep only some of each market's products: both steps take the outside share from
    the outside_shares column, so the result is the one on the full data's y, restricted."""
    from course_lib import nested_logit

    sim = simulate_nested_logit(J=90, M=20, seed=31)
    data = sim.data.assign(outside_shares=1 - sim.data.groupby("market_ids")["shares"].transform("sum"))
    part = data[data["product_ids"] % 4 != 0]  # a quarter of the products left out
    fit = two_step(part, 3, n_starts=4)
    Z, _, _ = nested_logit.nest_instruments(part["x"], fit.nest_ids, part["market_ids"])
    known = nested_logit.berry_regression(part["shares"], part["prices"], part[["x"]], fit.nest_ids,
                                          part["market_ids"], Z, x_names=["x"], constant=False,
                                          exogenous_prices=True, outside_shares=part["outside_shares"])
    np.testing.assert_allclose(fit.estimates.iv.coefficients, known.iv.coefficients, rtol=1e-12)
    with pytest.raises(ValueError, match="call two_step on each data set"):
        two_step_many([part, part], 3, n_starts=2)
