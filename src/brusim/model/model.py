"""`BrusselsMarketModel`: a street drug market on the real street graph.

One step (15 minutes by default) runs, in order: hourly market list and room reset, weekly court
reset → police deployment and presence → arrests and courts → perceived risk (exposure after this
step's police and arrests) → dealers' status transitions and site decisions → users' search,
purchases and consumption → outreach contacts → violence in contested cells → daily recruitment
→ decay of sales, unserved searches and demand → recording.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from brusim.config.validate import validate
from brusim.errors import ConfigError
from brusim.map import MapSettings, StreetMap, load_street_map
from brusim.model import bitgen
from brusim.model import dealers as dl
from brusim.model import kernels as kn
from brusim.model import police as pl
from brusim.model import users as us
from brusim.model.agents import Dealer, OutreachWorker, PoliceUnit, User
from brusim.model.clock import Clock
from brusim.model.events import EventLog, EventType
from brusim.model.numba_cache import announce_compilation
from brusim.model.outreach import Rooms, init_outreach
from brusim.model.recorder import Recorder
from brusim.model.spatial import Ball, node_xy32
from brusim.model.step_dealers import dealers_step
from brusim.model.step_outreach import (
    move_workers,
    outreach_outcomes,
    outreach_step,
    violence_step,
)
from brusim.model.step_police import police_step
from brusim.model.step_users import users_step

RNG_STREAMS = ("init", "police", "dealers", "users", "outreach", "violence")
_NO_CUT = np.zeros(0)  # no security-by-design cut (a kernel argument)
N_MARKETS = 60  # word-of-mouth market list size


def map_settings(cfg_map) -> MapSettings:
    """MapSettings from the ``map`` config node (a DictConfig or already a MapSettings)."""
    if isinstance(cfg_map, MapSettings):
        return cfg_map
    return OmegaConf.to_object(cfg_map) if isinstance(cfg_map, DictConfig) else MapSettings(
        **dict(cfg_map))


@dataclass(frozen=True)
class Durations:
    """Behaviour and court durations, converted once to whole steps (at least 1)."""

    per_hour: int
    per_day: int
    per_week: int
    decision: int  # dealers reconsider their site
    purchase_interval: int
    linger: int
    min_gap: int
    retry: int
    lie_low: int
    displaced_memory: int
    referral: int
    custody: int
    sentence: int

    @classmethod
    def from_config(cls, cfg, clock: Clock) -> Durations:
        beh, steps = cfg.behaviour, clock.steps
        return cls(
            per_hour=int(clock.steps_per_hour),
            per_day=clock.steps_per_day,
            per_week=clock.steps_per_week,
            decision=steps(float(beh.dealers.decision_minutes) / 60),
            purchase_interval=steps(float(beh.users.purchase_interval_hours)),
            linger=steps(float(beh.users.linger_hours)),
            min_gap=steps(float(beh.users.min_gap_hours)),
            retry=steps(float(beh.users.retry_hours)),
            lie_low=steps(float(beh.dealers.lie_low_hours)),
            displaced_memory=steps(float(beh.violence.displaced_memory_days) * 24),
            referral=steps(float(beh.outreach.referral_days) * 24),
            custody=steps(float(cfg.courts.custody_hours)),
            sentence=steps(float(cfg.courts.sentence_weeks) * 7 * 24),
        )


class BrusselsMarketModel(mesa.Model):
    """Agent-based street drug market with police, courts, outreach and consumption rooms."""

    def __init__(self, cfg, smap: StreetMap | None = None, events_path: Path | None = None):
        super().__init__(rng=int(cfg.seed))
        if isinstance(cfg, DictConfig):  # plain dataclasses: attribute access is 50x faster
            cfg = OmegaConf.to_object(cfg)
        self.cfg = cfg
        validate(cfg)  # before the map is loaded: a bad value costs nothing
        self.smap = smap if smap is not None else load_street_map(map_settings(cfg.map))
        validate(cfg, self.smap)
        announce_compilation()
        self.clock = Clock(float(cfg.step_minutes))
        self.seed_sequence = np.random.SeedSequence(int(cfg.seed))
        children = self.seed_sequence.spawn(len(RNG_STREAMS))
        self.streams = {n: np.random.default_rng(c) for n, c in zip(RNG_STREAMS, children,
                                                                      strict=True)}
        self.t = 0
        self.n_steps = int(round(float(cfg.weeks) * self.clock.steps_per_week))
        beh = cfg.behaviour
        self.step_hours = self.clock.step_minutes / 60.0
        sc = cfg.scenario
        self.intervention_step = int(sc.intervention_week * self.clock.steps_per_week)
        self.withdraw_step = (int(sc.withdraw_week * self.clock.steps_per_week)
                              if sc.withdraw_week is not None else None)

        smap = self.smap
        rng = self.streams["init"]
        self.hotspot_weights = self._hotspot_weights()
        self._build_balls()
        self.footfall = self._footfall()
        self.sbd = self._security_by_design()

        self.dealers = dl.init_dealers(smap, cfg.population, beh.dealers, self.hotspot_weights,
                                       self.clock, rng)
        self.users = us.init_users(smap, cfg.population, self.hotspot_weights, rng)
        self.police = pl.init_police(smap, cfg.police, rng)
        self.strategy = pl.make_strategy(cfg.police, smap)
        self.outreach = init_outreach(smap, cfg.population.n_outreach, list(beh.outreach.hotspots))
        self.rooms = self._rooms()

        n = smap.n_nodes
        self.presence = np.zeros(n)  # decayed police exposure seen from each node
        self.arrest_memory = np.zeros(n)  # decayed exposure to peers' arrests
        self.sales = np.zeros(n)
        self.unserved = np.zeros(n)
        self.decay_risk = 0.5 ** (1.0 / self.clock.steps(beh.dealers.risk_half_life_hours))
        self.decay_arrest = 0.5 ** (1.0 / self.clock.steps(beh.dealers.arrest_memory_hours))
        self.decay_sales = 0.5 ** (1.0 / self.clock.steps(beh.dealers.sales_half_life_hours))
        self.court_used = 0
        self.plan = self.strategy.plan(self.police, np.zeros(len(smap.hotspots)), rng)
        self.cell = self._cells(beh.violence.cell_m)
        self._seed_markets()

        self.events = EventLog(events_path)
        self.recorder = Recorder(smap, int(cfg.run.record_every_steps), self.step_hours)
        self._make_agents()
        self._init_step_caches()

    def _build_balls(self) -> None:
        """Neighbourhoods (straight-line balls) of every node, built once per model."""
        smap, cfg, beh = self.smap, self.cfg, self.cfg.behaviour
        self.ball_market = Ball.build(smap, beh.dealers.market_radius_m)
        self.ball_aware = Ball.build(smap, beh.dealers.awareness_m)
        self.ball_sight = Ball.build(smap, cfg.police.sight_m)
        self.ball_arrest = Ball.build(smap, cfg.police.arrest_m)
        self.ball_purchase = (self.ball_market
                              if beh.users.purchase_radius_m == beh.dealers.market_radius_m
                              else Ball.build(smap, beh.users.purchase_radius_m))
        self.ball_contact = Ball.build(smap, beh.outreach.contact_radius_m)

    # The street map and the neighbourhood tables derived from it are large and immutable: a
    # checkpoint leaves them out (see brusim.experiments.checkpoint) and they are rebuilt on load.
    _REBUILT_ON_LOAD = ("ball_market", "ball_aware", "ball_sight", "ball_arrest",
                        "ball_purchase", "ball_contact")

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for name in self._REBUILT_ON_LOAD:
            state[name] = None
        state["_rng_handles"] = {}  # addresses in this process (see _rng_handle)
        state["_kernel_args"] = {}  # references to this object's arrays (see _fixed_args)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.smap is not None:
            self._build_balls()

    def _init_step_caches(self) -> None:
        """Constants and per-step/per-hour working state of the step loop."""
        n = self.smap.n_nodes
        self.durations = Durations.from_config(self.cfg, self.clock)
        self._hourly_factor = (1.0 - self.decay_sales) * self.clock.steps_per_hour
        self._any_sbd = bool(self.sbd.any())
        # (t + offset) % interval == 0  <=>  offset % interval == (-t) % interval
        self._decision_phase = self.dealers.decision_offset % self.durations.decision
        self._crew_cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        hours = np.arange(self.clock.steps_per_day) * self.clock.step_minutes / 60.0
        self._shift_table = dl.on_shift(self.dealers, hours[:, None],
                                        self.cfg.behaviour.dealers.shift_hours)
        self._on_shift = self._shift_table[0]
        self._selling = np.zeros(0, np.int64)
        # police rota, set hourly by _plan_hour
        self._on_units = np.zeros(0, np.int64)
        self._rotas: dict[tuple[bytes, bool], np.ndarray] = {}  # on-duty masks, by availability
        self._focus_units = np.zeros(0, np.int64)
        self._effect = np.zeros(0)
        self._patrol_units = np.zeros(0, np.int64)
        self._patrol_group = np.zeros(0, np.int64)
        self._patrol_cols = np.zeros(0, np.int64)
        self._patrol_merged: bool | None = None
        self._posts: tuple[int, np.ndarray] | None = None  # see _draw_posts
        self._posts_now = np.zeros(0, np.int64)  # nodes of the on-duty units at this step
        self._posts_at = np.zeros(n, np.int64)  # on-duty units posted at each node
        self._sellers_at = np.zeros(n + 1, np.int64)  # scratch for _purchases
        self._sellers_at[n] = -1
        self._near_scratch = np.zeros(n, np.int64)  # scratch for kernels.decide_sites
        self._x32, self._y32 = node_xy32(self.smap)  # markets in reach, word of mouth
        self._sbd_cut_nodes = float(self.cfg.scenario.sbd_attractiveness_cut) * self.sbd
        self._sbd_nuisance_nodes = float(self.cfg.scenario.sbd_nuisance_cut) * self.sbd
        self._outreach_covered: np.ndarray | None = None
        self._outreach_shift = self._outreach_shift_table()
        self._room_hours = self._room_hours_table()
        # nodes sold at since the market list refresh (kernels.mark_sold): mask, nodes, count
        self._sold = (np.zeros(n, bool), np.zeros(n, np.int64), np.zeros(1, np.int64))
        self._refresh_demand_near()
        self._rng_handles: dict[str, np.ndarray] = {}
        self._kernel_args: dict[str, tuple] = {}
        self._footfall_pull = float(self.cfg.behaviour.dealers.footfall_weight) * self.footfall

    def _fixed_args(self, phase: str) -> tuple:
        """The arguments of a phase kernel that stay the same from step to step (arrays updated
        in place, constants), built once per model (and again after a checkpoint is loaded)."""
        args = self._kernel_args.get(phase)
        if args is None:
            args = self._kernel_args[phase] = getattr(self, f"_{phase}_args")()
        return args

    def _users_args(self) -> tuple:
        u, beh, smap, r = self.users, self.cfg.behaviour.users, self.smap, self.rooms
        dealer_w = self.cfg.behaviour.dealers
        return (
            (u.status, u.until, u.ready, u.arrive, u.node, u.home, u.target, u.known,
             u.attempts, u.referred_until),
            (us.IDLE, us.SEARCHING, us.LINGERING, us.TREATMENT, us.RECOVERED),
            (self.ball_sight.indptr, self.ball_sight.indices, self.ball_arrest.indptr,
             self.ball_arrest.indices, self._posts_at, bool(beh.avoid_police)),
            (self._sellers_at, self.ball_purchase.padded, self.ball_market.padded, self.sales,
             self.unserved, self._demand_near,
             float(dealer_w.sales_weight) * self._hourly_factor,
             float(dealer_w.unserved_weight) * self._hourly_factor,
             float(beh.public_use_prob), self.durations.linger, self.durations.min_gap),
            (r.dist, r.capacity, r.used_this_hour, r.node, float(beh.room_use_prob),
             float(beh.room_use_prob_referred), float(beh.room_reach_m)),
            (float(self.cfg.behaviour.outreach.relapse_prob), float(beh.loyalty), self._x32,
             self._y32, np.float32(beh.search_radius_m),
             np.float32(-2.0 / float(beh.search_radius_m)), int(beh.max_attempts),
             self.durations.retry, smap.x, smap.y, float(smap.circuity),
             *us.speeds_m_per_step(beh, self.clock.step_minutes), float(beh.transit_above_m)),
            self.recorder.sink())

    def _outreach_args(self) -> tuple:
        u, beh = self.users, self.cfg.behaviour.outreach
        return ((u.status, u.until, u.node, u.home, u.referred_until),
                (self.durations.referral, float(beh.treatment_prob),
                 float(beh.treatment_weeks), self.clock.steps_per_week, us.TREATMENT))

    def _rng_handle(self, stream: str) -> np.ndarray:
        """`bitgen.handle` of a random stream, for kernels that draw from it themselves."""
        h = self._rng_handles.get(stream)
        if h is None:
            h = self._rng_handles[stream] = bitgen.handle(self.streams[stream])
        return h

    # ------------------------------------------------------------------ set-up helpers
    def _outreach_shift_table(self) -> list[bool]:
        """Whether outreach workers are on shift, for each step of the week."""
        beh, clock = self.cfg.behaviour.outreach, self.clock
        start, hours = float(beh.shift_start_hour), float(beh.shift_hours)
        return [(not bool(beh.weekdays_only) or clock.weekday(s) < 5)
                and clock.in_hours(s, start, hours) for s in range(clock.steps_per_week)]

    def _room_hours_table(self) -> np.ndarray:
        """(steps of the day, rooms): room open in the scenario and within its opening hours
        (`Rooms.open_now` without the start week)."""
        r = self.rooms
        hours = np.array([self.clock.hour(s) for s in range(self.clock.steps_per_day)])[:, None]
        return r.open_ & (hours >= r.open_hour) & (hours < r.close_hour)

    def _hotspot_weights(self) -> np.ndarray:
        mw = dict(self.cfg.population.market_weights or {})
        unknown = sorted(set(mw) - set(self.smap.hotspots.ids))
        if unknown:
            raise ConfigError(
                f"population.market_weights names unknown hotspots {unknown}; valid: "
                f"{', '.join(self.smap.hotspots.ids)}"
            )
        default = 1.0 if not mw else 0.0
        return np.array([float(mw.get(h, default)) for h in self.smap.hotspots.ids])

    def _footfall(self) -> np.ndarray:
        """Static footfall index per node: station footfall within 300 m plus residents."""
        st = self.smap.stations
        foot = Ball.build(self.smap, 300.0).spread(
            st.node, np.array([float(a.get("footfall", 1)) for a in st.attrs]), self.smap.n_nodes
        ) if len(st) else np.zeros(self.smap.n_nodes)
        pop = self.smap.node_population / max(float(self.smap.node_population.mean()), 1e-9)
        return foot / 10.0 + 0.05 * pop

    def _security_by_design(self) -> np.ndarray:
        sbd = np.zeros(self.smap.n_nodes)
        for h in self.cfg.scenario.security_by_design:
            try:
                i = self.smap.hotspots.index(h)
            except KeyError as exc:
                raise ConfigError(f"scenario.security_by_design: {exc.args[0]}") from None
            sbd[self.smap.hotspots.catchment(i)] = 1.0
        return sbd

    def _rooms(self) -> Rooms:
        rs = self.smap.rooms
        conf = dict(self.cfg.scenario.rooms or {})
        unknown = sorted(set(conf) - set(rs.ids))
        if unknown:
            raise ConfigError(f"scenario.rooms names unknown rooms {unknown}; valid: "
                              f"{', '.join(rs.ids)}")
        get = [conf.get(r) for r in rs.ids]
        spw = self.clock.steps_per_week
        return Rooms(
            node=rs.node.astype(np.int64), dist=rs.dist,
            open_=np.array([bool(c and c.open) for c in get]),
            open_hour=np.array([float(c.open_hour) if c else 0.0 for c in get]),
            close_hour=np.array([float(c.close_hour) if c else 0.0 for c in get]),
            capacity=np.array([int(c.capacity_per_hour) if c else 0 for c in get]),
            from_step=np.array([int(c.from_week * spw) if c else 0 for c in get]),
            used_this_hour=np.zeros(len(rs.ids), np.int64),
        )

    def _cells(self, cell_m: float) -> np.ndarray:
        gx = np.floor((self.smap.x - self.smap.x.min()) / cell_m).astype(np.int64)
        gy = np.floor((self.smap.y - self.smap.y.min()) / cell_m).astype(np.int64)
        return gx * (gy.max() + 1) + gy

    def _seed_markets(self) -> None:
        """Initial word of mouth: the starting sites are known markets; users know one each."""
        d = self.dealers
        active = d.status == dl.ACTIVE
        # start near steady state: each seller's expected sales per step, accumulated
        purchases_per_step = (len(self.users) / self.clock.steps(
            float(self.cfg.behaviour.users.purchase_interval_hours)))
        per_seller = purchases_per_step / max(int(active.sum()), 1)
        np.add.at(self.sales, d.node[active], per_seller / (1.0 - self.decay_sales))
        markets, strength = self._markets()
        self.users.known = us.pick_markets(node_xy32(self.smap), self.users.home, markets,
                                           strength,
                                           float(self.cfg.behaviour.users.search_radius_m) * 2,
                                           self.streams["init"])
        self.market_nodes, self.market_strength = markets, strength

    def _markets(self, candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Word-of-mouth market list: the ``N_MARKETS`` nodes with most recent sales, and their
        sales; among ``candidates`` only (default: every node)."""
        k = min(N_MARKETS, self.smap.n_nodes)
        if candidates is None:
            top = np.argpartition(-self.sales, k - 1)[:k]
        elif len(candidates) > k:
            top = candidates[np.argpartition(-self.sales[candidates], k - 1)[:k]]
        else:
            top = candidates
        top = top[self.sales[top] > 0]
        return top.astype(np.int64), self.sales[top]

    def _refresh_markets(self, t: int) -> None:
        """Hourly market list. Sales decay at one rate everywhere, so the ranking only changes
        where something was sold: the new top is among the old top and this hour's sale sites
        (recomputed from every node once a day)."""
        if t % self.durations.per_day == 0:
            self.market_nodes, self.market_strength = self._markets()
            kn.clear_marks(*self._sold)
        else:
            candidates = kn.market_candidates(self.market_nodes, *self._sold)
            self.market_nodes, self.market_strength = self._markets(candidates)

    def _make_agents(self) -> None:
        for i in range(len(self.dealers)):
            Dealer(self, i)
        for i in range(len(self.users)):
            User(self, i)
        for i in range(len(self.police)):
            PoliceUnit(self, i)
        for i in range(len(self.outreach)):
            OutreachWorker(self, i)

    # ------------------------------------------------------------------ the step
    @property
    def intervention_active(self) -> bool:
        return self.t >= self.intervention_step and (
            self.withdraw_step is None or self.t < self.withdraw_step)

    def step(self) -> None:
        """Advance the market by one time step (through Mesa's event schedule)."""
        self._step_once()

    def _step_once(self) -> None:
        t = self.t
        step_of_day = t % self.durations.per_day
        hour = step_of_day * self.clock.step_minutes / 60.0  # as Clock.hour
        new_hour = t % self.durations.per_hour == 0
        if new_hour:
            self.rooms.used_this_hour[:] = 0
            self._refresh_markets(t)
        if t % self.durations.per_week == 0:
            self.court_used = 0
        # shifts are fixed per dealer: one on-shift mask per time of day serves the whole step
        self._on_shift = self._shift_table[step_of_day]
        self._step_police(t, new_hour)
        selling = self._police_and_courts(t)
        self._step_dealers(t, selling)
        self._step_users(t, hour)
        self._step_outreach(t, new_hour)
        self._violence(t, hour)
        if step_of_day == 0 and t > 0:
            self._recruit(t)
        kn.decay_fields(self.sales, self.unserved, self._demand_near, self.decay_sales)
        self.recorder.end_step(t)
        self.t += 1

    def run(self, n_steps: int | None = None, progress: bool = False) -> None:
        """Run ``n_steps`` (default: the rest of the configured horizon), then flush outputs."""
        n_steps = self.n_steps - self.t if n_steps is None else n_steps
        bar = self.progress_bar() if progress else None
        self.advance(n_steps, on_step=bar.update if bar is not None else None)
        if bar is not None:
            bar.close()
        self.finish()

    def advance(self, n_steps: int, on_step: Callable[[], object] | None = None) -> None:
        """Step ``n_steps`` times without flushing (a run may continue, e.g. after a checkpoint),
        calling ``on_step`` after each step (e.g. a progress bar's update).

        When Mesa's schedule holds nothing but its default step event, the steps run directly
        and Mesa's clock (``time``, ``steps``) moves as `step` would move it: Mesa's per-step
        event handling cost ~35 µs, 5% of a step. Otherwise each step goes through `step`.
        """
        schedule = getattr(self, "_default_schedule", None)
        if (schedule is None or not schedule.is_active or len(self._event_generators) != 1
                or len(self._event_list) != 1):
            for _ in range(n_steps):
                self.step()
                if on_step is not None:
                    on_step()
            return
        schedule.pause()
        try:
            for _ in range(n_steps):
                self.time += 1
                self.steps += 1
                self._step_once()
                if on_step is not None:
                    on_step()
        finally:
            schedule.resume()

    def progress_bar(self):
        """A tqdm bar over the whole horizon, starting at the current step."""
        from tqdm import tqdm

        return tqdm(total=self.n_steps, initial=self.t, unit="step", mininterval=1.0,
                    leave=False, desc=f"{self.cfg.scenario.name} seed {self.cfg.seed}")

    def finish(self) -> None:
        """Flush the last recording interval and the buffered events."""
        self.recorder.flush(self.t - 1)
        self.events.flush()

    # ------------------------------------------------------------------ police
    def _step_police(self, t: int, new_hour: bool) -> None:
        """Deploy the units (hourly plan, patrol moves every step), then update exposures.

        Patrol posts are drawn for the rest of the hour at once (`_draw_posts`); a focus
        re-plan or a change of command mid-hour redraws them.
        """
        p, rng = self.police, self.streams["police"]
        if new_hour:
            self._plan_hour(t, rng)
            self._posts = None
        elif self.plan.move_every_step and self.intervention_active and len(self._focus_units):
            # the hour's focus units move on to new stops (Koper): same units, new hotspots
            units = self._focus_units
            self.plan = self.strategy.plan(p, self.recorder_activity(), rng, units=units)
            self._place_focus(units[self.plan.target[units] >= 0], rng)
            self._set_stops()
            self._posts = None
        merged = bool(self.cfg.police.merged_command) and self.intervention_active
        if merged != self._patrol_merged:
            self._assign_patrol_groups(merged)
            self._posts = None
        if self._posts is None:
            self._posts = self._draw_posts(t, rng)

    def _draw_posts(self, t: int, rng: np.random.Generator) -> tuple[int, np.ndarray]:
        """Posts of the on-duty units from step ``t`` to the end of the hour (step ``t`` and a
        (steps, units) array): patrols draw a new node every step, focus units stay where they
        were placed."""
        steps = self.durations.per_hour - t % self.durations.per_hour
        posts = np.empty((steps, len(self._on_units)), np.int64)
        posts[:] = self.police.node[self._on_units]
        if len(self._patrol_units):
            sampler = self._patrol_sampler()
            kn.draw_patrol_posts(self._rng_handle("police"), posts, self._patrol_cols,
                                 self._patrol_group, sampler.nodes, sampler.cum, sampler.end,
                                 sampler.index)
        return t, posts

    def _plan_hour(self, t: int, rng: np.random.Generator) -> None:
        """Hourly: who is on duty, the strategy's focus plan, off-duty units back at base."""
        p, cfgp = self.police, self.cfg.police
        loss = pl.duty_loss(cfgp.duties, self.smap.zone_ids, t, self.clock, int(self.cfg.seed))
        share = float(cfgp.shift_factors[self.clock.shift(t)]) * (1.0 - loss)
        key = (share.tobytes(), self.intervention_active)  # a handful of rotas per run
        if key not in self._rotas:
            self._rotas[key] = pl.units_on_duty(p, share, self.intervention_active)
        p.on_duty = self._rotas[key].copy()
        activity = self.recorder_activity()
        if self.intervention_active:
            self.plan = self.strategy.plan(p, activity, rng)
        else:
            self.plan = pl.Strategy.plan(self.strategy, p, activity, rng)
        focus = p.on_duty & (self.plan.target >= 0)
        p.role[:] = np.where(focus, pl.FOCUS, pl.PATROL)
        self._focus_units = focus.nonzero()[0]
        self._place_focus(self._focus_units, rng)
        off = ~p.on_duty
        p.node[off] = np.where(p.zone[off] >= 0, p.base[np.maximum(p.zone[off], 0)], p.base[0])
        self._on_units = p.on_duty.nonzero()[0]
        self._patrol_merged = None  # patrol groups are re-assigned for the new rota
        self._set_stops()

    def _set_stops(self) -> None:
        """Stop length of each unit this hour, and the deterrence of the on-duty units."""
        p, cfgp = self.police, self.cfg.police
        patrol = p.on_duty & (p.role == pl.PATROL)
        p.stop_minutes[:] = 0.0
        p.stop_minutes[patrol] = cfgp.patrol_stop_minutes
        p.stop_minutes[p.on_duty & (p.role == pl.FOCUS)] = self.plan.stop_minutes
        self._effect = pl.deterrence(p.stop_minutes[self._on_units], cfgp.deterrence_tau_minutes)

    def _police_and_courts(self, t: int) -> np.ndarray:
        """Units take their posts for step ``t``, exposures decay and take what the units see
        now, units arrest sellers in range and courts prosecute up to their weekly capacity:
        one compiled kernel (`step_police.police_step`). Returns the dealers still selling."""
        first_step, posts = self._posts
        nodes = posts[t - first_step]
        units, fields, dealers, courts, rec = self._fixed_args("police")
        selling, self.court_used = police_step(
            t, self._rng_handle("police"), nodes, self._posts_now, self._on_units, self._effect,
            units, fields, dealers, self._on_shift, courts, self.court_used,
            self.events.sink(2 * len(self.dealers)), rec)
        self.events.commit()
        self._posts_now = nodes
        return selling

    def _police_args(self) -> tuple:
        d, cfgp, courts = self.dealers, self.cfg.police, self.cfg.courts
        sight, arrest = self.ball_sight, self.ball_arrest
        return (
            (self.police.node, sight.indptr, sight.indices, arrest.indptr, arrest.indices,
             self._posts_at, self.step_hours),
            (self.presence, self.decay_risk, self.arrest_memory, self.decay_arrest,
             float(self.cfg.behaviour.dealers.arrest_risk)),
            (d.status, d.until, d.node, d.crew),
            (float(cfgp.arrest_prob), int(courts.weekly_capacity), self.durations.custody,
             self.durations.sentence),
            self.recorder.sink())

    @property
    def police_cover_arrest(self) -> np.ndarray:
        """Number of on-duty units within arrest range of each node (at this step's posts)."""
        return self.ball_arrest.spread(self._posts_now, 1.0, self.smap.n_nodes)

    @property
    def police_cover_sight(self) -> np.ndarray:
        """Number of on-duty units within sight of each node (at this step's posts)."""
        return self.ball_sight.spread(self._posts_now, 1.0, self.smap.n_nodes)

    def hourly(self, decayed_sum: np.ndarray) -> np.ndarray:
        """Convert a decayed event count (sales, unserved searches) to a rate per hour."""
        return decayed_sum * (1.0 - self.decay_sales) * self.clock.steps_per_hour

    def exposure(self, nodes: np.ndarray) -> np.ndarray:
        """Risk exposure a seller at ``nodes`` perceives (police seen + peers' arrests)."""
        return self.presence[nodes] + self.arrest_memory[nodes]

    def recorder_activity(self) -> np.ndarray:
        """Observed activity per hotspot (recent sales in its catchment), as police intelligence."""
        hs = self.smap.hotspots
        return np.add.reduceat(self.sales[hs.catchment_indices], hs.catchment_indptr[:-1]) \
            if len(hs.catchment_indices) else np.zeros(len(hs))

    def _place_focus(self, units: np.ndarray, rng: np.random.Generator) -> None:
        """Put focus ``units`` on a random node within the perimeter of their target hotspot."""
        if len(units) == 0:
            return
        indptr, indices = self._focus_nodes()
        tgt = self.plan.target[units]
        starts = indptr[tgt]
        counts = indptr[tgt + 1] - starts
        pick = (rng.random(len(units)) * counts).astype(np.int64)
        self.police.node[units] = indices[starts + pick]

    def _focus_nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR of nodes within the focus perimeter (network distance) of each hotspot."""
        if not hasattr(self, "_focus_cache"):
            radius = float(self.cfg.police.focus_radius_m)
            lists = [np.flatnonzero(row <= radius) for row in self.smap.hotspots.dist]
            indptr = np.zeros(len(lists) + 1, np.int64)
            np.cumsum([len(a) for a in lists], out=indptr[1:])
            self._focus_cache = (indptr, np.concatenate(lists) if lists else np.zeros(0, int))
        return self._focus_cache

    def _patrol_sampler(self) -> pl.PatrolSampler:
        """Patrol node weights (residents + footfall): one group per zone, then the region."""
        if not hasattr(self, "_patrol_cache"):
            smap, w_foot = self.smap, float(self.cfg.police.patrol_footfall_weight)
            w = smap.node_population / max(float(smap.node_population.mean()), 1e-9)
            w = w + w_foot * self.footfall
            groups = [np.flatnonzero(smap.zone == z) for z in range(len(smap.zone_ids))]
            self._patrol_cache = pl.PatrolSampler.build([*groups, np.arange(smap.n_nodes)], w)
        return self._patrol_cache

    def _assign_patrol_groups(self, merged: bool) -> None:
        """Patrol units this hour and their sampling group: own zone, or the whole region for
        regional units and under a merged command (units of a zone without nodes stay put)."""
        p = self.police
        sampler = self._patrol_sampler()
        units = (p.on_duty & (p.role == pl.PATROL)).nonzero()[0]
        region = len(sampler.size) - 1
        zone = p.zone[units]
        group = np.full(len(units), region) if merged else np.where(zone >= 0, zone, region)
        keep = sampler.size[group] > 0
        self._patrol_units, self._patrol_group = units[keep], group[keep]
        self._patrol_cols = self._on_units.searchsorted(self._patrol_units)  # among on-duty
        self._patrol_merged = merged

    # ------------------------------------------------------------------ dealers
    def selling_nodes(self) -> np.ndarray:
        """Street nodes of the dealers who sold in the last step (one entry per seller)."""
        return self.dealers.node[self._selling_mask(self.t - 1)]

    def _selling_mask(self, t: int) -> np.ndarray:
        """Dealers active and on shift at step ``t`` (the step loop keeps its own copy)."""
        d = self.dealers
        hour = self.clock.hour(t)
        return (d.status == dl.ACTIVE) & dl.on_shift(d, hour,
                                                     self.cfg.behaviour.dealers.shift_hours)

    def _sellers(self) -> np.ndarray:
        """Indices of the dealers selling now (active and on shift)."""
        return kn.where_active_on_shift(self.dealers.status, dl.ACTIVE, self._on_shift)

    def _step_dealers(self, t: int, selling: np.ndarray) -> None:
        """Status transitions, then site decisions of sellers who are due or feel at risk: one
        compiled kernel (`step_dealers.dealers_step`).

        ``selling``: the dealers selling before the transitions.
        """
        dealers, sites, fields, params, rec = self._fixed_args("dealers")
        sbd_on = t >= self.intervention_step and self._any_sbd
        self._selling, self._seller_nodes = dealers_step(
            t, self._rng_handle("dealers"), dealers, selling, self._on_shift,
            (self._decision_phase, (-t) % self.durations.decision), self._crews(),
            self.market_nodes, sites, fields, self._sbd_cut_nodes if sbd_on else _NO_CUT,
            params, self.events.sink(2 * len(self.dealers)), rec)
        self.events.commit()

    def _dealers_args(self) -> tuple:
        d, beh, smap = self.dealers, self.cfg.behaviour.dealers, self.smap
        aware, market = self.ball_aware, self.ball_market
        return (
            (d.status, d.until, d.node, d.crew, d.tolerance, d.crew_home, d.lie_lows,
             d.displaced_until),
            (self._x32, self._y32, np.float32(aware.radius_m), aware.indptr, aware.indices,
             max(int(beh.n_candidates) - 4, 2), market.indptr, market.indices,
             float(market.radius_m), self._near_scratch, smap.x, smap.y, float(smap.circuity)),
            (self._demand_near, self._footfall_pull, self.presence, self.arrest_memory),
            (float(beh.risk_half_saturation), float(beh.flee_risk), float(beh.crew_bonus),
             float(beh.risk_weight), float(beh.turf_penalty), float(beh.move_cost_per_km) / 1000.0,
             float(beh.turf_cost_per_km) / 1000.0, float(beh.choice_noise),
             float(beh.min_utility), float(beh.switch_margin), int(beh.quit_after_lie_lows),
             self.durations.lie_low, self.durations.displaced_memory, float(self.step_hours)),
            self.recorder.sink())

    def _refresh_demand_near(self) -> None:
        """Recompute `_demand_near` from ``sales`` and ``unserved``.

        `_demand_near` is the market-radius sum of weighted sales + unserved searches, as rates
        per hour; `kernels.purchases` adds to it as they happen and it decays with them.
        """
        beh = self.cfg.behaviour.dealers
        field = float(beh.sales_weight) * self.hourly(self.sales) \
            + float(beh.unserved_weight) * self.hourly(self.unserved)
        near = self.ball_market.sum_at(field, np.arange(self.smap.n_nodes))
        self._demand_near = np.append(near, 0.0)  # spare slot for the padded ball's sentinel

    def _crews(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`dealers.crew_index`, cached until recruitment changes crews."""
        if self._crew_cache is None:
            self._crew_cache = dl.crew_index(self.dealers)
        return self._crew_cache

    def _recruit(self, t: int) -> None:
        d, beh, rng = self.dealers, self.cfg.behaviour.dealers, self.streams["dealers"]
        n_crews = len(d.crew_home)
        on_street = np.isin(d.status, (dl.ACTIVE, dl.LYING_LOW, dl.CUSTODY))
        members = np.bincount(d.crew[on_street], minlength=n_crews)
        deficit = np.maximum(d.crew_target - members, 0)
        demand = self.ball_aware.sum_at(self.hourly(self.sales + self.unserved) * 24,
                                        d.crew_home)
        want = rng.binomial(deficit, float(beh.recruit_rate_per_day))
        want[demand < float(beh.recruit_min_sales_per_day)] = 0
        reserve = np.flatnonzero(d.status == dl.RESERVE)
        recruited = []
        for c in np.flatnonzero(want):
            pool = reserve[d.crew[reserve] == c]
            if len(pool) < want[c]:  # reserve of other crews can join
                pool = np.concatenate([pool, reserve[d.crew[reserve] != c]])
            take = pool[: want[c]]
            take = take[d.status[take] == dl.RESERVE]
            d.crew[take] = c
            d.status[take] = dl.ACTIVE
            d.lie_lows[take] = 0
            d.node[take] = self.ball_market.sample(np.full(len(take), d.crew_home[c]), rng)
            recruited.append(take)
        if recruited:
            r = np.concatenate(recruited)
            self._crew_cache = None
            self.events.add(t, EventType.RECRUITMENT, d.node[r], r, d.crew[r])

    # ------------------------------------------------------------------ users
    def _step_users(self, t: int, hour: float) -> None:
        """Treatments end, lingering ends, cravings start, searchers arrive and buy, new and
        failed searchers set out: one compiled kernel (`step_users.users_step`)."""
        fixed = self._fixed_args("users")
        sbd_on = t >= self.intervention_step and self._any_sbd
        users_step(
            t, self._rng_handle("users"), *fixed[:4],
            self._selling, self._seller_nodes, self._sbd_nuisance_nodes if sbd_on else _NO_CUT,
            fixed[4], self._room_hours[t % self.durations.per_day] & (t >= self.rooms.from_step),
            fixed[5], self.clock.demand_factor(t) / self.durations.purchase_interval,
            self.market_nodes, self.market_strength, self._sold,
            self.events.sink(3 * len(self.users)), fixed[6])
        self.events.commit()

    # ------------------------------------------------------------------ outreach
    def _step_outreach(self, t: int, new_hour: bool) -> None:
        """Workers move within their hotspot hourly and, on shift, contact users nearby
        (`step_outreach.move_workers`, `outreach_step`)."""
        o = self.outreach
        if len(o) == 0:
            return
        on_shift = self._outreach_shift[t % self.durations.per_week]
        if o.on_shift[0] != on_shift:
            o.on_shift[:] = on_shift
        h = self._rng_handle("outreach")
        if new_hour:
            hs = self.smap.hotspots
            if self._outreach_covered is None:
                self._outreach_covered = np.zeros(self.smap.n_nodes, bool)
            move_workers(h, o.node, o.hotspot, hs.catchment_indptr, hs.catchment_indices,
                         self.ball_contact.indptr, self.ball_contact.indices,
                         self._outreach_covered)
        if not on_shift:
            return
        beh = self.cfg.behaviour.outreach
        users, params = self._fixed_args("outreach")
        cap = int(beh.max_contacts_per_step) * len(o)
        present, hit = outreach_step(t, h, self._outreach_covered, cap, float(beh.contact_prob),
                                     us.SEARCHING, us.LINGERING, users, params,
                                     self.events.sink(2 * cap), self.recorder.sink())
        self.events.commit()
        if len(hit):  # more contacts than the cap: keep a random ``cap`` (numpy's choice)
            hit = np.sort(self.streams["outreach"].choice(hit, size=cap, replace=False))
            outreach_outcomes(t, h, present[hit], users, params, self.events.sink(2 * cap),
                              self.recorder.sink())
            self.events.commit()

    # ------------------------------------------------------------------ violence
    def _violence(self, t: int, hour: float) -> None:
        """Cells contested by two or more crews may see a violent incident
        (`step_outreach.violence_step`)."""
        d, beh = self.dealers, self.cfg.behaviour.violence
        events = self.events.sink(len(self._selling))
        violence_step(t, self._rng_handle("violence"), self._selling, self._seller_nodes,
                      self.cell, d.node, d.crew, len(d.crew_home), d.displaced_until,
                      float(beh.base_prob), float(beh.displaced_factor), events,
                      self.recorder.sink())
        self.events.commit()

    # ------------------------------------------------------------------ outputs
    def region_metrics(self) -> pd.DataFrame:
        """Region-wide metrics per step."""
        return self.recorder.region_frame()

    def area_metrics(self) -> pd.DataFrame:
        """Per hotspot catchment, police zone and region, per recording interval."""
        return self.recorder.area_frame(self.clock.steps_per_day)
