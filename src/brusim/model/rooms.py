"""Supervised consumption rooms (the prevention pillar): where they are, when they are open,
their hourly capacity, and which buyers they admit (docs/ODD.md 7.17).

`RoomState` is what the users' kernel reads; `RoomSchedule` says when each room is open
(scenario, opening hours, start week) and `room_admissions` assigns willing buyers to the
nearest open room in reach, up to its free capacity this hour.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from brusim.errors import ConfigError
from brusim.model import rng as rd
from brusim.model.codes import D_ROOM_ORDER
from brusim.model.jit import rule
from brusim.model.sorting import stable_argsort


class RoomState(NamedTuple):
    node: np.ndarray  # int64 (R,) street node of each room
    dist: np.ndarray  # (R, N) network distance from each room
    capacity: np.ndarray  # int (R,) entries per hour
    used_this_hour: np.ndarray  # int64 (R,) entries so far this hour (reset hourly)


class RoomSchedule(NamedTuple):
    open_: np.ndarray  # bool (R,) open in the scenario at all
    open_hour: np.ndarray
    close_hour: np.ndarray
    from_step: np.ndarray  # int (R,) first step open
    by_step_of_day: np.ndarray  # bool (steps per day, R): open in the scenario and the hours

    def open_now(self, t: int, steps_per_day: int) -> np.ndarray:
        """Which rooms admit at step ``t``."""
        return self.by_step_of_day[t % steps_per_day] & (t >= self.from_step)


def build_rooms(cfg, smap, clock, origin: int = 0, intervention_step: int | None = None
                ) -> tuple[RoomState, RoomSchedule]:
    """The map's rooms with the scenario's settings (``scenario.rooms``; a room not named
    stays closed). A room opens at its own ``from_week`` (counted from ``origin``, the run's
    first step), else at the intervention (a room a scenario opens is part of it)."""
    rs = smap.rooms
    conf = dict(cfg.scenario.rooms or {})
    unknown = sorted(set(conf) - set(rs.ids))
    if unknown:
        raise ConfigError(f"scenario.rooms names unknown rooms {unknown}; valid: "
                          f"{', '.join(rs.ids)}")
    get = [conf.get(r) for r in rs.ids]
    spw = clock.steps_per_week
    if intervention_step is None:
        intervention_step = origin + int(cfg.scenario.intervention_week * spw)
    open_ = np.array([bool(c and c.open) for c in get])
    open_hour = np.array([float(c.open_hour) if c else 0.0 for c in get])
    close_hour = np.array([float(c.close_hour) if c else 0.0 for c in get])
    hours = np.array([clock.hour(s) for s in range(clock.steps_per_day)])[:, None]
    state = RoomState(node=rs.node.astype(np.int64), dist=rs.dist,
                      capacity=np.array([int(c.capacity_per_hour) if c else 0 for c in get]),
                      used_this_hour=np.zeros(len(rs.ids), np.int64))
    schedule = RoomSchedule(open_, open_hour, close_hour,
                            np.array([(origin + int(c.from_week * spw)
                                       if c.from_week is not None else intervention_step)
                                      if c else 0 for c in get]),
                            open_ & (hours >= open_hour) & (hours < close_hour))
    return state, schedule


@rule
def room_admissions(t: int, key: np.ndarray, buyers: np.ndarray, sites: np.ndarray,
                    willing: np.ndarray, open_now: np.ndarray, rooms: RoomState, reach_m: float
                    ) -> np.ndarray:
    """Room used by each purchase (by ``buyers`` at ``sites``; -1: none): willing buyers go to
    the nearest open room (network distance, ties: the first room) within ``reach_m``; each
    room admits up to its free hourly capacity, its candidates in a random order keyed by
    buyer (`rng.order`).
    ``rooms.used_this_hour`` grows in place."""
    dist, capacity, used = rooms.dist, rooms.capacity, rooms.used_this_hour
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
        priority = rd.uniforms(key, D_ROOM_ORDER, t, buyers[cand])
        cand = cand[stable_argsort(priority)]
        took = min(max(capacity[r] - used[r], 0), n_cand)
        for j in range(took):
            out[cand[j]] = r
        used[r] += took
    return out
