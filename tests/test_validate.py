"""Invalid configurations are rejected before anything runs, with one clear line per problem."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brusim.config.schema import RoomConfig
from brusim.config.validate import COUNTS, POSITIVE, SHARES, problems
from brusim.errors import ConfigError
from brusim.map import MapSettings, load_street_map
from tests.conftest import synthetic_config

SMAP = None


def smap():
    global SMAP
    if SMAP is None:
        SMAP = load_street_map(MapSettings(source="synthetic"))
    return SMAP


def first_field(overrides: list[str]) -> str:
    return overrides[0].split("=", 1)[0].lstrip("+")


HAND_WRITTEN = [
    (["police.strategy=crackdown"], "police.strategy"),
    (["police.focus_hotspots=[nowhere]", "police.strategy=concentrate",
      "police.focus_share=0.5"], "police.focus_hotspots"),
    (["police.focus_zones=[atlantis]"], "police.focus_zones"),
    (["police.strategy=concentrate", "police.focus_share=0.5"], "police.strategy=concentrate"),
    (["police.strategy=hotspots"], "focus_share"),
    (["behaviour.outreach.hotspots=[gare_du_midi]"], "behaviour.outreach.hotspots"),
    (["scenario.security_by_design=[nowhere]"], "scenario.security_by_design"),
    (["+population.market_weights.nowhere=1"], "population.market_weights"),
    (["+police.officers.atlantis=10"], "police.officers"),
    (["scenario.rooms.gate.capacity_per_hour=0"], "scenario.rooms.gate"),
    (["scenario.rooms.gate.open_hour=20", "scenario.rooms.gate.close_hour=8"],
     "scenario.rooms.gate"),
    (["scenario.withdraw_week=4"], "scenario.withdraw_week"),
    (["step_minutes=7"], "step_minutes"),
    (["police.shift_factors=[1.0,0.5]"], "police.shift_factors"),
    (["police.shift_factors=[1.0,0.5,1.5]"], "police.shift_factors"),
    (["police.duties=[{name:x,zone:atlantis}]"], "police.duties"),
    (["weeks=0"], "weeks"),
    (["weeks=-2"], "weeks"),
    (["burn_in_weeks=-1"], "burn_in_weeks"),
    (["police.street_share=1.5"], "police.street_share"),
    (["police.arrest_prob=-0.1"], "police.arrest_prob"),
    (["population.n_users=-1"], "population.n_users"),
    (["population.n_crews=0"], "population.n_crews"),
    (["courts.weekly_capacity=-5"], "courts.weekly_capacity"),
    (["courts.custody_hours=0"], "courts.custody_hours"),
    (["behaviour.dealers.awareness_m=0"], "behaviour.dealers.awareness_m"),
    (["behaviour.users.room_use_prob=1.2"], "behaviour.users.room_use_prob"),
    (["behaviour.outreach.treatment_prob=2"], "behaviour.outreach.treatment_prob"),
    (["behaviour.violence.base_prob=3"], "behaviour.violence.base_prob"),
    (["map.max_snap_m=0"], "map.max_snap_m"),
    (["run.record_every_steps=0"], "run.record_every_steps"),
    (["scenario.sbd_nuisance_cut=1.5"], "scenario.sbd_nuisance_cut"),
    (["police.strategy=concentrate", "police.focus_hotspots=[central]", "police.focus_share=0.5",
      "police.officers_per_unit=1000"], "police.focus_share"),  # more units than exist
    (["police.deterrence_tau_minutes=0"], "police.deterrence_tau_minutes"),
    (["behaviour.dealers.n_candidates=0"], "behaviour.dealers.n_candidates"),
    (["run.checkpoint_every_days=-1"], "run.checkpoint_every_days"),
    (["scenario.intervention_week=-1"], "scenario.intervention_week"),
    (["population.n_outreach=-2"], "population.n_outreach"),
    (["scenario.rooms.gate.open_hour=25"], "scenario.rooms.gate"),
    (["police.sight_m=-5"], "police.sight_m"),
]


@pytest.mark.parametrize(("overrides", "field"), HAND_WRITTEN,
                         ids=[first_field(o) + f"#{i}" for i, (o, _) in enumerate(HAND_WRITTEN)])
def test_invalid_value_is_named(overrides, field):
    found = problems(synthetic_config(*overrides), smap())
    assert found, f"{overrides} was accepted"
    assert any(field in p for p in found), found
    assert all("\n" not in p for p in found)


SCHEMA_ERRORS = [
    ["police.strateg=patrol"],          # typo in a key
    ["behaviour.dealers.awareness=800"],
    ["population.n_users=many"],        # wrong type
    ["weeks=soon"],
    ["scenario=nonexistent"],           # unknown scenario
    ["police.merged_command=perhaps"],
]


@pytest.mark.parametrize("overrides", SCHEMA_ERRORS, ids=[o[0] for o in SCHEMA_ERRORS])
def test_typos_and_wrong_types_are_rejected_by_the_schema(overrides):
    with pytest.raises(ConfigError) as info:
        synthetic_config(*overrides)
    message = str(info.value)
    assert "\n" not in message
    assert overrides[0].split("=")[0].split(".")[-1] in message or "nonexistent" in message


def test_unknown_room_in_a_scenario_file_is_named():
    from omegaconf import open_dict

    cfg = synthetic_config()
    with open_dict(cfg):
        cfg.scenario.rooms["atlantis"] = RoomConfig(open=True)
    assert any("scenario.rooms" in p and "atlantis" in p for p in problems(cfg, smap()))


def test_all_problems_reported_at_once():
    found = problems(synthetic_config("weeks=0", "police.street_share=2",
                                      "population.n_users=-1"), smap())
    assert len(found) >= 3


def test_valid_default_configs_pass():
    assert problems(synthetic_config(), smap()) == []
    for scenario in ("baseline", "second_room"):
        assert problems(synthetic_config(f"scenario={scenario}"), smap()) == []


@settings(max_examples=25, deadline=None)
@given(path=st.sampled_from(SHARES), value=st.one_of(
    st.floats(min_value=1.0001, max_value=1e6), st.floats(max_value=-1e-6, min_value=-1e6)))
def test_property_shares_outside_unit_interval_rejected(path, value):
    found = problems(synthetic_config(f"{path}={value}"), smap())
    assert any(path in p for p in found)


@settings(max_examples=25, deadline=None)
@given(path=st.sampled_from(POSITIVE), value=st.floats(max_value=0, min_value=-1e6))
def test_property_non_positive_durations_rejected(path, value):
    if path in ("behaviour.dealers.n_candidates", "behaviour.dealers.quit_after_lie_lows",
                "behaviour.users.max_attempts", "run.record_every_steps",
                "population.n_crews", "police.officers_per_unit"):
        value = int(value)
    found = problems(synthetic_config(f"{path}={value}"), smap())
    assert any(path in p for p in found)


@settings(max_examples=15, deadline=None)
@given(path=st.sampled_from([c for c in COUNTS]), value=st.integers(max_value=-1,
                                                                    min_value=-10**6))
def test_property_negative_counts_rejected(path, value):
    found = problems(synthetic_config(f"{path}={value}"), smap())
    assert any(path in p for p in found)


def test_cli_reports_clean_errors_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "brusim.cli", "run", "--config-name", "synthetic",
         "police.arrest_prob=2", "population.n_users=-3"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("brusim: error:")]
    assert len(lines) == 2
    assert "Traceback" not in proc.stderr
