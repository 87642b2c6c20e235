"""Runs begin at a branch point and adopt their policy at the intervention (issue 19).

`BrusselsMarketModel.begin` starts the reported run at the current step: its time axis, events
and metrics count from there. `policy.adopt_policy` rebuilds the policy components at the
intervention; adopting the policy already in force must change nothing (else every baseline
would differ from a run that never adopts). A scenario may change the policy, never the market.
`spinup.spun_up` caches the spun-up state by everything but the scenario; a damaged cache file
is spun up again, with the same state.
"""

from __future__ import annotations

import numpy as np
import pytest

from brusim.config.load import compose_config
from brusim.errors import BrusimError, ConfigError
from brusim.experiments import spinup as sp
from brusim.model import BrusselsMarketModel
from brusim.model.policy import adopt_policy, market_differences

BASE = ["weeks=3", "scenario.intervention_week=1"]
EVENT_COLUMNS = ["step", "type", "node", "agent", "other"]


def synthetic(*overrides: str):
    return compose_config([*BASE, *overrides], config_name="synthetic")


def events(model: BrusselsMarketModel) -> np.ndarray:
    return model.events.frame(EVENT_COLUMNS).to_numpy()


def run_from(cfg, baseline=None, spin_weeks: int = 0) -> BrusselsMarketModel:
    model = BrusselsMarketModel(baseline or cfg)
    model.advance(spin_weeks * model.clock.steps_per_week)
    model.begin(cfg)
    model.run()
    return model


def test_the_time_axis_starts_at_the_branch():
    cfg = synthetic()
    model = run_from(cfg, spin_weeks=2)
    spw = model.clock.steps_per_week
    assert model.origin == 2 * spw and model.steps_done == 3 * spw
    assert model.intervention_step == 3 * spw  # week 1 after the branch
    ev = events(model)
    assert 0 <= ev[:, 0].min() < model.steps_per_day and ev[:, 0].max() < 3 * spw
    areas = model.area_metrics()
    assert areas.step.min() == 0 and areas.week.max() == 2
    assert len(model.region_metrics()) == 3 * spw


def test_adopting_the_policy_in_force_changes_nothing():
    """The baseline adopts its own policy at its intervention week; a run that never adopts
    it must give the same events and metrics, byte for byte."""
    cfg = synthetic()
    adopted = run_from(cfg, spin_weeks=1)
    model = BrusselsMarketModel(cfg)
    model.advance(model.clock.steps_per_week)
    model.begin(cfg)
    model.policy_changes.clear()  # never adopts
    model.run()
    assert np.array_equal(events(adopted), events(model))
    assert np.array_equal(adopted.area_metrics().select_dtypes("number").to_numpy(),
                          model.area_metrics().select_dtypes("number").to_numpy())


def test_a_scenario_equals_its_baseline_until_its_intervention_and_then_differs():
    base = synthetic()
    scen = synthetic("scenario=prevention", "population.n_outreach=12")
    a, b = run_from(base, spin_weeks=1), run_from(scen, base, spin_weeks=1)
    spw = a.clock.steps_per_week
    ea, eb = events(a), events(b)
    assert np.array_equal(ea[ea[:, 0] < spw], eb[eb[:, 0] < spw])
    assert not np.array_equal(ea[ea[:, 0] >= spw], eb[eb[:, 0] >= spw])
    assert len(b.outreach) == 12 and b.cfg.scenario.name == "prevention"


def test_a_scenario_may_not_change_the_market():
    base = synthetic()
    changed = synthetic("scenario=prevention", "behaviour.dealers.risk_weight=9.0")
    assert market_differences(base, synthetic("scenario=prevention")) == []
    lines = market_differences(base, changed)
    assert lines and lines[0].startswith("behaviour.dealers.risk_weight")
    model = BrusselsMarketModel(base)
    with pytest.raises(ConfigError, match="risk_weight"):
        model.begin(changed)
    with pytest.raises(ConfigError, match="changes the market"):
        adopt_policy(model, changed)


def test_spun_up_state_is_cached_by_everything_but_the_scenario(tmp_path, monkeypatch):
    monkeypatch.setenv("BRUSIM_CACHE", str(tmp_path))
    cfg = synthetic("spinup.max_weeks=2", "spinup.min_weeks=1")
    smap = BrusselsMarketModel(cfg).smap
    first, report = sp.spun_up(cfg, smap)
    assert not report.cached and report.weeks == 2 and not report.settled
    again, cached = sp.spun_up(cfg, smap)
    assert cached.cached and cached.key == report.key
    assert again.t == first.t == 2 * first.clock.steps_per_week
    for name in ("status", "node", "crew", "until"):
        assert np.array_equal(getattr(again.dealers, name), getattr(first.dealers, name))
    assert np.array_equal(again.world.fields.sales, first.world.fields.sales)
    # the key ignores the reported run's length and intervention, not the market or the seed
    assert sp.spinup_key(synthetic("spinup.max_weeks=2", "spinup.min_weeks=1", "weeks=9",
                                   "scenario.intervention_week=5"), smap) == report.key
    assert sp.spinup_key(synthetic("spinup.max_weeks=2", "spinup.min_weeks=1", "seed=1"),
                         smap) != report.key
    assert sp.spinup_key(synthetic("spinup.max_weeks=2", "spinup.min_weeks=1",
                                   "behaviour.dealers.risk_weight=2.5"), smap) != report.key
    # a damaged cache file: a warning, and the same state spun up again
    path = sp.cache_path(report.key)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.warns(UserWarning, match="unusable"):
        repaired, redone = sp.spun_up(cfg, smap)
    assert not redone.cached
    assert np.array_equal(repaired.dealers.node, first.dealers.node)
    assert sp.spun_up(cfg, smap)[1].cached  # and cached again


def test_a_scenario_run_needs_its_baseline():
    with pytest.raises(BrusimError, match="baseline="):
        sp.start_model(synthetic("scenario=midi_plan"))
    with pytest.raises(ConfigError, match="seed"):
        sp.start_model(synthetic("scenario=midi_plan", "seed=1"), baseline=synthetic())


def test_the_warmup_rule_passes_noise_and_fails_drift():
    rng = np.random.default_rng(0)
    steady = rng.poisson([2000, 300, 40], size=(12, 3)).astype(float)
    assert sp.settled(steady, 4, 0.05)
    drifting = steady.copy()
    drifting[:, 1] *= np.linspace(1.0, 0.6, 12)  # one hotspot loses 40% over the weeks
    assert not sp.settled(drifting, 4, 0.05)
    assert not sp.settled(steady[:7], 4, 0.05)  # shorter than two windows: not settled
    empty = np.zeros((8, 2))
    assert sp.settled(empty, 4, 0.05)  # no dealing at all is settled


def test_a_withdrawal_stops_the_police_measures_and_keeps_the_rest():
    base = synthetic()
    scen = synthetic("scenario=prevention", "scenario.withdraw_week=2",
                     "population.n_outreach=5")
    model = BrusselsMarketModel(base)
    model.begin(scen)
    spw = model.clock.steps_per_week
    model.advance(spw + 1)  # past the intervention (week 1)
    assert model.strategy.name == "hotspots" and len(model.outreach) == 5
    model.advance(spw)  # past the withdrawal (week 2)
    assert model.strategy.name == base.police.strategy == "patrol"
    assert len(model.outreach) == 5  # outreach and rooms stay
    from omegaconf import OmegaConf

    from brusim.model.rooms import build_rooms

    rooms = build_rooms(OmegaConf.to_object(scen), model.smap, model.clock)[1]
    assert np.array_equal(model.room_schedule.open_hour, rooms.open_hour)
    assert model.cfg.police.strategy == "patrol" and model.cfg.population.n_outreach == 5
