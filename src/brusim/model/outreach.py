"""Outreach workers (street workers of the prevention pillar) and consumption rooms."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brusim.model.spatial import Ball


@dataclass
class OutreachState:
    hotspot: np.ndarray  # int64 assigned hotspot index
    node: np.ndarray  # int64 current node
    on_shift: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.hotspot)


def init_outreach(smap, n: int, hotspot_ids: list[str]) -> OutreachState:
    """Workers assigned round-robin to the outreach hotspots, starting at the hotspot node."""
    idx = np.array([smap.hotspots.index(h) for h in hotspot_ids], dtype=np.int64)
    if len(idx) == 0:
        idx = np.arange(min(len(smap.hotspots), 1), dtype=np.int64)
    hotspot = idx[np.arange(n) % len(idx)] if len(idx) else np.zeros(n, np.int64)
    node = smap.hotspots.node[hotspot].astype(np.int64) if n else np.zeros(0, np.int64)
    return OutreachState(hotspot, node, np.zeros(n, bool))


def outreach_contacts(
    present_nodes: np.ndarray,
    worker_nodes: np.ndarray,
    contact_ball: Ball,
    n_nodes: int,
    contact_prob: float,
    max_contacts: int,
    rng: np.random.Generator,
    covered: np.ndarray | None = None,
) -> np.ndarray:
    """Indices (into ``present_nodes``) of users contacted by workers standing at ``worker_nodes``.

    A user present within the contact radius of a worker is contacted with ``contact_prob``;
    each worker makes at most ``max_contacts`` contacts per step. ``covered`` (optional) is
    `covered_nodes` for ``worker_nodes``, for callers that keep it while workers stay put.
    """
    if len(worker_nodes) == 0 or len(present_nodes) == 0:
        return np.zeros(0, np.int64)
    if covered is None:
        covered = covered_nodes(worker_nodes, contact_ball, n_nodes)
    near = covered[present_nodes].nonzero()[0]
    hit = near[rng.random(len(near)) < contact_prob]
    cap = max_contacts * len(worker_nodes)
    if len(hit) > cap:
        hit = np.sort(rng.choice(hit, size=cap, replace=False))
    return hit


def covered_nodes(worker_nodes: np.ndarray, contact_ball: Ball, n_nodes: int) -> np.ndarray:
    """Mask of the nodes within the contact radius of at least one worker."""
    covered = np.zeros(n_nodes, bool)
    nb, _ = contact_ball.gather(worker_nodes)
    covered[nb] = True
    return covered


@dataclass
class Rooms:
    """Consumption rooms: which are open when, their capacity and their network distances."""

    node: np.ndarray
    dist: np.ndarray  # (R, N)
    open_: np.ndarray  # bool (R,) in the scenario at all
    open_hour: np.ndarray
    close_hour: np.ndarray
    capacity: np.ndarray  # per hour
    from_step: np.ndarray
    used_this_hour: np.ndarray

    def open_now(self, step: int, hour: float) -> np.ndarray:
        within = (hour >= self.open_hour) & (hour < self.close_hour)
        return self.open_ & within & (step >= self.from_step)


def room_admissions(
    rooms: Rooms,
    purchase_nodes: np.ndarray,
    willing: np.ndarray,
    open_now: np.ndarray,
    reach_m: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Room index used by each purchase (-1: none) given willingness, opening, reach, capacity."""
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
        cand = rng.permutation(cand)
        free = max(int(rooms.capacity[r] - rooms.used_this_hour[r]), 0)
        took = cand[:free]
        out[took] = r
        rooms.used_this_hour[r] += len(took)
    return out
