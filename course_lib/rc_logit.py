"""The random-coefficients (BLP) logit in one market: shares, derivatives, inversion.

Consumer i's utility from product j is

    u_ij = delta_j + mu_ij + eps_ij,   mu_ij = sum_k X2[j, k] * sigma_k * zeta[i, k],

with ``eps`` type I extreme value and the outside good's utility ``eps_i0``. The
standard-normal draws ``zeta`` (one row per simulated consumer) make ``sigma_k`` the
standard deviation of the random coefficient on characteristic k. Market shares integrate
the individual logit probabilities over consumers by the (weighted) mean over draws.
Everything is vectorised over consumers and products: no Python loop over draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._checks import as_vector, check_finite, check_method, check_shares

__all__ = [
    "InversionResult",
    "individual_probabilities",
    "s_hat",
    "share_jacobian_delta",
    "share_jacobian_sigma",
    "invert_shares",
    "METHODS",
]

METHODS = ("squarem", "simple")


def _check_inputs(delta, X2, sigma, zeta, weights):
    """Validate and convert the inputs of one market; return arrays and weights."""
    delta = as_vector(delta, "delta")
    check_finite(delta, "delta")
    X2 = np.asarray(X2, dtype=float)
    if X2.ndim == 1:
        X2 = X2[:, None]
    if X2.ndim != 2 or X2.shape[0] != len(delta):
        raise ValueError(f"X2 must have one row per product ({len(delta)}); got shape {X2.shape}.")
    check_finite(X2, "X2")
    sigma = as_vector(sigma, "sigma")
    if len(sigma) != X2.shape[1]:
        raise ValueError(f"sigma has {len(sigma)} entries for {X2.shape[1]} columns of X2.")
    check_finite(sigma, "sigma")
    if (sigma < 0).any():
        raise ValueError(f"sigma must be non-negative (standard deviations); got {sigma.tolist()}.")
    zeta = np.asarray(zeta, dtype=float)
    if zeta.ndim == 1:
        zeta = zeta[:, None]
    if zeta.ndim != 2 or zeta.shape[1] != X2.shape[1]:
        raise ValueError(
            f"zeta must have one column per random coefficient ({X2.shape[1]}); got shape {zeta.shape}."
        )
    if zeta.shape[0] == 0:
        raise ValueError("zeta has no rows (no simulated consumers).")
    check_finite(zeta, "zeta")
    n = zeta.shape[0]
    if weights is None:
        weights = np.full(n, 1.0 / n)
    else:
        weights = as_vector(weights, "weights")
        if len(weights) != n:
            raise ValueError(f"weights has {len(weights)} entries for {n} rows of zeta.")
        if (weights < 0).any() or not np.isclose(weights.sum(), 1.0):
            raise ValueError("weights must be non-negative and sum to one.")
    return delta, X2, sigma, zeta, weights


def individual_probabilities(delta, X2, sigma, zeta) -> np.ndarray:
    r"""Each simulated consumer's logit choice probabilities.

    .. math::
        \pi_{ij} = \frac{\exp(\delta_j + \mu_{ij})}{1 + \sum_k \exp(\delta_k + \mu_{ik})},
        \qquad \mu_{ij} = \sum_k X_{2,jk}\, \sigma_k\, \zeta_{ik},

    computed with the largest utility (or 0, the outside good's) subtracted first, so
    that huge utilities give finite probabilities.

    Parameters
    ----------
    delta : array_like, shape (J,)
        Mean utilities.
    X2 : array_like, shape (J, K)
        Characteristics with random coefficients.
    sigma : array_like, shape (K,)
        Standard deviations of the random coefficients (non-negative).
    zeta : array_like, shape (I, K)
        Standard-normal draws, one row per simulated consumer.

    Returns
    -------
    ndarray, shape (J, I)
        Column i holds consumer i's probabilities of buying each inside good.
    """
    delta, X2, sigma, zeta, _ = _check_inputs(delta, X2, sigma, zeta, None)
    return _probabilities(delta, X2, sigma, zeta)


def _probabilities(delta, X2, sigma, zeta):
    utilities = delta[:, None] + (X2 * sigma) @ zeta.T  # (J, I)
    top = np.maximum(utilities.max(axis=0), 0.0)  # the outside good's utility is 0
    exp_u = np.exp(utilities - top)
    return exp_u / (np.exp(-top) + exp_u.sum(axis=0))


def s_hat(delta, X2, sigma, zeta, weights=None) -> np.ndarray:
    r"""Predicted market shares of the random-coefficients logit in one market.

    .. math::
        \hat s_j = \sum_{i=1}^{I} w_i\, \pi_{ij}, \qquad w_i = 1/I \text{ by default},

    a Monte Carlo (or quadrature, with weights) approximation of
    :math:`s_j = \int \pi_j(\zeta)\, dF(\zeta)`. The problem set's ``sHat``; the number of
    consumers I is the number of rows of ``zeta``.

    Parameters
    ----------
    delta, X2, sigma, zeta
        As in :func:`individual_probabilities`.
    weights : array_like, shape (I,), optional
        Integration weights summing to one.

    Returns
    -------
    ndarray, shape (J,)
    """
    delta, X2, sigma, zeta, weights = _check_inputs(delta, X2, sigma, zeta, weights)
    return _probabilities(delta, X2, sigma, zeta) @ weights


def share_jacobian_delta(delta, X2, sigma, zeta, weights=None) -> np.ndarray:
    r"""Derivatives of the shares with respect to the mean utilities.

    .. math::
        \frac{\partial s_j}{\partial \delta_k} = \sum_i w_i\, \pi_{ij} (1\{j = k\} - \pi_{ik}).

    Not :math:`s_j(1\{j=k\} - s_k)`: the mean of a product is not the product of means.

    Returns
    -------
    ndarray, shape (J, J)
        Entry ``[j, k]`` is :math:`\partial s_j / \partial \delta_k`.
    """
    delta, X2, sigma, zeta, weights = _check_inputs(delta, X2, sigma, zeta, weights)
    pi = _probabilities(delta, X2, sigma, zeta)
    return np.diag(pi @ weights) - (pi * weights) @ pi.T


def share_jacobian_sigma(delta, X2, sigma, zeta, weights=None) -> np.ndarray:
    r"""Derivatives of the shares with respect to sigma, holding delta fixed.

    .. math::
        \frac{\partial s_j}{\partial \sigma_k} = \sum_i w_i\, \pi_{ij}\, \zeta_{ik}
        \Big(X_{2,jk} - \sum_l \pi_{il} X_{2,lk}\Big).

    Returns
    -------
    ndarray, shape (J, K)
    """
    delta, X2, sigma, zeta, weights = _check_inputs(delta, X2, sigma, zeta, weights)
    pi = _probabilities(delta, X2, sigma, zeta)  # (J, I)
    mean_x = pi.T @ X2  # (I, K): sum_l pi_il X2[l, k]
    # sum_i w_i pi_ij zeta_ik (X2[j, k] - mean_x[i, k])
    wz = weights[:, None] * zeta  # (I, K)
    return X2 * (pi @ wz) - pi @ (wz * mean_x)


@dataclass
class InversionResult:
    """Mean utilities that reproduce observed shares, and how the contraction got there.

    Attributes
    ----------
    delta : ndarray, shape (J,)
    iterations : int
        Evaluations of the contraction mapping (each costs one share computation).
    converged : bool
    residual : float
        The last max |delta_new - delta|.
    residuals : list of float
        That quantity at every evaluation.
    method : str
    """

    delta: np.ndarray
    iterations: int
    converged: bool
    residual: float
    method: str
    residuals: list = field(default_factory=list)


def invert_shares(
    shares,
    X2,
    sigma,
    zeta,
    weights=None,
    method: str = "squarem",
    tol: float = 1e-14,
    max_iterations: int = 10_000,
    delta0=None,
) -> InversionResult:
    r"""Invert observed shares into mean utilities with the BLP contraction.

    Berry, Levinsohn and Pakes (1995) show that

    .. math::
        \delta \mapsto \delta + \log s - \log \hat s(\delta)

    is a contraction whose fixed point solves :math:`\hat s(\delta) = s`.

    Parameters
    ----------
    shares : array_like, shape (J,)
        Observed inside shares of one market: each in (0, 1), summing below one.
    X2, sigma, zeta, weights
        As in :func:`s_hat`.
    method : {"squarem", "simple"}
        ``"simple"`` iterates the contraction; ``"squarem"`` accelerates it with the
        SQUAREM scheme S3 of Varadhan and Roland (2008), with the step-length bounds that
        pyBLP uses (start at 1, expand by a factor 4 whenever the bound binds).
    tol : float
        Stop when :math:`\max_j |\delta^{new}_j - \delta_j| <` ``tol`` after an evaluation.
    max_iterations : int
        Maximum number of contraction evaluations.
    delta0 : array_like, shape (J,), optional
        Starting values; the logit inversion :math:`\log s_j - \log s_0` if omitted.

    Returns
    -------
    InversionResult
        A run that does not converge says so (``converged=False``) and warns with its
        iteration count and last residual.
    """
    import warnings

    check_method(method, METHODS)
    shares = as_vector(shares, "shares")
    check_shares(shares, np.zeros(len(shares), dtype=int))
    if tol <= 0:
        raise ValueError(f"tol must be positive; got {tol}.")
    log_shares = np.log(shares)
    start = log_shares - np.log1p(-shares.sum()) if delta0 is None else as_vector(delta0, "delta0")
    _, X2, sigma, zeta, weights = _check_inputs(start, X2, sigma, zeta, weights)

    def contraction(delta):
        predicted = _probabilities(delta, X2, sigma, zeta) @ weights
        return delta + log_shares - np.log(predicted)

    residuals: list[float] = []

    def evaluate(delta):
        new = contraction(delta)
        residuals.append(float(np.max(np.abs(new - delta))) if np.all(np.isfinite(new)) else np.inf)
        return new

    def done():
        return residuals[-1] < tol or len(residuals) >= max_iterations or not np.isfinite(residuals[-1])

    delta = start.copy()
    if method == "simple":
        while True:
            new = evaluate(delta)
            if np.all(np.isfinite(new)):
                delta = new
            if done():
                break
    else:
        step_max = 1.0
        while True:
            x0 = delta
            x1 = evaluate(x0)
            if not np.all(np.isfinite(x1)) or done():
                delta = x1 if np.all(np.isfinite(x1)) else x0
                break
            x2 = evaluate(x1)
            if not np.all(np.isfinite(x2)) or done():
                delta = x2 if np.all(np.isfinite(x2)) else x1
                break
            r, v = x1 - x0, (x2 - x1) - (x1 - x0)
            vv = v @ v
            # S3 step length, bounded below by 1 and above by a bound that grows when hit.
            step = np.sqrt((r @ r) / vv) if vv > 0 else step_max
            step = max(1.0, min(step_max, step))
            if step == step_max:
                step_max *= 4.0
            extrapolated = x0 + 2 * step * r + step**2 * v
            x3 = evaluate(extrapolated)
            if not np.all(np.isfinite(x3)):
                delta = x2
                break
            delta = x3
            if done():
                break
    converged = bool(np.isfinite(residuals[-1]) and residuals[-1] < tol)
    if not converged:
        warnings.warn(
            f"invert_shares(method={method!r}) did not converge after {len(residuals)} "
            f"iterations; last residual {residuals[-1]:.3e}.",
            RuntimeWarning,
            stacklevel=2,
        )
    return InversionResult(
        delta=delta, iterations=len(residuals), converged=converged,
        residual=residuals[-1], method=method, residuals=residuals,
    )
