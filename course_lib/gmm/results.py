r"""What the GMM problem returns: one evaluation of the objective, and the estimates of a GMM step.

The formulas (objective, gradient, robust covariances) are in the package docstring,
:mod:`course_lib.gmm`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..rc_logit import MarketsInversionResult
from .specification import X1_NAMES, X2_NAMES

__all__ = ["Evaluation", "GMMResults"]


@dataclass
class Evaluation:
    r"""Everything computed at one value of sigma for one weighting matrix.

    Attributes
    ----------
    sigma : ndarray, shape (K2,)
    delta : ndarray, shape (N,)
        :math:`\delta(\sigma)`.
    beta : ndarray, shape (K1,)
        :math:`\hat\beta(\sigma)`, concentrated out.
    xi : ndarray, shape (N,)
    moments : ndarray, shape (L,)
        :math:`\bar g = Z'\xi/N`.
    objective : float
        :math:`N \bar g' W \bar g`.
    gradient : ndarray, shape (K2,) or None
    delta_jacobian : ndarray, shape (N, K2) or None
        :math:`\partial\delta/\partial\sigma'`.
    inversion : MarketsInversionResult
    """

    sigma: np.ndarray
    delta: np.ndarray
    beta: np.ndarray
    xi: np.ndarray
    moments: np.ndarray
    objective: float
    gradient: np.ndarray | None
    delta_jacobian: np.ndarray | None
    inversion: MarketsInversionResult


@dataclass
class GMMResults:
    r"""Estimates of one GMM step (the last one for two-step GMM) and diagnostics.

    Attributes
    ----------
    sigma, beta : ndarray
        Estimates; ``sigma`` in the order of ``sigma_names``, ``beta`` of ``beta_names``.
    sigma_se, beta_se : ndarray
        Robust standard errors (pyBLP's ``se_type="robust"``).
    parameter_covariances : ndarray, shape (K2 + K1, K2 + K1)
        :math:`\hat V` of the package docstring, sigma first (pyBLP's ``parameter_covariances``;
        standard errors are :math:`\sqrt{\mathrm{diag}(\hat V)/N}`).
    objective : float
        :math:`N \bar g' W \bar g` at the estimates (after two steps, Hansen's J statistic).
    gradient : ndarray, shape (K2,)
    gradient_norm : float
        Largest absolute entry of the gradient projected on the bounds (``sigma >= 0``) at the
        estimates. After the Newton steps it sits at its rounding floor (about 1e-12 here), a
        number that differs from machine to machine: compare it with a threshold, do not print it.
    hessian : ndarray, shape (K2, K2)
        Central finite differences of the analytic gradient, step
        :math:`\sqrt{\epsilon_{mach}}` (pyBLP's), symmetrised.
    hessian_eigenvalues : ndarray
    W : ndarray
        The weighting matrix of this step.
    updated_W : ndarray
        :math:`S^{-1}` at this step's estimates (the next step's weight).
    step : int
    converged : bool
        Whether ``gradient_norm <= gtol`` at the estimates.
    optimizer_message : str
        L-BFGS-B's message and the number of Newton steps kept.
    optimizer_iterations, objective_evaluations : int
        Major iterations (L-BFGS-B's and the Newton steps) and objective evaluations (those of
        the Newton phase's Hessian included, the diagnostic Hessian's not) of this step.
    newton_steps : int
        Newton steps kept after L-BFGS-B.
    inner_iterations : int
        Contraction evaluations summed over markets and over every objective evaluation of
        this step, the Hessian's included.
    cumulative_inner_iterations : int
        The same, summed over this and earlier steps.
    time : float
        Wall seconds of this step.
    delta, xi : ndarray, shape (N,)
    first_step : GMMResults or None
        The first step's results when this is the second step.
    """

    sigma: np.ndarray
    beta: np.ndarray
    sigma_se: np.ndarray
    beta_se: np.ndarray
    parameter_covariances: np.ndarray
    objective: float
    gradient: np.ndarray
    gradient_norm: float
    hessian: np.ndarray
    hessian_eigenvalues: np.ndarray
    W: np.ndarray
    updated_W: np.ndarray
    step: int
    converged: bool
    optimizer_message: str
    optimizer_iterations: int
    objective_evaluations: int
    inner_iterations: int
    cumulative_inner_iterations: int
    time: float
    delta: np.ndarray
    xi: np.ndarray
    sigma_names: tuple = X2_NAMES
    beta_names: tuple = X1_NAMES
    newton_steps: int = 0
    first_step: "GMMResults | None" = field(default=None, repr=False)

    @property
    def parameters(self) -> np.ndarray:
        """``[sigma, beta]`` stacked, pyBLP's ``parameters`` order."""
        return np.concatenate([self.sigma, self.beta])

    @property
    def se(self) -> np.ndarray:
        """``[sigma_se, beta_se]`` stacked."""
        return np.concatenate([self.sigma_se, self.beta_se])

    def table(self) -> pd.DataFrame:
        """Estimates and standard errors, one row per parameter."""
        index = [f"sigma[{n}]" for n in self.sigma_names] + [f"beta[{n}]" for n in self.beta_names]
        return pd.DataFrame({"estimate": self.parameters, "std. error": self.se}, index=pd.Index(index, name="parameter"))
