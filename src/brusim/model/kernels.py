"""Compiled loops (numba), one per rule of the step.

Why numba here: a step touches a few dozen to a few hundred agents, so the vectorised numpy code
spent most of its time in per-call overhead (hundreds of small array operations per step, ~5-20
µs each; see docs/performance.md for the profile), not in arithmetic. Each kernel below fuses
one rule's array operations into a single loop over the agents concerned; the phase kernels
(`brusim.model.step_police`, `step_dealers`, `step_users`, `step_outreach`) call them in the
step's order. They take and return plain arrays, with their random numbers drawn by the caller
(the same draws, in the same order, as the numpy code they replaced; `draw_patrol_posts` draws
its own through `brusim.model.bitgen`), so a kernel changes speed, not results: each is checked
for exact equality against a port of that numpy code in tests/test_kernels.py. One known
difference: straight-line distances are ``np.hypot`` values, where the numpy code took the
absolute value of complex coordinates (numpy's SIMD routine rounds 1-2 ulp differently on about
a third of node pairs), so a distance exactly on a threshold, or two scores within an ulp, can
resolve differently. The default 26-week run and four scenario fingerprints gave byte-identical
outputs before and after (docs/performance.md).

Compiled code is cached on disk (``cache=True``, in ``__pycache__`` beside this file, or in
NUMBA_CACHE_DIR), so only the first run on a machine pays the compilation (about 40 s for all
the step's kernels on a 2-core machine).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from brusim.model.bitgen import random as _uniform

# ---------------------------------------------------------------- per-node fields


@njit(cache=True, error_model="numpy")
def decay_fields(sales: np.ndarray, unserved: np.ndarray, demand_near: np.ndarray,
                 factor: float) -> None:
    """``sales *= factor; unserved *= factor; demand_near *= factor`` in one pass."""
    for i in range(sales.shape[0]):
        sales[i] *= factor
        unserved[i] *= factor
    for i in range(demand_near.shape[0]):
        demand_near[i] *= factor


@njit(cache=True, error_model="numpy")
def police_exposure(presence: np.ndarray, decay_risk: float, posts: np.ndarray,
                    effect: np.ndarray, sight_indptr: np.ndarray, sight_indices: np.ndarray,
                    arrest_memory: np.ndarray, decay_arrest: float, posts_at: np.ndarray,
                    old_posts: np.ndarray) -> None:
    """Decay the remembered exposures and add this step's police presence, in place:
    ``presence *= decay_risk``, then each unit adds its deterrence ``effect`` at every node of
    the sight ball (CSR) of its post (unit after unit, as ``np.add.at``);
    ``arrest_memory *= decay_arrest``; ``posts_at`` (units per node) moves from ``old_posts``
    to ``posts``."""
    for i in range(presence.shape[0]):
        presence[i] *= decay_risk
        arrest_memory[i] *= decay_arrest
    for u in range(posts.shape[0]):
        e = effect[u]
        for k in range(sight_indptr[posts[u]], sight_indptr[posts[u] + 1]):
            presence[sight_indices[k]] += e
    for p in old_posts:
        posts_at[p] -= 1
    for p in posts:
        posts_at[p] += 1


@njit(cache=True, error_model="numpy")
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


# ---------------------------------------------------------------- selections


@njit(cache=True, error_model="numpy")
def where_equal_due(status: np.ndarray, value: int, when: np.ndarray, t: int) -> np.ndarray:
    """``((status == value) & (when <= t)).nonzero()[0]``."""
    out = np.empty(status.shape[0], np.int64)
    k = 0
    for i in range(status.shape[0]):
        if status[i] == value and when[i] <= t:
            out[k] = i
            k += 1
    return out[:k]


@njit(cache=True, error_model="numpy")
def where_active_on_shift(status: np.ndarray, active: int, on_shift: np.ndarray) -> np.ndarray:
    """``((status == active) & on_shift).nonzero()[0]``: the dealers selling now."""
    out = np.empty(status.shape[0], np.int64)
    k = 0
    for i in range(status.shape[0]):
        if status[i] == active and on_shift[i]:
            out[k] = i
            k += 1
    return out[:k]


@njit(cache=True, error_model="numpy")
def scan_users(t: int, status: np.ndarray, until: np.ndarray, ready: np.ndarray,
               arrive: np.ndarray, node: np.ndarray, home: np.ndarray,
               sight_indptr: np.ndarray, sight_indices: np.ndarray, posts_at: np.ndarray,
               idle: int, searching: int, lingering: int) -> tuple[np.ndarray, np.ndarray]:
    """Users' timed transitions of one step, in one pass.

    Lingering users whose time is up, or who have police in sight (a unit posted within the
    sight ball, see `posts_within`), go home (idle). Returns the
    idle users past their refractory time (craving candidates, after those transitions) and the
    searchers who arrive now, both in index order.
    """
    n = status.shape[0]
    cand = np.empty(n, np.int64)
    arr = np.empty(n, np.int64)
    nc = na = 0
    for i in range(n):
        s = status[i]
        if s == lingering and (until[i] <= t or posts_within(
                node[i], sight_indptr, sight_indices, posts_at, True)):
            status[i] = idle
            node[i] = home[i]
            s = idle
        if s == idle:
            if ready[i] <= t:
                cand[nc] = i
                nc += 1
        elif s == searching and arrive[i] <= t:
            arr[na] = i
            na += 1
    return cand[:nc], arr[:na]


# ---------------------------------------------------------------- purchases


@njit(cache=True, error_model="numpy")
def busiest_sites(origins: np.ndarray, padded: np.ndarray, seller_nodes: np.ndarray,
                  sellers_at: np.ndarray, noise: np.ndarray, avoid_police: bool,
                  arrest_indptr: np.ndarray, arrest_indices: np.ndarray, posts_at: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
            site[i], arrest_indptr, arrest_indices, posts_at, True))
    for s in seller_nodes:
        sellers_at[s] = 0
    return site, count, ok


@njit(cache=True, error_model="numpy")
def _seller_at_site(selling: np.ndarray, seller_nodes: np.ndarray, sites: np.ndarray,
                    u: np.ndarray, n_sellers: np.ndarray) -> np.ndarray:
    """For each sale at ``sites``, the ``floor(u * n_sellers)``-th seller there, counting
    sellers at a site in the order of ``selling`` (a stable sort of sellers by node)."""
    order = np.argsort(seller_nodes, kind="mergesort")
    sorted_nodes = seller_nodes[order]
    first = np.searchsorted(sorted_nodes, sites)
    out = np.empty(sites.shape[0], np.int64)
    for k in range(sites.shape[0]):
        out[k] = selling[order[first[k] + np.int64(u[k] * n_sellers[k])]]
    return out


@njit(cache=True, error_model="numpy")
def _add_in_ball(field: np.ndarray, padded: np.ndarray, node: int, weight: float) -> None:
    """``field[padded[node]] += weight`` (the padding slot of ``field`` takes the sentinel)."""
    for j in range(padded.shape[1]):
        field[padded[node, j]] += weight


@njit(cache=True, error_model="numpy")
def purchases(t: int, buyers: np.ndarray, sites: np.ndarray, n_sellers: np.ndarray,
              u_seller: np.ndarray, u_public: np.ndarray, public_prob: float,
              public_cut: np.ndarray, in_room: np.ndarray, failed: np.ndarray,
              selling: np.ndarray, seller_nodes: np.ndarray, sales: np.ndarray,
              unserved: np.ndarray, demand_near: np.ndarray, padded: np.ndarray,
              sales_weight: float, unserved_weight: float, status: np.ndarray,
              node: np.ndarray, home: np.ndarray, known: np.ndarray, until: np.ndarray,
              ready: np.ndarray, attempts: np.ndarray, linger: int, min_gap: int,
              lingering: int, idle: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outcomes of this step's purchase attempts, in place.

    ``buyers`` buy at ``sites`` from a random seller there (``u_seller``); sales and the
    demand field (``sales_weight`` within the ball of the site) grow; buyers then use in a
    room (``in_room``, empty when no room is open), in public (probability ``public_prob`` ×
    (1 - ``public_cut`` at the site), empty cut: none; they linger) or at home. ``failed``
    searchers add unserved demand where they stand and count the attempt. Returns the seller
    of each sale, the public-use mask and the failed searchers' nodes.
    """
    dealer = _seller_at_site(selling, seller_nodes, sites, u_seller, n_sellers)
    public = np.empty(buyers.shape[0], np.bool_)
    for k in range(buyers.shape[0]):
        sales[sites[k]] += 1.0
    for k in range(buyers.shape[0]):
        _add_in_ball(demand_near, padded, sites[k], sales_weight)
    for k in range(buyers.shape[0]):
        i, s = buyers[k], sites[k]
        known[i] = s
        p = public_prob * (1 - public_cut[s]) if public_cut.shape[0] else public_prob
        public[k] = u_public[k] < p and not (in_room.shape[0] and in_room[k])
        if public[k]:
            status[i] = lingering
            until[i] = t + linger
            node[i] = s
        else:
            status[i] = idle
            node[i] = home[i]
        ready[i] = t + min_gap
    failed_at = np.empty(failed.shape[0], np.int64)
    for k in range(failed.shape[0]):
        failed_at[k] = node[failed[k]]
        unserved[failed_at[k]] += 1.0
    for k in range(failed.shape[0]):
        _add_in_ball(demand_near, padded, failed_at[k], unserved_weight)
        attempts[failed[k]] += 1
    return dealer, public, failed_at


# ---------------------------------------------------------------- dealers' site choice


@njit(cache=True, error_model="numpy")
def sellers_acting(selling: np.ndarray, node: np.ndarray, tolerance: np.ndarray,
                   decision_phase: np.ndarray, phase_now: int, presence: np.ndarray,
                   arrest_memory: np.ndarray, half_saturation: float, flee_risk: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Sellers who reconsider their site now: due by their decision rhythm, or feeling at risk
    (`dealers.perceived_risk` of the exposure at their site × tolerance above ``flee_risk``).
    Returns the mask over ``selling`` and each seller's perceived risk."""
    act = np.empty(selling.shape[0], np.bool_)
    risk = np.empty(selling.shape[0])
    for k in range(selling.shape[0]):
        d = selling[k]
        e = presence[node[d]] + arrest_memory[node[d]]
        risk[k] = e / (e + half_saturation) * tolerance[d]
        act[k] = decision_phase[d] == phase_now or risk[k] > flee_risk
    return act, risk


# ---------------------------------------------------------------- violence


@njit(cache=True, error_model="numpy")
def contested_cells(cells: np.ndarray, crews: np.ndarray, n_crews: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Cells where sellers of at least two crews stand (sorted), and how many crews each holds.

    ``cells``/``crews`` are per seller; crews are in ``[0, n_crews)``.
    """
    keys = np.sort(cells.astype(np.int64) * n_crews + crews)
    out_cell = np.empty(keys.shape[0], np.int64)
    out_k = np.empty(keys.shape[0], np.int64)
    m = 0
    i = 0
    while i < keys.shape[0]:
        cell = keys[i] // n_crews
        k = 0
        last = -1
        while i < keys.shape[0] and keys[i] // n_crews == cell:
            if keys[i] != last:
                k += 1
                last = keys[i]
            i += 1
        if k >= 2:
            out_cell[m] = cell
            out_k[m] = k
            m += 1
    return out_cell[:m], out_k[:m]


@njit(cache=True, error_model="numpy")
def decide_sites(who: np.ndarray, node: np.ndarray, crew: np.ndarray, status: np.ndarray,
                 tolerance: np.ndarray, crew_home: np.ndarray, active: int,
                 crew_order: np.ndarray, crew_start: np.ndarray, crew_size: np.ndarray,
                 market_x: np.ndarray, market_y: np.ndarray, markets: np.ndarray,
                 node_x32: np.ndarray, node_y32: np.ndarray, aware_radius32: np.float32,
                 aware_indptr: np.ndarray, aware_indices: np.ndarray, k_rand: int,
                 u_mate: np.ndarray, u_market: np.ndarray, u_sample: np.ndarray,
                 noise: np.ndarray,
                 market_indptr: np.ndarray, market_indices: np.ndarray, market_radius: float,
                 seller_nodes: np.ndarray, seller_crews: np.ndarray, near: np.ndarray,
                 demand_near: np.ndarray, footfall_pull: np.ndarray, presence: np.ndarray,
                 arrest_memory: np.ndarray,
                 sbd_cut: np.ndarray, node_x: np.ndarray, node_y: np.ndarray,
                 circuity: float, half_saturation: float, crew_bonus: float,
                 risk_weight: float, turf_penalty: float, move_cost_per_m: float,
                 turf_cost_per_m: float, choice_noise: float, min_utility: float,
                 switch_margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dealers ``who`` weigh candidate sites and choose: stay, move or lie low.

    Candidates (docs/ODD.md 7.10): the current site, the crew's home, a random crew-mate's site
    (home if that mate is not active), a known market within the awareness radius (the current
    site if none) and ``k_rand`` random nodes of the awareness balls. Utility (7.11): takings =
    demand near / (1 + other sellers near) × (1 - security-by-design cut) × (1 + crew bonus ×
    min(crew-mates near, 3)), times exp(-risk weight × perceived risk) minus the turf penalty on
    contested ground, minus moving and turf-distance costs, plus ``choice_noise`` × Gumbel.
    Choice (7.12): lie low below ``min_utility``, else move to the best candidate if it beats
    the current site by the switch margin. Random numbers are drawn by the caller: ``u_mate``
    (crew-mate),
    ``u_market`` (known market in reach; empty when no market is known), ``u_sample``
    (``k_rand`` random sites per dealer, around the current site for even and the crew's home
    for odd draws, row after row) and Gumbel ``noise`` (one per candidate). ``sbd_cut`` is the
    security-by-design cut per node (empty: none). Returns (new site, moved, lie low).

    Sellers within ``market_radius`` of a candidate are counted from their own side (the
    market ball, CSR, is symmetric): every seller adds 1 across its ball into ``near`` (scratch,
    one slot per node, all zero, left so); crew-mates are counted by the ball's own test,
    dx² + dy² ≤ radius².
    """
    n_who = who.shape[0]
    n_cols = 4 + k_rand
    cands = np.empty((n_who, n_cols), np.int64)
    reach = np.empty(markets.shape[0], np.bool_)
    for i in range(n_who):
        d = who[i]
        cur = node[d]
        c = crew[d]
        home = crew_home[c]
        cands[i, 0] = cur
        cands[i, 1] = home
        mate = crew_order[crew_start[c] + np.int64(u_mate[i] * crew_size[c])]
        cands[i, 2] = node[mate] if status[mate] == active else home
        cands[i, 3] = cur
        if markets.shape[0]:
            total = 0
            for m in range(markets.shape[0]):
                dx, dy = node_x32[cur] - market_x[m], node_y32[cur] - market_y[m]
                # |dx| or |dy| beyond the radius: out of reach without the square root
                reach[m] = (abs(dx) <= aware_radius32 and abs(dy) <= aware_radius32
                            and np.hypot(dx, dy) <= aware_radius32)
                total += reach[m]
            if total > 0:
                r = np.int64(u_market[i] * total)
                for m in range(markets.shape[0]):
                    if reach[m]:
                        if r == 0:
                            cands[i, 3] = markets[m]
                            break
                        r -= 1
        for r in range(k_rand):
            base = home if r % 2 == 1 else cur
            lo = aware_indptr[base]
            count = aware_indptr[base + 1] - lo
            pick = np.int64(u_sample[r * n_who + i] * count)
            cands[i, 4 + r] = aware_indices[lo + pick] if count > 0 else base
    n_sellers = seller_nodes.shape[0]
    for s in range(n_sellers):
        for k in range(market_indptr[seller_nodes[s]], market_indptr[seller_nodes[s] + 1]):
            near[market_indices[k]] += 1
    crew_first = np.full(crew_home.shape[0], -1, np.int64)  # sellers chained by crew
    crew_next = np.empty(n_sellers, np.int64)
    for s in range(n_sellers):
        crew_next[s] = crew_first[seller_crews[s]]
        crew_first[seller_crews[s]] = s
    radius2 = market_radius * market_radius
    new_site = np.empty(n_who, np.int64)
    moved = np.zeros(n_who, np.bool_)
    lie_low = np.zeros(n_who, np.bool_)
    near_limit = market_radius * circuity
    util = np.empty(n_cols)
    for i in range(n_who):
        d = who[i]
        cur = cands[i, 0]
        hx, hy = node_x[crew_home[crew[d]]], node_y[crew_home[crew[d]]]
        for j in range(n_cols):
            s = cands[i, j]
            dist = np.hypot(node_x[s] - node_x[cur], node_y[s] - node_y[cur]) * circuity
            home_dist = np.hypot(node_x[s] - hx, node_y[s] - hy) * circuity
            n_comp, n_own = near[s], 0
            mate = crew_first[crew[d]]
            while mate >= 0:
                dx = node_x[seller_nodes[mate]] - node_x[s]
                dy = node_y[seller_nodes[mate]] - node_y[s]
                if dx * dx + dy * dy <= radius2:
                    n_own += 1
                mate = crew_next[mate]
            if dist <= near_limit:  # the dealer itself is among the sellers near its own site
                n_comp -= 1
                n_own -= 1
            takings = (demand_near[s] + footfall_pull[s]) / (n_comp + 1.0)
            if sbd_cut.shape[0]:
                takings *= 1.0 - sbd_cut[s]
            e = presence[s] + arrest_memory[s]  # exposure: police seen + peers' arrests
            risk = e / (e + half_saturation)
            risk *= tolerance[d]
            contested = 1.0 if (n_comp - n_own > 0.5) and (n_own < 0.5) else 0.0
            takings *= 1.0 + min(n_own, 3.0) * crew_bonus
            u = takings * (np.exp(risk * -risk_weight) - turf_penalty * contested)
            u -= dist * move_cost_per_m
            u -= home_dist * turf_cost_per_m
            util[j] = u + choice_noise * noise[i, j]
        best = 0
        for j in range(1, n_cols):
            if util[j] > util[best]:
                best = j
        u_best, u_cur = util[best], util[0]
        lie_low[i] = u_best < min_utility
        site = cands[i, best]
        moved[i] = (site != cur and u_best > u_cur + switch_margin * abs(u_cur) + 1e-9
                    and not lie_low[i])
        new_site[i] = site if moved[i] else cur
    for s in range(n_sellers):
        for k in range(market_indptr[seller_nodes[s]], market_indptr[seller_nodes[s] + 1]):
            near[market_indices[k]] = 0
    return new_site, moved, lie_low


@njit(cache=True, error_model="numpy")
def pick_markets(origins: np.ndarray, markets: np.ndarray, strength: np.ndarray,
                 x32: np.ndarray, y32: np.ndarray, radius32: np.float32, decay32: np.float32,
                 exclude_origin: np.ndarray, race: np.ndarray) -> np.ndarray:
    """A known market per origin node, by strength × exp(``decay32`` d) within ``radius32``
    (exponential race with the caller's Exp(1) draws ``race``, one per origin and market); -1
    where none is in reach. With ``exclude_origin[i]``, a market less than 1 m from origin
    ``i`` is left out. Single-precision coordinates ``x32``/``y32`` and distances."""
    out = np.full(origins.shape[0], -1, np.int64)
    for i in range(origins.shape[0]):
        ox, oy = x32[origins[i]], y32[origins[i]]
        closest = 1.0 if exclude_origin[i] else -1.0
        best_j = 0
        best = -1.0
        for j in range(markets.shape[0]):
            d = np.hypot(ox - x32[markets[j]], oy - y32[markets[j]])
            w = 0.0
            if d <= radius32 and d >= closest:
                w = strength[j] * np.exp(d * decay32)
            score = w / race[i, j]
            if score > best:
                best = score
                best_j = j
        if best > 0:
            out[i] = markets[best_j]
    return out


@njit(cache=True, error_model="numpy")
def _travel(a: int, b: int, node_x: np.ndarray, node_y: np.ndarray, circuity: float,
            walk_m: float, transit_m: float, transit_above_m: float) -> int:
    """Steps from node ``a`` to ``b``: ceil(straight-line distance × circuity / speed), at least
    1; walking speed up to ``transit_above_m``, transit beyond (metres per step)."""
    d = np.hypot(node_x[a] - node_x[b], node_y[a] - node_y[b]) * circuity
    return np.int64(d / (transit_m if d > transit_above_m else walk_m)) + 1


@njit(cache=True, error_model="numpy")
def set_out(t: int, start: np.ndarray, fresh: np.ndarray, picks: np.ndarray,
            failed: np.ndarray, failed_at: np.ndarray, status: np.ndarray,
            attempts: np.ndarray, target: np.ndarray, node: np.ndarray, home: np.ndarray,
            ready: np.ndarray, arrive: np.ndarray, known: np.ndarray, max_attempts: int,
            retry: int, searching: int, idle: int, node_x: np.ndarray, node_y: np.ndarray,
            circuity: float, walk_m: float, transit_m: float, transit_above_m: float) -> None:
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
        tgt = known[i]
        if fresh[k]:
            tgt = picks[f] if picks[f] >= 0 else home[i]
            f += 1
        status[i] = searching
        attempts[i] = 0
        target[i] = tgt
        arrive[i] = t + _travel(node[i], tgt, node_x, node_y, circuity, walk_m, transit_m,
                                transit_above_m)
    for k in range(failed.shape[0]):
        i = failed[k]
        nxt = picks[f + k]
        if attempts[i] < max_attempts and nxt >= 0:
            target[i] = nxt
            arrive[i] = t + _travel(failed_at[k], nxt, node_x, node_y, circuity, walk_m,
                                    transit_m, transit_above_m)
        else:
            status[i] = idle
            node[i] = home[i]
            ready[i] = t + retry


@njit(cache=True, error_model="numpy")
def violence_odds(selling: np.ndarray, seller_nodes: np.ndarray, cell: np.ndarray,
                  crew: np.ndarray, n_crews: int, displaced_until: np.ndarray, t: int,
                  base_prob: float, displaced_factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Contested cells (sorted) and the probability of an incident in each this step:
    ``base_prob`` × (crews - 1) × (1 + ``displaced_factor`` × displaced sellers there)."""
    cells = np.empty(selling.shape[0], np.int64)
    crews = np.empty(selling.shape[0], np.int64)
    for k in range(selling.shape[0]):
        cells[k] = cell[seller_nodes[k]]
        crews[k] = crew[selling[k]]
    contested, n_crews_in = contested_cells(cells, crews, n_crews)
    n_disp = np.zeros(contested.shape[0], np.int64)
    if contested.shape[0]:
        for k in range(selling.shape[0]):
            if displaced_until[selling[k]] > t:
                pos = np.searchsorted(contested, cells[k])
                if pos < contested.shape[0] and contested[pos] == cells[k]:
                    n_disp[pos] += 1
    p = np.empty(contested.shape[0])
    for j in range(contested.shape[0]):
        p[j] = base_prob * (n_crews_in[j] - 1) * (1.0 + displaced_factor * n_disp[j])
    return contested, p


@njit(cache=True, error_model="numpy")
def accumulate(totals: np.ndarray, signature: np.ndarray, nodes: np.ndarray, metric: int,
               n_metrics: int, weight: float, weights: np.ndarray) -> None:
    """``totals[signature[node] * n_metrics + metric] += weight`` for each of ``nodes``, in
    order (``weights[k]`` for the k-th node when ``weights`` is not empty)."""
    if weights.shape[0]:
        for k in range(nodes.shape[0]):
            totals[signature[nodes[k]] * n_metrics + metric] += weights[k]
    else:
        for k in range(nodes.shape[0]):
            totals[signature[nodes[k]] * n_metrics + metric] += weight


@njit(cache=True, error_model="numpy")
def write_events(steps: np.ndarray, types: np.ndarray, nodes: np.ndarray, agents: np.ndarray,
                 others: np.ndarray, start: int, step: int, etype: int, node: np.ndarray,
                 agent: np.ndarray, other: np.ndarray) -> None:
    """Event rows ``start``, ``start + 1``... of the log's column buffers: this ``step``,
    ``etype``, and ``node``/``agent``/``other`` element by element (``other`` empty: -1)."""
    for k in range(node.shape[0]):
        steps[start + k] = step
        types[start + k] = etype
        nodes[start + k] = node[k]
        agents[start + k] = agent[k]
        others[start + k] = other[k] if other.shape[0] else -1


@njit(cache=True, error_model="numpy")
def fold_areas(values: np.ndarray, by_signature: np.ndarray, pair_area: np.ndarray,
               pair_signature: np.ndarray, pair_weight: np.ndarray) -> None:
    """``values[area] += by_signature[signature] * weight`` for each (area, signature, weight)
    pair in order (``np.add.at``): (areas, metrics) sums from the per-signature sums."""
    n_metrics = values.shape[1]
    for p in range(pair_area.shape[0]):
        a, s, w = pair_area[p], pair_signature[p], pair_weight[p]
        for m in range(n_metrics):
            values[a, m] += by_signature[s * n_metrics + m] * w


@njit(cache=True, error_model="numpy")
def draw_patrol_posts(h: np.ndarray, posts: np.ndarray, cols: np.ndarray, group: np.ndarray,
                      nodes: np.ndarray, cum: np.ndarray, end: np.ndarray, index: np.ndarray
                      ) -> None:
    """`police.PatrolSampler.draw` for every row of ``posts`` (steps, on-duty units): column
    ``cols[k]`` gets a weighted random node of group ``group[k]``; row after row, one uniform
    per entry from the stream ``h`` (`bitgen.handle`).

    The position is ``np.searchsorted(cum, g + u, side="right")``, found by a binary search
    between two entries of ``index`` (`PatrolSampler.index`: the position of ``g + j / B``
    for bucket bounds ``j``) one bucket either side of ``g + u``'s, so always the same
    position, with one or two cache misses instead of a dozen.
    """
    n_buckets = index.shape[1] - 1
    for r in range(posts.shape[0]):
        for k in range(cols.shape[0]):
            g = group[k]
            v = g + _uniform(h)
            b = min(max(np.int64((v - g) * n_buckets), 0), n_buckets - 1)
            lo = index[g, max(b - 1, 0)]
            hi = index[g, min(b + 2, n_buckets)]
            while lo < hi:
                mid = (lo + hi) >> 1
                if cum[mid] <= v:
                    lo = mid + 1
                else:
                    hi = mid
            posts[r, cols[k]] = nodes[min(lo, end[g] - 1)]


@njit(cache=True, error_model="numpy")
def mark_sold(sites: np.ndarray, mask: np.ndarray, marked: np.ndarray, count: np.ndarray
              ) -> None:
    """Note the nodes in ``sites`` as sold at since the last market-list refresh: ``mask`` per
    node, and the ``count[0]`` distinct nodes so far in ``marked``."""
    for s in sites:
        if not mask[s]:
            mask[s] = True
            marked[count[0]] = s
            count[0] += 1


@njit(cache=True, error_model="numpy")
def market_candidates(market_nodes: np.ndarray, mask: np.ndarray, marked: np.ndarray,
                      count: np.ndarray) -> np.ndarray:
    """The current market list and the nodes sold at since the last refresh (`mark_sold`),
    sorted and without repeats (``np.unique`` of both); clears the marks."""
    mark_sold(market_nodes, mask, marked, count)
    out = np.sort(marked[: count[0]])
    clear_marks(mask, marked, count)
    return out


@njit(cache=True, error_model="numpy")
def clear_marks(mask: np.ndarray, marked: np.ndarray, count: np.ndarray) -> None:
    """Forget the nodes noted by `mark_sold`."""
    for k in range(count[0]):
        mask[marked[k]] = False
    count[0] = 0
