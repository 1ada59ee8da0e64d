"""The readable estimators and the Monte Carlo's batched paths agree on the slides' designs.

``nests.classify`` (one data set, one start at a time, the slides' steps written plainly)
is the reference for ``nests.classify_many`` (all data sets and starts at once), and
``nests.two_step`` (``iv.tsls``, least squares) for ``nests.two_step_many`` (``iv.tsls_many``,
QR), on every cell of both Monte Carlo tables.
"""

import numpy as np
import pandas as pd
import pytest

from course_lib import monte_carlo, nests

CELLS = [(J, M) for J in (100, 500, 1000) for M in (10, 50, 100)]


def _design(endogenous: bool, J: int, M: int, r: int):
    return nests.simulate_nested_logit(J, M, seed=monte_carlo.replication_seed(endogenous, J, M, r),
                                       endogenous=endogenous)


@pytest.mark.parametrize("endogenous", [False, True], ids=["exogenous", "endogenous"])
@pytest.mark.parametrize("J, M", CELLS)
def test_readable_and_batched_paths_agree_on_the_monte_carlo_designs(endogenous, J, M):
    options = (dict(exogenous_prices=False, price_instruments=("z",), regressors=("z", "x"))
               if endogenous else {})
    regressors = options.get("regressors", ("prices", "x"))
    sims = [_design(endogenous, J, M, r) for r in (0, 1)]
    batched = nests.classify_many([sim.columns for sim in sims], 3, n_starts=monte_carlo.N_STARTS, seeds=[0, 1],
                                  regressors=regressors)
    readable = [nests.classify(sim.columns, 3, n_starts=monte_carlo.N_STARTS, seed=s, regressors=regressors)
                for s, sim in enumerate(sims)]
    for fast, plain in zip(batched, readable):
        # The discrete outcome exactly: every decision is made with nests.TIE_RTOL.
        np.testing.assert_array_equal(fast.group_of, plain.group_of)
        np.testing.assert_array_equal(fast.iterations, plain.iterations)
        np.testing.assert_array_equal(fast.converged, plain.converged)
        assert fast.best_start == plain.best_start
        # The numbers to rounding: the batched SSR is an expanded sum of squares (measured on
        # these designs: objectives within 4e-15 relative, step-2 coefficients within 2e-13).
        np.testing.assert_allclose(fast.objectives, plain.objectives, rtol=1e-10)
        np.testing.assert_allclose(fast.slopes, plain.slopes, rtol=1e-8, atol=1e-10)
    fits = nests.two_step_many([sim.columns for sim in sims], 3, batched, **options)
    for sim, fast, classification in zip(sims, fits, readable):
        plain = nests.two_step(sim.columns, 3, classification=classification, **options)
        np.testing.assert_array_equal(fast.nest_ids, plain.nest_ids)
        pd.testing.assert_frame_equal(fast.estimates.table(), plain.estimates.table(), rtol=1e-8)
