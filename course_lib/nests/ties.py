r"""Ties: every discrete decision of the classification, the same on every machine.

Which group a product joins, which product fills an empty group, which k-means centre a
point takes and which start wins are decided by :func:`first_within`: values within
:data:`TIE_RTOL` of the scale of their sums are tied, and the tie goes to the lowest index.
:func:`pseudo_solve` makes the one rank decision (a group without within variation gets
zero slopes, not rounding noise). The small array helpers at the end serve both the
readable algorithm and the batched one.
"""

from __future__ import annotations

import numpy as np

#: Relative tolerance of every discrete decision of the classification (which group a product
#: joins, which product fills an empty group, which k-means centre a point takes, which start
#: wins) and of the rank decision of :func:`pseudo_solve`. Two values closer than
#: ``TIE_RTOL`` times the scale of the sums they were computed from count as tied, and the
#: tie goes to the lowest index, so that the outcome does not depend on how the BLAS and
#: SIMD kernels of a machine round. Measured on the Monte Carlo designs (J = 40 to 1000,
#: M = 5 to 100) across OpenBLAS's SkylakeX, Haswell and Sandybridge kernels, NumPy with and
#: without its AVX-512 loops, and batches of 1 or 8 starts: the costs of
#: :func:`course_lib.nests.steps.costs` differ by at most 7e-14 times (sum_m y_jm^2 + 1), the same bound as
#: between the expanded and the direct sum of squares; the objectives of one assignment by
#: at most 4e-16 times (sum_jm y_jm^2 + J); the k-means features by 5e-15. 1e-10 is more
#: than a thousand times the largest of these and far below any difference that the data
#: resolve.
TIE_RTOL = 1e-10


def first_within(values: np.ndarray, scale, axis: int = -1):
    r"""The lowest index whose value is tied with the minimum along ``axis``, and the threshold.

    Index :math:`i` is tied with the minimum when

    .. math::
        v_i \le \min_l v_l + \tau\,(|\min_l v_l| + c), \qquad \tau = \text{TIE\_RTOL},

    with :math:`c` = ``scale`` (broadcastable to the shape without ``axis``) the size of the
    sums that the values were computed from, whose rounding they carry. Returns the lowest
    such index (an argmin whose ties, and near-ties within rounding, go to the lowest index
    on every machine) and the threshold, so that ``values <= threshold`` marks every tied
    entry.
    """
    values = np.moveaxis(np.asarray(values, dtype=float), axis, 0)
    if values.ndim == 1:  # one vector (e.g. products): its first tied entry
        best = values.min()
        threshold = best + TIE_RTOL * (abs(best) + scale)
        return int(np.argmax(values <= threshold)), threshold
    # A batch along a short axis (groups or starts): a few elementwise steps on whole slices
    # are faster than numpy's reductions over a short, strided axis.
    best = values[0].copy()
    for v in values[1:]:
        np.minimum(best, v, out=best)
    threshold = best + TIE_RTOL * (np.abs(best) + scale)
    first = np.full(threshold.shape, len(values) - 1)
    for i in range(len(values) - 2, -1, -1):  # downwards, so that the lowest tied index wins
        np.copyto(first, i, where=values[i] <= threshold)
    return first, threshold


def pseudo_solve(A: np.ndarray, b: np.ndarray, scale: np.ndarray) -> np.ndarray:
    r"""Minimum-norm solutions of the symmetric systems :math:`A x = b`, batched over leading axes.

    :math:`x = V \Lambda^{+} V' b` from the eigendecomposition :math:`A = V \Lambda V'`, with
    eigenvalues below :data:`TIE_RTOL` times ``scale`` treated as zero. ``A`` is a within
    matrix, the difference :math:`\sum w w' - \sum_{\text{cells}} n \bar w \bar w'` of two
    sums of size ``scale`` (the trace of the first): a group whose cells are all singletons
    has no within variation, A is then zero up to that difference's rounding, and its slopes
    are set to 0 rather than to rounding noise (a cutoff relative to A's own largest
    eigenvalue would keep the noise and decide the slopes by the machine's rounding).
    """
    if A.shape[-1] == 0:  # no regressors: nothing to solve
        return np.zeros(b.shape)
    values, vectors = np.linalg.eigh(A)
    cutoff = TIE_RTOL * np.maximum(scale, np.abs(values).max(axis=-1))[..., None]
    inverse = np.divide(1.0, values, out=np.zeros_like(values), where=np.abs(values) > cutoff)
    projected = (vectors.swapaxes(-1, -2) @ b[..., None])[..., 0]
    return (vectors @ (inverse * projected)[..., None])[..., 0]


def fill_empty_groups(labels: np.ndarray, own_cost: np.ndarray, K: int, scale) -> np.ndarray:
    """Give every empty group the worst-fitted product of a group with more than one (the
    lowest-numbered among products whose costs are tied, :func:`first_within` with ``scale``)."""
    labels = labels.copy()
    own_cost = own_cost.copy()
    for k in range(K):  # at most K groups, never products or markets
        sizes = np.bincount(labels, minlength=K)
        if sizes[k] > 0:
            continue
        donors = sizes[labels] > 1
        j = int(first_within(np.where(donors, -own_cost, np.inf), scale)[0])  # the largest cost
        labels[j] = k
        own_cost[j] = -np.inf  # not moved twice
    return labels


def no_empty_groups(labels: np.ndarray, costs: np.ndarray, K: int, scale: np.ndarray) -> np.ndarray:
    """Apply :func:`fill_empty_groups` to the assignments (rows of (..., J)) that left a group empty.

    ``costs`` (..., J, K) are every product's costs in every group, ``scale`` (broadcastable
    to (..., J)) the size of the sums they come from; each product's own cost is read only in
    the rare rows with a gap.
    """
    scale = np.broadcast_to(scale, labels.shape)
    for row in np.argwhere((group_sizes(labels, K) == 0).any(axis=-1)):
        row = tuple(row)
        labels[row] = fill_empty_groups(labels[row], pick(costs[row], labels[row]), K, scale[row].max())
    return labels


def onehot(labels: np.ndarray, K: int) -> np.ndarray:
    """(..., J) integer labels -> (..., J, K) float indicators."""
    out = np.zeros(labels.shape + (K,))
    out.reshape(-1)[K * np.arange(labels.size) + labels.ravel()] = 1.0  # faster than a comparison
    return out


def group_sizes(labels: np.ndarray, K: int) -> np.ndarray:
    """(..., J) integer labels -> (..., K) number of products in each group."""
    rows = labels.reshape(-1, labels.shape[-1])
    offset = K * np.arange(len(rows))[:, None]  # one bincount for all rows
    return np.bincount((rows + offset).ravel(), minlength=len(rows) * K).reshape(labels.shape[:-1] + (K,))


def pick(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """values[..., j, labels[..., j]] for (..., J, K) values and (..., J) labels."""
    return values.reshape(labels.size, -1)[np.arange(labels.size), labels.ravel()].reshape(labels.shape)
