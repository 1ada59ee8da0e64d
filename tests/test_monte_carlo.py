"""Tests of course_lib.monte_carlo: seeded replications on every backend, the stored tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib import monte_carlo
from course_lib.nests import classify, classify_many, simulate_nested_logit


_NUMBERS = ["matched", "beta_p", "beta_x", "sigma_1", "sigma_2", "sigma_3"]


def _assert_same_replications(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """The same replications computed in other stacks or processes: the matched shares (from the
    classifications) exactly, the estimates to rounding (a stack of regressions may add the terms
    of its matrix products in another order: identical in our measurements, and the same
    estimates differ across BLAS/SIMD kernels by at most 2e-13 relative)."""
    np.testing.assert_array_equal(a["matched"], b["matched"])
    np.testing.assert_allclose(a[_NUMBERS[1:]], b[_NUMBERS[1:]], rtol=1e-10, atol=0)


def test_replication_is_seeded_and_backend_free():
    a = monte_carlo.replication(100, 10, 3)
    b = monte_carlo.replication(100, 10, 3)
    assert {k: a[k] for k in _NUMBERS} == {k: b[k] for k in _NUMBERS}  # the same computation twice
    serial, _ = monte_carlo.run_cell(100, 10, replications=4, n_jobs=1, progress=False)
    parallel, _ = monte_carlo.run_cell(100, 10, replications=4, n_jobs=2, progress=False)
    _assert_same_replications(serial, parallel)
    _assert_same_replications(serial.loc[[3]], pd.DataFrame([a], index=[3]))
    # Replications computed together (stacked classifications) are the ones computed alone.
    together = pd.DataFrame(monte_carlo.run_replications(100, 10, [3, 0, 8], endogenous=True))
    alone = pd.DataFrame([monte_carlo.replication(100, 10, r, endogenous=True) for r in (3, 0, 8)])
    _assert_same_replications(together, alone)


def test_dask_backend_gives_the_same_replications():
    distributed = pytest.importorskip("dask.distributed", reason="dask[distributed] is pinned in requirements.txt")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None):
        reps, _ = monte_carlo.run_cell(100, 10, replications=3, n_jobs=2, backend="dask", progress=False)
    serial, _ = monte_carlo.run_cell(100, 10, replications=3, n_jobs=1, progress=False)
    _assert_same_replications(reps, serial)


@pytest.mark.parametrize("endogenous", [False, True])
def test_stored_monte_carlo_cell_reproduces(endogenous):
    """Re-run the smallest cell of each stored table: every replication and the summary row."""
    table, stored = monte_carlo.load_results(endogenous)
    reps, _ = monte_carlo.run_cell(100, 10, endogenous, replications=50, n_jobs=1, progress=False)
    cell = stored[(stored["J"] == 100) & (stored["M"] == 10)].reset_index(drop=True)
    assert len(cell) == 50
    # Matched shares (k / 100) are exact in the files; the estimates are stored to
    # monte_carlo.STORED_DIGITS = 8 significant digits, a relative error of at most 5e-8,
    # far above their rounding across machines (2e-13) and far below what a different
    # classification of a replication would change.
    np.testing.assert_array_equal(reps["matched"], cell["matched"])
    np.testing.assert_allclose(reps[_NUMBERS[1:]], cell[_NUMBERS[1:]], rtol=1e-7, atol=0)
    row = table[(table["J"] == 100) & (table["M"] == 10)].iloc[0]
    summary = monte_carlo.summarize(reps)
    np.testing.assert_allclose(summary.to_numpy(float), row[summary.index].to_numpy(float), rtol=1e-7, atol=0)


def test_stored_tables_are_complete():
    for endogenous in (False, True):
        table, reps = monte_carlo.load_results(endogenous)
        cells = set(zip(table["J"], table["M"]))
        assert cells == {(J, M) for J in monte_carlo.J_VALUES for M in monte_carlo.M_VALUES}
        assert (table["replications"] == 50).all() and len(reps) == 50 * 9
        assert reps[_NUMBERS].notna().all().all()


def test_slides_tables():
    slides = monte_carlo.load_slides_tables()
    assert len(slides) == 18
    row = slides[(slides["table"] == "exogenous") & (slides["J"] == 500) & (slides["M"] == 100)].iloc[0]
    assert row["runtime"] == "29:24" and row["runtime_s"] == 1764


def test_replication_with_unidentified_second_step_records_nan():
    """A replication whose estimated nests leave step 2 unidentified (a group that never has two
    products in one market) records NaN, and the other replications of its stack go on.

    The cases are unidentified by construction, not by a classification that rounding could
    change: four products in three non-empty groups leave at least one group with a single
    product; and a classification is given explicitly with a group of one product."""
    out = monte_carlo.replication(4, 10, 0, endogenous=True)
    assert np.isnan(out["beta_p"]) and np.isnan(out["beta_p_se"]) and np.isnan(out["sigma_1"])
    assert 0 < out["matched"] <= 1
    # In a stack: the second of three replications gets a classification with a lonely group.
    rs, options = [0, 1, 2], dict(exogenous_prices=False, price_instruments=("z",), regressors=("z", "x"))
    sims = [simulate_nested_logit(100, 10, seed=monte_carlo.replication_seed(True, 100, 10, r), endogenous=True) for r in rs]
    classifications = classify_many([sim.columns for sim in sims], 3, n_starts=monte_carlo.N_STARTS, seeds=rs,
                                    regressors=("z", "x"))
    lonely = classify(sims[1].columns, 3, n_starts=1, seed=1, regressors=("z", "x"))
    lonely.group_of[:] = 0
    lonely.group_of[:50] = 1
    lonely.group_of[7] = 2  # product 7 alone in group 2
    rows = pd.DataFrame(monte_carlo.second_steps(rs, sims, [classifications[0], lonely, classifications[2]], options))
    assert rows.loc[1, ["beta_p", "beta_x", "beta_p_se"]].isna().all()
    assert rows.loc[1, ["sigma_1", "sigma_2", "sigma_3"]].isna().all() and 0 < rows.loc[1, "matched"] < 1
    # The others are the replications computed as usual (step 2 alone instead of stacked: to
    # rounding, at most 2e-13 relative across kernels and stacks; checked at 1e-10).
    usual = pd.DataFrame(monte_carlo.run_replications(100, 10, rs, endogenous=True))
    np.testing.assert_array_equal(rows.loc[[0, 2], "matched"], usual.loc[[0, 2], "matched"])
    np.testing.assert_allclose(rows.loc[[0, 2], _NUMBERS[1:]], usual.loc[[0, 2], _NUMBERS[1:]], rtol=1e-10)
    assert usual[_NUMBERS].notna().all().all()
    # Design settings pass through to the simulation.
    weak = monte_carlo.replication(100, 10, 0, endogenous=True, instrument_strength=0.3)
    assert weak["beta_p"] != monte_carlo.replication(100, 10, 0, endogenous=True)["beta_p"]
