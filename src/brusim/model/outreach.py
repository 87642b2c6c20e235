"""Outreach workers (the street workers of the prevention pillar): they walk their hotspot's
catchment and, on shift, contact users present nearby, who are referred (more willing to use a
room) and may enter treatment (docs/ODD.md 7.19).

`OutreachPlan.step` runs the phase: workers move hourly (`move_workers`), then on shift
`outreach_step` contacts users, keeping at most ``max_contacts_per_step`` per worker.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from brusim.model import rng as rd
from brusim.model.codes import (
    D_CONTACT,
    D_CONTACT_CAP,
    D_TREATMENT,
    D_TREATMENT_WEEKS,
    D_WORKER_MOVE,
    EV_OUTREACH_CONTACT,
    EV_TREATMENT_ENTRY,
    LINGERING,
    M_OUTREACH_CONTACTS,
    M_TREATMENT_ENTRIES,
    SEARCHING,
    TREATMENT,
)
from brusim.model.events import emit
from brusim.model.jit import kernel, rule
from brusim.model.recorder import record
from brusim.model.sorting import sorted_ints
from brusim.model.users import UserState


class OutreachState(NamedTuple):
    hotspot: np.ndarray  # int64 assigned hotspot index
    node: np.ndarray  # int64 current node
    on_shift: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.hotspot)


class OutreachParams(NamedTuple):
    referral_steps: int
    treatment_prob: float
    treatment_weeks: float
    steps_per_week: int


def init_outreach(smap, n: int, hotspot_ids: list[str]) -> OutreachState:
    """Workers assigned round-robin to the outreach hotspots, starting at the hotspot node."""
    idx = np.array([smap.hotspots.index(h) for h in hotspot_ids], dtype=np.int64)
    if len(idx) == 0:
        idx = np.arange(min(len(smap.hotspots), 1), dtype=np.int64)
    hotspot = idx[np.arange(n) % len(idx)] if len(idx) else np.zeros(n, np.int64)
    node = smap.hotspots.node[hotspot].astype(np.int64) if n else np.zeros(0, np.int64)
    return OutreachState(hotspot, node, np.zeros(n, bool))


class OutreachPlan:
    """How the workers work: their weekly shift table, contact settings and the nodes they
    cover this hour."""

    def __init__(self, cfg, smap, clock, n_workers: int):
        beh = cfg.behaviour.outreach
        self.params = OutreachParams(clock.steps(float(beh.referral_days) * 24),
                                     float(beh.treatment_prob), float(beh.treatment_weeks),
                                     clock.steps_per_week)
        self.contact_prob = float(beh.contact_prob)
        self.cap = int(beh.max_contacts_per_step) * n_workers
        start, hours = float(beh.shift_start_hour), float(beh.shift_hours)
        self.shift = [(not bool(beh.weekdays_only) or clock.weekday(s) < 5)
                      and clock.in_hours(s, start, hours) for s in range(clock.steps_per_week)]
        self.covered = np.zeros(smap.n_nodes, bool)

    def step(self, t: int, new_hour: bool, o: OutreachState, u: UserState, world,
             key: np.ndarray, events, rec: tuple) -> None:
        """Workers ``o`` move within their hotspot hourly and, on shift, contact users nearby."""
        if len(o) == 0:
            return
        on_shift = self.shift[t % len(self.shift)]
        if o.on_shift[0] != on_shift:
            o.on_shift[:] = on_shift
        if new_hour:
            hs, contact = world.smap.hotspots, world.balls.contact
            move_workers(t, key, o.node, o.hotspot, hs.catchment_indptr, hs.catchment_indices,
                         contact.indptr, contact.indices, self.covered)
        if not on_shift:
            return
        cap = self.cap
        u_plain, p_plain = tuple(u), tuple(self.params)  # see brusim.model.model.plain
        outreach_step(t, key, self.covered, cap, self.contact_prob, u_plain, p_plain,
                      events.sink(2 * cap), rec)
        events.commit()


@kernel
def move_workers(t: int, key: np.ndarray, node: np.ndarray, hotspot: np.ndarray,
                 indptr: np.ndarray, indices: np.ndarray, ball_indptr: np.ndarray,
                 ball_indices: np.ndarray, covered: np.ndarray) -> None:
    """Each worker moves to a uniform node of its hotspot's catchment (CSR ``indptr``,
    ``indices``) by its own keyed draw; ``covered`` becomes the mask of the nodes
    within the contact ball of some worker."""
    for k in range(node.shape[0]):
        lo = indptr[hotspot[k]]
        u = rd.uniform(key, D_WORKER_MOVE, t, k, 0)
        node[k] = indices[lo + np.int64(u * (indptr[hotspot[k] + 1] - lo))]
    covered[:] = False
    for k in range(node.shape[0]):
        for j in range(ball_indptr[node[k]], ball_indptr[node[k] + 1]):
            covered[ball_indices[j]] = True


@rule
def outreach_hits(t: int, key: np.ndarray, u: UserState, covered: np.ndarray, contact_prob: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Users present (searching or lingering, in index order) and the positions among them of
    those contacted: each present user at a ``covered`` node (`move_workers`) with
    probability ``contact_prob`` (before the per-worker cap)."""
    status = u.status
    n_present = 0
    for i in range(status.shape[0]):
        n_present += status[i] == SEARCHING or status[i] == LINGERING
    present = np.empty(n_present, np.int64)
    j = 0
    for i in range(status.shape[0]):
        if status[i] == SEARCHING or status[i] == LINGERING:
            present[j] = i
            j += 1
    near = np.empty(n_present, np.int64)
    n_near = 0
    for k in range(n_present):
        if covered[u.node[present[k]]]:
            near[n_near] = k
            n_near += 1
    hit = np.empty(n_near, np.int64)
    n_hit = 0
    for k in range(n_near):
        if rd.uniform(key, D_CONTACT, t, present[near[k]], 0) < contact_prob:
            hit[n_hit] = near[k]
            n_hit += 1
    return present, hit[:n_hit]


@rule
def outreach_outcomes(t: int, key: np.ndarray, met: np.ndarray, u: UserState, p: OutreachParams,
                      ev: tuple, rec: tuple) -> None:
    """Users ``met`` are contacted (event, metric) and referred; some enter treatment for an
    exponential number of weeks, at home."""
    u, p = UserState(*u), OutreachParams(*p)  # the caller passes plain tuples
    at = u.node[met]
    emit(ev, t, EV_OUTREACH_CONTACT, at, met, np.zeros(0, np.int64))
    record(rec, M_OUTREACH_CONTACTS, at, 1.0)
    for i in met:
        u.referred_until[i] = t + p.referral_steps
    treat_mask = np.empty(met.shape[0], np.bool_)
    for k in range(met.shape[0]):
        treat_mask[k] = rd.uniform(key, D_TREATMENT, t, met[k], 0) < p.treatment_prob
    treat = met[treat_mask]
    if treat.shape[0] == 0:
        return
    at = u.node[treat]
    emit(ev, t, EV_TREATMENT_ENTRY, at, treat, np.zeros(0, np.int64))
    record(rec, M_TREATMENT_ENTRIES, at, 1.0)
    for i in treat:
        weeks = p.treatment_weeks * rd.exponential(key, D_TREATMENT_WEEKS, t, i, 0)
        u.status[i] = TREATMENT
        u.until[i] = t + np.int64(weeks * p.steps_per_week) + 1
        u.node[i] = u.home[i]


@kernel
def outreach_step(t: int, key: np.ndarray, covered: np.ndarray, cap: int, contact_prob: float,
                  u: UserState, p: OutreachParams, ev: tuple, rec: tuple) -> None:
    """`outreach_hits`, then `outreach_outcomes` for the users hit; beyond ``cap`` contacts,
    the ``cap`` kept are first in a random order keyed by user (`rng.order`)."""
    u, p = UserState(*u), OutreachParams(*p)  # the caller passes plain tuples
    present, hit = outreach_hits(t, key, u, covered, contact_prob)
    met = present[hit]
    if met.shape[0] > cap:
        met = sorted_ints(rd.order(key, D_CONTACT_CAP, t, met)[:cap])
    if met.shape[0]:
        outreach_outcomes(t, key, met, u, p, ev, rec)
