r"""Nested Gumbel (GEV) shocks drawn exactly, by Cardell's construction, for simulation checks.

:func:`gev_shocks` draws the shocks of the outside good (alone in its nest) and of inside
goods in one-level or two-level nests from standard Gumbel draws and positive stable draws
(:func:`log_positive_stable`, Kanter's representation). Consumers maximising
:math:`\delta_j + \varepsilon_{ij}` then choose with the nested-logit shares
(:func:`course_lib.nested_logit.nested_logit_shares`, or
:func:`course_lib.nest_extensions.two_level_shares` for two levels); the exponentials of the
shocks divided by :math:`\theta` are the nested Frechet errors of
:func:`course_lib.nest_extensions.frechet_shares`.

The helpers :func:`sigma_per_nest` (dissimilarities in (0, 1], named in the message) and
:func:`upper_of_lower_nests` (each lower nest inside exactly one upper nest) are shared
with the two-level nested logit of :mod:`course_lib.nest_extensions`.
"""

from __future__ import annotations

import numpy as np

from .._checks import plain, as_ids

__all__ = ["gev_shocks", "log_positive_stable", "sigma_per_nest", "upper_of_lower_nests"]


def log_positive_stable(index: float, size, rng: np.random.Generator) -> np.ndarray:
    r"""Logs of positive stable draws, :math:`E[e^{-sW}] = e^{-s^{a}}`, index a in (0, 1].

    The common factor of a nest's shocks in Cardell's construction (see :func:`gev_shocks`).

    Kanter's (1975) representation from :math:`U \sim \mathcal U(0, \pi)` and
    :math:`E \sim \mathrm{Exp}(1)`:
    :math:`W = \sin(aU) \sin(U)^{-1/a} (\sin((1 - a)U)/E)^{(1 - a)/a}`, computed in logs.
    With a = 1, W = 1.
    """
    if not 0 < index <= 1:
        raise ValueError(f"The index of a positive stable law must lie in (0, 1]; got {index}.")
    u = rng.uniform(0.0, np.pi, size)
    e = rng.exponential(1.0, size)
    if index == 1.0:
        return np.zeros(size)
    return (np.log(np.sin(index * u)) - np.log(np.sin(u)) / index
            + (1.0 - index) / index * (np.log(np.sin((1.0 - index) * u)) - np.log(e)))


def sigma_per_nest(sigma, n: int, name: str) -> np.ndarray:
    """``sigma`` as n values in (0, 1] (a scalar is repeated), or raise naming ``name``.

    Unlike :func:`course_lib.nested_logit.check_sigma` (which takes a mapping keyed by nest id
    too and names the nest), it takes a scalar or a sequence in sorted nest-id order and names
    the argument (``sigma``, ``sigma_lower``, ``sigma_upper``) and the position at fault.

    Parameters
    ----------
    sigma : float or array_like
    n : int
        Number of nests.
    name : str
        The argument's name, for the messages.

    Returns
    -------
    ndarray, shape (n,)
    """
    values = np.asarray(sigma, dtype=float)
    if values.ndim == 0:
        values = np.full(n, float(values))
    values = values.ravel()
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries for {n} nests; give one per nest, in sorted nest-id order.")
    bad = ~(np.isfinite(values) & (values > 0) & (values <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] is {values[i]}; dissimilarity parameters must lie in (0, 1].")
    return values


def gev_shocks(n: int, nest_ids, sigma, seed=None, upper_ids=None, sigma_upper=None) -> np.ndarray:
    r"""Draw nested Gumbel (GEV) shocks exactly, for the outside good and J inside goods.

    **One level** (Cardell 1997): for product j of nest k,
    :math:`\varepsilon_j = \sigma_k \log W_k + \sigma_k e_j` with :math:`e_j` iid standard
    Gumbel and :math:`W_k` positive stable with index :math:`\sigma_k`
    (:math:`E e^{-sW} = e^{-s^{\sigma_k}}`, Kanter's representation), one per consumer and
    nest. The joint distribution function is
    :math:`\exp\big(-e^{-a_0} - \sum_k (\sum_{j \in B_k} e^{-a_j/\sigma_k})^{\sigma_k}\big)`.

    **Two levels** (``upper_ids`` and ``sigma_upper`` given; lower nest k inside upper nest
    n): :math:`\varepsilon_j = \sigma_n \log W_n + \sigma_k \log W_k + \sigma_k e_j` with
    :math:`W_n` of index :math:`\sigma_n` and :math:`W_k` of index :math:`\sigma_k/\sigma_n`,
    whose distribution function is
    :math:`\exp\big(-e^{-a_0} - \sum_n (\sum_{k \in A_n} (\sum_{j \in B_k} e^{-a_j/\sigma_k})^{\sigma_k/\sigma_n})^{\sigma_n}\big)`:
    conditional on :math:`W_n` the one-level formula applies to
    :math:`(\varepsilon - \sigma_n \log W_n)/\sigma_n` with parameters
    :math:`\sigma_k/\sigma_n`, and averaging :math:`e^{-W_n S}` over :math:`W_n` gives
    :math:`e^{-S^{\sigma_n}}`. It requires :math:`\sigma_k \le \sigma_{n(k)}`.

    Parameters
    ----------
    n : int
        Number of consumers (rows).
    nest_ids : array_like, shape (J,)
        (Lower) nest of each inside good.
    sigma : float or array_like
        Dissimilarity of each nest, in the order of ``numpy.unique(nest_ids)``.
    seed : int, SeedSequence or None
        Passed to :func:`numpy.random.default_rng`.
    upper_ids : array_like, shape (J,), optional
        Upper nest of each inside good (every lower nest inside one upper nest).
    sigma_upper : float or array_like, optional
        Dissimilarity of each upper nest, in the order of ``numpy.unique(upper_ids)``.

    Returns
    -------
    ndarray, shape (n, J + 1)
        Column 0 is the outside good's shock (standard Gumbel, alone in its nest); column
        j + 1 is inside good j's.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer; got {n}.")
    nest_ids = np.asarray(nest_ids).ravel()
    J = len(nest_ids)
    if J == 0:
        raise ValueError("nest_ids is empty: give the nest of every inside good.")
    nests, pos = np.unique(nest_ids, return_inverse=True)
    sig = sigma_per_nest(sigma, len(nests), "sigma")
    rng = np.random.default_rng(seed)
    n = int(n)
    eps = np.empty((n, J + 1))
    eps[:, 0] = rng.gumbel(size=n)
    eps[:, 1:] = sig[pos] * rng.gumbel(size=(n, J))
    if upper_ids is None:
        if sigma_upper is not None:
            raise ValueError("sigma_upper given without upper_ids.")
        for k in range(len(nests)):  # nests, not products
            eps[:, 1:][:, pos == k] += sig[k] * log_positive_stable(sig[k], n, rng)[:, None]
        return eps
    if sigma_upper is None:
        raise ValueError("upper_ids given without sigma_upper.")
    upper_ids = as_ids(upper_ids, J, "upper_ids")
    uppers, upos = np.unique(upper_ids, return_inverse=True)
    sig_up = sigma_per_nest(sigma_upper, len(uppers), "sigma_upper")
    upper_of_lower = upper_of_lower_nests(pos, upos, nests)
    ratio = sig / sig_up[upper_of_lower]
    if (ratio > 1 + 1e-12).any():
        k = int(np.argmax(ratio > 1 + 1e-12))
        raise ValueError(f"sigma of lower nest {plain(nests[k])!r} exceeds its upper nest's; the model needs "
                         "sigma_k <= sigma_n to be consistent with utility maximisation.")
    for k in range(len(nests)):
        eps[:, 1:][:, pos == k] += sig[k] * log_positive_stable(min(ratio[k], 1.0), n, rng)[:, None]
    for u in range(len(uppers)):
        eps[:, 1:][:, upos == u] += sig_up[u] * log_positive_stable(sig_up[u], n, rng)[:, None]
    return eps


def upper_of_lower_nests(lower_pos: np.ndarray, upper_pos: np.ndarray, lower_names) -> np.ndarray:
    """The upper-nest position of each lower nest, checking each lower nest has one.

    Parameters
    ----------
    lower_pos, upper_pos : ndarray of int, shape (N,)
        Each product's lower and upper nest, as positions 0, 1, ... among the sorted ids.
    lower_names : sequence
        The lower nests' ids, for the message.

    Returns
    -------
    ndarray of int, shape (K,)
        Upper-nest position of lower nest k.
    """
    K = int(lower_pos.max()) + 1
    lo = np.full(K, np.iinfo(np.int64).max)
    hi = np.full(K, -1)
    np.minimum.at(lo, lower_pos, upper_pos)
    np.maximum.at(hi, lower_pos, upper_pos)
    if (lo != hi).any():
        k = int(np.flatnonzero(lo != hi)[0])
        raise ValueError(f"Lower nest {plain(lower_names[k])!r} lies in more than one upper nest; each lower nest "
                         "must sit inside exactly one upper nest.")
    return lo
