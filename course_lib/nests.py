r"""Data-driven nests: grouped fixed-effects classification of products into nests.

Almagro, Lai and Manresa ("Data-Driven Nests") observe that in the nested logit with the
outside good alone in its own nest (utility :math:`\delta_{jm} = \beta_p p_{jm} + \beta_x
x_{jm} + \xi_{jm}`, dissimilarity :math:`\sigma_k \in (0, 1]`, pyBLP's
:math:`\rho_k = 1 - \sigma_k`),

.. math::
    \log \frac{s_{jm}}{s_{0m}}
    = \beta_p^{k} p_{jm} + \beta_x^{k} x_{jm} + \lambda_m^{k} + \tilde\xi_{jm},
    \qquad
    \beta_p^k = \frac{\beta_p}{\sigma_k},\;
    \beta_x^k = \frac{\beta_x}{\sigma_k},\;
    \lambda_m^k = (\sigma_k - 1) \log IV_m^k,\;
    \tilde\xi_{jm} = \frac{\xi_{jm}}{\sigma_k},

with :math:`k = k(j)` and :math:`IV_m^k = \sum_{d \in B_k} e^{\delta_{dm} / \sigma_k}`:
products of one nest share their slopes and their market intercepts. The nests are
therefore the groups of a grouped fixed-effects (GFE) regression (Bonhomme and Manresa
2015), which :func:`classify` estimates by minimising

.. math::
    Q(k(\cdot), \beta, \lambda) = \sum_{(j, m) \text{ observed}}
    \Big(y_{jm} - \beta^{k(j)\prime} w_{jm} - \lambda_m^{k(j)}\Big)^2,
    \qquad y_{jm} = \log \frac{s_{jm}}{s_{0m}},

over the assignment :math:`k(\cdot)` and the group coefficients, with :math:`w_{jm}` the
regressors (price and characteristics, or an instrument in place of the price when prices
are endogenous).

The module also holds the slides' Monte Carlo design (:func:`simulate_nested_logit`) and the
share of correctly classified products up to relabelling (:func:`matched_share`). The second
step (Berry's regression with the estimated nests) lives with the nested logit in
:mod:`course_lib.nested_logit`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from ._checks import _plain, check_shares, unique_inverse
from .iv import IVResult
from .nested_logit import (
    NestedLogitResult,
    _berry_fit,
    _by_nest,
    _identified,
    _slides_instruments,
    _warn_sigma,
    nested_logit_shares,
)

__all__ = [
    "TIE_RTOL",
    "first_within",
    "NestedLogitSimulation",
    "simulate_nested_logit",
    "GFEResult",
    "classify",
    "classify_many",
    "fit_assignment",
    "matched_share",
    "best_relabelling",
    "TwoStepResult",
    "two_step",
    "two_step_many",
    "CrossValidationResult",
    "cross_validate",
    "one_standard_error_rule",
]


# ----------------------------------------------------------------------------------------
# Simulation designs (shares from course_lib.nested_logit)
# ----------------------------------------------------------------------------------------


@dataclass
class NestedLogitSimulation:
    """A simulated nested-logit panel and the truth that generated it.

    Attributes
    ----------
    columns : dict of str to ndarray
        The columns of ``data`` as arrays (what :func:`classify` and :func:`two_step_many`
        read; ``data`` is built from them on first use).
    nest_of : ndarray, shape (J,)
        True nest of products 0, ..., J-1 (``nests`` as an array).
    sigma : ndarray, shape (K,)
        Dissimilarity parameters of nests 0, ..., K-1.
    beta_p, beta_x : float
        Price and characteristic coefficients.
    group_means : ndarray, shape (K, 2)
        Each nest's mean of (p, x).
    xi, delta : ndarray, shape (N,)
        Demand unobservable and mean utility, by row of ``data``.
    design : dict
        Every setting of the draw (sizes, seed, correlations, variances, missingness).
    data : DataFrame
        ``market_ids``, ``product_ids``, ``shares``, ``prices``, ``x``, ``nesting_ids`` (the
        true nest, 0, ..., K-1) and, in the endogenous design, the instrument ``z``; one row
        per product sold in a market, market-major.
    nests : Series
        True nest of each product, indexed by ``product_ids``.
    """

    columns: dict
    nest_of: np.ndarray
    sigma: np.ndarray
    beta_p: float
    beta_x: float
    group_means: np.ndarray
    xi: np.ndarray
    delta: np.ndarray
    design: dict = field(default_factory=dict)

    # Built on first use: a Monte Carlo replication reads only the arrays, and building
    # pandas objects cost more than its data at J = 100.
    @cached_property
    def data(self) -> pd.DataFrame:
        return pd.DataFrame(self.columns)

    @cached_property
    def nests(self) -> pd.Series:
        return pd.Series(self.nest_of, index=pd.Index(np.arange(len(self.nest_of)), name="product_ids"),
                         name="nest")


def _bivariate_normal(rng: np.random.Generator, cov: np.ndarray, size) -> np.ndarray:
    r"""``rng.multivariate_normal(0, cov, size)``, the same draws, without its validity check.

    numpy draws standard normals x and returns :math:`x (U \sqrt{S})'` from the SVD
    :math:`U S V'` of ``cov``; its check that ``cov`` is positive semi-definite costs more
    than the draw at the slides' sizes, and our covariances are valid by construction
    (correlations checked in (-1, 1)). Returns shape ``size + (2,)``.
    """
    u, s, _ = np.linalg.svd(cov)
    size = (size,) if isinstance(size, int) else tuple(size)
    x = rng.standard_normal(size + (2,)).reshape(-1, 2)
    return (np.zeros(2) + x @ (u * np.sqrt(s)).T).reshape(size + (2,))


def simulate_nested_logit(
    J: int,
    M: int,
    K: int = 3,
    sigma=(0.2, 0.3, 0.6),
    beta_p: float = -1.0,
    beta_x: float = 1.0,
    seed=None,
    endogenous: bool = False,
    mean_correlation: float = 0.3,
    xi_variance: float = 0.5,
    instrument_strength: float = float(np.sqrt(0.5)),
    price_xi_correlation: float = 0.5,
    missing: float = 0.0,
    nest_exit: float = 0.0,
) -> NestedLogitSimulation:
    r"""Draw a nested-logit panel from the slides' Monte Carlo design (or our endogenous one).

    **The slides' design** (``endogenous=False``, ``missing = nest_exit = 0``):

    .. math::
        \delta_{jm} = \beta_p p_{jm} + \beta_x x_{jm} + \xi_{jm}, \qquad
        k(j) \overset{iid}{\sim} \mathcal U\{1, \dots, K\},

    .. math::
        \begin{pmatrix}\mu_p^k \\ \mu_x^k\end{pmatrix} \overset{iid}{\sim}
        \mathcal N\left(0, \begin{pmatrix}1 & 0.3 \\ 0.3 & 1\end{pmatrix}\right)
        \text{ across } k, \qquad
        \begin{pmatrix}p_{jm} \\ x_{jm} \\ \xi_{jm}\end{pmatrix} \overset{iid}{\sim}
        \mathcal N\left(\begin{pmatrix}\mu_p^{k(j)} \\ \mu_x^{k(j)} \\ 0\end{pmatrix},
        \mathrm{diag}(1, 1, 0.5)\right) \text{ across } j, m,

    with :math:`K = 3`, :math:`\sigma = (0.2, 0.3, 0.6)`, :math:`\beta_p = -1`,
    :math:`\beta_x = 1`, and shares from formula (1) of the slides with the outside good
    (:math:`\delta_{0m} = 0`) alone in its own nest:
    :math:`s_{jm} = e^{\delta_{jm}/\sigma_k} (IV_m^k)^{\sigma_k - 1} / (1 + \sum_l (IV_m^l)^{\sigma_l})`.
    Shares are exact (no sampling of consumers), as in the slides' asymptotic experiment.
    Within a nest, :math:`\xi` has 0.5 / (1 + 1 + 0.5) = 20% of the variance of
    :math:`\delta`, the slides' "20% of variation".

    Gaps in the slides that we fill (documented choices):

    - the group means are drawn once per nest and are the same in every market;
    - the panel is balanced: every product is sold in every market;
    - nests are drawn independently per product, so a nest may by chance be empty for very
      small J (the draw is not repeated; the slides do not say);
    - the order of draws is: nests, group means, then :math:`(p, x, \xi)` market by market.

    **Our endogenous-price design** (``endogenous=True``; the slides report results for
    endogenous prices without giving their design). An excluded instrument
    :math:`z_{jm} \sim \mathcal N(0, 1)` independent of everything else shifts prices, and
    the price's own shock is correlated with :math:`\xi`:

    .. math::
        p_{jm} = \mu_p^{k(j)} + \pi z_{jm} + v_{jm}, \qquad
        \begin{pmatrix} v_{jm} \\ \xi_{jm} \end{pmatrix} \sim \mathcal N\left(0,
        \begin{pmatrix} 1 - \pi^2 & \rho \sqrt{(1 - \pi^2)\, \sigma_\xi^2} \\
        \cdot & \sigma_\xi^2 \end{pmatrix}\right),

    with :math:`\pi` = ``instrument_strength`` (default :math:`\sqrt{0.5}`) and
    :math:`\rho` = ``price_xi_correlation`` (default 0.5). The within-nest variance of price
    stays 1 as in the slides' design, :math:`E[\xi z] = 0` (z is valid) and
    :math:`\mathrm{corr}(p, z \mid k) = \pi` (z is relevant), while
    :math:`\mathrm{corr}(p, \xi \mid k) = \rho \sqrt{1 - \pi^2}` (0.35 by default), so
    least squares on price is inconsistent. The characteristic ``x`` is drawn as in the
    slides' design.

    **Unbalanced panels** (for tests and the application's setting; off by default).
    ``missing`` is the probability that a product is not sold in a market, drawn
    independently per product-market pair; ``nest_exit`` the probability that a whole nest
    is absent from a market. Shares are computed among the products actually sold, and
    the rows of absent pairs are left out of ``data``.

    Parameters
    ----------
    J, M : int
        Numbers of products and markets.
    K : int
        Number of nests.
    sigma : sequence of float, length K
        Dissimilarity parameters in (0, 1].
    beta_p, beta_x : float
        Coefficients on price and the characteristic x.
    seed : int, numpy.random.SeedSequence or None
        Passed to :func:`numpy.random.default_rng`, the only source of randomness.
    endogenous : bool
        Draw prices from our endogenous design and add the instrument column ``z``.
    mean_correlation : float
        Correlation of :math:`(\mu_p^k, \mu_x^k)` (0.3 in the slides).
    xi_variance : float
        Variance of :math:`\xi` (0.5 in the slides).
    instrument_strength, price_xi_correlation : float
        :math:`\pi` and :math:`\rho` of the endogenous design.
    missing, nest_exit : float
        Probabilities in [0, 1) of an absent product-market pair and of an absent
        nest-market pair.

    Returns
    -------
    NestedLogitSimulation
    """
    J, M, K = int(J), int(M), int(K)
    if J < 1 or M < 1 or K < 1:
        raise ValueError(f"J, M and K must be positive; got J={J}, M={M}, K={K}.")
    sigma = np.asarray(sigma, dtype=float).ravel()
    if sigma.shape != (K,):
        raise ValueError(f"sigma has {sigma.size} entries for K={K} nests; give one per nest.")
    if not np.all((sigma > 0) & (sigma <= 1)):
        raise ValueError(f"sigma must lie in (0, 1] (dissimilarity parameters); got {sigma.tolist()}.")
    if not -1 < mean_correlation < 1:
        raise ValueError(f"mean_correlation must lie in (-1, 1); got {mean_correlation}.")
    if not xi_variance > 0:
        raise ValueError(f"xi_variance must be positive; got {xi_variance}.")
    if not 0 < instrument_strength < 1:
        raise ValueError(f"instrument_strength must lie in (0, 1); got {instrument_strength}.")
    if not -1 < price_xi_correlation < 1:
        raise ValueError(f"price_xi_correlation must lie in (-1, 1); got {price_xi_correlation}.")
    for name, value in (("missing", missing), ("nest_exit", nest_exit)):
        if not 0 <= value < 1:
            raise ValueError(f"{name} must lie in [0, 1); got {value}.")

    rng = np.random.default_rng(seed)
    nests = rng.integers(0, K, size=J)
    mean_cov = np.array([[1.0, mean_correlation], [mean_correlation, 1.0]])
    group_means = _bivariate_normal(rng, mean_cov, K)  # (K, 2)
    mu_p = group_means[nests, 0][:, None]
    mu_x = group_means[nests, 1][:, None]
    # Market by market (M, J) draws, transposed to the products x markets layout.
    x = mu_x + rng.standard_normal((M, J)).T
    if endogenous:
        z = rng.standard_normal((M, J)).T
        v_var = 1.0 - instrument_strength**2
        cov = price_xi_correlation * np.sqrt(v_var * xi_variance)
        shocks = _bivariate_normal(rng, np.array([[v_var, cov], [cov, xi_variance]]), (M, J))  # (M, J, 2)
        v, xi = shocks[..., 0].T, shocks[..., 1].T
        p = mu_p + instrument_strength * z + v
    else:
        z = None
        p = mu_p + rng.standard_normal((M, J)).T
        xi = np.sqrt(xi_variance) * rng.standard_normal((M, J)).T
    delta = beta_p * p + beta_x * x + xi  # (J, M)

    present = np.ones((J, M), dtype=bool)
    if missing > 0:
        present &= rng.random((M, J)).T >= missing
    if nest_exit > 0:
        nest_present = rng.random((M, K)).T >= nest_exit  # (K, M)
        present &= nest_present[nests]
    # Long format, market-major (pyBLP's order): transpose to (M, J) and keep observed pairs.
    keep = present.T.ravel()
    balanced = bool(keep.all())

    def long(a):  # (J, M) -> the rows of data: market-major, observed pairs only
        return a.T.ravel() if balanced else a.T.ravel()[keep]

    market_ids = long(np.broadcast_to(np.arange(M), (J, M)))
    product_ids = long(np.broadcast_to(np.arange(J)[:, None], (J, M)))
    # sigma keyed by nest id where a nest is absent from this draw, so that it does not
    # shift the others (the array, aligned with the sorted nest ids, is faster).
    all_nests = np.bincount(nests, minlength=K).all()
    shares = nested_logit_shares(long(delta), nests[product_ids],
                                 sigma if all_nests else dict(enumerate(sigma)), market_ids)
    columns = {
        "market_ids": market_ids,
        "product_ids": product_ids,
        "shares": shares,
        "prices": long(p),
        "x": long(x),
        "nesting_ids": nests[product_ids],
    }
    if endogenous:
        columns["z"] = long(z)
    return NestedLogitSimulation(
        columns=columns,
        nest_of=nests,
        sigma=sigma,
        beta_p=float(beta_p),
        beta_x=float(beta_x),
        group_means=group_means,
        xi=long(xi),
        delta=long(delta),
        design=dict(
            J=J, M=M, K=K, seed=seed, endogenous=endogenous, mean_correlation=mean_correlation,
            xi_variance=xi_variance, instrument_strength=instrument_strength,
            price_xi_correlation=price_xi_correlation, missing=missing, nest_exit=nest_exit,
        ),
    )


# ----------------------------------------------------------------------------------------
# Grouped fixed-effects classification
# ----------------------------------------------------------------------------------------


@dataclass
class GFEResult:
    r"""The grouped fixed-effects classification of products into K groups (nests).

    Groups are in canonical order: by increasing slope on the first regressor (the price,
    or its instrument), ties broken by the smallest product id in the group. With
    :math:`\beta_p < 0` the slope :math:`\beta_p / \sigma_k` increases with
    :math:`\sigma_k`, so group 0 is the nest with the smallest dissimilarity parameter.

    Attributes
    ----------
    labels : pandas.Series
        Estimated group (0, ..., K-1) of each product, indexed by product id.
    objective : float
        The best start's sum of squared residuals,
        :math:`\sum_{(j, m)} (y_{jm} - \hat\beta^{k(j)\prime} w_{jm} - \hat\lambda^{k(j)}_m)^2`:
        the lowest over the starts, up to :data:`TIE_RTOL` times the total sum of squares
        :math:`\sum_{(j, m)} y_{jm}^2 + J` (y centred), within which starts count as tied.
    objectives : ndarray, shape (n_starts,)
        The final objective of every start.
    iterations : ndarray of int, shape (n_starts,)
        Least-squares steps taken by every start.
    converged : ndarray of bool, shape (n_starts,)
        Whether each start stopped because no product changed group.
    histories : list of ndarray
        The objective after each least-squares step, for every start (it never rises).
    best_start : int
        The start that reached ``objective``: the lowest-numbered of the starts tied with the
        lowest objective (starts that end at the same assignment reach the same objective
        up to rounding, which must not decide between them).
    coefficients : pandas.DataFrame
        Group slopes :math:`\hat\beta^k`, one row per group, one column per regressor.
    intercepts : pandas.DataFrame
        Group-by-market intercepts :math:`\hat\lambda_m^k`, markets by groups; NaN where the
        group has no product in the market.
    regressors : tuple of str
    K : int
    product_ids, market_ids : ndarray
        The sorted product and market ids (the index of ``labels`` and of ``intercepts``).
    group_of, slopes, market_intercepts, alone_count : ndarray
        ``labels``, ``coefficients``, ``intercepts`` and ``alone`` as arrays (the pandas
        attributes are built from them on first use).
    alone : pandas.Series
        For each product, the number of markets in which it is the only product of its
        group. There the group's intercept fits it exactly (zero residual), so such markets
        say nothing about its group. It happens only in unbalanced panels, where a group
        can be absent from a market; a product alone in many markets deserves a look.
    """

    objective: float
    objectives: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    histories: list
    best_start: int
    regressors: tuple
    K: int
    # The estimates as arrays; the pandas attributes above are built from them on first
    # use (in a Monte Carlo of small problems pandas costs more than a Lloyd step).
    product_ids: np.ndarray  # (J,), sorted
    market_ids: np.ndarray  # (M,), sorted
    group_of: np.ndarray  # (J,) labels
    slopes: np.ndarray  # (K, Q)
    market_intercepts: np.ndarray  # (M, K)
    alone_count: np.ndarray  # (J,)

    @cached_property
    def _products(self) -> pd.Index:
        return pd.Index(self.product_ids, name="product_ids")

    @cached_property
    def labels(self) -> pd.Series:
        return pd.Series(self.group_of, index=self._products, name="group")

    @cached_property
    def coefficients(self) -> pd.DataFrame:
        return pd.DataFrame(self.slopes, index=pd.Index(np.arange(self.K), name="group"), columns=list(self.regressors))

    @cached_property
    def intercepts(self) -> pd.DataFrame:
        return pd.DataFrame(self.market_intercepts, index=pd.Index(self.market_ids, name="market_ids"),
                            columns=pd.Index(np.arange(self.K), name="group"))

    @cached_property
    def alone(self) -> pd.Series:
        return pd.Series(self.alone_count, index=self._products, name="alone")

    def labels_for(self, product_ids) -> np.ndarray:
        """The estimated group of each entry of ``product_ids`` (e.g. a data column)."""
        index = self.product_ids  # sorted unique product ids
        ids = np.asarray(product_ids)
        pos = np.clip(np.searchsorted(index, ids), 0, len(index) - 1)
        if not np.array_equal(index[pos], ids):
            unknown = ids[index[pos] != ids][0]
            raise KeyError(f"Product {_plain(unknown)!r} was not classified.")
        return self.group_of[pos]

    def assign(self, data: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
        r"""Assign (new) products to the estimated groups, holding the group coefficients fixed.

        Each product of ``data`` goes to the group whose slopes and market intercepts fit
        its shares best, :math:`\hat k(j) = \arg\min_k \sum_m (y_{jm} - \hat\beta^{k\prime}
        w_{jm} - \hat\lambda^k_m)^2` (the lowest-numbered group on ties within
        :data:`TIE_RTOL`): the assignment step of :func:`classify`, applied to
        products that the estimation did not see (cross-validation, entrants). Where a group
        has no estimated intercept in a market (absent there, or a market the estimation
        did not see), the product is charged the group's mean intercept, as in
        :func:`classify`.

        Parameters
        ----------
        data : pandas.DataFrame
            Long format with the columns :func:`classify` needs (``market_ids``,
            ``product_ids``, ``shares``, the regressors, optionally ``outside_shares``).

        Returns
        -------
        labels : pandas.Series
            Best group of each product, indexed by product id.
        ssr : pandas.DataFrame
            Sum of squared residuals of each product (rows) under each group (columns).
        """
        panel = _build_panel(data, self.regressors)
        beta = self.coefficients.to_numpy()  # (K, Q)
        lam = self.intercepts.reindex(panel.market_ids).to_numpy()  # (M, K), NaN if unseen
        if np.isnan(lam).all(axis=0).any():
            lam = np.where(np.isnan(lam), self.intercepts.mean().to_numpy()[None, :], lam)
        # Intercepts in the units of this panel's centred y and w (see _build_panel).
        lam = lam - panel.y_mean[0] + (beta @ panel.w_mean[0])[None, :]
        ssr = _ssr_matrix(panel, beta[None, None], lam[None, None])[0, :, 0].T
        # The cheapest group, the lowest-numbered on ties (TIE_RTOL), as in classify's step (b).
        best = first_within(ssr.T, panel.yy[0] + 1.0, axis=0)[0]
        index = pd.Index(panel.product_ids, name="product_ids")
        groups = pd.Index(np.arange(self.K), name="group")
        return (pd.Series(best, index=index, name="group"),
                pd.DataFrame(ssr, index=index, columns=groups))


@dataclass
class _Panel:
    """A stack of P products x markets panels; absent pairs are 0 with weight 0.

    Every array has a leading panel axis: P = 1 for one data set, more when
    :func:`classify_many` classifies several data sets of the same shape at once. The
    observation indicators, y and the regressors are the layers of one array, kept in two
    layouts, so that each step of the algorithm is one large matrix product instead of
    several small ones.
    """

    layers: np.ndarray  # (P, 2 + Q, J, M): [obs (float 1/0), y, w_1, ..., w_Q], w centred
    # (P, (2 + Q) M + Q + Q^2 + 1, J): the same layers, markets x products, then each
    # product's sums xy, xx and yy as rows (the data of _ssr_matrix's one matrix product)
    by_market: np.ndarray
    product_ids: np.ndarray  # (J,)
    market_ids: np.ndarray  # (M,)
    xx: np.ndarray  # (P, J, Q, Q) per-product sums of w w'
    xy: np.ndarray  # (P, J, Q) per-product sums of w y
    yy: np.ndarray  # (P, J) per-product sums of y^2
    y_mean: np.ndarray  # (P,)
    w_mean: np.ndarray  # (P, Q)

    @property
    def obs(self) -> np.ndarray:  # (P, J, M)
        return self.layers[:, 0]

    @property
    def y(self) -> np.ndarray:  # (P, J, M)
        return self.layers[:, 1]

    @property
    def w(self) -> np.ndarray:  # (P, Q, J, M)
        return self.layers[:, 2:]

    def take(self, rows, layers: bool = True) -> "_Panel":
        """The panels ``rows`` (an index into the leading axis); ``layers=False`` leaves out
        the products x markets layers (empty), which the Lloyd steps do not read."""
        return _Panel(self.layers[rows] if layers else self.layers[:0], self.by_market[rows], self.product_ids,
                      self.market_ids, self.xx[rows], self.xy[rows], self.yy[rows], self.y_mean[rows],
                      self.w_mean[rows])

    @staticmethod
    def stack(panels: list) -> "_Panel":
        """One stack of single panels over the same products and markets."""
        first = panels[0]
        for i, panel in enumerate(panels[1:], start=1):
            if not (np.array_equal(panel.product_ids, first.product_ids)
                    and np.array_equal(panel.market_ids, first.market_ids)):
                raise ValueError(
                    f"Data set {i} has other product or market ids than data set 0; classify_many "
                    "stacks data sets over the same products and markets (call classify on each instead)."
                )
        arrays = {name: np.concatenate([getattr(p, name) for p in panels])
                  for name in ("layers", "by_market", "xx", "xy", "yy", "y_mean", "w_mean")}
        return _Panel(product_ids=first.product_ids, market_ids=first.market_ids, **arrays)


def _name(x):
    return repr(_plain(x))


def _columns(data, needed, optional=(), who: str = "", where: str = "") -> dict:
    """The columns ``needed`` (and those of ``optional`` that it has) of a data set, as arrays.

    ``data`` is a pandas DataFrame or, like pyBLP's ``product_data``, a mapping of column
    names to 1-D arrays of one length (read without pandas' per-column cost). ``who`` names
    the function in the message for a missing column; ``where`` names the data set.
    """
    if isinstance(data, pd.DataFrame):
        names = data.columns
    elif isinstance(data, Mapping):
        names = data.keys()
    else:
        raise ValueError(f"data must be a pandas DataFrame or a mapping of column names to arrays{where}; "
                         f"got {type(data).__name__}.")
    missing = [c for c in needed if c not in names]
    if missing:
        raise ValueError(f"data lacks the column(s) {missing}{where}" + (f"; {who} needs {list(needed)}." if who else "."))
    wanted = [*needed, *(c for c in optional if c in names)]
    if isinstance(data, pd.DataFrame):
        return {c: data[c].to_numpy() for c in wanted}
    columns = {c: np.asarray(data[c]) for c in wanted}
    shapes = {c: a.shape for c, a in columns.items()}
    if len(set(shapes.values())) > 1 or any(len(shape) != 1 for shape in shapes.values()):
        raise ValueError(f"data's columns must be 1-D arrays of one length{where}; got shapes {shapes}.")
    return columns


def _build_panel(data, regressors: tuple) -> _Panel:
    """Check the long-format data and pivot it to the products x markets layout (P = 1)."""
    needed = ["market_ids", "product_ids", "shares", *regressors]
    data = _columns(data, needed, ("outside_shares",), who="classify")
    if len(data["shares"]) == 0:
        raise ValueError("data has no rows.")
    market_raw, product_raw = data["market_ids"], data["product_ids"]
    for name, ids in (("market_ids", market_raw), ("product_ids", product_raw)):
        if pd.isna(ids).any():
            i = int(np.flatnonzero(pd.isna(ids))[0])
            raise ValueError(f"{name} is missing (NaN) in row {i}.")
    shares = data["shares"].astype(float, copy=False)
    bad = ~np.isfinite(shares)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"Share of product {_name(product_raw[i])} in market {_name(market_raw[i])} is not "
            "finite (NaN or inf); drop the row if the product is not sold there."
        )
    bad = shares <= 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"Share of product {_name(product_raw[i])} in market {_name(market_raw[i])} is "
            f"{shares[i]:.6g}; shares must be strictly positive (log 0 is undefined)."
        )
    W = np.column_stack([data[c].astype(float, copy=False) for c in regressors] or [np.zeros((len(shares), 0))])
    bad = ~np.isfinite(W)
    if bad.any():
        i, q = (int(a[0]) for a in np.nonzero(bad))
        raise ValueError(
            f"Regressor {regressors[q]!r} of product {_name(product_raw[i])} in market "
            f"{_name(market_raw[i])} is not finite."
        )
    markets, m_idx = unique_inverse(market_raw)
    products, j_idx = unique_inverse(product_raw)
    J, M, Q = len(products), len(markets), len(regressors)
    pair = j_idx * M + m_idx  # position of (j, m) in the flattened J x M layout
    counts = np.bincount(pair, minlength=J * M).reshape(J, M)
    if (counts > 1).any():
        j, m = (int(a[0]) for a in np.nonzero(counts > 1))
        raise ValueError(
            f"Product {_name(products[j])} appears {counts[j, m]} times in market "
            f"{_name(markets[m])}; each product-market pair must be one row."
        )
    totals = np.bincount(m_idx, weights=shares, minlength=M)
    if "outside_shares" in data:
        # The outside share of the whole market, e.g. when data keep only some products.
        s0_long = data["outside_shares"].astype(float, copy=False)
        bad = ~(np.isfinite(s0_long) & (s0_long > 0) & (s0_long < 1))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"outside_shares in market {_name(market_raw[i])} is {s0_long[i]:.6g}; it must lie in (0, 1)."
            )
        s0 = np.full(M, np.nan)
        s0[m_idx] = s0_long
        if not np.array_equal(s0[m_idx], s0_long):
            m = int(m_idx[np.flatnonzero(s0[m_idx] != s0_long)[0]])
            raise ValueError(f"outside_shares differs across rows of market {_name(markets[m])}.")
        over = totals + s0 > 1 + 1e-12
        if over.any():
            m = int(np.flatnonzero(over)[0])
            raise ValueError(
                f"Inside shares in market {_name(markets[m])} sum to {totals[m]:.6g}, which with the "
                f"outside share {s0[m]:.6g} exceeds one."
            )
        log_s0 = np.log(s0)
    else:
        if (totals >= 1).any():
            m = int(np.flatnonzero(totals >= 1)[0])
            raise ValueError(
                f"Inside shares in market {_name(markets[m])} sum to {totals[m]:.6g} >= 1; "
                "the outside good needs a positive share."
            )
        log_s0 = np.log1p(-totals)
    n_markets = counts.sum(axis=1)
    if (n_markets < 2).any():
        j = int(np.flatnonzero(n_markets < 2)[0])
        raise ValueError(
            f"Product {_name(products[j])} is seen in {n_markets[j]} market(s); classification "
            "needs every product in at least two markets (drop it or pool markets)."
        )
    y_long = np.log(shares) - log_s0[m_idx]  # log(s_jm / s_0m)
    y_mean = float(y_long.mean())
    w_mean = W.mean(axis=0)
    # Centring leaves slopes unchanged (intercepts absorb it) and tames cancellation.
    layers = np.zeros((2 + Q, J * M))
    layers[0] = (counts > 0).ravel()
    layers[1, pair] = y_long - y_mean
    for q in range(Q):  # regressors, never products or markets
        layers[2 + q, pair] = W[:, q] - w_mean[q]
    layers = layers.reshape(2 + Q, J, M)
    y, w = layers[1], layers[2:]
    xx = np.einsum("qjm,rjm->jqr", w, w)
    xy = np.einsum("qjm,jm->jq", w, y)
    yy = np.einsum("jm,jm->j", y, y)
    by_market = np.concatenate([layers.swapaxes(1, 2).reshape((2 + Q) * M, J), xy.T, xx.reshape(J, Q * Q).T,
                                yy[None]])[None]
    return _Panel(layers[None], by_market, products, markets, xx[None], xy[None], yy[None],
                  np.array([y_mean]), w_mean[None])


def _onehot(labels: np.ndarray, K: int) -> np.ndarray:
    """(..., J) integer labels -> (..., J, K) float indicators."""
    out = np.zeros(labels.shape + (K,))
    out.reshape(-1)[K * np.arange(labels.size) + labels.ravel()] = 1.0  # faster than a comparison
    return out


def _group_sizes(labels: np.ndarray, K: int) -> np.ndarray:
    """(..., J) integer labels -> (..., K) number of products in each group."""
    rows = labels.reshape(-1, labels.shape[-1])
    offset = K * np.arange(len(rows))[:, None]  # one bincount for all rows
    return np.bincount((rows + offset).ravel(), minlength=len(rows) * K).reshape(labels.shape[:-1] + (K,))


def _pick(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """values[..., j, labels[..., j]] for (..., J, K) values and (..., J) labels."""
    return values.reshape(labels.size, -1)[np.arange(labels.size), labels.ravel()].reshape(labels.shape)


# ----------------------------------------------------------------------------------------
# Ties: every discrete decision of the classification goes through first_within (public:
# nest_extensions makes its decisions with it too)
# ----------------------------------------------------------------------------------------

#: Relative tolerance of every discrete decision of the classification (which group a product
#: joins, which product fills an empty group, which k-means centre a point takes, which start
#: wins) and of the rank decision of :func:`_pseudo_solve`. Two values closer than
#: ``TIE_RTOL`` times the scale of the sums they were computed from count as tied, and the
#: tie goes to the lowest index, so that the outcome does not depend on how the BLAS and
#: SIMD kernels of a machine round. Measured on the Monte Carlo designs (J = 40 to 1000,
#: M = 5 to 100) across OpenBLAS's SkylakeX, Haswell and Sandybridge kernels, NumPy with and
#: without its AVX-512 loops, and batches of 1 or 8 starts: the costs of
#: :func:`_ssr_matrix` differ by at most 7e-14 times (sum_m y_jm^2 + 1), the same bound as
#: between the expanded and the direct sum of squares; the objectives of one assignment by
#: at most 4e-16 times (sum_jm y_jm^2 + J); the k-means features by 5e-15. 1e-10 is more
#: than a thousand times the largest of these and far below any difference that the data
#: resolve.
TIE_RTOL = 1e-10


def first_within(values: np.ndarray, scale, axis: int = -1):
    r"""The lowest index whose value is tied with the minimum along ``axis``, and the threshold.

    Index :math:`i` is tied with the minimum when

    .. math::
        v_i \le \min_l v_l + \tau\,(|\min_l v_l| + c), \qquad \tau = \text{TIE\_RTOL},

    with :math:`c` = ``scale`` (broadcastable to the shape without ``axis``) the size of the
    sums that the values were computed from, whose rounding they carry. Returns the lowest
    such index (an argmin whose ties, and near-ties within rounding, go to the lowest index
    on every machine) and the threshold, so that ``values <= threshold`` marks every tied
    entry.
    """
    values = np.moveaxis(np.asarray(values, dtype=float), axis, 0)
    if values.ndim == 1:  # one vector (e.g. products): its first tied entry
        best = values.min()
        threshold = best + TIE_RTOL * (abs(best) + scale)
        return int(np.argmax(values <= threshold)), threshold
    # A batch along a short axis (groups or starts): a few elementwise steps on whole slices
    # are faster than numpy's reductions over a short, strided axis.
    best = values[0].copy()
    for v in values[1:]:
        np.minimum(best, v, out=best)
    threshold = best + TIE_RTOL * (np.abs(best) + scale)
    first = np.full(threshold.shape, len(values) - 1)
    for i in range(len(values) - 2, -1, -1):  # downwards, so that the lowest tied index wins
        np.copyto(first, i, where=values[i] <= threshold)
    return first, threshold


def _pseudo_solve(A: np.ndarray, b: np.ndarray, scale: np.ndarray) -> np.ndarray:
    r"""Minimum-norm solutions of the symmetric systems :math:`A x = b`, batched over leading axes.

    :math:`x = V \Lambda^{+} V' b` from the eigendecomposition :math:`A = V \Lambda V'`, with
    eigenvalues below :data:`TIE_RTOL` times ``scale`` treated as zero. ``A`` is a within
    matrix, the difference :math:`\sum w w' - \sum_{\text{cells}} n \bar w \bar w'` of two
    sums of size ``scale`` (the trace of the first): a group whose cells are all singletons
    has no within variation, A is then zero up to that difference's rounding, and its slopes
    are set to 0 rather than to rounding noise (a cutoff relative to A's own largest
    eigenvalue would keep the noise and decide the slopes by the machine's rounding).
    """
    if A.shape[-1] == 0:  # no regressors: nothing to solve
        return np.zeros(b.shape)
    values, vectors = np.linalg.eigh(A)
    cutoff = TIE_RTOL * np.maximum(scale, np.abs(values).max(axis=-1))[..., None]
    inverse = np.divide(1.0, values, out=np.zeros_like(values), where=np.abs(values) > cutoff)
    projected = (vectors.swapaxes(-1, -2) @ b[..., None])[..., 0]
    return (vectors @ (inverse * projected)[..., None])[..., 0]


def _fit_groups(panel: _Panel, onehot: np.ndarray):
    r"""Group-wise least squares with group-by-market intercepts, for a batch of assignments.

    For each panel p, start s and group k the within (cell-demeaned) estimator
    :math:`\hat\beta^k = (\sum_{j \in k, m} \tilde w \tilde w')^{-1} \sum \tilde w \tilde y`,
    with tildes deviations from the (m, k) cell means, and
    :math:`\hat\lambda_m^k = \bar y_{mk} - \hat\beta^{k\prime} \bar w_{mk}`; all panels,
    starts, groups and markets at once from cell sums (matrix products with the one-hot
    assignments ``onehot``, shape (P, S, J, K)). Returns beta (P, S, K, Q) and lambda
    (P, S, M, K), NaN where a group has no product in a market.
    """
    P, S, J, K = onehot.shape
    Q, M = panel.xy.shape[-1], len(panel.market_ids)
    # Cell sums of every layer at once: products per cell n, sum of y, sums of w.
    sums = (panel.by_market[:, None, : (2 + Q) * M] @ onehot).reshape(P, S, 2 + Q, M, K)
    n, sum_y, sum_w = sums[:, :, 0], sums[:, :, 1], sums[:, :, 2:]  # (P, S, M, K), (P, S, Q, M, K)
    inv_n = np.divide(1.0, n, out=np.zeros_like(n), where=n > 0)
    sxx = (onehot.swapaxes(-1, -2) @ panel.xx.reshape(P, 1, J, Q * Q)).reshape(P, S, K, Q, Q)
    sxy = onehot.swapaxes(-1, -2) @ panel.xy[:, None]  # (P, S, K, Q)
    weighted = sum_w * inv_n[:, :, None]  # (P, S, Q, M, K)
    wxx = sxx - np.einsum("...qmk,...rmk->...kqr", weighted, sum_w)
    wxy = sxy - np.einsum("...qmk,...mk->...kq", weighted, sum_y)
    beta = _pseudo_solve(wxx, wxy, np.trace(sxx, axis1=-2, axis2=-1))
    lam = (sum_y - sum(sum_w[:, :, q] * beta[:, :, None, :, q] for q in range(Q))) * inv_n  # Q is small
    lam = np.where(n > 0, lam, np.nan)
    return beta, lam


def _filled(lam: np.ndarray) -> np.ndarray:
    """Intercepts with each absent (market, group) cell set to the group's mean intercept."""
    absent = np.isnan(lam)
    if not absent.any():  # a balanced panel: nothing to fill (and nanmean is slow)
        return lam
    mean = np.nanmean(lam, axis=-2, keepdims=True)  # no group is empty in every market
    return np.where(absent, mean, lam)


def _ssr_matrix(panel: _Panel, beta: np.ndarray, lam: np.ndarray) -> np.ndarray:
    r"""Sum of squared residuals of every product under every group's coefficients.

    .. math::
        SSR_{jk} = \sum_{m: (j, m) \text{ observed}} (y_{jm} - \beta^{k\prime} w_{jm} - \lambda^k_m)^2,

    expanded into products of the panel's sums with the coefficients, so that the cost is
    one matrix product per panel (no (P, S, J, M, K) array): with y and w zero where (j, m)
    is not observed and :math:`o_{jm}` the indicator that it is,

    .. math::
        SSR_{jk} = \sum_m y_{jm}^2 - 2\beta^{k\prime} \sum_m w_{jm} y_{jm}
        + \beta^{k\prime} \Big(\sum_m w_{jm} w_{jm}'\Big) \beta^k
        - 2 \sum_m (y_{jm} - \beta^{k\prime} w_{jm}) \lambda^k_m
        + \sum_m o_{jm} (\lambda^k_m)^2 .

    Where group k has no product in market m its intercept is not defined; the product is
    then charged the group's average intercept over the markets where it has one. Any fixed
    value keeps the algorithm monotone: the next least-squares step fits that cell's own
    intercept and can only lower the objective. ``beta`` is (P, S, K, Q) and ``lam``
    (P, S, M, K); returns shape (P, K, S, J).
    """
    lam = _filled(lam)
    P, S, K, Q = beta.shape
    J, M = panel.yy.shape[1], lam.shape[2]
    # One matrix product per panel: the coefficients of every (group, start), K S rows,
    # times the data's rows (panel.by_market: o, y, w by market, then xy, xx, yy), with
    # products along the last (long, contiguous) axis; the result (P, K S, J) is seen as
    # (P, K, S, J).
    lam_t = lam.transpose(0, 3, 1, 2).reshape(P, K * S, M)
    beta_t = beta.transpose(0, 2, 1, 3).reshape(P, K * S, Q)
    coefficients = np.concatenate([
        lam_t * lam_t,  # o_jm
        -2 * lam_t,  # y_jm
        (2 * beta_t[..., :, None] * lam_t[..., None, :]).reshape(P, K * S, Q * M),  # w_jm
        -2 * beta_t,  # sum_m w_jm y_jm
        (beta_t[..., :, None] * beta_t[..., None, :]).reshape(P, K * S, Q * Q),  # sum_m w_jm w_jm'
        np.ones((P, K * S, 1)),  # sum_m y_jm^2
    ], axis=-1)
    ssr = coefficients @ panel.by_market
    return ssr.reshape(P, K, S, J)


def _select(costs: np.ndarray, labels: np.ndarray, scale: np.ndarray):
    """Step (b) for costs (..., K, S, J) and labels (..., S, J): each product's cost in its own
    group and its new group, each (..., S, J).

    A product stays where its own group is tied with the cheapest (:func:`first_within`,
    ``scale`` (..., 1, J) the size of the sums its costs come from); otherwise it joins the
    lowest-numbered group tied with the cheapest. So a product moves only if another group
    fits it better by more than rounding, no start cycles on ties, and near-ties go the same
    way on every machine."""
    K = costs.shape[-3]
    own = costs[..., 0, :, :].copy()
    for k in range(1, K):  # K is small
        np.copyto(own, costs[..., k, :, :], where=labels == k)
    first, threshold = first_within(costs, scale, axis=-3)
    return own, np.where(own <= threshold, labels, first)


def _fill_empty_groups(labels: np.ndarray, own_cost: np.ndarray, K: int, scale) -> np.ndarray:
    """Give every empty group the worst-fitted product of a group with more than one (the
    lowest-numbered among products whose costs are tied, :func:`first_within` with ``scale``)."""
    labels = labels.copy()
    own_cost = own_cost.copy()
    for k in range(K):  # at most K groups, never products or markets
        sizes = np.bincount(labels, minlength=K)
        if sizes[k] > 0:
            continue
        donors = sizes[labels] > 1
        j = int(first_within(np.where(donors, -own_cost, np.inf), scale)[0])  # the largest cost
        labels[j] = k
        own_cost[j] = -np.inf  # not moved twice
    return labels


def _no_empty_groups(labels: np.ndarray, costs: np.ndarray, K: int, scale: np.ndarray) -> np.ndarray:
    """Apply :func:`_fill_empty_groups` to the assignments (rows of (..., J)) that left a group empty.

    ``costs`` (..., J, K) are every product's costs in every group, ``scale`` (broadcastable
    to (..., J)) the size of the sums they come from; each product's own cost is read only in
    the rare rows with a gap.
    """
    scale = np.broadcast_to(scale, labels.shape)
    for row in np.argwhere((_group_sizes(labels, K) == 0).any(axis=-1)):
        row = tuple(row)
        labels[row] = _fill_empty_groups(labels[row], _pick(costs[row], labels[row]), K, scale[row].max())
    return labels


def _lloyd(panel: _Panel, starts: np.ndarray, K: int, max_iterations: int):
    """Alternate least squares and reassignment from all starts of all panels at once.

    ``starts`` has shape (P, S, J). A start stops when no product changes group; a product
    changes group only if another group fits it better by more than :data:`TIE_RTOL` times
    the size of its sums (see :func:`_select`), so that ties cannot make a start cycle and
    rounding cannot decide a move. Each step computes, for the panels
    with a running start, as many starts as the busiest of them still runs (running starts
    first; a stopped start that fills a slot is recomputed unchanged and not updated).
    Returns, per panel and start, the best (objective, labels,
    beta, lambda) reached, the objective histories (a list over panels of lists over
    starts) and whether each start converged.
    """
    P, S, J = starts.shape
    Q, M = panel.w.shape[1], panel.w.shape[3]
    labels = starts.copy()
    active = np.ones((P, S), dtype=bool)
    converged = np.zeros((P, S), dtype=bool)
    history = np.full((max_iterations, P, S), np.nan)  # objective of each start at each step
    steps = np.zeros((P, S), dtype=int)
    best_objective = np.full((P, S), np.inf)
    best_labels = labels.copy()
    best_beta = np.zeros((P, S, K, Q))
    best_lam = np.zeros((P, S, M, K))
    # (P, 1, J): the size of the sums in a product's expanded SSR (see TIE_RTOL), which
    # carries their rounding.
    scale = (panel.yy + 1.0)[:, None, :]
    sub, sub_rows = panel, None  # the panels with running starts

    def at(mask):  # the (panel, start) indices of the True entries of an (L, S') mask
        l, s = np.nonzero(mask)
        return live[l], slots[l, s]

    for _ in range(max_iterations):
        live = np.flatnonzero(active.any(axis=1))
        if live.size == 0:
            break
        if live.size == P:
            sub = panel
        elif sub is panel or not np.array_equal(live, sub_rows):  # copy only when it changes
            sub, sub_rows = panel.take(live, layers=False), live
        # Each live panel's running starts first, in S' = (most running starts) slots.
        slots = np.argsort(~active[live], axis=1, kind="stable")[:, : active[live].sum(axis=1).max()]
        lab = labels[live[:, None], slots]  # (L, S', J)
        running = active[live[:, None], slots]  # (L, S')
        beta, lam = _fit_groups(sub, _onehot(lab, K))
        ssr = _ssr_matrix(sub, beta, lam)  # (L, K, S, J)
        current, new = _select(ssr, lab, scale[live])
        objective = current.sum(axis=-1)  # (L, S)
        rows = at(running)
        history[steps[rows], rows[0], rows[1]] = objective[running]
        steps[rows] += 1
        improved = running & (objective < best_objective[live[:, None], slots])
        rows = at(improved)
        best_objective[rows] = objective[improved]
        best_labels[rows] = lab[improved]
        best_beta[rows] = beta[improved]
        best_lam[rows] = lam[improved]
        new = _no_empty_groups(new, ssr.transpose(0, 2, 3, 1), K, scale[live])
        same = (new == lab).all(axis=-1)
        # Stop a start that converged, or (a safeguard: it cannot happen in exact
        # arithmetic) whose objective rose.
        done = running & (same | ~improved)
        moving = running & ~done
        converged[at(running & same)] = True
        labels[at(moving)] = new[moving]
        active[at(done)] = False
    histories = [[history[: steps[p, s], p, s].copy() for s in range(S)] for p in range(P)]
    return (best_objective, best_labels, best_beta, best_lam), histories, converged


def _random_start(rng: np.random.Generator, J: int, K: int) -> np.ndarray:
    """Uniform random groups with none empty (the first K of a random order seed them)."""
    labels = rng.integers(0, K, size=J)
    labels[rng.permutation(J)[:K]] = np.arange(K)
    return labels


def _product_features(panel: _Panel) -> np.ndarray:
    r"""Product-level features for k-means starts, standardised within each panel.

    Each product's means of y and of the regressors over its markets, and its own slopes
    from regressing :math:`y_{jm} - \bar y_{\cdot m}` (net of the market's average) on the
    regressors with a product intercept (a small ridge keeps them defined in few markets).
    Returns shape (P, J, F).
    """
    n = panel.obs.sum(axis=-1)  # (P, J)
    y_bar = panel.y.sum(axis=-1) / n
    w_bar = panel.w.sum(axis=-1) / n[:, None]  # (P, Q, J)
    market_mean = (panel.y.sum(axis=1) / np.maximum(panel.obs.sum(axis=1), 1))[:, None, :]
    y_net = (panel.y - market_mean) * panel.obs
    wc = (panel.w - w_bar[..., None]) * panel.obs[:, None]  # demeaned by product
    wxx = np.einsum("pqjm,prjm->pjqr", wc, wc)
    wxy = np.einsum("pqjm,pjm->pjq", wc, y_net)
    Q = wxx.shape[-1]
    if Q:
        ridge = 1e-6 * (np.trace(wxx, axis1=-2, axis2=-1)[..., None, None] / Q + 1.0) * np.eye(Q)
        slopes = np.linalg.solve(wxx + ridge, wxy[..., None])[..., 0]
    else:
        slopes = np.zeros(y_bar.shape + (0,))
    features = np.concatenate([y_bar[..., None], w_bar.swapaxes(1, 2), slopes], axis=-1)
    scale = features.std(axis=1, keepdims=True)
    # A feature that is the same for every product (e.g. a regressor that varies by market
    # only) has a spread of rounding size, which standardising would blow up into noise of
    # unit variance that differs between machines: it is set to 0 instead.
    constant = scale <= TIE_RTOL * np.abs(features).max(axis=1, keepdims=True)
    return np.where(constant, 0.0, (features - features.mean(axis=1, keepdims=True)) / np.where(constant, 1.0, scale))


def _kmeans(features: np.ndarray, K: int, uniforms: np.ndarray, iterations: int = 50) -> np.ndarray:
    """k-means (k-means++ seeding, Lloyd steps) on a batch of feature sets at once.

    ``features`` has shape (S, J, F); ``uniforms`` (S, K) are the uniform draws that pick
    each batch's K seeds (the first uniformly, the others with probability proportional to
    the squared distance to the nearest seed already chosen). Returns labels (S, J).
    """
    S, J, _ = features.shape
    rows = np.arange(S)
    chosen = [np.minimum((uniforms[:, 0] * J).astype(int), J - 1)]
    d2 = np.full((S, J), np.inf)
    for k in range(1, K):  # K seeds
        gap = features - features[rows, chosen[-1]][:, None]
        d2 = np.minimum(d2, np.einsum("sjf,sjf->sj", gap, gap))
        cdf = np.cumsum(d2, axis=1)
        total = cdf[:, -1:]
        # Where every point sits on a seed, fall back to a uniform pick.
        cdf = np.where(total > 0, cdf / np.where(total > 0, total, 1.0), np.arange(1, J + 1) / J)
        pick = (cdf < uniforms[:, k : k + 1]).sum(axis=1)
        chosen.append(np.minimum(pick, J - 1))
    centres = features[rows[:, None], np.column_stack(chosen)]  # (S, K, F)
    labels = np.full((S, J), -1)
    norms = np.einsum("sjf,sjf->sj", features, features)[..., None]
    active = rows  # the sets whose assignment still moves (most stop after a few steps)
    for _ in range(iterations):
        points, middles = features[active], centres[active]
        # Squared distances |f|^2 - 2 f'c + |c|^2 by matrix products, shape (A, J, K); they
        # carry the rounding of sums of size |f|^2 + |c|^2, the scale of their ties.
        middle_norms = np.einsum("skf,skf->sk", middles, middles)
        d2 = norms[active] - 2 * (points @ middles.transpose(0, 2, 1)) + middle_norms[:, None]
        scale = norms[active][..., 0] + middle_norms.max(axis=1)[:, None]  # (A, J)
        new = _no_empty_groups(first_within(d2, scale, axis=2)[0], d2, K, scale)
        moved = (new != labels[active]).any(axis=1)
        labels[active] = new
        # A set whose assignment did not move has converged: its next steps would repeat it.
        active, new, points = active[moved], new[moved], points[moved]
        if active.size == 0:
            break
        centres[active] = (_onehot(new, K).transpose(0, 2, 1) @ points) / _group_sizes(new, K)[..., None]
    return labels


def _starts(panel: _Panel, K: int, n_starts: int, seeds, perturbation: float) -> np.ndarray:
    """The starting assignments of every panel, shape (P, n_starts, J); see :func:`classify`.

    Start s of panel p draws only from its own generator ``default_rng([seeds[p], s])``, so
    the first n starts are the same whatever ``n_starts`` is, and a panel's starts do not
    depend on the other panels of the stack.
    """
    P, J = panel.yy.shape
    starts = np.empty((P, n_starts, J), dtype=int)
    kmeans = [s for s in range(n_starts) if s % 2 == 0 and K > 1]
    features = _product_features(panel) if kmeans else None
    noisy, uniforms = [], []
    for p in range(P):  # panels x starts generators, never products or markets
        for s in range(n_starts):
            rng = np.random.default_rng([seeds[p], s])
            if s in kmeans:
                noise = perturbation * rng.standard_normal(features.shape[1:]) if s > 0 else 0.0
                noisy.append(features[p] + noise)
                uniforms.append(rng.random(K))
            else:
                starts[p, s] = _random_start(rng, J, K)
    if kmeans:
        starts[:, kmeans] = _kmeans(np.array(noisy), K, np.array(uniforms)).reshape(P, len(kmeans), J)
    return starts


def _check_options(K, n_starts, regressors, max_iterations, perturbation) -> tuple:
    """Validate the options of :func:`classify`; returns (K, n_starts, regressors)."""
    if isinstance(regressors, str):
        regressors = (regressors,)
    regressors = tuple(regressors)
    if len(set(regressors)) != len(regressors):
        raise ValueError(f"regressors repeats a column: {list(regressors)}.")
    if int(n_starts) != n_starts or n_starts < 1:
        raise ValueError(f"n_starts must be a positive integer; got {n_starts}.")
    if int(max_iterations) != max_iterations or max_iterations < 1:
        raise ValueError(f"max_iterations must be a positive integer; got {max_iterations}.")
    if not perturbation >= 0:
        raise ValueError(f"perturbation must be non-negative; got {perturbation}.")
    if int(K) != K or K < 1:
        raise ValueError(f"K must be a positive integer; got {K}.")
    return int(K), int(n_starts), regressors


def _classify_panels(panel: _Panel, K: int, n_starts: int, seeds, regressors, max_iterations: int,
                     perturbation: float) -> list:
    """Classify every panel of a stack, all panels and starts at once; a GFEResult per panel."""
    J = len(panel.product_ids)
    if K >= J:
        raise ValueError(f"K={K} groups need more products than that; data has {J} products.")
    seeds = [int(np.random.default_rng().integers(2**63)) if s is None else int(s) for s in seeds]
    starts = _starts(panel, K, n_starts, seeds, perturbation)
    (objectives, all_labels, all_beta, all_lam), histories, converged = _lloyd(
        panel, starts, K, int(max_iterations)
    )
    results = []
    # The objectives of starts that end at the same assignment differ only by rounding (and
    # by how a batch of starts or of panels rounds its matrix products): ties within
    # TIE_RTOL times the panel's total sum of squares go to the lowest-numbered start.
    best_starts, _ = first_within(objectives, panel.yy.sum(axis=1) + J, axis=1)
    for p in range(len(seeds)):  # panels, never products or markets
        best_start = int(best_starts[p])
        labels = all_labels[p, best_start]
        beta, lam = all_beta[p, best_start], all_lam[p, best_start]
        # Canonical order: increasing slope on the first regressor (without regressors:
        # increasing mean intercept), ties by smallest product index.
        first_product = np.array([np.flatnonzero(labels == k)[0] for k in range(K)])
        key = beta[:, 0] if beta.shape[1] else np.nanmean(lam, axis=0)
        order = np.lexsort((first_product, np.round(key, 12)))
        relabel = np.empty(K, dtype=int)
        relabel[order] = np.arange(K)
        results.append(_gfe_result(panel.take([p]), relabel[labels], beta[order], lam[:, order], regressors,
                                   objectives[p], histories[p], converged[p], best_start))
    return results


def classify(
    data: pd.DataFrame,
    K: int,
    n_starts: int = 20,
    seed=0,
    regressors=("prices", "x"),
    max_iterations: int = 100,
    perturbation: float = 0.5,
) -> GFEResult:
    r"""Classify products into K nests by grouped fixed effects (Bonhomme and Manresa 2015).

    Minimises over assignments :math:`k(j)` and group coefficients

    .. math::
        Q = \sum_{(j, m) \text{ observed}}
        \Big(\log \frac{s_{jm}}{s_{0m}} - \beta^{k(j)\prime} w_{jm} - \lambda_m^{k(j)}\Big)^2,
        \qquad s_{0m} = 1 - \sum_{j \in \mathcal J_m} s_{jm},

    with :math:`w_{jm}` the ``regressors`` (``("prices", "x")`` in the slides; with
    endogenous prices classify on an instrument instead, e.g. ``("z", "x")``, as the
    slides do). From each start, Lloyd-style alternation of

    (a) group-wise least squares given the assignment: per group, slopes common to its
        products and one intercept per market where the group has products (a within
        regression on the group's (market, group) cells);
    (b) reassignment of every product to the group whose coefficients give it the smallest
        sum of squared residuals over the markets where it is sold,
        :math:`k(j) = \arg\min_k \sum_m (y_{jm} - \beta^{k\prime} w_{jm} - \lambda_m^k)^2`,

    until no product changes group. Each step lowers the objective. A group left empty by
    (b) takes the worst-fitted product of a group with more than one.

    Panels may be unbalanced: products enter and exit, and a whole group may be absent
    from a market, where it then has no intercept. In step (b) a product sold in a market
    where group k has no product is charged k's average intercept there (a fixed value,
    so the next step (a), which fits that cell's own intercept, still lowers the
    objective). A caution for such panels: where a product is the only one of its group in
    a market, that cell's intercept fits it exactly, so a group absent from a market offers
    a perfect fit there to any product that joins it. The objective can then prefer to put
    a product in a group it does not belong to; ``GFEResult.alone`` counts, for each
    product, the markets where it is alone in its group (always 0 in balanced panels with
    groups of two or more products).

    Starts, each with its own generator ``np.random.default_rng([seed, s])`` for start s
    (so the first n starts do not depend on ``n_starts``, and more starts never give a
    higher objective, but for ties): start 0 is k-means on product-level features (each product's means
    of y and the regressors and its own slopes); odd starts
    are uniform random assignments; other even starts are k-means on the features plus
    normal noise with standard deviation ``perturbation`` (features are standardised). The
    start with the lowest objective wins, the lowest-numbered on ties, where objectives
    within :data:`TIE_RTOL` times the total sum of squares count as tied (so that rounding
    does not pick among starts that end at the same assignment); its groups are put in
    canonical order (increasing slope on the first regressor, ties by smallest product id).

    Every discrete decision (a product's group in step (b), the product moved into an empty
    group, a point's centre in k-means, the best start) treats values within
    :data:`TIE_RTOL` of the scale of their sums as tied and gives the tie to the lowest
    index, so that the classification is the same on every machine, whatever its BLAS and
    SIMD kernels round (``classify_many`` gives each data set the same classification for
    the same reason).

    Parameters
    ----------
    data : pandas.DataFrame or mapping
        Long format, one row per product-market pair: ``market_ids``, ``product_ids``,
        ``shares`` (inside shares; the outside share is one minus their market sum, unless
        an ``outside_shares`` column gives it, as when the data keep only some of a
        market's products) and the
        ``regressors``. A mapping of column names to 1-D arrays (a dict, as pyBLP's
        ``product_data`` may be) works as well.
    K : int
        Number of groups, 1 <= K < number of products.
    n_starts : int
        Number of starting values.
    seed : int or None
        Seed of the starts' generators.
    regressors : sequence of str
        Columns of ``data`` with group-specific slopes; the first orders the groups. May be
        empty, ``()``: then only the group-by-market intercepts are fitted (the textbook
        grouped fixed-effects model) and groups are ordered by their mean intercept.
    max_iterations : int
        Most least-squares steps per start.
    perturbation : float
        Standard deviation of the noise added to the standardised features for k-means starts.

    Returns
    -------
    GFEResult

    Raises
    ------
    ValueError
        For K out of range, a missing column, NaN, zero or negative shares, shares summing
        to one or more in a market, a repeated product-market pair, a non-finite regressor,
        or a product seen in fewer than two markets (each message names the product or
        market at fault).
    """
    K, n_starts, regressors = _check_options(K, n_starts, regressors, max_iterations, perturbation)
    return _classify_panels(_build_panel(data, regressors), K, n_starts, [seed], regressors,
                            max_iterations, perturbation)[0]


def classify_many(
    datasets,
    K: int,
    n_starts: int = 20,
    seeds=None,
    regressors=("prices", "x"),
    max_iterations: int = 100,
    perturbation: float = 0.5,
) -> list:
    r"""Classify several data sets over the same products and markets in one computation.

    The result for data set i is the one of ``classify(datasets[i], K, n_starts,
    seeds[i], ...)``: the same starts, the same algorithm, the same groups (objectives and
    coefficients agree to rounding: a matrix product over a stack may add its terms in
    another order than over one panel). The panels are stacked along a
    leading axis and the Lloyd steps of :func:`classify` run on all data sets and all their
    starts at once, so that small problems (a Monte Carlo cell with few products and
    markets) pay numpy's per-call overhead once per step for the whole stack rather than
    once per data set.

    Parameters
    ----------
    datasets : sequence of pandas.DataFrame or mapping
        Each in the format of :func:`classify`, all with the same product ids and market ids.
    K, n_starts, regressors, max_iterations, perturbation
        As for :func:`classify`.
    seeds : sequence of int, optional
        One seed per data set (default ``0, 1, 2, ...``).

    Returns
    -------
    list of GFEResult
    """
    datasets = list(datasets)
    if not datasets:
        raise ValueError("datasets is empty.")
    seeds = list(range(len(datasets))) if seeds is None else list(seeds)
    if len(seeds) != len(datasets):
        raise ValueError(f"seeds has {len(seeds)} entries for {len(datasets)} data sets.")
    K, n_starts, regressors = _check_options(K, n_starts, regressors, max_iterations, perturbation)
    panel = _Panel.stack([_build_panel(data, regressors) for data in datasets])
    return _classify_panels(panel, K, n_starts, seeds, regressors, max_iterations, perturbation)


def _gfe_result(panel: _Panel, labels, beta, lam, regressors, objectives, histories, converged,
                best_start) -> GFEResult:
    """Package one assignment and its fit (centred units) of a one-panel stack as a GFEResult
    in the data's units."""
    K = beta.shape[0]
    lam_original = lam + panel.y_mean[0] - (beta @ panel.w_mean[0])[None, :]  # undo the centring
    obs = panel.obs[0]
    cell_size = obs.T @ _onehot(labels, K)  # (M, K) products per cell
    alone = ((cell_size[:, labels].T == 1) & (obs > 0)).sum(axis=1)
    return GFEResult(
        objective=float(objectives[best_start]),
        objectives=objectives,
        iterations=np.array([len(h) for h in histories]),
        converged=converged,
        histories=histories,
        best_start=best_start,
        regressors=regressors,
        K=K,
        product_ids=panel.product_ids,
        market_ids=panel.market_ids,
        group_of=labels,
        slopes=beta,
        market_intercepts=lam_original,
        alone_count=alone,
    )


def fit_assignment(data: pd.DataFrame, labels, regressors=("prices", "x")) -> GFEResult:
    r"""Step (a) of :func:`classify` for a given assignment: group-wise least squares.

    For the assignment :math:`k(\cdot)` given by ``labels``, the group slopes and the
    group-by-market intercepts that minimise

    .. math::
        Q = \sum_{(j, m) \text{ observed}}
        \Big(y_{jm} - \beta^{k(j)\prime} w_{jm} - \lambda_m^{k(j)}\Big)^2,

    and the minimum, ``objective``; no product changes group. With
    :meth:`GFEResult.assign` (step (b)) it lets you run the algorithm by hand, or evaluate
    the objective at any assignment, e.g. the true nests in a simulation.

    Parameters
    ----------
    data : pandas.DataFrame
        As for :func:`classify`.
    labels : pandas.Series or array_like
        The group (0, ..., K-1) of each product: a Series indexed by product id, or an
        array in the order of the sorted product ids.
    regressors : sequence of str
        As for :func:`classify`.

    Returns
    -------
    GFEResult
        The groups keep the given labels (no canonical reordering); ``objectives`` and
        ``histories`` hold the one objective.
    """
    regressors = (regressors,) if isinstance(regressors, str) else tuple(regressors)
    panel = _build_panel(data, regressors)
    J = len(panel.product_ids)
    if isinstance(labels, pd.Series):
        missing = panel.product_ids[~np.isin(panel.product_ids, labels.index)]
        if len(missing):
            raise ValueError(f"labels has no group for product {_name(missing[0])}.")
        labels = labels.loc[panel.product_ids]
    labels = np.asarray(labels).ravel()
    if len(labels) != J:
        raise ValueError(f"labels has {len(labels)} entries for {J} products.")
    if pd.isna(labels).any() or not np.all(np.equal(np.mod(labels, 1), 0)) or labels.min() < 0:
        raise ValueError("labels must be non-negative integers 0, ..., K-1.")
    labels = labels.astype(int)
    K = int(labels.max()) + 1
    if (np.bincount(labels, minlength=K) == 0).any():
        raise ValueError(f"Group {int(np.flatnonzero(np.bincount(labels, minlength=K) == 0)[0])} has no product.")
    beta, lam = _fit_groups(panel, _onehot(labels[None, None], K))
    objective = float(_pick(_ssr_matrix(panel, beta, lam)[0, :, 0].T, labels).sum())
    return _gfe_result(panel, labels, beta[0, 0], lam[0, 0], regressors, np.array([objective]),
                       [np.array([objective])], np.array([False]), 0)


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


def _match(estimated, true) -> tuple[float, dict]:
    """:func:`matched_share` and :func:`best_relabelling` from one matching."""
    confusion, rows, cols, e_values, t_values = _matching(estimated, true)
    return _share(confusion, rows, cols), _relabelling(rows, cols, e_values, t_values)


def _share(confusion, rows, cols) -> float:
    return float(confusion[rows, cols].sum() / confusion.sum())


def _relabelling(rows, cols, e_values, t_values) -> dict:
    return {_plain(e_values[r]): _plain(t_values[c]) for r, c in zip(rows, cols)}


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


# ----------------------------------------------------------------------------------------
# The two-step estimator
# ----------------------------------------------------------------------------------------


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
        DataFrame, or 1-D arrays in a mapping such as a dict).
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
    if classification is not None and not isinstance(classification, GFEResult):
        raise ValueError(f"classification must be a GFEResult; got {type(classification).__name__}.")
    return two_step_many(
        [data], K, None if classification is None else [classification], characteristics,
        exogenous_prices=exogenous_prices, price_instruments=price_instruments, regressors=regressors,
        constant=constant, n_starts=n_starts, seeds=[seed], cov_type=cov_type, **classify_options,
    )[0]


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
    seed=seeds[i], classification=classifications[i])``, to rounding. Step 1 is
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
    B = len(datasets)

    def where(b):  # names the data set in messages when there are several
        return f" in data set {b}" if B > 1 else ""

    needed = ["market_ids", "product_ids", "shares", "prices", *characteristics, *price_instruments]
    tables = []
    for b, data in enumerate(datasets):
        tables.append(_columns(data, needed, ("outside_shares",), where=where(b)))
        if "outside_shares" in tables[-1]:
            raise ValueError(
                "two_step's second step computes the outside share from the rows of data; "
                "an outside_shares column is only supported by classify."
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
    identified = _identified(cell, n_cells, nest_pos, K)
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
    # Variables by rows, (B, variables, N): see course_lib.iv._tsls_fit.
    X_t = np.stack([columns[c] for c in characteristics], axis=1)
    Z_nest = _slides_instruments(X_t.transpose(1, 0, 2).reshape(L, B * N), cell, n_cells)[0]
    Zx_t = np.concatenate([_by_nest(Z_nest.reshape(L, B, N).transpose(1, 0, 2), nest_pos, K)]
                          + [columns[c][:, None, :] for c in price_instruments], axis=1)
    exog_t = np.concatenate(([np.ones((B, 1, N))] if constant else []) + [X_t], axis=1)
    coefficients, e, cov, delta = _berry_fit(shares, prices, exog_t, nest_pos, market, cell, K, Zx_t,
                                             exogenous_prices, cov_type)
    names = (("1",) if constant else ()) + characteristics + ("prices",) \
        + tuple(f"log_within_share[{k}]" for k in range(K))
    results = []
    for b, result in enumerate(classifications):  # packaging, never products or markets
        _warn_sigma(1.0 - coefficients[b, -K:], np.arange(K), where(b))
        estimates = NestedLogitResult(np.arange(K), delta[b], IVResult(coefficients[b], names, e[b], cov[b], cov_type))
        results.append(TwoStepResult(classification=result, estimates=estimates, nest_ids=nest_pos[b]))
    return results


# ----------------------------------------------------------------------------------------
# Choosing K
# ----------------------------------------------------------------------------------------


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
    product_ids = _build_panel(data, tuple(regressors)).product_ids
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
