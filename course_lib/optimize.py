r"""The optimizer of the GMM estimators: L-BFGS-B stopped above the rounding floor, then Newton.

A GMM objective computed through a contraction carries rounding noise: evaluated at the same
:math:`\sigma` on two machines (two BLAS kernels, two SIMD paths), the motorcycle problem's
objective differs by up to about :math:`4\times10^{-14}` relative and its gradient by about
:math:`10^{-12}` (measured with ``OPENBLAS_CORETYPE`` = Haswell, SkylakeX and Sandybridge; see
chapter 12). A quasi-Newton line search decides whether a trial point is better by comparing
objective values. Near the optimum the decrease it looks for is about :math:`\|g\|^2/\lambda`
(:math:`\lambda` the Hessian's curvature), which falls below that noise once the gradient is
smaller than about :math:`10^{-7}`: from there on, rounding decides the path, and two machines
stop at different points after different numbers of evaluations.

So the search runs in two phases whose every decision sits well above the floor:

1. L-BFGS-B until the largest entry of the projected gradient is at most ``gtol``
   (default :data:`GTOL` = :math:`10^{-5}`, where the decreases it compares are
   :math:`10^{4}` times the noise);
2. ``newton_steps`` Newton steps (default 2) on the free coordinates,
   :math:`x \leftarrow x - H_{ff}^{-1} g_f`, with :math:`H` the forward finite-difference
   Hessian of the analytic gradient at L-BFGS-B's point (one gradient per coordinate). Each step multiplies the gradient by
   about the Hessian's relative error (:math:`10^{-4}`), so two steps take it from
   :math:`10^{-5}` to its floor. The number of steps is fixed, not decided by a test at the
   floor: a step is kept unless it leaves the projected gradient both larger than before and
   above :data:`NEWTON_KEEP` = :math:`10^{-9}` (a thousand times the floor), so that a step from
   the floor to the floor, where "larger" is a matter of rounding, is always kept.

pyBLP accepts a custom optimization routine (``pyblp.Optimization(pyblp_method, options)``);
:mod:`course_lib.pyblp_bridge` hands it this one, so that the two libraries are compared on the
same decisions and differ only in how they compute the objective and its gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["GTOL", "NEWTON_STEPS", "NEWTON_KEEP", "Minimum", "projected_gradient", "fd_hessian", "lbfgsb_newton",
           "pyblp_method"]

GTOL = 1e-5
NEWTON_STEPS = 2
# Gradients below this are at the rounding floor (measured about 1e-12 on the motorcycle problems):
# a Newton step that ends below it is kept even if rounding made the gradient a little larger.
NEWTON_KEEP = 1e-9


@dataclass
class Minimum:
    """What :func:`lbfgsb_newton` found.

    Attributes
    ----------
    x : ndarray
        The minimiser.
    value : tuple
        What ``objective_function`` returned at ``x``: ``(objective, gradient, ...)``.
    gradient_norm : float
        Largest absolute entry of the projected gradient at ``x``.
    converged : bool
        ``gradient_norm <= gtol``.
    message : str
        L-BFGS-B's message and what the Newton phase did.
    iterations : int
        L-BFGS-B's major iterations plus the Newton steps kept.
    evaluations : int
        Calls of ``objective_function``, the Hessian's included.
    newton_steps : int
        Newton steps kept.
    """

    x: np.ndarray
    value: tuple
    gradient_norm: float
    converged: bool
    message: str
    iterations: int
    evaluations: int
    newton_steps: int


def _bounds(bounds, n: int) -> tuple[np.ndarray, np.ndarray]:
    if bounds is None:
        return np.full(n, -np.inf), np.full(n, np.inf)
    lower = np.array([-np.inf if b[0] is None else b[0] for b in bounds], dtype=float)
    upper = np.array([np.inf if b[1] is None else b[1] for b in bounds], dtype=float)
    return lower, upper


def projected_gradient(x, gradient, bounds=None) -> np.ndarray:
    r"""The gradient with the entries zeroed where ``x`` sits on a bound that it pushes against.

    Entry :math:`k` is zero when :math:`x_k \le l_k` and :math:`g_k > 0`, or
    :math:`x_k \ge u_k` and :math:`g_k < 0` (L-BFGS-B's convergence test uses this vector).
    """
    x, gradient = np.asarray(x, dtype=float), np.asarray(gradient, dtype=float)
    lower, upper = _bounds(bounds, x.size)
    return np.where(((x <= lower) & (gradient > 0)) | ((x >= upper) & (gradient < 0)), 0.0, gradient)


def fd_hessian(gradient: Callable[[np.ndarray], np.ndarray], x, bounds=None,
               step: float = float(np.sqrt(np.finfo(float).eps)), at_x=None) -> np.ndarray:
    r"""Finite differences of an analytic gradient, symmetrised.

    Central by default: column :math:`k` is :math:`(g(x + \tfrac h2 e_k) - g(x - \tfrac h2 e_k)) / h`
    with total step :math:`h` = ``step`` (default :math:`\sqrt{\epsilon_{mach}}`, pyBLP's), one-sided
    where the lower point would cross a bound; ``2 * len(x)`` gradient evaluations. Given
    ``at_x`` = :math:`g(x)`, forward differences :math:`(g(x + h e_k) - g(x)) / h` instead (backward
    at an upper bound), ``len(x)`` evaluations: their truncation error, about :math:`h` times the
    third derivative, is far below the rounding noise that both kinds magnify (gradient noise
    divided by :math:`h`). The result is :math:`(H + H')/2`.
    """
    x = np.asarray(x, dtype=float)
    lower, upper = _bounds(bounds, x.size)
    columns = []
    for k in range(x.size):
        up, down = x.copy(), x.copy()
        if at_x is None:
            up[k] = min(up[k] + step / 2, upper[k])
            down[k] = max(down[k] - step / 2, lower[k])
            g_up, g_down = np.asarray(gradient(up)), np.asarray(gradient(down))
        elif x[k] + step <= upper[k]:
            up[k] += step
            g_up, g_down = np.asarray(gradient(up)), np.asarray(at_x)
        else:
            down[k] -= step
            g_up, g_down = np.asarray(at_x), np.asarray(gradient(down))
        columns.append((g_up - g_down) / (up[k] - down[k]))
    H = np.column_stack(columns)
    return (H + H.T) / 2


def lbfgsb_newton(initial, bounds, objective_function: Callable[[np.ndarray], tuple],
                  iteration_callback: Callable[[], Any] | None = None, gtol: float = GTOL, ftol: float = 0.0,
                  maxiter: int = 1000, newton_steps: int = NEWTON_STEPS) -> Minimum:
    r"""Minimise by L-BFGS-B to ``gtol``, then take ``newton_steps`` Newton steps (module docstring).

    Parameters
    ----------
    initial : array_like
    bounds : sequence of (lower, upper) or None
        ``None`` entries are unbounded.
    objective_function : callable
        ``objective_function(x) -> (objective, gradient, ...)``; extra entries are kept in
        :attr:`Minimum.value` (pyBLP's routine passes its progress object there).
    iteration_callback : callable, optional
        Called without arguments after each major iteration (pyBLP counts them with it).
    gtol : float
        L-BFGS-B stops when the largest projected-gradient entry is at most ``gtol``.
    ftol : float
        L-BFGS-B's relative-reduction test; 0 (pyBLP's default) leaves ``gtol`` in charge.
    maxiter : int
        L-BFGS-B's iteration limit.
    newton_steps : int
        Newton steps after L-BFGS-B (0 for L-BFGS-B alone).

    Returns
    -------
    Minimum
    """
    from scipy.optimize import minimize

    if not gtol > 0 or ftol < 0 or newton_steps < 0:
        raise ValueError(f"gtol must be positive, ftol and newton_steps non-negative; got gtol={gtol}, "
                         f"ftol={ftol}, newton_steps={newton_steps}.")
    x0 = np.asarray(initial, dtype=float).ravel()
    evaluations = iterations = 0
    cache: dict = {}

    def evaluate(x: np.ndarray) -> tuple:
        nonlocal evaluations
        key = x.tobytes()
        if key not in cache:  # L-BFGS-B asks for the objective and the gradient at one point
            evaluations += 1
            cache.clear()
            cache[key] = tuple(objective_function(x.copy()))
        return cache[key]

    def callback(*_):
        nonlocal iterations
        iterations += 1
        if iteration_callback is not None:
            iteration_callback()

    result = minimize(lambda x: (float(evaluate(x)[0]), np.asarray(evaluate(x)[1], dtype=float)), x0, jac=True,
                      method="L-BFGS-B", bounds=bounds, callback=callback,
                      options={"gtol": gtol, "ftol": ftol, "maxiter": maxiter})
    x = np.asarray(result.x, dtype=float)
    value = evaluate(x)
    norm = float(np.max(np.abs(projected_gradient(x, value[1], bounds))))
    message, kept = str(result.message), 0
    if newton_steps:
        lower, upper = _bounds(bounds, x.size)
        H = fd_hessian(lambda y: np.asarray(evaluate(y)[1], dtype=float), x, bounds, at_x=value[1])
        free = projected_gradient(x, value[1], bounds) != 0
        try:
            np.linalg.cholesky(H[np.ix_(free, free)])
        except np.linalg.LinAlgError:
            newton_steps = 0
            message += "; no Newton steps (the Hessian is not positive definite)"
        for _ in range(newton_steps):
            d = np.zeros(x.size)
            d[free] = -np.linalg.solve(H[np.ix_(free, free)], np.asarray(value[1], dtype=float)[free])
            candidate = np.clip(x + d, lower, upper)
            trial = evaluate(candidate)
            trial_norm = float(np.max(np.abs(projected_gradient(candidate, trial[1], bounds))))
            if trial_norm > max(norm, NEWTON_KEEP):
                break
            x, value, norm, kept = candidate, trial, trial_norm, kept + 1
            callback()
        if newton_steps:
            message += f"; {kept} Newton step{'s' if kept != 1 else ''}"
    return Minimum(x=x, value=value, gradient_norm=norm, converged=norm <= gtol, message=message,
                   iterations=iterations, evaluations=evaluations, newton_steps=kept)


def pyblp_method(initial, bounds, objective_function, iteration_callback, **options) -> tuple[np.ndarray, bool]:
    """:func:`lbfgsb_newton` as a pyBLP custom optimization routine.

    ``pyblp.Optimization(pyblp_method, {"gtol": ..., "ftol": ..., "newton_steps": ...})``;
    pyBLP's ``objective_function(theta)`` returns ``(objective, gradient, progress)``.
    """
    found = lbfgsb_newton(initial, bounds, objective_function, iteration_callback, **options)
    return found.x, found.converged
