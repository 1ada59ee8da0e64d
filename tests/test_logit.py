"""Unit tests of course_lib.logit: shares, Berry's inversion, elasticities, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import data, logit
from _finite_differences import log_price_elasticities

E = np.e


# --------------------------------------------------------------------------- shares


def test_shares_match_hand_computation():
    s = logit.logit_shares([1.0, 2.0])
    expected = np.array([E, E**2]) / (1 + E + E**2)
    np.testing.assert_allclose(s, expected, rtol=1e-14)


@pytest.mark.parametrize(
    "delta, expected",
    [
        ([0.0], [1 / 2]),
        ([0.0, 0.0, 0.0], [1 / 4, 1 / 4, 1 / 4]),
        ([np.log(2.0), np.log(3.0)], [2 / 6, 3 / 6]),  # exp(delta) = (2, 3): 1 + 2 + 3 = 6
        ([-1.0], [np.exp(-1) / (1 + np.exp(-1))]),
    ],
)
def test_shares_closed_forms(delta, expected):
    np.testing.assert_allclose(logit.logit_shares(delta), expected, rtol=1e-14)


def test_shares_positive_and_sum_below_one():
    rng = np.random.default_rng(0)
    delta = rng.normal(0.0, 2.0, 30)
    ids = np.repeat(np.arange(6), 5)
    s = logit.logit_shares(delta, ids)
    assert np.all(s > 0)
    totals = np.bincount(ids, weights=s)
    assert np.all(totals < 1)
    # The outside share is 1 / (1 + sum exp(delta)) in each market.
    outside = 1 / (1 + np.bincount(ids, weights=np.exp(delta)))
    np.testing.assert_allclose(1 - totals, outside, rtol=1e-12)


def test_multi_market_shares_equal_market_by_market():
    rng = np.random.default_rng(1)
    sizes = [1, 3, 5, 2, 8]
    ids = np.repeat(np.array([40, 7, 13, 2, 99]), sizes)
    delta = rng.normal(0.0, 1.5, len(ids))
    # Interleave the rows: markets need not be contiguous or sorted.
    order = rng.permutation(len(ids))
    ids, delta = ids[order], delta[order]
    stacked = logit.logit_shares(delta, ids)
    for t in np.unique(ids):
        rows = ids == t
        np.testing.assert_allclose(stacked[rows], logit.logit_shares(delta[rows]), rtol=1e-14)
    # Treating everything as one market gives different (smaller) shares.
    assert not np.allclose(stacked, logit.logit_shares(delta))


def test_string_market_ids():
    ids = np.array(["b", "a", "b", "a"])
    delta = np.array([1.0, 2.0, 2.0, 1.0])
    s = logit.logit_shares(delta, ids)
    expected = np.array([E, E**2]) / (1 + E + E**2)
    np.testing.assert_allclose(s[[0, 2]], expected, rtol=1e-14)
    np.testing.assert_allclose(s[[3, 1]], expected, rtol=1e-14)


@pytest.mark.parametrize(
    "delta, ids",
    [
        ([800.0], None),
        ([800.0, 800.0], None),
        ([800.0, 0.0, -800.0], None),
        ([-800.0], None),
        ([-800.0, -800.0, -800.0], None),
        ([800.0, 1.0, -800.0, -799.0], [1, 1, 2, 2]),
    ],
)
def test_huge_utilities_give_finite_shares(delta, ids):
    # No overflow, no inf/inf or 0/0 (underflow to 0 is expected and fine).
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = logit.logit_shares(delta, ids)
    assert np.all(np.isfinite(s))
    assert np.all(s >= 0)
    ids = np.zeros(len(delta), dtype=int) if ids is None else np.asarray(ids)
    _, inv = np.unique(ids, return_inverse=True)
    assert np.all(np.bincount(inv, weights=s) <= 1.0)


def test_huge_utility_values():
    np.testing.assert_allclose(logit.logit_shares([800.0, 800.0]), [0.5, 0.5], rtol=1e-14)
    np.testing.assert_allclose(logit.logit_shares([800.0, 0.0]), [1.0, 0.0], atol=1e-300)
    # Very negative utilities: shares are exp(delta) to double precision, relative to each other.
    s = logit.logit_shares([-700.0, -701.0])
    np.testing.assert_allclose(s[1] / s[0], np.exp(-1.0), rtol=1e-12)


# --------------------------------------------------------------------------- inversion


def test_inversion_round_trip_random_markets():
    rng = np.random.default_rng(20210305)
    sizes = rng.integers(1, 11, size=25)
    ids = np.repeat(np.arange(100, 100 + len(sizes)), sizes)
    delta = rng.normal(-1.0, 2.0, len(ids))
    order = rng.permutation(len(ids))
    ids, delta = ids[order], delta[order]
    shares = logit.logit_shares(delta, ids)
    np.testing.assert_allclose(logit.logit_inversion(shares, ids), delta, rtol=0, atol=1e-10)


def test_inversion_hand_computation():
    # s = (0.2, 0.3): s0 = 0.5, delta = log(s / s0).
    np.testing.assert_allclose(logit.logit_inversion([0.2, 0.3]), np.log([0.4, 0.6]), rtol=1e-14)


def test_inversion_round_trip_motorcycle_data():
    products = data.load_motorcycles()
    shares, ids = products["shares"].to_numpy(), products["market_ids"].to_numpy()
    delta = logit.logit_inversion(shares, ids)
    assert np.all(np.isfinite(delta))
    np.testing.assert_allclose(logit.logit_shares(delta, ids), shares, rtol=1e-12)
    # Market by market equals Berry's formula log s_j - log s_0.
    for t in (1, 17, 100):
        rows = ids == t
        s = shares[rows]
        np.testing.assert_allclose(delta[rows], np.log(s) - np.log(1 - s.sum()), rtol=1e-13)


# --------------------------------------------------------------------------- elasticities


def _elasticity_setup(seed, J):
    rng = np.random.default_rng(seed)
    prices = rng.uniform(0.5, 2.0, J)
    alpha = -rng.uniform(0.5, 3.0)
    delta0 = rng.normal(0.0, 1.0, J)  # delta = delta0 + alpha * price
    return prices, alpha, delta0


@pytest.mark.parametrize("seed, J", [(3, 1), (4, 3), (5, 7)])
def test_elasticities_match_finite_differences(seed, J):
    prices, alpha, delta0 = _elasticity_setup(seed, J)
    shares = logit.logit_shares(delta0 + alpha * prices)
    eps = logit.logit_elasticities(prices, shares, alpha)
    assert eps.shape == (J, J)

    # d log s_j / d log p_k by central differences in log p_k.
    fd = log_price_elasticities(lambda p: np.log(logit.logit_shares(delta0 + alpha * p)), prices)
    np.testing.assert_allclose(eps, fd, rtol=1e-7, atol=0)
    # Own-price elasticities are negative, cross-price positive (substitutes).
    assert np.all(np.diag(eps) < 0)
    if J > 1:
        assert np.all(eps[~np.eye(J, dtype=bool)] > 0)


def test_elasticities_closed_form_and_iia():
    prices = np.array([1.0, 2.0, 4.0])
    shares = np.array([0.1, 0.2, 0.3])
    alpha = -2.0
    eps = logit.logit_elasticities(prices, shares, alpha)
    np.testing.assert_allclose(np.diag(eps), alpha * prices * (1 - shares), rtol=1e-15)
    # Column k off the diagonal is -alpha p_k s_k for every j (IIA).
    for k in range(3):
        off = np.delete(eps[:, k], k)
        np.testing.assert_allclose(off, -alpha * prices[k] * shares[k], rtol=1e-15)


def test_price_derivatives_match_finite_differences():
    prices, alpha, delta0 = _elasticity_setup(6, 4)
    shares = logit.logit_shares(delta0 + alpha * prices)
    d = logit.logit_price_derivatives(shares, alpha)
    h = 1e-6
    fd = np.column_stack(
        [
            (logit.logit_shares(delta0 + alpha * (prices + h * e)) - logit.logit_shares(delta0 + alpha * (prices - h * e)))
            / (2 * h)
            for e in np.eye(4)
        ]
    )
    np.testing.assert_allclose(d.jacobian, fd, rtol=1e-7, atol=1e-12)


# --------------------------------------------------------------------------- bad inputs

# Messages name markets plainly ("market 7", "market 'B'"), never as numpy reprs.


def _market(t) -> str:
    return rf"market '?{t}'?(?![\w.])"


def test_zero_share_raises_naming_market():
    with pytest.raises(ValueError, match=rf"position 1 in {_market(5)}.*strictly positive"):
        logit.logit_inversion([0.2, 0.0, 0.1], [5, 5, 6])


def test_negative_share_raises_naming_market():
    with pytest.raises(ValueError, match=rf"position 2 in {_market(6)}.*strictly positive"):
        logit.logit_inversion([0.2, 0.1, -0.1], [5, 5, 6])


def test_nan_share_raises_naming_market():
    with pytest.raises(ValueError, match=rf"position 0 in {_market(3)} is not finite"):
        logit.logit_inversion([np.nan, 0.2, 0.1], [3, 3, 4])


def test_infinite_share_raises():
    with pytest.raises(ValueError, match="not finite"):
        logit.logit_inversion([0.1, np.inf], [1, 1])


@pytest.mark.parametrize("shares", [[0.5, 0.5], [0.6, 0.7], [1.0]])
def test_shares_summing_to_one_or_more_raise_naming_market(shares):
    n = len(shares)
    ids = [1, 1] + [7] * n
    with pytest.raises(ValueError, match=rf"{_market(7)} sum to .*>= 1"):
        logit.logit_inversion([0.1, 0.2] + shares, ids)


def test_shares_summing_to_one_in_named_string_market():
    with pytest.raises(ValueError, match=rf"{_market('Bergen')} sum to 1.1"):
        logit.logit_inversion([0.1, 0.5, 0.6], ["Oslo", "Bergen", "Bergen"])


def test_valid_market_not_blamed_for_another():
    # Market 1 is fine; only market 2 must be named.
    with pytest.raises(ValueError) as info:
        logit.logit_inversion([0.1, 0.2, 0.7, 0.4], [1, 1, 2, 2])
    assert "sum to 1.1" in str(info.value)
    assert _contains_market(str(info.value), 2) and not _contains_market(str(info.value), 1)


def _contains_market(message: str, t) -> bool:
    import re

    return re.search(_market(t) + r"\b", message) is not None


def test_mismatched_lengths_inversion():
    with pytest.raises(ValueError, match=r"Mismatched lengths.*shares=3.*market_ids=2"):
        logit.logit_inversion([0.1, 0.2, 0.3], [1, 1])


def test_mismatched_lengths_shares():
    with pytest.raises(ValueError, match=r"Mismatched lengths.*market_ids=2"):
        logit.logit_shares([0.1, 0.2, 0.3], [1, 1])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_delta_raises(bad):
    with pytest.raises(ValueError, match=r"delta has a non-finite value .* at position 2"):
        logit.logit_shares([0.0, 1.0, bad])


def test_two_dimensional_delta_raises():
    with pytest.raises(ValueError, match="delta must be one-dimensional"):
        logit.logit_shares(np.zeros((2, 3)))


def test_elasticities_bad_inputs():
    with pytest.raises(ValueError, match=r"Mismatched lengths: prices=2, shares=3"):
        logit.logit_elasticities([1.0, 2.0], [0.1, 0.2, 0.3], -1.0)
    with pytest.raises(ValueError, match="prices has a non-finite value"):
        logit.logit_elasticities([1.0, np.nan], [0.1, 0.2], -1.0)
    with pytest.raises(ValueError, match="strictly positive"):
        logit.logit_elasticities([1.0, 2.0], [0.0, 0.2], -1.0)


def test_messages_name_market_plainly():
    with pytest.raises(ValueError, match=r"in market 7 sum to 1 >= 1"):
        logit.logit_inversion([0.5, 0.5], [7, 7])
    with pytest.raises(ValueError, match=r"position 0 in market 5 is 0(\.0)?;"):
        logit.logit_inversion([0.0, 0.5], [5, 5])


def test_single_market_messages_name_no_market():
    """Without market_ids there is one market, and the message does not invent an id for it."""
    with pytest.raises(ValueError) as info:
        logit.logit_inversion([0.5, 0.6])
    assert "Inside shares sum to 1.1 >= 1" in str(info.value) and "market" not in str(info.value).split(";")[0]
    with pytest.raises(ValueError, match=r"^Share of product at position 1 is 0;"):
        logit.logit_inversion([0.2, 0.0])
