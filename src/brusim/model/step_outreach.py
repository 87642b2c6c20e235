"""Outreach contacts and violence of a step as compiled kernels (docs/ODD.md 7.19-7.20).

`move_workers`, `outreach_step` (`outreach_hits`, `outreach_outcomes`): workers move within their
hotspot hourly; users present (searching or lingering) within the contact radius of a worker on
shift are contacted with a probability, referred (more willing to use a room) and may enter
treatment. `violence_step`: cells where sellers of two or more crews stand may see an incident.
Random numbers come from the outreach and violence streams (`brusim.model.bitgen`) in the
order and number the Python code drew them before it was fused; events and metrics go straight
to the sinks (`brusim.model.sinks`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from brusim.model import bitgen as bg
from brusim.model.kernels import violence_odds
from brusim.model.sinks import emit, record

# np.int64, not int: a literal int argument compiles a callee once per value (sinks.py)
# events.EventType
EV_VIOLENT_INCIDENT, EV_OUTREACH_CONTACT, EV_TREATMENT_ENTRY = (
    np.int64(3), np.int64(7), np.int64(8))
# recorder.INDEX
M_VIOLENT_INCIDENTS, M_OUTREACH_CONTACTS, M_TREATMENT_ENTRIES = (
    np.int64(5), np.int64(10), np.int64(11))


@njit(cache=True, error_model="numpy")
def move_workers(h: np.ndarray, node: np.ndarray, hotspot: np.ndarray, indptr: np.ndarray,
                 indices: np.ndarray, ball_indptr: np.ndarray, ball_indices: np.ndarray,
                 covered: np.ndarray) -> None:
    """Each worker moves to a uniform node of its hotspot's catchment (CSR ``indptr``,
    ``indices``), one draw per worker in order; ``covered`` becomes the mask of the nodes
    within the contact ball of some worker."""
    for k in range(node.shape[0]):
        lo = indptr[hotspot[k]]
        node[k] = indices[lo + np.int64(bg.random(h) * (indptr[hotspot[k] + 1] - lo))]
    covered[:] = False
    for k in range(node.shape[0]):
        for j in range(ball_indptr[node[k]], ball_indptr[node[k] + 1]):
            covered[ball_indices[j]] = True


@njit(cache=True, error_model="numpy")
def outreach_hits(h: np.ndarray, status: np.ndarray, node: np.ndarray, covered: np.ndarray,
                  searching: int, lingering: int, contact_prob: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Users present (searching or lingering, in index order) and the positions among them of
    those contacted: each present user at a ``covered`` node (`move_workers`) with
    probability ``contact_prob`` (`outreach.outreach_contacts` before the per-worker cap)."""
    n_present = 0
    for i in range(status.shape[0]):
        n_present += status[i] == searching or status[i] == lingering
    present = np.empty(n_present, np.int64)
    j = 0
    for i in range(status.shape[0]):
        if status[i] == searching or status[i] == lingering:
            present[j] = i
            j += 1
    near = np.empty(n_present, np.int64)
    n_near = 0
    for k in range(n_present):
        if covered[node[present[k]]]:
            near[n_near] = k
            n_near += 1
    hit = np.empty(n_near, np.int64)
    n_hit = 0
    for k in range(n_near):
        if bg.random(h) < contact_prob:
            hit[n_hit] = near[k]
            n_hit += 1
    return present, hit[:n_hit]


@njit(cache=True, error_model="numpy")
def outreach_outcomes(t: int, h: np.ndarray, met: np.ndarray, users: tuple, params: tuple,
                      ev: tuple, rec: tuple) -> None:
    """Users ``met`` are contacted (event, metric) and referred; some enter treatment for an
    exponential number of weeks, at home. ``users``: (status, until, node, home,
    referred until). ``params``: (referral steps, treatment probability, mean treatment
    weeks, steps per week, treatment status)."""
    status, until, node, home, referred_until = users
    referral, treatment_prob, treatment_weeks, steps_per_week, treatment = params
    at = node[met]
    emit(ev, t, EV_OUTREACH_CONTACT, at, met, np.zeros(0, np.int64))
    record(rec, M_OUTREACH_CONTACTS, at, 1.0)
    for i in met:
        referred_until[i] = t + referral
    treat_mask = np.empty(met.shape[0], np.bool_)
    for k in range(met.shape[0]):
        treat_mask[k] = bg.random(h) < treatment_prob
    treat = met[treat_mask]
    if treat.shape[0] == 0:
        return
    at = node[treat]
    emit(ev, t, EV_TREATMENT_ENTRY, at, treat, np.zeros(0, np.int64))
    record(rec, M_TREATMENT_ENTRIES, at, 1.0)
    for i in treat:
        weeks = treatment_weeks * bg.standard_exponential(h)
        status[i] = treatment
        until[i] = t + np.int64(weeks * steps_per_week) + 1
        node[i] = home[i]


@njit(cache=True, error_model="numpy")
def outreach_step(t: int, h: np.ndarray, covered: np.ndarray, cap: int, contact_prob: float,
                  searching: int, lingering: int, users: tuple, params: tuple, ev: tuple,
                  rec: tuple) -> tuple[np.ndarray, np.ndarray]:
    """`outreach_hits`, then `outreach_outcomes` for the users hit when they are at most
    ``cap``. Returns empty arrays when done, else (present, hit) for the caller to draw the
    ``cap`` users kept (numpy's ``Generator.choice``) and call `outreach_outcomes` itself."""
    status, until, node, home, referred_until = users
    present, hit = outreach_hits(h, status, node, covered, searching, lingering, contact_prob)
    if hit.shape[0] > cap:
        return present, hit
    if hit.shape[0]:
        outreach_outcomes(t, h, present[hit], users, params, ev, rec)
    return present[:0], hit[:0]


@njit(cache=True, error_model="numpy")
def violence_step(t: int, h: np.ndarray, selling: np.ndarray, seller_nodes: np.ndarray,
                  cell: np.ndarray, node: np.ndarray, crew: np.ndarray, n_crews: int,
                  displaced_until: np.ndarray, base_prob: float, displaced_factor: float,
                  ev: tuple, rec: tuple) -> None:
    """Each contested cell (`kernels.violence_odds`) sees an incident with its probability,
    recorded at the first seller standing in it (in the order of ``selling``)."""
    if selling.shape[0] < 2:
        return
    contested, p = violence_odds(selling, seller_nodes, cell, crew, n_crews, displaced_until,
                                 t, base_prob, displaced_factor)
    if contested.shape[0] == 0:
        return
    hit = np.empty(contested.shape[0], np.int64)
    n_hit = 0
    for j in range(contested.shape[0]):
        if bg.random(h) < p[j]:
            hit[n_hit] = contested[j]
            n_hit += 1
    if n_hit == 0:
        return
    first = np.empty(n_hit, np.int64)
    for j in range(n_hit):
        for k in range(selling.shape[0]):
            if cell[seller_nodes[k]] == hit[j]:
                first[j] = selling[k]
                break
    at = node[first]
    emit(ev, t, EV_VIOLENT_INCIDENT, at, first, crew[first].astype(np.int64))
    record(rec, M_VIOLENT_INCIDENTS, at, 1.0)
