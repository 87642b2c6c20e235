"""Typed configuration schema. Hydra merges the YAML files in ``configs/`` onto these dataclasses,
so a misspelt key or a value of the wrong type is rejected before anything runs.

Defaults here mirror ``configs/``; the YAML files carry the source of each figure.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from brusim.map.loader import MapSettings


@dataclass
class PopulationConfig:
    n_users: int = 2000
    n_dealers: int = 200
    n_reserve_dealers: int = 100
    n_crews: int = 24
    dispersed_crew_share: float = 0.2
    user_hotspot_share: float = 0.5
    user_hotspot_radius_m: float = 1500.0
    n_outreach: int = 8
    market_weights: dict[str, float] = field(default_factory=dict)


@dataclass
class CompetingDutyConfig:
    name: str = "duty"
    zone: str = "all"
    weekday: int = -1
    start_hour: float = 0.0
    hours: float = 1.0
    share_lost: float = 0.0
    every_weeks: int = 1
    probability: float = 1.0


@dataclass
class PoliceConfig:
    officers: dict[str, int] = field(default_factory=dict)
    street_share: float = 0.04
    officers_per_unit: int = 2
    shift_factors: list[float] = field(default_factory=lambda: [1.0, 1.0, 0.6])
    reinforcement_units: int = 0
    strategy: str = "patrol"
    merged_command: bool = False
    focus_hotspots: list[str] = field(default_factory=list)
    focus_zones: list[str] = field(default_factory=list)
    focus_share: float = 0.0
    focus_radius_m: float = 200.0
    focus_stop_minutes: float = 60.0
    patrol_stop_minutes: float = 3.0
    koper_stop_minutes: float = 15.0
    patrol_footfall_weight: float = 5.0
    deterrence_tau_minutes: float = 12.0
    arrest_prob: float = 0.01
    sight_m: float = 250.0
    arrest_m: float = 100.0
    duties: list[CompetingDutyConfig] = field(default_factory=list)


@dataclass
class CourtConfig:
    weekly_capacity: int = 5
    custody_hours: float = 24.0
    sentence_weeks: float = 26.0


@dataclass
class DealerBehaviour:
    decision_minutes: float = 60.0
    shift_hours: float = 10.0
    awareness_m: float = 638.7
    market_radius_m: float = 150.0
    n_candidates: int = 10
    risk_weight: float = 3.371
    risk_half_life_hours: float = 3.0
    risk_half_saturation: float = 12.0
    arrest_risk: float = 1.0
    arrest_memory_hours: float = 72.0
    flee_risk: float = 0.6
    move_cost_per_km: float = 0.3867
    turf_cost_per_km: float = 0.3044
    switch_margin: float = 0.15
    choice_noise: float = 0.04621
    turf_penalty: float = 0.4297
    crew_bonus: float = 0.1
    footfall_weight: float = 2.0
    sales_weight: float = 1.0
    unserved_weight: float = 0.6
    sales_half_life_hours: float = 200.5
    min_utility: float = 0.05
    lie_low_hours: float = 12.0
    quit_after_lie_lows: int = 6
    recruit_rate_per_day: float = 0.15
    recruit_min_sales_per_day: float = 1.0


@dataclass
class UserBehaviour:
    purchase_interval_hours: float = 12.0
    walk_speed_kmh: float = 4.5
    transit_speed_kmh: float = 12.0
    transit_above_m: float = 1500.0
    purchase_radius_m: float = 150.0
    search_radius_m: float = 2500.0
    max_attempts: int = 4
    retry_hours: float = 2.0
    public_use_prob: float = 0.5
    room_reach_m: float = 1200.0
    room_use_prob: float = 0.25
    room_use_prob_referred: float = 0.6
    avoid_police: bool = True
    linger_hours: float = 0.5
    min_gap_hours: float = 3.0
    loyalty: float = 0.7383


@dataclass
class OutreachBehaviour:
    hotspots: list[str] = field(default_factory=list)
    shift_start_hour: float = 10.0
    shift_hours: float = 8.0
    weekdays_only: bool = True
    contact_radius_m: float = 200.0
    contact_prob: float = 0.3
    max_contacts_per_step: int = 3
    treatment_prob: float = 0.04
    referral_days: float = 14.0
    treatment_weeks: float = 8.0
    relapse_prob: float = 0.6


@dataclass
class ViolenceBehaviour:
    cell_m: float = 150.0
    base_prob: float = 0.0003216
    displaced_factor: float = 1.0
    displaced_memory_days: float = 7.0


@dataclass
class BehaviourConfig:
    dealers: DealerBehaviour = field(default_factory=DealerBehaviour)
    users: UserBehaviour = field(default_factory=UserBehaviour)
    outreach: OutreachBehaviour = field(default_factory=OutreachBehaviour)
    violence: ViolenceBehaviour = field(default_factory=ViolenceBehaviour)


@dataclass
class RoomConfig:
    open: bool = False
    open_hour: float = 10.0
    close_hour: float = 18.0
    capacity_per_hour: int = 8
    from_week: int = 0


@dataclass
class ScenarioConfig:
    name: str = "baseline"
    description: str = ""
    intervention_week: int = 8
    withdraw_week: int | None = None
    rooms: dict[str, RoomConfig] = field(default_factory=dict)
    security_by_design: list[str] = field(default_factory=list)
    sbd_attractiveness_cut: float = 0.3
    sbd_nuisance_cut: float = 0.3


@dataclass
class RunConfig:
    output_dir: str | None = None
    write_events: bool = True
    figures: bool = True
    record_every_steps: int = 4
    progress: bool = True
    checkpoint_every_days: float = 28.0
    max_memory_gb: float = 2.0


@dataclass
class BrusimConfig:
    seed: int = 0
    weeks: float = 26.0
    burn_in_weeks: float = 2.0
    step_minutes: float = 15.0
    map: MapSettings = field(default_factory=MapSettings)
    population: PopulationConfig = field(default_factory=PopulationConfig)
    police: PoliceConfig = field(default_factory=PoliceConfig)
    courts: CourtConfig = field(default_factory=CourtConfig)
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)
    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)
    run: RunConfig = field(default_factory=RunConfig)


@functools.cache  # the ConfigStore is process-wide: building the schema node once is enough
def register_configs() -> None:
    """Register the schema with Hydra's ConfigStore as ``base_config``."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=BrusimConfig)
