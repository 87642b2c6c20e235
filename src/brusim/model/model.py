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

from brusim.errors import ConfigError
from brusim.map import MapSettings, StreetMap, load_street_map
from brusim.model import dealers as dl
from brusim.model import kernels as kn
from brusim.model import police as pl
from brusim.model import users as us
from brusim.model.agents import Dealer, OutreachWorker, PoliceUnit, User
from brusim.model.clock import Clock
from brusim.model.events import EventLog, EventType
from brusim.model.outreach import (
    Rooms,
    covered_nodes,
    init_outreach,
    outreach_contacts,
    room_admissions,
)
from brusim.model.recorder import Recorder
from brusim.model.spatial import Ball, node_xy32

RNG_STREAMS = ("init", "police", "dealers", "users", "outreach", "violence")
_NONE = np.zeros(0, np.int64)  # no agents (read-only placeholder)
_NONE.flags.writeable = False
_NO_DRAWS = np.zeros(0)  # no random numbers (a kernel argument)
_NO_ROOM = np.zeros(0, bool)  # no consumption room open (a kernel argument)
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
        self.smap = smap if smap is not None else load_street_map(map_settings(cfg.map))
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
        self._sold_since: list[np.ndarray] = []  # sale sites since the market list refresh
        self._refresh_demand_near()
        self._footfall_pull = float(self.cfg.behaviour.dealers.footfall_weight) * self.footfall

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
        else:
            candidates = np.unique(np.concatenate([self.market_nodes, *self._sold_since]))
            self.market_nodes, self.market_strength = self._markets(candidates)
        self._sold_since = []

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
        """Advance the market by one time step."""
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
        selling = self._arrests(t)
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
        calling ``on_step`` after each step (e.g. a progress bar's update)."""
        for _ in range(n_steps):
            self.step()
            if on_step is not None:
                on_step()

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
        self._police_exposure(t)

    def _draw_posts(self, t: int, rng: np.random.Generator) -> tuple[int, np.ndarray]:
        """Posts of the on-duty units from step ``t`` to the end of the hour (step ``t`` and a
        (steps, units) array): patrols draw a new node every step, focus units stay where they
        were placed."""
        steps = self.durations.per_hour - t % self.durations.per_hour
        posts = np.empty((steps, len(self._on_units)), np.int64)
        posts[:] = self.police.node[self._on_units]
        if len(self._patrol_units):
            group = self._patrol_group_by_step[:steps].ravel()
            posts[:, self._patrol_cols] = self._patrol_sampler().draw(group, rng).reshape(steps, -1)
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

    def _police_exposure(self, t: int) -> None:
        """Units take their posts for step ``t``; decay the remembered exposures and add what
        the units see now. Who is within sight or arrest range of a unit is asked where needed
        (`kernels.posts_within`: units posted in the node's ball)."""
        first_step, posts = self._posts
        nodes = posts[t - first_step]
        self.police.node[self._on_units] = nodes
        sight = self.ball_sight
        kn.police_exposure(self.presence, self.decay_risk, nodes, self._effect, sight.indptr,
                           sight.indices, self.arrest_memory, self.decay_arrest, self._posts_at,
                           self._posts_now)
        self._posts_now = nodes
        self.recorder.add("police_hours", nodes, self.step_hours)

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
        self._patrol_group_by_step = np.empty((self.durations.per_hour, len(self._patrol_group)),
                                              np.int64)
        self._patrol_group_by_step[:] = self._patrol_group
        self._patrol_cols = self._on_units.searchsorted(self._patrol_units)  # among on-duty
        self._patrol_merged = merged

    # ------------------------------------------------------------------ arrests and courts
    def _arrests(self, t: int) -> np.ndarray:
        """Units arrest sellers within range; courts prosecute up to their weekly capacity.

        Returns the dealers still selling afterwards.
        """
        d, rng = self.dealers, self.streams["police"]
        selling = self._sellers()
        arrest = self.ball_arrest
        cover = kn.cover_at(d.node[selling], arrest.indptr, arrest.indices, self._posts_at)
        if not cover.any():  # nobody within arrest range of a unit
            return selling
        p = 1.0 - (1.0 - float(self.cfg.police.arrest_prob)) ** cover
        caught = selling[rng.random(len(selling)) < p]
        if len(caught) == 0:
            return selling
        courts = self.cfg.courts
        self.events.add(t, EventType.ARREST, d.node[caught], caught, d.crew[caught])
        self.recorder.add("arrests", d.node[caught])
        # peers notice arrests: perceived risk rises around the site
        self.arrest_memory += self.ball_sight.spread(
            d.node[caught], float(self.cfg.behaviour.dealers.arrest_risk), self.smap.n_nodes)
        caught = rng.permutation(caught)
        free = max(int(courts.weekly_capacity) - self.court_used, 0)
        prosecuted, released = caught[:free], caught[free:]
        self.court_used += len(prosecuted)
        d.status[prosecuted] = dl.PRISON
        d.until[prosecuted] = t + self.durations.sentence
        d.status[released] = dl.CUSTODY
        d.until[released] = t + self.durations.custody
        if len(prosecuted):
            self.events.add(t, EventType.PROSECUTION, d.node[prosecuted], prosecuted)
            self.recorder.add("prosecutions", d.node[prosecuted])
        return self._sellers()

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
        """Status transitions, then site decisions of sellers who are due or feel at risk.

        ``selling``: the dealers selling before the transitions.
        """
        d, beh = self.dealers, self.cfg.behaviour.dealers
        if self._dealer_transitions(t):
            selling = self._sellers()
        act, risk = kn.sellers_acting(selling, d.node, d.tolerance, self._decision_phase,
                                      (-t) % self.durations.decision, self.presence,
                                      self.arrest_memory, float(beh.risk_half_saturation),
                                      float(beh.flee_risk))
        if act.any() and self._decide(t, selling[act], selling, risk[act],
                                      self.streams["dealers"]):
            selling = self._sellers()  # some lie low or quit
        nodes = d.node[selling]
        # sellers and their sites for the rest of the step (purchases, violence)
        self._selling, self._seller_nodes = selling, nodes
        self.recorder.add("dealers_active", nodes)
        self.recorder.add("dealer_hours", nodes, self.step_hours)

    def _dealer_transitions(self, t: int) -> bool:
        """Lying low and custody end (back to selling), prison ends (back to the reserve).

        Returns whether any status changed.
        """
        d = self.dealers
        ended = (dl.TIMED[d.status] & (d.until <= t)).nonzero()[0]
        if len(ended) == 0:
            return False
        status = d.status[ended]
        released = ended[status == dl.CUSTODY]
        d.status[ended[status != dl.PRISON]] = dl.ACTIVE
        d.status[ended[status == dl.PRISON]] = dl.RESERVE
        if len(released):
            self.events.add(t, EventType.RELEASE_WITHOUT_PROSECUTION, d.node[released], released)
            self.recorder.add("releases_without_prosecution", d.node[released])
        return True

    def _decide(self, t: int, who: np.ndarray, selling: np.ndarray, risk_who: np.ndarray,
                rng: np.random.Generator) -> bool:
        """Dealers ``who`` weigh their candidate sites: stay, move or lie low.

        ``selling`` indexes the dealers selling now, ``risk_who`` is the perceived risk of
        ``who`` at their current site. Returns whether any of them lies low (stops selling).
        """
        d, beh, smap = self.dealers, self.cfg.behaviour.dealers, self.smap
        n_who, k_rand = len(who), max(int(beh.n_candidates) - 4, 2)
        markets = self.market_nodes
        # random numbers in the order of candidate_sites, then one Gumbel per candidate
        u_mate = rng.random(n_who)
        u_market = rng.random(n_who) if len(markets) else _NO_DRAWS
        u_sample = rng.random(k_rand * n_who)
        noise = rng.gumbel(size=(n_who, 4 + k_rand))
        order, start, size = self._crews()
        aware, market, x32, y32 = self.ball_aware, self.ball_market, self._x32, self._y32
        selling_nodes = d.node[selling]
        new_site, moved, lie_low = kn.decide_sites(
            who, d.node, d.crew, d.status, d.tolerance, d.crew_home, dl.ACTIVE,
            order, start, size, x32[markets], y32[markets], markets, x32, y32,
            np.float32(aware.radius_m), aware.indptr, aware.indices, k_rand,
            u_mate, u_market, u_sample, noise,
            market.indptr, market.indices, float(market.radius_m),
            selling_nodes, d.crew[selling], self._near_scratch,
            self._demand_near, self._footfall_pull, self.presence, self.arrest_memory,
            self._sbd_cut_nodes if (t >= self.intervention_step and self._any_sbd) else _NO_DRAWS,
            self.smap.x, self.smap.y, float(smap.circuity), float(beh.risk_half_saturation),
            float(beh.crew_bonus), float(beh.risk_weight), float(beh.turf_penalty),
            float(beh.move_cost_per_km) / 1000.0, float(beh.turf_cost_per_km) / 1000.0,
            float(beh.choice_noise), float(beh.min_utility), float(beh.switch_margin))
        mv = who[moved]
        if len(mv):
            self.events.add(t, EventType.DEALER_MOVE, new_site[moved], mv, d.node[mv])
            risky = risk_who[moved] > 0.2
            d.displaced_until[mv[risky]] = t + self.durations.displaced_memory
            d.node[mv] = new_site[moved]
        d.lie_lows[who[~lie_low]] = 0
        ll = who[lie_low]
        if len(ll):
            self.events.add(t, EventType.DEALER_LIE_LOW, d.node[ll], ll)
            d.lie_lows[ll] += 1
            quit_ = ll[d.lie_lows[ll] >= int(beh.quit_after_lie_lows)]
            d.status[ll] = dl.LYING_LOW
            d.until[ll] = t + self.durations.lie_low
            d.status[quit_] = dl.RESERVE
            d.lie_lows[quit_] = 0
        return len(ll) > 0

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
        """Treatment and lingering end, cravings start, searchers arrive and try to buy."""
        u, rng = self.users, self.streams["users"]
        self._end_treatments(t)
        # lingering ends (time up or police in sight); craving candidates; arrivals
        cand, arr = kn.scan_users(t, u.status, u.until, u.ready, u.arrive, u.node, u.home,
                                  self.ball_sight.indptr, self.ball_sight.indices,
                                  self._posts_at, us.IDLE, us.SEARCHING, us.LINGERING)
        rate = self.clock.demand_factor(t) / self.durations.purchase_interval
        start = cand[rng.random(len(cand)) < rate]  # idle users start craving
        failed = failed_at = _NONE
        if len(arr):
            u.node[arr] = u.target[arr]
            failed, failed_at = self._purchases(t, arr, hour)
        # new searchers are still idle above: they set out only now, with the failed ones
        if len(start) or len(failed):
            self._set_out(t, start, failed, failed_at)
        self.recorder.add("users_searching", u.node[u.status == us.SEARCHING])

    def _end_treatments(self, t: int) -> None:
        u, rng = self.users, self.streams["users"]
        done = kn.where_equal_due(u.status, us.TREATMENT, u.until, t)
        if len(done) == 0:
            return
        relapse = rng.random(len(done)) < float(self.cfg.behaviour.outreach.relapse_prob)
        u.status[done[relapse]] = us.IDLE
        u.ready[done[relapse]] = t
        u.status[done[~relapse]] = us.RECOVERED

    def _set_out(self, t: int, start: np.ndarray, failed: np.ndarray, failed_at: np.ndarray
                 ) -> None:
        """Users with a new craving (``start``) and failed searchers (at ``failed_at``) head
        for a market.

        Loyal new searchers go where they last bought; the others draw a known market (failed
        searchers not the one that just failed; new searchers without one go home) and
        failed searchers give up after too many attempts.
        """
        u, beh, rng, smap = self.users, self.cfg.behaviour.users, self.streams["users"], self.smap
        fresh = (u.known[start] < 0) | (rng.random(len(start)) >= float(beh.loyalty))
        origins = np.concatenate([u.home[start[fresh]], failed_at])
        picks = us.pick_markets((self._x32, self._y32), origins, self.market_nodes,
                                self.market_strength, float(beh.search_radius_m), rng,
                                exclude_origin=np.arange(len(origins)) >= len(origins) - len(
                                    failed))
        walk, transit = us.speeds_m_per_step(beh, self.clock.step_minutes)
        kn.set_out(t, start, fresh, picks, failed, failed_at, u.status, u.attempts, u.target,
                   u.node, u.home, u.ready, u.arrive, u.known, int(beh.max_attempts),
                   self.durations.retry, us.SEARCHING, us.IDLE, smap.x, smap.y,
                   float(smap.circuity), walk, transit, float(beh.transit_above_m))

    def _purchases(self, t: int, arr: np.ndarray, hour: float) -> tuple[np.ndarray, np.ndarray]:
        """Arrivals buy from the busiest selling site within reach, unless police are there;
        buyers use in a room (if willing, open, in reach and not full), in public, or at home.

        Returns the arrivals who found no seller, and where they are.
        """
        u, beh, rng = self.users, self.cfg.behaviour.users, self.streams["users"]
        selling, seller_nodes = self._selling, self._seller_nodes
        # the site with most sellers within reach (ties at random); padding never wins
        padded = self.ball_purchase.padded
        noise = rng.random((len(arr), padded.shape[1]))
        site, n_sellers, ok = kn.busiest_sites(u.node[arr], padded, seller_nodes,
                                               self._sellers_at, noise, bool(beh.avoid_police),
                                               self.ball_arrest.indptr,
                                               self.ball_arrest.indices, self._posts_at)
        buyers, sites, failed = arr[ok], site[ok], arr[~ok]
        u_seller = rng.random(len(buyers)) if len(buyers) else _NO_DRAWS  # a seller at the site
        room = self._room_use(t, buyers, sites) if len(buyers) else None
        in_room = None if room is None else room >= 0
        u_public = rng.random(len(buyers)) if len(buyers) else _NO_DRAWS
        sbd_on = t >= self.intervention_step and self._any_sbd
        dealer_w = self.cfg.behaviour.dealers
        dealer, public, failed_at = kn.purchases(
            t, buyers, sites, n_sellers[ok], u_seller, u_public, float(beh.public_use_prob),
            self._sbd_nuisance_nodes if sbd_on else _NO_DRAWS,
            _NO_ROOM if in_room is None else in_room, failed, selling, seller_nodes,
            self.sales, self.unserved, self._demand_near, self.ball_market.padded,
            float(dealer_w.sales_weight) * self._hourly_factor,
            float(dealer_w.unserved_weight) * self._hourly_factor,
            u.status, u.node, u.home, u.known, u.until, u.ready, u.attempts,
            self.durations.linger, self.durations.min_gap, us.LINGERING, us.IDLE)
        if len(buyers):
            self.events.add(t, EventType.TRANSACTION, sites, buyers, dealer)
            self.recorder.add("transactions", sites)
            self._sold_since.append(sites)
            if in_room is not None and in_room.any():
                rn = self.rooms.node[room[in_room]]
                self.events.add(t, EventType.ROOM_ENTRY, rn, buyers[in_room], room[in_room])
                self.recorder.add("room_entries", rn)
            if public.any():
                self.events.add(t, EventType.PUBLIC_USE, sites[public], buyers[public])
                self.recorder.add("public_use", sites[public])
        if len(failed):
            self.events.add(t, EventType.UNSERVED_SEARCH, failed_at, failed)
            self.recorder.add("unserved_searches", failed_at)
        return failed, failed_at

    def _room_use(self, t: int, buyers: np.ndarray, sites: np.ndarray) -> np.ndarray | None:
        """The room each buyer uses now, -1 for none (None: no room is open)."""
        open_now = self._room_hours[t % self.durations.per_day] & (t >= self.rooms.from_step)
        if not open_now.any():
            return None
        u, beh, rng = self.users, self.cfg.behaviour.users, self.streams["users"]
        referred = u.referred_until[buyers] >= t
        p_room = np.where(referred, float(beh.room_use_prob_referred), float(beh.room_use_prob))
        willing = rng.random(len(buyers)) < p_room
        return room_admissions(self.rooms, sites, willing, open_now, float(beh.room_reach_m),
                               rng)

    # ------------------------------------------------------------------ outreach
    def _step_outreach(self, t: int, new_hour: bool) -> None:
        """Workers move within their hotspot hourly and, on shift, contact users nearby."""
        o, beh, rng = self.outreach, self.cfg.behaviour.outreach, self.streams["outreach"]
        if len(o) == 0:
            return
        on_shift = self._outreach_shift[t % self.durations.per_week]
        o.on_shift[:] = on_shift
        if new_hour:
            hs = self.smap.hotspots
            starts = hs.catchment_indptr[o.hotspot]
            counts = hs.catchment_indptr[o.hotspot + 1] - starts
            o.node[:] = hs.catchment_indices[starts + (rng.random(len(o)) * counts).astype(int)]
            self._outreach_covered = None
        if not on_shift:
            return
        if self._outreach_covered is None:  # workers stay put within the hour
            self._outreach_covered = covered_nodes(o.node, self.ball_contact, self.smap.n_nodes)
        u = self.users
        present = ((u.status == us.SEARCHING) | (u.status == us.LINGERING)).nonzero()[0]
        hit = outreach_contacts(u.node[present], o.node, self.ball_contact,
                                self.smap.n_nodes, float(beh.contact_prob),
                                int(beh.max_contacts_per_step), rng,
                                covered=self._outreach_covered)
        met = present[hit]
        if len(met) == 0:
            return
        self.events.add(t, EventType.OUTREACH_CONTACT, u.node[met], met)
        self.recorder.add("outreach_contacts", u.node[met])
        u.referred_until[met] = t + self.durations.referral
        treat = met[rng.random(len(met)) < float(beh.treatment_prob)]
        if len(treat):
            self.events.add(t, EventType.TREATMENT_ENTRY, u.node[treat], treat)
            self.recorder.add("treatment_entries", u.node[treat])
            weeks = rng.exponential(float(beh.treatment_weeks), size=len(treat))
            u.status[treat] = us.TREATMENT
            u.until[treat] = t + (weeks * self.clock.steps_per_week).astype(np.int64) + 1
            u.node[treat] = u.home[treat]

    # ------------------------------------------------------------------ violence
    def _violence(self, t: int, hour: float) -> None:
        """Cells contested by two or more crews may see a violent incident."""
        d, beh, rng = self.dealers, self.cfg.behaviour.violence, self.streams["violence"]
        selling = self._selling
        if len(selling) < 2:
            return
        contested, p = kn.violence_odds(selling, self._seller_nodes, self.cell, d.crew,
                                        len(d.crew_home), d.displaced_until, t,
                                        float(beh.base_prob), float(beh.displaced_factor))
        if len(contested) == 0:
            return
        hit = contested[rng.random(len(contested)) < p]
        if len(hit) == 0:
            return
        cells = self.cell[self._seller_nodes]
        first = np.array([selling[np.flatnonzero(cells == c)[0]] for c in hit])
        self.events.add(t, EventType.VIOLENT_INCIDENT, d.node[first], first, d.crew[first])
        self.recorder.add("violent_incidents", d.node[first])

    # ------------------------------------------------------------------ outputs
    def region_metrics(self) -> pd.DataFrame:
        """Region-wide metrics per step."""
        return self.recorder.region_frame()

    def area_metrics(self) -> pd.DataFrame:
        """Per hotspot catchment, police zone and region, per recording interval."""
        return self.recorder.area_frame(self.clock.steps_per_day)
