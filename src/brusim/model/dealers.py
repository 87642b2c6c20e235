"""Dealers: crews with home turf choosing selling sites by weighing takings against risk.

State lives in `DealerState` arrays; each rule is a function over the whole population.
Displacement is not scripted: it is what happens when a seller's site choice
(`kernels.decide_sites`) finds a better site.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brusim.model.spatial import Ball

ACTIVE, LYING_LOW, CUSTODY, PRISON, RESERVE = 0, 1, 2, 3, 4
STATUS_NAMES = ("active", "lying_low", "custody", "prison", "reserve")
# statuses that end at ``until`` (lookup table indexed by status)
TIMED = np.isin(np.arange(len(STATUS_NAMES)), (LYING_LOW, CUSTODY, PRISON))


@dataclass
class DealerState:
    status: np.ndarray  # int8
    node: np.ndarray  # int64 selling site (or last site while away)
    crew: np.ndarray  # int32
    shift_start: np.ndarray  # float hours
    tolerance: np.ndarray  # individual multiplier on perceived risk
    until: np.ndarray  # int64 step when lying low/custody/prison ends
    decision_offset: np.ndarray  # int64, decisions when (step + offset) % interval == 0
    lie_lows: np.ndarray  # int32 consecutive lie-lows
    displaced_until: np.ndarray  # int64 step until which the dealer counts as displaced
    crew_home: np.ndarray  # int64 (C,) home node of each crew
    crew_hotspot: np.ndarray  # int32 (C,) hotspot index of each crew's turf, -1 if dispersed
    crew_target: np.ndarray  # int32 (C,) target crew size

    def __len__(self) -> int:
        return len(self.status)


def init_dealers(
    smap, cfg_pop, cfg_beh, hotspot_weights: np.ndarray, clock, rng: np.random.Generator
) -> DealerState:
    """Create crews at hotspots (by market weight) and dispersed sites, and place their members.

    Hotspot crews: each hotspot first gets ``floor(n_hot × weight share)`` crews, then the
    remaining crews go one each to the hotspots with the largest weights (not the largest
    remainders), so light hotspots may get none. Dispersed crews get a home node drawn by
    residents. Active and reserve dealers join crews in proportion to crew weight (the hotspot's
    weight shared among its crews, 0.5 for a dispersed crew).
    """
    n_active, n_reserve, n_crews = cfg_pop.n_dealers, cfg_pop.n_reserve_dealers, cfg_pop.n_crews
    n = n_active + n_reserve
    n_crews = max(1, n_crews)
    n_dispersed = int(round(cfg_pop.dispersed_crew_share * n_crews))
    n_hot = n_crews - n_dispersed
    crew_hotspot = np.full(n_crews, -1, np.int32)
    crew_home = np.zeros(n_crews, np.int64)
    if n_hot > 0 and len(hotspot_weights):
        # floor(weight share × n_hot) crews per hotspot, then one more each for the hotspots with
        # the largest weights (not the largest remainders) until all n_hot crews are placed.
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
    crew = np.concatenate([crew, reserve_crew])
    status = np.concatenate([np.full(n_active, ACTIVE), np.full(n_reserve, RESERVE)]).astype(
        np.int8
    )
    near_home = Ball.build(smap, cfg_beh.market_radius_m)
    node = near_home.sample(crew_home[crew], rng)
    interval = clock.steps(cfg_beh.decision_minutes / 60)
    return DealerState(
        status=status,
        node=node.astype(np.int64),
        crew=crew,
        shift_start=rng.uniform(10.0, 20.0, size=n),
        tolerance=rng.lognormal(0.0, 0.3, size=n),
        until=np.zeros(n, np.int64),
        decision_offset=rng.integers(0, interval, size=n),
        lie_lows=np.zeros(n, np.int32),
        displaced_until=np.full(n, -1, np.int64),
        crew_home=crew_home,
        crew_hotspot=crew_hotspot,
        crew_target=crew_target,
    )


def on_shift(d: DealerState, hour: float, shift_hours: float) -> np.ndarray:
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
