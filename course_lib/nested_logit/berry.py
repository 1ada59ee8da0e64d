r"""Berry's (1994) regression for the nested logit with known nests (chapter 14).

:func:`berry_regression` is written as the equation reads: the log share ratio
(:func:`course_lib.logit.logit_inversion`), one log within-nest share regressor per nest
(:func:`within_nest_shares`), and :func:`course_lib.iv.tsls`. The Monte Carlo's batched
version of the same regression is :func:`course_lib.nests.batched_two_step.berry_many`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from .._checks import as_matrix, as_vector, check_finite, check_same_length, plain
from ..iv import IVResult, tsls
from ..logit import logit_inversion
from .instruments import by_nest, slides_instruments
from .shares import checked_shares, nest_cells, within_nest_shares


@dataclass
class NestedLogitResult:
    r"""Berry (1994) 2SLS estimates of the nested logit with known nests.

    Attributes
    ----------
    beta : pandas.Series
        Coefficients of the exogenous characteristics (``"1"`` first if a constant was added).
    alpha : float
        Price coefficient; ``alpha_se`` its standard error.
    sigma, sigma_se : pandas.Series
        Dissimilarity parameters, indexed by nest id, and their standard errors.
    rho : pandas.Series
        pyBLP's :math:`\rho_k = 1 - \sigma_k`, the coefficients of the log within-nest shares.
    delta, xi : ndarray, shape (N,)
        Mean utilities (the inversion at the estimated sigma) and the structural errors.
    iv : IVResult
        The underlying regression (all coefficients, covariance, residuals), whose
        regressors are the exogenous characteristics, the price and one log within-nest
        share per nest, in that order.
    nests : ndarray
        The nest ids, sorted (the order of the last regressors).
    fixed_rho : dict
        ``{nest: rho}`` for the nests whose :math:`\rho_k` was held at a bound
        (``berry_regression(..., rho_bounds=...)``): not estimated, so not among the
        regressors, and with a NaN standard error. Empty without bounds.
    """

    nests: np.ndarray
    delta: np.ndarray
    iv: IVResult
    fixed_rho: dict = field(default_factory=dict)

    # The parameters are read from the regression on first use: building pandas objects
    # costs more than the regression itself in a Monte Carlo of small problems.
    @property
    def _n_exog(self) -> int:  # the regressors are [exogenous, prices, one per free nest]
        return len(self.iv.coefficients) - 1 - (len(self.nests) - len(self.fixed_rho))

    @property
    def _free(self) -> np.ndarray:
        """Whether each nest's rho was estimated (not held at a bound)."""
        return np.array([k not in self.fixed_rho for k in self.nests], dtype=bool)

    @cached_property
    def _nest_index(self) -> pd.Index:
        return pd.Index([plain(k) for k in self.nests], name="nest")

    @property
    def alpha(self) -> float:
        return float(self.iv.coefficients[self._n_exog])

    @property
    def alpha_se(self) -> float:
        return float(np.sqrt(self.iv.cov[self._n_exog, self._n_exog]))

    @cached_property
    def beta(self) -> pd.Series:
        return self.iv.params.iloc[: self._n_exog]

    @cached_property
    def rho(self) -> pd.Series:
        rho = np.array([self.fixed_rho.get(k, np.nan) for k in self.nests], dtype=float)
        rho[self._free] = self.iv.coefficients[self._n_exog + 1:]
        return pd.Series(rho, index=self._nest_index)

    @cached_property
    def sigma(self) -> pd.Series:
        return 1.0 - self.rho

    @cached_property
    def sigma_se(self) -> pd.Series:
        se = np.full(len(self.nests), np.nan)
        se[self._free] = self.iv.standard_errors[self._n_exog + 1:]
        return pd.Series(se, index=self._nest_index)

    @property
    def xi(self) -> np.ndarray:
        return self.iv.residuals

    def table(self) -> pd.DataFrame:
        """All parameters (beta, alpha, sigma per nest) with standard errors."""
        est = pd.concat([self.beta, pd.Series({"alpha": self.alpha}),
                         self.sigma.rename(lambda k: f"sigma[{k}]")])
        se = pd.concat([self.iv.std_errors[self.beta.index], pd.Series({"alpha": self.alpha_se}),
                        self.sigma_se.rename(lambda k: f"sigma[{k}]")])
        return pd.DataFrame({"estimate": est, "std. error": se})


def berry_regression(
    shares,
    prices,
    X,
    nest_ids,
    market_ids,
    instruments=None,
    *,
    x_names=None,
    constant: bool = True,
    exogenous_prices: bool = False,
    cov_type: str = "robust",
    outside_shares=None,
    rho_bounds: tuple[float, float] | None = None,
) -> NestedLogitResult:
    r"""Nested logit with known nests by Berry's (1994) linear IV regression.

    Estimates, by two-stage least squares (:func:`course_lib.iv.tsls`, weight :math:`(Z'Z)^{-1}`),

    .. math::
        \log \frac{s_{jm}}{s_{0m}} = x_{jm}\beta + \alpha p_{jm}
            + \sum_{k=1}^K (1 - \sigma_k)\, 1\{k(j) = k\} \log s_{jm|k} + \xi_{jm},

    one log within-nest share regressor per nest (DESIGN.md, section 6, item 8: the slides'
    :math:`\sigma^{k(j)} - 1` is a typo for :math:`1 - \sigma_k`). Then
    :math:`\hat\sigma_k = 1 - \hat\rho_k` and, the map being affine with slope -1,
    :math:`\mathrm{se}(\hat\sigma_k) = \mathrm{se}(\hat\rho_k)` exactly. The log within-nest
    shares are endogenous (they contain :math:`\xi_{jm}`), and so are prices unless
    ``exogenous_prices``. Unlike pyBLP (which bounds :math:`\rho_k` to [0, 0.99]) the
    regression does not restrict :math:`\hat\sigma_k` to (0, 1] by default (it warns when an
    estimate falls outside); at an interior optimum the
    two coincide: pyBLP's one-step GMM with :math:`W = (Z'Z)^{-1}` is this 2SLS with
    :math:`\beta, \alpha` concentrated out. With ``rho_bounds`` it restricts every
    :math:`\rho_k` to the bounds as pyBLP does, by an active set: while some estimate lies
    outside, the one furthest outside is held at its bound (its log within-nest share, times
    that :math:`\rho_k`, moves to the left-hand side; the instruments stay) and the others
    are re-estimated.

    Parameters
    ----------
    shares : array_like, shape (N,)
        Inside-good shares.
    prices : array_like, shape (N,)
    X : array_like, shape (N,) or (N, L)
        Exogenous characteristics (without a constant column: see ``constant``).
    nest_ids, market_ids : array_like, shape (N,)
    instruments : array_like, shape (N, q), optional
        Excluded instruments. Default: :func:`nest_instruments` of ``X`` interacted with the
        nest dummies (the slides' instrument), which is enough only with ``exogenous_prices``.
        The instrument set is ``[1, X, (prices if exogenous_prices), instruments]``.
    x_names : sequence of str, optional
        Names of the columns of X (default ``x0, x1, ...``).
    constant : bool
        Add an intercept ``"1"`` (default True; the slides' design has none).
    exogenous_prices : bool
        Treat prices as exogenous (their own instrument), as in the slides' first design.
    cov_type : {"robust", "unadjusted"}
        Passed to :func:`course_lib.iv.tsls`.
    outside_shares : array_like, shape (N,), optional
        The outside share of each row's market, when the rows are only some of the market's
        products (as :func:`course_lib.logit.logit_inversion`); default one minus the rows'
        inside shares.
    rho_bounds : (float, float), optional
        Lower and upper bound on every :math:`\rho_k = 1 - \sigma_k` (pyBLP's default is
        ``(0.0, 0.99)``). Default: no bounds.

    Returns
    -------
    NestedLogitResult

    Raises
    ------
    ValueError
        On bad shares or ids (as :func:`within_nest_shares`), mismatched shapes, a nest that
        never has two products in one market (its sigma is not identified), too few
        instruments, or ``rho_bounds`` not an increasing pair.
    """
    shares, nest_ids, market_ids = checked_shares(shares, nest_ids, market_ids)
    n = len(shares)
    prices = as_vector(prices, "prices")
    check_same_length(shares=shares, prices=prices)
    check_finite(prices, "prices")
    X = as_matrix(X, "X", n, row="product")
    x_names = [f"x{l}" for l in range(X.shape[1])] if x_names is None else list(x_names)
    if len(x_names) != X.shape[1]:
        raise ValueError(f"x_names has {len(x_names)} entries for {X.shape[1]} columns of X.")

    nests, nest_pos, _, cell, n_cells, _, _ = nest_cells(nest_ids, market_ids)
    lonely = ~identified(cell, n_cells, nest_pos[None], len(nests))[0]
    if lonely.any():
        raise ValueError(
            f"Nest {plain(nests[np.argmax(lonely)])!r} never has two products in the same market: its log "
            "within-nest share is always 0 and its sigma is not identified."
        )
    exog = np.column_stack(([np.ones(n)] if constant else []) + [X])
    names = (["1"] if constant else []) + x_names + ["prices"] + [f"log_within_share[{plain(k)}]" for k in nests]
    if instruments is None:
        instruments = by_nest(slides_instruments(X.T, cell, n_cells)[0], nest_pos, len(nests)).T
    Zx = as_matrix(instruments, "instruments", n, row="product")
    n_instruments = exog.shape[1] + int(exogenous_prices) + Zx.shape[1]
    if n_instruments < len(names):
        raise ValueError(f"Underidentified: {n_instruments} instruments for {len(names)} regressors.")
    if rho_bounds is not None:
        low, high = (float(b) for b in rho_bounds)
        if not low < high:
            raise ValueError(f"rho_bounds must be (lower, upper) with lower < upper; got {rho_bounds}.")
    y = logit_inversion(shares, market_ids, outside_shares)  # log(s_jm / s_0m)
    D = by_nest(np.log(within_nest_shares(shares, nest_ids, market_ids))[None], nest_pos, len(nests)).T
    Z = np.column_stack([exog] + ([prices] if exogenous_prices else []) + [Zx])
    fixed: dict = {}  # nest position -> rho held at a bound
    while True:
        free = [k for k in range(len(nests)) if k not in fixed]
        offset = D[:, list(fixed)] @ np.array(list(fixed.values())) if fixed else 0.0
        iv = tsls(y - offset, np.column_stack([exog, prices, D[:, free]]), Z,
                  names=names[:exog.shape[1] + 1] + [names[exog.shape[1] + 1 + k] for k in free],
                  cov_type=cov_type)
        if rho_bounds is None:
            break
        rho_free = iv.coefficients[exog.shape[1] + 1:]
        excess = rho_free - np.clip(rho_free, low, high)
        if not excess.any():
            break
        worst = int(np.argmax(np.abs(excess)))
        fixed[free[worst]] = float(np.clip(rho_free[worst], low, high))
    result = NestedLogitResult(nests, np.empty(0), iv, {nests[k]: rho for k, rho in fixed.items()})
    result.delta = y - D @ result.rho.to_numpy()
    warn_sigma(result.sigma.to_numpy(), nests)
    return result


def identified(cell: np.ndarray, n_cells: int, nest_pos: np.ndarray, K: int) -> np.ndarray:
    """(B, K): whether each nest of each data set has two products in some market.

    ``cell`` indexes the (data set, market, nest) cells of the rows of ``nest_pos`` (B, N),
    flattened.
    """
    pairs = np.bincount(cell, minlength=n_cells)[cell] > 1
    B, N = nest_pos.shape
    flat = (np.arange(B)[:, None] * K + nest_pos).ravel()
    return np.bincount(flat, weights=pairs, minlength=B * K).reshape(B, K) > 0


def warn_sigma(sigma: np.ndarray, nests, where: str = "") -> None:
    """Warn when an estimated sigma falls outside (0, 1]."""
    outside = (sigma <= 0) | (sigma > 1)
    if outside.any():
        warnings.warn(
            f"Estimated sigma outside (0, 1]{where} for nest(s) {[plain(k) for k in np.asarray(nests)[outside]]} "
            f"({', '.join(f'{v:.4g}' for v in sigma[outside])}): the estimates are not a nested logit "
            "consistent with utility maximisation (misspecified nests, e.g. too many of them, or weak "
            "instruments).",
            stacklevel=3,
        )
