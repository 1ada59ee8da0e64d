"""Tests of course_lib.nest_extensions.consumer_types: nests with observed consumer types."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import nest_extensions as ne
from course_lib.nested_logit import nested_logit_inversion
from course_lib.nests import matched_share


def test_simulate_types_each_type_is_a_nested_logit():
    sim = ne.simulate_types(20, 3, seed=2)
    d = sim.data
    sigma = dict(enumerate(sim.truth["sigma"]))
    for t in range(2):
        rows = d["type_ids"] == t
        delta = nested_logit_inversion(d.loc[rows, "shares"], d.loc[rows, "nesting_ids"], sigma,
                                       d.loc[rows, "market_ids"])
        np.testing.assert_allclose(delta, sim.truth["delta"][t], atol=1e-10)
    np.testing.assert_allclose(sim.truth["delta"][1] - sim.truth["delta"][0],
                               (sim.truth["beta_p"][1] - sim.truth["beta_p"][0]) * sim.aggregate["prices"], atol=1e-12)
    w = sim.truth["weights"]
    np.testing.assert_allclose(sim.aggregate["shares"],
                               w[0] * d.loc[d.type_ids == 0, "shares"].to_numpy()
                               + w[1] * d.loc[d.type_ids == 1, "shares"].to_numpy())


def test_type_classifications_recover_the_nests():
    sim = ne.simulate_types(60, 20, seed=4)
    by_type = ne.classify_by_type(sim.data, 3)
    assert set(by_type) == {0, 1}
    assert all(matched_share(r.labels, sim.nests) == 1.0 for r in by_type.values())
    joint = ne.classify_types_jointly(sim.data, 3)
    assert matched_share(joint.labels, sim.nests) == 1.0
    # Slopes beta_p^t / sigma_k and beta_x / sigma_k, groups ordered by the type-0 price slope.
    sigma = np.sort(sim.truth["sigma"])
    expected = np.column_stack([sim.truth["beta_p"][0] / sigma, sim.truth["beta_p"][1] / sigma,
                                sim.truth["beta_x"] / sigma])
    assert list(joint.coefficients.columns) == ["prices[type=0]", "prices[type=1]", "x"]
    np.testing.assert_allclose(joint.coefficients.to_numpy(), expected, rtol=0.25)
    # xi is common to the types, so the gap between the types' price slopes has no sampling error.
    gap = joint.coefficients.iloc[:, 1] - joint.coefficients.iloc[:, 0]
    np.testing.assert_allclose(gap, expected[:, 1] - expected[:, 0], rtol=1e-6)


def test_differencing_types_removes_xi_exactly():
    """With xi common to the types, the type difference has no error: few markets suffice and
    the slopes are (beta_p^1 - beta_p^0) / sigma_k to rounding."""
    sim = ne.simulate_types(60, 3, seed=5)
    res = ne.classify_types_jointly(sim.data, 3, difference=True)
    assert matched_share(res.labels, sim.nests) == 1.0
    assert res.objective < 1e-8
    gap = sim.truth["beta_p"][1] - sim.truth["beta_p"][0]
    np.testing.assert_allclose(res.coefficients.iloc[:, 0].to_numpy(), gap / np.sort(sim.truth["sigma"]), rtol=1e-8)


def test_type_classification_bad_inputs():
    sim = ne.simulate_types(20, 3, seed=2)
    with pytest.raises(ValueError, match="type_ids"):
        ne.classify_by_type(sim.data.drop(columns="type_ids"), 3)
    one = sim.data[sim.data.type_ids == 0]
    with pytest.raises(ValueError, match="at least two types"):
        ne.classify_types_jointly(one, 3, difference=True)
    with pytest.raises(ValueError, match="not among the regressors"):
        ne.classify_types_jointly(sim.data, 3, type_specific=("z",))
    with pytest.raises(ValueError, match="weights"):
        ne.simulate_types(10, 2, weights=(0.2, 0.2))
