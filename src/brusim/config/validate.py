"""Validation of every configuration value before a run starts.

`problems(cfg, smap)` returns one clear line per problem (all at once); `validate` raises a
`ConfigError` carrying them. Types and unknown keys are already rejected by the Hydra schema;
this checks ranges, names and cross-field rules.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from brusim.errors import ConfigError

SHARES = [
    "population.dispersed_crew_share", "population.user_hotspot_share",
    "police.street_share", "police.focus_share", "police.arrest_prob",
    "behaviour.dealers.switch_margin", "behaviour.dealers.turf_penalty",
    "behaviour.users.public_use_prob", "behaviour.users.room_use_prob",
    "behaviour.users.room_use_prob_referred", "behaviour.users.loyalty",
    "behaviour.outreach.contact_prob", "behaviour.outreach.treatment_prob",
    "behaviour.outreach.relapse_prob", "behaviour.dealers.recruit_rate_per_day",
    "scenario.sbd_attractiveness_cut", "scenario.sbd_nuisance_cut", "behaviour.violence.base_prob",
]
COUNTS = [
    "population.n_users", "population.n_dealers", "population.n_reserve_dealers",
    "population.n_outreach", "police.reinforcement_units", "courts.weekly_capacity",
    "behaviour.outreach.max_contacts_per_step", "seed",
]
POSITIVE = [
    "weeks", "step_minutes", "population.n_crews", "police.officers_per_unit",
    "police.focus_stop_minutes", "police.patrol_stop_minutes", "police.koper_stop_minutes",
    "police.deterrence_tau_minutes", "police.sight_m", "police.arrest_m", "police.focus_radius_m",
    "courts.custody_hours", "courts.sentence_weeks",
    "behaviour.dealers.decision_minutes", "behaviour.dealers.shift_hours",
    "behaviour.dealers.awareness_m", "behaviour.dealers.market_radius_m",
    "behaviour.dealers.n_candidates", "behaviour.dealers.risk_half_life_hours",
    "behaviour.dealers.risk_half_saturation", "behaviour.dealers.arrest_memory_hours",
    "behaviour.dealers.sales_half_life_hours", "behaviour.dealers.lie_low_hours",
    "behaviour.dealers.quit_after_lie_lows",
    "behaviour.users.purchase_interval_hours", "behaviour.users.walk_speed_kmh",
    "behaviour.users.transit_speed_kmh", "behaviour.users.purchase_radius_m",
    "behaviour.users.search_radius_m", "behaviour.users.max_attempts",
    "behaviour.users.retry_hours", "behaviour.users.room_reach_m",
    "behaviour.outreach.contact_radius_m", "behaviour.outreach.referral_days",
    "behaviour.outreach.treatment_weeks", "behaviour.violence.cell_m",
    "run.record_every_steps", "map.max_snap_m", "map.catchment_m",
]
NON_NEGATIVE = [
    "burn_in_weeks", "police.patrol_footfall_weight", "behaviour.dealers.risk_weight",
    "behaviour.dealers.arrest_risk", "behaviour.dealers.move_cost_per_km",
    "behaviour.dealers.turf_cost_per_km", "behaviour.dealers.crew_bonus",
    "behaviour.dealers.choice_noise", "behaviour.dealers.footfall_weight",
    "behaviour.dealers.sales_weight", "behaviour.dealers.unserved_weight",
    "behaviour.dealers.min_utility", "behaviour.dealers.recruit_min_sales_per_day",
    "behaviour.users.min_gap_hours", "behaviour.users.linger_hours",
    "behaviour.outreach.shift_hours", "behaviour.violence.displaced_factor",
    "behaviour.violence.displaced_memory_days", "scenario.intervention_week",
    "run.checkpoint_every_days",
]
STRATEGIES = ("patrol", "concentrate", "hotspots", "koper")
# the neighbourhood tables (balls) a model builds, by the setting giving their radius; the
# footfall index also uses a 300 m ball (BrusselsMarketModel._footfall)
BALL_RADII = ("behaviour.dealers.market_radius_m", "behaviour.dealers.awareness_m",
              "police.sight_m", "police.arrest_m", "behaviour.users.purchase_radius_m",
              "behaviour.outreach.contact_radius_m")
FOOTFALL_RADIUS_M = 300.0


def _get(cfg, path: str):
    return OmegaConf.select(cfg, path) if isinstance(cfg, DictConfig) else _attr(cfg, path)


def _attr(obj, path: str):
    for part in path.split("."):
        obj = getattr(obj, part, None)
    return obj


def _range_problems(cfg) -> list[str]:
    out = []
    for path in SHARES:
        v = _get(cfg, path)
        if v is not None and not 0.0 <= float(v) <= 1.0:
            out.append(f"{path}={v}: must be a share between 0 and 1")
    for path in COUNTS:
        v = _get(cfg, path)
        if v is not None and float(v) < 0:
            out.append(f"{path}={v}: must be 0 or more")
    for path in POSITIVE:
        v = _get(cfg, path)
        if v is not None and float(v) <= 0:
            out.append(f"{path}={v}: must be greater than 0")
    for path in NON_NEGATIVE:
        v = _get(cfg, path)
        if v is not None and float(v) < 0:
            out.append(f"{path}={v}: must be 0 or more")
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
    if strategy not in STRATEGIES:
        out.append(f"police.strategy={strategy!r} is unknown; valid: {', '.join(STRATEGIES)}")
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


def _memory_problems(cfg, smap) -> list[str]:
    """A street map too large for its neighbourhood tables is refused before anything is built
    (a fine-grained OpenStreetMap network has ~5x the nodes of the packaged map and ~25x the
    entries in a table of a given radius)."""
    from brusim.map.balls import BUILD_BYTES_PER_ENTRY, estimate_entries

    if smap is None or smap.n_nodes == 0:
        return []
    limit_gb = float(_get(cfg, "run.max_memory_gb") or 0)
    if not limit_gb > 0:
        return []
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
    found = _range_problems(cfg) + _time_problems(cfg) + _name_problems(cfg, smap)
    return found or _memory_problems(cfg, smap)


def validate(cfg, smap=None) -> None:
    """Raise ConfigError listing every problem in ``cfg``."""
    found = problems(cfg, smap)
    if found:
        raise ConfigError(found)
