"""Invalid configurations are rejected before anything runs, with one clear line per problem."""

from __future__ import annotations

import dataclasses
import functools
import subprocess
import sys
import typing

import pytest
from omegaconf import OmegaConf

from brusim.config.constraints import Bound
from brusim.config.load import compose_config
from brusim.config.schema import BrusimConfig, RoomConfig
from brusim.config.validate import problems
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


def _scalar_fields() -> list[tuple[str, Bound, bool]]:
    """(dotted key, bound, whole number?) of every single-valued number of the schema."""
    out = []

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            if dataclasses.is_dataclass(hint):
                walk(hint, f"{prefix}{f.name}.")
            elif "bound" in f.metadata:
                out.append((f"{prefix}{f.name}", f.metadata["bound"], int in typing.get_args(hint)
                            or hint is int))

    walk(BrusimConfig, "")
    return out


SCALARS = _scalar_fields()


def test_every_number_in_the_schema_declares_its_range() -> None:
    unbounded = []

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint, path = hints[f.name], f"{prefix}{f.name}"
            inner = [a for a in (hint, *typing.get_args(hint)) if dataclasses.is_dataclass(a)]
            if inner:
                walk(inner[0], f"{path}." if inner[0] is hint else f"{path}[].")
                continue
            numeric = {int, float} & {hint, *typing.get_args(hint)}
            if numeric and hint is not bool and not ({"bound", "each"} & set(f.metadata)):
                unbounded.append(path)

    walk(BrusimConfig, "")
    assert unbounded == []
    assert len(SCALARS) > 90


def _outside(bound: Bound, whole: bool) -> list[float]:
    """Values just outside each end of ``bound``."""
    out = []
    step = 1 if whole else 1e-3
    if bound.low is not None:
        out.append(bound.low if bound.low_open else bound.low - step)
    if bound.high is not None:
        out.append(bound.high if bound.high_open else bound.high + step)
    return out


@pytest.mark.parametrize(("path", "bound", "whole"), SCALARS, ids=[p for p, _, _ in SCALARS])
def test_each_number_outside_its_range_or_nan_is_refused_in_one_line(path: str, bound: Bound,
                                                                     whole: bool) -> None:
    values = _outside(bound, whole) + ([] if whole else [float("nan"), float("inf")])
    assert values, f"{path}: no bound at either end"
    base = _synthetic()
    assert not any(p.startswith(f"{path}=") for p in problems(base, smap()))
    for value in values:
        cfg = base.copy()
        OmegaConf.update(cfg, path, int(value) if whole else value, merge=False)
        found = problems(cfg, smap())
        assert any(p.startswith(f"{path}=") for p in found), (path, value, found)


@functools.cache
def _synthetic():
    return synthetic_config()


@pytest.mark.parametrize("override", [
    "behaviour.dealers.flee_risk=-3", "behaviour.outreach.shift_start_hour=30",
    "+population.market_weights.central=-2", "police.sight_m=nan", "weeks=nan",
    "+police.officers.east_zone=-1", "police.shift_factors=[1,1,nan]"])
def test_values_once_unchecked_are_refused(override: str) -> None:
    found = problems(synthetic_config(override), smap())
    assert len(found) == 1 and found[0].startswith(first_field([override]).split("=")[0]), found


def test_the_model_refuses_bad_values_through_the_same_check() -> None:
    from brusim.model import BrusselsMarketModel

    with pytest.raises(ConfigError, match=r"police.sight_m=nan: must be a finite number"):
        BrusselsMarketModel(synthetic_config("police.sight_m=nan"), smap=smap())


# collections that name the Brussels map's places: the schema cannot know them
MAP_DATA = ("behaviour.outreach.hotspots", "police.duties", "population.market_weights",
            "scenario.rooms", "scenario.description")


def test_yaml_defaults_equal_the_schema_defaults() -> None:
    yaml = OmegaConf.to_container(compose_config([]), resolve=True)
    schema = OmegaConf.to_container(OmegaConf.structured(BrusimConfig()), resolve=True)
    differ = []

    def walk(a: object, b: object, path: str) -> None:
        if path in MAP_DATA:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key, "<missing>"), b.get(key, "<missing>"),
                     f"{path}.{key}" if path else key)
        elif a != b:
            differ.append(f"{path}: configs/ {a!r}, schema {b!r}")

    walk(yaml, schema, "")
    assert differ == []


def test_cli_reports_clean_errors_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "brusim.cli", "run", "--config-name", "synthetic",
         "police.arrest_prob=2", "population.n_users=-3"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("brusim: error:")]
    assert len(lines) == 2
    assert "Traceback" not in proc.stderr


def test_a_population_beyond_the_memory_limit_is_refused_before_any_array_is_made():
    cfg = synthetic_config("population.n_users=100000000")
    found = problems(cfg)  # no map needed: the check comes first
    assert len(found) == 1 and "a population of 100,000,047 agents needs ~40.0 GB" in found[0]
    assert "lower population.n_users or raise run.max_memory_gb" in found[0]
    assert problems(synthetic_config("population.n_users=100000000",
                                     "run.max_memory_gb=0")) == []  # 0: no check
    assert problems(synthetic_config("population.n_users=200000")) == []
    from brusim.model import BrusselsMarketModel

    with pytest.raises(ConfigError, match="a population of"):
        BrusselsMarketModel(cfg, smap=smap())
