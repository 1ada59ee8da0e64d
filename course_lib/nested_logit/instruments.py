r"""The slides' instrument for the within-nest share, and variables by nest."""

from __future__ import annotations

import numpy as np

from .._checks import as_ids, check_finite, plain
from .shares import nest_cells


def _others_log_sum_exp(x: np.ndarray, cell: np.ndarray, n_cells: int) -> np.ndarray:
    r"""For each row, :math:`\log \sum_{d \ne j,\ d \in \mathrm{cell}(j)} e^{x_d}`; ``-inf`` if alone.

    Stable without cancellation: shifted by its cell's maximum, the sum over the cell keeps
    a term 1 that is not the row's own, unless the row is its cell's only maximum, so
    subtracting the row's own term cannot cancel; the row of a cell's only maximum sums
    the others directly, shifted by the largest of them.
    """
    top = np.full(n_cells, -np.inf)
    np.maximum.at(top, cell, x)
    own = np.exp(x - top[cell])
    total = np.bincount(cell, weights=own, minlength=n_cells)
    is_max = x == top[cell]
    only_max = is_max & (np.bincount(cell, weights=is_max, minlength=n_cells)[cell] == 1)
    rest = np.flatnonzero(~only_max)
    out = np.empty(len(x))
    out[rest] = top[cell[rest]] + np.log(total[cell[rest]] - own[rest])
    second = np.full(n_cells, -np.inf)  # the largest of the others, where the maximum is alone
    np.maximum.at(second, cell[rest], x[rest])
    others = np.bincount(cell[rest], weights=np.exp(x[rest] - second[cell[rest]]), minlength=n_cells)
    tops = cell[only_max]
    with np.errstate(divide="ignore"):  # a product alone in its cell: log 0 = -inf
        out[only_max] = second[tops] + np.log(others[tops])
    return out


def nest_instruments(X_char, nest_ids, market_ids, interact: bool = True, names=None):
    r"""The slides' instrument for the within-nest share, for each characteristic.

    .. math::
        z_{jm} = -\log \sum_{d \ne j,\ d \in B_{k(j)}} e^{x_{dm}},

    the sum running over the *other* products of j's nest in market m (computed by
    log-sum-exp, without cancellation). It moves :math:`\log s_{j|k}` through the rivals'
    characteristics, which are excluded from j's utility.

    **Singletons.** A product alone in its nest in a market has no other products: the sum
    is empty and the formula gives :math:`+\infty`. We set :math:`z_{jm} = 0` there and flag
    the row in ``alone``; this is harmless in the Berry regression, where the same rows have
    :math:`\log s_{j|k} = \log 1 = 0` and carry no information on :math:`\sigma_k`.

    Parameters
    ----------
    X_char : array_like, shape (N,) or (N, L)
        Exogenous characteristics (the slides use the single x; pass no constant column).
    nest_ids, market_ids : array_like, shape (N,)
    interact : bool
        If True (default) return each instrument times each nest dummy, N x (K L) columns,
        nest-major (all characteristics of the first sorted nest, then the next), so that
        each nest's :math:`1 - \sigma_k` has its own instruments; if False, the N x L matrix.
    names : sequence of str, optional
        Names of the columns of ``X_char`` (default ``x0, x1, ...``).

    Returns
    -------
    Z : ndarray, shape (N, K L) or (N, L)
    columns : list of str
        ``"z[x0]|nest=a"`` style names of the columns of Z.
    alone : ndarray of bool, shape (N,)
        True where the product is the only one of its nest in its market.
    """
    X = np.asarray(X_char, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"X_char must be one- or two-dimensional; got shape {X.shape}.")
    check_finite(X, "X_char")
    n, L = X.shape
    nest_ids = as_ids(nest_ids, n, "nest_ids")
    market_ids = as_ids(market_ids, n, "market_ids")
    names = [f"x{l}" for l in range(L)] if names is None else list(names)
    if len(names) != L:
        raise ValueError(f"names has {len(names)} entries for {L} columns of X_char.")
    nests, nest_pos, _, cell, n_cells, _, _ = nest_cells(nest_ids, market_ids)
    Zt, alone = slides_instruments(X.T, cell, n_cells)
    if not interact:
        return Zt.T, [f"z[{nm}]" for nm in names], alone
    columns = [f"z[{nm}]|nest={plain(k)}" for k in nests for nm in names]
    return by_nest(Zt, nest_pos, len(nests)).T, columns, alone


def slides_instruments(Xt: np.ndarray, cell: np.ndarray, n_cells: int):
    r"""The slides' instruments of :func:`nest_instruments`, for the characteristics Xt (L, N)
    (by rows): :math:`-\log \sum_{d \ne j, d \in \mathrm{cell}(j)} e^{x_d}` for each row j,
    0 where j is alone in its cell; returns them (L, N) and the indicator of those rows."""
    alone = np.bincount(cell, minlength=n_cells)[cell] == 1
    Zt = np.zeros(Xt.shape)
    for l, x in enumerate(Xt):  # characteristics, never products or markets
        Zt[l, ~alone] = -_others_log_sum_exp(x, cell, n_cells)[~alone]
    return Zt, alone


def by_nest(values: np.ndarray, nest_pos: np.ndarray, K: int) -> np.ndarray:
    """Variables (..., L, N) times the K nest dummies of the N rows: (..., K L, N), nest-major."""
    dummies = nest_pos[..., None, :] == np.arange(K)[:, None]  # (..., K, N)
    out = dummies[..., :, None, :] * values[..., None, :, :]  # (..., K, L, N)
    return out.reshape(nest_pos.shape[:-1] + (K * values.shape[-2], nest_pos.shape[-1]))
