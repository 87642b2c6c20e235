"""Dealers: crews with home turf choosing selling sites by weighing takings against risk.

State lives in `DealerState` arrays; each rule is a function over the whole population.
Displacement is not scripted: it is what happens when `choose_sites` finds a better site.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brusim.model.spatial import Ball, node_xy

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


def perceived_risk(exposure: np.ndarray, half_saturation: float) -> np.ndarray:
    """Map decayed police/arrest exposure to a risk in [0, 1); callers multiply it by each
    dealer's ``tolerance`` to get the risk that dealer perceives."""
    return exposure / (exposure + half_saturation)


def site_utility(
    candidates: np.ndarray,
    current: np.ndarray,
    dealer_crew: np.ndarray,
    tolerance: np.ndarray,
    demand_near: np.ndarray,
    competitors_near: np.ndarray,
    own_crew_near: np.ndarray,
    exposure: np.ndarray,
    sbd_cut: np.ndarray,
    dist_m: np.ndarray,
    beh,
    home_dist_m: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Utility of selling at each candidate site (rows: dealers, columns: candidates).

    takings = demand / (1 + competitors) reduced by security by design and raised by crew-mates
    nearby, discounted by perceived risk (exp(-risk_weight * risk), risk = `perceived_risk` ×
    ``tolerance``); minus ``turf_penalty`` × takings where other crews' sellers stand within the
    market radius and none of the dealer's own crew; minus the cost of moving (``dist_m`` from
    the current site) and of distance from the crew's turf (``home_dist_m``). Counts exclude the
    dealer itself.
    """
    del current, dealer_crew
    takings = demand_near / (competitors_near + 1.0)
    if np.ndim(sbd_cut) or sbd_cut:
        takings *= 1.0 - sbd_cut
    risk = perceived_risk(exposure, beh.risk_half_saturation)
    risk *= tolerance[:, None]
    contested = (competitors_near - own_crew_near > 0.5) & (own_crew_near < 0.5)
    # crew-mates nearby raise expected takings (lookouts, supply) by crew_bonus each, up to 3
    takings *= 1.0 + np.minimum(own_crew_near, 3.0) * beh.crew_bonus
    # value - turf penalty = takings * (exp(-risk_weight * risk) - turf_penalty * contested)
    utility = takings * (np.exp(risk * -beh.risk_weight) - beh.turf_penalty * contested)
    utility -= dist_m * (beh.move_cost_per_km / 1000.0)
    utility -= home_dist_m * (beh.turf_cost_per_km / 1000.0)
    return utility


def crew_index(d: DealerState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dealers sorted by crew (stable order), each crew's start in that order and its size.

    Valid until crews change (recruitment); callers cache it.
    """
    order = np.argsort(d.crew, kind="stable")
    sorted_crew = d.crew[order]
    crews = np.arange(len(d.crew_home))
    start = sorted_crew.searchsorted(crews, "left")
    return order, start, sorted_crew.searchsorted(crews, "right") - start


def candidate_sites(
    d: DealerState,
    who: np.ndarray,
    awareness: Ball,
    markets: np.ndarray,
    smap,
    n_candidates: int,
    rng: np.random.Generator,
    crews: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Candidate sites for dealers ``who``: current, home, a crew-mate's site, a known market in
    reach, and random sites from the awareness space around the current and home sites
    (``4 + max(n_candidates - 4, 2)`` columns, so at least 6).

    ``crews`` is `crew_index(d)`, computed here when not given.
    """
    cur = d.node[who]
    crew = d.crew[who]
    home = d.crew_home[crew]
    k_rand = max(n_candidates - 4, 2)
    out = np.empty((len(who), 4 + k_rand), np.int64)
    out[:, 0] = cur
    out[:, 1] = home
    # a crew-mate's site: pick a random dealer of the same crew
    order, start, size = crew_index(d) if crews is None else crews
    mate = order[start[crew] + (rng.random(len(who)) * size[crew]).astype(np.int64)]
    out[:, 2] = np.where(d.status[mate] == ACTIVE, d.node[mate], home)
    out[:, 3] = known_market_near(cur, markets, awareness.radius_m, smap, rng)
    # random sites around the current site (even columns) and the home site (odd columns)
    base = np.concatenate([cur, home] * (k_rand // 2) + [cur] * (k_rand % 2))
    out[:, 4:] = awareness.sample(base, rng).reshape(k_rand, len(who)).T
    return out


def known_market_near(
    cur: np.ndarray, markets: np.ndarray, radius_m: float, smap, rng: np.random.Generator
) -> np.ndarray:
    """A random known market within ``radius_m`` of each site in ``cur`` (the site if none)."""
    if len(markets) == 0:
        return cur
    xy = node_xy(smap, np.complex64)
    near = np.abs(xy[cur][:, None] - xy[markets]) <= radius_m
    # the r-th market in reach, r uniform: first column where the running count exceeds r
    in_reach = near.cumsum(axis=1)
    r = (rng.random(len(cur)) * in_reach[:, -1]).astype(np.int64)
    best = (in_reach > r[:, None]).argmax(axis=1)
    return np.where(in_reach[:, -1] > 0, markets[best], cur)


def choose_sites(
    d: DealerState,
    who: np.ndarray,
    cands: np.ndarray,
    utility: np.ndarray,
    beh,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick each dealer's best candidate. Returns (new_site, moved mask, lie_low mask).

    A dealer moves when the best candidate beats the current site (column 0) by the switch
    margin, and lies low instead when even the best is below the minimum utility.
    """
    del d, who
    best = utility.argmax(axis=1)
    rows = np.arange(len(cands))
    u_best = utility[rows, best]
    u_cur, cur = utility[:, 0], cands[:, 0]
    new_site = cands[rows, best]
    lie_low = u_best < beh.min_utility
    moved = (new_site != cur) & (u_best > u_cur + beh.switch_margin * np.abs(u_cur) + 1e-9)
    moved &= ~lie_low
    return np.where(moved, new_site, cur), moved, lie_low


def contested_cells(cells: np.ndarray, crews: np.ndarray, n_crews: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Cells where sellers of at least two crews stand, and how many crews each holds.

    ``cells``/``crews`` are per seller; crews are in ``[0, n_crews)``. Cells come out sorted.
    """
    keys = np.sort(cells.astype(np.int64) * n_crews + crews)
    new_pair = np.empty(len(keys), bool)
    new_pair[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=new_pair[1:])
    pair_cell = keys[new_pair] // n_crews  # one entry per distinct (cell, crew), sorted by cell
    first = np.empty(len(pair_cell), bool)
    first[:1] = True
    np.not_equal(pair_cell[1:], pair_cell[:-1], out=first[1:])
    if first.all():
        return pair_cell[:0], pair_cell[:0]
    starts = first.nonzero()[0]
    n_crews_in = np.add.reduceat(np.ones(len(pair_cell), np.int64), starts)
    many = n_crews_in >= 2
    return pair_cell[starts[many]], n_crews_in[many]
