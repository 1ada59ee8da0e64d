r"""Counterfactual prices and welfare for a given demand model: costs, mergers, diversion.

One idea: given a demand model estimated on the data (logit, nested logit or random-coefficients
logit), recover marginal costs from the firms' first-order conditions, change ownership (a
merger), solve for the new Bertrand-Nash prices and measure what consumers gain or lose. Market by
market (a market is the unit of the pricing game), vectorised over products and consumers within a
market. :func:`course_lib.pyblp_bridge.pyblp_demands` builds the demand objects from pyBLP's
estimates.

The package, one idea per module:

- :mod:`.demand`: one market's demand at any prices (:class:`LogitDemand`,
  :class:`NestedLogitDemand`, :class:`RCLogitDemand`): shares, the split of their price
  derivatives and consumer surplus.
- :mod:`.markets`: the demand objects of every market from stacked data
  (:func:`logit_demands`, :func:`nested_logit_demands`, :func:`rc_logit_demands`).
- :mod:`.simulation`: costs, elasticities and diversion ratios in one market, and mergers
  (:func:`recover_costs`, :func:`merge_firm_ids`, :func:`simulate_merger`,
  :class:`MergerResult`).
"""

# The public names of the three modules, re-exported: __all__ joins the modules' own lists.
from . import demand, markets, simulation
from .demand import *  # noqa: F401,F403
from .markets import *  # noqa: F401,F403
from .simulation import *  # noqa: F401,F403

__all__ = [*demand.__all__, *markets.__all__, *simulation.__all__]
