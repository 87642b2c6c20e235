"""Street demand that answers its effective price (`brusim.model.demand`, issue 20 item 1):
switched off it is the fixed-demand model draw for draw; on, users buy less often and turn off
the street as searches get longer, and every user is always in exactly one channel."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from brusim.model import BrusselsMarketModel
from brusim.model.codes import UserStatus
from tests.conftest import synthetic_config
from tests.test_fingerprints import fingerprints  # scripts/fingerprints.py, loaded once

REPO = Path(__file__).resolve().parents[1]
# the hashes of the model before this rule (tests/fingerprints.json at that commit)
FIXED_DEMAND = json.loads((REPO / "tests" / "fingerprints_fixed_demand.json").read_text())
NEW_METRICS = ["offstreet_purchases", "offstreet_switches", "offstreet_returns",
               "users_offstreet"]
OFF = ["behaviour.demand.elasticity=0", "behaviour.demand.offstreet_prob=0"]


def _old_columns_fingerprint(overrides: list[str]) -> dict[str, str]:
    from brusim.config.load import compose_config
    from brusim.io import frame_hash

    model = BrusselsMarketModel(compose_config([*overrides, "seed=1", "map.source=packaged"]))
    model.run()
    assert model.region_metrics()[NEW_METRICS].to_numpy().sum() == 0
    return {"metrics_region": frame_hash(model.region_metrics().drop(columns=NEW_METRICS)),
            "metrics_areas": frame_hash(model.area_metrics().drop(columns=NEW_METRICS)),
            "events": frame_hash(model.events.to_table().to_pandas()), "steps": str(model.t)}


@pytest.mark.parametrize("name", ["baseline_3w", "midi_plan_1w"])
def test_switched_off_it_is_the_fixed_demand_model_draw_for_draw(name):
    assert _old_columns_fingerprint([*fingerprints.RUNS[name], *OFF]) == FIXED_DEMAND[name]


def _run(*overrides: str) -> BrusselsMarketModel:
    model = BrusselsMarketModel(synthetic_config("weeks=3", "seed=2", *overrides))
    model.run()
    return model


def test_every_user_is_in_one_channel_and_the_off_street_stock_adds_up():
    """Step by step: the users off the street change by switches minus returns, and street,
    off-street, treatment and recovered users add up to the population."""
    model = BrusselsMarketModel(synthetic_config("weeks=2", "seed=2",
                                                 "behaviour.demand.offstreet_prob=0.3",
                                                 "behaviour.demand.offstreet_weeks=0.3"))
    off = [int((model.users.status == UserStatus.OFFSTREET).sum())]
    for _ in range(model.n_steps):
        model.step()
        status = model.users.status
        off.append(int((status == UserStatus.OFFSTREET).sum()))
        assert np.bincount(status, minlength=len(UserStatus)).sum() == model.users.n
    region = model.region_metrics()
    assert (region["users_offstreet"].to_numpy() == off[1:]).all()
    flow = (region["offstreet_switches"] - region["offstreet_returns"]).to_numpy()
    assert (np.diff(off) == flow).all()
    assert region["offstreet_switches"].sum() > 100 and region["offstreet_returns"].sum() > 100


def test_longer_searches_mean_fewer_street_purchases_and_more_off_street():
    """A third of the sellers lengthens searches; with an elastic demand street purchases fall by
    more than with a fixed one, and more users buy off the street."""
    scarce = ["population.n_dealers=10"]  # the synthetic city has 30
    fixed, elastic = _run(*OFF), _run()
    fixed_scarce, elastic_scarce = _run(*OFF, *scarce), _run(*scarce)

    def street(m: BrusselsMarketModel) -> float:
        return float(m.region_metrics()["transactions"].sum())

    def offstreet(m: BrusselsMarketModel) -> float:
        return float(m.region_metrics()["offstreet_purchases"].sum())

    assert street(elastic) < street(fixed)  # the demand answers the search costs it meets
    assert street(elastic_scarce) / street(fixed_scarce) < street(elastic) / street(fixed)
    assert offstreet(elastic_scarce) > offstreet(elastic) > 0
    assert elastic_scarce.demand.cost_hours.mean() > elastic.demand.cost_hours.mean()
    assert elastic_scarce.demand.factor.mean() < elastic.demand.factor.mean() < 1
