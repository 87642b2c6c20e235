"""Supply that answers takings and risk (`brusim.model.supply`, issue 20 item 2): crews keep
the sellers their demand pays for, fewer where arrests are near; switched off (the default) a
crew keeps its full size whatever its takings."""

from __future__ import annotations

import numpy as np

from brusim.model import BrusselsMarketModel
from brusim.model.codes import DealerStatus
from brusim.model.supply import crew_members
from tests.conftest import synthetic_config

ON = ["behaviour.supply.sales_per_seller_per_day=30"]  # business as usual: 27-63 a member
LESS_DEMAND = ["population.n_users=100"]  # the synthetic city has 500


def _sellers(*overrides: str) -> tuple[float, BrusselsMarketModel]:
    """Mean sellers on the street (active) over the last week of a 4-week run."""
    model = BrusselsMarketModel(synthetic_config("weeks=4", "seed=3", *overrides))
    model.run()
    region = model.region_metrics()
    last_week = region["step"] >= region["step"].max() - model.clock.steps_per_week
    return float(region.loc[last_week, "dealers_active"].mean()), model


def test_crews_shrink_with_their_demand_only_when_supply_answers():
    fixed, _ = _sellers()
    fixed_less, _ = _sellers(*LESS_DEMAND)
    paid, model = _sellers(*ON)
    paid_less, model_less = _sellers(*ON, *LESS_DEMAND)
    # with full-size crews, halving the buyers leaves the sellers (nearly) as they were
    assert fixed_less > 0.85 * fixed
    # with crews paid by their takings, fewer buyers mean clearly fewer sellers
    assert paid_less < 0.8 * paid
    assert paid_less / paid < fixed_less / fixed - 0.1
    # and the members on the street never exceed the full size of a crew
    for m in (model, model_less):
        assert (crew_members(m.dealers) <= m.dealers.crew_target).all()
    assert (model_less.dealers.status == DealerStatus.RESERVE).sum() > 0  # the shed wait there


def test_arrests_near_a_crew_cut_the_size_it_wants():
    risky = ["police.arrest_prob=0.5", "scenario.intervention_week=0"]
    calm, _ = _sellers(*ON, *risky)
    averse, _ = _sellers(*ON, *risky, "behaviour.supply.risk_aversion=3")
    assert averse < calm


def test_switched_off_a_crew_always_wants_its_full_size():
    from brusim.model.supply import SupplyParams, wanted_sizes

    model = BrusselsMarketModel(synthetic_config("weeks=0.5", "seed=3"))
    model.run()
    sp = model.supply_params
    assert sp.sales_per_seller == 0
    demand = np.zeros(len(model.dealers.crew_home))  # even with no demand at all
    assert (wanted_sizes(model.dealers, model.world, sp, demand)
            == model.dealers.crew_target).all()
    on = SupplyParams(10.0, 0.0, sp.risk_half_saturation, sp.quit_rate_per_day)
    assert (wanted_sizes(model.dealers, model.world, on, demand) == 0).all()
