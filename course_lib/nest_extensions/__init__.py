r"""Extensions of data-driven nests: Frechet errors, consumer types, two-level nests, one step.

The slides' section "Extensions" of Almagro, Lai and Manresa ("Data-Driven Nests") sketches
four ways to leave the basic model of :mod:`course_lib.nests`. This package implements each
with the course's conventions (:math:`\sigma \in (0, 1]` is a dissimilarity parameter,
:math:`\sigma = 1` the plain logit, pyBLP's :math:`\rho = 1 - \sigma`; the outside good alone
in its own nest) and reuses :func:`course_lib.nests.classify` and
:mod:`course_lib.nested_logit` wherever the extension reduces to them.

1. **Type II extreme-value (Frechet) errors.** With utility
   :math:`u_{ij} = \delta_j \varepsilon_{ij}`, :math:`\delta_j > 0` and :math:`\varepsilon`
   nested Frechet with shape :math:`\theta`,
   :math:`P(\varepsilon \le t) = \exp(-\sum_k (\sum_{j \in B_k} t_j^{-\theta/\sigma_k})^{\sigma_k})`,
   :math:`\theta \log u_{ij} = \theta \log \delta_j + \eta_{ij}` with :math:`\eta` nested
   Gumbel, so the shares are the nested logit with mean utility
   :math:`\theta \log \delta_j` (:func:`frechet_shares`). With
   :math:`\delta_{jm} = (\gamma_0 + \gamma_1 x_{jm}) e^{\xi_{jm}}`,
   :func:`estimate_frechet` profiles the grouped fixed-effects (GFE) objective over the ratio
   :math:`g = \gamma_1/\gamma_0` (only the ratio moves the classification) and recovers
   :math:`\theta`, :math:`\gamma_0` and :math:`\sigma` by Berry's regression.
2. **Observed consumer types.** With type-specific shares :math:`P^t_{jm}` each type is a
   nested logit: :func:`classify_by_type` classifies type by type;
   :func:`classify_types_jointly` imposes common nests (and, through common slopes, common
   :math:`\sigma`), optionally on differences across types, which remove the common
   :math:`\xi`.
3. **Two-level nests.** :func:`two_level_shares` (upper nests :math:`A_n` of lower nests
   :math:`B_k`), :func:`classify_two_level` (lower nests by GFE, then upper nests by a GFE
   over the lower nests, the key observation one level up) and
   :func:`two_level_berry_regression` (Berry's 2SLS with both levels).
4. **One step.** :func:`one_step_berry` alternates Berry's 2SLS given the nests and the
   reassignment of each product to the nest that minimises its own squared Berry residual.

Shocks for simulation checks of the share formulas: :func:`gev_shocks` (Cardell's exact
construction of nested Gumbel shocks from positive stable draws, one or two levels) lives in
:mod:`course_lib.nested_logit.gev`, which chapter 14 uses too; it is re-exported here.

Modules
-------
- :mod:`~course_lib.nest_extensions.common`: :class:`ExtensionSimulation` and the helpers
  every extension shares (frame check, log share ratio, share panel, cells).
- :mod:`~course_lib.nest_extensions.frechet`: Type II extreme-value (Frechet) errors.
- :mod:`~course_lib.nest_extensions.consumer_types`: observed consumer types.
- :mod:`~course_lib.nest_extensions.two_level`: two-level nests.
- :mod:`~course_lib.nest_extensions.one_step`: Berry's 2SLS and reassignment, alternated.
"""

from __future__ import annotations

from ..nested_logit.gev import gev_shocks, log_positive_stable
from .common import ExtensionSimulation
from .consumer_types import classify_by_type, classify_types_jointly, simulate_types
from .frechet import FrechetResult, estimate_frechet, frechet_shares, simulate_frechet
from .one_step import OneStepResult, one_step_berry
from .two_level import (
    TwoLevelBerryResult,
    TwoLevelResult,
    classify_two_level,
    simulate_two_level,
    two_level_berry_regression,
    two_level_shares,
)

__all__ = [
    "gev_shocks",
    "log_positive_stable",
    "ExtensionSimulation",
    "frechet_shares",
    "simulate_frechet",
    "FrechetResult",
    "estimate_frechet",
    "simulate_types",
    "classify_by_type",
    "classify_types_jointly",
    "two_level_shares",
    "simulate_two_level",
    "TwoLevelResult",
    "classify_two_level",
    "TwoLevelBerryResult",
    "two_level_berry_regression",
    "OneStepResult",
    "one_step_berry",
]
