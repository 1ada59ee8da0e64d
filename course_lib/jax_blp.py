r"""The RC-logit GMM objective in JAX, to check the analytic gradient by automatic differentiation.

:class:`JaxObjective` rebuilds :meth:`course_lib.gmm.BLPProblem.objective` in ``jax.numpy``
from the same padded arrays (markets padded to the largest number of products, see
:class:`course_lib.rc_logit.MarketLayout`):

1. shares :math:`\hat s_{tj}(\delta_t, \sigma) = \sum_i w_{ti}\, \pi_{tji}`, log-sum-exp stable;
2. :math:`\delta(\sigma)` by the plain BLP contraction
   :math:`\delta \leftarrow \delta + \log s - \log \hat s(\delta, \sigma)`, all markets at once,
   inside ``jax.lax.while_loop`` until the largest absolute change over all markets is below
   ``tol`` (then, optionally, ``extra_iterations`` more steps in ``jax.lax.fori_loop``);
3. :math:`\hat\beta(\sigma) = (X_1'ZWZ'X_1)^{-1}X_1'ZWZ'\delta`,
   :math:`\xi = \delta - X_1\hat\beta`, :math:`\bar g = Z'\xi/N`,
   :math:`q = N\,\bar g' W \bar g` (pyBLP's scaling, as in :mod:`course_lib.gmm`).

The gradient is forward-mode automatic differentiation (``jax.jacfwd``, one
Jacobian-vector product per sigma) *through the iterations of the contraction*: nothing in
this module knows the implicit function theorem. Forward mode is what makes this possible:
JAX differentiates ``while_loop`` only in forward mode (reverse mode would have to store every
iterate). The derivative iterates
:math:`\dot\delta \leftarrow \dot\delta - \mathrm{diag}(\hat s)^{-1}(\partial_\delta \hat s\,
\dot\delta + \partial_\sigma \hat s\, \dot\sigma)` are carried along with :math:`\delta`; they
contract at the same rate as :math:`\delta` itself but lag it slightly (their error after
:math:`h` steps is of order :math:`h L^{h}` against :math:`L^h` for a modulus :math:`L`), and
the stopping rule looks only at :math:`\delta`. At ``tol=1e-14`` and a few hundred steps the lag
costs a factor of a few hundred on an error of order 1e-14, still far below the 1e-6 we
check for; ``extra_iterations`` (default 0) adds steps after the stopping rule if wanted. The plain
contraction is used rather than SQUAREM because its derivative iteration is the derivative of
a fixed map and provably converges to :math:`\partial\delta/\partial\sigma'`; SQUAREM's
data-dependent step lengths would be differentiated too.

Float64 is switched on (``jax_enable_x64``) when this module is imported.
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["JaxObjective"]


def _shares(delta, X2p, nodesp, wp, mask, sigma):
    """Predicted shares (T, J) of all padded markets; padded products get share 0."""
    mu = jnp.einsum("tjk,tik->tji", X2p * sigma, nodesp)
    u = delta[:, :, None] + mu
    # The result does not depend on the shift, so it is kept out of the derivative.
    top = jax.lax.stop_gradient(jnp.maximum(u.max(axis=1), 0.0))  # (T, I); the outside good's utility is 0
    exp_u = jnp.where(mask[:, :, None], jnp.exp(u - top[:, None, :]), 0.0)
    denominator = jnp.exp(-top) + exp_u.sum(axis=1)
    return jnp.einsum("tji,ti->tj", exp_u, wp / denominator)


class JaxObjective:
    r"""The GMM objective of a :class:`course_lib.gmm.BLPProblem` as a JAX function of sigma.

    Parameters
    ----------
    problem : course_lib.gmm.BLPProblem
        Supplies the data (padded with its ``layout``), the instruments and the starting
        values (pyBLP's logit delta).
    tol : float
        Stop the contraction when the largest absolute change in delta, over all markets, is
        below ``tol`` (as in :mod:`course_lib.rc_logit`).
    max_iterations : int
        Most contraction steps before the stopping rule gives up.
    extra_iterations : int
        Steps run after the stopping rule is met, so that the derivative iterates (which lag
        the iterates of delta) converge too.

    Examples
    --------
    >>> from course_lib import gmm, jax_blp
    >>> problem = gmm.motorcycle_problem()
    >>> jo = jax_blp.JaxObjective(problem)
    >>> q = jo.objective([0.5, 1.0])          # equals problem.objective([0.5, 1.0])
    >>> g = jo.gradient([0.5, 1.0])           # forward-mode AD through the contraction
    """

    def __init__(self, problem, tol: float = 1e-14, max_iterations: int = 20_000, extra_iterations: int = 0):
        if tol <= 0 or max_iterations < 1 or extra_iterations < 0:
            raise ValueError("tol must be positive, max_iterations at least 1 and extra_iterations non-negative.")
        self.problem = problem
        layout = problem.layout
        self.tol, self.max_iterations, self.extra_iterations = float(tol), int(max_iterations), int(extra_iterations)
        self._X2p = jnp.asarray(layout.pad_products(problem.X2))
        self._nodesp = jnp.asarray(layout.pad_agents(problem.nodes))
        self._wp = jnp.asarray(layout.pad_agents(problem.weights))
        self._mask = jnp.asarray(layout.mask)
        self._log_sp = jnp.asarray(layout.pad_products(np.log(problem.shares)))
        self._start = jnp.asarray(layout.pad_products(problem.logit_delta))
        self._rows = (jnp.asarray(layout.product_market), jnp.asarray(layout.product_slot))
        self._X1 = jnp.asarray(problem.X1)
        self._Z = jnp.asarray(problem.Z)
        self._delta = jax.jit(self._solve)
        self._objective = jax.jit(self._objective_fn)
        self._gradient = jax.jit(jax.jacfwd(self._objective_fn, has_aux=True))

    # ------------------------------------------------------------------ pure functions
    def _solve(self, sigma):
        """delta(sigma), padded (T, J), and the number of contraction steps of the stopping rule."""
        mask = self._mask

        def step(delta):
            s = _shares(delta, self._X2p, self._nodesp, self._wp, mask, sigma)
            return delta + jnp.where(mask, self._log_sp - jnp.log(jnp.where(mask, s, 1.0)), 0.0)

        def cond(state):
            _, iteration, residual = state
            return (residual >= self.tol) & (iteration < self.max_iterations)

        def body(state):
            delta, iteration, _ = state
            new = step(delta)
            # The stopping rule looks at the values only, never at derivatives.
            residual = jax.lax.stop_gradient(jnp.max(jnp.abs(new - delta)))
            return new, iteration + 1, residual

        delta, iterations, residual = jax.lax.while_loop(
            cond, body, (self._start, jnp.asarray(0), jnp.asarray(jnp.inf, dtype=self._start.dtype))
        )
        delta = jax.lax.fori_loop(0, self.extra_iterations, lambda _, d: step(d), delta)
        return delta, iterations, residual

    def _objective_fn(self, sigma, W):
        deltap, iterations, residual = self._solve(sigma)
        delta = deltap[self._rows]
        X1, Z = self._X1, self._Z
        XZ = X1.T @ Z
        beta = jnp.linalg.solve(XZ @ W @ XZ.T, XZ @ W @ (Z.T @ delta))
        xi = delta - X1 @ beta
        g = Z.T @ xi / X1.shape[0]
        return X1.shape[0] * g @ W @ g, (iterations, residual)

    # ------------------------------------------------------------------ public interface
    def _inputs(self, sigma, W):
        sigma = jnp.asarray(self.problem._check_sigma(sigma))
        W = jnp.asarray(self.problem._check_W(W))
        return sigma, W

    def _checked(self, sigma, out):
        value, (iterations, residual) = out
        if not float(residual) < self.tol:
            raise RuntimeError(f"The JAX contraction did not converge at sigma={np.asarray(sigma).tolist()}: "
                               f"{int(iterations)} iterations, last residual {float(residual):.3e}.")
        return value

    def objective(self, sigma, W=None) -> float:
        r""":math:`q(\sigma) = N\,\bar g' W \bar g` (default :math:`W = (Z'Z/N)^{-1}`).

        Raises ``RuntimeError`` (with the iteration count and last residual) if the contraction
        did not converge within ``max_iterations``.
        """
        sigma, W = self._inputs(sigma, W)
        return float(self._checked(sigma, self._objective(sigma, W)))

    def gradient(self, sigma, W=None) -> np.ndarray:
        r""":math:`\nabla q(\sigma)` by forward-mode AD through the contraction (``jax.jacfwd``)."""
        sigma, W = self._inputs(sigma, W)
        return np.asarray(self._checked(sigma, self._gradient(sigma, W)))

    def function(self, W=None):
        r"""The objective as a pure JAX function of sigma, :math:`\sigma \mapsto q(\sigma)`, for weight ``W``.

        For composing with JAX transformations, e.g. ``jax.jacfwd(jax.jacfwd(f))`` for the
        Hessian. Only forward-mode transformations work: the contraction is a
        ``jax.lax.while_loop``, which reverse mode (``jax.grad``) cannot differentiate. The
        function does not check convergence; :meth:`iterations` does.
        """
        W = jnp.asarray(self.problem._check_W(W))
        return lambda sigma: self._objective_fn(sigma, W)[0]

    def delta(self, sigma) -> np.ndarray:
        r""":math:`\delta(\sigma)`, stacked in the order of the product rows, shape (N,)."""
        deltap, _, _ = self._delta(self._inputs(sigma, None)[0])
        return np.asarray(deltap)[self.problem.layout.product_market, self.problem.layout.product_slot]

    def iterations(self, sigma) -> int:
        """Contraction steps (each one share evaluation of every market) until the stopping rule,
        not counting ``extra_iterations``; raises ``RuntimeError`` if it did not converge."""
        sigma = self._inputs(sigma, None)[0]
        _, iterations, residual = self._delta(sigma)
        self._checked(sigma, (None, (iterations, residual)))
        return int(iterations)
