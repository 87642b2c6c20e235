"""Users: a craving cycle, a search for sellers along the network, purchase and consumption."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brusim.model import kernels as kn

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


def speeds_m_per_step(beh, step_minutes: float) -> tuple[float, float]:
    """Metres covered in one step walking and by transit (``beh``: users' behaviour config);
    trips take ceil(distance / speed) steps, at least 1 (`kernels.set_out`)."""
    walk = beh.walk_speed_kmh * 1000.0 / 60.0 * step_minutes
    transit = beh.transit_speed_kmh * 1000.0 / 60.0 * step_minutes
    return float(walk), float(transit)


def pick_markets(
    xy32: tuple[np.ndarray, np.ndarray],
    origin: np.ndarray,
    markets: np.ndarray,
    market_strength: np.ndarray,
    search_radius_m: float,
    rng: np.random.Generator,
    exclude_origin: np.ndarray | None = None,
) -> np.ndarray:
    """Choose a known market for each origin node, by strength × distance decay (word of mouth).

    Weight exp(-2 d / ``search_radius_m``) × the market's strength, zero beyond the radius; an
    exponential race (the smallest Exp(1) / weight wins, with probability ∝ weight) picks one.
    Returns -1 where no market lies within ``search_radius_m``. ``exclude_origin`` (a mask per
    origin) leaves out a market at the origin itself (d < 1 m). ``xy32``: the nodes' centred
    single-precision coordinates (`spatial.node_xy32`); weights only need ~7 digits.
    """
    if len(markets) == 0 or len(origin) == 0:
        return np.full(len(origin), -1, np.int64)
    race = rng.standard_exponential((len(origin), len(markets)))
    exclude = np.zeros(len(origin), bool) if exclude_origin is None else exclude_origin
    return kn.pick_markets(origin, markets, market_strength, xy32[0], xy32[1],
                           np.float32(search_radius_m), np.float32(-2.0 / search_radius_m),
                           exclude, race)
