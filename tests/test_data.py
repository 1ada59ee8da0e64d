"""Unit tests of course_lib.data and the shipped motorcycle data (data/README.md's claims)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib import data, logit

PRODUCT_COLUMNS = [
    "market_ids",
    "product_ids",
    "firm_ids",
    "shares",
    "prices",
    "EngineSize",
    "SportsBike",
    "Brand2",
    "Brand3",
    "demand_instruments0",
    "demand_instruments1",
    "demand_instruments2",
    "demand_instruments3",
]
FILES = ["motorcycles.csv", "motorcycle_agents.csv", "motorcycle_truth.csv", "motorcycle_parameters.json"]


@pytest.fixture(scope="module")
def products() -> pd.DataFrame:
    return data.load_motorcycles()


@pytest.fixture(scope="module")
def agents() -> pd.DataFrame:
    return data.load_motorcycle_agents()


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return data.load_motorcycle_truth()


# --------------------------------------------------------------------------- field names


def test_product_fields(products):
    assert list(products.columns) == PRODUCT_COLUMNS
    assert products["market_ids"].dtype.kind == "i"
    assert products["product_ids"].dtype.kind == "i"
    assert products[PRODUCT_COLUMNS].notna().all().all()


def test_agent_fields(agents):
    assert list(agents.columns) == ["market_ids", "weights", "nodes0", "nodes1"]
    assert agents.notna().all().all()


def test_truth_fields(truth):
    assert list(truth.columns) == ["market_ids", "product_ids", "xi", "omega", "costs", "delta"]
    assert truth.notna().all().all()


def test_loaders_return_copies():
    first = data.load_motorcycles()
    first.loc[0, "shares"] = -1.0
    assert data.load_motorcycles().loc[0, "shares"] > 0


# --------------------------------------------------------------------------- structure


def test_markets_firms_products(products):
    markets = products["market_ids"]
    assert sorted(markets.unique()) == list(range(1, 101))
    assert sorted(products["firm_ids"].unique()) == [1, 2, 3]
    sizes = products.groupby("market_ids").size()
    assert sizes.min() >= 5 and sizes.max() <= 8
    # A model appears at most once in a market.
    assert not products.duplicated(["market_ids", "product_ids"]).any()


def test_market_17(products):
    m17 = data.market(products, 17)
    assert len(m17) >= 3
    assert (m17["market_ids"] == 17).all()
    assert list(m17.index) == list(range(len(m17)))


def test_market_helper_unknown_market(products):
    with pytest.raises(ValueError, match=r"Market 101 is not in the data; markets run from 1 to 100"):
        data.market(products, 101)


def test_shares_valid(products):
    shares = products["shares"]
    assert ((shares > 0) & (shares < 1)).all()
    inside = products.groupby("market_ids")["shares"].sum()
    assert (inside < 1).all()
    assert inside.min() > 0


def test_prices_exceed_costs(products, truth):
    # Bertrand-Nash markups are positive, and costs are positive (log-linear).
    assert (truth["costs"] > 0).all()
    assert (products["prices"] > truth["costs"]).all()


def test_brand_dummies_match_firms(products):
    np.testing.assert_array_equal(products["Brand2"], (products["firm_ids"] == 2).astype(int))
    np.testing.assert_array_equal(products["Brand3"], (products["firm_ids"] == 3).astype(int))
    assert set(products["SportsBike"].unique()) <= {0, 1}


def test_agents_draws_and_weights(agents):
    counts = agents.groupby("market_ids").size()
    assert sorted(counts.index) == list(range(1, 101))
    assert (counts == 200).all()
    np.testing.assert_allclose(agents.groupby("market_ids")["weights"].sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(agents["weights"], 1 / 200, rtol=1e-12)
    # Standard-normal draws (20,000 of each): mean within ~5 standard errors of 0, sd near 1.
    for k in (0, 1):
        nodes = agents[f"nodes{k}"]
        assert abs(nodes.mean()) < 5 / np.sqrt(len(nodes))
        assert abs(nodes.std() - 1) < 0.03
    # The two columns are different draws.
    assert abs(np.corrcoef(agents["nodes0"], agents["nodes1"])[0, 1]) < 0.05


def test_truth_rows_align_with_products(products, truth):
    assert len(truth) == len(products)
    np.testing.assert_array_equal(truth["market_ids"], products["market_ids"])
    np.testing.assert_array_equal(truth["product_ids"], products["product_ids"])


# --------------------------------------------------------------------------- data/README.md's numbers


def test_readme_counts(products):
    assert len(products) == 651
    sizes = products.groupby("market_ids").size()
    assert sizes.value_counts().sort_index().to_dict() == {5: 29, 6: 19, 7: 24, 8: 28}


def test_readme_market_17(products):
    m17 = data.market(products, 17)
    assert len(m17) == 7
    assert sorted(m17["firm_ids"].unique()) == [1, 2, 3]


def test_readme_models_per_firm(products):
    assert products["product_ids"].nunique() == 24
    assert sorted(products["product_ids"].unique()) == list(range(1, 25))
    # Each model belongs to one firm, and each firm owns 8 models.
    assert (products.groupby("product_ids")["firm_ids"].nunique() == 1).all()
    per_firm = products.drop_duplicates("product_ids").groupby("firm_ids").size()
    assert per_firm.to_dict() == {1: 8, 2: 8, 3: 8}


def test_readme_sports_bike_is_a_model_attribute(products):
    # SportsBike is fixed per model; EngineSize varies across markets (regional variants).
    assert (products.groupby("product_ids")["SportsBike"].nunique() == 1).all()
    assert (products.groupby("product_ids")["EngineSize"].nunique() > 1).any()


def test_readme_parameters():
    params = data.load_motorcycle_parameters()
    assert params["seed"] == 20210305
    assert params["beta_names"] == ["1", "prices", "EngineSize", "SportsBike", "Brand2", "Brand3"]
    assert params["beta"] == [1.0, -3.0, 1.0, 2.0, -1.0, 1.0]
    assert params["sigma"] == [0.5, 1.0]
    assert params["xi_variance"] == 0.3 and params["omega_variance"] == 0.1 and params["correlation"] == 0.8


def test_readme_instrument_w0_is_market_wide(products):
    assert (products.groupby("market_ids")["demand_instruments0"].nunique() == 1).all()
    for k in (1, 2, 3):
        assert (products.groupby("market_ids")[f"demand_instruments{k}"].nunique() > 1).any()


# --------------------------------------------------------------------------- truth and the model


def test_true_delta_is_X1_beta_plus_xi(products, truth):
    beta = np.asarray(data.load_motorcycle_parameters()["beta"])
    X1 = np.column_stack(
        [np.ones(len(products))] + [products[c].to_numpy(float) for c in ["prices", "EngineSize", "SportsBike", "Brand2", "Brand3"]]
    )
    # Files carry 12 significant digits.
    np.testing.assert_allclose(truth["delta"], X1 @ beta + truth["xi"], rtol=0, atol=1e-9)


def test_true_costs_follow_the_cost_equation(products, truth):
    params = data.load_motorcycle_parameters()
    W = np.column_stack(
        [np.ones(len(products)), products["EngineSize"], products["SportsBike"]]
        + [products[f"demand_instruments{k}"] for k in range(4)]
    )
    np.testing.assert_allclose(np.log(truth["costs"]), W @ np.asarray(params["gamma"]) + truth["omega"], atol=1e-9)


def rc_logit_shares(products, delta, sigma, order=9):
    """Random-coefficients shares with the 9 x 9 Gauss-Hermite product rule of the generator."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(order)
    weights = weights / weights.sum()
    nu_p, nu_e = (a.ravel() for a in np.meshgrid(nodes, nodes, indexing="ij"))
    w = np.outer(weights, weights).ravel()
    mu = sigma[0] * np.outer(products["prices"], nu_p) + sigma[1] * np.outer(products["EngineSize"], nu_e)
    ids = products["market_ids"].to_numpy()
    shares = np.zeros(len(products))
    for i in range(len(w)):
        shares += w[i] * logit.logit_shares(delta + mu[:, i], ids)
    return shares


def test_shares_are_random_coefficients_shares_of_the_truth(products, truth):
    sigma = np.asarray(data.load_motorcycle_parameters()["sigma"])
    shares = rc_logit_shares(products, truth["delta"].to_numpy(), sigma)
    np.testing.assert_allclose(shares, products["shares"], rtol=1e-8)
    # The same truth through the plain logit does not reproduce the data.
    assert np.max(np.abs(logit.logit_shares(truth["delta"], products["market_ids"]) / products["shares"] - 1)) > 0.1


def test_logit_inversion_is_not_the_true_delta(products, truth):
    # Sanity check that the data are not logit: Berry's logit inversion misses the true delta.
    logit_delta = logit.logit_inversion(products["shares"], products["market_ids"])
    gap = logit_delta - truth["delta"].to_numpy()
    assert np.max(np.abs(gap)) > 0.5
    assert np.mean(np.abs(gap)) > 0.1


# --------------------------------------------------------------------------- regeneration


def test_regeneration_reproduces_the_shipped_files(tmp_path):
    """The generator reproduces the canonical files: identifiers, integers and the parameters
    exactly, floats to simulate.REGENERATION_RTOL (its comment gives the measured floor). Byte
    identity is not asserted: on another BLAS kernel a value near a rounding boundary of the 12
    digits written comes out one unit different in its last digit."""
    pytest.importorskip("pyblp")
    from course_lib import simulate

    written = simulate.write_motorcycle_data(tmp_path)
    assert sorted(p.name for p in written) == sorted(FILES) == sorted(simulate.FILES)
    differences = simulate.compare_with_shipped(tmp_path)
    assert set(differences) == set(FILES)
    assert max(differences.values()) <= simulate.REGENERATION_RTOL, differences


def test_comparison_with_the_shipped_files_catches_changes(tmp_path):
    """compare_with_shipped sees a changed float beyond the tolerance and names a changed integer."""
    from course_lib import simulate

    for name in FILES:
        (tmp_path / name).write_bytes((data.DATA_DIR / name).read_bytes())
    assert max(simulate.compare_with_shipped(tmp_path).values()) == 0.0
    products = pd.read_csv(tmp_path / "motorcycles.csv")
    products.loc[5, "prices"] *= 1 + 1e-8
    products.to_csv(tmp_path / "motorcycles.csv", index=False, float_format=simulate.FLOAT_FORMAT)
    assert simulate.compare_with_shipped(tmp_path)["motorcycles.csv"] == pytest.approx(1e-8, rel=1e-3)
    products.loc[5, "firm_ids"] = 3 if products.loc[5, "firm_ids"] != 3 else 1
    products.to_csv(tmp_path / "motorcycles.csv", index=False, float_format=simulate.FLOAT_FORMAT)
    with pytest.raises(ValueError, match="motorcycles.csv: integer column 'firm_ids' differs"):
        simulate.compare_with_shipped(tmp_path)
    products.drop(columns="SportsBike").to_csv(tmp_path / "motorcycles.csv", index=False)
    with pytest.raises(ValueError, match="motorcycles.csv: columns or rows differ"):
        simulate.compare_with_shipped(tmp_path)
