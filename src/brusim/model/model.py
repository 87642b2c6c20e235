"""`BrusselsMarketModel`: a street drug market on the real street graph.

One step (15 minutes by default) runs, in order: police deployment and presence → perceived risk
→ arrests and courts → dealers' site decisions → users' search, purchases and consumption →
outreach contacts → violence in contested cells → daily recruitment → recording.
"""

from __future__ import annotations

from pathlib import Path

import mesa
import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from brusim.errors import ConfigError
from brusim.map import MapSettings, StreetMap, load_street_map
from brusim.model import dealers as dl
from brusim.model import police as pl
from brusim.model import users as us
from brusim.model.agents import Dealer, OutreachWorker, PoliceUnit, User
from brusim.model.clock import Clock
from brusim.model.events import EventLog, EventType
from brusim.model.outreach import Rooms, init_outreach, outreach_contacts, room_admissions
from brusim.model.recorder import Recorder
from brusim.model.spatial import Ball, euclid, segment_argmax

RNG_STREAMS = ("init", "police", "dealers", "users", "outreach", "violence")
N_MARKETS = 60  # word-of-mouth market list size


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
        # neighbourhoods (straight-line balls), built once per model
        self.ball_market = Ball.build(smap, beh.dealers.market_radius_m)
        self.ball_aware = Ball.build(smap, beh.dealers.awareness_m)
        self.ball_sight = Ball.build(smap, cfg.police.sight_m)
        self.ball_arrest = Ball.build(smap, cfg.police.arrest_m)
        self.ball_purchase = Ball.build(smap, beh.users.purchase_radius_m)
        self.ball_contact = Ball.build(smap, beh.outreach.contact_radius_m)
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
        self.police_cover_sight = np.zeros(n)
        self.cell = self._cells(beh.violence.cell_m)
        self._seed_markets()

        self.events = EventLog(events_path)
        self.recorder = Recorder(smap, int(cfg.run.record_every_steps), self.step_hours)
        self._make_agents()

    # ------------------------------------------------------------------ set-up helpers
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
        self.users.known = us.pick_markets(self.smap, self.users.home, markets, strength,
                                           float(self.cfg.behaviour.users.search_radius_m) * 2,
                                           self.streams["init"])
        self.market_nodes, self.market_strength = markets, strength

    def _markets(self) -> tuple[np.ndarray, np.ndarray]:
        k = min(N_MARKETS, self.smap.n_nodes)
        top = np.argpartition(-self.sales, k - 1)[:k]
        top = top[self.sales[top] > 0]
        return top.astype(np.int64), self.sales[top]

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
        hour = self.clock.hour(t)
        new_hour = t % int(self.clock.steps_per_hour) == 0
        if new_hour:
            self.rooms.used_this_hour[:] = 0
            self.market_nodes, self.market_strength = self._markets()
        if t % self.clock.steps_per_week == 0:
            self.court_used = 0
        self._step_police(t, new_hour)
        self._arrests(t)
        self._step_dealers(t, hour)
        self._step_users(t, hour)
        self._step_outreach(t, hour, new_hour)
        self._violence(t, hour)
        if t % self.clock.steps_per_day == 0 and t > 0:
            self._recruit(t)
        self.sales *= self.decay_sales
        self.unserved *= self.decay_sales
        self.recorder.end_step(t)
        self.t += 1

    def run(self, n_steps: int | None = None, progress: bool = False) -> None:
        """Run ``n_steps`` (default: the configured horizon), then flush outputs."""
        n_steps = self.n_steps - self.t if n_steps is None else n_steps
        it = range(n_steps)
        if progress:
            from tqdm import tqdm

            it = tqdm(it, desc=f"{self.cfg.scenario.name} seed {self.cfg.seed}", unit="step",
                      mininterval=1.0, leave=False)
        for _ in it:
            self.step()
        self.recorder.flush(self.t - 1)
        self.events.flush()

    # ------------------------------------------------------------------ police
    def _step_police(self, t: int, new_hour: bool) -> None:
        p, cfgp, rng = self.police, self.cfg.police, self.streams["police"]
        smap = self.smap
        if new_hour:
            loss = pl.duty_loss(cfgp.duties, smap.zone_ids, t, self.clock, int(self.cfg.seed))
            shift = self.clock.shift(t)
            share = float(cfgp.shift_factors[shift]) * (1.0 - loss)
            p.on_duty = pl.units_on_duty(p, share, self.intervention_active)
            activity = self.recorder_activity()
            if self.intervention_active:
                self.plan = self.strategy.plan(p, activity, rng)
            else:
                self.plan = pl.Strategy.plan(self.strategy, p, activity, rng)
            focus = p.on_duty & (self.plan.target >= 0)
            p.role[:] = np.where(focus, pl.FOCUS, pl.PATROL)
            self._place_focus(focus, rng)
        elif self.plan.move_every_step and self.intervention_active:
            focus = p.on_duty & (p.role == pl.FOCUS)
            self.plan = self.strategy.plan(p, self.recorder_activity(), rng)
            self._place_focus(focus & (self.plan.target >= 0), rng)
        patrol = p.on_duty & (p.role == pl.PATROL)
        self._place_patrol(patrol, rng)
        p.node[~p.on_duty] = np.where(p.zone[~p.on_duty] >= 0,
                                      p.base[np.maximum(p.zone[~p.on_duty], 0)], p.base[0])
        p.stop_minutes[:] = 0.0
        p.stop_minutes[patrol] = cfgp.patrol_stop_minutes
        p.stop_minutes[p.on_duty & (p.role == pl.FOCUS)] = self.plan.stop_minutes
        on = np.flatnonzero(p.on_duty)
        effect = pl.deterrence(p.stop_minutes[on], cfgp.deterrence_tau_minutes)
        self.presence *= self.decay_risk
        self.presence += self.ball_sight.spread(p.node[on], effect, smap.n_nodes)
        self.arrest_memory *= self.decay_arrest
        self.police_cover_sight = self.ball_sight.spread(p.node[on], 1.0, smap.n_nodes)
        self.police_cover_arrest = self.ball_arrest.spread(p.node[on], 1.0, smap.n_nodes)
        self.recorder.add("police_hours", p.node[on], self.step_hours)

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

    def _place_focus(self, focus: np.ndarray, rng: np.random.Generator) -> None:
        idx = np.flatnonzero(focus)
        if len(idx) == 0:
            return
        indptr, indices = self._focus_nodes()
        tgt = self.plan.target[idx]
        starts = indptr[tgt]
        counts = indptr[tgt + 1] - starts
        pick = (rng.random(len(idx)) * counts).astype(np.int64)
        self.police.node[idx] = indices[starts + pick]

    def _focus_nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR of nodes within the focus perimeter (network distance) of each hotspot."""
        if not hasattr(self, "_focus_cache"):
            radius = float(self.cfg.police.focus_radius_m)
            lists = [np.flatnonzero(row <= radius) for row in self.smap.hotspots.dist]
            indptr = np.zeros(len(lists) + 1, np.int64)
            np.cumsum([len(a) for a in lists], out=indptr[1:])
            self._focus_cache = (indptr, np.concatenate(lists) if lists else np.zeros(0, int))
        return self._focus_cache

    def _patrol_weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        if not hasattr(self, "_patrol_cache"):
            smap, w_foot = self.smap, float(self.cfg.police.patrol_footfall_weight)
            w = smap.node_population / max(float(smap.node_population.mean()), 1e-9)
            w = w + w_foot * self.footfall
            groups = []
            for z in range(len(smap.zone_ids)):
                nodes = np.flatnonzero(smap.zone == z)
                groups.append((nodes, np.cumsum(w[nodes])))
            all_nodes = np.arange(smap.n_nodes)
            self._patrol_cache = (groups, (all_nodes, np.cumsum(w)))
        return self._patrol_cache

    def _place_patrol(self, patrol: np.ndarray, rng: np.random.Generator) -> None:
        groups, region = self._patrol_weights()
        p = self.police
        merged = bool(self.cfg.police.merged_command) and self.intervention_active
        for z, (nodes, cum) in enumerate(groups):
            idx = np.flatnonzero(patrol & ((p.zone == z) if not merged else (p.zone >= -1)))
            if merged:
                nodes, cum = region
            if len(idx) and len(nodes):
                p.node[idx] = nodes[np.searchsorted(cum, rng.random(len(idx)) * cum[-1],
                                                    side="right").clip(0, len(nodes) - 1)]
            if merged:
                break
        regional = np.flatnonzero(patrol & (p.zone < 0))
        if len(regional) and not merged:
            nodes, cum = region
            p.node[regional] = nodes[np.searchsorted(cum, rng.random(len(regional)) * cum[-1],
                                                     side="right").clip(0, len(nodes) - 1)]

    # ------------------------------------------------------------------ arrests and courts
    def _arrests(self, t: int) -> None:
        d, rng = self.dealers, self.streams["police"]
        selling = np.flatnonzero(self._selling_mask(t))
        if len(selling) == 0:
            return
        cover = self.police_cover_arrest[d.node[selling]]
        p = 1.0 - (1.0 - float(self.cfg.police.arrest_prob)) ** cover
        caught = selling[rng.random(len(selling)) < p]
        if len(caught) == 0:
            return
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
        d.until[prosecuted] = t + self.clock.steps(float(courts.sentence_weeks) * 7 * 24)
        d.status[released] = dl.CUSTODY
        d.until[released] = t + self.clock.steps(float(courts.custody_hours))
        self.events.add(t, EventType.PROSECUTION, d.node[prosecuted], prosecuted)
        self.recorder.add("prosecutions", d.node[prosecuted])

    # ------------------------------------------------------------------ dealers
    def _selling_mask(self, t: int) -> np.ndarray:
        d = self.dealers
        hour = self.clock.hour(t)
        return (d.status == dl.ACTIVE) & dl.on_shift(d, hour,
                                                     self.cfg.behaviour.dealers.shift_hours)

    def _step_dealers(self, t: int, hour: float) -> None:
        d, beh, rng = self.dealers, self.cfg.behaviour.dealers, self.streams["dealers"]
        # status transitions
        back = np.flatnonzero((d.status == dl.LYING_LOW) & (d.until <= t))
        d.status[back] = dl.ACTIVE
        out = np.flatnonzero((d.status == dl.CUSTODY) & (d.until <= t))
        d.status[out] = dl.ACTIVE
        self.events.add(t, EventType.RELEASE_WITHOUT_PROSECUTION, d.node[out], out)
        self.recorder.add("releases_without_prosecution", d.node[out])
        served = np.flatnonzero((d.status == dl.PRISON) & (d.until <= t))
        d.status[served] = dl.RESERVE

        selling = self._selling_mask(t)
        interval = self.clock.steps(float(beh.decision_minutes) / 60)
        due = (t + d.decision_offset) % interval == 0
        risk_here = dl.perceived_risk(self.exposure(d.node), beh.risk_half_saturation) \
            * d.tolerance
        flee = risk_here > float(beh.flee_risk)
        who = np.flatnonzero(selling & (due | flee))
        if len(who):
            self._decide(t, who, selling, risk_here, rng)
        selling = self._selling_mask(t)
        nodes = d.node[selling]
        self.recorder.add("dealers_active", nodes)
        self.recorder.add("dealer_hours", nodes, self.step_hours)

    def _decide(self, t, who, selling, risk_here, rng) -> None:
        d, beh, smap = self.dealers, self.cfg.behaviour.dealers, self.smap
        cands = dl.candidate_sites(d, who, self.ball_aware, self.market_nodes, smap,
                                   int(beh.n_candidates), rng)
        flat = cands.ravel()
        n_c = cands.shape[1]
        sellers_at = np.bincount(d.node[selling], minlength=smap.n_nodes).astype(float)
        demand = (float(beh.sales_weight) * self.hourly(self.sales)
                  + float(beh.unserved_weight) * self.hourly(self.unserved))
        demand_near = self.ball_market.sum_at(demand, flat) + float(beh.footfall_weight) * \
            self.footfall[flat]
        comp = self.ball_market.sum_at(sellers_at, flat)
        own = self._own_crew_near(flat, np.repeat(d.crew[who], n_c), selling)
        cur = np.repeat(d.node[who], n_c)
        dist = euclid(smap, flat, cur) * smap.circuity
        self_near = dist <= self.ball_market.radius_m * smap.circuity
        comp = comp - self_near
        own = own - self_near
        shape = cands.shape
        sbd_cut = float(self.cfg.scenario.sbd_attractiveness_cut) * self.sbd[flat] * (
            t >= self.intervention_step)
        util = dl.site_utility(
            cands, None, None, d.tolerance[who],
            demand_near.reshape(shape), comp.reshape(shape), own.reshape(shape),
            self.exposure(flat).reshape(shape), sbd_cut.reshape(shape), dist.reshape(shape),
            beh,
        ) + float(beh.choice_noise) * rng.gumbel(size=shape)
        new_site, moved, lie_low = dl.choose_sites(d, who, cands, util, beh)
        mv = who[moved]
        if len(mv):
            self.events.add(t, EventType.DEALER_MOVE, new_site[moved], mv, d.node[mv])
            risky = risk_here[mv] > 0.2
            d.displaced_until[mv[risky]] = t + self.clock.steps(
                float(self.cfg.behaviour.violence.displaced_memory_days) * 24)
            d.node[mv] = new_site[moved]
        d.lie_lows[who[~lie_low]] = 0
        ll = who[lie_low]
        if len(ll):
            self.events.add(t, EventType.DEALER_LIE_LOW, d.node[ll], ll)
            d.lie_lows[ll] += 1
            quit_ = ll[d.lie_lows[ll] >= int(beh.quit_after_lie_lows)]
            d.status[ll] = dl.LYING_LOW
            d.until[ll] = t + self.clock.steps(float(beh.lie_low_hours))
            d.status[quit_] = dl.RESERVE
            d.lie_lows[quit_] = 0

    def _own_crew_near(self, nodes, crews, selling) -> np.ndarray:
        d, n = self.dealers, self.smap.n_nodes
        keys = np.sort(d.crew[selling].astype(np.int64) * n + d.node[selling])
        nb, seg = self.ball_market.gather(nodes)
        q = crews[seg].astype(np.int64) * n + nb
        cnt = np.searchsorted(keys, q, side="right") - np.searchsorted(keys, q, side="left")
        return np.bincount(seg, weights=cnt, minlength=len(nodes))

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
            self.events.add(t, EventType.RECRUITMENT, d.node[r], r, d.crew[r])

    # ------------------------------------------------------------------ users
    def _step_users(self, t: int, hour: float) -> None:
        u, beh, rng, smap = self.users, self.cfg.behaviour.users, self.streams["users"], self.smap
        sm = self.clock.step_minutes
        # treatment and lingering end
        done = np.flatnonzero((u.status == us.TREATMENT) & (u.until <= t))
        relapse = rng.random(len(done)) < float(self.cfg.behaviour.outreach.relapse_prob)
        u.status[done[relapse]] = us.IDLE
        u.ready[done[relapse]] = t
        u.status[done[~relapse]] = us.RECOVERED
        linger = u.status == us.LINGERING
        leave = np.flatnonzero(linger & ((u.until <= t) | (self.police_cover_sight[u.node] > 0)))
        u.status[leave] = us.IDLE
        u.node[leave] = u.home[leave]
        # new cravings
        rate = self.clock.demand_factor(t) / self.clock.steps(float(beh.purchase_interval_hours))
        start = us.start_cravings(u, t, rate, rng)
        if len(start):
            loyal = (u.known[start] >= 0) & (rng.random(len(start)) < float(beh.loyalty))
            target = u.known[start].copy()
            fresh = start[~loyal]
            target[~loyal] = us.pick_markets(smap, u.home[fresh], self.market_nodes,
                                             self.market_strength, float(beh.search_radius_m),
                                             rng)
            target = np.where(target < 0, u.home[start], target)
            u.status[start] = us.SEARCHING
            u.attempts[start] = 0
            u.target[start] = target
            u.arrive[start] = t + us.travel_steps(smap, u.node[start], target, beh, sm)
        # arrivals
        arr = np.flatnonzero((u.status == us.SEARCHING) & (u.arrive <= t))
        if len(arr):
            u.node[arr] = u.target[arr]
            self._purchases(t, arr, hour)
        searching = u.status == us.SEARCHING
        self.recorder.add("users_searching", u.node[searching])

    def _purchases(self, t: int, arr: np.ndarray, hour: float) -> None:
        u, beh, rng, smap = self.users, self.cfg.behaviour.users, self.streams["users"], self.smap
        d = self.dealers
        selling = np.flatnonzero(self._selling_mask(t))
        sellers_at = np.bincount(d.node[selling], minlength=smap.n_nodes)
        nodes = u.node[arr]
        nb, seg = self.ball_purchase.gather(nodes)
        score = sellers_at[nb] + rng.random(len(nb)) * 0.5
        best = segment_argmax(score, seg, len(arr))
        site = np.where(best >= 0, nb[np.maximum(best, 0)], nodes)
        ok = sellers_at[site] > 0
        if bool(beh.avoid_police):
            ok &= self.police_cover_arrest[site] == 0
        buyers, sites = arr[ok], site[ok]
        if len(buyers):
            order = np.argsort(d.node[selling], kind="stable")
            s_nodes = d.node[selling][order]
            lo = np.searchsorted(s_nodes, sites, side="left")
            hi = np.searchsorted(s_nodes, sites, side="right")
            dealer = selling[order][lo + (rng.random(len(sites)) * (hi - lo)).astype(np.int64)]
            self.events.add(t, EventType.TRANSACTION, sites, buyers, dealer)
            self.recorder.add("transactions", sites)
            np.add.at(self.sales, sites, 1.0)
            u.known[buyers] = sites
            u.node[buyers] = sites
            self._consume(t, buyers, sites, hour)
        failed = arr[~ok]
        if len(failed):
            self._failed_search(t, failed)

    def _consume(self, t: int, buyers: np.ndarray, sites: np.ndarray, hour: float) -> None:
        u, beh, rng = self.users, self.cfg.behaviour.users, self.streams["users"]
        referred = u.referred_until[buyers] >= t
        p_room = np.where(referred, float(beh.room_use_prob_referred), float(beh.room_use_prob))
        willing = rng.random(len(buyers)) < p_room
        room = room_admissions(self.rooms, sites, willing, self.rooms.open_now(t, hour),
                               float(beh.room_reach_m), rng)
        in_room = room >= 0
        if in_room.any():
            rn = self.rooms.node[room[in_room]]
            self.events.add(t, EventType.ROOM_ENTRY, rn, buyers[in_room], room[in_room])
            self.recorder.add("room_entries", rn)
        sbd_cut = float(self.cfg.scenario.sbd_nuisance_cut) * self.sbd[sites] * (
            t >= self.intervention_step)
        public = ~in_room & (rng.random(len(buyers)) < float(beh.public_use_prob) * (1 - sbd_cut))
        pb = buyers[public]
        self.events.add(t, EventType.PUBLIC_USE, sites[public], pb)
        self.recorder.add("public_use", sites[public])
        u.status[pb] = us.LINGERING
        u.until[pb] = t + self.clock.steps(float(beh.linger_hours))
        home = buyers[~public]
        u.status[home] = us.IDLE
        u.node[home] = u.home[home]
        u.ready[buyers] = t + self.clock.steps(float(beh.min_gap_hours))

    def _failed_search(self, t: int, failed: np.ndarray) -> None:
        u, beh, rng, smap = self.users, self.cfg.behaviour.users, self.streams["users"], self.smap
        nodes = u.node[failed]
        self.events.add(t, EventType.UNSERVED_SEARCH, nodes, failed)
        self.recorder.add("unserved_searches", nodes)
        np.add.at(self.unserved, nodes, 1.0)
        u.attempts[failed] += 1
        nxt = us.pick_markets(smap, nodes, self.market_nodes, self.market_strength,
                              float(beh.search_radius_m), rng, exclude_origin=True)
        give_up = (u.attempts[failed] >= int(beh.max_attempts)) | (nxt < 0)
        g = failed[give_up]
        u.status[g] = us.IDLE
        u.node[g] = u.home[g]
        u.ready[g] = t + self.clock.steps(float(beh.retry_hours))
        go = failed[~give_up]
        u.target[go] = nxt[~give_up]
        u.arrive[go] = t + us.travel_steps(smap, u.node[go], u.target[go], beh,
                                           self.clock.step_minutes)

    # ------------------------------------------------------------------ outreach
    def _step_outreach(self, t: int, hour: float, new_hour: bool) -> None:
        o, beh, rng = self.outreach, self.cfg.behaviour.outreach, self.streams["outreach"]
        if len(o) == 0:
            return
        weekday_ok = not bool(beh.weekdays_only) or self.clock.weekday(t) < 5
        o.on_shift[:] = weekday_ok and self.clock.in_hours(t, float(beh.shift_start_hour),
                                                           float(beh.shift_hours))
        if new_hour:
            hs = self.smap.hotspots
            starts = hs.catchment_indptr[o.hotspot]
            counts = hs.catchment_indptr[o.hotspot + 1] - starts
            o.node[:] = hs.catchment_indices[starts + (rng.random(len(o)) * counts).astype(int)]
        if not o.on_shift.any():
            return
        u = self.users
        present = np.flatnonzero((u.status == us.SEARCHING) | (u.status == us.LINGERING))
        hit = outreach_contacts(u.node[present], o.node[o.on_shift], self.ball_contact,
                                self.smap.n_nodes, float(beh.contact_prob),
                                int(beh.max_contacts_per_step), rng)
        met = present[hit]
        if len(met) == 0:
            return
        self.events.add(t, EventType.OUTREACH_CONTACT, u.node[met], met)
        self.recorder.add("outreach_contacts", u.node[met])
        u.referred_until[met] = t + self.clock.steps(float(beh.referral_days) * 24)
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
        d, beh, rng = self.dealers, self.cfg.behaviour.violence, self.streams["violence"]
        selling = np.flatnonzero(self._selling_mask(t))
        if len(selling) < 2:
            return
        cells = self.cell[d.node[selling]]
        pairs = np.unique(np.column_stack([cells, d.crew[selling]]), axis=0)
        ucell, n_crews = np.unique(pairs[:, 0], return_counts=True)
        contested = ucell[n_crews >= 2]
        if len(contested) == 0:
            return
        k = n_crews[n_crews >= 2]
        in_c = np.isin(cells, contested)
        disp = (d.displaced_until[selling] > t) & in_c
        n_disp = np.array([disp[cells == c].sum() for c in contested])
        p = float(beh.base_prob) * (k - 1) * (1.0 + float(beh.displaced_factor) * n_disp)
        hit = contested[rng.random(len(contested)) < p]
        if len(hit) == 0:
            return
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
