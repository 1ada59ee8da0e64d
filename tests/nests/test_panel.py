"""Tests of course_lib.nests.panel: reading and checking the data (bad inputs, outside shares,
a mapping of columns in place of a DataFrame)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.nests import classify, classify_many, simulate_nested_logit, two_step, two_step_many


def test_bad_shares(small):
    d = small.copy()
    d.loc[5, "shares"] = np.nan
    with pytest.raises(ValueError, match=r"product 5 in market 0 is not finite"):
        classify(d, K=2)
    d = small.copy()
    d.loc[14, "shares"] = 0.0
    with pytest.raises(ValueError, match=r"product 2 in market 1 is 0"):
        classify(d, K=2)
    d = small.copy()
    d.loc[d["market_ids"] == 3, "shares"] = 0.2
    with pytest.raises(ValueError, match=r"market 3 sum to 2\.4"):
        classify(d, K=2)


def test_product_in_one_market(small):
    d = small[~((small["product_ids"] == 7) & (small["market_ids"] > 0))]
    with pytest.raises(ValueError, match=r"Product 7 is seen in 1 market"):
        classify(d, K=2)


def test_bad_columns_and_rows(small):
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['z'\]"):
        classify(small, K=2, regressors=("z", "x"))
    with pytest.raises(ValueError, match=r"Product 3 appears 2 times in market 0"):
        classify(pd.concat([small, small.iloc[[3]]]), K=2)
    d = small.copy()
    d.loc[2, "prices"] = np.inf
    with pytest.raises(ValueError, match=r"Regressor 'prices' of product 2 in market 0"):
        classify(d, K=2)
    with pytest.raises(ValueError, match="n_starts"):
        classify(small, K=2, n_starts=0)
    with pytest.raises(ValueError, match="DataFrame"):
        classify(small.to_numpy(), K=2)


def test_outside_shares_column_gives_the_full_market_outcome():
    sim = simulate_nested_logit(J=40, M=6, seed=24)
    d = sim.data
    s0 = 1 - d.groupby("market_ids")["shares"].transform("sum")
    sub = d.assign(outside_shares=s0)[d["product_ids"] < 20]
    res = classify(sub, K=1, n_starts=2)
    y = np.log(sub["shares"] / sub["outside_shares"])
    X = np.column_stack([sub["prices"], sub["x"], pd.get_dummies(sub["market_ids"]).to_numpy(float)])
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(res.coefficients.iloc[0].to_numpy(), coef[:2], rtol=1e-10)
    # Without the column, the outside share of the subset would be wrong (larger).
    plain = classify(sub.drop(columns="outside_shares"), K=1, n_starts=2)
    assert not np.allclose(plain.intercepts.to_numpy(), res.intercepts.to_numpy())


def test_outside_shares_bad_values():
    d = simulate_nested_logit(J=10, M=3, seed=25).data
    s0 = 1 - d.groupby("market_ids")["shares"].transform("sum")
    bad = d.assign(outside_shares=s0)
    bad.loc[0, "outside_shares"] = 0.5 * bad.loc[0, "outside_shares"]
    with pytest.raises(ValueError, match="differs across rows of market 0"):
        classify(bad, 2)
    with pytest.raises(ValueError, match="must lie in"):
        classify(d.assign(outside_shares=0.0), 2)
    with pytest.raises(ValueError, match="exceeds one"):
        classify(d.assign(outside_shares=0.999), 2)


def test_a_dict_of_arrays_is_read_as_its_dataframe():
    """classify, classify_many, two_step and two_step_many accept a mapping of columns (the
    Monte Carlo's fast path) and give exactly what they give on the same data as a DataFrame;
    the simulation's DataFrame and Series are the lazily built views of its arrays."""
    sims = [simulate_nested_logit(J=40, M=6, seed=s, endogenous=True) for s in range(3)]
    for sim in sims:
        pd.testing.assert_frame_equal(sim.data, pd.DataFrame(sim.columns))
        assert np.array_equal(sim.nests.to_numpy(), sim.nest_of) and sim.nests.index.name == "product_ids"
    frames, dicts = [sim.data for sim in sims], [sim.columns for sim in sims]
    one_frame, one_dict = classify(frames[0], 3, n_starts=4), classify(dicts[0], 3, n_starts=4)
    assert np.array_equal(one_frame.group_of, one_dict.group_of) and one_frame.objective == one_dict.objective
    for f, d in zip(classify_many(frames, 3, n_starts=4), classify_many(dicts, 3, n_starts=4)):
        assert np.array_equal(f.group_of, d.group_of) and np.array_equal(f.objectives, d.objectives)
    options = dict(exogenous_prices=False, price_instruments=("z",), regressors=("z", "x"), n_starts=4)
    for f, d in zip(two_step_many(frames, 3, **options), two_step_many(dicts, 3, **options)):
        assert np.array_equal(f.estimates.iv.coefficients, d.estimates.iv.coefficients)
        assert np.array_equal(f.estimates.iv.cov, d.estimates.iv.cov)
    single = two_step(dicts[1], 3, seed=1, **options)
    assert np.array_equal(single.estimates.iv.coefficients,
                          two_step(frames[1], 3, seed=1, **options).estimates.iv.coefficients)
    # Bad mappings: a column of another length, a 2-D column, a missing column, not a table.
    short = dict(dicts[0], x=dicts[0]["x"][:-1])
    with pytest.raises(ValueError, match="1-D arrays of one length"):
        classify(short, 3, n_starts=2)
    with pytest.raises(ValueError, match="1-D arrays of one length"):
        classify(dict(dicts[0], x=dicts[0]["x"][:, None]), 3, n_starts=2)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['z'\] in data set 1"):
        two_step_many([dicts[0], {k: v for k, v in dicts[1].items() if k != "z"}], 3, **options)
    with pytest.raises(ValueError, match="must be a pandas DataFrame or a mapping"):
        classify([1, 2, 3], 3)
