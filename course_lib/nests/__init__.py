r"""Data-driven nests: grouped fixed-effects classification of products into nests.

Almagro, Lai and Manresa ("Data-Driven Nests") observe that in the nested logit with the
outside good alone in its own nest (utility :math:`\delta_{jm} = \beta_p p_{jm} + \beta_x
x_{jm} + \xi_{jm}`, dissimilarity :math:`\sigma_k \in (0, 1]`, pyBLP's
:math:`\rho_k = 1 - \sigma_k`),

.. math::
    \log \frac{s_{jm}}{s_{0m}}
    = \beta_p^{k} p_{jm} + \beta_x^{k} x_{jm} + \lambda_m^{k} + \tilde\xi_{jm},

.. math::
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

The package, one idea per module; the readable algorithm first, the Monte Carlo's batched
path beside it (a test checks they agree):

- :mod:`.design`: the slides' Monte Carlo designs (:func:`simulate_nested_logit`).
- :mod:`.panel`: the data as a checked products x markets :class:`~.panel.Panel`.
- :mod:`.steps`: steps (a) and (b) of the classification for one assignment.
- :mod:`.ties`: how every discrete decision is made the same on every machine (:data:`TIE_RTOL`).
- :mod:`.starts`: starting assignments (k-means on product features, random draws).
- :mod:`.gfe`: the classifier, one start (:func:`~.gfe.lloyd`) and many (:func:`classify`),
  and :func:`fit_assignment`.
- :mod:`.result`: :class:`GFEResult`.
- :mod:`.matching`: the share of products classified alike up to relabelling.
- :mod:`.two_step`: the two-step estimator (:func:`two_step`).
- :mod:`.choosing_k`: cross-validation for the number of nests.
- :mod:`.batched_gfe`, :mod:`.batched_two_step`: :func:`classify_many` and
  :func:`two_step_many`, the same estimators for many data sets at once.
"""

from .batched_gfe import classify_many
from .batched_two_step import two_step_many
from .choosing_k import CrossValidationResult, cross_validate, one_standard_error_rule
from .design import NestedLogitSimulation, simulate_nested_logit
from .gfe import classify, fit_assignment
from .matching import best_relabelling, match, matched_share
from .panel import Panel, build_panel
from .result import GFEResult
from .search import SearchResult, search
from .ties import TIE_RTOL, first_within
from .two_step import TwoStepResult, two_step

__all__ = [
    "TIE_RTOL",
    "first_within",
    "NestedLogitSimulation",
    "simulate_nested_logit",
    "Panel",
    "build_panel",
    "GFEResult",
    "classify",
    "classify_many",
    "SearchResult",
    "search",
    "fit_assignment",
    "matched_share",
    "best_relabelling",
    "match",
    "TwoStepResult",
    "two_step",
    "two_step_many",
    "CrossValidationResult",
    "cross_validate",
    "one_standard_error_rule",
]
