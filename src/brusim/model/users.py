"""Users: a craving cycle, a search for sellers along the network, purchase and consumption."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brusim.model.spatial import euclid, node_xy

IDLE, SEARCHING, LINGERING, TREATMENT, RECOVERED = 0, 1, 2, 3, 4
STATUS_NAMES = ("idle", "searching", "lingering", "treatment", "recovered")


@dataclass
class UserState:
    status: np.ndarray  # int8
    home: np.ndarray  # int64
    node: np.ndarray  # int64 current node (home when idle)
    target: np.ndarray  # int64 node travelled to
    arrive: np.ndarray  # int64 step of arrival at target
    attempts: np.ndarray  # int32 failed attempts in the current search
    known: np.ndarray  # int64 last purchase node, -1 if none
    ready: np.ndarray  # int64 earliest step of the next craving
    until: np.ndarray  # int64 end of lingering / treatment
    referred_until: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.status)


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
        ready=rng.integers(0, 48, size=n).astype(np.int64),
        until=np.zeros(n, np.int64),
        referred_until=np.full(n, -1, np.int64),
    )


def start_cravings(u: UserState, step: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Idle users past their refractory time start searching with per-step probability ``rate``."""
    cand = ((u.status == IDLE) & (u.ready <= step)).nonzero()[0]
    return cand[rng.random(len(cand)) < rate]


def travel_steps(smap, a: np.ndarray, b: np.ndarray, beh, step_minutes: float) -> np.ndarray:
    """Steps to travel between nodes (at least 1): walking for short trips, transit beyond a
    threshold."""
    d = euclid(smap, a, b) * smap.circuity
    walk = beh.walk_speed_kmh * 1000.0 / 60.0 * step_minutes  # metres per step
    transit = beh.transit_speed_kmh * 1000.0 / 60.0 * step_minutes
    # ceil(d / speed), and 1 for d = 0 (whole multiples of a step have measure zero)
    return (d / np.where(d > beh.transit_above_m, transit, walk)).astype(np.int64) + 1


def pick_markets(
    smap,
    origin: np.ndarray,
    markets: np.ndarray,
    market_strength: np.ndarray,
    search_radius_m: float,
    rng: np.random.Generator,
    exclude_origin: bool | np.ndarray = False,
) -> np.ndarray:
    """Choose a known market for each origin, by strength × distance decay (word of mouth).

    Returns -1 where no market lies within ``search_radius_m``. ``exclude_origin`` (for all
    origins, or a mask per origin) leaves out a market at the origin itself.
    """
    if len(markets) == 0 or len(origin) == 0:
        return np.full(len(origin), -1, np.int64)
    xy = node_xy(smap, np.complex64)  # single precision: weights only need ~7 digits
    d = np.abs(xy[origin][:, None] - xy[markets])
    w = market_strength * np.exp(d * np.float32(-2.0 / search_radius_m))
    # within the search radius; with exclude_origin, not the place that just failed (d < 1 m)
    closest = np.where(exclude_origin, 1.0, -1.0)
    w *= (d <= search_radius_m) & (d >= (closest[:, None] if np.ndim(closest) else closest))
    # exponential race: the smallest Exp(1) / weight wins, with probability ∝ weight
    score = w / rng.standard_exponential(w.shape)
    best = score.argmax(axis=1)
    return np.where(score[np.arange(len(origin)), best] > 0, markets[best], -1)
