r"""Differentiation instruments (Gandhi and Houde 2019) for the RC-logit GMM problem."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .problem import BLPProblem

__all__ = ["DIFFERENTIATION_NAMES", "add_differentiation_instruments"]

DIFFERENTIATION_NAMES = ("diff_EngineSize_own", "diff_EngineSize_rival", "diff_price_hat_own", "diff_price_hat_rival")


def add_differentiation_instruments(problem: BLPProblem, products: pd.DataFrame) -> pd.DataFrame:
    r"""Add quadratic differentiation instruments (Gandhi and Houde 2019) to ``products``.

    For a characteristic :math:`x`, product j's instruments are the sums of squared distances
    :math:`\sum_k (x_k - x_j)^2` over the firm's other products and over rivals' products in the
    market (pyBLP's ``build_differentiation_instruments``, version ``"quadratic"``). Price is
    endogenous, so its distance is measured in the exogenous first-stage prediction
    :math:`\hat p = Z (Z'Z)^{-1} Z' p` on ``problem``'s instruments.

    Parameters
    ----------
    problem : BLPProblem
        Supplies the instruments Z for the price prediction (rows in ``products``' order).
    products : DataFrame
        The products the problem was built from.

    Returns
    -------
    DataFrame
        ``products`` with ``price_hat`` and the columns :data:`DIFFERENTIATION_NAMES`; build a
        problem on it with ``excluded=EXCLUDED_NAMES + DIFFERENTIATION_NAMES``.
    """
    import pyblp

    if len(products) != problem.Z.shape[0]:
        raise ValueError(f"products has {len(products)} rows; the problem has {problem.Z.shape[0]}.")
    first_stage = np.linalg.lstsq(problem.Z, products["prices"].to_numpy(), rcond=None)[0]
    augmented = products.assign(price_hat=problem.Z @ first_stage)
    instruments = pyblp.build_differentiation_instruments(
        pyblp.Formulation("0 + EngineSize + price_hat"), augmented, version="quadratic")
    return augmented.assign(**{name: instruments[:, k] for k, name in enumerate(DIFFERENTIATION_NAMES)})
