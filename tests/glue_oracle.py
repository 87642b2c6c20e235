"""The model's step as it was before its phases were fused into compiled kernels (commit 5d44472).

`GlueModel` is `BrusselsMarketModel` with the phases that are now one compiled kernel each
(`users.users_step`, `dealers.dealers_step`, `police.police_step`, `outreach.outreach_step`,
`violence.violence_step`) put back as the Python "glue" they replaced: keyed draws
(`brusim.model.rng`: for each draw the purpose, step, agent and number the kernels use, drawn
one array at a time from Python, keyed random orders as numpy stable sorts of the items'
uniforms) and the per-rule compiled functions of each submodel, events and metrics through
`EventLog.add` and `Recorder.add`. Patrol posts are drawn with the old
``searchsorted`` over the whole cumulative weight array, and `GlueRecorder` folds areas with
``np.add.at``. Everything else
(set-up, the hourly police plan, recruitment, decay, recording) is the product's own code, so
tests/test_phases.py can compare the two step by step, value for value.

``GlueModel.paths`` counts the rare branches the oracle took (rooms full, the outreach cap,
several arrests at once...), so a test can show that its configuration exercised them.
The court's random order decides something only in the steps ``court_split`` counts (some of
the step's arrests prosecuted, the others released) and ``court_several`` counts (several
prosecutions in the step, whose events come in the court's order).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from numba import njit

from brusim.model import codes as cd
from brusim.model import dealers as dl
from brusim.model import demand as dm
from brusim.model import rng as rd
from brusim.model import users as us
from brusim.model.codes import DealerStatus, EventType, UserStatus
from brusim.model.market import mark_sold, pick_markets
from brusim.model.model import BrusselsMarketModel
from brusim.model.police import Deployment, police_exposure, posts_within
from brusim.model.recorder import METRICS, Recorder
from brusim.model.rooms import RoomState
from brusim.model.spatial import Ball
from brusim.model.violence import violence_odds

_NONE = np.zeros(0, np.int64)  # no agents (read-only placeholder)
_NONE.flags.writeable = False
_NO_DRAWS = np.zeros(0)  # no random numbers (a kernel argument)
_NO_ROOM = np.zeros(0, bool)  # no consumption room open (a kernel argument)


@njit(cache=False, error_model="numpy")
def cover_at(nodes: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
             posts_at: np.ndarray) -> np.ndarray:
    """Units posted within the ball of each of ``nodes`` (as floats): the removed
    ``kernels.cover_at``."""
    out = np.empty(nodes.shape[0])
    for k in range(nodes.shape[0]):
        out[k] = posts_within(nodes[k], indptr, indices, posts_at, False)
    return out


def covered_nodes(worker_nodes: np.ndarray, contact_ball: Ball, n_nodes: int) -> np.ndarray:
    """Mask of the nodes within the contact radius of at least one worker (the removed
    ``outreach.covered_nodes``)."""
    covered = np.zeros(n_nodes, bool)
    nb, _ = contact_ball.gather(worker_nodes)
    covered[nb] = True
    return covered


def outreach_contacts(
    present: np.ndarray,
    present_nodes: np.ndarray,
    worker_nodes: np.ndarray,
    contact_ball: Ball,
    n_nodes: int,
    contact_prob: float,
    max_contacts: int,
    key: np.ndarray,
    t: int,
    covered: np.ndarray | None = None,
    paths: Counter | None = None,
) -> np.ndarray:
    """The users (of ``present``, at ``present_nodes``) contacted by workers at
    ``worker_nodes``, in index order (the removed ``outreach.outreach_contacts``; ``paths``
    counts the cap being hit)."""
    if len(worker_nodes) == 0 or len(present_nodes) == 0:
        return np.zeros(0, np.int64)
    if covered is None:
        covered = covered_nodes(worker_nodes, contact_ball, n_nodes)
    near = covered[present_nodes].nonzero()[0]
    met = present[near[rd.uniforms(key, cd.D_CONTACT, t, present[near]) < contact_prob]]
    cap = max_contacts * len(worker_nodes)
    if len(met) > cap:
        if paths is not None:
            paths["outreach_cap"] += 1
        kept = np.argsort(rd.uniforms(key, cd.D_CONTACT_CAP, t, met), kind="stable")[:cap]
        met = np.sort(met[kept])  # the cap first in the order of their keyed uniforms
    return met


def room_admissions(
    rooms: RoomState,
    buyers: np.ndarray,
    purchase_nodes: np.ndarray,
    willing: np.ndarray,
    open_now: np.ndarray,
    reach_m: float,
    key: np.ndarray,
    t: int,
    paths: Counter | None = None,
) -> np.ndarray:
    """Room index used by each purchase (-1: none) given willingness, opening, reach and
    capacity (the removed numpy ``outreach.room_admissions``; ``paths`` counts shuffles of
    several candidates and rooms that turn buyers away)."""
    out = np.full(len(purchase_nodes), -1, np.int64)
    rooms_open = open_now.nonzero()[0]
    idx = willing.nonzero()[0]  # only willing buyers look for a room
    if len(rooms_open) == 0 or len(idx) == 0:
        return out
    d = rooms.dist[rooms_open[:, None], purchase_nodes[idx]]  # (open rooms, willing buyers)
    nearest = d.argmin(axis=0)  # position in rooms_open (ties: the first room)
    ok = d[nearest, np.arange(len(idx))] <= reach_m
    idx, nearest = idx[ok], nearest[ok]
    for j, r in enumerate(rooms_open):
        cand = idx[nearest == j]
        if len(cand) == 0:
            continue
        priority = rd.uniforms(key, cd.D_ROOM_ORDER, t, buyers[cand])
        cand = cand[np.argsort(priority, kind="mergesort")]
        free = max(int(rooms.capacity[r] - rooms.used_this_hour[r]), 0)
        if paths is not None:
            paths["room_shuffle"] += len(cand) > 1
            paths["room_full"] += len(cand) > free
            paths[f"room_{r}_used"] += min(len(cand), free)
        took = cand[:free]
        out[took] = r
        rooms.used_this_hour[r] += len(took)
    return out


class GlueRecorder(Recorder):
    """`Recorder` folding its per-signature sums into areas with ``np.add.at`` (pre-fusion)."""

    def _area_values(self) -> np.ndarray:
        values = np.zeros((self._n_areas, len(METRICS)))
        by_signature = self._by_signature.reshape(-1, len(METRICS))
        np.add.at(values, self._pair_area,
                  by_signature[self._pair_signature] * self._pair_weight[:, None])
        return values


TIMED = (DealerStatus.LYING_LOW, DealerStatus.CUSTODY, DealerStatus.PRISON)


class GlueDeployment(Deployment):
    """`Deployment` drawing patrol posts with numpy: ``searchsorted`` over the whole cumulative
    weight array, the hour's keyed uniforms as one array."""

    paths: Counter

    def _draw_posts(self, t: int) -> tuple[int, np.ndarray]:
        steps = self.steps_per_hour - t % self.steps_per_hour
        posts = np.empty((steps, len(self.on_units)), np.int64)
        posts[:] = self.police.node[self.on_units]
        if len(self._patrol_units):
            # the old (steps, units) layout: _patrol_group_by_step[:steps].ravel()
            group = np.tile(self._patrol_group, steps)
            sampler = self._patrol_sampler()
            u = np.concatenate([rd.uniforms(self.key, cd.D_PATROL_POST, t + r, self._patrol_units)
                                for r in range(steps)])
            pos = sampler.cum.searchsorted(group + u, side="right")
            drawn = sampler.nodes[np.minimum(pos, sampler.end[group] - 1)]
            posts[:, self._patrol_cols] = drawn.reshape(steps, -1)
            self.paths["patrol_draws"] += len(group)
        return t, posts


class GlueModel(BrusselsMarketModel):
    """`BrusselsMarketModel` with its fused phases replaced by the pre-fusion Python glue."""

    def __init__(self, cfg, smap=None, events_path=None):
        super().__init__(cfg, smap=smap, events_path=events_path)
        self.recorder = GlueRecorder(self.smap, int(self.cfg.run.record_every_steps),
                                     self.step_hours)
        self.paths: Counter = Counter()
        self.deployment.__class__ = GlueDeployment
        self.deployment.paths = self.paths
        self._outreach_covered: np.ndarray | None = None

    def _sellers(self) -> np.ndarray:
        return dl.where_active_on_shift(self.dealers.status, self._on_shift)

    # ------------------------------------------------------------------ police
    def police_phase(self, t: int, new_hour: bool) -> np.ndarray:
        dep = self.deployment
        posts = dep.posts(t, new_hour, self.intervention_active)
        self.police.node[dep.on_units] = posts
        police_exposure(dep.posting(posts), dep.presence, self.world.fields, self.police_params)
        self.recorder.add("police_hours", posts, self.step_hours)
        return self._arrests(t)

    def _arrests(self, t: int) -> np.ndarray:
        d, key, presence = self.dealers, self.key, self.deployment.presence
        selling = self._sellers()
        cover = cover_at(d.node[selling], presence.arrest_indptr, presence.arrest_indices,
                         presence.posts_at)
        if not cover.any():  # nobody within arrest range of a unit
            return selling
        p = 1.0 - (1.0 - float(self.cfg.police.arrest_prob)) ** cover
        caught = selling[rd.uniforms(key, cd.D_ARREST, t, selling) < p]
        if len(caught) == 0:
            return selling
        courts = self.court_params
        self.events.add(t, EventType.ARREST, d.node[caught], caught, d.crew[caught])
        self.recorder.add("arrests", d.node[caught])
        memory = self.world.fields.arrest_memory
        memory += self.world.balls.sight.spread(
            d.node[caught], float(self.cfg.behaviour.dealers.arrest_risk), self.smap.n_nodes)
        self.paths["arrest_shuffle"] += len(caught) > 1
        # the court's order: by each dealer's keyed uniform (ties: in index order)
        priority = rd.uniforms(key, cd.D_COURT_ORDER, t, caught)
        caught = caught[np.argsort(priority, kind="stable")]
        free = max(int(courts.weekly_capacity) - self.court_used, 0)
        prosecuted, released = caught[:free], caught[free:]
        self.paths["court_full"] += len(released) > 0
        self.paths["court_split"] += len(prosecuted) > 0 and len(released) > 0
        self.paths["court_several"] += len(prosecuted) > 1
        self.court_used += len(prosecuted)
        d.status[prosecuted] = DealerStatus.PRISON
        d.until[prosecuted] = t + courts.sentence_steps
        d.status[released] = DealerStatus.CUSTODY
        d.until[released] = t + courts.custody_steps
        if len(prosecuted):
            self.events.add(t, EventType.PROSECUTION, d.node[prosecuted], prosecuted)
            self.recorder.add("prosecutions", d.node[prosecuted])
        return self._sellers()

    # ------------------------------------------------------------------ dealers
    def dealers_phase(self, t: int, selling: np.ndarray) -> None:
        d, p, f = self.dealers, self.dealer_params, self.world.fields
        if self._crews is None:
            self._crews = dl.crew_index(d)
        if self._dealer_transitions(t):
            selling = self._sellers()
        act, risk = dl.sellers_acting(selling, d, self._decision_phase,
                                      (-t) % p.decision_steps, f.presence, f.arrest_memory,
                                      p.half_saturation, p.flee_risk)
        if act.any() and self._decide(t, selling[act], selling, risk[act]):
            selling = self._sellers()  # some lie low or quit
        nodes = d.node[selling]
        self._selling, self._seller_nodes = selling, nodes
        self.recorder.add("dealers_active", nodes)
        self.recorder.add("dealer_hours", nodes, self.step_hours)

    def _dealer_transitions(self, t: int) -> bool:
        d = self.dealers
        ended = (np.isin(d.status, TIMED) & (d.until <= t)).nonzero()[0]
        if len(ended) == 0:
            return False
        status = d.status[ended]
        released = ended[status == DealerStatus.CUSTODY]
        d.status[ended[status != DealerStatus.PRISON]] = DealerStatus.ACTIVE
        d.status[ended[status == DealerStatus.PRISON]] = DealerStatus.RESERVE
        self.paths["prison_ends"] += int((status == DealerStatus.PRISON).sum())
        self.paths["lie_low_ends"] += int((status == DealerStatus.LYING_LOW).sum())
        if len(released):
            self.events.add(t, EventType.RELEASE_WITHOUT_PROSECUTION, d.node[released], released)
            self.recorder.add("releases_without_prosecution", d.node[released])
        return True

    def _decide(self, t: int, who: np.ndarray, selling: np.ndarray, risk_who: np.ndarray
                ) -> bool:
        d, p, key = self.dealers, self.dealer_params, self.key
        n_who, k_rand = len(who), p.k_rand
        markets = self.markets.nodes
        # each deciding dealer's own draws: a mate, k_rand nodes, a Gumbel a candidate (the known
        # market is drawn in the kernel, keyed by dealer and market node)
        u_mate = rd.uniforms(key, cd.D_SITE_MATE, t, who)
        u_sample = np.array([rd.uniform_open(key, cd.D_SITE_SAMPLE, t, who[i], r)
                             for r in range(k_rand) for i in range(n_who)])
        noise = np.array([[rd.gumbel(key, cd.D_SITE_NOISE, t, w, j)
                           for j in range(dl.FIXED_CANDIDATES + k_rand)] for w in who]
                         ).reshape(n_who, dl.FIXED_CANDIDATES + k_rand)
        sbd_on = t >= self.intervention_step and self.world.any_sbd
        new_site, moved, lie_low = dl.decide_sites(
            who, d, self._crews, markets, self.site_search,
            dl.SiteDraws(u_mate, key, t, u_sample, noise), (d.node[selling], d.crew[selling]),
            self.world.fields, self.world.sbd_attractiveness_cut if sbd_on else _NO_DRAWS, p)
        mv = who[moved]
        if len(mv):
            self.events.add(t, EventType.DEALER_MOVE, new_site[moved], mv, d.node[mv])
            risky = risk_who[moved] > 0.2
            self.paths["displaced"] += int(risky.sum())
            d.displaced_until[mv[risky]] = t + p.displaced_steps
            d.node[mv] = new_site[moved]
        d.lie_lows[who[~lie_low]] = 0
        ll = who[lie_low]
        if len(ll):
            self.events.add(t, EventType.DEALER_LIE_LOW, d.node[ll], ll)
            d.lie_lows[ll] += 1
            quit_ = ll[d.lie_lows[ll] >= p.quit_after_lie_lows]
            self.paths["quit"] += len(quit_)
            d.status[ll] = DealerStatus.LYING_LOW
            d.until[ll] = t + p.lie_low_steps
            d.status[quit_] = DealerStatus.RESERVE
            d.lie_lows[quit_] = 0
        return len(ll) > 0

    # ------------------------------------------------------------------ users
    def users_phase(self, t: int) -> None:
        u, d = self.users, self.demand
        self._end_treatments(t)
        back = np.flatnonzero((u.status == UserStatus.OFFSTREET) & (u.until <= t))
        u.status[back] = UserStatus.IDLE
        self.recorder.add("offstreet_returns", u.home[back])
        cand, arr = us.scan_users(t, u, self.deployment.presence)
        rate = self.clock.demand_factor(t) / self.user_params.purchase_interval_steps
        factor = np.where(u.status[cand] == UserStatus.OFFSTREET, 1.0, d.factor[cand])
        start = cand[rd.uniforms(self.key, cd.D_CRAVING, t, cand) < rate * factor]  # craving
        start = dm.choose_channel(t, self.key, d, self.demand_params, u.status, u.until,
                                  u.ready, u.home, self.user_params.min_gap_steps, start,
                                  self.recorder.sink())
        failed = failed_at = buyers = _NONE
        if len(arr):
            u.node[arr] = u.target[arr]
            buyers, failed, failed_at = self._purchases(t, arr)
        if len(start) or len(failed):
            self._set_out(t, start, failed, failed_at)
        dm.searches_ended(t, d, self.demand_params, buyers, failed, u.status)
        self.recorder.add("users_searching", u.node[u.status == UserStatus.SEARCHING])
        self.recorder.add("users_offstreet", u.home[u.status == UserStatus.OFFSTREET])

    def _end_treatments(self, t: int) -> None:
        u = self.users
        done = us.where_equal_due(u.status, UserStatus.TREATMENT, u.until, t)
        relapse = rd.uniforms(self.key, cd.D_RELAPSE, t, done) < float(
            self.cfg.behaviour.outreach.relapse_prob)
        self.paths["relapse"] += int(relapse.sum())
        self.paths["recovery"] += int((~relapse).sum())
        u.status[done[relapse]] = UserStatus.IDLE
        u.ready[done[relapse]] = t
        stay = self.user_params.recovered_steps
        for i in done[~relapse]:
            u.status[i] = UserStatus.RECOVERED
            u.until[i] = (t + 1 + int(min(stay * rd.exponential(self.key, cd.D_RECOVERED_STAY,
                                                                t, i, 0), 2.0**50))
                          if np.isfinite(stay) else us.FOREVER)
        back = us.where_equal_due(u.status, UserStatus.RECOVERED, u.until, t)
        self.paths["recovery_ends"] += len(back)
        u.status[back] = UserStatus.IDLE
        u.ready[back] = t

    def _set_out(self, t: int, start: np.ndarray, failed: np.ndarray, failed_at: np.ndarray
                 ) -> None:
        u, p, key = self.users, self.user_params, self.key
        fresh = (u.known[start] < 0) | (rd.uniforms(key, cd.D_LOYALTY, t, start) >= p.loyalty)
        origins = np.concatenate([u.home[start[fresh]], failed_at])
        searchers = np.concatenate([start[fresh], failed])
        markets = self.markets.nodes
        if len(markets) == 0 or len(origins) == 0:
            picks = np.full(len(origins), -1, np.int64)
        else:  # an Exp(1) per searcher and known market, keyed by the market's node
            race = np.array([[rd.exponential(key, cd.D_MARKET_RACE, t, s, m)
                              for m in markets] for s in searchers])
            x32, y32 = self.world.xy32
            pull = self.markets.strength ** float(self.cfg.behaviour.users.market_pull_exponent)
            picks = pick_markets(origins, markets, pull, x32, y32,
                                 p.search_radius32, p.search_decay32,
                                 np.arange(len(origins)) >= len(origins) - len(failed), race)
        us.set_out(t, u, start, fresh, picks, failed, failed_at, self.user_world, p)

    def _purchases(self, t: int, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        u, p, key, w = self.users, self.user_params, self.key, self.user_world
        selling, seller_nodes = self._selling, self._seller_nodes
        width = w.purchase_padded.shape[1]
        noise = np.array([[rd.uniform_open(key, cd.D_SELLER_NOISE, t, i, k) for k in range(width)]
                          for i in arr]).reshape(len(arr), width)
        site, n_sellers, ok = us.busiest_sites(u.node[arr], w.purchase_padded, seller_nodes,
                                               w.sellers_at, noise, p.avoid_police,
                                               self.deployment.presence)
        buyers, sites, failed = arr[ok], site[ok], arr[~ok]
        u_seller = rd.uniforms(key, cd.D_SELLER, t, buyers)  # a seller at the site
        room = self._room_use(t, buyers, sites) if len(buyers) else None
        in_room = None if room is None else room >= 0
        u_public = rd.uniforms(key, cd.D_PUBLIC_USE, t, buyers)
        sbd_on = t >= self.intervention_step and self.world.any_sbd
        dealer, public, failed_at = us.purchases(
            t, u, buyers, sites, n_sellers[ok], (u_seller, u_public),
            self.world.sbd_nuisance_cut if sbd_on else _NO_DRAWS,
            _NO_ROOM if in_room is None else in_room, failed, (selling, seller_nodes),
            self.world.fields, w.market_padded, p)
        if len(buyers):
            self.events.add(t, EventType.TRANSACTION, sites, buyers, dealer)
            self.recorder.add("transactions", sites)
            view = self.markets.view()
            mark_sold(sites, view.sold_mask, view.sold_nodes, view.sold_count)
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
        return buyers, failed, failed_at

    def _room_use(self, t: int, buyers: np.ndarray, sites: np.ndarray) -> np.ndarray | None:
        open_now = self.room_schedule.open_now(t, self.steps_per_day)
        if not open_now.any():
            return None
        u, p = self.users, self.user_params
        referred = u.referred_until[buyers] >= t
        self.paths["referred_buyers"] += int(referred.sum())
        p_room = np.where(referred, p.room_use_prob_referred, p.room_use_prob)
        willing = rd.uniforms(self.key, cd.D_ROOM_WILLING, t, buyers) < p_room
        return room_admissions(self.rooms, buyers, sites, willing, open_now, p.room_reach_m,
                               self.key, t, self.paths)

    # ------------------------------------------------------------------ outreach
    def outreach_phase(self, t: int, new_hour: bool) -> None:
        o, beh, key = self.outreach, self.cfg.behaviour.outreach, self.key
        if len(o) == 0:
            return
        on_shift = self.outreach_plan.shift[t % self.steps_per_week]
        o.on_shift[:] = on_shift
        if new_hour:
            hs = self.smap.hotspots
            starts = hs.catchment_indptr[o.hotspot]
            counts = hs.catchment_indptr[o.hotspot + 1] - starts
            u_move = rd.uniforms(key, cd.D_WORKER_MOVE, t, np.arange(len(o)))
            o.node[:] = hs.catchment_indices[starts + (u_move * counts).astype(int)]
            self._outreach_covered = None
        if not on_shift:
            return
        contact = self.world.balls.contact
        if self._outreach_covered is None:  # workers stay put within the hour
            self._outreach_covered = covered_nodes(o.node, contact, self.smap.n_nodes)
        u = self.users
        present = ((u.status == UserStatus.SEARCHING)
                   | (u.status == UserStatus.LINGERING)).nonzero()[0]
        met = outreach_contacts(present, u.node[present], o.node, contact,
                                self.smap.n_nodes, float(beh.contact_prob),
                                int(beh.max_contacts_per_step), key, t,
                                covered=self._outreach_covered, paths=self.paths)
        if len(met) == 0:
            return
        self.events.add(t, EventType.OUTREACH_CONTACT, u.node[met], met)
        self.recorder.add("outreach_contacts", u.node[met])
        u.referred_until[met] = t + self.outreach_plan.params.referral_steps
        treat = met[rd.uniforms(key, cd.D_TREATMENT, t, met) < float(beh.treatment_prob)]
        if len(treat):
            self.events.add(t, EventType.TREATMENT_ENTRY, u.node[treat], treat)
            self.recorder.add("treatment_entries", u.node[treat])
            weeks = float(beh.treatment_weeks) * np.array(
                [rd.exponential(key, cd.D_TREATMENT_WEEKS, t, i, 0) for i in treat])
            u.status[treat] = UserStatus.TREATMENT
            u.until[treat] = t + (weeks * self.clock.steps_per_week).astype(np.int64) + 1
            u.node[treat] = u.home[treat]

    # ------------------------------------------------------------------ violence
    def violence_phase(self, t: int) -> None:
        d, key = self.dealers, self.key
        selling = self._selling
        if len(selling) < 2:
            return
        contested, p = violence_odds(t, selling, self._seller_nodes, self.cell, d,
                                     self.violence_params)
        if len(contested) == 0:
            return
        hit = contested[rd.uniforms(key, cd.D_VIOLENCE, t, contested) < p]
        if len(hit) == 0:
            return
        cells = self.cell[self._seller_nodes]
        first = np.array([selling[np.flatnonzero(cells == c)[0]] for c in hit])
        self.events.add(t, EventType.VIOLENT_INCIDENT, d.node[first], first, d.crew[first])
        self.recorder.add("violent_incidents", d.node[first])
