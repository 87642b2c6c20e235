"""Outreach workers (street workers of the prevention pillar) and consumption rooms."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
