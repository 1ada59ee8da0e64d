"""Price elasticities of nested-logit demand in one market."""

from __future__ import annotations

import numpy as np

from .._checks import as_vector, check_finite, check_same_length
from .shares import check_sigma, checked_shares, nest_cells


def nested_logit_elasticities(prices, shares, nest_ids, sigma, alpha: float) -> np.ndarray:
    r"""Price elasticities of nested-logit demand in one market.

    From :math:`\log s_j = \delta_j/\sigma_k - \log IV_k + \sigma_k \log IV_k - \log IV`,

    .. math::
        \frac{\partial \log s_j}{\partial \delta_d} = \frac{1\{j = d\}}{\sigma_k}
            - \Big(\frac{1}{\sigma_k} - 1\Big) 1\{d \in B_k\}\, s_{d|k} - s_d,

    and :math:`\partial \delta_d / \partial \log p_d = \alpha p_d`, so entry ``[j, d]`` of the
    returned matrix, :math:`\varepsilon_{jd} = \partial \log s_j / \partial \log p_d`, is

    .. math::
        \varepsilon_{jd} = \begin{cases}
            \alpha p_j \big(\tfrac{1}{\sigma_k} - (\tfrac{1}{\sigma_k} - 1) s_{j|k} - s_j\big) & d = j,\\
            -\alpha p_d \big((\tfrac{1}{\sigma_k} - 1) s_{d|k} + s_d\big) & d \ne j,\ d \in B_{k(j)},\\
            -\alpha p_d\, s_d & d \notin B_{k(j)}.
        \end{cases}

    With every :math:`\sigma_k = 1` this is :func:`course_lib.logit.logit_elasticities`.
    The slides' cross elasticities agree once read correctly: their same-nest case
    :math:`(\sigma_k - 1)\frac{\beta_p}{\sigma_k} P_{j'|k} p_{j'} - \beta_p P_{j'} p_{j'}` is our
    second line (:math:`\beta_p = \alpha`), and their other-nest case
    :math:`-\beta_{j'} P_{j'} p_{j'}` is our third line with the typo :math:`\beta_{j'}` read as
    :math:`\beta_p`. Their same-nest case is stated for every :math:`j' \in B_{k(j)}`, which
    would include :math:`j' = j`; it holds only for :math:`j' \ne j`, and the own-price
    elasticity (our first line, with the extra :math:`\alpha p_j / \sigma_k`) is missing there.

    Parameters
    ----------
    prices, shares : array_like, shape (J,)
        Prices and inside shares of the market's products.
    nest_ids : array_like, shape (J,)
    sigma : float, array_like or mapping
        As in :func:`nested_logit_shares` (an array is aligned with the sorted nest ids
        present in this market; a dict keyed by nest id is safer across markets).
    alpha : float
        Price coefficient (negative: utility includes ``alpha * price``).

    Returns
    -------
    ndarray, shape (J, J)
    """
    prices = as_vector(prices, "prices")
    shares = as_vector(shares, "shares")
    check_same_length(prices=prices, shares=shares)
    check_finite(prices, "prices")
    if not np.isfinite(alpha):
        raise ValueError(f"alpha must be finite; got {alpha}.")
    shares, nest_ids, _ = checked_shares(shares, nest_ids, None)
    nests, nest_pos, _, cell, n_cells, _, _ = nest_cells(nest_ids, np.zeros(len(shares), dtype=int))
    sig = check_sigma(sigma, nests)[nest_pos]
    within = shares / np.bincount(cell, weights=shares, minlength=n_cells)[cell]
    same = nest_pos[:, None] == nest_pos[None, :]
    dlogs_ddelta = (np.diag(1.0 / sig) - same * ((1.0 / sig - 1.0)[:, None] * within[None, :])
                    - shares[None, :])
    return dlogs_ddelta * (alpha * prices)[None, :]
