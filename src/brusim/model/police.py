"""Police: units, their availability (shifts, competing duties), where they stand each step and
the arrests they make (docs/ODD.md 7.1-7.6).

`Deployment` does the hourly part in Python: who is on duty (`units_on_duty`, `duty_loss`), the
strategy's focus plan (`brusim.model.strategies`), focus units placed at their hotspot and patrol
posts drawn for the rest of the hour (`draw_patrol_posts`). Each step `police_step` (one compiled
kernel) moves the units to this step's posts, updates the exposure fields (`police_exposure`),
makes arrests and hands the arrested to the courts (`brusim.model.courts.prosecute`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from brusim.errors import ConfigError
from brusim.model import rng as rd
from brusim.model.codes import (
    D_ARREST,
    D_FOCUS_PLACE,
    D_PATROL_POST,
    EV_ARREST,
    FOCUS,
    M_ARRESTS,
    M_POLICE_HOURS,
    PATROL,
)
from brusim.model.courts import CourtParams, prosecute
from brusim.model.dealers import DealerState, where_active_on_shift
from brusim.model.events import emit
from brusim.model.jit import kernel, rule
from brusim.model.recorder import record
from brusim.model.strategies import Strategy
from brusim.model.world import Fields


@dataclass
class PoliceState:
    zone: np.ndarray  # int32 home zone, -1 for regional reinforcement
    node: np.ndarray  # int64 current node
    on_duty: np.ndarray  # bool
    role: np.ndarray  # int8 PoliceRole
    stop_minutes: np.ndarray  # float minutes spent at the current node this step
    base: np.ndarray  # int64 (Z,) base node per zone (where off-duty units are)

    def __len__(self) -> int:
        return len(self.zone)


class Presence(NamedTuple):
    """Where the on-duty units stand, as the other rules see it: units posted per node and the
    sight and arrest balls (CSR) to count those within reach of a node (`posts_within`)."""

    sight_indptr: np.ndarray
    sight_indices: np.ndarray
    arrest_indptr: np.ndarray
    arrest_indices: np.ndarray
    posts_at: np.ndarray  # int64 (N,) on-duty units posted at each node this step


class Posting(NamedTuple):
    """This step's posts of the on-duty units (one node each), the previous step's, the
    on-duty units, their deterrence and every unit's node (updated in place)."""

    posts: np.ndarray
    old_posts: np.ndarray
    on_units: np.ndarray
    effect: np.ndarray
    unit_node: np.ndarray


class PoliceParams(NamedTuple):
    arrest_prob: float  # per unit within arrest range, per step
    arrest_risk: float  # exposure added around an arrest (behaviour.dealers.arrest_risk)
    decay_risk: float  # per-step decay of the police exposure field
    decay_arrest: float  # per-step decay of the arrest memory
    step_hours: float

    @classmethod
    def from_config(cls, cfg, world, clock) -> PoliceParams:
        return cls(float(cfg.police.arrest_prob), float(cfg.behaviour.dealers.arrest_risk),
                   world.decay_risk, world.decay_arrest, clock.step_minutes / 60.0)


def init_police(smap, cfg) -> PoliceState:
    """Units per zone from officers × street share / officers per unit, plus reinforcements,
    at their zone's base (the node nearest the zone's population centre)."""
    counts = []
    for key, default in zip(smap.zone_ids, smap.zone_officers, strict=True):
        officers = cfg.officers.get(key, default)
        counts.append(int(round(officers * cfg.street_share / max(cfg.officers_per_unit, 1))))
    zone = np.concatenate([np.full(c, z, np.int32) for z, c in enumerate(counts)]
                          + [np.full(cfg.reinforcement_units, -1, np.int32)])
    base = np.zeros(len(smap.zone_ids), np.int64)
    for z in range(len(smap.zone_ids)):
        nodes = np.flatnonzero(smap.zone == z)
        if len(nodes) == 0:
            continue
        w = smap.node_population[nodes].astype(float)
        cx, cy = np.average(smap.x[nodes], weights=w), np.average(smap.y[nodes], weights=w)
        base[z] = nodes[np.argmin(np.hypot(smap.x[nodes] - cx, smap.y[nodes] - cy))]
    node = np.where(zone >= 0, base[np.maximum(zone, 0)], base[0]).astype(np.int64)
    n = len(zone)
    return PoliceState(zone, node, np.zeros(n, bool), np.zeros(n, np.int8), np.zeros(n), base)


def duty_loss(duties, zone_ids: tuple[str, ...], step: int, clock, seed: int) -> np.ndarray:
    """Share of each zone's capacity lost to competing duties at this step (max over duties)."""
    loss = np.zeros(len(zone_ids))
    day = clock.day(step)
    for duty in duties:
        if duty.weekday >= 0 and clock.weekday(step) != duty.weekday:
            continue
        if (day // 7) % max(duty.every_weeks, 1) != 0:
            continue
        if not clock.in_hours(step, duty.start_hour, duty.hours):
            continue
        # the day's draw is deterministic per (duty, day) so the hour-by-hour checks agree
        if duty.probability < 1.0:
            draw = zlib.crc32(f"{duty.name}:{day}:{seed}".encode()) / 2**32
            if draw >= duty.probability:
                continue
        if duty.zone != "all" and duty.zone not in zone_ids:
            raise ConfigError(f"police.duties {duty.name}: unknown zone {duty.zone!r}; valid: "
                              f"all, {', '.join(zone_ids)}")
        zones = range(len(zone_ids)) if duty.zone == "all" else [zone_ids.index(duty.zone)]
        for z in zones:
            loss[z] = max(loss[z], duty.share_lost)
    return loss


def units_on_duty(p: PoliceState, available_share: np.ndarray, reinforcements_on: bool
                  ) -> np.ndarray:
    """The first ⌊share × units⌋ units of each zone are on duty (stable rota)."""
    on = np.zeros(len(p), bool)
    for z, share in enumerate(available_share):
        idx = np.flatnonzero(p.zone == z)
        on[idx[: int(round(share * len(idx)))]] = True
    if reinforcements_on:
        on[p.zone < 0] = True
    return on


def deterrence(stop_minutes: np.ndarray, tau_minutes: float) -> np.ndarray:
    """Deterrent effect of a stop of a given length: 1 - exp(-stop/tau) (Koper-style curve)."""
    return 1.0 - np.exp(-np.asarray(stop_minutes) / tau_minutes)


@dataclass(frozen=True)
class PatrolSampler:
    """Draws patrol nodes for many units in one call.

    Group ``g`` (a zone, or the whole region) picks its node ``i`` with probability proportional
    to ``weights[i]``. All groups share one sorted array ``g + cumulative share within g``, so
    one ``searchsorted`` serves units of every group at once.
    """

    nodes: np.ndarray  # concatenated node lists of the groups
    cum: np.ndarray  # g + normalised cumulative weight, per entry of ``nodes``
    end: np.ndarray  # (G,) one past each group's last entry
    size: np.ndarray  # (G,) nodes per group
    # (G, BUCKETS + 1): position of g + j / BUCKETS in ``cum`` (searchsorted, right), so a
    # draw's search starts within a few entries (kernels.draw_patrol_posts)
    index: np.ndarray

    BUCKETS = 1024

    @classmethod
    def build(cls, groups: list[np.ndarray], weights: np.ndarray) -> PatrolSampler:
        cums = []
        for g, nodes in enumerate(groups):
            c = np.cumsum(weights[nodes], dtype=np.float64)
            share = c / c[-1] if len(c) and c[-1] > 0 else np.zeros(len(c))
            cums.append(g + share)
        size = np.array([len(nodes) for nodes in groups], np.int64)
        cum = np.concatenate(cums) if cums else np.zeros(0)
        bounds = np.arange(len(groups))[:, None] + np.arange(cls.BUCKETS + 1) / cls.BUCKETS
        index = cum.searchsorted(bounds, side="right").astype(np.int64)
        return cls(np.concatenate(groups).astype(np.int64), cum, np.cumsum(size), size, index)

    def draw(self, group: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One weighted random node for each entry of ``group`` (groups must be non-empty), by
        the uniforms ``u``."""
        pos = self.cum.searchsorted(group + u, side="right")
        return self.nodes[np.minimum(pos, self.end[group] - 1)]


class Deployment:
    """Where the units are: the hourly rota and focus plan, focus placement, patrol posts."""

    def __init__(self, cfg, world, clock, police: PoliceState, strategy: Strategy,
                 key: np.ndarray):
        self.cfg = cfg.police
        self.seed = int(cfg.seed)
        self.clock = clock
        self.world = world
        self.police = police
        self.strategy = strategy
        self.steps_per_hour = int(clock.steps_per_hour)
        self.key = key
        self.plan = strategy.plan(police, np.zeros(len(world.smap.hotspots)), rd.Draws(key, 0))
        n = world.smap.n_nodes
        sight, arrest = world.balls.sight, world.balls.arrest
        self.presence = Presence(sight.indptr, sight.indices, arrest.indptr, arrest.indices,
                                 np.zeros(n, np.int64))
        self.on_units = np.zeros(0, np.int64)
        self.focus_units = np.zeros(0, np.int64)
        self.effect = np.zeros(0)
        self.posts_now = np.zeros(0, np.int64)  # nodes of the on-duty units at this step
        self._rotas: dict[tuple[bytes, bool], np.ndarray] = {}  # on-duty masks, by availability
        self._patrol_units = np.zeros(0, np.int64)
        self._patrol_group = np.zeros(0, np.int64)
        self._patrol_cols = np.zeros(0, np.int64)
        self.patrol_merged: bool | None = None
        self._posts: tuple[int, np.ndarray] | None = None  # see _draw_posts
        self._focus_cache: tuple[np.ndarray, np.ndarray] | None = None
        self._sampler: PatrolSampler | None = None

    def attach(self, world) -> None:
        """Re-attach the world after a checkpoint was loaded (its balls were rebuilt)."""
        self.world = world
        sight, arrest = world.balls.sight, world.balls.arrest
        self.presence = Presence(sight.indptr, sight.indices, arrest.indptr, arrest.indices,
                                 self.presence.posts_at)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["world"] = None
        p = self.presence
        state["presence"] = Presence(*(np.zeros(0, np.int64),) * 4, p.posts_at)
        return state

    def posts(self, t: int, new_hour: bool, active: bool) -> np.ndarray:
        """The on-duty units' posts at step ``t`` (one node per unit of `on_units`).

        Hourly: the rota and the focus plan; Koper-style plans move their focus units every
        step; patrol posts are drawn for the rest of the hour at once, and again after a focus
        move or a change of command (``active``: the intervention is on)."""
        draws = rd.Draws(self.key, t)
        if new_hour:
            self._plan_hour(t, draws, active)
            self._posts = None
        elif self.plan.move_every_step and active and len(self.focus_units):
            units = self.focus_units  # same units, new hotspots
            self.plan = self.strategy.plan(self.police, self.world.hotspot_activity(), draws,
                                           units=units)
            self._place_focus(units[self.plan.target[units] >= 0], draws)
            self._set_stops()
            self._posts = None
        merged = bool(self.cfg.merged_command) and active
        if merged != self.patrol_merged:
            self._assign_patrol_groups(merged)
            self._posts = None
        if self._posts is None:
            self._posts = self._draw_posts(t)
        first_step, posts = self._posts
        return posts[t - first_step]

    def posting(self, posts: np.ndarray) -> Posting:
        """The kernel's view of this step's posts (then remembered as the current posts)."""
        out = Posting(posts, self.posts_now, self.on_units, self.effect, self.police.node)
        self.posts_now = posts
        return out

    def cover(self, ball) -> np.ndarray:
        """Number of on-duty units within ``ball`` of each node (at this step's posts)."""
        return ball.spread(self.posts_now, 1.0, self.world.smap.n_nodes)

    # ------------------------------------------------------------------ the hour
    def _plan_hour(self, t: int, draws: rd.Draws, active: bool) -> None:
        """Who is on duty, the strategy's focus plan, off-duty units back at base."""
        p, cfgp = self.police, self.cfg
        loss = duty_loss(cfgp.duties, self.world.smap.zone_ids, t, self.clock, self.seed)
        share = float(cfgp.shift_factors[self.clock.shift(t)]) * (1.0 - loss)
        key = (share.tobytes(), active)  # a handful of rotas per run
        if key not in self._rotas:
            self._rotas[key] = units_on_duty(p, share, active)
        p.on_duty = self._rotas[key].copy()
        activity = self.world.hotspot_activity()
        if active:
            self.plan = self.strategy.plan(p, activity, draws)
        else:
            self.plan = Strategy.plan(self.strategy, p, activity, draws)
        focus = p.on_duty & (self.plan.target >= 0)
        p.role[:] = np.where(focus, FOCUS, PATROL)
        self.focus_units = focus.nonzero()[0]
        self._place_focus(self.focus_units, draws)
        off = ~p.on_duty
        p.node[off] = np.where(p.zone[off] >= 0, p.base[np.maximum(p.zone[off], 0)], p.base[0])
        self.on_units = p.on_duty.nonzero()[0]
        self.patrol_merged = None  # patrol groups are re-assigned for the new rota
        self._set_stops()

    def _set_stops(self) -> None:
        """Stop length of each unit this hour, and the deterrence of the on-duty units."""
        p, cfgp = self.police, self.cfg
        patrol = p.on_duty & (p.role == PATROL)
        p.stop_minutes[:] = 0.0
        p.stop_minutes[patrol] = cfgp.patrol_stop_minutes
        p.stop_minutes[p.on_duty & (p.role == FOCUS)] = self.plan.stop_minutes
        self.effect = deterrence(p.stop_minutes[self.on_units], cfgp.deterrence_tau_minutes)

    def _place_focus(self, units: np.ndarray, draws: rd.Draws) -> None:
        """Put focus ``units`` on a random node within the perimeter of their target hotspot."""
        if len(units) == 0:
            return
        indptr, indices = self._focus_nodes()
        tgt = self.plan.target[units]
        starts = indptr[tgt]
        counts = indptr[tgt + 1] - starts
        pick = (draws.uniforms(D_FOCUS_PLACE, units) * counts).astype(np.int64)
        self.police.node[units] = indices[starts + pick]

    def _focus_nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR of nodes within the focus perimeter (network distance) of each hotspot."""
        if self._focus_cache is None:
            radius = float(self.cfg.focus_radius_m)
            lists = [np.flatnonzero(row <= radius) for row in self.world.smap.hotspots.dist]
            indptr = np.zeros(len(lists) + 1, np.int64)
            np.cumsum([len(a) for a in lists], out=indptr[1:])
            self._focus_cache = (indptr, np.concatenate(lists) if lists else np.zeros(0, int))
        return self._focus_cache

    def _patrol_sampler(self) -> PatrolSampler:
        """Patrol node weights (residents + footfall): one group per zone, then the region."""
        if self._sampler is None:
            smap, w_foot = self.world.smap, float(self.cfg.patrol_footfall_weight)
            w = smap.node_population / max(float(smap.node_population.mean()), 1e-9)
            w = w + w_foot * self.world.footfall
            groups = [np.flatnonzero(smap.zone == z) for z in range(len(smap.zone_ids))]
            self._sampler = PatrolSampler.build([*groups, np.arange(smap.n_nodes)], w)
        return self._sampler

    def _assign_patrol_groups(self, merged: bool) -> None:
        """Patrol units this hour and their sampling group: own zone, or the whole region for
        regional units and under a merged command (units of a zone without nodes stay put)."""
        p = self.police
        sampler = self._patrol_sampler()
        units = (p.on_duty & (p.role == PATROL)).nonzero()[0]
        region = len(sampler.size) - 1
        zone = p.zone[units]
        group = np.full(len(units), region) if merged else np.where(zone >= 0, zone, region)
        keep = sampler.size[group] > 0
        self._patrol_units, self._patrol_group = units[keep], group[keep]
        self._patrol_cols = self.on_units.searchsorted(self._patrol_units)  # among on-duty
        self.patrol_merged = merged

    def _draw_posts(self, t: int) -> tuple[int, np.ndarray]:
        """Posts of the on-duty units from step ``t`` to the end of the hour (step ``t`` and a
        (steps, units) array): patrols draw a new node every step, focus units stay where they
        were placed."""
        steps = self.steps_per_hour - t % self.steps_per_hour
        posts = np.empty((steps, len(self.on_units)), np.int64)
        posts[:] = self.police.node[self.on_units]
        if len(self._patrol_units):
            s = self._patrol_sampler()
            draw_patrol_posts(self.key, t, posts, self._patrol_cols, self._patrol_units,
                              self._patrol_group, s.nodes, s.cum, s.end, s.index)
        return t, posts


# ------------------------------------------------------------------ compiled rules


@rule
def posts_within(node: int, indptr: np.ndarray, indices: np.ndarray, posts_at: np.ndarray,
                 first_only: bool) -> int:
    """Units posted within the ball (CSR ``indptr``/``indices``) of ``node``; balls are
    symmetric, so these are the units whose ball holds ``node``. With ``first_only``, 1 as
    soon as one is found."""
    n = 0
    for k in range(indptr[node], indptr[node + 1]):
        n += posts_at[indices[k]]
        if first_only and n:
            return 1
    return n


@rule
def police_exposure(s: Posting, presence: Presence, fields: Fields, p: PoliceParams) -> None:
    """Decay the remembered exposures and add this step's police presence, in place:
    ``presence *= decay_risk``, then each unit adds its deterrence at every node of the sight
    ball (CSR) of its post (unit after unit, as ``np.add.at``); ``arrest_memory *=
    decay_arrest``; ``posts_at`` (units per node) moves from the old posts to the new."""
    seen, memory = fields.presence, fields.arrest_memory
    for i in range(seen.shape[0]):
        seen[i] *= p.decay_risk
        memory[i] *= p.decay_arrest
    indptr, indices = presence.sight_indptr, presence.sight_indices
    for u in range(s.posts.shape[0]):
        e = s.effect[u]
        for k in range(indptr[s.posts[u]], indptr[s.posts[u] + 1]):
            seen[indices[k]] += e
    for node in s.old_posts:
        presence.posts_at[node] -= 1
    for node in s.posts:
        presence.posts_at[node] += 1


@rule
def group_node(g: int, u: float, nodes: np.ndarray, cum: np.ndarray, end: np.ndarray,
               index: np.ndarray) -> int:
    """`PatrolSampler.draw` of one node of group ``g`` by the uniform ``u``.

    The position is ``np.searchsorted(cum, g + u, side="right")``, found by a binary search
    between two entries of ``index`` (`PatrolSampler.index`: the position of ``g + j / B``
    for bucket bounds ``j``) one bucket either side of ``g + u``'s, so always the same
    position, with one or two cache misses instead of a dozen.
    """
    n_buckets = index.shape[1] - 1
    v = g + u
    b = min(max(np.int64((v - g) * n_buckets), 0), n_buckets - 1)
    lo = index[g, max(b - 1, 0)]
    hi = index[g, min(b + 2, n_buckets)]
    while lo < hi:
        mid = (lo + hi) >> 1
        if cum[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    return nodes[min(lo, end[g] - 1)]


@kernel
def draw_patrol_posts(key: np.ndarray, t: int, posts: np.ndarray, cols: np.ndarray,
                      units: np.ndarray, group: np.ndarray, nodes: np.ndarray, cum: np.ndarray,
                      end: np.ndarray, index: np.ndarray) -> None:
    """`PatrolSampler.draw` for every row of ``posts`` (steps from ``t``, on-duty units):
    column ``cols[k]`` (unit ``units[k]``) gets a weighted random node of group ``group[k]``
    (`group_node`) by the unit's own uniform at that step (``D_PATROL_POST``)."""
    for r in range(posts.shape[0]):
        for k in range(cols.shape[0]):
            u = rd.uniform(key, D_PATROL_POST, t + r, units[k], 0)
            posts[r, cols[k]] = group_node(group[k], u, nodes, cum, end, index)


@kernel
def police_step(t: int, key: np.ndarray, s: Posting, presence: Presence, fields: Fields,
                d: DealerState, on_shift: np.ndarray, p: PoliceParams, courts: CourtParams,
                used: int, ev: tuple, rec: tuple) -> tuple[np.ndarray, int]:
    """The police phase of a step, in place (docs/ODD.md 7.5-7.7): units take this step's
    posts, exposures decay and take the police seen now, each seller within arrest range of
    ``c`` units is arrested with probability 1 - (1 - arrest_prob)^c, peers' arrest memory
    rises around the site and the courts take the arrested (`courts.prosecute`). Returns the
    dealers still selling and the court cases used this week (``used`` before)."""
    # named again: the caller passes plain tuples (`brusim.model.model.plain`)
    s, presence, fields, d = Posting(*s), Presence(*presence), Fields(*fields), DealerState(*d)
    p, courts = PoliceParams(*p), CourtParams(*courts)
    for k in range(s.on_units.shape[0]):
        s.unit_node[s.on_units[k]] = s.posts[k]
    police_exposure(s, presence, fields, p)
    record(rec, M_POLICE_HOURS, s.posts, p.step_hours)

    selling = where_active_on_shift(d.status, on_shift)
    cover = np.empty(selling.shape[0])
    covered = False
    for k in range(selling.shape[0]):
        cover[k] = posts_within(d.node[selling[k]], presence.arrest_indptr,
                                presence.arrest_indices, presence.posts_at, False)
        covered = covered or cover[k] > 0
    if not covered:  # nobody within arrest range of a unit
        return selling, used
    n_caught = 0
    caught_mask = np.empty(selling.shape[0], np.bool_)
    for k in range(selling.shape[0]):
        caught_mask[k] = (rd.uniform(key, D_ARREST, t, selling[k], 0)
                          < 1.0 - (1.0 - p.arrest_prob) ** cover[k])
        n_caught += caught_mask[k]
    if n_caught == 0:
        return selling, used
    caught = selling[caught_mask]
    at = d.node[caught]
    emit(ev, t, EV_ARREST, at, caught, d.crew[caught].astype(np.int64))
    record(rec, M_ARRESTS, at, 1.0)
    # peers notice arrests: perceived risk rises around the site (Ball.spread)
    count = np.zeros(fields.arrest_memory.shape[0], np.int64)
    for site in at:
        for k in range(presence.sight_indptr[site], presence.sight_indptr[site + 1]):
            count[presence.sight_indices[k]] += 1
    for i in range(count.shape[0]):
        fields.arrest_memory[i] += count[i] * p.arrest_risk
    used = prosecute(t, key, caught, d, courts, used, ev, rec)
    return where_active_on_shift(d.status, on_shift), used
