"""The random-coefficients (BLP) logit in one market: shares, derivatives, inversion.

Consumer i's utility from product j is

    u_ij = delta_j + mu_ij + eps_ij,   mu_ij = sum_k X2[j, k] * sigma_k * zeta[i, k],

with ``eps`` type I extreme value and the outside good's utility ``eps_i0``. The
standard-normal draws ``zeta`` (one row per simulated consumer) make ``sigma_k`` the
standard deviation of the random coefficient on characteristic k. Market shares integrate
the individual logit probabilities over consumers by the (weighted) mean over draws.
Everything is vectorised over consumers and products: no Python loop over draws.

Modules
-------
- :mod:`~course_lib.rc_logit.shares`: input checks, choice probabilities, shares ``s_hat``, share Jacobians.
- :mod:`~course_lib.rc_logit.inversion`: the readable one-market BLP contraction ``invert_shares``.
- :mod:`~course_lib.rc_logit.markets`: the padded all-markets fast path ``invert_shares_markets``.
- :mod:`~course_lib.rc_logit.prices`: price derivatives, elasticities and diversion ratios in one market.

Every public name of these modules is available here as ``rc_logit.NAME``.
"""

from __future__ import annotations

from .inversion import METHODS, InversionResult, invert_shares
from .markets import (
    MarketLayout,
    MarketsInversionResult,
    contract_markets,
    invert_shares_markets,
    padded_mu,
    padded_probabilities,
    padded_shares,
)
from .prices import diversion_ratios, elasticities, price_derivatives
from .shares import (
    check_draws,
    check_inputs,
    check_x2_sigma,
    individual_probabilities,
    probabilities,
    s_hat,
    share_jacobian_delta,
    share_jacobian_sigma,
)

__all__ = [
    "InversionResult",
    "individual_probabilities",
    "s_hat",
    "share_jacobian_delta",
    "share_jacobian_sigma",
    "invert_shares",
    "METHODS",
    "MarketLayout",
    "MarketsInversionResult",
    "invert_shares_markets",
    "padded_mu",
    "padded_probabilities",
    "padded_shares",
    "price_derivatives",
    "elasticities",
    "diversion_ratios",
    "contract_markets",
    "probabilities",
    "check_inputs",
    "check_x2_sigma",
    "check_draws",
]
