"""The users' phase of a step as one compiled kernel (`users_step`).

It runs the rules of docs/ODD.md 7.13-7.18 in the order `BrusselsMarketModel` defines them:
treatments end (relapse or recovery), lingering ends and cravings start (`kernels.scan_users`),
searchers arrive and buy at the busiest site in reach (`kernels.busiest_sites`,
`kernels.purchases`), buyers use in a consumption room (`room_admissions`), in public or at
home, and new and failed searchers set out for a known market (`kernels.pick_markets`,
`kernels.set_out`). Random numbers come from the users' numpy stream (`brusim.model.bitgen`),
drawn in the order and number the step's Python code drew them before it was fused, so the
fusion changed speed, not results. Events and metrics go straight to the sinks
(`brusim.model.sinks`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from brusim.model import bitgen as bg
from brusim.model.kernels import (
    busiest_sites,
    mark_sold,
    pick_markets,
    purchases,
    scan_users,
    set_out,
    where_equal_due,
)
from brusim.model.sinks import emit, record

# np.int64, not int: a literal int argument compiles a callee once per value (sinks.py)
# event types and recorder metrics (brusim.model.events.EventType, brusim.model.recorder.INDEX)
EV_TRANSACTION, EV_PUBLIC_USE, EV_ROOM_ENTRY, EV_UNSERVED_SEARCH = (
    np.int64(0), np.int64(1), np.int64(2), np.int64(9))
M_TRANSACTIONS, M_PUBLIC_USE, M_ROOM_ENTRIES, M_UNSERVED, M_SEARCHING = (
    np.int64(2), np.int64(3), np.int64(4), np.int64(12), np.int64(13))


@njit(cache=True, error_model="numpy")
def _uniforms(h: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws of ``Generator.random``."""
    out = np.empty(n)
    for k in range(n):
        out[k] = bg.random(h)
    return out


@njit(cache=True, error_model="numpy")
def room_admissions(h: np.ndarray, sites: np.ndarray, willing: np.ndarray, open_now: np.ndarray,
                    dist: np.ndarray, capacity: np.ndarray, used: np.ndarray, reach_m: float
                    ) -> np.ndarray:
    """Room used by each purchase at ``sites`` (-1: none): willing buyers go to the nearest
    open room (network distance, ties: the first room) within ``reach_m``; each room admits up
    to its free hourly capacity, its candidates in random order (``Generator.permutation``).
    ``used`` (per room, this hour) grows in place."""
    out = np.full(sites.shape[0], -1, np.int64)
    n_open = 0
    for r in range(open_now.shape[0]):
        n_open += open_now[r]
    if n_open == 0:
        return out
    nearest = np.full(sites.shape[0], -1, np.int64)  # room of each willing buyer in reach
    for k in range(sites.shape[0]):
        if not willing[k]:
            continue
        best, best_d = -1, np.inf
        for r in range(open_now.shape[0]):
            if open_now[r] and (best < 0 or dist[r, sites[k]] < best_d):
                best, best_d = r, dist[r, sites[k]]
        if best_d <= reach_m:
            nearest[k] = best
    for r in range(open_now.shape[0]):
        if not open_now[r]:
            continue
        n_cand = 0
        for k in range(sites.shape[0]):
            n_cand += nearest[k] == r
        if n_cand == 0:
            continue
        cand = np.empty(n_cand, np.int64)
        j = 0
        for k in range(sites.shape[0]):
            if nearest[k] == r:
                cand[j] = k
                j += 1
        bg.permute(h, cand)
        took = min(max(capacity[r] - used[r], 0), n_cand)
        for j in range(took):
            out[cand[j]] = r
        used[r] += took
    return out


@njit(cache=True, error_model="numpy")
def users_step(t: int, h: np.ndarray, users: tuple, states: tuple, police: tuple,
               market: tuple, selling: np.ndarray, seller_nodes: np.ndarray,
               public_cut: np.ndarray, rooms: tuple, open_now: np.ndarray, search: tuple,
               rate: float, markets: np.ndarray, strength: np.ndarray, sold: tuple, ev: tuple,
               rec: tuple) -> None:
    """One step of the users' rules, in place; the sites of this step's sales are noted in
    ``sold`` (`kernels.mark_sold`: mask, marked nodes, count) for the hourly market list.

    ``users``: (status, until, ready, arrive, node, home, target, known, attempts,
    referred_until). ``states``: (idle, searching, lingering, treatment, recovered).
    ``police``: (sight indptr, sight indices, arrest indptr, arrest indices, units posted per
    node, avoid police). ``market``: (sellers-per-node scratch, purchase ball padded, market
    ball padded, sales, unserved, demand near, sales weight, unserved weight, public-use
    probability, linger steps, minimum gap steps). ``selling``/``seller_nodes``: the dealers
    selling now and their nodes; ``public_cut``: security-by-design nuisance cut per node
    (empty: none). ``rooms``: (network distance (rooms, nodes), hourly capacity, used this
    hour, room nodes, room-use probability, referred probability, reach m); ``open_now`` per
    room. ``search``: (relapse probability, loyalty, x32, y32, search radius (float32),
    distance decay (float32), max attempts, retry steps, node x, node y, circuity, walk
    m/step, transit m/step, transit above m); ``rate``: the probability an idle user craves
    now; ``markets``/``strength``: the word-of-mouth market list.
    """
    status, until, ready, arrive, node, home, target, known, attempts, referred = users
    idle, searching, lingering, treatment, recovered = states
    sight_ptr, sight_idx, arrest_ptr, arrest_idx, posts_at, avoid_police = police
    (sellers_at, purchase_padded, market_padded, sales, unserved, demand_near, sales_w,
     unserved_w, public_prob, linger, min_gap) = market
    room_dist, capacity, used, room_node, p_room, p_room_referred, reach_m = rooms
    (relapse_prob, loyalty, x32, y32, radius32, decay32, max_attempts, retry, node_x, node_y,
     circuity, walk_m, transit_m, transit_above_m) = search

    # treatments end: relapse (idle, craving again) or recovery
    done = where_equal_due(status, treatment, until, t)
    relapse = _uniforms(h, done.shape[0])
    for k in range(done.shape[0]):
        if relapse[k] < relapse_prob:
            status[done[k]] = idle
            ready[done[k]] = t
        else:
            status[done[k]] = recovered

    cand, arr = scan_users(t, status, until, ready, arrive, node, home, sight_ptr, sight_idx,
                           posts_at, idle, searching, lingering)
    u_start = _uniforms(h, cand.shape[0])
    n_start = 0
    for k in range(cand.shape[0]):
        n_start += u_start[k] < rate
    start = np.empty(n_start, np.int64)
    j = 0
    for k in range(cand.shape[0]):
        if u_start[k] < rate:
            start[j] = cand[k]
            j += 1

    none = np.zeros(0, np.int64)
    failed, failed_at, sites = none, none, none
    if arr.shape[0]:
        for i in arr:
            node[i] = target[i]
        width = purchase_padded.shape[1]
        noise = np.empty((arr.shape[0], width))
        for i in range(arr.shape[0]):
            for k in range(width):
                noise[i, k] = bg.random(h)
        origins = np.empty(arr.shape[0], np.int64)
        for i in range(arr.shape[0]):
            origins[i] = node[arr[i]]
        site, n_sellers, ok = busiest_sites(origins, purchase_padded, seller_nodes, sellers_at,
                                            noise, avoid_police, arrest_ptr, arrest_idx,
                                            posts_at)
        buyers, sites, counts, failed = arr[ok], site[ok], n_sellers[ok], arr[~ok]
        nb = buyers.shape[0]
        u_seller = _uniforms(h, nb)
        in_room = np.zeros(0, np.bool_)
        room = none
        any_open = False
        for r in range(open_now.shape[0]):
            any_open = any_open or open_now[r]
        if nb and any_open:
            willing = np.empty(nb, np.bool_)
            for k in range(nb):
                p = p_room_referred if referred[buyers[k]] >= t else p_room
                willing[k] = bg.random(h) < p
            room = room_admissions(h, sites, willing, open_now, room_dist, capacity, used,
                                   reach_m)
            in_room = room >= 0
        u_public = _uniforms(h, nb)
        dealer, public, failed_at = purchases(
            t, buyers, sites, counts, u_seller, u_public, public_prob, public_cut, in_room,
            failed, selling, seller_nodes, sales, unserved, demand_near, market_padded,
            sales_w, unserved_w, status, node, home, known, until, ready, attempts, linger,
            min_gap, lingering, idle)
        if nb:
            emit(ev, t, EV_TRANSACTION, sites, buyers, dealer)
            record(rec, M_TRANSACTIONS, sites, 1.0)
            if in_room.shape[0] and in_room.any():
                rn = room_node[room[in_room]]
                emit(ev, t, EV_ROOM_ENTRY, rn, buyers[in_room], room[in_room])
                record(rec, M_ROOM_ENTRIES, rn, 1.0)
            if public.any():
                emit(ev, t, EV_PUBLIC_USE, sites[public], buyers[public], none)
                record(rec, M_PUBLIC_USE, sites[public], 1.0)
        if failed.shape[0]:
            emit(ev, t, EV_UNSERVED_SEARCH, failed_at, failed, none)
            record(rec, M_UNSERVED, failed_at, 1.0)

    if start.shape[0] or failed.shape[0]:
        u_loyal = _uniforms(h, start.shape[0])
        fresh = np.empty(start.shape[0], np.bool_)
        n_fresh = 0
        for k in range(start.shape[0]):
            fresh[k] = known[start[k]] < 0 or u_loyal[k] >= loyalty
            n_fresh += fresh[k]
        origins = np.empty(n_fresh + failed.shape[0], np.int64)
        exclude = np.zeros(origins.shape[0], np.bool_)
        j = 0
        for k in range(start.shape[0]):
            if fresh[k]:
                origins[j] = home[start[k]]
                j += 1
        for k in range(failed.shape[0]):
            origins[j] = failed_at[k]
            exclude[j] = True
            j += 1
        if markets.shape[0] == 0 or origins.shape[0] == 0:
            picks = np.full(origins.shape[0], -1, np.int64)
        else:
            race = np.empty((origins.shape[0], markets.shape[0]))
            for i in range(origins.shape[0]):
                for k in range(markets.shape[0]):
                    race[i, k] = bg.standard_exponential(h)
            picks = pick_markets(origins, markets, strength, x32, y32, radius32, decay32,
                                 exclude, race)
        set_out(t, start, fresh, picks, failed, failed_at, status, attempts, target, node,
                home, ready, arrive, known, max_attempts, retry, searching, idle, node_x,
                node_y, circuity, walk_m, transit_m, transit_above_m)

    n_search = 0
    for i in range(status.shape[0]):
        n_search += status[i] == searching
    out = np.empty(n_search, np.int64)
    j = 0
    for i in range(status.shape[0]):
        if status[i] == searching:
            out[j] = node[i]
            j += 1
    record(rec, M_SEARCHING, out, 1.0)
    mark_sold(sites, *sold)
