"""The slides' descriptive statistics of the automobile sample, and their published tables.

Per-model averages (:func:`model_averages`), Welch's t (:func:`welch_t`), the appendix
tables (:func:`model_statistics`), each model's entry and exit (:func:`entry_exit`) and
the slides' tables as published (:func:`load_slides_tables`, ``data/results/``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .._checks import plain
from ..data import RESULTS_DIR
from .sample import model_spells

__all__ = [
    "RESULTS_DIR",
    "APPENDIX_LABELS",
    "model_averages",
    "welch_t",
    "model_statistics",
    "entry_exit",
    "GROUP_VARIABLES",
    "group_characteristics",
    "load_slides_tables",
]

#: The rows of the slides' appendix tables: our variable name -> the slides' label.
APPENDIX_LABELS = {
    "price": "Price",
    "mpd": "Miles per Dollar",
    "air": "AC",
    "mpg": "Miles per Gallon",
    "space": "Space",
    "hpwt": "Horse Power",
    "shares": "Market Share",
    "years": "Yearly Observations",
    "entry": "Year Entry",
    "exit": "Year Exit",
}


#: The rows of the slides' first-step group table: our variable name -> the slides' label.
GROUP_VARIABLES = {
    "shares": "Shares",
    "price": "Price",
    "log_hpwt": "Log HP",
    "log_mpd": "Log Miles per $",
    "air": "AC",
    "log_space": "Log Space",
}


def group_characteristics(panel: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    r"""The slides' first-step group table: each group's shares and characteristics.

    Columns ``mean`` and ``std``: the variables over all rows of the panel (the slides' Mean
    and Std columns are row-level: ``tests/test_autos.py``). One column per group g: its
    share, the mean over the years where the group is present of the group's total share
    :math:`s_{gt} = \sum_{j \in g} s_{jt}`, and the other variables' means over the group's
    rows; the last row, ``products``, counts the group's models.

    Parameters
    ----------
    panel : pandas.DataFrame
        One row per model and year (:func:`course_lib.autos.panel_sample`).
    groups : pandas.Series
        The group of each model, indexed by ``product_ids`` (e.g. ``GFEResult.labels``).

    Returns
    -------
    pandas.DataFrame
        Rows: the keys of :data:`GROUP_VARIABLES` and ``products``.
    """
    missing = sorted(set(panel["product_ids"]) - set(groups.index))
    if missing:
        raise ValueError(f"groups has no group for model(s) {missing[:5]}.")
    group = groups.loc[panel["product_ids"]].to_numpy()
    columns = list(GROUP_VARIABLES)
    table = panel[columns].agg(["mean", "std"]).T
    by_group = panel[columns].groupby(group).mean()
    by_group["shares"] = panel.groupby([group, panel["market_ids"].to_numpy()])["shares"].sum().groupby(level=0).mean()
    table = pd.concat([table, by_group.T], axis=1)
    counts = groups.value_counts().reindex(by_group.index)
    table.loc["products"] = [np.nan, np.nan, *counts.to_numpy(dtype=float)]
    table.columns = ["mean", "std", *[plain(g) for g in by_group.index]]
    return table


def model_averages(panel: pd.DataFrame) -> pd.DataFrame:
    r"""Per model: the average over its years of each characteristic, and its spell.

    .. math::
        \bar x_j = \frac{1}{|T_j|} \sum_{t \in T_j} x_{jt}, \qquad
        \text{years}_j = |T_j|, \quad \text{entry}_j = \min T_j, \quad \text{exit}_j = \max T_j,

    for x in ``price`` (hdm's), ``mpd``, ``air``, ``mpg``, ``space``, ``hpwt``, ``shares``.
    ``panel`` has one row per model and year (:func:`panel_sample`).
    """
    columns = ["price", "mpd", "air", "mpg", "space", "hpwt", "shares"]
    missing = [c for c in ("product_ids", "market_ids", *columns) if c not in panel.columns]
    if missing:
        raise ValueError(f"panel lacks the column(s) {missing}.")
    twice = panel.duplicated(["product_ids", "market_ids"])
    if twice.any():
        row = panel[twice].iloc[0]
        raise ValueError(f"Model {plain(row['product_ids'])!r} has several rows in year {plain(row['market_ids'])}; "
                         "deduplicate the panel first (course_lib.autos.deduplicate).")
    averages = panel.groupby("product_ids")[columns].mean()
    spells = panel.groupby("product_ids")["market_ids"].agg(years="size", entry="min", exit="max")
    return averages.join(spells)


def welch_t(a, b) -> float:
    r"""Welch's t of the difference of two means,
    :math:`t = (\bar a - \bar b) / \sqrt{s_a^2 / n_a + s_b^2 / n_b}` (sample variances)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"welch_t needs at least two observations in each group; got {len(a)} and {len(b)}.")
    return float((a.mean() - b.mean()) / np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))


def model_statistics(sample: pd.DataFrame, full: pd.DataFrame) -> pd.DataFrame:
    r"""The slides' appendix tables: statistics across models of the model averages.

    The slides computed their appendix *per model*: each model's average over its years
    (:func:`model_averages`), then the mean, standard deviation (n - 1), median, minimum and
    maximum across the models (82 in the sample, 557 in the full data). Row-level
    statistics do not match their numbers; model-level ones do. With :func:`panel_sample`'s
    defaults, 87 of the 100 printed statistics (mean to max; three decimals, the year
    means in whole years) are reproduced exactly: all of "Yearly Observations", "Year
    Entry", "Year Exit", "AC", "Space", "Horse Power" and "Market Share", and all but one
    of the medians, minima and maxima of "Price", "Miles per Dollar" and "Miles per
    Gallon" (the slides' sample price mean, printed "147", is -0.147). Thirteen differ, by
    at most 0.011: the mean and standard deviation of "Price", "Miles per Dollar" and
    "Miles per Gallon" in both tables (sample price: ours -0.157 and 7.917, theirs -0.147
    and 7.911) and the full data's median miles per gallon (2.074, theirs 2.07). These
    are statistics that depend on which row is kept where a model has several in a year,
    and the slides kept other rows than the first in file order: of the 49,152 ways to
    keep one row in each of the sample's 15 duplicated cells, 3 reproduce both their
    sample appendix and their group table's Mean/Std columns exactly
    (``tests/test_autos.py``); no simple rule (first, last, largest share, sorted by any
    column) does.

    The "t-stat" column is Welch's t (:func:`welch_t`) of the sample's model averages
    against the full data's, :math:`(\bar x_S - \bar x_F) / \sqrt{s_S^2/n_S + s_F^2/n_F}`, and
    its negative in the full table. The slides evidently computed it from their printed,
    rounded means and standard deviations: that reproduces their price, AC, miles per
    gallon, space, horse power and market share t-stats (market share 0.00 because both
    means print as .001); from unrounded values the market share t is 3.44. Their entry
    and exit t-stats (-4.62, 20.41) match neither reading.

    Parameters
    ----------
    sample, full : pandas.DataFrame
        Panels with one row per model and year, e.g. ``panel_sample(rule="slides")`` and
        ``panel_sample(rule="all")``.

    Returns
    -------
    pandas.DataFrame
        Rows: the keys of :data:`APPENDIX_LABELS` in the slides' order; columns: a
        MultiIndex (``"sample"`` / ``"full"``) x (``mean``, ``sd``, ``median``, ``min``,
        ``max``, ``t_stat``). ``attrs["n"]`` holds the numbers of models.
    """
    S, F = model_averages(sample), model_averages(full)
    rows = list(APPENDIX_LABELS)
    tables = {}
    for name, A, B in (("sample", S, F), ("full", F, S)):
        stats = A[rows].agg(["mean", "std", "median", "min", "max"]).T
        stats.columns = ["mean", "sd", "median", "min", "max"]
        stats["t_stat"] = [welch_t(A[r], B[r]) for r in rows]
        tables[name] = stats
    result = pd.concat(tables, axis=1)
    result.index.name = "variable"
    result.attrs["n"] = {"sample": len(S), "full": len(F)}
    return result


def entry_exit(panel: pd.DataFrame) -> pd.DataFrame:
    """Per product of a panel: ``first_year``, ``last_year``, ``years`` present,
    ``longest_run`` of consecutive years and ``firm_ids`` (of its first row), sorted by
    entry, exit and id: the data of a figure of the panel's entry and exit."""
    missing = [c for c in ("product_ids", "market_ids") if c not in panel.columns]
    if missing:
        raise ValueError(f"panel lacks the column(s) {missing}.")
    if panel.empty:
        raise ValueError("panel has no rows.")
    spells = model_spells(panel["product_ids"], panel["market_ids"])
    if "firm_ids" in panel.columns:
        spells["firm_ids"] = panel.sort_values("market_ids", kind="stable").groupby("product_ids")["firm_ids"].first()
    spells = spells.reset_index().sort_values(["first_year", "last_year", "product_ids"], kind="stable")
    return spells.reset_index(drop=True)


def load_slides_tables(directory: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """The slides' application tables as published (Almagro, Lai and Manresa 2024), read
    from ``data/results/`` (each file names its source and readings in its header):

    - ``"appendix"``: ``slides_autos_appendix.csv``, both appendix tables; index
      (``table``, ``variable``), columns ``label``, ``mean``, ``sd``, ``median``, ``min``,
      ``max``, ``t_stat``.
    - ``"groups"``: ``slides_autos_groups.csv``, the first-step group characteristics;
      index ``group`` (``mean``, ``std``, ``1``..``8``), columns ``shares``, ``price``,
      ``log_hpwt``, ``log_mpd``, ``air``, ``log_space``, ``type``, ``products``.
    - ``"second_step"``: ``slides_autos_second_step.csv``; index ``parameter``, columns
      ``label``, ``group``, ``estimate``, ``se``, ``stars``, ``first_stage_f``.
    """
    directory = Path(directory) if directory is not None else RESULTS_DIR
    read = {"keep_default_na": False, "na_values": [""], "comment": "#", "skipinitialspace": True}
    appendix = pd.read_csv(directory / "slides_autos_appendix.csv", **read).set_index(["table", "variable"])
    groups = pd.read_csv(directory / "slides_autos_groups.csv", dtype={"group": str, "type": str}, **read)
    groups["products"] = groups["products"].astype("Int64")
    second = pd.read_csv(directory / "slides_autos_second_step.csv", dtype={"stars": str}, **read)
    second["group"] = second["group"].astype("Int64")
    return {"appendix": appendix, "groups": groups.set_index("group"), "second_step": second.set_index("parameter")}
