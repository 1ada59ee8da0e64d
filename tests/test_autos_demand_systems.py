"""course_lib.autos.demand_systems: the count instruments, every model's learned nest (step (b)
written out here) and the four demand systems, checked against pyBLP's estimates of the same
models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib import autos, logit, merger, nests
from course_lib.autos import demand_systems


def test_nest_counts_count_the_other_products_of_the_nest_in_the_market():
    counts = autos.nest_counts(["b", "b", "a", "b", "a"], [1, 1, 1, 2, 2])
    # columns: nest "a", nest "b"
    np.testing.assert_array_equal(counts, [[0, 1], [0, 1], [0, 0], [0, 0], [0, 0]])


def test_learned_groups_keep_the_82_and_assign_every_other_model_by_hand():
    groups = autos.load_groups(autos.LEARNED_K)
    learned = autos.learned_groups()
    every_model = autos.panel_sample(rule="all")
    assert set(learned.index) == set(every_model["product_ids"]) and len(learned) == 557
    pd.testing.assert_series_equal(learned[groups.index], groups, check_names=False)
    # Step (b) written out: each model's sum of squared residuals under each group's slopes
    # and year intercepts, a year without the group charged its mean intercept.
    fitted = nests.fit_assignment(autos.panel_sample(), groups, regressors=autos.choose_k.REGRESSORS)
    y = logit.logit_inversion(every_model["shares"], every_model["market_ids"], every_model["outside_shares"])
    intercepts = fitted.intercepts.fillna(fitted.intercepts.mean())
    fit = (every_model[list(autos.choose_k.REGRESSORS)].to_numpy() @ fitted.slopes.T
           + intercepts.loc[every_model["market_ids"]].to_numpy())
    ssr = pd.DataFrame((y[:, None] - fit) ** 2).groupby(every_model["product_ids"].to_numpy()).sum()
    others = learned.index.difference(groups.index)
    np.testing.assert_array_equal(learned[others].to_numpy(), ssr.loc[others].idxmin(axis=1).to_numpy())
    # models sold in one year only are among them
    assert (every_model.groupby("product_ids").size()[others] == 1).sum() > 100


class _NoRC:
    """Stands in for pyBLP's random-coefficients results: that estimation takes most of a
    minute, and chapter 24 checks it (nbval re-runs it and compares every printed estimate)."""

    converged = True


@pytest.fixture(scope="module")
def systems():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demand_systems.pb, "pyblp_autos_rc_solve", lambda *args, **kwargs: _NoRC())
        return autos.estimate_demand_systems()


def test_the_four_demand_systems_match_pyblp(systems):
    assert tuple(systems.pyblp) == autos.MODELS
    # Logit: 2SLS and pyBLP's one-step GMM with (Z'Z)^-1 are the same estimator.
    np.testing.assert_allclose(systems.pyblp["logit"].beta.ravel(), systems.logit.coefficients,
                               rtol=0, atol=1e-8)
    # Nested logits: Berry's 2SLS (bounded for the learned nests) and pyBLP's bounded search.
    for name, fit in [("size-class nests", systems.size), ("learned nests", systems.learned)]:
        results = systems.pyblp[name]
        ours = np.r_[fit.beta.iloc[0], fit.alpha, fit.beta.iloc[1:]]
        np.testing.assert_allclose(results.beta.ravel(), ours, rtol=0, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(results.rho.ravel(), 1 - fit.sigma.to_numpy(), rtol=0, atol=1e-8,
                                   err_msg=name)
    assert systems.learned.sigma.max() <= 1.0 and systems.learned.fixed_rho  # the bound binds
    assert isinstance(systems.rc, _NoRC) and systems.pyblp["random coefficients"] is systems.rc
    assert len(np.unique(systems.size_nests)) == 3 and len(np.unique(systems.learned_nests)) == 8


def test_demand_objects_reproduce_the_observed_shares(systems):
    products = systems.products
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demand_systems.pb, "pyblp_demands", lambda results: {})
        demands = systems.demands()
    assert tuple(demands) == autos.MODELS
    del demands["random coefficients"]  # pyBLP's own demand (tests/test_merger.py checks pyblp_demands)
    for name, by_year in demands.items():
        for t in (1971, 1990):
            rows = (products["market_ids"] == t).to_numpy()
            np.testing.assert_allclose(by_year[t].shares(products["prices"].to_numpy()[rows]),
                                       products["shares"].to_numpy()[rows], rtol=1e-6, err_msg=name)
    # and they are course_lib's merger demands
    assert isinstance(demands["logit"][1990], merger.LogitDemand)
