"""Supply that answers takings and risk (issue 20, item 2; docs/model.md).

A crew keeps on the street the sellers its takings pay for, fewer where arrests are near. Once a
day, before recruitment (`recruit`, below), each crew *wants*

    wanted = min(full size, floor(demand / sales_per_seller × exp(−risk_aversion × risk)))

members, where ``demand`` is the day's sales and unserved searches within the awareness ball of
the crew's home (what recruitment already looks at), ``risk = A / (A + risk_half_saturation)``
for the peers' arrests ``A`` remembered there, and the full size is the crew's size at the start.
Recruitment fills a crew up to ``wanted`` (not to its full size); members beyond it leave for the
reserve, each with probability ``quit_rate_per_day`` a day. A market whose takings fall or whose
arrests rise therefore loses sellers, which lengthens its buyers' searches (`brusim.model.demand`)
and lowers its takings again: the feedback by which enforcement can tip a place to low dealing
(Kleiman & Kilmer 2009) or its crews can come back once the pressure goes. With
``sales_per_seller = 0`` a crew always wants its full size and the rule changes nothing.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from brusim.model.codes import (
    D_RECRUIT,
    D_RECRUIT_SITE,
    D_SUPPLY_PICK,
    D_SUPPLY_QUIT,
    DealerStatus,
    EventType,
)


class SupplyParams(NamedTuple):
    sales_per_seller: float  # sales (and unserved searches) a day one seller needs; 0: off
    risk_aversion: float
    risk_half_saturation: float
    quit_rate_per_day: float

    @classmethod
    def from_config(cls, cfg) -> SupplyParams:
        s = cfg.behaviour.supply
        return cls(sales_per_seller=float(s.sales_per_seller_per_day),
                   risk_aversion=float(s.risk_aversion),
                   risk_half_saturation=float(cfg.behaviour.dealers.risk_half_saturation),
                   quit_rate_per_day=float(s.quit_rate_per_day))


ON_STREET = (DealerStatus.ACTIVE, DealerStatus.LYING_LOW, DealerStatus.CUSTODY)


def crew_members(d) -> np.ndarray:
    """Members of each crew on the street (active, lying low or in custody)."""
    on_street = np.isin(d.status, ON_STREET)
    return np.bincount(d.crew[on_street], minlength=len(d.crew_home))


def crew_demand(d, world) -> np.ndarray:
    """Each crew's daily demand: sales and unserved searches within the awareness ball of its
    home, over the last hour, times 24."""
    f = world.fields
    return world.balls.aware.sum_at(world.hourly(f.sales + f.unserved) * 24, d.crew_home)


def wanted_sizes(d, world, p: SupplyParams, demand: np.ndarray) -> np.ndarray:
    """The members each crew wants now (its full size when the rule is off)."""
    if p.sales_per_seller <= 0:
        return d.crew_target.astype(np.int64)
    arrests = world.balls.aware.sum_at(world.fields.arrest_memory, d.crew_home)
    risk = arrests / (arrests + p.risk_half_saturation)
    paid = np.floor(demand / p.sales_per_seller * np.exp(-p.risk_aversion * risk))
    return np.minimum(paid, d.crew_target).astype(np.int64)


def shed_surplus(d, p: SupplyParams, members: np.ndarray, wanted: np.ndarray, draws) -> int:
    """Members beyond what their crew wants leave for the reserve (active and lying-low
    members, each with probability ``quit_rate_per_day``; who leaves by a keyed draw). Returns
    how many left."""
    surplus = np.maximum(members - wanted, 0)
    if not surplus.any():
        return 0
    crews = np.flatnonzero(surplus)
    leave = draws.successes(D_SUPPLY_QUIT, crews, surplus[crews], p.quit_rate_per_day)
    free = np.flatnonzero(np.isin(d.status, (DealerStatus.ACTIVE, DealerStatus.LYING_LOW)))
    gone = 0
    for c, n in zip(crews, leave, strict=True):
        if n == 0:
            continue
        mine = free[d.crew[free] == c]
        pick = mine[np.argsort(draws.uniforms(D_SUPPLY_PICK, mine), kind="stable")[:n]]
        d.status[pick] = DealerStatus.RESERVE
        d.lie_lows[pick] = 0
        gone += len(pick)
    return gone


def recruit(t: int, d, p, sp: SupplyParams, world, draws, events) -> bool:
    """Once a day: members beyond what their crew wants leave (`shed_surplus`), then crews
    below it recruit from the reserve where there is demand (docs/ODD.md 7.21): each missing
    member with probability ``recruit_rate_per_day`` (``p``: `dealers.DealerParams`), where
    the crew's home sees at least ``recruit_min_sales_per_day``; the crew's own reserve first,
    then any. Returns whether crews changed."""
    members = crew_members(d)
    demand = crew_demand(d, world)
    wanted = wanted_sizes(d, world, sp, demand)
    left = shed_surplus(d, sp, members, wanted, draws)
    if left:
        members = crew_members(d)
    deficit = np.maximum(wanted - members, 0)
    want = draws.successes(D_RECRUIT, np.arange(len(d.crew_home)), deficit,
                           p.recruit_rate_per_day)
    want[demand < p.recruit_min_sales_per_day] = 0
    reserve = np.flatnonzero(d.status == DealerStatus.RESERVE)
    recruited = []
    for c in np.flatnonzero(want):
        pool = reserve[d.crew[reserve] == c]
        if len(pool) < want[c]:  # reserve of other crews can join
            pool = np.concatenate([pool, reserve[d.crew[reserve] != c]])
        take = pool[: want[c]]
        take = take[d.status[take] == DealerStatus.RESERVE]
        d.crew[take] = c
        d.status[take] = DealerStatus.ACTIVE
        d.lie_lows[take] = 0
        d.node[take] = world.balls.market.sample(np.full(len(take), d.crew_home[c]),
                                                 draws.uniforms(D_RECRUIT_SITE, take))
        recruited.append(take)
    if not recruited:
        return left > 0
    r = np.concatenate(recruited)
    events.add(t, EventType.RECRUITMENT, d.node[r], r, d.crew[r])
    return True
