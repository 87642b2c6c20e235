"""`BrusselsMarketModel`: a street drug market on the real street graph.

Each submodel lives in its own module with its state, parameters and compiled rules:
`world` (streets, neighbourhoods, fields, perceived risk), `market` (the word-of-mouth market
list), `dealers`, `users`, `police` (deployment and arrests), `strategies`, `courts`, `rooms`,
`outreach` and `violence`; `events` and `recorder` take what the rules write. This file builds
them and lists the phases of a step, in order (docs/ODD.md §3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from brusim.config.validate import validate
from brusim.map import MapSettings, StreetMap, load_street_map
from brusim.model import dealers as dl
from brusim.model import rng as rd
from brusim.model import supply
from brusim.model import users as us
from brusim.model.agents import Dealer, OutreachWorker, PoliceUnit, User
from brusim.model.clock import Clock
from brusim.model.codes import DealerStatus
from brusim.model.courts import CourtParams
from brusim.model.demand import DemandParams, init_demand
from brusim.model.events import EventLog
from brusim.model.market import MarketList, choose_markets
from brusim.model.numba_cache import announce_compilation
from brusim.model.outreach import OutreachPlan, init_outreach
from brusim.model.police import Deployment, PoliceParams, init_police, police_step
from brusim.model.policy import adopt_policy, refuse_market_changes
from brusim.model.precompile import compile_in_parallel, start_helpers
from brusim.model.recorder import Recorder
from brusim.model.rooms import build_rooms
from brusim.model.strategies import make_strategy
from brusim.model.violence import ViolenceParams, grid_cells, violence_step
from brusim.model.world import World

_NO_CUT = np.zeros(0)  # no security-by-design cut (a kernel argument)


def plain(named: tuple) -> tuple:
    """A NamedTuple as a plain tuple, for a kernel call: numba types a plain tuple's fields in C
    but a NamedTuple's in Python (1-3 µs a call); each phase kernel names the fields again."""
    return tuple(named)


def map_settings(cfg_map) -> MapSettings:
    """MapSettings from the ``map`` config node (a DictConfig or already a MapSettings)."""
    if isinstance(cfg_map, MapSettings):
        return cfg_map
    return OmegaConf.to_object(cfg_map) if isinstance(cfg_map, DictConfig) else MapSettings(
        **dict(cfg_map))


class BrusselsMarketModel(mesa.Model):
    """Agent-based street drug market with police, courts, outreach and consumption rooms."""

    def __init__(self, cfg, smap: StreetMap | None = None, events_path: Path | None = None):
        super().__init__(rng=int(cfg.seed))
        if isinstance(cfg, DictConfig):  # plain dataclasses: attribute access is 50x faster
            cfg = OmegaConf.to_object(cfg)
        self.cfg = cfg  # the config in force now (the market's and the current policy's)
        self.run_cfg = cfg  # the run's own: its scenario, horizon and windows (`begin`)
        validate(cfg)  # before the map is loaded: a bad value costs nothing
        helpers = start_helpers()  # first run of these sources only: compile in parallel
        self.smap = smap if smap is not None else load_street_map(map_settings(cfg.map))
        validate(cfg, self.smap)
        announce_compilation()
        self.clock = clock = Clock(float(cfg.step_minutes))
        # the initial state draws from one stream; every draw of a step is keyed (see
        # `brusim.model.rng`): by the run's key, its purpose, the step and the agent
        self.init_rng = np.random.default_rng(rd.init_seed(int(cfg.seed)))
        self.key = rd.stream_key(int(cfg.seed))
        self.t = 0
        self.origin = 0  # the first reported step (`begin`: a branch point)
        self.policy_changes: dict[int, object] = {}  # step -> config whose policy starts then
        self.n_steps = int(round(float(cfg.weeks) * clock.steps_per_week))
        self.step_hours = clock.step_minutes / 60.0
        sc = cfg.scenario
        self.intervention_step = int(sc.intervention_week * clock.steps_per_week)
        self.withdraw_step = (int(sc.withdraw_week * clock.steps_per_week)
                              if sc.withdraw_week is not None else None)

        smap, rng = self.smap, self.init_rng
        self.world = world = World(cfg, smap, clock)
        court = CourtParams.from_config(cfg, clock)
        in_prison = cfg.population.n_in_prison
        if in_prison is None:  # courts at capacity: the stock their sentences keep in prison
            in_prison = int(round(court.weekly_capacity * court.sentence_steps
                                  / clock.steps_per_week))
        self.dealers = dl.init_dealers(smap, cfg.population, cfg.behaviour.dealers,
                                       world.hotspot_weights, clock, rng, in_prison,
                                       court.sentence_steps)
        self.users = us.init_users(smap, cfg.population, world.hotspot_weights, rng)
        self.demand = init_demand(self.users.n)
        self.police = init_police(smap, cfg.police)
        self.strategy = make_strategy(cfg.police, smap)
        self.outreach = init_outreach(smap, cfg.population.n_outreach,
                                      list(cfg.behaviour.outreach.hotspots))
        self.outreach_plan = OutreachPlan(cfg, smap, clock, len(self.outreach))
        self.rooms, self.room_schedule = build_rooms(cfg, smap, clock)
        self.court_used = 0  # prosecutions this week
        self.deployment = Deployment(cfg, world, clock, self.police, self.strategy, self.key)
        self.cell = grid_cells(smap, cfg.behaviour.violence.cell_m)
        self.markets = MarketList(smap.n_nodes,
                                  float(cfg.behaviour.users.market_pull_exponent))
        self._seed_markets(rng)

        self.events = EventLog(events_path)
        self.recorder = Recorder(smap, int(cfg.run.record_every_steps), self.step_hours)
        self._make_agents()
        self._set_parameters()
        # the step's own state: crews by member (until recruitment), this step's sellers
        self._crews: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._selling = self._seller_nodes = np.zeros(0, np.int64)
        world.refresh_demand_near(float(cfg.behaviour.dealers.sales_weight),
                                  float(cfg.behaviour.dealers.unserved_weight))
        compile_in_parallel(self, helpers)

    def begin(self, cfg, events_path: Path | None = None) -> None:
        """Start the reported run at the current step (a branch point, e.g. after a spin-up):
        steps, events and metrics count from here; the market goes on under its present
        policy until the intervention of ``cfg``, where ``cfg``'s policy is adopted
        (`policy.adopt_policy`), and the present police deployment again at a withdrawal."""
        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_object(cfg)
        validate(cfg, self.smap)
        refuse_market_changes(self.cfg, cfg)
        spw, o = self.clock.steps_per_week, self.t
        sc = cfg.scenario
        self.origin, self.run_cfg = o, cfg
        self.intervention_step = o + int(sc.intervention_week * spw)
        self.withdraw_step = (o + int(sc.withdraw_week * spw) if sc.withdraw_week is not None
                              else None)
        self.n_steps = o + int(round(float(cfg.weeks) * spw))
        self.policy_changes = {self.intervention_step: cfg}
        if self.withdraw_step is not None:  # the police measures stop; rooms, outreach and
            # security by design stay (built things and services outlast a crackdown)
            self.policy_changes[self.withdraw_step] = dataclasses.replace(cfg,
                                                                          police=self.cfg.police)
        self.events = EventLog(events_path, origin=o)
        self.recorder = Recorder(self.smap, int(cfg.run.record_every_steps), self.step_hours,
                                 origin=o)

    def _seed_markets(self, rng: np.random.Generator) -> None:
        """Initial word of mouth: the starting sites are known markets; users know one each."""
        d, sales = self.dealers, self.world.fields.sales
        active = d.status == DealerStatus.ACTIVE
        # start near steady state: each seller's expected sales per step, accumulated
        purchases_per_step = (self.users.n / self.clock.steps(
            float(self.cfg.behaviour.users.purchase_interval_hours)))
        per_seller = purchases_per_step / max(int(active.sum()), 1)
        np.add.at(sales, d.node[active], per_seller / (1.0 - self.world.decay_sales))
        self.markets.reset(sales)
        self.users.known[:] = choose_markets(
            self.world.xy32, self.users.home, self.markets.nodes, self.markets.pull,
            float(self.cfg.behaviour.users.search_radius_m) * 2, rng)

    def _set_parameters(self) -> None:
        """Each rule's parameters in step units, and the per-step state of the schedule
        (again after a checkpoint is loaded: the kernels' views of the arrays)."""
        cfg, clock, world = self.cfg, self.clock, self.world
        self.dealer_params = dl.DealerParams.from_config(cfg, clock)
        self.user_params = us.UserParams.from_config(cfg, clock, world.hourly_factor)
        self.demand_params = DemandParams.from_config(cfg, clock)
        self.supply_params = supply.SupplyParams.from_config(cfg)
        self.police_params = PoliceParams.from_config(cfg, world, clock)
        self.court_params = CourtParams.from_config(cfg, clock)
        self.violence_params = ViolenceParams.from_config(cfg)
        self.site_search = dl.site_search(world, self.dealer_params)
        self.user_world = us.user_world(world)
        # the kernels' plain-tuple arguments (see `plain`): their arrays change in place
        self._args = {name: plain(getattr(self, name)) for name in (
            "dealers", "users", "demand", "rooms", "site_search", "user_world", "dealer_params",
            "user_params", "demand_params", "police_params", "court_params", "violence_params")}
        self._args["fields"] = plain(world.fields)
        self._args["presence"] = plain(self.deployment.presence)
        self.steps_per_day = clock.steps_per_day
        self.steps_per_hour = int(clock.steps_per_hour)
        self.steps_per_week = clock.steps_per_week
        # shifts are fixed per dealer: one on-shift mask per time of day
        hours = np.arange(clock.steps_per_day) * clock.step_minutes / 60.0
        self._shift_table = dl.on_shift(self.dealers, hours[:, None],
                                        self.dealer_params.shift_hours)
        self._on_shift = self._shift_table[self.t % self.steps_per_day]
        # (t + offset) % interval == 0  <=>  offset % interval == (-t) % interval
        self._decision_phase = self.dealers.decision_offset % self.dealer_params.decision_steps

    def _make_agents(self) -> None:
        for i in range(self.dealers.n):
            Dealer(self, i)
        for i in range(self.users.n):
            User(self, i)
        for i in range(len(self.police)):
            PoliceUnit(self, i)
        for i in range(len(self.outreach)):
            OutreachWorker(self, i)

    # ------------------------------------------------------------------ the step
    @property
    def steps_done(self) -> int:
        """Steps run since the reported run began (`begin`)."""
        return self.t - self.origin

    @property
    def intervention_active(self) -> bool:
        return self.t >= self.intervention_step and (
            self.withdraw_step is None or self.t < self.withdraw_step)

    def step(self) -> None:
        """Advance the market by one time step (15 minutes by default)."""
        t = self.t
        if t in self.policy_changes:  # the intervention starts (or is withdrawn)
            adopt_policy(self, self.policy_changes.pop(t))
        step_of_day = t % self.steps_per_day
        new_hour = t % self.steps_per_hour == 0
        if new_hour:
            self.rooms.used_this_hour[:] = 0
            self.markets.refresh(t, self.world.fields.sales, self.steps_per_day)
        if t % self.steps_per_week == 0:
            self.court_used = 0
        self._on_shift = self._shift_table[step_of_day]
        selling = self.police_phase(t, new_hour)
        self.dealers_phase(t, selling)
        self.users_phase(t)
        self.outreach_phase(t, new_hour)
        self.violence_phase(t)
        if step_of_day == 0 and t > 0:
            self.recruitment(t)
        self.world.decay()
        self.recorder.end_step(t)
        self.t += 1

    def police_phase(self, t: int, new_hour: bool) -> np.ndarray:
        """Units take their posts, exposures take what they see, arrests and courts
        (`police.police_step`). Returns the dealers still selling."""
        posts = self.deployment.posts(t, new_hour, self.intervention_active)
        a = self._args
        selling, self.court_used = police_step(
            t, self.key, plain(self.deployment.posting(posts)), a["presence"],
            a["fields"], a["dealers"], self._on_shift, a["police_params"], a["court_params"],
            self.court_used, self.events.sink(2 * self.dealers.n), self.recorder.sink())
        self.events.commit()
        return selling

    def dealers_phase(self, t: int, selling: np.ndarray) -> None:
        """Timed statuses end; sellers due or at risk reconsider their site
        (`dealers.dealers_step`). ``selling``: the dealers selling before the transitions."""
        sbd_on = t >= self.intervention_step and self.world.any_sbd
        if self._crews is None:
            self._crews = dl.crew_index(self.dealers)
        a = self._args
        self._selling, self._seller_nodes = dl.dealers_step(
            t, self.key, a["dealers"], selling, self._on_shift,
            (self._decision_phase, (-t) % self.dealer_params.decision_steps), self._crews,
            self.markets.nodes, a["site_search"], a["fields"],
            self.world.sbd_attractiveness_cut if sbd_on else _NO_CUT, a["dealer_params"],
            self.events.sink(2 * self.dealers.n), self.recorder.sink())
        self.events.commit()

    def users_phase(self, t: int) -> None:
        """Treatments end, cravings start, searchers arrive and buy, new and failed searchers
        set out (`users.users_step`)."""
        sbd_on = t >= self.intervention_step and self.world.any_sbd
        a = self._args
        us.users_step(
            t, self.key, a["users"], a["presence"], a["user_world"], a["fields"],
            (self._selling, self._seller_nodes),
            self.world.sbd_nuisance_cut if sbd_on else _NO_CUT, a["rooms"],
            self.room_schedule.open_now(t, self.steps_per_day),
            self.clock.demand_factor(t) / self.user_params.purchase_interval_steps,
            plain(self.markets.view()), a["user_params"], a["demand"], a["demand_params"],
            self.events.sink(3 * self.users.n),
            self.recorder.sink())
        self.events.commit()

    def outreach_phase(self, t: int, new_hour: bool) -> None:
        """Workers move within their hotspot hourly and, on shift, contact users nearby
        (`outreach.OutreachPlan.step`)."""
        self.outreach_plan.step(t, new_hour, self.outreach, self.users, self.world, self.key,
                                self.events, self.recorder.sink())

    def violence_phase(self, t: int) -> None:
        """Cells contested by two or more crews may see an incident
        (`violence.violence_step`)."""
        violence_step(t, self.key, self._selling, self._seller_nodes,
                      self.cell, self._args["dealers"], self._args["violence_params"],
                      self.events.sink(len(self._selling)), self.recorder.sink())
        self.events.commit()

    def recruitment(self, t: int) -> None:
        """Daily: crews shed the members their takings and risk no longer pay for and recruit
        up to the size they want from the reserve (`supply.recruit`)."""
        if supply.recruit(t, self.dealers, self.dealer_params, self.supply_params, self.world,
                          rd.Draws(self.key, t), self.events):
            self._crews = None

    # ------------------------------------------------------------------ running
    def run(self, n_steps: int | None = None, progress: bool = False) -> None:
        """Run ``n_steps`` (default: the rest of the configured horizon), then flush outputs."""
        n_steps = self.n_steps - self.t if n_steps is None else n_steps
        bar = self.progress_bar() if progress else None
        self.advance(n_steps, on_step=bar.update if bar is not None else None)
        if bar is not None:
            bar.close()
        self.finish()

    def advance(self, n_steps: int, on_step: Callable[[], object] | None = None) -> None:
        """Step ``n_steps`` times through Mesa's schedule without flushing (a run may continue,
        e.g. after a checkpoint), calling ``on_step`` after each step (e.g. a progress bar's
        update)."""
        if on_step is None:
            self.run_for(n_steps)
            return
        for _ in range(n_steps):
            self.run_for(1)
            on_step()

    def progress_bar(self):
        """A tqdm bar over the whole horizon, starting at the current step."""
        from tqdm import tqdm

        return tqdm(total=self.n_steps - self.origin, initial=self.steps_done, unit="step",
                    mininterval=1.0, leave=False,
                    desc=f"{self.run_cfg.scenario.name} seed {self.cfg.seed}")

    def finish(self) -> None:
        """Flush the last recording interval and the buffered events."""
        self.recorder.flush(self.t - 1)
        self.events.flush()

    # ------------------------------------------------------------------ checkpoints
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for name in ("site_search", "user_world", "_args"):  # views, rebuilt
            state[name] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.smap is not None:  # a plain copy; a checkpoint attaches the map on load
            self.attach(self.smap)

    def attach(self, smap: StreetMap) -> None:
        """Re-attach the map after a checkpoint was loaded (brusim.experiments.checkpoint)."""
        self.smap = self.strategy.smap = smap
        self.world.attach(self.cfg, smap)
        self.deployment.attach(self.world)
        self._set_parameters()

    # ------------------------------------------------------------------ reading the model
    def hourly(self, decayed_sum: np.ndarray) -> np.ndarray:
        """Convert a decayed event count (sales, unserved searches) to a rate per hour."""
        return self.world.hourly(decayed_sum)

    @property
    def sales(self) -> np.ndarray:
        """Decayed sales count per node."""
        return self.world.fields.sales

    @property
    def police_cover_arrest(self) -> np.ndarray:
        """Number of on-duty units within arrest range of each node (at this step's posts)."""
        return self.deployment.cover(self.world.balls.arrest)

    def selling_nodes(self) -> np.ndarray:
        """Street nodes of the dealers who sold in the last step (one entry per seller)."""
        d = self.dealers
        hour = self.clock.hour(self.t - 1)
        mask = (d.status == DealerStatus.ACTIVE) & dl.on_shift(d, hour,
                                                              self.dealer_params.shift_hours)
        return d.node[mask]

    def region_metrics(self) -> pd.DataFrame:
        """Region-wide metrics per step."""
        return self.recorder.region_frame()

    def area_metrics(self) -> pd.DataFrame:
        """Per hotspot catchment, police zone and region, per recording interval."""
        return self.recorder.area_frame(self.clock.steps_per_day)


__all__ = ["BrusselsMarketModel", "map_settings", "plain"]
