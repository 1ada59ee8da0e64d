"""Linear instrumental variables: two-stage least squares and the first stage.

Used for the logit (Berry 1994) regression ``delta_jt = x_jt beta + alpha p_jt + xi_jt``
and, later, for the nested logit and the concentrated-out linear parameters of BLP.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.linalg
import pandas as pd

from ._checks import as_matrix, as_vector, check_finite, check_method

__all__ = ["IVResult", "tsls", "first_stage_f"]


@dataclass
class IVResult:
    """Estimates of a linear IV regression.

    Attributes
    ----------
    coefficients : ndarray, shape (K,)
        The estimates, in the order of the columns of X.
    names : tuple of str
        The names of the columns of X.
    residuals : ndarray
        ``y - X @ coefficients``, the estimated structural error (``xi`` in demand).
    cov : ndarray
        Estimated covariance matrix of the coefficients.
    cov_type : str
    params, std_errors : pandas.Series
        Coefficients and standard errors, indexed by regressor name (built on first use:
        pandas costs more than the regression itself in a Monte Carlo of small problems).
    """

    coefficients: np.ndarray
    names: tuple
    residuals: np.ndarray
    cov: np.ndarray
    cov_type: str

    @property
    def standard_errors(self) -> np.ndarray:
        """Standard errors as an array, in the order of ``coefficients``."""
        return np.sqrt(np.diag(self.cov))

    @cached_property
    def params(self) -> pd.Series:
        return pd.Series(self.coefficients, index=pd.Index(list(self.names), name="parameter"))

    @cached_property
    def std_errors(self) -> pd.Series:
        return pd.Series(self.standard_errors, index=self.params.index)

    def table(self) -> pd.DataFrame:
        """Coefficients and standard errors side by side."""
        return pd.DataFrame({"estimate": self.params, "std. error": self.std_errors})


def tsls(y, X, Z, names=None, cov_type: str = "robust") -> IVResult:
    r"""Two-stage least squares with weighting matrix :math:`(Z'Z)^{-1}`.

    .. math::
        \hat\beta = (X' P_Z X)^{-1} X' P_Z y, \qquad P_Z = Z (Z'Z)^{-1} Z'.

    With ``Z = X`` this is OLS.

    Parameters
    ----------
    y : array_like, shape (N,)
    X : array_like, shape (N, K)
        All regressors, exogenous and endogenous.
    Z : array_like, shape (N, L), L >= K
        All instruments: the exogenous regressors and the excluded instruments.
    names : sequence of str, optional
        Names of the columns of X.
    cov_type : {"robust", "unadjusted"}
        ``"robust"``: the heteroskedasticity-robust (HC0) sandwich
        :math:`(\hat X'\hat X)^{-1} \hat X' \mathrm{diag}(\hat e^2) \hat X (\hat X'\hat X)^{-1}`
        with :math:`\hat X = P_Z X`; ``"unadjusted"``: :math:`\hat\sigma^2 (\hat X'\hat X)^{-1}`
        with :math:`\hat\sigma^2 = \hat e'\hat e / N`. Both match linearmodels' ``IV2SLS``
        with ``debiased=False``.

    Returns
    -------
    IVResult
    """
    check_method(cov_type, ("robust", "unadjusted"))
    y = as_vector(y, "y")
    check_finite(y, "y")
    n = len(y)
    X = as_matrix(X, "X", n)
    Z = as_matrix(Z, "Z", n)
    if Z.shape[1] < X.shape[1]:
        raise ValueError(f"Underidentified: {Z.shape[1]} instruments for {X.shape[1]} regressors.")
    if names is None:
        names = [f"x{k}" for k in range(X.shape[1])]
    if len(names) != X.shape[1]:
        raise ValueError(f"names has {len(names)} entries for {X.shape[1]} columns of X.")
    # First stage: the fitted regressors X_hat = P_Z X, by least squares of each column on Z.
    X_hat = Z @ np.linalg.lstsq(Z, X, rcond=None)[0]
    _check_rank(np.linalg.matrix_rank(X_hat), X.shape[1])
    # Second stage: y on X_hat.
    bread = np.linalg.inv(X_hat.T @ X_hat)
    beta = bread @ (X_hat.T @ y)
    e = y - X @ beta
    if cov_type == "robust":
        meat = (X_hat * e[:, None] ** 2).T @ X_hat
        cov = bread @ meat @ bread
    else:
        cov = (e @ e / n) * bread
    return IVResult(beta, tuple(names), e, cov, cov_type)


def _check_rank(rank: int, n_columns: int, which: str = "") -> None:
    if rank < n_columns:
        raise ValueError(
            f"Underidentified{which}: the instruments identify only {rank} of the {n_columns} "
            "columns of X (rank of the first-stage fitted values); add excluded instruments or drop "
            "collinear ones."
        )


def _instrument_basis(Zt: np.ndarray) -> np.ndarray:
    """Orthonormal bases of the column spaces of a stack of instrument matrices, given as
    their transposes Zt (B, L, N); returns the transposed bases (B, L, N).

    Householder QR, batched; where a matrix is (nearly) rank deficient, a column-pivoted QR
    instead, keeping only the directions that the instruments span (the other rows of its
    basis are zero, which leaves the projection :math:`Q Q'` unchanged).
    """
    Q, R = np.linalg.qr(Zt.swapaxes(-1, -2))
    diagonal = np.abs(np.diagonal(R, axis1=-2, axis2=-1))
    tolerance = max(Zt.shape[-2:]) * np.finfo(float).eps
    for b in np.flatnonzero(diagonal.min(axis=-1) <= tolerance * diagonal.max(axis=-1)):  # rare
        Qb, Rb, _ = scipy.linalg.qr(Zt[b].T, mode="economic", pivoting=True)
        keep = np.abs(np.diag(Rb)) > abs(Rb[0, 0]) * tolerance
        Q[b] = 0.0
        Q[b][:, : keep.sum()] = Qb[:, keep]
    return np.ascontiguousarray(Q.swapaxes(-1, -2))


def tsls_many(y: np.ndarray, Xt: np.ndarray, Zt: np.ndarray, cov_type: str):
    r""":func:`tsls` for a stack of B regressions of the same shape, at once (the Monte Carlo's path).

    It must equal :func:`tsls` run on each regression (``tests/test_iv.py`` checks this):
    the same estimator, organised for many small problems. ``y`` (B, N) and the transposed
    regressors ``Xt`` (B, K, N) and instruments ``Zt`` (B, L, N) are unchecked (variables
    by rows, so that elementwise steps run along the long axis); returns the coefficients
    (B, K), the residuals (B, N) and the covariances (B, K, K). The first stage is
    :math:`\hat X = P_Z X = Q Q' X` with Q an orthonormal basis of the columns of Z
    (batched Householder QR), without forming the N x N projection;
    :math:`\mathrm{rank}(\hat X) = \mathrm{rank}(Q' X)`, a small matrix.
    """
    Qt = _instrument_basis(Zt)  # (B, L, N)
    QX = Qt @ Xt.swapaxes(-1, -2)  # (B, L, K)
    rank = np.linalg.matrix_rank(QX)
    if (rank < Xt.shape[-2]).any():
        b = int(np.argmax(rank < Xt.shape[-2]))
        _check_rank(rank[b], Xt.shape[-2], f" (data set {b})" if len(Xt) > 1 else "")
    X_hat_t = QX.swapaxes(-1, -2) @ Qt  # (B, K, N)
    bread = np.linalg.inv(X_hat_t @ X_hat_t.swapaxes(-1, -2))
    beta = (bread @ (X_hat_t @ y[..., None]))[..., 0]
    e = y - (beta[:, None, :] @ Xt)[:, 0]
    if cov_type == "robust":
        scaled = X_hat_t * e[:, None, :]
        cov = bread @ (scaled @ scaled.swapaxes(-1, -2)) @ bread
    else:
        cov = (np.einsum("bn,bn->b", e, e) / y.shape[-1])[:, None, None] * bread
    return beta, e, cov


def first_stage_f(endogenous, exogenous, excluded) -> float:
    r"""F statistic of the excluded instruments in the first stage (homoskedastic).

    Regress the endogenous regressor on the exogenous regressors alone (restricted)
    and on them and the excluded instruments (unrestricted):

    .. math::
        F = \frac{(SSR_r - SSR_u) / q}{SSR_u / (N - k_u)},

    with q excluded instruments and :math:`k_u` columns in the unrestricted regression.
    The Staiger-Stock rule of thumb calls instruments weak when F < 10.
    """
    endogenous = as_vector(endogenous, "endogenous")
    n = len(endogenous)
    W = as_matrix(exogenous, "exogenous", n)
    Zx = as_matrix(excluded, "excluded", n)
    full = np.column_stack([W, Zx])

    def ssr(A):
        r = endogenous - A @ np.linalg.lstsq(A, endogenous, rcond=None)[0]
        return r @ r

    q, k = Zx.shape[1], full.shape[1]
    return float(((ssr(W) - ssr(full)) / q) / (ssr(full) / (n - k)))
