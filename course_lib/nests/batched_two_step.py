r"""The Monte Carlo's path for the two-step estimator: many data sets in one computation.

:func:`two_step_many` must give each data set the result of
:func:`course_lib.nests.two_step.two_step` (the reference; ``tests/nests/test_batched.py``
checks it on the Monte Carlo designs): step 1 is :func:`course_lib.nests.batched_gfe.classify_many`,
step 2 is :func:`berry_many`, Berry's regression for all data sets at once with
:func:`course_lib.iv.tsls_many`.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_shares, unique_inverse
from ..iv import IVResult, tsls_many
from ..nested_logit import NestedLogitResult, by_nest, slides_instruments, warn_sigma
from ..nested_logit import identified as identified_nests
from .batched_gfe import classify_many
from .two_step import TwoStepResult, second_step_columns, two_step_options


def two_step_many(
    datasets,
    K: int,
    classifications=None,
    characteristics=("x",),
    *,
    exogenous_prices: bool = True,
    price_instruments=(),
    regressors=None,
    constant: bool = False,
    n_starts: int = 20,
    seeds=None,
    cov_type: str = "robust",
    **classify_options,
) -> list:
    r""":func:`two_step` on several data sets over the same rows, in one computation.

    The result for data set i is the one of ``two_step(datasets[i], K, ...,
    seed=seeds[i], classification=classifications[i])`` (the reference), to rounding. Step 1 is
    :func:`classify_many` (unless ``classifications`` are given); step 2 computes the
    within-nest shares and the slides' instruments over all (data set, market, nest) cells
    at once and solves the B two-stage least squares problems as one stack, so that a
    Monte Carlo of small problems pays numpy's and pandas' per-call costs once, not once
    per data set.

    Parameters
    ----------
    datasets : sequence of pandas.DataFrame or mapping
        Each in the format of :func:`two_step`, all with the same ``market_ids`` and
        ``product_ids`` columns, row by row (e.g. draws of one simulation design).
    K : int
    classifications : sequence of GFEResult, optional
        Step 1 of each data set, already computed.
    seeds : sequence of int, optional
        One seed per data set for step 1 (default ``0, 1, 2, ...``).
    characteristics, exogenous_prices, price_instruments, regressors, constant, n_starts, cov_type, **classify_options
        As for :func:`two_step`.

    Returns
    -------
    list of TwoStepResult

    Raises
    ------
    ValueError
        As :func:`two_step`, naming the data set at fault; also when the data sets' rows differ.
    """
    datasets = list(datasets)
    if not datasets:
        raise ValueError("datasets is empty.")
    characteristics, price_instruments, regressors = two_step_options(characteristics, exogenous_prices,
                                                                      price_instruments, regressors)
    B = len(datasets)

    def where(b):  # names the data set in messages when there are several
        return f" in data set {b}" if B > 1 else ""

    needed = ["market_ids", "product_ids", "shares", "prices", *characteristics, *price_instruments]
    tables = [second_step_columns(data, characteristics, price_instruments, where(b)) for b, data in enumerate(datasets)]
    if any("outside_shares" in table for table in tables):
        raise ValueError(
            "two_step_many computes the outside share from the rows of data; for data with an "
            "outside_shares column (only some of a market's products) call two_step on each data set."
        )
    lengths = np.array([len(table["shares"]) for table in tables])
    different = lengths != lengths[0]
    columns = {}
    if not different.any():  # every column as one (B, N) array
        columns = {c: np.stack([table[c] for table in tables]) for c in needed}
        different = ((columns["market_ids"] != columns["market_ids"][0])
                     | (columns["product_ids"] != columns["product_ids"][0])).any(axis=1)
    if different.any():
        raise ValueError(
            f"Data set {np.argmax(different)} has other (market, product) rows than data set 0; two_step_many "
            "needs the same rows in the same order (call two_step on each instead)."
        )
    market_ids, product_ids = columns["market_ids"][0], columns["product_ids"][0]
    if classifications is None:
        seeds = list(range(B)) if seeds is None else list(seeds)
        classifications = classify_many(datasets, K, n_starts=n_starts, seeds=seeds, regressors=regressors,
                                        **classify_options)
    classifications = list(classifications)
    if len(classifications) != B:
        raise ValueError(f"classifications has {len(classifications)} entries for {B} data sets.")
    for b, result in enumerate(classifications):
        if result.K != K:
            raise ValueError(f"classification has K={result.K} groups{where(b)}; two_step was asked for K={K}.")

    # Step 2: Berry's regression with the estimated nests, all data sets at once.
    products, product_pos = unique_inverse(product_ids)
    nest_pos = np.stack([
        result.group_of[product_pos] if np.array_equal(result.product_ids, products)
        else result.labels_for(product_ids)
        for result in classifications
    ])  # (B, N)
    _, market_pos = unique_inverse(market_ids)
    market = (np.arange(B)[:, None] * (market_pos.max() + 1) + market_pos).ravel()  # (data set, market)
    cell = market * K + nest_pos.ravel()  # (data set, market, nest)
    n_cells = int(cell.max()) + 1
    identified = identified_nests(cell, n_cells, nest_pos, K)
    if not identified.all():
        b, k = (int(i[0]) for i in np.nonzero(~identified))
        raise ValueError(
            f"Nest {k} never has two products in the same market{where(b)}: its log within-nest share is "
            "always 0 and its sigma is not identified."
        )

    for c in needed[2:]:
        columns[c] = columns[c].astype(float)
    for c in needed[3:]:
        if not np.isfinite(columns[c]).all():
            b = int(np.flatnonzero(~np.isfinite(columns[c]).all(axis=1))[0])
            raise ValueError(f"Column {c!r} has a value that is not finite{where(b)}.")
    shares, prices = columns["shares"], columns["prices"]
    totals = np.bincount(market, weights=shares.ravel())
    if not ((shares > 0).all() and (totals < 1).all()):  # then find the data set and market
        for b in range(B):
            check_shares(shares[b], market_ids)
    N, L = len(market_ids), len(characteristics)
    # Variables by rows, (B, variables, N): see course_lib.iv.tsls_many.
    X_t = np.stack([columns[c] for c in characteristics], axis=1)
    Z_nest = slides_instruments(X_t.transpose(1, 0, 2).reshape(L, B * N), cell, n_cells)[0]
    Zx_t = np.concatenate([by_nest(Z_nest.reshape(L, B, N).transpose(1, 0, 2), nest_pos, K)]
                          + [columns[c][:, None, :] for c in price_instruments], axis=1)
    exog_t = np.concatenate(([np.ones((B, 1, N))] if constant else []) + [X_t], axis=1)
    coefficients, e, cov, delta = berry_many(shares, prices, exog_t, nest_pos, market, cell, K, Zx_t,
                                             exogenous_prices, cov_type)
    names = (("1",) if constant else ()) + characteristics + ("prices",) \
        + tuple(f"log_within_share[{k}]" for k in range(K))
    results = []
    for b, result in enumerate(classifications):  # packaging, never products or markets
        warn_sigma(1.0 - coefficients[b, -K:], np.arange(K), where(b))
        estimates = NestedLogitResult(np.arange(K), delta[b], IVResult(coefficients[b], names, e[b], cov[b], cov_type))
        results.append(TwoStepResult(classification=result, estimates=estimates, nest_ids=nest_pos[b]))
    return results


def berry_many(shares, prices, exog_t, nest_pos, market, cell, K: int, Zx_t, exogenous_prices: bool,
               cov_type: str):
    r""":func:`course_lib.nested_logit.berry_regression` for a stack of B data sets of N rows each, unchecked.

    ``shares``, ``prices`` and ``nest_pos`` (0, ..., K-1) are (B, N); ``market`` and
    ``cell`` (B N,) index each row's (data set, market) and (data set, market, nest) cell;
    the exogenous regressors ``exog_t`` (B, E, N) and the excluded instruments ``Zx_t``
    (B, q, N) come variables by rows. Computes :math:`y = \log(s_{jm}/s_{0m})` and
    :math:`\log s_{jm|k}` over all cells at once, then :func:`course_lib.iv.tsls_many` of y
    on ``[exog, prices, D]`` (D the log within-nest share in its nest's column) with
    instruments ``[exog, (prices), Zx]``. Returns the coefficients (B, E + 1 + K), residuals
    (B, N), covariances and the mean utilities :math:`\delta = y - D \rho` (B, N).
    """
    B, N = shares.shape
    s = shares.ravel()
    # y = log(s / s0) of every data set at once (as course_lib.logit.logit_inversion, by market of each set)
    y = (np.log(s) - np.log1p(-np.bincount(market, weights=s))[market]).reshape(B, N)
    log_within = np.log(s / np.bincount(cell, weights=s)[cell]).reshape(B, N)
    D_t = by_nest(log_within[:, None, :], nest_pos, K)  # (B, K, N)
    regressors = np.concatenate([exog_t, prices[:, None, :], D_t], axis=1)
    instruments = np.concatenate([exog_t] + ([prices[:, None, :]] if exogenous_prices else []) + [Zx_t], axis=1)
    coefficients, e, cov = tsls_many(y, regressors, instruments, cov_type)
    rho = coefficients[:, -K:]
    return coefficients, e, cov, y - (rho[:, None, :] @ D_t)[:, 0]
