"""The vectorised product model and the per-agent reference (benchmarks/reference) agree.

Both implement the same rules, so with different random numbers their aggregate outputs must
have the same distribution over seeds. The check runs both on the synthetic city with the
hotspot strategy from week 1 (so each run has a patrol week and a hotspot-strategy week, with
reinforcements), arrests and violence made frequent enough to be measured (``arrest_prob``
0.05, ``violence.base_prob`` 0.02 in 400 m cells), for 2 weeks and 8 seeds each.

Compared quantities, per seed: the daily mean of every region-wide metric (transactions,
public use, room entries, violent incidents, arrests, releases without prosecution,
prosecutions, police hours, outreach contacts, treatment entries, unserved searches, active
dealers, dealer-hours, users searching) in each of the two weeks; four rates over the run
(public use, room entries and unserved searches per transaction, arrests per dealer-hour),
which show the rules without the seed-to-seed swings of market size (a market that collapses
under the hotspot strategy in one seed moves every count, not these rates); and the share of
all transactions made in each hotspot's catchment (where the market is). Quantities that do not
vary across seeds in either implementation (police hours follow the rota; prosecutions hit the
weekly court capacity) must be equal. For the others, a Welch t-test of the seed means must
not reject equality at ``ALPHA / k`` (Bonferroni over the ``k`` = 36 quantities), i.e. at most
a 1% chance that two identical implementations fail the test as a whole. The seeds are fixed,
so the outcome is deterministic. With 24 seeds each (a one-off check, too slow for the suite)
every quantity agreed too (smallest Welch p = 0.09, violent incidents in week 1).

The test can fail: the same check, against the same reference runs, flags 4 product runs with
``public_use_prob`` 0.35 instead of 0.5 (`test_the_comparison_detects_a_different_parameter`).
Public use per transaction varies by about 2% of its mean between seeds, so this 30% change is
dozens of standard errors away (p ≈ 1e-9); changes of about 6% or more in that rate are past
the threshold.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from brusim.model import BrusselsMarketModel
from brusim.model.recorder import METRICS
from tests.conftest import synthetic_config

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # benchmarks/ is not part of the brusim package
    sys.path.insert(0, str(REPO))

from benchmarks.reference.model import ReferenceMarketModel  # noqa: E402

SETTING = ("weeks=2", "scenario=hotspot_strategy", "scenario.intervention_week=1",
           "police.arrest_prob=0.05", "behaviour.violence.base_prob=0.02",
           "behaviour.violence.cell_m=400")
SEEDS = range(8)
ALPHA = 0.01
CHANGED = "behaviour.users.public_use_prob=0.35"


RATES = {  # (numerator, denominator) over the whole run: rules seen without the market's size
    "public use per transaction": ("public_use", "transactions"),
    "room entries per transaction": ("room_entries", "transactions"),
    "unserved searches per transaction": ("unserved_searches", "transactions"),
    "arrests per dealer-hour": ("arrests", "dealer_hours"),
}


def summary(model) -> dict[str, float]:
    """Weekly means of the daily totals of each metric, rates per transaction or dealer-hour,
    and each hotspot's share of the transactions."""
    region = model.region_metrics()
    spd = model.clock.steps_per_day
    week = region["step"] // model.clock.steps_per_week
    out = {}
    for w, rows in region.groupby(week):
        days = len(rows) / spd
        for m in METRICS:
            out[f"{m} week {w}"] = float(rows[m].sum()) / days
    for name, (num, den) in RATES.items():
        out[name] = float(region[num].sum()) / max(float(region[den].sum()), 1e-9)
    total = float(region["transactions"].sum())
    hs = model.smap.hotspots
    if isinstance(model, BrusselsMarketModel):
        areas = model.area_metrics()
        sold = areas[areas.area_kind == "hotspot"].groupby("area", observed=True)["transactions"]
        at = sold.sum().to_dict()
    else:
        where = model.where["transactions"]
        at = {h: sum(where[n] for n in hs.catchment(i).tolist()) for i, h in enumerate(hs.ids)}
    for h in hs.ids:
        out[f"transaction share at {h}"] = float(at.get(h, 0.0)) / max(total, 1.0)
    return out


def runs(model_class, *extra: str, seeds: range = SEEDS) -> dict[str, np.ndarray]:
    """`summary` of each seed, as one array over seeds per quantity."""
    rows = []
    for seed in seeds:
        model = model_class(synthetic_config(*SETTING, *extra, f"seed={seed}"))
        model.run()
        rows.append(summary(model))
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def disagreements(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    """Quantities whose seed means differ: Welch p-value below ALPHA / k (p = 0 for constant
    quantities that differ)."""
    assert a.keys() == b.keys()
    level = ALPHA / len(a)
    out = {}
    for k in a:
        if a[k].std() == 0 and b[k].std() == 0:
            if not np.isclose(a[k][0], b[k][0]):
                out[k] = 0.0
            continue
        p = float(stats.ttest_ind(a[k], b[k], equal_var=False).pvalue)
        if p < level:
            out[k] = p
    return out


@pytest.fixture(scope="module")
def reference_runs() -> dict[str, np.ndarray]:
    return runs(ReferenceMarketModel)


@pytest.fixture(scope="module")
def product_runs() -> dict[str, np.ndarray]:
    return runs(BrusselsMarketModel)


def test_reference_agrees_with_product_in_distribution(reference_runs, product_runs):
    # the setting exercises every mechanism: no compared quantity is always zero
    for k, v in {**reference_runs, **product_runs}.items():
        assert v.max() > 0, k
    assert disagreements(product_runs, reference_runs) == {}


def test_the_comparison_detects_a_different_parameter(reference_runs, product_runs):
    changed = runs(BrusselsMarketModel, CHANGED, seeds=range(4))
    found = disagreements(changed, reference_runs)
    assert {"public_use week 0", "public use per transaction"} <= found.keys()
    # and the change is what it should be: about 30% less public use, sales unchanged
    ratio = (changed["public use per transaction"].mean()
             / product_runs["public use per transaction"].mean())
    assert 0.6 < ratio < 0.8
    assert "transactions week 0" not in found


def test_reference_network_is_the_street_map_without_layout():
    model = ReferenceMarketModel(synthetic_config("weeks=0.05"))
    smap, graph = model.smap, model.grid.G
    assert graph.number_of_nodes() == smap.n_nodes
    assert graph.number_of_edges() == smap.n_edges
    assert all(cell._position is None for cell in model.grid.all_cells)
    assert sorted(c.coordinate for c in model.cells[5].connections.values()) == sorted(
        smap.neighbours(5).tolist())
    assert all(a.cell is model.cells[a.node] for a in model.agents)


def test_reference_is_reproducible_and_has_the_product_columns():
    def region(seed: int):
        model = ReferenceMarketModel(synthetic_config("weeks=0.2", f"seed={seed}"))
        model.run()
        return model.region_metrics()

    a, b, c = region(1), region(1), region(2)
    product = BrusselsMarketModel(synthetic_config("weeks=0.2", "seed=1"))
    product.run()
    assert list(a.columns) == list(product.region_metrics().columns)
    assert len(a) == len(product.region_metrics())
    assert a.equals(b)
    assert not a.equals(c)
