"""Validation of every configuration value before a run starts.

`problems(cfg, smap)` returns one clear line per problem (all at once); `validate` raises a
`ConfigError` carrying them. Types and unknown keys are already rejected by the Hydra schema;
this checks each number against the range its schema field declares (`bound_problems`; NaN and
infinity are refused everywhere), then names and cross-field rules. The CLI, the dashboard and
`BrusselsMarketModel` all call `validate`.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from functools import cache

from omegaconf import DictConfig, OmegaConf

from brusim.config.constraints import Bound
from brusim.config.schema import BrusimConfig
from brusim.errors import ConfigError

# the neighbourhood tables (balls) a model builds, by the setting giving their radius; the
# footfall index also uses a 300 m ball (BrusselsMarketModel._footfall)
BALL_RADII = ("behaviour.dealers.market_radius_m", "behaviour.dealers.awareness_m",
              "police.sight_m", "police.arrest_m", "behaviour.users.purchase_radius_m",
              "behaviour.outreach.contact_radius_m")
FOOTFALL_RADIUS_M = 300.0


def strategy_names() -> tuple[str, ...]:
    """The deployment strategies the model knows (its registry)."""
    from brusim.model.strategies import STRATEGIES

    return tuple(STRATEGIES)


def _get(cfg, path: str):
    return OmegaConf.select(cfg, path) if isinstance(cfg, DictConfig) else _attr(cfg, path)


def _attr(obj, path: str):
    for part in path.split("."):
        obj = getattr(obj, part, None)
    return obj


@cache
def _hints(cls: type) -> dict[str, object]:
    return typing.get_type_hints(cls)


def _dataclass_of(hint: object) -> type | None:
    """The dataclass a field holds (directly, or as the value type of a table or list)."""
    if dataclasses.is_dataclass(hint):
        return hint  # type: ignore[return-value]
    args = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
    return args[0] if args else None


def _entries(value: object) -> Iterator[tuple[str, object]]:
    if isinstance(value, dict) or hasattr(value, "items"):
        yield from ((str(k), v) for k, v in value.items())
    elif value is not None:
        yield from ((str(i), v) for i, v in enumerate(value))


def schema_bounds(cls: type = BrusimConfig, prefix: str = "") -> Iterator[tuple[str, Bound]]:
    """Every declared bound of the schema, as (dotted key, bound); ``[]`` marks a table or
    list entry (``population.market_weights[]``, ``police.duties[].share_lost``)."""
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        hint = _hints(cls)[f.name]
        inner = _dataclass_of(hint)
        if "bound" in f.metadata:
            yield path, f.metadata["bound"]
        elif "each" in f.metadata:
            yield f"{path}[]", f.metadata["each"]
        elif inner is not None:
            nested = f"{path}." if dataclasses.is_dataclass(hint) else f"{path}[]."
            yield from schema_bounds(inner, nested)


def bound_for(key: str, cls: type = BrusimConfig) -> Bound | None:
    """The bound declared for a dotted config key (``police.duties[].share_lost``,
    ``population.market_weights.gare_du_midi``, ``scenario.rooms.gate.open_hour``), or None
    for a text, a switch or a list of names."""
    name, _, rest = key.partition(".")
    name = name.removesuffix("[]")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        return None
    f, hint = fields[name], _hints(cls)[name]
    if "bound" in f.metadata:
        return f.metadata["bound"]
    if "each" in f.metadata:
        return f.metadata["each"]
    inner = _dataclass_of(hint)
    if inner is None or not rest:
        return None
    if not dataclasses.is_dataclass(hint) and not key.partition(".")[0].endswith("[]"):
        rest = rest.partition(".")[2]  # a table of settings: skip the entry's name
    return bound_for(rest, inner) if rest else None


def bound_problems(cfg, cls: type = BrusimConfig, prefix: str = "") -> list[str]:
    """Every value of ``cfg`` outside the range its schema field declares (NaN included)."""
    out: list[str] = []
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        value = _get(cfg, f.name)
        hint = _hints(cls)[f.name]
        inner = _dataclass_of(hint)
        if "bound" in f.metadata:
            problem = f.metadata["bound"].problem(path, value)
            out += [problem] if problem else []
        elif "each" in f.metadata:
            for key, v in _entries(value):
                problem = f.metadata["each"].problem(f"{path}.{key}", v)
                out += [problem] if problem else []
        elif inner is not None and value is not None:
            if dataclasses.is_dataclass(hint):
                out += bound_problems(value, inner, f"{path}.")
            else:
                for key, v in _entries(value):
                    label = _get(v, "name") if isinstance(_get(v, "name"), str) else key
                    out += bound_problems(v, inner, f"{path}.{label}.")
    return out


def _time_problems(cfg) -> list[str]:
    out = []
    sm = float(_get(cfg, "step_minutes"))
    if sm > 0 and (24 * 60) % sm:
        out.append(f"step_minutes={sm:g}: must divide a day (e.g. 5, 10, 15, 30, 60)")
    iw = float(_get(cfg, "scenario.intervention_week"))
    ww = _get(cfg, "scenario.withdraw_week")
    if ww is not None and float(ww) <= iw:
        out.append(f"scenario.withdraw_week={ww} must come after intervention_week={iw:g}")
    lo, hi = int(_get(cfg, "spinup.min_weeks")), int(_get(cfg, "spinup.max_weeks"))
    if hi and lo > hi:
        out.append(f"spinup.min_weeks={lo} is more than spinup.max_weeks={hi}; make "
                   "min_weeks <= max_weeks (max_weeks=0: no spin-up)")
    pre = int(_get(cfg, "spinup.preload_users_week"))
    if hi and pre > hi:
        out.append(f"spinup.preload_users_week={pre} is after spinup.max_weeks={hi}, so the "
                   "users' stocks would never be pre-loaded; make it at most max_weeks (0: off)")
    shifts = list(_get(cfg, "police.shift_factors") or [])
    if len(shifts) != 3 or any(not 0 <= float(s) <= 1 for s in shifts):
        out.append(f"police.shift_factors={shifts}: needs three shares (early, late, night) "
                   "in [0, 1]")
    for name, room in dict(_get(cfg, "scenario.rooms") or {}).items():
        o, c = float(_get(room, "open_hour")), float(_get(room, "close_hour"))
        if bool(_get(room, "open")) and int(_get(room, "capacity_per_hour")) <= 0:
            out.append(f"scenario.rooms.{name}: open with capacity_per_hour="
                       f"{_get(room, 'capacity_per_hour')}; give it a capacity or close it")
        if not 0 <= o < c <= 24:
            out.append(f"scenario.rooms.{name}: opening hours {o:g}-{c:g} must satisfy "
                       "0 <= open_hour < close_hour <= 24")
    return out


def _name_problems(cfg, smap) -> list[str]:
    out = []
    strategy = str(_get(cfg, "police.strategy"))
    if strategy not in strategy_names():
        out.append(f"police.strategy={strategy!r} is unknown; valid: "
                   f"{', '.join(strategy_names())}")
    if smap is None:
        return out
    hotspots, zones, rooms = set(smap.hotspots.ids), set(smap.zone_ids), set(smap.rooms.ids)
    valid_h = ", ".join(smap.hotspots.ids)
    for path in ("police.focus_hotspots", "behaviour.outreach.hotspots",
                 "scenario.security_by_design"):
        bad = [h for h in (_get(cfg, path) or []) if h not in hotspots]
        if bad:
            out.append(f"{path}: unknown hotspot(s) {bad}; valid: {valid_h}")
    bad = [h for h in dict(_get(cfg, "population.market_weights") or {}) if h not in hotspots]
    if bad:
        out.append(f"population.market_weights: unknown hotspot(s) {bad}; valid: {valid_h}")
    bad = [z for z in (_get(cfg, "police.focus_zones") or []) if z not in zones]
    if bad:
        out.append(f"police.focus_zones: unknown zone(s) {bad}; valid: {', '.join(zones)}")
    bad = [z for z in dict(_get(cfg, "police.officers") or {}) if z not in zones]
    if bad:
        out.append(f"police.officers: unknown zone(s) {bad}; valid: {', '.join(sorted(zones))}")
    for duty in _get(cfg, "police.duties") or []:
        z = str(_get(duty, "zone"))
        if z != "all" and z not in zones:
            out.append(f"police.duties {_get(duty, 'name')}: unknown zone {z!r}; valid: all, "
                       f"{', '.join(sorted(zones))}")
    bad = [r for r in dict(_get(cfg, "scenario.rooms") or {}) if r not in rooms]
    if bad:
        out.append(f"scenario.rooms: unknown room(s) {bad}; valid: {', '.join(sorted(rooms))}")
    if strategy in ("concentrate",) and not (_get(cfg, "police.focus_hotspots") or []):
        out.append("police.strategy=concentrate needs police.focus_hotspots (which hotspots?)")
    share = float(_get(cfg, "police.focus_share") or 0)
    reinforcements = int(_get(cfg, "police.reinforcement_units"))
    if strategy != "patrol" and share == 0 and reinforcements == 0:
        out.append(f"police.strategy={strategy} with focus_share=0 and no reinforcement units "
                   "concentrates nobody; set police.focus_share")
    feeding = list(_get(cfg, "police.focus_zones") or []) or list(smap.zone_ids)
    units = street_units(cfg, smap)
    if (strategy != "patrol" and share > 0 and reinforcements == 0 and zones >= set(feeding)
            and sum(units[z] for z in feeding) == 0):
        out.append(f"police.focus_share={share:g}: the focus zones {feeding} have no street units "
                   "(officers x street_share / officers_per_unit rounds to 0); raise "
                   "police.street_share or lower police.officers_per_unit")
    return out


def street_units(cfg, smap) -> dict[str, int]:
    """Street units per zone, as the police model forms them (see `init_police`)."""
    officers = dict(_get(cfg, "police.officers") or {})
    share = float(_get(cfg, "police.street_share"))
    per_unit = max(int(_get(cfg, "police.officers_per_unit")), 1)
    return {z: int(round(float(officers.get(z, default)) * share / per_unit))
            for z, default in zip(smap.zone_ids, smap.zone_officers, strict=True)}


# memory per agent: its entries in the state arrays and its Mesa agent object (351 bytes
# measured for 200,000 users on the synthetic city, brusim 0.1.0), with a margin
BYTES_PER_AGENT = 400
POPULATIONS = ("population.n_users", "population.n_dealers", "population.n_reserve_dealers",
               "population.n_outreach")


def _population_problems(cfg, limit_gb: float) -> list[str]:
    """A population too large for the memory limit is refused before any array is made."""
    counts = {path: int(_get(cfg, path) or 0) for path in POPULATIONS}
    need_gb = BYTES_PER_AGENT * sum(counts.values()) / 1e9
    if need_gb <= limit_gb:
        return []
    largest = max(counts, key=counts.get)
    return [f"a population of {sum(counts.values()):,} agents needs ~{need_gb:.1f} GB "
            f"(~{BYTES_PER_AGENT} bytes each), more than run.max_memory_gb={limit_gb:g}; lower "
            f"{largest} or raise run.max_memory_gb"]


def _memory_problems(cfg, smap) -> list[str]:
    """A population or a street map too large for the memory limit is refused before anything
    is built (a fine-grained OpenStreetMap network has ~5x the nodes of the packaged map and
    ~25x the entries in a neighbourhood table of a given radius)."""
    from brusim.map.balls import BUILD_BYTES_PER_ENTRY, estimate_entries

    limit_gb = float(_get(cfg, "run.max_memory_gb") or 0)
    if not limit_gb > 0:
        return []
    population = _population_problems(cfg, limit_gb)
    if population or smap is None or smap.n_nodes == 0:
        return population
    radii = {path: float(_get(cfg, path)) for path in BALL_RADII
             if _get(cfg, path) is not None and float(_get(cfg, path)) > 0}
    radii["footfall"] = FOOTFALL_RADIUS_M
    entries = {path: estimate_entries(smap.x, smap.y, smap.kdtree, r)
               for path, r in radii.items()}
    resident = sum(4 * e + 8 * smap.n_nodes for e in entries.values())
    worst = max(entries, key=entries.get)
    peak_gb = (resident + BUILD_BYTES_PER_ENTRY * entries[worst]) / 1e9
    if peak_gb <= limit_gb:
        return []
    return [f"the street map ({smap.n_nodes:,} nodes) needs ~{peak_gb:.1f} GB for its "
            f"neighbourhood tables ({radii[worst]:g} m: {worst}), more than "
            f"run.max_memory_gb={limit_gb:g}; use the packaged map or map.osm_streets=named, "
            f"lower {worst}, or raise run.max_memory_gb"]


def problems(cfg, smap=None) -> list[str]:
    """Every problem found in ``cfg`` (a DictConfig or the schema dataclass), one line each.
    Name checks against hotspots, zones and rooms need the compiled map ``smap``."""
    found = bound_problems(cfg)
    if found:  # cross-field rules assume finite values in range
        return found + _name_problems(cfg, None)
    found = _time_problems(cfg) + _name_problems(cfg, smap)
    return found or _memory_problems(cfg, smap)


def validate(cfg, smap=None) -> None:
    """Raise ConfigError listing every problem in ``cfg``."""
    found = problems(cfg, smap)
    if found:
        raise ConfigError(found)
