r"""Comparing two classifications: the share of products classified alike, up to relabelling."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from .._checks import plain, unique_inverse


def _aligned_labels(estimated, true):
    """Two label vectors as arrays over the same products, checked."""
    if isinstance(estimated, pd.Series) and isinstance(true, pd.Series):
        if not estimated.index.equals(true.index):
            if not estimated.index.sort_values().equals(true.index.sort_values()):
                raise ValueError("estimated and true are Series over different product ids.")
            true = true.loc[estimated.index]
    est = np.asarray(estimated).ravel()
    tru = np.asarray(true).ravel()
    if len(est) != len(tru):
        raise ValueError(f"Mismatched lengths: estimated has {len(est)} labels, true has {len(tru)}.")
    if len(est) == 0:
        raise ValueError("No labels to compare.")
    if pd.isna(est).any() or pd.isna(tru).any():
        raise ValueError("Labels contain missing values (NaN).")
    return est, tru


def _matching(estimated, true):
    """Confusion matrix of two labellings and its maximum-weight one-to-one matching."""
    est, tru = _aligned_labels(estimated, true)
    e_values, e_idx = unique_inverse(est)
    t_values, t_idx = unique_inverse(tru)
    shape = (len(e_values), len(t_values))
    confusion = np.bincount(e_idx * shape[1] + t_idx, minlength=shape[0] * shape[1]).reshape(shape).astype(float)
    rows, cols = linear_sum_assignment(confusion, maximize=True)
    return confusion, rows, cols, e_values, t_values


def match(estimated, true) -> tuple[float, dict]:
    """:func:`matched_share` and :func:`best_relabelling` from one matching (the Monte Carlo needs both)."""
    confusion, rows, cols, e_values, t_values = _matching(estimated, true)
    return _share(confusion, rows, cols), _relabelling(rows, cols, e_values, t_values)


def _share(confusion, rows, cols) -> float:
    return float(confusion[rows, cols].sum() / confusion.sum())


def _relabelling(rows, cols, e_values, t_values) -> dict:
    return {plain(e_values[r]): plain(t_values[c]) for r, c in zip(rows, cols)}


def matched_share(estimated, true) -> float:
    r"""Share of products correctly classified under the best relabelling of the groups.

    .. math::
        \max_{\pi} \frac{1}{J} \sum_j 1\{\pi(\hat k(j)) = k(j)\},

    over one-to-one maps :math:`\pi` from estimated to true labels, found by the Hungarian
    algorithm (:func:`scipy.optimize.linear_sum_assignment`) on the confusion matrix. The
    numbers of labels may differ (extra groups then match nothing).

    Parameters
    ----------
    estimated, true : array_like or pandas.Series, shape (J,)
        Group labels of the same products. Two Series are aligned on their index (product
        ids) first.

    Returns
    -------
    float
    """
    return _share(*_matching(estimated, true)[:3])


def best_relabelling(estimated, true) -> dict:
    r"""The one-to-one map from estimated to true labels that matches the most products.

    The permutation :math:`\pi` maximising :math:`\sum_j 1\{\pi(\hat k(j)) = k(j)\}` (the
    Hungarian algorithm on the confusion matrix), as a dict ``{estimated label: true label}``;
    :func:`matched_share` is the share of products it matches. Use it to compare group-level
    estimates (such as each nest's sigma) with the truth in a simulation.
    """
    return _relabelling(*_matching(estimated, true)[1:])
