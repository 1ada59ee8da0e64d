r"""The slides' two-step estimator: classify the products (step 1), then Berry's regression (step 2).

Written as the slides write it: :func:`two_step` calls :func:`course_lib.nests.gfe.classify`
and then :func:`course_lib.nested_logit.berry_regression` with the estimated nests.
:func:`course_lib.nests.batched_two_step.two_step_many` is the Monte Carlo's path for many
data sets at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import table_columns
from ..nested_logit import NestedLogitResult, berry_regression, nest_instruments
from .gfe import classify
from .result import GFEResult


@dataclass
class TwoStepResult:
    """Data-driven nests: the classification (step 1) and Berry's regression on it (step 2).

    Attributes
    ----------
    classification : GFEResult
        Step 1, the grouped fixed-effects classification.
    estimates : NestedLogitResult
        Step 2, the nested logit with the estimated nests as if they were known
        (``estimates.sigma`` is indexed by estimated group, 0, ..., K-1).
    nest_ids : ndarray, shape (N,)
        The estimated nest of each row of the data.
    """

    classification: GFEResult
    estimates: NestedLogitResult
    nest_ids: np.ndarray


def two_step_options(characteristics, exogenous_prices: bool, price_instruments, regressors) -> tuple:
    """Check and complete the options of :func:`two_step`; returns (characteristics,
    price_instruments, regressors) as tuples."""
    characteristics = (characteristics,) if isinstance(characteristics, str) else tuple(characteristics)
    price_instruments = (price_instruments,) if isinstance(price_instruments, str) else tuple(price_instruments)
    if not exogenous_prices and not price_instruments:
        raise ValueError(
            "With endogenous prices, name at least one excluded instrument for the price in "
            "price_instruments (e.g. ('z',))."
        )
    if regressors is None:
        if not exogenous_prices:
            raise ValueError(
                "With endogenous prices, classify on exogenous regressors: pass regressors, "
                f"e.g. {(price_instruments[0], *characteristics)}."
            )
        regressors = ("prices", *characteristics)
    return characteristics, price_instruments, (regressors,) if isinstance(regressors, str) else tuple(regressors)


def second_step_columns(data, characteristics: tuple, price_instruments: tuple, where: str = "") -> dict:
    """The columns step 2 reads, as arrays (with ``outside_shares`` where the data have it)."""
    return table_columns(data, ["market_ids", "product_ids", "shares", "prices", *characteristics,
                                *price_instruments], ("outside_shares",), where=where)


def two_step(
    data: pd.DataFrame,
    K: int,
    characteristics=("x",),
    *,
    exogenous_prices: bool = True,
    price_instruments=(),
    regressors=None,
    constant: bool = False,
    n_starts: int = 20,
    seed=0,
    cov_type: str = "robust",
    classification: GFEResult | None = None,
    **classify_options,
) -> TwoStepResult:
    r"""The slides' two-step estimator of the nested logit with nests learned from the data.

    **Step 1** classifies products into K nests by :func:`classify`, on
    ``regressors`` (default: price and ``characteristics`` when prices are exogenous; with
    endogenous prices the price has no consistent slope, so name the regressors, e.g.
    ``("z", "x")`` with the instrument z in place of the price, as the slides do).

    **Step 2** estimates :math:`\beta` and :math:`\sigma` by Berry's (1994) regression
    (:func:`course_lib.nested_logit.berry_regression`) with the estimated nests as if they
    were known:

    .. math::
        \log \frac{s_{jm}}{s_{0m}} = x_{jm}\beta + \alpha p_{jm}
        + (1 - \sigma_{\hat k(j)}) \log s_{jm|\hat k(j)} + \xi_{jm},

    instrumenting each nest's log within-nest share with the slides' instrument
    :math:`-\log \sum_{d \ne j, d \in \hat B_k} e^{x_{dm}}` of every characteristic
    (:func:`course_lib.nested_logit.nest_instruments`) and, with endogenous prices, the
    price with ``price_instruments``. Standard errors are those of step 2 alone: under
    the slides' asymptotics (J, M growing) the estimated nests are the true ones with
    probability approaching one, so step 1 does not change the limit distribution.

    Parameters
    ----------
    data : pandas.DataFrame or mapping
        Long format: ``market_ids``, ``product_ids``, ``shares``, ``prices``, the
        ``characteristics``, the ``price_instruments`` and any ``regressors`` (columns of a
        DataFrame, or 1-D arrays in a mapping such as a dict); optionally ``outside_shares``,
        the outside share of each row's market when the data keep only some of its products
        (both steps use it).
    K : int
        Number of nests.
    characteristics : sequence of str
        Exogenous characteristics with a common coefficient in step 2.
    exogenous_prices : bool
        Treat prices as exogenous (the slides' first design).
    price_instruments : sequence of str
        Excluded instruments for the price (required when ``exogenous_prices`` is False).
    regressors : sequence of str, optional
        Step 1's regressors (see above).
    constant : bool
        Add an intercept in step 2 (the slides' design has none).
    n_starts, seed, **classify_options
        Passed to :func:`classify`.
    cov_type : {"robust", "unadjusted"}
        Step 2's standard errors.
    classification : GFEResult, optional
        A step 1 already computed (by :func:`classify` or :func:`classify_many` on the same
        data with K groups); step 1 is then skipped.

    Returns
    -------
    TwoStepResult
    """
    characteristics, price_instruments, regressors = two_step_options(characteristics, exogenous_prices,
                                                                      price_instruments, regressors)
    if classification is not None and not isinstance(classification, GFEResult):
        raise ValueError(f"classification must be a GFEResult; got {type(classification).__name__}.")
    columns = second_step_columns(data, characteristics, price_instruments)
    # Step 1: the nests.
    if classification is None:
        classification = classify(data, K, n_starts=n_starts, seed=seed, regressors=regressors, **classify_options)
    elif classification.K != K:
        raise ValueError(f"classification has K={classification.K} groups; two_step was asked for K={K}.")
    nest_ids = classification.labels_for(columns["product_ids"])
    # Step 2: Berry's regression with the estimated nests as if they were known.
    X = np.column_stack([columns[c].astype(float) for c in characteristics])
    nest_z, _, _ = nest_instruments(X, nest_ids, columns["market_ids"])
    instruments = np.column_stack([nest_z] + [columns[c].astype(float) for c in price_instruments])
    estimates = berry_regression(columns["shares"].astype(float), columns["prices"].astype(float), X, nest_ids,
                                 columns["market_ids"], instruments, x_names=list(characteristics),
                                 constant=constant, exogenous_prices=exogenous_prices, cov_type=cov_type,
                                 outside_shares=columns.get("outside_shares"))
    return TwoStepResult(classification=classification, estimates=estimates, nest_ids=nest_ids)
