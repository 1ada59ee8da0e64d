"""Tests of course_lib.nest_extensions.one_step: Berry's regression and reassignment, alternated."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import nest_extensions as ne
from course_lib.nests import classify, matched_share, simulate_nested_logit


def test_one_step_berry_stays_at_the_truth_and_recovers_from_a_random_start():
    sim = simulate_nested_logit(60, 30, seed=7)
    at_truth = ne.one_step_berry(sim.data, 3, sim.nests)
    assert at_truth.converged and at_truth.moves.tolist() == [0]
    assert matched_share(at_truth.labels, sim.nests) == 1.0
    start = np.random.default_rng(0).integers(0, 3, 60)
    res = ne.one_step_berry(sim.data, 3, start)
    assert res.converged and matched_share(res.labels, sim.nests) == 1.0
    assert res.objectives[-1] == pytest.approx(at_truth.objectives[0])
    # From the GFE classification (a GFEResult as start) it also stays put.
    gfe = classify(sim.data, 3)
    assert ne.one_step_berry(sim.data, 3, gfe).moves.tolist() == [0]


def test_one_step_berry_bad_inputs():
    sim = simulate_nested_logit(20, 5, seed=1)
    with pytest.raises(ValueError, match="20 products"):
        ne.one_step_berry(sim.data, 3, [0, 1, 2])
    with pytest.raises(ValueError, match="nest in 0"):
        ne.one_step_berry(sim.data, 3, np.full(20, 5))
    with pytest.raises(ValueError, match="outside_shares"):
        ne.one_step_berry(sim.data.assign(outside_shares=0.1), 3, sim.nests)
    with pytest.raises(ValueError, match="price_instruments"):
        ne.one_step_berry(sim.data, 3, sim.nests, exogenous_prices=False)
