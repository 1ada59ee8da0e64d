r"""The result of the classification: :class:`GFEResult`, in the data's units."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .._checks import plain
from ..logit import logit_inversion
from .panel import Panel, build_panel
from .steps import costs
from .ties import first_within, onehot


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
            raise KeyError(f"Product {plain(unknown)!r} was not classified.")
        return self.group_of[pos]

    def residuals(self, data, groups=None) -> np.ndarray:
        r"""The residual of every row of ``data`` under a group, at the estimated coefficients.

        .. math::
            e_{jm} = y_{jm} - \hat\beta^{g\prime} w_{jm} - \hat\lambda^g_m, \qquad
            y_{jm} = \log(s_{jm}/s_{0m}),

        with :math:`s_{0m}` from ``outside_shares`` when ``data`` has it, else one minus the
        market's inside shares (:func:`course_lib.logit.logit_inversion`).

        Parameters
        ----------
        data : pandas.DataFrame or mapping of arrays
            Long format: ``market_ids``, ``product_ids``, ``shares``, the regressors, and
            optionally ``outside_shares``.
        groups : array_like of int, shape (N,), optional
            The group :math:`g` of each row; by default each row's product's estimated group
            (:meth:`labels_for`), whose residuals sum to :attr:`objective` over the
            estimation data.

        Returns
        -------
        ndarray, shape (N,)
            NaN where group :math:`g` has no intercept in the row's market.
        """
        groups = self.labels_for(data["product_ids"]) if groups is None else np.asarray(groups)
        outside = data["outside_shares"] if "outside_shares" in data else None
        y = logit_inversion(data["shares"], data["market_ids"], outside)
        w = np.column_stack([np.asarray(data[c], dtype=float) for c in self.regressors])
        rows = np.arange(len(groups))
        lam = self.intercepts.reindex(np.asarray(data["market_ids"])).to_numpy()[rows, groups]
        return np.asarray(y) - (w * self.slopes[groups]).sum(axis=1) - lam

    def assign(self, data: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
        r"""Assign (new) products to the estimated groups, holding the group coefficients fixed.

        Each product of ``data`` goes to the group whose slopes and market intercepts fit
        its shares best, :math:`\hat k(j) = \arg\min_k \sum_m (y_{jm} - \hat\beta^{k\prime}
        w_{jm} - \hat\lambda^k_m)^2` (the lowest-numbered group on ties within
        :data:`TIE_RTOL`): the assignment step of :func:`classify`, applied to
        products that the estimation did not see (cross-validation, entrants). Where a group
        has no estimated intercept in a market (absent there, or a market the estimation
        did not see), the product is charged the group's mean intercept, as in
        :func:`classify`. A product seen in a single market is assigned on that market
        alone (a classification needs two; an assignment needs one residual per group).

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
        panel = build_panel(data, self.regressors, min_markets=1)
        beta = self.slopes  # (K, Q)
        lam = self.intercepts.reindex(panel.market_ids).to_numpy()  # (M, K), NaN if unseen
        if np.isnan(lam).all(axis=0).any():
            lam = np.where(np.isnan(lam), self.intercepts.mean().to_numpy()[None, :], lam)
        # Intercepts in the units of this panel's centred y and w (see Panel).
        lam = lam - panel.y_mean + (beta @ panel.w_mean)[None, :]
        ssr = costs(panel, beta, lam)  # (J, K)
        # The cheapest group, the lowest-numbered on ties (TIE_RTOL), as in classify's step (b).
        best = first_within(ssr, panel.product_scale, axis=1)[0]
        index = pd.Index(panel.product_ids, name="product_ids")
        groups = pd.Index(np.arange(self.K), name="group")
        return (pd.Series(best, index=index, name="group"),
                pd.DataFrame(ssr, index=index, columns=groups))


def canonical_order(labels: np.ndarray, beta: np.ndarray, lam: np.ndarray):
    """Relabel the groups in canonical order: increasing slope on the first regressor
    (without regressors: increasing mean intercept), ties by smallest product index.
    Returns the new labels (J,), slopes (K, Q) and intercepts (M, K)."""
    K = beta.shape[0]
    first_product = np.array([np.flatnonzero(labels == k)[0] for k in range(K)])
    key = beta[:, 0] if beta.shape[1] else np.nanmean(lam, axis=0)
    order = np.lexsort((first_product, np.round(key, 12)))
    relabel = np.empty(K, dtype=int)
    relabel[order] = np.arange(K)
    return relabel[labels], beta[order], lam[:, order]


def gfe_result(panel: Panel, labels, beta, lam, objectives, histories, converged, best_start) -> GFEResult:
    """Package one assignment and its fit (in the panel's centred units) as a GFEResult in
    the data's units."""
    K = beta.shape[0]
    lam_original = lam + panel.y_mean - (beta @ panel.w_mean)[None, :]  # undo the centring
    obs = panel.observed
    cell_size = obs.T @ onehot(labels, K)  # (M, K) products per cell
    alone = ((cell_size[:, labels].T == 1) & (obs > 0)).sum(axis=1)
    return GFEResult(
        objective=float(objectives[best_start]),
        objectives=objectives,
        iterations=np.array([len(h) for h in histories]),
        converged=converged,
        histories=histories,
        best_start=best_start,
        regressors=panel.regressors,
        K=K,
        product_ids=panel.product_ids,
        market_ids=panel.market_ids,
        group_of=labels,
        slopes=beta,
        market_intercepts=lam_original,
        alone_count=alone,
    )
