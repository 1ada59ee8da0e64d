r"""The BLP (1995) automobile application of data-driven nests: the data, the sample, its
statistics and the instruments for price.

The slides (Almagro, Lai and Manresa 2024) take the R package hdm's ``BLP`` data (the same
2,217 model-years as pyBLP's, :func:`course_lib.data.load_blp_autos`), treat each year as a
market and each model as a product, and keep an unbalanced panel of 82 models. This
package builds that panel in the layout :func:`course_lib.nests.classify` reads, the
slides' descriptive statistics, and instruments for price.

Definitions (each checked in ``tests/test_autos.py``):

- A *model* is ``clustering_ids`` without its two-digit generation year (``AMGREM71`` ->
  ``AMGREM``): 557 models, present on average 3.899 distinct years (3.980 rows: 20 models
  have two or three rows, variants, in some years).
- hdm's ``price`` is pyBLP's ``prices`` minus its mean over the 2,217 rows (11.761 in
  thousands of 1983 dollars). The slides' regressors are ``price``, ``log(hpwt)``,
  ``log(mpd)``, ``air`` and ``log(space)``.
- The outside share of year t is :math:`s_{0t} = 1 - \sum_{j \in \mathcal J_t} s_{jt}`
  over *all* of the year's rows, not only the sample's.
- The sample rules are :data:`SAMPLE_RULES`. The slides' stated rule ("at least five years
  of data, at least three consecutive years") keeps 169 models, not their 82; five years
  and presence in each of 1986, 1987 and 1988 keeps exactly 82 and reproduces their
  appendix (:func:`model_statistics`).

The package, one idea per module:

- :mod:`.sample`: the data check, model spells, the sample rules and the rows a model has
  twice in a year (:func:`select_models`, :func:`deduplicate`).
- :mod:`.instruments`: differentiation instruments, the named instrument sets and the
  first-stage regression of price (:func:`first_stage_price`).
- :mod:`.panel`: every row's variables and the panel of a sample rule
  (:func:`product_variables`, :func:`panel_sample`).
- :mod:`.statistics`: model averages, Welch's t, the appendix tables, entry and exit, and
  the slides' published tables (:func:`model_statistics`, :func:`load_slides_tables`).
- :mod:`.choose_k`: the number of nests on this panel, the K curve of the classification
  (:func:`course_lib.nests.search`), the elbow and cross-validation over years (``python -m
  course_lib.autos.choose_k``, :func:`load_k_curve`, :func:`load_groups`).
- :mod:`.demand_systems`: the four demand systems of the automobile chapters on all
  2,217 model-years (logit, size-class and learned nests, random coefficients), the count
  instruments and every model's learned nest (:func:`estimate_demand_systems`,
  :func:`nest_counts`, :func:`learned_groups`).
"""

# The public names of five modules, re-exported: __all__ joins the modules' own lists. Of
# choose_k (a script's machinery, imported explicitly) only the two loaders of its results.
from . import demand_systems, instruments, panel, sample, statistics
from .choose_k import load_groups, load_k_curve
from .demand_systems import *  # noqa: F401,F403
from .instruments import *  # noqa: F401,F403
from .panel import *  # noqa: F401,F403
from .sample import *  # noqa: F401,F403
from .statistics import *  # noqa: F401,F403

__all__ = [*sample.__all__, *instruments.__all__, *panel.__all__, *statistics.__all__,
           *demand_systems.__all__, "load_k_curve", "load_groups"]
