"""Unit tests of course_lib.iv: two-stage least squares and the first-stage F statistic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib import data, iv, logit

linearmodels_iv = pytest.importorskip("linearmodels.iv")
sm = pytest.importorskip("statsmodels.api")

EXOGENOUS = ["const", "EngineSize", "SportsBike", "Brand2", "Brand3"]
REGRESSORS = ["const", "prices", "EngineSize", "SportsBike", "Brand2", "Brand3"]
EXCLUDED = [f"demand_instruments{k}" for k in range(4)]


@pytest.fixture(scope="module")
def motorcycles() -> pd.DataFrame:
    products = data.load_motorcycles()
    products["const"] = 1.0
    products["y"] = logit.logit_inversion(products["shares"], products["market_ids"])
    return products


def linearmodels_fit(frame, cov_type, debiased=False):
    model = linearmodels_iv.IV2SLS(frame["y"], frame[EXOGENOUS], frame[["prices"]], frame[EXCLUDED])
    return model.fit(cov_type=cov_type, debiased=debiased)


# --------------------------------------------------------------------------- against linearmodels


@pytest.mark.parametrize("cov_type", ["robust", "unadjusted"])
def test_tsls_matches_linearmodels(motorcycles, cov_type):
    ours = iv.tsls(
        motorcycles["y"], motorcycles[REGRESSORS], motorcycles[EXOGENOUS + EXCLUDED], names=REGRESSORS, cov_type=cov_type
    )
    theirs = linearmodels_fit(motorcycles, cov_type)
    assert list(ours.params.index) == REGRESSORS
    assert ours.cov_type == cov_type
    np.testing.assert_allclose(ours.params.to_numpy(), theirs.params[REGRESSORS].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.std_errors.to_numpy(), theirs.std_errors[REGRESSORS].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.cov, theirs.cov.loc[REGRESSORS, REGRESSORS].to_numpy(), rtol=1e-9, atol=1e-16)
    np.testing.assert_allclose(ours.residuals, theirs.resids.to_numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.std_errors.to_numpy(), np.sqrt(np.diag(ours.cov)), rtol=1e-15)


def test_robust_and_unadjusted_differ(motorcycles):
    # A guard that the cov_type switch does something (the two match linearmodels separately).
    args = (motorcycles["y"], motorcycles[REGRESSORS], motorcycles[EXOGENOUS + EXCLUDED])
    robust, plain = iv.tsls(*args), iv.tsls(*args, cov_type="unadjusted")
    np.testing.assert_allclose(robust.params, plain.params, rtol=1e-14)
    assert np.max(np.abs(robust.std_errors.to_numpy() / plain.std_errors.to_numpy() - 1)) > 0.01


def test_iv_price_coefficient_near_truth_on_motorcycles(motorcycles):
    # Logit IV on random-coefficients data estimates the mean price coefficient -3 roughly; OLS is biased up.
    ivres = iv.tsls(motorcycles["y"], motorcycles[REGRESSORS], motorcycles[EXOGENOUS + EXCLUDED], names=REGRESSORS)
    ols = iv.tsls(motorcycles["y"], motorcycles[REGRESSORS], motorcycles[REGRESSORS], names=REGRESSORS)
    assert ols.params["prices"] > ivres.params["prices"]
    assert abs(ivres.params["prices"] - (-3.0)) < abs(ols.params["prices"] - (-3.0))


def test_ols_equals_lstsq(motorcycles):
    X = motorcycles[REGRESSORS].to_numpy()
    y = motorcycles["y"].to_numpy()
    ours = iv.tsls(y, X, X)
    expected = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(ours.params.to_numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(ours.residuals, y - X @ expected, rtol=1e-9, atol=1e-12)
    assert list(ours.params.index) == [f"x{k}" for k in range(X.shape[1])]
    # HC0 and classical OLS standard errors, as statsmodels computes them.
    hc0 = sm.OLS(y, X).fit(cov_type="HC0")
    np.testing.assert_allclose(ours.std_errors.to_numpy(), hc0.bse, rtol=1e-10)
    plain = iv.tsls(y, X, X, cov_type="unadjusted")
    e = y - X @ expected
    np.testing.assert_allclose(plain.cov, (e @ e / len(y)) * np.linalg.inv(X.T @ X), rtol=1e-9)


def test_just_identified_is_indirect_least_squares():
    rng = np.random.default_rng(3)
    n = 500
    z = np.column_stack([np.ones(n), rng.standard_normal(n)])
    x = np.column_stack([np.ones(n), z[:, 1] + rng.standard_normal(n)])
    y = x @ [1.0, 2.0] + rng.standard_normal(n)
    np.testing.assert_allclose(iv.tsls(y, x, z).params.to_numpy(), np.linalg.solve(z.T @ x, z.T @ y), rtol=1e-10)


def test_table_and_residuals_consistent(motorcycles):
    res = iv.tsls(motorcycles["y"], motorcycles[REGRESSORS], motorcycles[EXOGENOUS + EXCLUDED], names=REGRESSORS)
    table = res.table()
    assert list(table.columns) == ["estimate", "std. error"]
    np.testing.assert_array_equal(table["estimate"].to_numpy(), res.params.to_numpy())
    X = motorcycles[REGRESSORS].to_numpy()
    np.testing.assert_allclose(res.residuals, motorcycles["y"].to_numpy() - X @ res.params.to_numpy(), atol=1e-12)


# --------------------------------------------------------------------------- truth recovery


def simulate_linear_iv(n, seed):
    """y = 1 + 2 x + 0.5 w + u with x endogenous (corr(u, v) = 0.6) and two excluded instruments."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 2))
    w = rng.standard_normal(n)
    u, v = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.6], [0.6, 1.0]], size=n).T
    x = 0.5 + 0.8 * z[:, 0] - 0.6 * z[:, 1] + 0.3 * w + v
    y = 1.0 + 2.0 * x + 0.5 * w + u
    X = np.column_stack([np.ones(n), x, w])
    Z = np.column_stack([np.ones(n), w, z])
    return y, X, Z, np.array([1.0, 2.0, 0.5])


def test_tsls_recovers_truth_large_simulation():
    n = 40_000
    y, X, Z, truth = simulate_linear_iv(n, seed=2024)
    res = iv.tsls(y, X, Z, names=["const", "x", "w"])
    se = res.std_errors.to_numpy()
    # With n = 40,000 the standard errors are about 1/sqrt(n) times O(1) constants: ~0.005-0.01.
    assert np.all(se < 0.02) and np.all(se > 0.002)
    # Estimates within 4 standard errors of the truth (a 1-in-15,000 event per coefficient under the null).
    assert np.all(np.abs(res.params.to_numpy() - truth) < 4 * se), (res.params, se)
    # OLS is inconsistent here: its slope is biased up by cov(x, u) / var(x | w) ~ 0.6 / 2.0 = 0.3.
    ols = iv.tsls(y, X, X)
    assert ols.params.iloc[1] - truth[1] > 0.2


def test_tsls_standard_errors_shrink_like_root_n():
    small = iv.tsls(*simulate_linear_iv(2_500, seed=5)[:3]).std_errors.to_numpy()
    large = iv.tsls(*simulate_linear_iv(40_000, seed=6)[:3]).std_errors.to_numpy()
    np.testing.assert_allclose(small / large, 4.0, rtol=0.15)  # sqrt(40,000 / 2,500) = 4


# --------------------------------------------------------------------------- first stage


def test_first_stage_f_matches_linearmodels_and_statsmodels(motorcycles):
    F = iv.first_stage_f(motorcycles["prices"], motorcycles[EXOGENOUS], motorcycles[EXCLUDED])
    # linearmodels' partial F with the classical (debiased) homoskedastic covariance.
    theirs = linearmodels_fit(motorcycles, "unadjusted", debiased=True).first_stage.diagnostics
    assert F == pytest.approx(theirs.loc["prices", "f.stat"], rel=1e-10)
    # statsmodels' nested-model F test.
    full = sm.OLS(motorcycles["prices"], motorcycles[EXOGENOUS + EXCLUDED]).fit()
    restricted = sm.OLS(motorcycles["prices"], motorcycles[EXOGENOUS]).fit()
    f_sm, _, df = full.compare_f_test(restricted)
    assert df == len(EXCLUDED)
    assert F == pytest.approx(f_sm, rel=1e-10)
    assert F > 10  # the cost shifters are strong instruments


def test_first_stage_f_by_hand():
    rng = np.random.default_rng(8)
    n = 300
    W = np.column_stack([np.ones(n), rng.standard_normal(n)])
    Zx = rng.standard_normal((n, 1))
    x = W @ [0.2, 0.5] + 0.3 * Zx[:, 0] + rng.standard_normal(n)
    # One excluded instrument: F is the squared classical t statistic of its coefficient.
    fit = sm.OLS(x, np.column_stack([W, Zx])).fit()
    assert iv.first_stage_f(x, W, Zx) == pytest.approx(fit.tvalues[-1] ** 2, rel=1e-10)
    # An irrelevant instrument gives a small F.
    assert iv.first_stage_f(x, W, rng.standard_normal((n, 1))) < 10


def test_first_stage_f_mismatched_rows():
    with pytest.raises(ValueError, match=r"excluded must have 5 rows"):
        iv.first_stage_f(np.zeros(5), np.ones((5, 1)), np.ones((4, 2)))


# --------------------------------------------------------------------------- bad inputs


def test_underidentified_raises():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    with pytest.raises(ValueError, match=r"Underidentified: 2 instruments for 3 regressors"):
        iv.tsls(rng.standard_normal(50), X, X[:, :2])


def test_mismatched_rows_raise():
    rng = np.random.default_rng(0)
    y = rng.standard_normal(50)
    with pytest.raises(ValueError, match=r"X must have 50 rows"):
        iv.tsls(y, rng.standard_normal((49, 2)), rng.standard_normal((50, 3)))
    with pytest.raises(ValueError, match=r"Z must have 50 rows"):
        iv.tsls(y, rng.standard_normal((50, 2)), rng.standard_normal((51, 3)))


def test_other_bad_inputs_raise():
    rng = np.random.default_rng(0)
    y, X = rng.standard_normal(20), rng.standard_normal((20, 2))
    with pytest.raises(ValueError, match=r"Unknown method 'HC3'.*'robust'.*'unadjusted'"):
        iv.tsls(y, X, X, cov_type="HC3")
    with pytest.raises(ValueError, match=r"names has 1 entries for 2 columns"):
        iv.tsls(y, X, X, names=["a"])
    y_bad = y.copy()
    y_bad[3] = np.nan
    with pytest.raises(ValueError, match=r"y has a non-finite value .* at position 3"):
        iv.tsls(y_bad, X, X)
    X_bad = X.copy()
    X_bad[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"X has a non-finite value"):
        iv.tsls(y, X_bad, X)


def test_rank_deficient_instruments_raise(motorcycles):
    # Six instrument columns for six regressors, but the sixth is twice the constant: no excluded instrument.
    Z = np.column_stack([motorcycles[EXOGENOUS].to_numpy(), 2.0 * np.ones(len(motorcycles))])
    with pytest.raises(ValueError, match="Underidentified"):
        iv.tsls(motorcycles["y"], motorcycles[REGRESSORS], Z)


def test_batched_fit_equals_tsls_one_by_one_and_handles_a_collinear_member(motorcycles):
    """The stacked arithmetic (used by nests.two_step_many) gives each regression tsls' answer,
    also where one member's instruments are collinear (its pivoted-QR fallback)."""
    y = motorcycles["y"].to_numpy()
    X = motorcycles[REGRESSORS].to_numpy()
    Z = motorcycles[EXOGENOUS + EXCLUDED].to_numpy()
    rng = np.random.default_rng(4)
    noisy = [y + rng.normal(0, 0.1, len(y)) for _ in range(3)]
    collinear = np.column_stack([Z, Z[:, -1] + Z[:, 0]])  # one redundant instrument
    instruments = [np.column_stack([Z, rng.normal(size=len(y))]), collinear, np.column_stack([Z, Z[:, 1] ** 2])]
    for cov_type in ("robust", "unadjusted"):
        beta, e, cov = iv.tsls_many(np.stack(noisy), np.stack([X.T] * 3), np.stack([z.T for z in instruments]),
                                    cov_type)
        for b in range(3):
            alone = iv.tsls(noisy[b], X, instruments[b], cov_type=cov_type)
            np.testing.assert_allclose(beta[b], alone.coefficients, rtol=1e-10)
            np.testing.assert_allclose(cov[b], alone.cov, rtol=1e-8)
            np.testing.assert_allclose(e[b], alone.residuals, rtol=1e-9, atol=1e-12)
    # The collinear member alone drops the redundant column: same fit as without it.
    np.testing.assert_allclose(iv.tsls(y, X, collinear).coefficients, iv.tsls(y, X, Z).coefficients, rtol=1e-9)
