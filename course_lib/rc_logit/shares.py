r"""The random-coefficients (BLP) logit in one market: input checks, choice probabilities, shares.

The model (utility :math:`u_{ij} = \delta_j + \mu_{ij} + \varepsilon_{ij}` with
:math:`\mu_{ij} = \sum_k X2_{jk}\, \sigma_k \zeta_{ik}`) is written out in the package's
docstring (:mod:`course_lib.rc_logit`); shares are the mean of the individual logit
probabilities over the draws, vectorised over consumers and products.

The input checks (:func:`check_x2_sigma`, :func:`check_draws`, :func:`check_inputs`) and the
unchecked probabilities (:func:`probabilities`) are shared with the package's other modules.
"""

from __future__ import annotations

import numpy as np

from .._checks import as_matrix, as_vector, check_finite

__all__ = [
    "check_x2_sigma",
    "check_draws",
    "check_inputs",
    "individual_probabilities",
    "probabilities",
    "s_hat",
    "share_jacobian_delta",
    "share_jacobian_sigma",
]


def check_x2_sigma(X2, sigma, n_products: int):
    """X2 as a (J, K) finite array and sigma as K non-negative standard deviations."""
    X2 = as_matrix(X2, "X2", n_products, row="product")
    sigma = as_vector(sigma, "sigma")
    if len(sigma) != X2.shape[1]:
        raise ValueError(f"sigma has {len(sigma)} entries for {X2.shape[1]} columns of X2.")
    check_finite(sigma, "sigma")
    if (sigma < 0).any():
        raise ValueError(f"sigma must be non-negative (standard deviations); got {sigma.tolist()}.")
    return X2, sigma


def check_draws(draws, n_coefficients: int, name: str) -> np.ndarray:
    """Draws as a finite (I, K) array with one column per random coefficient."""
    draws = np.asarray(draws, dtype=float)
    if draws.ndim == 1:
        draws = draws[:, None]
    if draws.ndim != 2 or draws.shape[1] != n_coefficients:
        raise ValueError(
            f"{name} must have one column per random coefficient ({n_coefficients}); got shape {draws.shape}."
        )
    check_finite(draws, name)
    return draws


def check_inputs(delta, X2, sigma, zeta, weights):
    """Validate and convert the inputs of one market; return arrays and weights."""
    delta = as_vector(delta, "delta")
    check_finite(delta, "delta")
    X2, sigma = check_x2_sigma(X2, sigma, len(delta))
    zeta = check_draws(zeta, X2.shape[1], "zeta")
    if zeta.shape[0] == 0:
        raise ValueError("zeta has no rows (no simulated consumers).")
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
    delta, X2, sigma, zeta, _ = check_inputs(delta, X2, sigma, zeta, None)
    return probabilities(delta, X2, sigma, zeta)


def probabilities(delta, X2, sigma, zeta):
    """Choice probabilities ``(J, I)`` of :func:`individual_probabilities`, without its input checks.

    For arrays already validated by :func:`check_inputs` (the other modules of the package call it
    after their own checks).
    """
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
    delta, X2, sigma, zeta, weights = check_inputs(delta, X2, sigma, zeta, weights)
    return probabilities(delta, X2, sigma, zeta) @ weights


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
    delta, X2, sigma, zeta, weights = check_inputs(delta, X2, sigma, zeta, weights)
    pi = probabilities(delta, X2, sigma, zeta)
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
    delta, X2, sigma, zeta, weights = check_inputs(delta, X2, sigma, zeta, weights)
    pi = probabilities(delta, X2, sigma, zeta)  # (J, I)
    mean_x = pi.T @ X2  # (I, K): sum_l pi_il X2[l, k]
    # sum_i w_i pi_ij zeta_ik (X2[j, k] - mean_x[i, k])
    wz = weights[:, None] * zeta  # (I, K)
    return X2 * (pi @ wz) - pi @ (wz * mean_x)
