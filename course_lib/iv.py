"""Linear instrumental variables: two-stage least squares and the first stage.

Used for the logit (Berry 1994) regression ``delta_jt = x_jt beta + alpha p_jt + xi_jt``
and, later, for the nested logit and the concentrated-out linear parameters of BLP.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    params, std_errors : pandas.Series
        Coefficients and standard errors, indexed by regressor name.
    residuals : ndarray
        ``y - X @ params``, the estimated structural error (``xi`` in demand).
    cov : ndarray
        Estimated covariance matrix of ``params``.
    cov_type : str
    """

    params: pd.Series
    std_errors: pd.Series
    residuals: np.ndarray
    cov: np.ndarray
    cov_type: str

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
    # First stage: X_hat = P_Z X = Q Q'X with Q an orthonormal basis of the columns of Z
    # (pivoted QR, dropping directions that collinear instruments do not span), without
    # forming the N x N projection. rank(X_hat) = rank(Q'X), a small matrix.
    Q, R, _ = scipy.linalg.qr(Z, mode="economic", pivoting=True)
    diagonal = np.abs(np.diag(R))
    Q = Q[:, diagonal > diagonal[0] * max(Z.shape) * np.finfo(float).eps]
    QX = Q.T @ X
    X_hat = Q @ QX
    rank = np.linalg.matrix_rank(QX)
    if rank < X.shape[1]:
        raise ValueError(
            f"Underidentified: the instruments identify only {rank} of the {X.shape[1]} columns of X "
            "(rank of the first-stage fitted values); add excluded instruments or drop collinear ones."
        )
    bread = np.linalg.inv(X_hat.T @ X_hat)
    beta = bread @ (X_hat.T @ y)
    e = y - X @ beta
    if cov_type == "robust":
        meat = (X_hat * e[:, None] ** 2).T @ X_hat
        cov = bread @ meat @ bread
    else:
        cov = (e @ e / n) * bread
    index = pd.Index(list(names), name="parameter")
    return IVResult(
        params=pd.Series(beta, index=index),
        std_errors=pd.Series(np.sqrt(np.diag(cov)), index=index),
        residuals=e,
        cov=cov,
        cov_type=cov_type,
    )


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
