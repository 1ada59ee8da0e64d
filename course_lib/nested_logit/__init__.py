r"""The nested logit with an outside good alone in its own nest.

Utility is :math:`u_{ij} = \delta_j + \varepsilon_{ij}` with
:math:`\delta_j = x_j \beta + \alpha p_j + \xi_j` (``alpha < 0``, pyBLP's convention) and
:math:`\varepsilon` distributed as generalised extreme value (McFadden 1978) with the
products partitioned into nests :math:`B_1, \dots, B_K`:

.. math::
    F(\varepsilon) = \exp\Big(-e^{-\varepsilon_0}
        - \sum_{k=1}^K \big(\textstyle\sum_{j \in B_k} e^{-\varepsilon_j / \sigma_k}\big)^{\sigma_k}\Big).

**Convention.** :math:`\sigma_k \in (0, 1]` is nest k's *dissimilarity* parameter (the
slides' :math:`\sigma^k`): :math:`\sigma_k = 1` for every nest is the plain logit, and
:math:`\sigma_k \to 0` makes the products of a nest perfect substitutes. pyBLP uses
:math:`\rho_k = 1 - \sigma_k` instead (its ``rho``; :math:`\rho_k = 0` is the logit).
The outside good (``delta_0 = 0``) is alone in its own nest.

With :math:`IV_k = \sum_{d \in B_k} e^{\delta_d / \sigma_k}` (the slides' notation),
formula (1) of the slides reads

.. math::
    s_j = \underbrace{\frac{e^{\delta_j / \sigma_k}}{IV_k}}_{s_{j|k}}
          \underbrace{\frac{IV_k^{\sigma_k}}{1 + \sum_{l} IV_l^{\sigma_l}}}_{s_k},
    \qquad k = k(j),

and taking logs and eliminating :math:`\log IV_k` through :math:`\log s_{j|k}` gives
Berry's (1994) estimating equation

.. math::
    \log \frac{s_j}{s_0} = \delta_j + (1 - \sigma_k) \log s_{j|k}.

**Correction of the slides.** The slides' Berry regression writes the coefficient of
:math:`\log s_{j|k}` as :math:`(\sigma^{k(j)} - 1)`. With :math:`\sigma` the
dissimilarity parameter of formula (1) the coefficient is :math:`1 - \sigma_k` (it is
:math:`\sigma` itself only in Berry's own parametrisation, where his :math:`\sigma` is
our :math:`1 - \sigma_k`). The within-nest share on that slide also writes
:math:`p_{jm}, x_{jm}` inside the sum over :math:`d` where :math:`p_{dm}, x_{dm}` are
meant (and omits :math:`\xi`).

The package, one idea per module:

- :mod:`.shares`: the (market, nest) cells, the sigma check, shares, inclusive values,
  within-nest shares and Berry's closed-form inversion.
- :mod:`.elasticities`: price elasticities in one market.
- :mod:`.instruments`: the slides' instrument for the within-nest share.
- :mod:`.berry`: Berry's 2SLS with known nests (:func:`berry_regression`).
- :mod:`.gev`: draws of the nested logit's GEV errors (for simulating choices).
"""

from .berry import NestedLogitResult, berry_regression, identified, warn_sigma
from .elasticities import nested_logit_elasticities
from .gev import gev_shocks, log_positive_stable
from .instruments import by_nest, nest_instruments, slides_instruments
from .shares import (check_sigma, checked_shares, log_inclusive_values, log_sum_exp_by_cell, nest_cells,
                     nested_logit_inversion, nested_logit_shares, within_nest_shares)

__all__ = [
    "nested_logit_shares",
    "log_inclusive_values",
    "within_nest_shares",
    "nested_logit_inversion",
    "nested_logit_elasticities",
    "nest_instruments",
    "NestedLogitResult",
    "berry_regression",
    "check_sigma",
    "checked_shares",
    "nest_cells",
    "log_sum_exp_by_cell",
    "slides_instruments",
    "by_nest",
    "identified",
    "warn_sigma",
    "gev_shocks",
    "log_positive_stable",
]
