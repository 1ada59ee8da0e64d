r"""Choosing the number of nests K: cross-validation over products and the one-standard-error rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .gfe import classify
from .panel import build_panel


@dataclass
class CrossValidationResult:
    r"""Out-of-sample fit of the classification for each number of groups.

    Attributes
    ----------
    mse : pandas.DataFrame
        :math:`MSE_n(k)`, folds (rows) by numbers of groups (columns).
    mean_mse : pandas.Series
        :math:`MSE(k) = \frac1N \sum_n MSE_n(k)`, indexed by k.
    std_error : pandas.Series
        Standard error of ``mean_mse`` across folds, :math:`s_k / \sqrt N` with :math:`s_k`
        the standard deviation of :math:`MSE_n(k)` over the N folds.
    selected_K : int
        The number of groups chosen by :func:`one_standard_error_rule`.
    folds : pandas.Series
        Fold (0, ..., N-1) of each product, indexed by product id.
    """

    mse: pd.DataFrame
    mean_mse: pd.Series
    std_error: pd.Series
    selected_K: int
    folds: pd.Series


def one_standard_error_rule(mean_mse: pd.Series, std_error: pd.Series) -> int:
    r"""The smallest k whose cross-validated error is within one standard error of the best.

    .. math::
        k^* = \min\{k : MSE(k) \le MSE(\hat k) + \mathrm{se}(\hat k)\},
        \qquad \hat k = \arg\min_k MSE(k),

    the one-standard-error rule of Breiman et al. (1984) and Hastie, Tibshirani and Friedman
    (2009, section 7.10). It makes the slides' elbow ("where the slope of MSE(k) changes")
    precise: past the elbow one more group lowers the out-of-sample error by less than the
    error's own noise across folds, so the curve is flat up to that noise.
    """
    best = mean_mse.idxmin()
    within = mean_mse <= mean_mse[best] + std_error[best]
    return int(mean_mse.index[within.to_numpy()].min())


def cross_validate(
    data: pd.DataFrame,
    K_values=range(1, 7),
    n_folds: int = 5,
    seed=0,
    regressors=("prices", "x"),
    n_starts: int = 20,
    **classify_options,
) -> CrossValidationResult:
    r"""Choose the number of nests by N-fold cross-validation over products (the slides' rule).

    Products (not rows) are split at random into ``n_folds`` folds of (nearly) equal size.
    For each fold :math:`P_n` and each k, :func:`classify` is run on the other products,
    each held-out product is assigned to its best-fitting estimated group
    (:meth:`GFEResult.assign`), and

    .. math::
        MSE_n(k) = \frac{1}{|\{(j, m): j \in P_n\}|} \sum_{j \in P_n} \sum_{m}
        \big(y_{jm} - \hat\beta_{-n}^{\hat k(j)\prime} w_{jm} - \hat\lambda^{\hat k(j)}_{m,-n}\big)^2,

    the mean over the held-out product-market pairs (the slides divide by J M, a constant
    that does not change the choice). The outside share of every market is computed from
    all products before the split, so a held-out product's y is the same as in the full
    data. The number of nests is chosen from :math:`MSE(k) = \frac1N\sum_n MSE_n(k)` by
    :func:`one_standard_error_rule`.

    Parameters
    ----------
    data : pandas.DataFrame
        As for :func:`classify`.
    K_values : sequence of int
        Numbers of groups to try.
    n_folds : int
        Number of folds N (at least 2).
    seed : int
        Seeds the split of products into folds and the classifications' starts.
    regressors, n_starts, **classify_options
        Passed to :func:`classify`.

    Returns
    -------
    CrossValidationResult
    """
    K_values = sorted({int(k) for k in K_values})
    if not K_values or K_values[0] < 1:
        raise ValueError(f"K_values must be positive integers; got {K_values}.")
    if int(n_folds) != n_folds or n_folds < 2:
        raise ValueError(f"n_folds must be an integer of at least 2; got {n_folds}.")
    data = data.copy()
    if "outside_shares" not in data.columns:
        inside = data.groupby("market_ids")["shares"].transform("sum").to_numpy(dtype=float)
        data["outside_shares"] = 1.0 - inside
    # The full panel's checks, once (and the product ids) before any split.
    product_ids = build_panel(data, tuple(regressors)).product_ids
    J = len(product_ids)
    largest = J - -(-J // int(n_folds))  # products left for training by the largest fold
    if max(K_values) >= largest:
        raise ValueError(
            f"K={max(K_values)} needs more than {largest} training products; use fewer groups "
            "or fewer folds."
        )
    rng = np.random.default_rng(seed)
    folds = pd.Series(rng.permutation(J) % int(n_folds), index=pd.Index(product_ids, name="product_ids"),
                      name="fold")
    held_out = folds.loc[data["product_ids"].to_numpy()].to_numpy()
    mse = pd.DataFrame(index=pd.Index(range(int(n_folds)), name="fold"),
                       columns=pd.Index(K_values, name="K"), dtype=float)
    for n in range(int(n_folds)):  # folds x K classifications
        train, test = data[held_out != n], data[held_out == n]
        for k in K_values:
            result = classify(train, k, n_starts=n_starts, seed=seed, regressors=regressors, **classify_options)
            _, ssr = result.assign(test)
            mse.loc[n, k] = ssr.min(axis=1).sum() / len(test)
    mean_mse = mse.mean(axis=0)
    std_error = mse.std(axis=0, ddof=1) / np.sqrt(int(n_folds))
    return CrossValidationResult(mse=mse, mean_mse=mean_mse, std_error=std_error,
                                 selected_K=one_standard_error_rule(mean_mse, std_error), folds=folds)
