"""Unit tests of course_lib.autos (and data.load_blp_autos): the BLP automobile data, the
data-driven-nests sample, the slides' statistics, the instruments and the first stage.

Tolerances: the statistics are compared with the slides at their printed digits (three
decimals; the slides' values are their rounded numbers); the instruments against pyBLP's
builders at 1e-10 relative (sums of at most ~150 squares: the rounding floor is ~1e-15);
F statistics at 0.01 (their rounding-level variation is below 1e-9).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib import autos, data

SLIDES_YEARS = (1986, 1987, 1988)


@pytest.fixture(scope="module")
def products() -> pd.DataFrame:
    return data.load_blp_autos()


@pytest.fixture(scope="module")
def variables(products) -> pd.DataFrame:
    return autos.product_variables(products)


@pytest.fixture(scope="module")
def sample(products) -> pd.DataFrame:
    return autos.panel_sample(products)


@pytest.fixture(scope="module")
def full(products) -> pd.DataFrame:
    return autos.panel_sample(products, rule="all", first_stage=None)


@pytest.fixture(scope="module")
def slides():
    return autos.load_slides_tables()


@pytest.fixture(scope="module")
def pyblp():
    pyblp = pytest.importorskip("pyblp")
    pyblp.options.verbose = False
    return pyblp


# ----------------------------------------------------------------------------- the data


def test_load_blp_autos(products):
    assert products.shape[0] == 2217
    assert products["car_ids"].is_unique
    assert products["clustering_ids"].nunique() == 999
    assert products["model_ids"].nunique() == 557
    assert (products["model_ids"] + products["clustering_ids"].str[-2:] == products["clustering_ids"]).all()
    assert products["clustering_ids"].str[-2:].astype(int).between(71, 90).all()
    assert sorted(products["market_ids"].unique()) == list(range(1971, 1991))
    assert (products["trend"] == products["market_ids"] - 1971).all()
    assert products["prices"].mean() == pytest.approx(11.761, abs=5e-4)
    # A copy each call: editing one does not change the next.
    products2 = data.load_blp_autos()
    products2.loc[0, "shares"] = -1.0
    assert data.load_blp_autos().loc[0, "shares"] > 0


def test_years_per_model(products):
    years = autos.model_years(products)
    assert len(years) == 557
    assert years["years"].mean() == pytest.approx(3.899, abs=5e-4)  # distinct years
    assert years["rows"].mean() == pytest.approx(3.980, abs=5e-4)  # rows, with variants
    assert (years["rows"] > years["years"]).sum() == 20
    assert years["years"].sum() == 2172


def test_spells_on_a_toy_panel():
    # Model A: 1971-1973 and 1975-1976 (5 years, run 3); B: 1971, 73, 75, 77, 79 (5 years, run 1);
    # C: 1986-1988 twice each year (3 distinct years, 6 rows).
    years = {"A": [1971, 1972, 1973, 1975, 1976], "B": [1971, 1973, 1975, 1977, 1979], "C": [1986, 1987, 1988] * 2}
    toy = pd.DataFrame([(y, f"{m}XX{str(y)[2:]}") for m, ys in years.items() for y in ys],
                       columns=["market_ids", "clustering_ids"])
    toy = toy.assign(firm_ids=1, shares=0.01, prices=10.0, hpwt=0.4, air=0, mpd=2.0, mpg=2.0, space=1.2,
                     car_ids=np.arange(len(toy)))
    spells = autos.model_years(toy)
    assert spells.loc["AXX", ["years", "longest_run", "first_year", "last_year"]].tolist() == [5, 3, 1971, 1976]
    assert spells.loc["BXX", ["years", "longest_run"]].tolist() == [5, 1]
    assert spells.loc["CXX", ["years", "longest_run", "rows"]].tolist() == [3, 3, 6]
    assert autos.select_models(toy, "stated").tolist() == ["AXX"]
    assert autos.select_models(toy, autos.SampleRule(5)).tolist() == ["AXX", "BXX"]
    assert autos.select_models(toy, autos.SampleRule(3, 3, SLIDES_YEARS)).tolist() == ["CXX"]


# ----------------------------------------------------------------------------- the sample rules


def test_rule_counts(products):
    stated = autos.select_models(products, "stated")
    slides_models = autos.select_models(products, "slides")
    assert len(stated) == 169
    assert len(slides_models) == 82
    assert len(autos.select_models(products, "all")) == 557
    assert set(slides_models) <= set(stated)
    # Five years alone keep one more model: PG505, six years but no three in a row.
    five = autos.select_models(products, autos.SampleRule(5))
    assert sorted(set(five) - set(stated)) == ["PG505"]
    # The slides' rule is the stated one plus presence in 1986-1988.
    assert list(autos.select_models(products, autos.SampleRule(5, 1, SLIDES_YEARS))) == list(slides_models)


def test_panel_sample_layout(sample, products):
    expected = ["market_ids", "product_ids", "firm_ids", "car_ids", "clustering_ids", "shares", "outside_shares",
                "prices", "price", "hpwt", "air", "mpd", "mpg", "space", "log_hpwt", "log_mpd", "log_space",
                *autos.BLP_INSTRUMENTS, *autos.instrument_columns("gh"), "price_hat"]
    assert list(sample.columns) == expected
    assert len(sample) == 745 and sample["product_ids"].nunique() == 82
    assert not sample.duplicated(["product_ids", "market_ids"]).any()
    assert sample[["market_ids", "product_ids"]].equals(
        sample[["market_ids", "product_ids"]].sort_values(["market_ids", "product_ids"]).reset_index(drop=True))
    assert sample.groupby("product_ids").size().min() == 5
    assert sample.groupby("product_ids")["market_ids"].agg(lambda y: set(SLIDES_YEARS) <= set(y)).all()
    # Every column is the raw row's own value (the row kept is named by car_ids).
    raw = products.set_index("car_ids").loc[sample["car_ids"]]
    raw_columns = ("shares", "prices", "hpwt", "air", "mpd", "mpg", "space", "firm_ids", "market_ids")
    for c in (*raw_columns, *autos.BLP_INSTRUMENTS):
        np.testing.assert_array_equal(sample[c].to_numpy(), raw[c].to_numpy())
    np.testing.assert_array_equal(sample["product_ids"].to_numpy(), raw["model_ids"].to_numpy())
    np.testing.assert_allclose(sample["log_mpd"], np.log(raw["mpd"]), rtol=1e-14)


def test_hdm_price(sample, products):
    # hdm's price: pyBLP's minus its mean over all 2,217 rows (not the sample's, not 11.761 rounded).
    np.testing.assert_allclose(sample["price"], sample["prices"] - products["prices"].mean(), rtol=0, atol=1e-12)
    assert abs(sample["price"].mean()) > 0.1  # the sample's own mean is not removed


def test_outside_shares(sample, products):
    # 1 minus the sum of ALL the year's shares (every model and variant), not the sample's.
    year_totals = products.groupby("market_ids")["shares"].sum()
    np.testing.assert_allclose(sample["outside_shares"], 1 - year_totals.loc[sample["market_ids"]].to_numpy(),
                               rtol=1e-14)
    assert (sample.groupby("market_ids")["outside_shares"].nunique() == 1).all()
    sample_totals = sample.groupby("market_ids")["shares"].sum()
    # The sample's models have 18-78% of a year's inside share: its own outside share would be larger.
    assert ((1 - sample_totals) - sample.groupby("market_ids")["outside_shares"].first()).min() > 0.02
    assert sample["outside_shares"].between(0.87, 0.92).all()


def test_duplicates(products, variables, full, sample):
    cells = autos.duplicated_model_years(products)
    assert len(cells) == 40 and cells["model_ids"].nunique() == 20
    assert cells["rows"].sum() == 85 and (cells["rows"] - 1).sum() == 45
    assert len(full) == 2217 - 45 == 2172
    # "first" in file order is the smallest car_ids of every duplicated cell.
    first = full.set_index(["product_ids", "market_ids"])["car_ids"]
    smallest = cells.set_index(["model_ids", "market_ids"])["car_ids"].map(min)
    np.testing.assert_array_equal(first.loc[list(smallest.index)].to_numpy(), smallest.to_numpy())
    # In the slides' sample: 761 rows, 16 dropped, in 15 cells of 4 models.
    in_sample = cells[cells["model_ids"].isin(sample["product_ids"])]
    assert len(in_sample) == 15
    assert sorted(in_sample["model_ids"].unique()) == ["AD5000", "DGCOLT", "MB560S", "TYCORO"]
    assert variables["product_ids"].isin(sample["product_ids"]).sum() == 761
    # "last" and "largest" keep other rows; every rule keeps one row per cell.
    last = autos.deduplicate(variables, "last").set_index(["product_ids", "market_ids"])["car_ids"]
    np.testing.assert_array_equal(last.loc[list(smallest.index)].to_numpy(),
                                  cells["car_ids"].map(max).to_numpy())
    largest = autos.deduplicate(variables, "largest")
    assert len(largest) == 2172
    best = variables.loc[variables.groupby(["product_ids", "market_ids"])["shares"].idxmax(), "car_ids"]
    assert set(largest["car_ids"]) == set(best)
    # The rule only chooses rows: the models kept do not depend on it.
    for rule in autos.DUPLICATE_RULES:
        panel = autos.panel_sample(products, duplicates=rule, first_stage=None)
        assert sorted(panel["product_ids"].unique()) == sorted(sample["product_ids"].unique())
        assert len(panel) == 745


def test_entry_exit(sample):
    spells = autos.entry_exit(sample)
    assert len(spells) == 82
    assert spells["first_year"].between(1971, 1986).all() and spells["last_year"].between(1988, 1990).all()
    assert spells["years"].min() == 5 and spells["years"].max() == 20
    assert spells["years"].mean() == pytest.approx(9.085, abs=5e-4)
    assert (spells["longest_run"] >= 3).all()
    assert list(spells.columns) == ["product_ids", "first_year", "last_year", "years", "longest_run", "firm_ids"]
    assert spells[["first_year", "last_year"]].apply(tuple, axis=1).is_monotonic_increasing


# ----------------------------------------------------------------------------- the slides' statistics

# Cells where the model averages depend on which row of a duplicated (model, year) is kept, and
# where the slides kept other rows than the first in file order (see test_slides_row_choice).
ROW_CHOICE_CELLS = {(t, v, s) for t in ("sample", "full") for v in ("price", "mpd", "mpg") for s in ("mean", "sd")}
ROW_CHOICE_CELLS |= {("full", "mpg", "median")}


def _compare(ours: float, printed: float, variable: str, statistic: str) -> bool:
    """Ours agrees with the slides' printed value: three decimals, the year means whole years."""
    if variable in ("entry", "exit") and statistic == "mean":
        return round(ours) == printed
    return round(ours, 3) == pytest.approx(printed, abs=1e-9)


def test_appendix_reproduced(sample, full, slides):
    ours = autos.model_statistics(sample, full)
    assert ours.attrs["n"] == {"sample": 82, "full": 557}
    assert list(ours.index) == list(autos.APPENDIX_LABELS)
    printed = slides["appendix"]
    mismatched = set()
    for table in ("sample", "full"):
        for variable in autos.APPENDIX_LABELS:
            for statistic in ("mean", "sd", "median", "min", "max"):
                value, target = ours.loc[variable, (table, statistic)], printed.loc[(table, variable), statistic]
                if not _compare(value, target, variable, statistic):
                    mismatched.add((table, variable, statistic))
                    assert abs(value - target) < 0.011, (table, variable, statistic, value, target)
    assert mismatched == ROW_CHOICE_CELLS
    # The printed "147" is -0.147 (ours -0.157, the row choice), not +0.147.
    assert abs(ours.loc["price", ("sample", "mean")] + 0.147) < 0.011


def test_t_stat_reading(sample, full, slides):
    ours = autos.model_statistics(sample, full)
    printed = slides["appendix"]
    np.testing.assert_allclose(ours[("full", "t_stat")], -ours[("sample", "t_stat")], rtol=1e-12)
    assert ours.loc["price", ("sample", "t_stat")] == pytest.approx(-1.0635, abs=1e-3)  # printed -1.06
    assert ours.loc["years", ("sample", "t_stat")] == pytest.approx(10.405, abs=1e-3)  # printed 10.42
    assert ours.loc["shares", ("sample", "t_stat")] == pytest.approx(3.444, abs=1e-3)  # printed 0.00
    # Welch's t from the slides' printed (rounded) means and sds reproduces six of their t-stats.
    S, F = printed.loc["sample"], printed.loc["full"]
    from_printed = (S["mean"] - F["mean"]) / np.sqrt(S["sd"] ** 2 / 82 + F["sd"] ** 2 / 557)
    for variable in ("price", "air", "mpg", "space", "hpwt", "shares"):
        assert round(from_printed[variable], 2) == pytest.approx(S.loc[variable, "t_stat"], abs=1e-9), variable
    # Entry and exit match neither reading.
    for variable in ("entry", "exit"):
        assert abs(from_printed[variable] - S.loc[variable, "t_stat"]) > 2
        assert abs(ours.loc[variable, ("sample", "t_stat")] - S.loc[variable, "t_stat"]) > 0.3


def test_group_table_mean_std(sample, slides):
    # The Mean/Std columns of the slides' group table: row level over the sample's 745 rows.
    printed = slides["groups"]
    ours = sample[["shares", "price", "log_hpwt", "log_mpd", "air", "log_space"]].agg(["mean", "std"])
    for c in ("shares", "log_hpwt", "air", "log_space"):
        assert round(ours.loc["mean", c], 3) == pytest.approx(printed.loc["mean", c], abs=1e-9), c
        assert round(ours.loc["std", c], 3) == pytest.approx(printed.loc["std", c], abs=1e-9), c
    for c in ("price", "log_mpd"):  # the row choice again
        assert 1e-3 < abs(ours.loc["mean", c] - printed.loc["mean", c]) < 0.025
    assert printed.loc[[str(k) for k in range(1, 9)], "products"].sum() == 82


# One of the 3 (of 2**14 * 3 = 49,152) ways to keep one row in each of the sample's 15
# duplicated cells that reproduce all six row-choice cells of the sample's appendix and
# the group table's Mean/Std columns: car_ids kept.
SLIDES_ROWS = {("AD5000", 1980): 1867, ("AD5000", 1981): 2357, ("DGCOLT", 1985): 3351, ("DGCOLT", 1986): 3650,
               ("DGCOLT", 1987): 3954, ("MB560S", 1988): 4363, ("MB560S", 1989): 4460, ("TYCORO", 1971): 1501,
               ("TYCORO", 1972): 1542, ("TYCORO", 1974): 1620, ("TYCORO", 1975): 1660, ("TYCORO", 1976): 1705,
               ("TYCORO", 1977): 1754, ("TYCORO", 1978): 1800, ("TYCORO", 1979): 1854}


def test_slides_row_choice(products, variables, full, slides):
    """The remaining differences are the row kept in duplicated cells: with another choice
    the sample's appendix and the group table's Mean/Std match to every printed digit."""
    cells = autos.duplicated_model_years(products)
    in_sample = cells[cells["model_ids"].isin(autos.select_models(products, "slides"))]
    assert set(zip(in_sample["model_ids"], in_sample["market_ids"])) == set(SLIDES_ROWS)
    surplus = [c for ids, keep in zip(in_sample["car_ids"], in_sample.set_index(["model_ids", "market_ids"]).index)
               for c in ids if c != SLIDES_ROWS[keep]]
    rows = variables[~variables["car_ids"].isin(surplus)]
    panel = autos.deduplicate(rows)
    panel = panel[panel["product_ids"].isin(autos.select_models(products, "slides"))]
    assert len(panel) == 745
    ours = autos.model_statistics(panel, full)
    printed = slides["appendix"]
    for variable in autos.APPENDIX_LABELS:
        for statistic in ("mean", "sd", "median", "min", "max"):
            assert _compare(ours.loc[variable, ("sample", statistic)], printed.loc[("sample", variable), statistic],
                            variable, statistic), (variable, statistic)
    group = slides["groups"]
    for c in ("shares", "price", "log_hpwt", "log_mpd", "air", "log_space"):
        assert round(panel[c].mean(), 3) == pytest.approx(group.loc["mean", c], abs=1e-9), c
        assert round(panel[c].std(), 3) == pytest.approx(group.loc["std", c], abs=1e-9), c


def test_slides_tables(slides):
    appendix, groups, second = slides["appendix"], slides["groups"], slides["second_step"]
    assert appendix.shape == (20, 7)
    assert list(groups.index) == ["mean", "std", *map(str, range(1, 9))]
    assert groups.loc["4", "type"] == "Midsize Premium" and groups.loc["2", "products"] == 11
    assert second.loc["price", "estimate"] == -0.064 and second.loc["sigma_2", "first_stage_f"] == 2.7697
    assert second["group"].dropna().tolist() == list(range(1, 9))
    sigma = second[second.index.str.startswith("sigma")]
    assert sigma["estimate"].between(0, 1).all()


# ----------------------------------------------------------------------------- instruments


def test_blp_instruments_are_pyblps(products, pyblp):
    built = pyblp.build_blp_instruments(pyblp.Formulation("1 + hpwt + air + mpd + space"), products)
    # Own-firm sums (columns 0-4) and rival sums (5-9) of 1, hpwt, air, mpd, space; the file keeps
    # those of 1, hpwt, air, mpd.
    np.testing.assert_allclose(products[list(autos.BLP_INSTRUMENTS)].to_numpy(), built[:, [0, 1, 2, 3, 5, 6, 7, 8]],
                               rtol=1e-10)


@pytest.mark.parametrize("version", autos.DIFFERENTIATION_VERSIONS)
def test_differentiation_instruments_match_pyblp(variables, version, pyblp):
    product_data = {c: variables[c].to_numpy() for c in ("market_ids", "firm_ids", *autos.SLIDES_CHARACTERISTICS)}
    formulation = pyblp.Formulation("0 + " + " + ".join(autos.SLIDES_CHARACTERISTICS))
    theirs = pyblp.build_differentiation_instruments(formulation, product_data, version=version)
    ours = autos.differentiation_instruments(variables, version=version)
    assert list(ours.columns) == autos.instrument_columns("gh")
    if version == "local":  # counts: equal
        np.testing.assert_array_equal(ours.to_numpy(), theirs)
    else:
        np.testing.assert_allclose(ours.to_numpy(), theirs, rtol=1e-10, atol=1e-12)


def test_differentiation_counts_rivals_outside_the_sample(sample, variables):
    # The sample's instruments are those computed over every product of the year ...
    by_car = variables.set_index("car_ids").loc[sample["car_ids"], autos.instrument_columns("gh")]
    np.testing.assert_array_equal(sample[autos.instrument_columns("gh")].to_numpy(), by_car.to_numpy())
    # ... not over the sample alone, whose rival sums are smaller.
    alone = autos.differentiation_instruments(sample)
    rival = [c for c in alone.columns if c.startswith("gh_rival")]
    assert (alone[rival].to_numpy() <= sample[rival].to_numpy() + 1e-9).all()
    assert (sample[rival].to_numpy() - alone[rival].to_numpy()).mean() > 1


def test_local_instruments_are_far_from_ties(variables):
    # 1(|d| < SD) could flip with rounding if a pair sat at SD; the closest is 1e-6 away (relative).
    X = variables[list(autos.SLIDES_CHARACTERISTICS)].to_numpy()
    market = variables["market_ids"].to_numpy()
    differences = [np.abs(X[market == t][:, None] - X[market == t][None]) for t in np.unique(market)]
    sd = np.sqrt(sum((d ** 2).sum(axis=(0, 1)) for d in differences) / sum(len(d) * (len(d) - 1) for d in differences))
    margin = min(np.min(np.abs(d - sd) / sd) for d in differences)
    assert margin > 1e-7


# ----------------------------------------------------------------------------- the first stage

F_VALUES = {  # (rows, year effects) -> F for "blp", "gh", "blp+gh"
    ("full", True): (124.13, 114.02, 106.57),
    ("full", False): (50.31, 115.15, 90.60),
    ("sample", True): (14.74, 30.59, 26.45),
    ("sample", False): (11.84, 25.64, 20.85),
}


@pytest.mark.parametrize("rows, year_effects", list(F_VALUES))
def test_first_stage_f(rows, year_effects, variables, sample):
    data_rows = variables if rows == "full" else sample
    for instruments, expected in zip(autos.INSTRUMENT_SETS, F_VALUES[rows, year_effects]):
        fit = autos.first_stage_price(data_rows, instruments, year_effects=year_effects)
        assert fit.f_statistic == pytest.approx(expected, abs=0.01), instruments
        assert fit.n_obs == (2217 if rows == "full" else 745)
        blp = instruments != "gh"
        assert fit.dropped == (("demand_instruments4", "demand_instruments6") if blp and year_effects else ())


def test_first_stage_fit(variables, sample):
    fit = autos.first_stage_price(variables, "blp+gh")
    W, _ = autos.exogenous_matrix(variables, autos.SLIDES_CHARACTERISTICS, True)
    Z = variables[list(fit.instruments)].to_numpy()
    residual = variables["price"].to_numpy() - fit.fitted.to_numpy()
    # Normal equations: the residual is orthogonal to every regressor and kept instrument.
    scale = np.linalg.norm(np.column_stack([W, Z]), axis=0) * np.linalg.norm(residual)
    assert np.max(np.abs(np.column_stack([W, Z]).T @ residual) / scale) < 1e-10
    # The dropped instruments are linear combinations of the rest: the projection on all of
    # them (a minimum-norm least squares) has the same fitted values.
    every = np.column_stack([W, variables[autos.instrument_columns("blp+gh")].to_numpy()])
    projection = every @ np.linalg.lstsq(every, variables["price"].to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(fit.fitted.to_numpy(), projection, rtol=0, atol=1e-8)
    # The panel's price_hat is the full-data fit at the rows kept (default: GH instruments).
    gh = autos.first_stage_price(variables, "gh")
    np.testing.assert_allclose(sample["price_hat"], gh.fitted.set_axis(variables["car_ids"]).loc[sample["car_ids"]],
                               rtol=1e-12)
    assert sample.attrs["first_stage_f"] == pytest.approx(114.02, abs=0.01)
    # pyBLP's prices or hdm's price: the same fit up to the constant.
    other = autos.first_stage_price(variables, "gh", price="prices")
    np.testing.assert_allclose(other.fitted - gh.fitted, variables["prices"].mean(), rtol=1e-10)
    assert other.f_statistic == pytest.approx(gh.f_statistic, rel=1e-10)
    on_sample = autos.panel_sample(first_stage="sample")
    assert on_sample.attrs["first_stage_f"] == pytest.approx(30.59, abs=0.01)
    assert on_sample.attrs["first_stage_nobs"] == 745


# ----------------------------------------------------------------------------- errors


def test_errors_rules(products):
    with pytest.raises(ValueError, match="Unknown sample rule 'balanced'.*'stated', 'slides', 'all'"):
        autos.select_models(products, "balanced")
    with pytest.raises(ValueError, match="keeps no model"):
        autos.panel_sample(products, autos.SampleRule(21))
    with pytest.raises(ValueError, match="min_years must be an integer of at least 1"):
        autos.select_models(products, autos.SampleRule(0))
    with pytest.raises(ValueError, match="min_years must be an integer"):
        autos.select_models(products, autos.SampleRule(2.5))
    with pytest.raises(ValueError, match="min_consecutive must be an integer"):
        autos.select_models(products, autos.SampleRule(5, True))
    with pytest.raises(ValueError, match="min_consecutive \\(6\\) exceeds min_years \\(5\\)"):
        autos.select_models(products, autos.SampleRule(5, 6))
    with pytest.raises(ValueError, match="year 1995, which is not in the data"):
        autos.select_models(products, autos.SampleRule(5, 3, (1990, 1995)))
    with pytest.raises(ValueError, match="rule must be the name of a rule"):
        autos.select_models(products, 82)
    with pytest.raises(ValueError, match=r"present_in must be a sequence of years.*got 1986\."):
        autos.select_models(products, autos.SampleRule(5, 3, 1986))
    # A rule that leaves no product on a subset of the data: two years cannot give three.
    with pytest.raises(ValueError, match="keeps no model"):
        autos.select_models(products[products["market_ids"] <= 1972], autos.SampleRule(3))


def test_errors_choices(products, variables):
    with pytest.raises(ValueError, match="Unknown method 'middle'.*'first', 'last', 'largest'"):
        autos.panel_sample(products, duplicates="middle")
    with pytest.raises(ValueError, match="Unknown method 'cubic'.*'quadratic', 'local'"):
        autos.panel_sample(products, differentiation="cubic")
    with pytest.raises(ValueError, match="Unknown method 'both'.*'full', 'sample'"):
        autos.panel_sample(products, first_stage="both")
    with pytest.raises(ValueError, match="Unknown method 'hausman'.*'blp', 'gh', 'blp\\+gh'"):
        autos.panel_sample(products, instruments="hausman")
    with pytest.raises(ValueError, match="Unknown method 'first'"):
        autos.differentiation_instruments(variables, version="first")


def test_errors_shares(products):
    crowded = products.copy()
    crowded.loc[crowded["market_ids"] == 1980, "shares"] *= 20
    with pytest.raises(ValueError, match="Shares in year 1980 sum to .* no outside share"):
        autos.panel_sample(crowded)
    zero = products.copy()
    zero.loc[5, "shares"] = 0.0
    with pytest.raises(ValueError, match=f"Share of model '{products.loc[5, 'model_ids']}' in year 1971 is 0"):
        autos.panel_sample(zero)
    missing = products.copy()
    missing.loc[7, "shares"] = np.nan
    with pytest.raises(ValueError, match="in year 1971 is nan"):
        autos.product_variables(missing)
    light = products.copy()
    light.loc[3, "hpwt"] = 0.0
    with pytest.raises(ValueError, match=f"hpwt of model '{products.loc[3, 'model_ids']}' in year 1971 is 0"):
        autos.product_variables(light)


def test_errors_inputs(products, variables, sample):
    with pytest.raises(ValueError, match="must be a pandas DataFrame"):
        autos.panel_sample(products.to_dict("list"))
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['mpd'\]"):
        autos.panel_sample(products.drop(columns="mpd"))
    with pytest.raises(ValueError, match="lacks both model_ids and clustering_ids"):
        autos.model_years(products.drop(columns=["model_ids", "clustering_ids"]))
    with pytest.raises(ValueError, match="has no rows"):
        autos.select_models(products.iloc[:0])
    with pytest.raises(ValueError, match=r"Model '\w+' has several rows in year \d{4}"):
        autos.model_averages(variables)
    with pytest.raises(ValueError, match="at least two observations"):
        autos.welch_t([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="linear combination of the exogenous regressors"):
        autos.first_stage_price(sample.assign(copy=2 * sample["log_hpwt"] + 1), ["copy"])
    with pytest.raises(ValueError, match="at least one excluded instrument"):
        autos.first_stage_price(sample, [])
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['z'\]"):
        autos.first_stage_price(sample, ["z"])
    with pytest.raises(ValueError, match=r"instrument gh_rival_air is not finite in row 3"):
        autos.first_stage_price(sample.assign(gh_rival_air=sample["gh_rival_air"].where(sample.index != 3)), "gh")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['firm_ids'\]"):
        autos.differentiation_instruments(sample.drop(columns="firm_ids"))
    with pytest.raises(ValueError, match="log_mpd is not finite in row 2 \\(market 1971\\)"):
        autos.differentiation_instruments(sample.assign(log_mpd=sample["log_mpd"].where(sample.index != 2)))
    with pytest.raises(ValueError, match="panel has no rows"):
        autos.entry_exit(sample.iloc[:0])


def test_group_characteristics_by_hand():
    panel = autos.panel_sample()
    models = np.sort(panel["product_ids"].unique())
    groups = pd.Series(np.arange(len(models)) % 3, index=models)
    table = autos.group_characteristics(panel, groups)
    assert list(table.columns) == ["mean", "std", 0, 1, 2]
    assert table.loc["products", [0, 1, 2]].tolist() == [28, 27, 27]
    rows = panel[panel["product_ids"].isin(models[groups == 1])]
    np.testing.assert_allclose(table.loc["shares", 1], rows.groupby("market_ids")["shares"].sum().mean(), rtol=1e-14)
    np.testing.assert_allclose(table.loc["price", 1], rows["price"].mean(), rtol=1e-14)
    np.testing.assert_allclose(table.loc["air", "std"], panel["air"].std(), rtol=1e-14)
    with pytest.raises(ValueError, match="no group for model"):
        autos.group_characteristics(panel, groups.iloc[1:])
