"""Generator of the course's motorcycle data (``data/motorcycle*.csv``).

The problem set's data are not public, so the course makes its own with
``pyblp.Simulation``: an implementation independent of course_lib, so that the
course's estimators are checked on data they did not make.

Design (documented in ``data/README.md``):

* 3 firms (brands), each with a catalogue of 8 motorcycles; ``EngineSize`` (1000s of cc),
  ``SportsBike`` (0/1), and brand dummies ``Brand2``, ``Brand3``.
* 100 markets; each offers a random 5 to 8 catalogue models, so choice sets and
  characteristics vary across markets.
* Demand: random-coefficients logit with ``beta`` on (constant, prices, EngineSize,
  SportsBike, Brand2, Brand3) = (1, -3, 1, 2, -1, 1) and normal random coefficients on
  prices and EngineSize with standard deviations ``sigma`` = (0.5, 1.0).
* Supply: Bertrand-Nash pricing by multi-product firms with log-linear marginal costs
  driven by ``EngineSize``, ``SportsBike`` and four cost shifters excluded from demand,
  the instruments ``demand_instruments0..3``: ``w0`` a market-wide shock (an exchange
  rate), ``w1..w3`` product-market shocks (input prices, shipping).
* Each market sells a regional variant of a model: ``EngineSize`` = catalogue size plus
  N(0, 0.3^2) noise, so that the random coefficient on it is identified.
* ``(xi, omega)`` jointly normal and correlated, so prices are endogenous.
* True shares integrate over a 9 x 9 Gauss-Hermite product rule; the estimation draws
  shipped in ``motorcycle_agents.csv`` are a separate set of 200 scrambled-Halton
  (quasi-random) standard-normal draws per market.

The shipped files are the canonical data. ``python -m course_lib.simulate check`` (``make
data``) regenerates them into a temporary directory and compares them with the shipped ones:
identifiers, integer columns and the parameters exactly, every float to a relative tolerance of
:data:`REGENERATION_RTOL`. Byte identity holds only on a machine that rounds as the one that wrote
them (OpenBLAS's SkylakeX kernels with NumPy's AVX-512 loops): with another BLAS kernel the
equilibrium prices and pyBLP's draws of ``(xi, omega)`` change in their last bits, and a value
that sits near a rounding boundary of the 12 significant digits written comes out one unit
different in its last digit. ``python -m course_lib.simulate write DIRECTORY`` writes the files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["TRUE_PARAMETERS", "simulate_motorcycles", "write_motorcycle_data", "compare_with_shipped",
           "check_regeneration", "SEED", "FILES", "REGENERATION_RTOL"]

SEED = 20210305  # the problem set's date
N_MARKETS = 100
N_FIRMS = 3
MODELS_PER_FIRM = 8
CHOICE_SET_SIZES = (5, 8)  # inclusive range of products per market
N_AGENT_DRAWS = 200
ENGINE_VARIANT_SD = 0.3

TRUE_PARAMETERS = {
    "beta_names": ["1", "prices", "EngineSize", "SportsBike", "Brand2", "Brand3"],
    "beta": [1.0, -3.0, 1.0, 2.0, -1.0, 1.0],
    "sigma_names": ["prices", "EngineSize"],
    "sigma": [0.5, 1.0],
    "gamma_names": ["1", "EngineSize", "SportsBike", "w0", "w1", "w2", "w3"],
    "gamma": [-1.0, 0.2, 0.2, 0.3, 0.25, 0.2, 0.15],
    "costs_type": "log",
    "xi_variance": 0.3,
    "omega_variance": 0.1,
    "correlation": 0.8,
}

# Floats are written with 12 significant digits: plenty for estimation, and the last bits of a BLAS
# call rarely reach them.
FLOAT_FORMAT = "%.12g"
FILES = ("motorcycles.csv", "motorcycle_agents.csv", "motorcycle_truth.csv", "motorcycle_parameters.json")
# Regenerated floats must match the shipped ones to this relative tolerance. Measured with
# OPENBLAS_CORETYPE=Haswell and Sandybridge and with NumPy without AVX-512: at most one unit in the
# 12th significant digit differs (relative 9e-12 at worst, Sandybridge); the bound leaves a factor 10.
REGENERATION_RTOL = 1e-10


def _catalogue(rng: np.random.Generator) -> pd.DataFrame:
    """The 24 motorcycle models: brand and fixed characteristics."""
    n = N_FIRMS * MODELS_PER_FIRM
    firm = np.repeat(np.arange(1, N_FIRMS + 1), MODELS_PER_FIRM)
    sports = rng.random(n) < 0.4
    # Sports bikes are a little larger on average; sizes in 1000s of cc.
    engine = np.round(np.clip(rng.normal(0.9 + 0.2 * sports, 0.35, n), 0.25, 1.8), 3)
    return pd.DataFrame(
        {
            "product_ids": np.arange(1, n + 1),
            "firm_ids": firm,
            "EngineSize": engine,
            "SportsBike": sports.astype(int),
            "Brand2": (firm == 2).astype(int),
            "Brand3": (firm == 3).astype(int),
        }
    )


def _product_frame(rng: np.random.Generator) -> pd.DataFrame:
    """Markets, their choice sets, and the cost shifters (prices and shares to be solved)."""
    catalogue = _catalogue(rng)
    rows = []
    for t in range(1, N_MARKETS + 1):
        size = rng.integers(CHOICE_SET_SIZES[0], CHOICE_SET_SIZES[1] + 1)
        chosen = np.sort(rng.choice(len(catalogue), size=size, replace=False))
        block = catalogue.iloc[chosen].copy()
        block.insert(0, "market_ids", t)
        rows.append(block)
    products = pd.concat(rows, ignore_index=True)
    # Regional variants: a model's engine differs somewhat across markets. Without this
    # variation the random coefficient on EngineSize is barely identified.
    variant = rng.normal(0.0, ENGINE_VARIANT_SD, len(products))
    products["EngineSize"] = np.round(np.clip(products["EngineSize"] + variant, 0.25, 2.0), 3)
    w = rng.standard_normal((len(products), 4))
    # w0 is a market-wide cost shock (an exchange rate, a tariff): it moves the level
    # of all prices in a market, the variation that identifies sigma on prices.
    market_shock = rng.standard_normal(N_MARKETS + 1)
    w[:, 0] = market_shock[products["market_ids"].to_numpy()]
    for k in range(4):
        products[f"w{k}"] = np.round(w[:, k], 6)
    products["prices"] = 1.0  # placeholder; replaced by the equilibrium
    return products


def _estimation_draws(rng: np.random.Generator) -> np.ndarray:
    """Standard-normal estimation draws, ``N_AGENT_DRAWS`` per market, stacked by market.

    Scrambled Halton points (quasi-Monte Carlo) mapped through the normal quantile
    function, a fresh scrambling per market. They integrate far more accurately than as
    many pseudo-random draws; with 200 pseudo-random draws the simulation error alone
    pushed the estimated sigma on price to zero in our checks.
    """
    import scipy.stats

    blocks = [
        scipy.stats.norm.ppf(scipy.stats.qmc.Halton(d=2, scramble=True, seed=rng).random(N_AGENT_DRAWS))
        for _ in range(N_MARKETS)
    ]
    return np.vstack(blocks)


def simulate_motorcycles(seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Simulate the motorcycle data with pyBLP.

    Parameters
    ----------
    seed : int
        Seed of ``numpy.random.default_rng``; pyBLP's own draws of ``(xi, omega)`` get a
        seed derived from it.

    Returns
    -------
    products, agents, truth : pandas.DataFrame
        The estimation data (pyBLP field names), the estimation draws, and the
        product-level truth (``xi``, ``omega``, marginal ``costs``, true mean utility
        ``delta``).
    """
    import pyblp  # imported here: only the generator needs it

    pyblp.options.verbose = False
    rng = np.random.default_rng(seed)
    products = _product_frame(rng)
    p = TRUE_PARAMETERS
    simulation = pyblp.Simulation(
        product_formulations=(
            pyblp.Formulation("1 + prices + EngineSize + SportsBike + Brand2 + Brand3"),
            pyblp.Formulation("0 + prices + EngineSize"),
            pyblp.Formulation("1 + EngineSize + SportsBike + w0 + w1 + w2 + w3"),
        ),
        product_data=products,
        beta=p["beta"],
        sigma=np.diag(p["sigma"]),
        gamma=p["gamma"],
        integration=pyblp.Integration("product", 9),
        xi_variance=p["xi_variance"],
        omega_variance=p["omega_variance"],
        correlation=p["correlation"],
        costs_type=p["costs_type"],
        seed=int(rng.integers(2**31 - 1)),
    )
    results = simulation.replace_endogenous(iteration=pyblp.Iteration("simple", {"atol": 1e-14, "max_evaluations": 100_000}))
    if not np.all(np.isfinite(results.product_data.prices)):
        raise RuntimeError("pyBLP's equilibrium prices did not converge in every market.")

    out = products.drop(columns=["prices"]).copy()
    out["prices"] = results.product_data.prices.ravel()
    out["shares"] = results.product_data.shares.ravel()
    for k in range(4):
        out[f"demand_instruments{k}"] = out.pop(f"w{k}")
    columns = ["market_ids", "product_ids", "firm_ids", "shares", "prices",
               "EngineSize", "SportsBike", "Brand2", "Brand3"] + [f"demand_instruments{k}" for k in range(4)]
    out = out[columns]

    xi = simulation.xi.ravel()
    omega = simulation.omega.ravel()
    X1 = np.column_stack([np.ones(len(out)), out.prices, out.EngineSize, out.SportsBike, out.Brand2, out.Brand3])
    truth = pd.DataFrame(
        {
            "market_ids": out.market_ids,
            "product_ids": out.product_ids,
            "xi": xi,
            "omega": omega,
            "costs": results.costs.ravel(),
            "delta": X1 @ np.asarray(p["beta"]) + xi,
        }
    )

    markets = np.arange(1, N_MARKETS + 1)
    nodes = _estimation_draws(rng)
    agents = pd.DataFrame(
        {
            "market_ids": np.repeat(markets, N_AGENT_DRAWS),
            "weights": 1.0 / N_AGENT_DRAWS,
            "nodes0": nodes[:, 0],
            "nodes1": nodes[:, 1],
        }
    )
    return out, agents, truth


def write_motorcycle_data(directory: str | Path, seed: int = SEED) -> list[Path]:
    """Write ``motorcycles.csv``, ``motorcycle_agents.csv``, ``motorcycle_truth.csv`` and
    ``motorcycle_parameters.json`` into ``directory``; return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    products, agents, truth = simulate_motorcycles(seed)
    paths = []
    for name, frame in (("motorcycles", products), ("motorcycle_agents", agents), ("motorcycle_truth", truth)):
        path = directory / f"{name}.csv"
        frame.to_csv(path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
        paths.append(path)
    path = directory / "motorcycle_parameters.json"
    path.write_text(json.dumps({"seed": seed, **TRUE_PARAMETERS}, indent=2) + "\n")
    paths.append(path)
    return paths


def compare_with_shipped(directory: str | Path, shipped: str | Path | None = None) -> dict[str, float]:
    r"""Compare the four files in ``directory`` with the shipped ones, value by value.

    Column names, the number of rows, integer columns and the parameters file must be identical;
    float columns are compared by the largest relative difference
    :math:`\max |a - b| / \max(|b|, 10^{-300})`.

    Returns
    -------
    dict
        File name -> largest relative difference of its float columns (0 for the parameters).

    Raises
    ------
    ValueError
        Naming the file and column that differ in structure or in an integer value.
    """
    from .data import DATA_DIR

    directory, shipped = Path(directory), Path(shipped) if shipped is not None else DATA_DIR
    out = {}
    for name in FILES:
        if name.endswith(".json"):
            if json.loads((directory / name).read_text()) != json.loads((shipped / name).read_text()):
                raise ValueError(f"{name}: the parameters differ from the shipped ones.")
            out[name] = 0.0
            continue
        new, old = pd.read_csv(directory / name), pd.read_csv(shipped / name)
        if list(new.columns) != list(old.columns) or len(new) != len(old):
            raise ValueError(f"{name}: columns or rows differ from the shipped file "
                             f"({list(new.columns)}, {len(new)} rows vs {list(old.columns)}, {len(old)} rows).")
        worst = 0.0
        for column in old.columns:
            a, b = new[column].to_numpy(), old[column].to_numpy()
            if old[column].dtype.kind in "iub" or new[column].dtype.kind in "iub":
                if not np.array_equal(a, b):
                    raise ValueError(f"{name}: integer column {column!r} differs from the shipped file.")
                continue
            difference = np.abs(a - b) / np.maximum(np.abs(b), 1e-300)
            worst = max(worst, float(np.max(difference)))
        out[name] = worst
    return out


def check_regeneration(rtol: float = REGENERATION_RTOL) -> dict[str, float]:
    """Regenerate the data into a temporary directory and compare it with the shipped files.

    Returns the largest relative difference per file (:func:`compare_with_shipped`) and raises
    ``ValueError`` when one exceeds ``rtol``.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        write_motorcycle_data(tmp)
        differences = compare_with_shipped(tmp)
    bad = {name: d for name, d in differences.items() if d > rtol}
    if bad:
        raise ValueError(f"Regenerated data differ from the shipped files by more than {rtol:g} (relative): {bad}.")
    return differences


def main(argv: list[str]) -> int:
    usage = "usage: python -m course_lib.simulate [check | write DIRECTORY]"
    if not argv or argv == ["check"]:
        differences = check_regeneration()
        for name, difference in differences.items():
            print(f"{name:<28} largest relative difference {difference:.1e}")
        print(f"The regenerated data match the shipped files (tolerance {REGENERATION_RTOL:g}).")
        return 0
    if len(argv) == 2 and argv[0] == "write":
        for written in write_motorcycle_data(argv[1]):
            print(written)
        return 0
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
