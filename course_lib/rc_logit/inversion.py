"""The BLP contraction in one market: invert observed shares into mean utilities.

:func:`invert_shares` is the readable version, one market at a time (plain iteration or
SQUAREM); :mod:`course_lib.rc_logit.markets` runs the same iteration for every market at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._checks import as_vector, check_method, check_shares
from .shares import check_inputs, probabilities

__all__ = ["METHODS", "InversionResult", "invert_shares"]

METHODS = ("squarem", "simple")


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
        The last ``max |delta_new - delta|``.
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
    check_shares(shares)
    if tol <= 0:
        raise ValueError(f"tol must be positive; got {tol}.")
    log_shares = np.log(shares)
    start = log_shares - np.log1p(-shares.sum()) if delta0 is None else as_vector(delta0, "delta0")
    _, X2, sigma, zeta, weights = check_inputs(start, X2, sigma, zeta, weights)

    def contraction(delta):
        predicted = probabilities(delta, X2, sigma, zeta) @ weights
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
