r"""The slides' Monte Carlo designs: nested-logit panels with known nests (:func:`simulate_nested_logit`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from ..nested_logit import nested_logit_shares


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
        \text{ across } k,

    .. math::
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
