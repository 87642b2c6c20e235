"""Dealers: crews with home turf choosing selling sites by weighing takings against risk
(docs/ODD.md 7.8-7.12).

State lives in `DealerState` arrays; `DealerParams.from_config` converts the settings to step
units once. Each step `dealers_step` (one compiled kernel) ends timed statuses, lets sellers due
by their decision rhythm or feeling at risk reconsider their site (`decide_sites`) and records
who sells. Displacement is not scripted: it is what happens when a seller's site choice finds a
better site. Crews are topped up from the reserve once a day by `brusim.model.supply.recruit`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from brusim.model import rng as rd
from brusim.model.codes import (
    ACTIVE,
    CUSTODY,
    D_SITE_MARKET,
    D_SITE_MATE,
    D_SITE_NOISE,
    D_SITE_SAMPLE,
    DEALER_STATUS_NAMES,
    EV_DEALER_LIE_LOW,
    EV_DEALER_MOVE,
    EV_RELEASE,
    LYING_LOW,
    M_DEALER_HOURS,
    M_DEALERS_ACTIVE,
    M_RELEASES,
    PRISON,
    RESERVE,
    DealerStatus,
)
from brusim.model.events import emit
from brusim.model.jit import kernel, rule
from brusim.model.recorder import record
from brusim.model.spatial import Ball
from brusim.model.world import Fields, perceived_risk

STATUS_NAMES = DEALER_STATUS_NAMES
DISPLACED_RISK = 0.2  # a move at a perceived risk above this counts as displacement
FIXED_CANDIDATES = 4  # current site, crew home, a crew-mate's site, a known market


class DealerState(NamedTuple):
    """One entry per dealer (active and reserve); per-crew arrays at the end."""

    status: np.ndarray  # int8 DealerStatus
    until: np.ndarray  # int64 step when lying low/custody/prison ends
    node: np.ndarray  # int64 selling site (or last site while away)
    crew: np.ndarray  # int32
    tolerance: np.ndarray  # individual multiplier on perceived risk
    lie_lows: np.ndarray  # int32 consecutive lie-lows
    displaced_until: np.ndarray  # int64 step until which the dealer counts as displaced
    shift_start: np.ndarray  # float hours
    decision_offset: np.ndarray  # int64, decisions when (step + offset) % interval == 0
    crew_home: np.ndarray  # int64 (C,) home node of each crew
    crew_target: np.ndarray  # int32 (C,) target crew size

    @property
    def n(self) -> int:
        """Number of dealers."""
        return len(self.status)


class DealerParams(NamedTuple):
    """The dealers' settings in the units the kernels use (costs per metre, steps)."""

    half_saturation: float
    flee_risk: float
    crew_bonus: float
    risk_weight: float
    turf_penalty: float
    move_cost_per_m: float
    turf_cost_per_m: float
    choice_noise: float
    min_utility: float
    switch_margin: float
    quit_after_lie_lows: int
    lie_low_steps: int
    displaced_steps: int
    step_hours: float
    k_rand: int  # random candidate sites per decision
    decision_steps: int
    shift_hours: float
    recruit_rate_per_day: float
    recruit_min_sales_per_day: float

    @classmethod
    def from_config(cls, cfg, clock) -> DealerParams:
        beh = cfg.behaviour.dealers
        return cls(
            half_saturation=float(beh.risk_half_saturation), flee_risk=float(beh.flee_risk),
            crew_bonus=float(beh.crew_bonus), risk_weight=float(beh.risk_weight),
            turf_penalty=float(beh.turf_penalty),
            move_cost_per_m=float(beh.move_cost_per_km) / 1000.0,
            turf_cost_per_m=float(beh.turf_cost_per_km) / 1000.0,
            choice_noise=float(beh.choice_noise), min_utility=float(beh.min_utility),
            switch_margin=float(beh.switch_margin),
            quit_after_lie_lows=int(beh.quit_after_lie_lows),
            lie_low_steps=clock.steps(float(beh.lie_low_hours)),
            displaced_steps=clock.steps(float(cfg.behaviour.violence.displaced_memory_days) * 24),
            step_hours=clock.step_minutes / 60.0,
            k_rand=max(int(beh.n_candidates) - FIXED_CANDIDATES, 2),
            decision_steps=clock.steps(float(beh.decision_minutes) / 60),
            shift_hours=float(beh.shift_hours),
            recruit_rate_per_day=float(beh.recruit_rate_per_day),
            recruit_min_sales_per_day=float(beh.recruit_min_sales_per_day),
        )


class SiteSearch(NamedTuple):
    """What a site decision looks at, besides the fields: coordinates, the awareness and market
    balls, the static pull of footfall and a scratch count per node."""

    x32: np.ndarray  # centred float32 node coordinates (spatial.node_xy32)
    y32: np.ndarray
    aware_r32: np.float32
    aware_indptr: np.ndarray
    aware_indices: np.ndarray
    market_indptr: np.ndarray
    market_indices: np.ndarray
    market_r: float
    near: np.ndarray  # scratch: sellers within the market radius of each node (all zero)
    node_x: np.ndarray
    node_y: np.ndarray
    circuity: float
    footfall_pull: np.ndarray


class SiteDraws(NamedTuple):
    """The random numbers of one round of site decisions, drawn in this order."""

    u_mate: np.ndarray  # a crew-mate per deciding dealer
    key: np.ndarray  # the run's key: a known market in reach is the one with the smallest
    t: int  # uniform keyed by (dealer, market node) at step t
    u_sample: np.ndarray  # k_rand random nodes per dealer
    noise: np.ndarray  # a Gumbel per candidate


def site_search(world, params: DealerParams) -> SiteSearch:
    """The `SiteSearch` of a model's world (its arrays are shared, not copied)."""
    aware, market, smap = world.balls.aware, world.balls.market, world.smap
    x32, y32 = world.xy32
    return SiteSearch(x32, y32, np.float32(aware.radius_m), aware.indptr, aware.indices,
                      market.indptr, market.indices, float(market.radius_m),
                      np.zeros(smap.n_nodes, np.int64), smap.x, smap.y, float(smap.circuity),
                      world.footfall_pull)


# ------------------------------------------------------------------ initial population


def init_dealers(smap, cfg_pop, cfg_beh, hotspot_weights: np.ndarray, clock,
                 rng: np.random.Generator, n_prison: int = 0, sentence_steps: int = 1
                 ) -> DealerState:
    """Create crews at hotspots (by market weight) and dispersed sites, and place their members.

    Hotspot crews: each hotspot first gets ``floor(n_hot × weight share)`` crews, then the
    remaining crews go one each to the hotspots with the largest weights (not the largest
    remainders), so light hotspots may get none. Dispersed crews get a home node drawn by
    residents. Active and reserve dealers join crews in proportion to crew weight (the hotspot's
    weight shared among its crews, 0.5 for a dispersed crew). ``n_prison`` more are in prison
    at the start, their releases spread evenly over the next ``sentence_steps`` (the stock of
    courts working at capacity: as many leave each week as are sentenced).
    """
    n_active, n_reserve, n_crews = cfg_pop.n_dealers, cfg_pop.n_reserve_dealers, cfg_pop.n_crews
    n_crews = max(1, n_crews)
    n_dispersed = int(round(cfg_pop.dispersed_crew_share * n_crews))
    n_hot = n_crews - n_dispersed
    crew_hotspot = np.full(n_crews, -1, np.int32)
    crew_home = np.zeros(n_crews, np.int64)
    if n_hot > 0 and len(hotspot_weights):
        w = hotspot_weights / hotspot_weights.sum()
        order = np.argsort(-w, kind="stable")
        alloc = np.floor(w * n_hot).astype(int)
        for h in order[: n_hot - alloc.sum()]:
            alloc[h] += 1
        crew_hotspot[:n_hot] = np.repeat(np.arange(len(w)), alloc)[:n_hot]
        for c in range(n_hot):
            members = smap.hotspots.catchment(crew_hotspot[c])
            crew_home[c] = rng.choice(members)
    if n_dispersed:
        w = smap.node_population.astype(float)
        crew_home[n_hot:] = rng.choice(smap.n_nodes, size=n_dispersed, p=w / w.sum())
    # Crew sizes: hotspot crews in proportion to their hotspot's weight, dispersed crews small.
    crew_w = np.where(crew_hotspot >= 0, hotspot_weights[np.maximum(crew_hotspot, 0)]
                      / np.maximum(np.bincount(crew_hotspot[crew_hotspot >= 0],
                                               minlength=len(hotspot_weights))
                                   [np.maximum(crew_hotspot, 0)], 1), 0.5) if len(
        hotspot_weights) else np.ones(n_crews)
    crew_w = np.maximum(crew_w, 1e-6)
    crew = rng.choice(n_crews, size=n_active, p=crew_w / crew_w.sum()).astype(np.int32)
    crew_target = np.bincount(crew, minlength=n_crews).astype(np.int32)
    reserve_crew = rng.choice(n_crews, size=n_reserve, p=crew_w / crew_w.sum()).astype(np.int32)
    prison_crew = rng.choice(n_crews, size=n_prison, p=crew_w / crew_w.sum()).astype(np.int32)
    crew = np.concatenate([crew, reserve_crew, prison_crew])
    n = n_active + n_reserve + n_prison
    status = np.concatenate([np.full(n_active, int(DealerStatus.ACTIVE)),
                             np.full(n_reserve, int(DealerStatus.RESERVE)),
                             np.full(n_prison, int(DealerStatus.PRISON))]).astype(np.int8)
    until = np.zeros(n, np.int64)
    until[n_active + n_reserve:] = np.ceil(np.arange(1, n_prison + 1) / max(n_prison, 1)
                                           * sentence_steps).astype(np.int64)
    near_home = Ball.build(smap, cfg_beh.market_radius_m)
    node = near_home.sample(crew_home[crew], rng.random(n))
    interval = clock.steps(cfg_beh.decision_minutes / 60)
    shift_start = rng.uniform(10.0, 20.0, size=n)
    tolerance = rng.lognormal(0.0, 0.3, size=n)
    return DealerState(
        status=status,
        until=until,
        node=node.astype(np.int64),
        crew=crew,
        tolerance=tolerance,
        lie_lows=np.zeros(n, np.int32),
        displaced_until=np.full(n, -1, np.int64),
        shift_start=shift_start,
        decision_offset=rng.integers(0, interval, size=n),
        crew_home=crew_home,
        crew_target=crew_target,
    )


def on_shift(d: DealerState, hour: float | np.ndarray, shift_hours: float) -> np.ndarray:
    """Mask of dealers whose daily selling hours include ``hour``."""
    return (hour - d.shift_start) % 24.0 < shift_hours


def crew_index(d: DealerState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dealers sorted by crew (stable order), each crew's start in that order and its size.

    Valid until crews change (recruitment); callers cache it.
    """
    order = np.argsort(d.crew, kind="stable")
    sorted_crew = d.crew[order]
    crews = np.arange(len(d.crew_home))
    start = sorted_crew.searchsorted(crews, "left")
    return order, start, sorted_crew.searchsorted(crews, "right") - start


# ------------------------------------------------------------------ compiled rules


@rule
def where_active_on_shift(status: np.ndarray, on_shift: np.ndarray) -> np.ndarray:
    """``((status == ACTIVE) & on_shift).nonzero()[0]``: the dealers selling now."""
    out = np.empty(status.shape[0], np.int64)
    k = 0
    for i in range(status.shape[0]):
        if status[i] == ACTIVE and on_shift[i]:
            out[k] = i
            k += 1
    return out[:k]


@rule
def end_timed_statuses(t: int, d: DealerState, ev: tuple, rec: tuple) -> bool:
    """Timed statuses that end now: lying low and custody back to active (custody ends are
    releases without prosecution), prison to the reserve. Returns whether any status changed."""
    status, until, node = d.status, d.until, d.node
    changed = False
    released = np.empty(status.shape[0], np.int64)  # custody ends, in index order
    n_released = 0
    for i in range(status.shape[0]):
        s = status[i]
        if LYING_LOW <= s <= PRISON and until[i] <= t:  # the timed statuses
            changed = True
            if s == CUSTODY:
                released[n_released] = i
                n_released += 1
            status[i] = RESERVE if s == PRISON else ACTIVE
    if n_released:
        released = released[:n_released]
        at = node[released]
        emit(ev, t, EV_RELEASE, at, released, np.zeros(0, np.int64))
        record(rec, M_RELEASES, at, 1.0)
    return changed


@rule
def sellers_acting(selling: np.ndarray, d: DealerState, decision_phase: np.ndarray,
                   phase_now: int, presence: np.ndarray, arrest_memory: np.ndarray,
                   half_saturation: float, flee_risk: float) -> tuple[np.ndarray, np.ndarray]:
    """Sellers who reconsider their site now: due by their decision rhythm, or feeling at risk
    (`world.perceived_risk` at their site × their tolerance above ``flee_risk``). Returns the
    mask over ``selling`` and each seller's perceived risk."""
    act = np.empty(selling.shape[0], np.bool_)
    risk = np.empty(selling.shape[0])
    for k in range(selling.shape[0]):
        i = selling[k]
        risk[k] = perceived_risk(presence, arrest_memory, d.node[i], half_saturation) \
            * d.tolerance[i]
        act[k] = decision_phase[i] == phase_now or risk[k] > flee_risk
    return act, risk


@rule
def candidate_sites(who: np.ndarray, d: DealerState, crews: tuple, markets: np.ndarray,
                    search: SiteSearch, draws: SiteDraws, k_rand: int) -> np.ndarray:
    """Candidate sites of each deciding dealer (docs/ODD.md 7.10), one row per dealer: the
    current site, the crew's home, a random crew-mate's site (home if that mate is not active),
    a known market within the awareness radius (the one with the smallest uniform keyed by
    dealer and market node; the current site if none) and ``k_rand``
    random nodes of the awareness balls (around the current site for even and the crew's home
    for odd draws)."""
    crew_order, crew_start, crew_size = crews
    n_who = who.shape[0]
    cands = np.empty((n_who, FIXED_CANDIDATES + k_rand), np.int64)
    reach = np.empty(markets.shape[0], np.bool_)
    market_x, market_y = search.x32[markets], search.y32[markets]
    r32 = search.aware_r32
    for i in range(n_who):
        dealer = who[i]
        cur = d.node[dealer]
        c = d.crew[dealer]
        home = d.crew_home[c]
        cands[i, 0] = cur
        cands[i, 1] = home
        mate = crew_order[crew_start[c] + np.int64(draws.u_mate[i] * crew_size[c])]
        cands[i, 2] = d.node[mate] if d.status[mate] == ACTIVE else home
        cands[i, 3] = cur
        if markets.shape[0]:
            total = 0
            for m in range(markets.shape[0]):
                dx, dy = search.x32[cur] - market_x[m], search.y32[cur] - market_y[m]
                # |dx| or |dy| beyond the radius: out of reach without the square root
                reach[m] = (abs(dx) <= r32 and abs(dy) <= r32 and np.hypot(dx, dy) <= r32)
                total += reach[m]
            if total > 0:  # keyed by node: a market entering or leaving the list elsewhere
                lowest = 2.0  # changes no other choice
                for m in range(markets.shape[0]):
                    if reach[m]:
                        v = rd.uniform(draws.key, D_SITE_MARKET, draws.t, dealer, markets[m])
                        if v < lowest:
                            lowest = v
                            cands[i, 3] = markets[m]
        for r in range(k_rand):
            base = home if r % 2 == 1 else cur
            lo = search.aware_indptr[base]
            count = search.aware_indptr[base + 1] - lo
            pick = np.int64(draws.u_sample[r * n_who + i] * count)
            cands[i, FIXED_CANDIDATES + r] = search.aware_indices[lo + pick] if count > 0 \
                else base
    return cands


@rule
def decide_sites(who: np.ndarray, d: DealerState, crews: tuple, markets: np.ndarray,
                 search: SiteSearch, draws: SiteDraws, sellers: tuple, fields: tuple,
                 sbd_cut: np.ndarray, p: DealerParams
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dealers ``who`` weigh their `candidate_sites` and choose: stay, move or lie low.

    Utility (docs/ODD.md 7.11): takings = (demand near + footfall pull) / (1 + other sellers
    near) × (1 - security-by-design cut) × (1 + crew bonus × min(crew-mates near, 3)), times
    exp(-risk weight × perceived risk) minus the turf penalty on contested ground, minus moving
    and turf-distance costs, plus ``choice_noise`` × Gumbel. Choice (7.12): lie low below
    ``min_utility``, else move to the best candidate if it beats the current site by the switch
    margin. ``sellers``: (nodes, crews) of the dealers selling now; ``fields``: `world.Fields`;
    ``sbd_cut``: the security-by-design cut per node (empty: none). Returns (new site, moved,
    lie low).

    Sellers within the market radius of a candidate are counted from their own side (the
    market ball, CSR, is symmetric): every seller adds 1 across its ball into ``search.near``
    (scratch, all zero, left so); crew-mates are counted by the ball's own test,
    dx² + dy² ≤ radius².
    """
    seller_nodes, seller_crews = sellers
    cands = candidate_sites(who, d, crews, markets, search, draws, p.k_rand)
    n_who, n_cols = cands.shape
    near, market_ptr, market_idx = search.near, search.market_indptr, search.market_indices
    node_x, node_y, circuity = search.node_x, search.node_y, search.circuity
    n_sellers = seller_nodes.shape[0]
    for s in range(n_sellers):
        for k in range(market_ptr[seller_nodes[s]], market_ptr[seller_nodes[s] + 1]):
            near[market_idx[k]] += 1
    crew_first = np.full(d.crew_home.shape[0], -1, np.int64)  # sellers chained by crew
    crew_next = np.empty(n_sellers, np.int64)
    for s in range(n_sellers):
        crew_next[s] = crew_first[seller_crews[s]]
        crew_first[seller_crews[s]] = s
    radius2 = search.market_r * search.market_r
    new_site = np.empty(n_who, np.int64)
    moved = np.zeros(n_who, np.bool_)
    lie_low = np.zeros(n_who, np.bool_)
    near_limit = search.market_r * circuity
    util = np.empty(n_cols)
    for i in range(n_who):
        dealer = who[i]
        cur = cands[i, 0]
        hx, hy = node_x[d.crew_home[d.crew[dealer]]], node_y[d.crew_home[d.crew[dealer]]]
        for j in range(n_cols):
            s = cands[i, j]
            dist = np.hypot(node_x[s] - node_x[cur], node_y[s] - node_y[cur]) * circuity
            home_dist = np.hypot(node_x[s] - hx, node_y[s] - hy) * circuity
            n_comp, n_own = near[s], 0
            mate = crew_first[d.crew[dealer]]
            while mate >= 0:
                dx = node_x[seller_nodes[mate]] - node_x[s]
                dy = node_y[seller_nodes[mate]] - node_y[s]
                if dx * dx + dy * dy <= radius2:
                    n_own += 1
                mate = crew_next[mate]
            if dist <= near_limit:  # the dealer itself is among the sellers near its own site
                n_comp -= 1
                n_own -= 1
            takings = (fields.demand_near[s] + search.footfall_pull[s]) / (n_comp + 1.0)
            if sbd_cut.shape[0]:
                takings *= 1.0 - sbd_cut[s]
            risk = perceived_risk(fields.presence, fields.arrest_memory, s, p.half_saturation)
            risk *= d.tolerance[dealer]
            contested = 1.0 if (n_comp - n_own > 0.5) and (n_own < 0.5) else 0.0
            takings *= 1.0 + min(n_own, 3.0) * p.crew_bonus
            u = takings * (np.exp(risk * -p.risk_weight) - p.turf_penalty * contested)
            u -= dist * p.move_cost_per_m
            u -= home_dist * p.turf_cost_per_m
            util[j] = u + p.choice_noise * draws.noise[i, j]
        best = 0
        for j in range(1, n_cols):
            if util[j] > util[best]:
                best = j
        u_best, u_cur = util[best], util[0]
        lie_low[i] = u_best < p.min_utility
        site = cands[i, best]
        moved[i] = (site != cur and u_best > u_cur + p.switch_margin * abs(u_cur) + 1e-9
                    and not lie_low[i])
        new_site[i] = site if moved[i] else cur
    for s in range(n_sellers):
        for k in range(market_ptr[seller_nodes[s]], market_ptr[seller_nodes[s] + 1]):
            near[market_idx[k]] = 0
    return new_site, moved, lie_low


@rule
def _site_draws(key: np.ndarray, t: int, who: np.ndarray, k_rand: int) -> SiteDraws:
    """The decision round's random numbers, each keyed by its dealer (`brusim.model.rng`)."""
    n_who = who.shape[0]
    u_mate = rd.uniforms(key, D_SITE_MATE, t, who)
    u_sample = np.empty(k_rand * n_who)
    noise = np.empty((n_who, FIXED_CANDIDATES + k_rand))
    row = np.empty(k_rand)
    for i in range(n_who):
        rd.open_row(key, D_SITE_SAMPLE, t, who[i], row)
        for r in range(k_rand):
            u_sample[r * n_who + i] = row[r]
        rd.open_row(key, D_SITE_NOISE, t, who[i], noise[i])
        for j in range(FIXED_CANDIDATES + k_rand):
            noise[i, j] = -np.log(-np.log(noise[i, j]))  # Gumbel
    return SiteDraws(u_mate, key, t, u_sample, noise)


@kernel
def dealers_step(t: int, key: np.ndarray, d: DealerState, selling: np.ndarray,
                 on_shift: np.ndarray, phase: tuple, crews: tuple, markets: np.ndarray,
                 search: SiteSearch, fields: tuple, sbd_cut: np.ndarray, p: DealerParams,
                 ev: tuple, rec: tuple) -> tuple[np.ndarray, np.ndarray]:
    """The dealers' phase of a step, in place (docs/ODD.md 7.8-7.12): timed statuses end,
    sellers due by their decision rhythm or feeling at risk reconsider their site, then move,
    stay or lie low (and quit after too many lie-lows in a row). Returns the dealers selling
    afterwards and their nodes.

    ``selling``: the dealers selling before the transitions; ``phase``: (each dealer's
    decision phase, the phase due now); ``crews``: `crew_index` (order, start, size);
    ``markets``: the word-of-mouth market nodes; ``fields``: `world.Fields`; ``sbd_cut``: the
    security-by-design cut per node (empty: none). Random numbers are keyed by ``key``
    (`brusim.model.rng`); events and metrics go to the sinks ``ev`` and ``rec``.
    """
    # named again: the caller passes plain tuples (`brusim.model.model.plain`)
    d, search, fields, p = DealerState(*d), SiteSearch(*search), Fields(*fields), DealerParams(*p)
    decision_phase, phase_now = phase
    if end_timed_statuses(t, d, ev, rec):
        selling = where_active_on_shift(d.status, on_shift)
    act, risk = sellers_acting(selling, d, decision_phase, phase_now, fields.presence,
                               fields.arrest_memory, p.half_saturation, p.flee_risk)
    n_who = 0
    for k in range(act.shape[0]):
        n_who += act[k]
    if n_who:
        who = selling[act]
        risk_who = risk[act]
        draws = _site_draws(key, t, who, p.k_rand)
        seller_nodes = np.empty(selling.shape[0], np.int64)
        seller_crews = np.empty(selling.shape[0], d.crew.dtype)
        for k in range(selling.shape[0]):
            seller_nodes[k] = d.node[selling[k]]
            seller_crews[k] = d.crew[selling[k]]
        new_site, moved, lie_low = decide_sites(who, d, crews, markets, search, draws,
                                                (seller_nodes, seller_crews), fields, sbd_cut,
                                                p)
        mv = who[moved]
        if mv.shape[0]:
            emit(ev, t, EV_DEALER_MOVE, new_site[moved], mv, d.node[mv])
            risky = risk_who[moved] > DISPLACED_RISK
            for k in range(mv.shape[0]):
                if risky[k]:
                    d.displaced_until[mv[k]] = t + p.displaced_steps
            for i in range(n_who):  # an explicit loop: array assignment compiles for seconds
                if moved[i]:
                    d.node[who[i]] = new_site[i]
        n_low = 0
        for i in range(n_who):
            if lie_low[i]:
                n_low += 1
            else:
                d.lie_lows[who[i]] = 0
        if n_low:
            ll = who[lie_low]
            emit(ev, t, EV_DEALER_LIE_LOW, d.node[ll], ll, np.zeros(0, np.int64))
            for i in ll:
                d.lie_lows[i] += 1
                d.status[i] = LYING_LOW
                d.until[i] = t + p.lie_low_steps
                if d.lie_lows[i] >= p.quit_after_lie_lows:
                    d.status[i] = RESERVE
                    d.lie_lows[i] = 0
            selling = where_active_on_shift(d.status, on_shift)
    nodes = np.empty(selling.shape[0], np.int64)
    for k in range(selling.shape[0]):
        nodes[k] = d.node[selling[k]]
    record(rec, M_DEALERS_ACTIVE, nodes, 1.0)
    record(rec, M_DEALER_HOURS, nodes, p.step_hours)
    return selling, nodes
