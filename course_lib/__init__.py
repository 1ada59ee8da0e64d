"""course_lib: the shared code of the course "Demand Estimation in Python".

Modules and packages, one idea each (a package's docstring lists its modules):

- :mod:`course_lib.data`: loaders for the course's data (pyBLP field names).
- :mod:`course_lib.logit`: logit shares, Berry's inversion, elasticities.
- :mod:`course_lib.supply`: ownership matrices and Bertrand-Nash prices.
- :mod:`course_lib.iv`: two-stage least squares and first-stage F.
- :mod:`course_lib.nested_logit`: nested-logit shares, inversion, elasticities, the slides'
  instrument and Berry's 2SLS with known nests (sigma_k dissimilarity; pyBLP's rho = 1 - sigma).
- :mod:`course_lib.nests`: data-driven nests: the slides' simulation designs, the panel,
  grouped fixed-effects classification (readable, and batched for the Monte Carlo), the
  two-step estimator, cross-validation for K.
- :mod:`course_lib.nest_extensions`: the slides' extensions: Type II EV (Frechet) errors,
  observed consumer types, two-level nests, a one-step alternative.
- :mod:`course_lib.monte_carlo`: the slides' Monte Carlo tables (joblib, optional Dask);
  ``python -m course_lib.monte_carlo`` writes them to data/results/.
- :mod:`course_lib.rc_logit`: the random-coefficients logit in one market: shares,
  their derivatives, and the BLP contraction (simple and SQUAREM).
- :mod:`course_lib.gmm`: the RC-logit GMM problem on all markets: objective, analytic
  gradient, one- and two-step estimation, robust standard errors.
- :mod:`course_lib.optimize`: the search both GMM implementations use: L-BFGS-B stopped above
  the objective's rounding floor, then Newton steps (also handed to pyBLP).
- :mod:`course_lib.digits`: printing only the digits every machine agrees on.
- :mod:`course_lib.tables`: DataFrames as page tables, with fixed decimals per column.
- :mod:`course_lib.checkpoints`: checked exercises: a numeric answer against the solution's, unshown.
- :mod:`course_lib.jax_blp`: the same objective in JAX, to check the gradient by automatic
  differentiation (import it explicitly: JAX is heavy and only this check needs it).
- :mod:`course_lib.pyblp_bridge`: the same problems built in pyBLP, for checks.
- :mod:`course_lib.autos`: the BLP (1995) automobile data as the slides use it: models,
  sample rules, instruments, descriptive statistics.
- :mod:`course_lib.merger`: logit, nested-logit and random-coefficients demand for merger
  simulation: costs, diversion ratios, post-merger prices, consumer surplus.
- :mod:`course_lib.simulate`: the generator of the motorcycle data.
"""

from . import (autos, checkpoints, data, digits, gmm, iv, logit, merger, monte_carlo, nest_extensions, nested_logit, nests,
               optimize, rc_logit, supply, tables)

__all__ = ["autos", "checkpoints", "data", "digits", "gmm", "iv", "logit", "merger", "monte_carlo", "nest_extensions", "nested_logit", "nests",
           "optimize", "rc_logit", "supply", "tables"]
__version__ = "0.1.0"
