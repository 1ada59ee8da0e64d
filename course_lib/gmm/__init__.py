r"""GMM estimation of the random-coefficients (BLP) logit on all markets.

The model: :math:`\delta_{jt} = x_{1,jt}\beta + \xi_{jt}`, and mean utilities
:math:`\delta(\sigma)` solve :math:`\hat s_t(\delta_t, \sigma) = s_t` market by market (the BLP
contraction, :func:`course_lib.rc_logit.invert_shares_markets`, all markets at once). With
instruments :math:`Z` (:math:`N \times L`) and weighting matrix :math:`W`, the moments and the
objective are, in pyBLP's conventions,

.. math::
    \bar g(\sigma) = \frac{1}{N} Z'\xi(\sigma), \qquad
    q(\sigma) = N\, \bar g(\sigma)' W \bar g(\sigma),

with the linear parameters concentrated out by linear IV-GMM,

.. math::
    \hat\beta(\sigma) = (X_1'Z W Z'X_1)^{-1} X_1'Z W Z'\delta(\sigma), \qquad
    \xi(\sigma) = \delta(\sigma) - X_1 \hat\beta(\sigma).

The first-step weighting matrix is pyBLP's :math:`W_1 = (Z'Z/N)^{-1}`; with it,
:math:`q = N \bar g' (Z'Z/N)^{-1} \bar g = \xi' Z (Z'Z)^{-1} Z' \xi`, the problem set's objective
with its weight :math:`(Z'Z)^{-1}`: the factor N in pyBLP's scaling and the 1/N in its weight
cancel. The efficient second-step weight is pyBLP's default (``W_type="robust"``,
``center_moments=True``): :math:`W_2 = S^{-1}` with
:math:`S = \frac{1}{N}\sum_j (g_j - \bar g)(g_j - \bar g)'`, :math:`g_j = Z_j \xi_j`.

Gradient (implicit function theorem, DESIGN.md section 6 item 5): in each market
:math:`\partial\delta_t/\partial\sigma' = -(\partial s_t/\partial\delta_t')^{-1}\,
\partial s_t/\partial\sigma'`, and because :math:`\hat\beta(\sigma)` minimises the objective
given :math:`\delta`, its own derivative drops out (envelope theorem):

.. math::
    \nabla q(\sigma) = 2 N\, \bar G' W \bar g, \qquad
    \bar G = \frac{1}{N} Z' \frac{\partial \delta}{\partial \sigma'}.

Robust standard errors of :math:`(\sigma, \beta)` (pyBLP's order: sigma first): with
:math:`\bar G_\theta = \frac{1}{N}Z'[\partial\delta/\partial\sigma', -X_1]` and the step's
:math:`W`,

.. math::
    \hat V = (\bar G_\theta' W \bar G_\theta)^{-1} \bar G_\theta' W S W \bar G_\theta
    (\bar G_\theta' W \bar G_\theta)^{-1}, \qquad \mathrm{se} = \sqrt{\mathrm{diag}(\hat V) / N},

with :math:`S` the centred moment covariance at the step's estimates.

Modules
-------
- :mod:`~course_lib.gmm.specification`: the motorcycle data's default columns (``X1_NAMES`` ...).
- :mod:`~course_lib.gmm.results`: ``Evaluation`` (one objective evaluation), ``GMMResults`` (a step's estimates).
- :mod:`~course_lib.gmm.problem`: ``BLPProblem`` (objective, gradient, one- and two-step GMM), ``motorcycle_problem``.
- :mod:`~course_lib.gmm.instruments`: Gandhi-Houde differentiation instruments (``add_differentiation_instruments``).

Every public name of these modules is available here as ``gmm.NAME``.
"""

from __future__ import annotations

from .instruments import DIFFERENTIATION_NAMES, add_differentiation_instruments
from .problem import BLPProblem, motorcycle_problem
from .results import Evaluation, GMMResults
from .specification import EXCLUDED_NAMES, X1_NAMES, X2_NAMES

__all__ = [
    "X1_NAMES",
    "X2_NAMES",
    "EXCLUDED_NAMES",
    "BLPProblem",
    "Evaluation",
    "GMMResults",
    "motorcycle_problem",
    "DIFFERENTIATION_NAMES",
    "add_differentiation_instruments",
]
