"""The dealers' phase of a step as one compiled kernel (`dealers_step`).

It runs the rules of docs/ODD.md 7.8-7.12 in the order `BrusselsMarketModel` defines them:
lying low and custody end (back to selling; custody ends are releases without prosecution),
prison ends (back to the reserve), sellers due by their decision rhythm or feeling at risk
reconsider their site (`kernels.sellers_acting`, `kernels.decide_sites`), then move, stay or
lie low (and quit after too many lie-lows in a row). Random numbers come from the dealers'
numpy stream (`brusim.model.bitgen`) in the order and number the Python code drew them before
it was fused; events and metrics go straight to the sinks (`brusim.model.sinks`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from brusim.model import bitgen as bg
from brusim.model.kernels import decide_sites, sellers_acting, where_active_on_shift
from brusim.model.sinks import emit, record

# np.int64, not int: a literal int argument compiles a callee once per value (sinks.py)
# brusim.model.dealers
ACTIVE, LYING_LOW, CUSTODY, PRISON, RESERVE = (
    np.int64(0), np.int64(1), np.int64(2), np.int64(3), np.int64(4))
# brusim.model.events.EventType
EV_RELEASE, EV_DEALER_MOVE, EV_DEALER_LIE_LOW = (
    np.int64(5), np.int64(10), np.int64(11))
# brusim.model.recorder.INDEX
M_DEALERS_ACTIVE, M_DEALER_HOURS, M_RELEASES = (
    np.int64(0), np.int64(1), np.int64(7))


@njit(cache=True, error_model="numpy")
def _transitions(t: int, status: np.ndarray, until: np.ndarray, node: np.ndarray, ev: tuple,
                 rec: tuple) -> bool:
    """Timed statuses that end now: lying low and custody back to active, prison to the
    reserve. Returns whether any status changed."""
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


@njit(cache=True, error_model="numpy")
def dealers_step(t: int, h: np.ndarray, dealers: tuple, selling: np.ndarray,
                 on_shift: np.ndarray, phase: tuple, crews: tuple, markets: np.ndarray,
                 sites: tuple, fields: tuple, sbd_cut: np.ndarray, params: tuple, ev: tuple,
                 rec: tuple) -> tuple[np.ndarray, np.ndarray]:
    """One step of the dealers' rules, in place; returns the dealers selling afterwards and
    their nodes.

    ``dealers``: (status, until, node, crew, tolerance, crew home, lie-lows, displaced until).
    ``selling``: the dealers selling before the transitions. ``phase``: (each dealer's
    decision phase, the phase due now). ``crews``: `dealers.crew_index` (order, start, size).
    ``markets``: the word-of-mouth market nodes. ``sites``: (node x32, node y32, awareness
    radius (float32), awareness ball indptr, indices, random candidates per dealer, market
    ball indptr, indices, market radius, scratch per node, node x, node y, circuity).
    ``fields``: (demand near, footfall pull, presence, arrest memory); ``sbd_cut``: the
    security-by-design cut per node (empty: none). ``params``: (risk half saturation, flee
    risk, crew bonus, risk weight, turf penalty, move cost per m, turf cost per m, choice
    noise, minimum utility, switch margin, quit after lie-lows, lie-low steps,
    displaced-memory steps, step hours).
    """
    status, until, node, crew, tolerance, crew_home, lie_lows, displaced_until = dealers
    decision_phase, phase_now = phase
    crew_order, crew_start, crew_size = crews
    (x32, y32, aware_r32, aware_ptr, aware_idx, k_rand, market_ptr, market_idx, market_r,
     near, node_x, node_y, circuity) = sites
    demand_near, footfall_pull, presence, arrest_memory = fields
    (half_sat, flee_risk, crew_bonus, risk_weight, turf_penalty, move_cost, turf_cost,
     choice_noise, min_utility, switch_margin, quit_after, lie_low_steps, displaced_steps,
     step_hours) = params

    if _transitions(t, status, until, node, ev, rec):
        selling = where_active_on_shift(status, ACTIVE, on_shift)
    act, risk = sellers_acting(selling, node, tolerance, decision_phase, phase_now, presence,
                               arrest_memory, half_sat, flee_risk)
    n_who = 0
    for k in range(act.shape[0]):
        n_who += act[k]
    if n_who:
        who = selling[act]
        risk_who = risk[act]
        u_mate = np.empty(n_who)
        for i in range(n_who):
            u_mate[i] = bg.random(h)
        u_market = np.empty(n_who if markets.shape[0] else 0)
        for i in range(u_market.shape[0]):
            u_market[i] = bg.random(h)
        u_sample = np.empty(k_rand * n_who)
        for i in range(u_sample.shape[0]):
            u_sample[i] = bg.random(h)
        noise = np.empty((n_who, 4 + k_rand))
        for i in range(n_who):
            for j in range(4 + k_rand):
                noise[i, j] = bg.gumbel(h)
        market_x, market_y = x32[markets], y32[markets]
        seller_nodes = np.empty(selling.shape[0], np.int64)
        seller_crews = np.empty(selling.shape[0], crew.dtype)
        for k in range(selling.shape[0]):
            seller_nodes[k] = node[selling[k]]
            seller_crews[k] = crew[selling[k]]
        new_site, moved, lie_low = decide_sites(
            who, node, crew, status, tolerance, crew_home, ACTIVE, crew_order, crew_start,
            crew_size, market_x, market_y, markets, x32, y32, aware_r32, aware_ptr, aware_idx,
            k_rand, u_mate, u_market, u_sample, noise, market_ptr, market_idx, market_r,
            seller_nodes, seller_crews, near, demand_near, footfall_pull, presence,
            arrest_memory, sbd_cut, node_x, node_y, circuity, half_sat, crew_bonus,
            risk_weight, turf_penalty, move_cost, turf_cost, choice_noise, min_utility,
            switch_margin)
        mv = who[moved]
        if mv.shape[0]:
            emit(ev, t, EV_DEALER_MOVE, new_site[moved], mv, node[mv])
            risky = risk_who[moved] > 0.2
            for k in range(mv.shape[0]):
                if risky[k]:
                    displaced_until[mv[k]] = t + displaced_steps
            node[mv] = new_site[moved]
        n_low = 0
        for i in range(n_who):
            if lie_low[i]:
                n_low += 1
            else:
                lie_lows[who[i]] = 0
        if n_low:
            ll = who[lie_low]
            emit(ev, t, EV_DEALER_LIE_LOW, node[ll], ll, np.zeros(0, np.int64))
            for d in ll:
                lie_lows[d] += 1
                status[d] = LYING_LOW
                until[d] = t + lie_low_steps
                if lie_lows[d] >= quit_after:
                    status[d] = RESERVE
                    lie_lows[d] = 0
            selling = where_active_on_shift(status, ACTIVE, on_shift)
    nodes = np.empty(selling.shape[0], np.int64)
    for k in range(selling.shape[0]):
        nodes[k] = node[selling[k]]
    record(rec, M_DEALERS_ACTIVE, nodes, 1.0)
    record(rec, M_DEALER_HOURS, nodes, step_hours)
    return selling, nodes
