"""Finite-difference helpers shared by the unit tests."""

from __future__ import annotations

import numpy as np


def log_price_elasticities(log_shares, prices, h: float = 1e-5) -> np.ndarray:
    r"""Central differences of log shares in log prices, entry [j, k] = d log s_j / d log p_k.

    ``log_shares(prices)`` returns the log shares at a price vector; each price is moved by
    the factors :math:`e^{\pm h}` in turn (one column per price).
    """
    prices = np.asarray(prices, dtype=float)
    fd = np.empty((len(prices), len(prices)))
    for k in range(len(prices)):  # one column per price
        up, down = prices.copy(), prices.copy()
        up[k] *= np.exp(h)
        down[k] *= np.exp(-h)
        fd[:, k] = (log_shares(up) - log_shares(down)) / (2 * h)
    return fd
