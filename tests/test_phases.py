"""The fused phase kernels give exactly what the pre-fusion Python glue gave.

Each configuration runs `BrusselsMarketModel` (fused phases) and `tests.glue_oracle.GlueModel`
(the step as it was at commit 5d44472, drawing the same keyed random numbers the plain numpy
way) in lockstep: after every step every agent array, the per-node fields, the court counter
and the event counts must be equal (the same values and dtypes); at the end the region and
area metrics and the whole event table must be equal too. Each configuration is chosen to
exercise rare branches, and its test checks that they happened (from the event counts and
the branches the oracle counted), so no test passes by exercising nothing.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

import tests.glue_oracle as glue_module
from brusim.model import BrusselsMarketModel
from brusim.model import codes as cd
from brusim.model import rng as rd
from brusim.model import strategies as sg
from brusim.model import users as us
from brusim.model.codes import FOCUS, RECOVERED
from tests.conftest import brussels_config, synthetic_config
from tests.glue_oracle import GlueModel

AGENTS = {"dealers": lambda m: m.dealers, "users": lambda m: m.users, "demand": lambda m: m.demand,
          "police": lambda m: m.police, "outreach": lambda m: m.outreach}
FIELDS = {"presence": lambda m: m.world.fields.presence,
          "arrest_memory": lambda m: m.world.fields.arrest_memory,
          "sales": lambda m: m.world.fields.sales, "unserved": lambda m: m.world.fields.unserved,
          "demand_near": lambda m: m.world.fields.demand_near,
          "posts_at": lambda m: m.deployment.presence.posts_at,
          "selling": lambda m: m._selling, "seller_nodes": lambda m: m._seller_nodes,
          "market_nodes": lambda m: m.markets.nodes,
          "market_strength": lambda m: m.markets.strength}


def _state_fields(state) -> tuple[str, ...]:
    if dataclasses.is_dataclass(state):
        return tuple(f.name for f in dataclasses.fields(state))
    return state._fields  # a NamedTuple


def snapshot(model: BrusselsMarketModel) -> dict[str, object]:
    """Everything the step changes, by name (arrays are not copied)."""
    out: dict[str, object] = {}
    for name, get in AGENTS.items():
        state = get(model)
        for field in _state_fields(state):
            out[f"{name}.{field}"] = getattr(state, field)
    for name, get in FIELDS.items():
        out[name] = get(model)
    out["rooms.used_this_hour"] = model.rooms.used_this_hour
    out["court_used"] = int(model.court_used)
    out["t"] = model.t
    out["events.counts"] = model.events.counts
    out["recorder.region_now"] = model.recorder.region_now
    out["recorder.by_signature"] = model.recorder._by_signature
    out["key"] = model.key
    return out


def first_difference(a: BrusselsMarketModel, b: BrusselsMarketModel) -> str | None:
    """The first quantity that differs between two models (value or dtype), or None."""
    sa, sb = snapshot(a), snapshot(b)
    assert sa.keys() == sb.keys()
    for key, va in sa.items():
        vb = sb[key]
        if isinstance(va, np.ndarray):
            if va.dtype != vb.dtype or va.shape != vb.shape:
                return f"{key}: {va.dtype}{va.shape} vs {vb.dtype}{vb.shape}"
            if not np.array_equal(va, vb):
                where = np.flatnonzero(va.ravel() != vb.ravel())[:5]
                return (f"{key} at {where.tolist()}: fused {va.ravel()[where].tolist()} "
                        f"vs glue {vb.ravel()[where].tolist()}")
        elif va != vb:
            return f"{key}: fused {va} vs glue {vb}"
    return None


def run_lockstep(fused: BrusselsMarketModel, glue: GlueModel, n_steps: int | None = None,
                 on_step: Callable[[BrusselsMarketModel], None] | None = None) -> None:
    """Step both models together, comparing their whole state after every step."""
    diff = first_difference(fused, glue)
    assert diff is None, f"before step {fused.t}: {diff}"
    n_steps = fused.n_steps - fused.t if n_steps is None else n_steps
    for _ in range(n_steps):
        t = fused.t
        fused.advance(1)
        glue.advance(1)
        diff = first_difference(fused, glue)
        assert diff is None, f"step {t}: {diff}"
        if on_step is not None:
            on_step(fused)


def assert_same_outputs(fused: BrusselsMarketModel, glue: GlueModel) -> None:
    """Flush both, then the region and area metrics and the event tables must be equal."""
    fused.finish()
    glue.finish()
    pd.testing.assert_frame_equal(fused.region_metrics(), glue.region_metrics(),
                                  check_exact=True)
    pd.testing.assert_frame_equal(fused.area_metrics(), glue.area_metrics(), check_exact=True)
    ta, tb = fused.events.to_table(), glue.events.to_table()
    assert ta.num_rows == tb.num_rows == int(fused.events.counts.sum())
    assert ta.equals(tb)
    assert first_difference(fused, glue) is None


def run_pair(*overrides: str, on_step: Callable[[BrusselsMarketModel], None] | None = None
             ) -> tuple[BrusselsMarketModel, GlueModel]:
    """Build the fused and the glue model of a synthetic configuration and run them."""
    cfg = synthetic_config(*overrides)
    fused, glue = BrusselsMarketModel(cfg), GlueModel(cfg)
    run_lockstep(fused, glue, on_step=on_step)
    assert_same_outputs(fused, glue)
    return fused, glue


def happened(model: BrusselsMarketModel) -> dict[str, int]:
    return model.events.counts_by_name()


# ----------------------------------------------------------------------------- configurations


def test_baseline_synthetic_two_weeks():
    fused, glue = run_pair("weeks=2", "seed=1")
    n = happened(fused)
    for kind in ("transaction", "public_use", "room_entry", "arrest", "prosecution",
                 "outreach_contact", "treatment_entry", "unserved_search", "dealer_move",
                 "recruitment"):
        assert n[kind] > 0, kind
    assert glue.paths["patrol_draws"] > 10_000 and glue.paths["room_full"] > 0


def test_concentrated_focus_from_the_start_with_lie_lows_and_quits():
    fused, glue = run_pair(
        "weeks=1", "seed=2", "scenario.intervention_week=0", "police.strategy=concentrate",
        "police.focus_hotspots=[central]", "police.focus_share=0.5",
        "police.reinforcement_units=4", "behaviour.dealers.quit_after_lie_lows=2",
        "behaviour.dealers.min_utility=0.5")
    assert isinstance(fused.strategy, sg.Concentrate) and len(fused.deployment.focus_units) > 0
    assert (fused.police.role == FOCUS).any()
    assert happened(fused)["dealer_lie_low"] > 0
    assert glue.paths["quit"] > 0 and glue.paths["lie_low_ends"] > 0
    assert glue.paths["displaced"] > 0


def test_merged_command_hotspots_switched_on_and_withdrawn():
    seen: set[tuple[bool | None, bool]] = set()

    def watch(model: BrusselsMarketModel) -> None:
        seen.add((model.deployment.patrol_merged, len(model.deployment.focus_units) > 0))

    fused, _ = run_pair(
        "weeks=2", "seed=3", "scenario.intervention_week=0", "scenario.withdraw_week=1",
        "police.strategy=hotspots", "police.merged_command=true", "police.focus_share=0.3",
        "police.reinforcement_units=2", on_step=watch)
    # merged with focus units in the first week, zones and no focus after the withdrawal
    assert (True, True) in seen and (False, False) in seen
    assert happened(fused)["arrest"] > 0


def test_koper_stops_move_mid_hour():
    moved_mid_hour = []
    last: dict[str, np.ndarray] = {}

    def watch(model: BrusselsMarketModel) -> None:
        t = model.t - 1
        focus = model.deployment.focus_units
        if t % model.steps_per_hour and len(focus) and "node" in last:
            moved_mid_hour.append(bool((model.police.node[focus] != last["node"][focus]).any()))
        last["node"] = model.police.node.copy()

    fused, _ = run_pair(
        "weeks=1", "seed=4", "scenario.intervention_week=0", "police.strategy=koper",
        "police.focus_share=0.3", "police.reinforcement_units=4", on_step=watch)
    assert isinstance(fused.strategy, sg.KoperStops) and fused.deployment.plan.move_every_step
    assert sum(moved_mid_hour) > 100
    assert happened(fused)["arrest"] > 0 and happened(fused)["dealer_lie_low"] > 0


def test_two_small_rooms_fill_up():
    fused, glue = run_pair(
        "weeks=1", "seed=5", "scenario=second_room", "scenario.rooms.ribaucourt.from_week=0",
        "scenario.rooms.gate.capacity_per_hour=1",
        "scenario.rooms.ribaucourt.capacity_per_hour=2", "behaviour.users.room_use_prob=0.9",
        "behaviour.users.room_use_prob_referred=1.0")
    assert fused.room_schedule.open_.all()
    assert glue.paths["room_shuffle"] > 0 and glue.paths["room_full"] > 0
    assert glue.paths["room_0_used"] > 0 and glue.paths["room_1_used"] > 0
    # entries per room and hour: never above its capacity, which is often reached
    events = fused.events.to_table().to_pandas()
    entries = events[events["type"] == "room_entry"]
    per_hour = entries.groupby([entries["step"] // fused.steps_per_hour, "other"]).size()
    capacity = fused.rooms.capacity[per_hour.index.get_level_values("other").to_numpy()]
    assert (per_hour.to_numpy() <= capacity).all()
    assert (per_hour.to_numpy() == capacity).sum() > 20


@pytest.mark.parametrize("recovered_weeks", ["0.1", "null"], ids=["recovery_ends", "for_good"])
def test_outreach_cap_treatment_relapse_and_recovery(recovered_weeks):
    fused, glue = run_pair(
        "weeks=1", "seed=6", "behaviour.outreach.max_contacts_per_step=1",
        "behaviour.outreach.contact_prob=0.95", "behaviour.outreach.treatment_prob=0.5",
        "behaviour.outreach.treatment_weeks=0.05", "behaviour.outreach.relapse_prob=0.5",
        f"behaviour.outreach.recovered_weeks={recovered_weeks}")
    assert glue.paths["outreach_cap"] > 0  # the cap keeps the first contacts in keyed order
    assert glue.paths["relapse"] > 0 and glue.paths["recovery"] > 0
    assert glue.paths["referred_buyers"] > 0
    assert happened(fused)["treatment_entry"] > 50
    recovered = fused.users.status == RECOVERED
    if recovered_weeks == "null":  # recovery for good: nobody comes back
        assert glue.paths["recovery_ends"] == 0 and recovered.sum() > 20
        assert (fused.users.until[recovered] == us.FOREVER).all()
    else:  # recoveries of random length end, and those users crave again
        assert glue.paths["recovery_ends"] > 20


def test_users_turn_off_the_street_and_come_back():
    fused, glue = run_pair("weeks=1", "behaviour.demand.offstreet_prob=0.5",
                           "behaviour.demand.offstreet_weeks=0.1")
    region = fused.region_metrics().sum()
    assert region["offstreet_switches"] > 50 and region["offstreet_returns"] > 50
    assert region["offstreet_purchases"] > region["offstreet_switches"]
    assert (fused.demand.factor < 1).sum() > 100  # remembered search costs cut the cravings


def test_courts_full_prosecution_and_release():
    fused, glue = run_pair(
        "weeks=1", "seed=2", "police.arrest_prob=0.5", "courts.weekly_capacity=10",
        "courts.custody_hours=3", "courts.sentence_weeks=0.2")
    n = happened(fused)
    assert n["prosecution"] > 0 and n["release_without_prosecution"] > 0
    assert glue.paths["arrest_shuffle"] > 0 and glue.paths["court_full"] > 0
    # the court's keyed order decides: who of one step's arrests is prosecuted, and the order
    # of several prosecutions' events
    assert glue.paths["court_split"] > 0 and glue.paths["court_several"] > 0
    assert glue.paths["prison_ends"] > 0  # back to the reserve


def test_security_by_design_and_violence():
    fused, _ = run_pair(
        "weeks=1", "seed=8", "scenario.intervention_week=0",
        "scenario.security_by_design=[central,west,east]", "scenario.sbd_attractiveness_cut=0.5",
        "scenario.sbd_nuisance_cut=0.5", "behaviour.violence.base_prob=0.05",
        "behaviour.violence.cell_m=800")
    assert fused.world.any_sbd and fused.intervention_active
    assert happened(fused)["violent_incident"] > 0


class OneCravingFlipped:
    """`brusim.model.rng` as the glue model sees it, but for one draw: the craving draw of the
    first idle candidate at step ``t0`` is moved across ``rate``, so that user's craving
    flips; every other draw is the product's."""

    def __init__(self, t0: int, rate: float):
        self.t0, self.rate = t0, rate
        self.flipped: list[int] = []

    def uniforms(self, key, purpose, t, who):
        u = rd.uniforms(key, purpose, t, who)
        if purpose == cd.D_CRAVING and t == self.t0 and len(who) and not self.flipped:
            self.flipped.append(int(who[0]))
            u[0] = 1.0 if u[0] < self.rate else 0.0
        return u

    def __getattr__(self, name):
        return getattr(rd, name)


def test_comparison_detects_a_single_changed_draw(monkeypatch):
    """The lockstep comparison can fail: one keyed draw changed in the glue model (one user's
    craving at one step) shows up at that very step, in that user's state and nowhere else."""
    cfg = synthetic_config("weeks=1", "seed=9")
    fused, glue = BrusselsMarketModel(cfg), GlueModel(cfg)
    run_lockstep(fused, glue, n_steps=40)
    t0 = fused.t
    draws = OneCravingFlipped(t0, glue.clock.demand_factor(t0)
                              / glue.user_params.purchase_interval_steps)
    monkeypatch.setattr(glue_module, "rd", draws)
    with pytest.raises(AssertionError) as failure:
        run_lockstep(fused, glue, n_steps=1)
    assert len(draws.flipped) == 1
    assert str(failure.value).startswith(f"step {t0}: users.status at [{draws.flipped[0]}]:")


def test_a_model_unpickled_mid_run_goes_on_like_the_original():
    """A checkpointed model (its key and its state) goes on exactly like the glue model;
    running the copy leaves the original untouched, and the original, run on afterwards,
    ends exactly like the copy."""
    cfg = synthetic_config("weeks=1", "seed=10", "police.arrest_prob=0.3")
    fused, glue = BrusselsMarketModel(cfg), GlueModel(cfg)
    run_lockstep(fused, glue, n_steps=250)
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v)
              for k, v in snapshot(fused).items()}
    copy = pickle.loads(pickle.dumps(fused))
    assert copy.key is not fused.key and np.array_equal(copy.key, fused.key)
    run_lockstep(copy, glue)
    assert_same_outputs(copy, glue)
    after = snapshot(fused)
    assert all(np.array_equal(after[k], v) if isinstance(v, np.ndarray) else after[k] == v
               for k, v in before.items())
    assert happened(copy)["arrest"] > 0
    fused.advance(fused.n_steps - fused.t)
    fused.finish()
    assert first_difference(fused, copy) is None
    pd.testing.assert_frame_equal(fused.region_metrics(), copy.region_metrics(),
                                  check_exact=True)
    assert fused.events.to_table().equals(copy.events.to_table())


@pytest.mark.realmap
@pytest.mark.parametrize("overrides", [
    ("seed=11",),  # the default Brussels configuration
    ("seed=12", "scenario=koper", "scenario.intervention_week=0"),
    ("seed=13", "scenario=prevention", "scenario.intervention_week=0",
     "police.merged_command=true"),
], ids=["baseline", "koper", "prevention_merged"])
def test_real_map_three_days(brussels, brussels_path, overrides):
    cfg = brussels_config(brussels_path, *overrides)
    fused, glue = BrusselsMarketModel(cfg, smap=brussels), GlueModel(cfg, smap=brussels)
    run_lockstep(fused, glue, n_steps=3 * fused.steps_per_day)
    assert_same_outputs(fused, glue)
    n = happened(fused)
    for kind in ("transaction", "public_use", "room_entry", "arrest", "release_without_prosecution",
                 "prosecution", "outreach_contact", "treatment_entry", "unserved_search",
                 "dealer_move"):
        assert n[kind] > 0, kind
    assert glue.paths["patrol_draws"] > 0 and glue.paths["room_shuffle"] > 0
    if len(overrides) > 1:  # focus units from the start push sellers to lie low
        assert len(fused.deployment.focus_units) > 0 and n["dealer_lie_low"] > 10
