"""Tests of course_lib.nest_extensions.two_level: two-level nests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

from course_lib import nest_extensions as ne
from course_lib.nested_logit import nested_logit_shares, within_nest_shares
from course_lib.nests import best_relabelling, matched_share, simulate_nested_logit


def test_two_level_shares_reduce_to_one_level():
    sim = simulate_nested_logit(12, 3, K=4, sigma=(0.3, 0.5, 0.7, 0.9), seed=3)
    d = sim.data
    lower = d["nesting_ids"].to_numpy()
    one = nested_logit_shares(sim.delta, lower, dict(enumerate(sim.sigma)), d["market_ids"])
    # Upper nests with sigma_n = 1 add nothing.
    s = ne.two_level_shares(sim.delta, lower, lower // 2, sim.sigma[np.unique(lower)], 1.0, d["market_ids"])
    np.testing.assert_allclose(s, one, rtol=1e-12)
    # Each lower nest alone in its upper nest: sigma_n cancels (IV_n^{sigma_n} = IV_k^{sigma_k}).
    s = ne.two_level_shares(sim.delta, lower, lower, sim.sigma[np.unique(lower)], 0.95, d["market_ids"])
    np.testing.assert_allclose(s, one, rtol=1e-12)


def test_two_level_log_share_ratio_and_berry_identity():
    """log(s_j/s_0) = delta_j/sigma_k + (sigma_k/sigma_n - 1) log IV_k + (sigma_n - 1) log IV_n, and
    log(s_j/s_0) = delta_j + (1 - sigma_k) log s_{j|k} + (1 - sigma_n) log s_{k|n}, exactly."""
    sim = ne.simulate_two_level(40, 4, seed=1)
    d = sim.data
    sl, su, up = sim.truth["sigma_lower"], sim.truth["sigma_upper"], sim.truth["upper_of_lower"]
    k, m, s, delta = d["nesting_ids"].to_numpy(), d["market_ids"].to_numpy(), d["shares"].to_numpy(), sim.truth["delta"]
    n = up[k]
    frame = pd.DataFrame({"m": m, "k": k, "n": n, "v": delta / sl[k], "s": s})
    log_iv_k = frame.groupby(["m", "k"])["v"].transform(logsumexp).to_numpy()
    cells = frame.assign(w=sl[k] / su[n] * log_iv_k).drop_duplicates(["m", "k"])
    log_iv_n = cells.groupby(["m", "n"])["w"].apply(logsumexp)
    log_iv_n = log_iv_n.loc[list(zip(m, n))].to_numpy()
    y = np.log(s) - np.log(1 - frame.groupby("m")["s"].transform("sum").to_numpy())
    lam = (sl[k] / su[n] - 1) * log_iv_k + (su[n] - 1) * log_iv_n
    np.testing.assert_allclose(y, delta / sl[k] + lam, atol=1e-10)
    s_k = frame.groupby(["m", "k"])["s"].transform("sum").to_numpy()
    s_n = frame.groupby(["m", "n"])["s"].transform("sum").to_numpy()
    berry = delta + (1 - sl[k]) * np.log(s / s_k) + (1 - su[n]) * np.log(s_k / s_n)
    np.testing.assert_allclose(y, berry, atol=1e-10)
    np.testing.assert_allclose(np.log(s / s_k), np.log(within_nest_shares(s, k, m)), atol=1e-12)


def test_two_level_estimation_recovers_both_levels_and_parameters():
    sim = ne.simulate_two_level(120, 40, seed=5)
    res = ne.classify_two_level(sim.data, 6, 2)
    assert matched_share(res.lower.labels, sim.nests) == 1.0
    relabel = best_relabelling(res.lower.labels, sim.nests)
    true_upper = sim.truth["upper_of_lower"][[relabel[k] for k in range(6)]]
    assert matched_share(res.upper.labels.to_numpy(), true_upper) == 1.0
    # The upper slope is beta_p / sigma_n.
    up_relabel = best_relabelling(res.upper.labels.to_numpy(), true_upper)
    slope_true = [sim.truth["beta_p"] / sim.truth["sigma_upper"][up_relabel[u]] for u in range(2)]
    np.testing.assert_allclose(res.upper.coefficients.iloc[:, 0], slope_true, rtol=0.15)
    est = ne.two_level_berry_regression(sim.data, res.lower_ids, res.upper_ids)
    assert abs(est.alpha - sim.truth["beta_p"]) < 0.05 and abs(est.beta["x"] - sim.truth["beta_x"]) < 0.05
    sl = [sim.truth["sigma_lower"][relabel[k]] for k in range(6)]
    np.testing.assert_allclose(est.sigma_lower.to_numpy(), sl, atol=0.05)
    np.testing.assert_allclose(est.sigma_upper.to_numpy(),
                               [sim.truth["sigma_upper"][up_relabel[u]] for u in range(2)], atol=0.05)


def test_two_level_bad_inputs():
    with pytest.raises(ValueError, match="more than one upper"):
        ne.two_level_shares([0.1, 0.2], [0, 0], [0, 1], 0.5, [0.6, 0.7])
    with pytest.raises(ValueError, match="exceeds its upper"):
        ne.two_level_shares([0.1, 0.2], [0, 1], [0, 0], [0.5, 0.8], 0.6)
    with pytest.raises(ValueError, match="sigma_upper"):
        ne.two_level_shares([0.1, 0.2], [0, 1], [0, 0], 0.5, 1.3)
    sim = ne.simulate_two_level(30, 4, seed=1)
    with pytest.raises(ValueError, match="1 <= N < K"):
        ne.classify_two_level(sim.data, 3, 3)
    with pytest.raises(ValueError, match="never has two members"):
        ne.two_level_berry_regression(sim.data, sim.data["nesting_ids"], sim.data["nesting_ids"])
    with pytest.raises(ValueError, match="every upper nest"):
        ne.simulate_two_level(10, 2, upper_of_lower=(0, 2))
