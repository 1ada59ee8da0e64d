"""Tests of course_lib.autos.choose_k: the stored K curve and groups of the automobile panel
(data/results/autos_k_curve.csv, autos_groups.csv) are reproduced by re-running a piece of
the script, and the curve's pieces (folds, elbow, cross-validation, second step) behave.

Tolerances: stored numbers have 8 significant digits (rel 1e-7 covers their rounding); the
searches' discrete decisions are the same on every machine (nests.TIE_RTOL), so the groups
are compared exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib import autos
from course_lib.autos import choose_k
from course_lib.nests import fit_assignment

STORED_RTOL = 1e-7


@pytest.fixture(scope="module")
def cars() -> pd.DataFrame:
    return autos.panel_sample()


@pytest.fixture(scope="module")
def curve() -> pd.DataFrame:
    return autos.load_k_curve()


def test_stored_curve_is_complete_and_consistent(curve):
    assert curve["K"].tolist() == list(choose_k.K_VALUES)
    objective = curve["objective"].to_numpy()
    assert np.all(np.diff(objective) < 0)  # one more group always fits better
    assert (curve["runs"] == len(choose_k.SEEDS)).all()
    assert (curve["runs_at_best"] >= 1).all() and (curve["n_best"] >= curve["runs_at_best"]).all()
    assert (curve["min_size"] >= choose_k.SEARCH_OPTIONS["min_size"]).all()
    np.testing.assert_allclose(curve["elbow_chord"], choose_k.elbow_chord(curve["K"].to_numpy(float), objective),
                               rtol=STORED_RTOL)


@pytest.mark.parametrize("K", range(1, 13))
def test_stored_groups_fit_the_stored_objective(cars, curve, K):
    groups = autos.load_groups(K)
    assert groups.index.is_unique and len(groups) == 82 and groups.nunique() == K
    fit = fit_assignment(cars, groups, regressors=choose_k.REGRESSORS)
    stored = curve.set_index("K").loc[K]
    assert fit.objective == pytest.approx(stored["objective"], rel=STORED_RTOL)
    # Canonical order: increasing slope on price_hat.
    assert np.all(np.diff(fit.coefficients["price_hat"]) > 0)
    mse = choose_k.cross_validate_markets(cars, groups)
    assert mse.mean() == pytest.approx(stored["cv_mse"], rel=STORED_RTOL)
    assert mse.std(ddof=1) / np.sqrt(len(mse)) == pytest.approx(stored["cv_se"], rel=STORED_RTOL)
    if K > 1:
        sigma = choose_k.second_step_sigmas(cars, groups)
        assert sigma.min() == pytest.approx(stored["sigma_min"], rel=1e-6)
        assert bool(np.all((sigma > 0) & (sigma <= 1))) == stored["sigma_valid"]


def test_rerun_of_one_K_reproduces_the_stored_row(cars, curve):
    # K = 2 with the stored settings (30 starts, 1,500 children), both seeds: ~10 s.
    runs = [choose_k.run_search(cars, 2, seed) for seed in choose_k.SEEDS]
    stored = curve.set_index("K").loc[2]
    for run in runs:
        assert run["objective"] == pytest.approx(stored["objective"], rel=STORED_RTOL)
        pd.testing.assert_series_equal(run["labels"], autos.load_groups(2), check_names=False)
    assert sum(run["n_best"] for run in runs) == stored["n_best"]
    assert sum(run["searches"] for run in runs) == stored["local_searches"]
    assert len(set().union(*(run["optima"] for run in runs))) == stored["distinct_optima"]


def test_market_folds_hold_out_two_years_each(cars):
    folds = choose_k.market_folds(cars["market_ids"])
    assert len(folds) == 20 and folds.value_counts().tolist() == [2] * 10
    pd.testing.assert_series_equal(folds, choose_k.market_folds(cars["market_ids"]))


def test_elbow_criteria():
    K = np.arange(1.0, 6.0)
    Q = np.array([100.0, 40.0, 30.0, 25.0, 22.0])
    chord = choose_k.elbow_chord(K, Q)
    assert chord[0] == chord[-1] == 0 and int(np.argmax(chord)) == 1  # the elbow at K = 2
    second = choose_k.elbow_second_difference(Q)
    assert np.isnan(second[[0, -1]]).all() and int(np.nanargmax(second)) == 1


def test_load_groups_names_a_missing_K():
    with pytest.raises(ValueError, match="K=99"):
        autos.load_groups(99)
