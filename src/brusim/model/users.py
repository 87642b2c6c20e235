"""Users: a craving cycle, a search for sellers along the network, purchase and consumption
(docs/ODD.md 7.13-7.18).

State lives in `UserState` arrays; `UserParams.from_config` converts the settings to step units
once. Each step `users_step` (one compiled kernel) ends treatments (relapse or recovery) and
lingering, starts cravings, lets searchers who arrive buy at the busiest site in reach, sends
buyers to a consumption room (`brusim.model.rooms`), to public use or home, and sends new and
failed searchers to a known market (`brusim.model.market`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from brusim.model import rng as rd
from brusim.model.codes import (
    D_CRAVING,
    D_LOYALTY,
    D_MARKET_RACE,
    D_PUBLIC_USE,
    D_RECOVERED_STAY,
    D_RELAPSE,
    D_ROOM_WILLING,
    D_SELLER,
    D_SELLER_NOISE,
    D_STOCK_PICK,
    D_STOCK_STAY,
    EV_PUBLIC_USE,
    EV_ROOM_ENTRY,
    EV_TRANSACTION,
    EV_UNSERVED_SEARCH,
    IDLE,
    LINGERING,
    M_OFFSTREET,
    M_PUBLIC_USE,
    M_ROOM_ENTRIES,
    M_SEARCHING,
    M_TRANSACTIONS,
    M_UNSERVED,
    OFFSTREET,
    RECOVERED,
    SEARCHING,
    TREATMENT,
    USER_STATUS_NAMES,
)
from brusim.model.demand import (
    DemandParams,
    DemandState,
    choose_channel,
    end_offstreet_stays,
    searches_ended,
)
from brusim.model.events import emit
from brusim.model.jit import kernel, rule
from brusim.model.market import MarketView, mark_sold, pick_markets
from brusim.model.police import Presence, posts_within
from brusim.model.recorder import record
from brusim.model.rooms import RoomState, room_admissions
from brusim.model.world import Fields

STATUS_NAMES = USER_STATUS_NAMES
FIRST_CRAVING_STEPS = 48  # first cravings spread over the first 48 steps (12 hours)


class UserState(NamedTuple):
    status: np.ndarray  # int8 UserStatus
    home: np.ndarray  # int64
    node: np.ndarray  # int64 current node (home when idle)
    target: np.ndarray  # int64 node travelled to
    arrive: np.ndarray  # int64 step of arrival at target
    attempts: np.ndarray  # int32 failed attempts in the current search
    known: np.ndarray  # int64 last purchase node, -1 if none
    ready: np.ndarray  # int64 earliest step of the next craving
    until: np.ndarray  # int64 end of lingering / treatment
    referred_until: np.ndarray  # int64

    @property
    def n(self) -> int:
        """Number of users."""
        return len(self.status)


class UserParams(NamedTuple):
    """The users' settings in step units (and the market's demand weights per sale)."""

    purchase_interval_steps: int
    linger_steps: int
    min_gap_steps: int
    retry_steps: int
    public_use_prob: float
    room_use_prob: float
    room_use_prob_referred: float
    room_reach_m: float
    avoid_police: bool
    relapse_prob: float
    recovered_steps: float  # mean time until a recovered user returns (inf: never)
    loyalty: float
    search_radius32: np.float32
    search_decay32: np.float32  # -2 / search radius: the word-of-mouth distance decay
    max_attempts: int
    walk_m: float  # metres per step
    transit_m: float
    transit_above_m: float
    sales_weight: float  # a sale's addition to the demand field, per hour
    unserved_weight: float  # a failed search's addition

    @classmethod
    def from_config(cls, cfg, clock, hourly_factor: float) -> UserParams:
        beh = cfg.behaviour.users
        walk, transit = speeds_m_per_step(beh, clock.step_minutes)
        return cls(
            purchase_interval_steps=clock.steps(float(beh.purchase_interval_hours)),
            linger_steps=clock.steps(float(beh.linger_hours)),
            min_gap_steps=clock.steps(float(beh.min_gap_hours)),
            retry_steps=clock.steps(float(beh.retry_hours)),
            public_use_prob=float(beh.public_use_prob),
            room_use_prob=float(beh.room_use_prob),
            room_use_prob_referred=float(beh.room_use_prob_referred),
            room_reach_m=float(beh.room_reach_m), avoid_police=bool(beh.avoid_police),
            relapse_prob=float(cfg.behaviour.outreach.relapse_prob),
            recovered_steps=(float(cfg.behaviour.outreach.recovered_weeks)
                             * clock.steps_per_week
                             if cfg.behaviour.outreach.recovered_weeks is not None
                             else np.inf),
            loyalty=float(beh.loyalty), search_radius32=np.float32(beh.search_radius_m),
            search_decay32=np.float32(-2.0 / float(beh.search_radius_m)),
            max_attempts=int(beh.max_attempts), walk_m=walk, transit_m=transit,
            transit_above_m=float(beh.transit_above_m),
            sales_weight=float(cfg.behaviour.dealers.sales_weight) * hourly_factor,
            unserved_weight=float(cfg.behaviour.dealers.unserved_weight) * hourly_factor,
        )


class UserWorld(NamedTuple):
    """What a user sees of the street: sellers per node (scratch), the purchase and market
    balls as padded tables, and coordinates for distances."""

    sellers_at: np.ndarray  # (N+1,) scratch: 0 except the padding slot (-1)
    purchase_padded: np.ndarray
    market_padded: np.ndarray
    x32: np.ndarray
    y32: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray
    circuity: float


def user_world(world) -> UserWorld:
    n = world.smap.n_nodes
    sellers_at = np.zeros(n + 1, np.int64)
    sellers_at[n] = -1
    x32, y32 = world.xy32
    return UserWorld(sellers_at, world.balls.purchase.padded, world.balls.market.padded, x32,
                     y32, world.smap.x, world.smap.y, float(world.smap.circuity))


def init_users(smap, cfg_pop, hotspot_weights: np.ndarray, rng: np.random.Generator) -> UserState:
    """Homes: a share near hotspots (by market weight), the rest by residents per node."""
    n = cfg_pop.n_users
    near = rng.random(n) < cfg_pop.user_hotspot_share if len(hotspot_weights) else np.zeros(n, bool)
    home = np.zeros(n, np.int64)
    pop = smap.node_population.astype(float)
    home[~near] = rng.choice(smap.n_nodes, size=int((~near).sum()), p=pop / pop.sum())
    if near.any():
        w = hotspot_weights / hotspot_weights.sum()
        hs = rng.choice(len(w), size=int(near.sum()), p=w)
        for h in np.unique(hs):
            pool = np.flatnonzero(smap.hotspots.dist[h] <= cfg_pop.user_hotspot_radius_m)
            sel = np.flatnonzero(near)[hs == h]
            home[sel] = rng.choice(pool, size=len(sel))
    return UserState(
        status=np.zeros(n, np.int8),
        home=home,
        node=home.copy(),
        target=home.copy(),
        arrive=np.zeros(n, np.int64),
        attempts=np.zeros(n, np.int32),
        known=np.full(n, -1, np.int64),
        ready=rng.integers(0, FIRST_CRAVING_STEPS, size=n).astype(np.int64),
        until=np.zeros(n, np.int64),
        referred_until=np.full(n, -1, np.int64),
    )


class StockPreload(NamedTuple):
    """What `preload_stocks` did: the measured entry rate and the stocks before and after."""

    entries_per_week: float  # treatment entries a week while measured
    active: int  # users neither in treatment nor recovered while measured
    treatment: tuple[int, int]  # (before, after)
    recovered: tuple[int, int]  # (before, after); unchanged when recoveries last for good

    def summary(self) -> dict:
        return {"entries_per_week": round(self.entries_per_week, 3),
                "active_users": self.active, "treatment_before": self.treatment[0],
                "treatment_after": self.treatment[1], "recovered_before": self.recovered[0],
                "recovered_after": self.recovered[1]}


def preload_stocks(t: int, key: np.ndarray, u: UserState, entries_per_week: float,
                   treatment_weeks: float, relapse_prob: float, recovered_weeks: float | None,
                   steps_per_week: int) -> StockPreload:
    """Fill the treatment and recovered stocks up to their steady state (the spin-up's analogue
    of pre-loading the prisons, docs/model.md): with ``c`` treatment entries per active user and
    week (measured), the steady state has ``A = N / (1 + c (Tw + (1 - relapse) Rw))`` active
    users, ``c A Tw`` in treatment and ``c A (1 - relapse) Rw`` recovered (Little's law; Tw, Rw
    the mean treatment and recovery lengths). Idle users, picked by a keyed draw, enter the
    stocks with exponential remaining times of those means (the lengths are exponential, so
    memoryless). A stock already at or above its steady state is left alone; recoveries that last
    for good (``recovered_weeks`` None) have no steady state and are not pre-loaded."""
    status = u.status
    n_treat = int((status == TREATMENT).sum())
    n_recov = int((status == RECOVERED).sum())
    active = u.n - n_treat - n_recov
    if entries_per_week <= 0 or active <= 0:
        return StockPreload(entries_per_week, active, (n_treat, n_treat), (n_recov, n_recov))
    c = entries_per_week / active
    recov_w = 0.0 if recovered_weeks is None else (1.0 - relapse_prob) * recovered_weeks
    steady_active = u.n / (1.0 + c * (treatment_weeks + recov_w))
    want_treat = max(int(round(c * steady_active * treatment_weeks)) - n_treat, 0)
    want_recov = (max(int(round(c * steady_active * recov_w)) - n_recov, 0)
                  if recovered_weeks is not None else 0)
    idle = np.flatnonzero(status == IDLE).astype(np.int64)
    picked = idle[np.argsort(rd.uniforms(key, D_STOCK_PICK, t, idle), kind="stable")]
    into_treat = picked[:want_treat]
    into_recov = picked[want_treat:want_treat + want_recov]
    for group, code, weeks in ((into_treat, TREATMENT, treatment_weeks),
                               (into_recov, RECOVERED, recovered_weeks or 0.0)):
        for i in group:
            stay = weeks * steps_per_week * rd.exponential(key, D_STOCK_STAY, t, i, 0)
            status[i] = code
            u.until[i] = t + 1 + np.int64(min(stay, 2.0**50))
            u.node[i] = u.home[i]
    return StockPreload(entries_per_week, active, (n_treat, n_treat + len(into_treat)),
                        (n_recov, n_recov + len(into_recov)))


def speeds_m_per_step(beh, step_minutes: float) -> tuple[float, float]:
    """Metres covered in one step walking and by transit (``beh``: users' behaviour config);
    trips take ceil(distance / speed) steps, at least 1 (`set_out`)."""
    walk = beh.walk_speed_kmh * 1000.0 / 60.0 * step_minutes
    transit = beh.transit_speed_kmh * 1000.0 / 60.0 * step_minutes
    return float(walk), float(transit)


# ------------------------------------------------------------------ compiled rules


@rule
def where_equal_due(status: np.ndarray, value: int, when: np.ndarray, t: int) -> np.ndarray:
    """``((status == value) & (when <= t)).nonzero()[0]``."""
    out = np.empty(status.shape[0], np.int64)
    k = 0
    for i in range(status.shape[0]):
        if status[i] == value and when[i] <= t:
            out[k] = i
            k += 1
    return out[:k]


@rule
def scan_users(t: int, u: UserState, presence: Presence) -> tuple[np.ndarray, np.ndarray]:
    """Users' timed transitions of one step, in one pass.

    Lingering users whose time is up, or who have police in sight (a unit posted within the
    sight ball, `police.posts_within`), go home (idle). Returns the idle and off-street users
    past their refractory time (craving candidates, after those transitions) and the searchers
    who arrive now, both in index order.
    """
    status, node = u.status, u.node
    n = status.shape[0]
    cand = np.empty(n, np.int64)
    arr = np.empty(n, np.int64)
    nc = na = 0
    for i in range(n):
        s = status[i]
        if s == LINGERING and (u.until[i] <= t or posts_within(
                node[i], presence.sight_indptr, presence.sight_indices, presence.posts_at,
                True)):
            status[i] = IDLE
            node[i] = u.home[i]
            s = IDLE
        if s == IDLE or s == OFFSTREET:  # noqa: SIM109 (compiled: no tuple search)
            if u.ready[i] <= t:
                cand[nc] = i
                nc += 1
        elif s == SEARCHING and u.arrive[i] <= t:
            arr[na] = i
            na += 1
    return cand[:nc], arr[:na]


@rule
def busiest_sites(origins: np.ndarray, padded: np.ndarray, seller_nodes: np.ndarray,
                  sellers_at: np.ndarray, noise: np.ndarray, avoid_police: bool,
                  presence: Presence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each origin node, the site within its padded ball with most sellers (ties: largest
    ``noise``), that site's number of sellers, and whether a purchase happens there (a seller,
    and no police unit within arrest range when ``avoid_police``).

    Equivalent to ``np.add.at(sellers_at, seller_nodes, 1)``, ``near = padded[origins]``,
    ``(sellers_at[near] + noise * 0.5).argmax(axis=1)``. ``sellers_at`` is scratch: all zero
    except its padding slot (-1), and left so.
    """
    for s in seller_nodes:
        sellers_at[s] += 1
    site = np.empty(origins.shape[0], np.int64)
    count = np.empty(origins.shape[0], np.int64)
    ok = np.empty(origins.shape[0], np.bool_)
    for i in range(origins.shape[0]):
        row = padded[origins[i]]
        best_j = 0
        best_v = -np.inf
        for j in range(row.shape[0]):
            v = sellers_at[row[j]] + noise[i, j] * 0.5
            if v > best_v:
                best_v = v
                best_j = j
        site[i] = row[best_j]
        count[i] = sellers_at[row[best_j]]
        ok[i] = count[i] > 0 and not (avoid_police and posts_within(
            site[i], presence.arrest_indptr, presence.arrest_indices, presence.posts_at, True))
    for s in seller_nodes:
        sellers_at[s] = 0
    return site, count, ok


@rule
def _seller_at_site(selling: np.ndarray, seller_nodes: np.ndarray, sites: np.ndarray,
                    u: np.ndarray, n_sellers: np.ndarray) -> np.ndarray:
    """For each sale at ``sites``, the ``floor(u * n_sellers)``-th seller there, counting
    sellers at a site in the order of ``selling`` (as a stable sort of sellers by node)."""
    out = np.empty(sites.shape[0], np.int64)
    for k in range(sites.shape[0]):
        r = np.int64(u[k] * n_sellers[k])
        for j in range(seller_nodes.shape[0]):
            if seller_nodes[j] == sites[k]:
                if r == 0:
                    out[k] = selling[j]
                    break
                r -= 1
    return out


@rule
def _add_in_ball(field: np.ndarray, padded: np.ndarray, node: int, weight: float) -> None:
    """``field[padded[node]] += weight`` (the padding slot of ``field`` takes the sentinel)."""
    for j in range(padded.shape[1]):
        field[padded[node, j]] += weight


@rule
def purchases(t: int, u: UserState, buyers: np.ndarray, sites: np.ndarray,
              n_sellers: np.ndarray, draws: tuple, public_cut: np.ndarray, in_room: np.ndarray,
              failed: np.ndarray, sellers: tuple, fields: tuple, market_padded: np.ndarray,
              p: UserParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outcomes of this step's purchase attempts, in place.

    ``buyers`` buy at ``sites`` from a random seller there (``draws``: (u_seller, u_public));
    sales and the demand field (``p.sales_weight`` within the market ball of the site) grow;
    buyers then use in a room (``in_room``, empty when no room is open), in public (probability
    ``p.public_use_prob`` × (1 - ``public_cut`` at the site), empty cut: none; they linger) or
    at home. ``failed`` searchers add unserved demand where they stand and count the attempt.
    ``sellers``: (selling, their nodes); ``fields``: `world.Fields`. Returns the seller of each
    sale, the public-use mask and the failed searchers' nodes.
    """
    u_seller, u_public = draws
    selling, seller_nodes = sellers
    dealer = _seller_at_site(selling, seller_nodes, sites, u_seller, n_sellers)
    public = np.empty(buyers.shape[0], np.bool_)
    for k in range(buyers.shape[0]):
        fields.sales[sites[k]] += 1.0
    for k in range(buyers.shape[0]):
        _add_in_ball(fields.demand_near, market_padded, sites[k], p.sales_weight)
    for k in range(buyers.shape[0]):
        i, s = buyers[k], sites[k]
        u.known[i] = s
        prob = p.public_use_prob * (1 - public_cut[s]) if public_cut.shape[0] \
            else p.public_use_prob
        public[k] = u_public[k] < prob and not (in_room.shape[0] and in_room[k])
        if public[k]:
            u.status[i] = LINGERING
            u.until[i] = t + p.linger_steps
            u.node[i] = s
        else:
            u.status[i] = IDLE
            u.node[i] = u.home[i]
        u.ready[i] = t + p.min_gap_steps
    failed_at = np.empty(failed.shape[0], np.int64)
    for k in range(failed.shape[0]):
        failed_at[k] = u.node[failed[k]]
        fields.unserved[failed_at[k]] += 1.0
    for k in range(failed.shape[0]):
        _add_in_ball(fields.demand_near, market_padded, failed_at[k], p.unserved_weight)
        u.attempts[failed[k]] += 1
    return dealer, public, failed_at


@rule
def travel_steps(a: int, b: int, w: UserWorld, p: UserParams) -> int:
    """Steps from node ``a`` to ``b``: ceil(straight-line distance × circuity / speed), at least
    1; walking speed up to ``transit_above_m``, transit beyond (metres per step)."""
    d = np.hypot(w.node_x[a] - w.node_x[b], w.node_y[a] - w.node_y[b]) * w.circuity
    return np.int64(d / (p.transit_m if d > p.transit_above_m else p.walk_m)) + 1


@rule
def set_out(t: int, u: UserState, start: np.ndarray, fresh: np.ndarray, picks: np.ndarray,
            failed: np.ndarray, failed_at: np.ndarray, w: UserWorld, p: UserParams) -> None:
    """New searchers (``start``) and failed ones (``failed``, at ``failed_at``) head out.

    ``picks``: the markets drawn for the ``fresh`` new searchers (in order), then one per
    failed searcher (-1: none in reach). A new searcher goes to its last market unless fresh,
    then to its pick (home when none); a failed searcher goes on to its pick, or gives up (home,
    idle, ``retry`` steps before the next craving) without one or after ``max_attempts``.
    Arrival: now + `travel_steps`.
    """
    f = 0
    for k in range(start.shape[0]):
        i = start[k]
        tgt = u.known[i]
        if fresh[k]:
            tgt = picks[f] if picks[f] >= 0 else u.home[i]
            f += 1
        u.status[i] = SEARCHING
        u.attempts[i] = 0
        u.target[i] = tgt
        u.arrive[i] = t + travel_steps(u.node[i], tgt, w, p)
    for k in range(failed.shape[0]):
        i = failed[k]
        nxt = picks[f + k]
        if u.attempts[i] < p.max_attempts and nxt >= 0:
            u.target[i] = nxt
            u.arrive[i] = t + travel_steps(failed_at[k], nxt, w, p)
        else:
            u.status[i] = IDLE
            u.node[i] = u.home[i]
            u.ready[i] = t + p.retry_steps


FOREVER = np.int64(2**62)  # a step never reached


@rule
def _end_treatments(t: int, key: np.ndarray, u: UserState, relapse_prob: float,
                    recovered_steps: float) -> None:
    """Treatments that end now: relapse (idle, craving again) or recovery, which lasts an
    exponential time of mean ``recovered_steps`` (inf: for good); recoveries that end now
    return to the market."""
    done = where_equal_due(u.status, TREATMENT, u.until, t)
    relapse = rd.uniforms(key, D_RELAPSE, t, done)
    for k in range(done.shape[0]):
        i = done[k]
        if relapse[k] < relapse_prob:
            u.status[i] = IDLE
            u.ready[i] = t
        else:
            u.status[i] = RECOVERED
            if np.isfinite(recovered_steps):
                stay = recovered_steps * rd.exponential(key, D_RECOVERED_STAY, t, i, 0)
                u.until[i] = t + 1 + np.int64(min(stay, 2.0**50))
            else:
                u.until[i] = FOREVER
    back = where_equal_due(u.status, RECOVERED, u.until, t)
    for i in back:
        u.status[i] = IDLE
        u.ready[i] = t


@rule
def _cravings(t: int, key: np.ndarray, cand: np.ndarray, rate: float, factor: np.ndarray,
              status: np.ndarray) -> np.ndarray:
    """The candidates who start craving now: probability ``rate`` each, times the user's
    ``factor`` on the street (`brusim.model.demand`: the effective price), not off it."""
    u_start = rd.uniforms(key, D_CRAVING, t, cand)
    crave = np.empty(cand.shape[0], np.bool_)
    n_start = 0
    for k in range(cand.shape[0]):
        i = cand[k]
        crave[k] = u_start[k] < (rate if status[i] == OFFSTREET else rate * factor[i])
        n_start += crave[k]
    start = np.empty(n_start, np.int64)
    j = 0
    for k in range(cand.shape[0]):
        if crave[k]:
            start[j] = cand[k]
            j += 1
    return start


@rule
def _head_out(t: int, key: np.ndarray, u: UserState, start: np.ndarray, failed: np.ndarray,
              failed_at: np.ndarray, market: MarketView, w: UserWorld, p: UserParams) -> None:
    """New searchers stay loyal to their last market or ask word of mouth; failed ones look
    for another market (not the one they are at); all head out (`set_out`)."""
    u_loyal = rd.uniforms(key, D_LOYALTY, t, start)
    fresh = np.empty(start.shape[0], np.bool_)
    n_fresh = 0
    for k in range(start.shape[0]):
        fresh[k] = u.known[start[k]] < 0 or u_loyal[k] >= p.loyalty
        n_fresh += fresh[k]
    origins = np.empty(n_fresh + failed.shape[0], np.int64)
    searcher = np.empty(origins.shape[0], np.int64)
    exclude = np.zeros(origins.shape[0], np.bool_)
    j = 0
    for k in range(start.shape[0]):
        if fresh[k]:
            origins[j] = u.home[start[k]]
            searcher[j] = start[k]
            j += 1
    for k in range(failed.shape[0]):
        origins[j] = failed_at[k]
        searcher[j] = failed[k]
        exclude[j] = True
        j += 1
    markets = market.nodes
    if markets.shape[0] == 0 or origins.shape[0] == 0:
        picks = np.full(origins.shape[0], -1, np.int64)
    else:
        # Exp(1) per searcher and known market, keyed by the market's node (not its place in
        # the list): a change to the list elsewhere leaves this searcher's other draws alone.
        # Markets surely out of reach (beyond the radius in x or y) score 0 in `pick_markets`
        # whatever their draw, so they get none.
        race = np.ones((origins.shape[0], markets.shape[0]))
        r32 = p.search_radius32
        for i in range(origins.shape[0]):
            ox, oy = w.x32[origins[i]], w.y32[origins[i]]
            for k in range(markets.shape[0]):
                if abs(ox - w.x32[markets[k]]) <= r32 and abs(oy - w.y32[markets[k]]) <= r32:
                    race[i, k] = rd.exponential(key, D_MARKET_RACE, t, searcher[i], markets[k])
        picks = pick_markets(origins, markets, market.strength, w.x32, w.y32,
                             p.search_radius32, p.search_decay32, exclude, race)
    set_out(t, u, start, fresh, picks, failed, failed_at, w, p)


@rule
def _nodes_of(status: np.ndarray, value: int, node: np.ndarray) -> np.ndarray:
    """``node`` of the users whose status is ``value``, in index order."""
    n = 0
    for i in range(status.shape[0]):
        n += status[i] == value
    out = np.empty(n, np.int64)
    j = 0
    for i in range(status.shape[0]):
        if status[i] == value:
            out[j] = node[i]
            j += 1
    return out


@kernel
def users_step(t: int, key: np.ndarray, u: UserState, presence: Presence, w: UserWorld,
               fields: tuple, sellers: tuple, public_cut: np.ndarray, rooms: RoomState,
               open_now: np.ndarray, rate: float, market: MarketView, p: UserParams,
               demand: DemandState, dp: DemandParams, ev: tuple, rec: tuple) -> None:
    """The users' phase of a step, in place (docs/ODD.md 7.13-7.18): treatments and off-street
    stays end, lingering ends and cravings start (on the street or off it,
    `brusim.model.demand`), searchers arrive and buy, buyers use in a room, in public or at
    home, new and failed searchers set out, and the searches that ended update what a street
    purchase is remembered to cost. The sites of this step's sales are noted in the
    market view's sold marks (`market.mark_sold`) for the hourly market list.

    ``sellers``: (the dealers selling now, their nodes); ``public_cut``: security-by-design
    nuisance cut per node (empty: none); ``open_now`` per room; ``rate``: the probability an
    idle user craves now. Random numbers are keyed by ``key`` (`brusim.model.rng`), by user;
    events and metrics go to the sinks ``ev``, ``rec``.
    """
    # named again: the caller passes plain tuples (`brusim.model.model.plain`)
    u, presence, w, fields = UserState(*u), Presence(*presence), UserWorld(*w), Fields(*fields)
    rooms, market, p = RoomState(*rooms), MarketView(*market), UserParams(*p)
    demand, dp = DemandState(*demand), DemandParams(*dp)
    _end_treatments(t, key, u, p.relapse_prob, p.recovered_steps)
    end_offstreet_stays(t, u.status, u.until, u.home, rec)
    cand, arr = scan_users(t, u, presence)
    start = _cravings(t, key, cand, rate, demand.factor, u.status)
    start = choose_channel(t, key, demand, dp, u.status, u.until, u.ready, u.home,
                           p.min_gap_steps, start, rec)

    none = np.zeros(0, np.int64)
    failed, failed_at, sites, buyers = none, none, none, none
    if arr.shape[0]:
        for i in arr:
            u.node[i] = u.target[i]
        width = w.purchase_padded.shape[1]
        noise = np.empty((arr.shape[0], width))
        for i in range(arr.shape[0]):
            rd.open_row(key, D_SELLER_NOISE, t, arr[i], noise[i])
        origins = np.empty(arr.shape[0], np.int64)
        for i in range(arr.shape[0]):
            origins[i] = u.node[arr[i]]
        site, n_sellers, ok = busiest_sites(origins, w.purchase_padded, sellers[1],
                                            w.sellers_at, noise, p.avoid_police, presence)
        buyers, sites, counts, failed = arr[ok], site[ok], n_sellers[ok], arr[~ok]
        nb = buyers.shape[0]
        u_seller = rd.uniforms(key, D_SELLER, t, buyers)
        in_room = np.zeros(0, np.bool_)
        room = none
        any_open = False
        for r in range(open_now.shape[0]):
            any_open = any_open or open_now[r]
        if nb and any_open:
            willing = np.empty(nb, np.bool_)
            for k in range(nb):
                prob = p.room_use_prob_referred if u.referred_until[buyers[k]] >= t \
                    else p.room_use_prob
                willing[k] = rd.uniform(key, D_ROOM_WILLING, t, buyers[k], 0) < prob
            room = room_admissions(t, key, buyers, sites, willing, open_now, rooms,
                                   p.room_reach_m)
            in_room = room >= 0
        u_public = rd.uniforms(key, D_PUBLIC_USE, t, buyers)
        dealer, public, failed_at = purchases(
            t, u, buyers, sites, counts, (u_seller, u_public), public_cut, in_room, failed,
            sellers, fields, w.market_padded, p)
        if nb:
            emit(ev, t, EV_TRANSACTION, sites, buyers, dealer)
            record(rec, M_TRANSACTIONS, sites, 1.0)
            if in_room.shape[0] and in_room.any():
                rn = rooms.node[room[in_room]]
                emit(ev, t, EV_ROOM_ENTRY, rn, buyers[in_room], room[in_room])
                record(rec, M_ROOM_ENTRIES, rn, 1.0)
            if public.any():
                emit(ev, t, EV_PUBLIC_USE, sites[public], buyers[public], none)
                record(rec, M_PUBLIC_USE, sites[public], 1.0)
        if failed.shape[0]:
            emit(ev, t, EV_UNSERVED_SEARCH, failed_at, failed, none)
            record(rec, M_UNSERVED, failed_at, 1.0)

    if start.shape[0] or failed.shape[0]:
        _head_out(t, key, u, start, failed, failed_at, market, w, p)
    searches_ended(t, demand, dp, buyers, failed, u.status)

    record(rec, M_SEARCHING, _nodes_of(u.status, SEARCHING, u.node), 1.0)
    record(rec, M_OFFSTREET, _nodes_of(u.status, OFFSTREET, u.home), 1.0)
    mark_sold(sites, market.sold_mask, market.sold_nodes, market.sold_count)
