"""Typed configuration schema. Hydra merges the YAML files in ``configs/`` onto these dataclasses,
so a misspelt key or a value of the wrong type is rejected before anything runs.

Each number declares its range and unit beside its default (`brusim.config.constraints`);
`brusim.config.validate` checks them all. The defaults here equal those of ``configs/``
(tests/test_validate.py); the YAML files carry the source of each figure.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from brusim.config.constraints import (
    SHARE,
    Bound,
    between,
    count,
    each,
    non_negative,
    positive,
    share,
)
from brusim.map.loader import MapSettings


@dataclass
class PopulationConfig:
    n_users: int = count(2000, "users")
    n_dealers: int = count(200, "dealers")
    n_reserve_dealers: int = count(100, "dealers")
    n_crews: int = positive(24, "crews")
    dispersed_crew_share: float = share(0.2)
    user_hotspot_share: float = share(0.5)
    user_hotspot_radius_m: float = positive(1500.0, "m")
    n_outreach: int = count(8, "workers")
    n_in_prison: int | None = count(None, "dealers (none: the courts' equilibrium stock)")
    market_weights: dict[str, float] = each(Bound(0.0, unit="relative"), dict)


@dataclass
class CompetingDutyConfig:
    name: str = "duty"
    zone: str = "all"
    weekday: int = between(-1, -1, 6, "weekday (0 = Monday; -1 every day)")
    start_hour: float = between(0.0, 0, 24, "hour of day", high_open=True)
    hours: float = between(1.0, 0, 24, "hours")
    share_lost: float = share(0.0)
    every_weeks: int = positive(1, "weeks")
    probability: float = share(1.0, "probability")


@dataclass
class PoliceConfig:
    officers: dict[str, int] = each(Bound(0, unit="officers"), dict)
    street_share: float = share(0.04)
    officers_per_unit: int = positive(2, "officers")
    shift_factors: list[float] = each(SHARE, lambda: [1.0, 1.0, 0.6])
    reinforcement_units: int = count(0, "units")
    strategy: str = "patrol"
    merged_command: bool = False
    focus_hotspots: list[str] = field(default_factory=list)
    focus_zones: list[str] = field(default_factory=list)
    focus_share: float = share(0.0)
    focus_radius_m: float = positive(200.0, "m")
    focus_stop_minutes: float = positive(60.0, "min")
    patrol_stop_minutes: float = positive(3.0, "min")
    koper_stop_minutes: float = positive(15.0, "min")
    patrol_footfall_weight: float = non_negative(2.0, "relative")
    deterrence_tau_minutes: float = positive(12.0, "min")
    arrest_prob: float = share(0.01, "probability")
    sight_m: float = positive(250.0, "m")
    arrest_m: float = positive(100.0, "m")
    duties: list[CompetingDutyConfig] = field(default_factory=list)


@dataclass
class CourtConfig:
    weekly_capacity: int = count(5, "cases per week")
    custody_hours: float = positive(24.0, "h")
    sentence_weeks: float = positive(26.0, "weeks")


@dataclass
class DealerBehaviour:
    decision_minutes: float = positive(60.0, "min")
    shift_hours: float = between(10.0, 0, 24, "h", low_open=True)
    awareness_m: float = positive(638.7, "m")
    market_radius_m: float = positive(150.0, "m")
    n_candidates: int = positive(10, "sites")
    risk_weight: float = non_negative(3.371, "utility per unit risk")
    risk_half_life_hours: float = positive(3.0, "h")
    risk_half_saturation: float = positive(12.0, "exposure")
    arrest_risk: float = non_negative(1.0, "exposure per arrest")
    arrest_memory_hours: float = positive(72.0, "h")
    flee_risk: float = share(0.6, "perceived risk")
    move_cost_per_km: float = non_negative(0.3867, "utility per km")
    turf_cost_per_km: float = non_negative(0.3044, "utility per km")
    switch_margin: float = share(0.15, "utility")
    choice_noise: float = non_negative(0.04621, "utility")
    turf_penalty: float = share(0.4297, "utility")
    crew_bonus: float = non_negative(0.1, "utility")
    footfall_weight: float = non_negative(2.0, "relative")
    sales_weight: float = non_negative(1.0, "relative")
    unserved_weight: float = non_negative(0.6, "relative")
    sales_half_life_hours: float = positive(200.5, "h")
    min_utility: float = non_negative(0.05, "utility")
    lie_low_hours: float = positive(12.0, "h")
    quit_after_lie_lows: int = positive(6, "lie-lows")
    recruit_rate_per_day: float = share(0.15, "probability per day")
    recruit_min_sales_per_day: float = non_negative(1.0, "sales per day")


@dataclass
class UserBehaviour:
    purchase_interval_hours: float = positive(12.0, "h")
    walk_speed_kmh: float = positive(4.5, "km/h")
    transit_speed_kmh: float = positive(12.0, "km/h")
    transit_above_m: float = non_negative(1500.0, "m")
    purchase_radius_m: float = positive(150.0, "m")
    search_radius_m: float = positive(2500.0, "m")
    max_attempts: int = positive(4, "attempts")
    retry_hours: float = positive(2.0, "h")
    public_use_prob: float = share(0.5, "probability")
    room_reach_m: float = positive(1200.0, "m")
    room_use_prob: float = share(0.25, "probability")
    room_use_prob_referred: float = share(0.6, "probability")
    avoid_police: bool = True
    linger_hours: float = non_negative(0.5, "h")
    min_gap_hours: float = non_negative(3.0, "h")
    loyalty: float = share(0.7383, "probability")
    market_pull_exponent: float = between(0.25, 0, 1, "exponent")


@dataclass
class DemandBehaviour:
    elasticity: float = between(-0.4, -2, 0, "elasticity of purchase frequency")
    price_hours: float = positive(2.0, "h of search worth the money price")
    give_up_hours: float = non_negative(2.0, "h")
    memory_searches: float = positive(5.0, "searches")
    offstreet_prob: float = share(0.01, "probability per craving")
    offstreet_weeks: float = positive(4.0, "weeks")


@dataclass
class SupplyBehaviour:
    sales_per_seller_per_day: float = non_negative(0.0, "sales a day (0: crews keep full size)")
    risk_aversion: float = non_negative(0.0, "relative")
    quit_rate_per_day: float = share(0.1, "probability per day")


@dataclass
class OutreachBehaviour:
    hotspots: list[str] = field(default_factory=list)
    shift_start_hour: float = between(10.0, 0, 24, "hour of day", high_open=True)
    shift_hours: float = between(8.0, 0, 24, "h")
    weekdays_only: bool = True
    contact_radius_m: float = positive(200.0, "m")
    contact_prob: float = share(0.3, "probability")
    max_contacts_per_step: int = count(3, "contacts per worker")
    treatment_prob: float = share(0.04, "probability")
    referral_days: float = positive(14.0, "days")
    treatment_weeks: float = positive(8.0, "weeks")
    relapse_prob: float = share(0.6, "probability")
    recovered_weeks: float | None = positive(52.0, "weeks (none: recovery is for good)")


@dataclass
class ViolenceBehaviour:
    cell_m: float = positive(150.0, "m")
    base_prob: float = share(0.000165, "probability per step")
    displaced_factor: float = non_negative(1.0, "relative")
    displaced_memory_days: float = non_negative(7.0, "days")


@dataclass
class BehaviourConfig:
    dealers: DealerBehaviour = field(default_factory=DealerBehaviour)
    users: UserBehaviour = field(default_factory=UserBehaviour)
    demand: DemandBehaviour = field(default_factory=DemandBehaviour)
    supply: SupplyBehaviour = field(default_factory=SupplyBehaviour)
    outreach: OutreachBehaviour = field(default_factory=OutreachBehaviour)
    violence: ViolenceBehaviour = field(default_factory=ViolenceBehaviour)


@dataclass
class RoomConfig:
    open: bool = False
    open_hour: float = between(10.0, 0, 24, "hour of day")
    close_hour: float = between(18.0, 0, 24, "hour of day")
    capacity_per_hour: int = count(8, "entries per hour")
    from_week: int | None = count(None, "week (none: the intervention week)")


@dataclass
class ScenarioConfig:
    name: str = "baseline"
    description: str = ""
    intervention_week: int = count(8, "week")
    withdraw_week: int | None = count(None, "week")
    rooms: dict[str, RoomConfig] = field(default_factory=dict)
    security_by_design: list[str] = field(default_factory=list)
    sbd_attractiveness_cut: float = share(0.3)
    sbd_nuisance_cut: float = share(0.3)


@dataclass
class RunConfig:
    output_dir: str | None = None
    write_events: bool = True
    figures: bool = True
    record_every_steps: int = positive(4, "steps")
    progress: bool = True
    checkpoint_every_days: float = non_negative(28.0, "days")
    max_memory_gb: float = non_negative(2.0, "GB (0: no check)")


@dataclass
class SpinupConfig:
    min_weeks: int = count(12, "weeks")
    max_weeks: int = count(20, "weeks")
    preload_users_week: int = count(4, "weeks")  # 0: the users' stocks are not pre-loaded
    window_weeks: int = positive(4, "weeks")
    tolerance: float = share(0.05, "relative change")
    cache: bool = True


@dataclass
class BrusimConfig:
    seed: int = count(0, "seed")
    weeks: float = positive(26.0, "weeks")
    burn_in_weeks: float = non_negative(2.0, "weeks")
    step_minutes: float = positive(15.0, "min")
    map: MapSettings = field(default_factory=MapSettings)
    population: PopulationConfig = field(default_factory=PopulationConfig)
    police: PoliceConfig = field(default_factory=PoliceConfig)
    courts: CourtConfig = field(default_factory=CourtConfig)
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)
    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)
    spinup: SpinupConfig = field(default_factory=SpinupConfig)
    run: RunConfig = field(default_factory=RunConfig)


@functools.cache  # the ConfigStore is process-wide: building the schema node once is enough
def register_configs() -> None:
    """Register the schema with Hydra's ConfigStore as ``base_config``."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=BrusimConfig)
