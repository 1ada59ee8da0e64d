r"""Starting assignments of the classification: k-means on product features and random draws."""

from __future__ import annotations

import numpy as np

from .ties import TIE_RTOL, first_within, group_sizes, no_empty_groups, onehot


def random_start(rng: np.random.Generator, J: int, K: int) -> np.ndarray:
    """Uniform random groups with none empty (the first K of a random order seed them)."""
    labels = rng.integers(0, K, size=J)
    labels[rng.permutation(J)[:K]] = np.arange(K)
    return labels


def product_features(panels: list) -> np.ndarray:
    r"""Product-level features for k-means starts, standardised within each panel.

    Each product's means of y and of the regressors over its markets, and its own slopes
    from regressing :math:`y_{jm} - \bar y_{\cdot m}` (net of the market's average) on the
    regressors with a product intercept (a small ridge keeps them defined in few markets).
    Returns shape (P, J, F) for the P panels (of the same products and markets).
    """
    observed = np.stack([panel.observed for panel in panels])  # (P, J, M)
    y = np.stack([panel.y for panel in panels])
    w = np.stack([panel.w for panel in panels])  # (P, Q, J, M)
    n = observed.sum(axis=-1)  # (P, J)
    y_bar = y.sum(axis=-1) / n
    w_bar = w.sum(axis=-1) / n[:, None]  # (P, Q, J)
    market_mean = (y.sum(axis=1) / np.maximum(observed.sum(axis=1), 1))[:, None, :]
    y_net = (y - market_mean) * observed
    wc = (w - w_bar[..., None]) * observed[:, None]  # demeaned by product
    wxx = np.einsum("pqjm,prjm->pjqr", wc, wc)
    wxy = np.einsum("pqjm,pjm->pjq", wc, y_net)
    Q = wxx.shape[-1]
    if Q:
        ridge = 1e-6 * (np.trace(wxx, axis1=-2, axis2=-1)[..., None, None] / Q + 1.0) * np.eye(Q)
        slopes = np.linalg.solve(wxx + ridge, wxy[..., None])[..., 0]
    else:
        slopes = np.zeros(y_bar.shape + (0,))
    features = np.concatenate([y_bar[..., None], w_bar.swapaxes(1, 2), slopes], axis=-1)
    scale = features.std(axis=1, keepdims=True)
    # A feature that is the same for every product (e.g. a regressor that varies by market
    # only) has a spread of rounding size, which standardising would blow up into noise of
    # unit variance that differs between machines: it is set to 0 instead.
    constant = scale <= TIE_RTOL * np.abs(features).max(axis=1, keepdims=True)
    return np.where(constant, 0.0, (features - features.mean(axis=1, keepdims=True)) / np.where(constant, 1.0, scale))


def kmeans(features: np.ndarray, K: int, uniforms: np.ndarray, iterations: int = 50) -> np.ndarray:
    """k-means (k-means++ seeding, Lloyd steps) on a batch of feature sets at once.

    ``features`` has shape (S, J, F); ``uniforms`` (S, K) are the uniform draws that pick
    each batch's K seeds (the first uniformly, the others with probability proportional to
    the squared distance to the nearest seed already chosen). Returns labels (S, J).
    """
    S, J, _ = features.shape
    rows = np.arange(S)
    chosen = [np.minimum((uniforms[:, 0] * J).astype(int), J - 1)]
    d2 = np.full((S, J), np.inf)
    for k in range(1, K):  # K seeds
        gap = features - features[rows, chosen[-1]][:, None]
        d2 = np.minimum(d2, np.einsum("sjf,sjf->sj", gap, gap))
        cdf = np.cumsum(d2, axis=1)
        total = cdf[:, -1:]
        # Where every point sits on a seed, fall back to a uniform pick.
        cdf = np.where(total > 0, cdf / np.where(total > 0, total, 1.0), np.arange(1, J + 1) / J)
        pick = (cdf < uniforms[:, k : k + 1]).sum(axis=1)
        chosen.append(np.minimum(pick, J - 1))
    centres = features[rows[:, None], np.column_stack(chosen)]  # (S, K, F)
    labels = np.full((S, J), -1)
    norms = np.einsum("sjf,sjf->sj", features, features)[..., None]
    active = rows  # the sets whose assignment still moves (most stop after a few steps)
    for _ in range(iterations):
        points, middles = features[active], centres[active]
        # Squared distances |f|^2 - 2 f'c + |c|^2 by matrix products, shape (A, J, K); they
        # carry the rounding of sums of size |f|^2 + |c|^2, the scale of their ties.
        middle_norms = np.einsum("skf,skf->sk", middles, middles)
        d2 = norms[active] - 2 * (points @ middles.transpose(0, 2, 1)) + middle_norms[:, None]
        scale = norms[active][..., 0] + middle_norms.max(axis=1)[:, None]  # (A, J)
        new = no_empty_groups(first_within(d2, scale, axis=2)[0], d2, K, scale)
        moved = (new != labels[active]).any(axis=1)
        labels[active] = new
        # A set whose assignment did not move has converged: its next steps would repeat it.
        active, new, points = active[moved], new[moved], points[moved]
        if active.size == 0:
            break
        centres[active] = (onehot(new, K).transpose(0, 2, 1) @ points) / group_sizes(new, K)[..., None]
    return labels


def starting_assignments(panels: list, K: int, n_starts: int, seeds, perturbation: float) -> np.ndarray:
    """The starting assignments of every panel, shape (P, n_starts, J); see :func:`course_lib.nests.classify`.

    Start s of panel p draws only from its own generator ``default_rng([seeds[p], s])``, so
    the first n starts are the same whatever ``n_starts`` is, and a panel's starts do not
    depend on the other panels of the stack.
    """
    P, J = len(panels), len(panels[0].product_ids)
    starts = np.empty((P, n_starts, J), dtype=int)
    by_kmeans = [s for s in range(n_starts) if s % 2 == 0 and K > 1]
    features = product_features(panels) if by_kmeans else None
    noisy, uniforms = [], []
    for p in range(P):  # panels x starts generators, never products or markets
        for s in range(n_starts):
            rng = np.random.default_rng([seeds[p], s])
            if s in by_kmeans:
                noise = perturbation * rng.standard_normal(features.shape[1:]) if s > 0 else 0.0
                noisy.append(features[p] + noise)
                uniforms.append(rng.random(K))
            else:
                starts[p, s] = random_start(rng, J, K)
    if by_kmeans:
        starts[:, by_kmeans] = kmeans(np.array(noisy), K, np.array(uniforms)).reshape(P, len(by_kmeans), J)
    return starts
