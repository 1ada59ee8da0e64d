r"""The four demand systems of the automobile data, estimated as chapter 24 estimates them.

Chapter 24 estimates each model step by step and checks it against pyBLP; chapter 25 (their
substitution patterns and a merger) rebuilds all four with :func:`estimate_demand_systems`.
They share the characteristics :data:`X_NAMES` (and a constant) and BLP's eight "sums of
characteristics" instruments for price:

1. the logit, :math:`\log(s_{jt}/s_{0t}) = x_{jt}\beta + \alpha p_{jt} + \xi_{jt}`, by 2SLS
   (:func:`course_lib.iv.tsls`);
2. the nested logit with size classes (:func:`course_lib.pyblp_bridge.size_class_nests`), by
   Berry's 2SLS (:func:`course_lib.nested_logit.berry_regression`) with one count instrument
   per nest (:func:`nest_counts`);
3. BLP's random coefficients with a supply side, by pyBLP
   (:func:`course_lib.pyblp_bridge.pyblp_autos_rc_solve`);
4. the nested logit with nests learned from the data (:func:`learned_groups`), by Berry's 2SLS
   with pyBLP's bounds on :math:`\rho_g = 1 - \sigma_g` (:data:`RHO_BOUNDS`).

The logit and the two nested logits are also solved by pyBLP, for the checks of the
counterfactuals at pyBLP's estimates.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import iv, logit, merger
from .. import pyblp_bridge as pb
from ..data import load_blp_autos
from ..nested_logit import berry_regression
from ..nests import fit_assignment
from .choose_k import REGRESSORS, load_groups
from .panel import panel_sample

__all__ = ["X_NAMES", "LEARNED_K", "RHO_BOUNDS", "MODELS", "nest_counts", "learned_groups",
           "DemandSystems", "estimate_demand_systems"]

#: The characteristics of every model's mean utility (with a constant and the price).
X_NAMES = ("hpwt", "air", "mpd", "space")
#: The slides' number of learned nests.
LEARNED_K = 8
#: pyBLP's default bounds on :math:`\rho_g = 1 - \sigma_g`.
RHO_BOUNDS = (0.0, 0.99)
#: The four models, in the chapters' order.
MODELS = ("logit", "size-class nests", "random coefficients", "learned nests")


def nest_counts(nest_ids, market_ids) -> np.ndarray:
    r"""Count instruments for the log within-nest shares, one column per nest.

    .. math::
        z_{jt,g} = 1\{g(j) = g\}\; \big|\{k \ne j : g(k) = g,\ t(k) = t\}\big|,

    the number of *other* products of product :math:`j`'s nest in its market, in its nest's
    column (zero in the others). More rivals in the nest lower :math:`s_{j|g}`; with the
    characteristics exogenous, so is their number.

    Parameters
    ----------
    nest_ids, market_ids : array_like, shape (N,)

    Returns
    -------
    ndarray, shape (N, G)
        Columns in the order of the sorted nest ids.
    """
    nest_ids, market_ids = np.asarray(nest_ids), np.asarray(market_ids)
    others = pd.Series(nest_ids).groupby([market_ids, nest_ids]).transform("size").to_numpy() - 1
    return np.column_stack([(nest_ids == g) * others for g in np.unique(nest_ids)])


def learned_groups(K: int = LEARNED_K) -> pd.Series:
    r"""Every model's learned nest: the stored groups of the slides' 82 models, and step (b) for the others.

    The groups' slopes and year intercepts are fitted on the 82-model panel
    (:func:`course_lib.nests.fit_assignment` at the stored groups, :func:`load_groups`); every
    other model goes to the group that fits its log share ratios best over the years it is
    sold, :math:`\hat g(j) = \arg\min_g \sum_{t \in \mathcal T_j} (y_{jt} - \hat\beta^{g\prime}
    w_{jt} - \hat\lambda^g_t)^2` (:meth:`course_lib.nests.GFEResult.assign`, a model seen once
    on its one year). The 82 keep their stored groups.

    Returns
    -------
    pandas.Series
        Group of each of the 557 models, indexed by model id.
    """
    groups = load_groups(K)
    fitted = fit_assignment(panel_sample(), groups, regressors=REGRESSORS)
    assigned, _ = fitted.assign(panel_sample(rule="all"))
    assigned[groups.index] = groups
    return assigned


@dataclass
class DemandSystems:
    """The four demand systems of :data:`MODELS`, estimated on all of BLP's model-years.

    Attributes
    ----------
    products : pandas.DataFrame
        The data (:func:`course_lib.data.load_blp_autos`).
    logit : course_lib.iv.IVResult
        Model 1's 2SLS.
    size_nests, learned_nests : ndarray of int, shape (N,)
        Each row's size class and learned nest.
    size, learned : course_lib.nested_logit.NestedLogitResult
        Models 2 and 4 (model 4 with :data:`RHO_BOUNDS`).
    rc : pyblp.ProblemResults
        Model 3.
    pyblp : dict
        pyBLP's estimates of the logit and the two nested logits (and ``rc``), by model name.
    """

    products: pd.DataFrame
    logit: iv.IVResult
    size_nests: np.ndarray
    size: object
    rc: object
    learned_nests: np.ndarray
    learned: object
    pyblp: dict

    def demands(self) -> dict:
        """Each model's :mod:`course_lib.merger` demand objects, by model name and then year."""
        p = self.products
        prices, market_ids = p["prices"].to_numpy(), p["market_ids"].to_numpy()
        y = logit.logit_inversion(p["shares"], market_ids)
        nested = {name: merger.nested_logit_demands(fit.delta, prices, fit.alpha, nests,
                                                     fit.sigma.to_dict(), market_ids)
                  for name, fit, nests in [("size-class nests", self.size, self.size_nests),
                                           ("learned nests", self.learned, self.learned_nests)]}
        return {"logit": merger.logit_demands(y, prices, self.logit.params["prices"], market_ids),
                "size-class nests": nested["size-class nests"],
                "random coefficients": pb.pyblp_demands(self.rc),
                "learned nests": nested["learned nests"]}


def estimate_demand_systems(products: pd.DataFrame | None = None, agents: pd.DataFrame | None = None,
                            K: int = LEARNED_K) -> DemandSystems:
    """Estimate the four demand systems of :data:`MODELS` (see the module's docstring).

    Parameters
    ----------
    products, agents : pandas.DataFrame, optional
        BLP's data (default: :func:`course_lib.data.load_blp_autos` and pyBLP's agents).
    K : int
        Number of learned nests (stored groups, :func:`learned_groups`).

    Returns
    -------
    DemandSystems
    """
    products = load_blp_autos() if products is None else products
    agents = pb.blp_autos_data()[1] if agents is None else agents
    shares, prices = products["shares"].to_numpy(), products["prices"].to_numpy()
    market_ids = products["market_ids"].to_numpy()
    chars = products[list(X_NAMES)].to_numpy()
    Z_blp = products[list(pb.BLP_AUTOS_INSTRUMENTS)].to_numpy()
    ones = np.ones(len(products))
    y = logit.logit_inversion(shares, market_ids)
    logit_fit = iv.tsls(y, np.column_stack([ones, prices, chars]), np.column_stack([ones, chars, Z_blp]),
                        names=["1", "prices", *X_NAMES])

    def nested(nests, **bounds):
        fit = berry_regression(shares, prices, chars, nests, market_ids, x_names=list(X_NAMES),
                               instruments=np.column_stack([Z_blp, nest_counts(nests, market_ids)]),
                               **bounds)
        results, _ = pb.pyblp_autos_nested_logit_solve(products, nests,
                                                       extra_instruments=nest_counts(nests, market_ids))
        return fit, results

    size_nests = pb.size_class_nests(products["space"])
    size_fit, size_pyblp = nested(size_nests)
    learned_nests = learned_groups(K).loc[products["model_ids"]].to_numpy()
    learned_fit, learned_pyblp = nested(learned_nests, rho_bounds=RHO_BOUNDS)
    with warnings.catch_warnings():
        # BLP's importance-sampling weights sum to 0.154 in every year, by design.
        warnings.filterwarnings("ignore", message="Integration weights")
        rc = pb.pyblp_autos_rc_solve(products, agents, supply=True)
    return DemandSystems(products, logit_fit, size_nests, size_fit, rc, learned_nests, learned_fit,
                         {"logit": pb.pyblp_autos_logit_solve(products), "size-class nests": size_pyblp,
                          "random coefficients": rc, "learned nests": learned_pyblp})
