"""Street demand that responds to its effective price (issue 20, item 1; docs/model.md).

Buying on the street costs money and time: the search, the failed attempts, the trip, police
in the way. Moore (1973) counted the search time in the *effective* price of heroin; raising it
is what street enforcement can do to demand (Caulkins & Reuter 2010). Each user remembers the
hours their recent street searches took (`DemandState.cost_hours`, an exponential average over
searches, a search given up counting its hours plus ``give_up_hours``), and with it:

- **buys less often**: the craving hazard is multiplied by ``(1 + cost / price_hours) **
  elasticity``, the effective price relative to the money price alone (``price_hours``: the
  hours of search worth the money price of a purchase), ``elasticity`` that of the frequency of
  use (NRC 2001, p. 43: -0.3 to -0.5 conditional on use, Chaloupka et al. 1998; -0.5, Grossman
  et al. 1996);
- **may turn to an off-street channel** (phone, delivery) when a craving starts: with
  probability ``offstreet_prob × cost / (cost + price_hours)``; there for an exponential time of
  mean ``offstreet_weeks``, buying at home at the base hazard (counted as ``offstreet_purchases``
  at the home node, never at a street site), then back to the street with the same memory.

Treatment entries (outreach, `brusim.model.outreach`) and recoveries are the users' other ways
out of the street market. With ``elasticity = 0`` and ``offstreet_prob = 0`` the rule changes
nothing: the model is the fixed-demand one, draw for draw (tests/test_demand.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from brusim.model import rng as rd
from brusim.model.codes import (
    D_CHANNEL,
    D_OFFSTREET_STAY,
    IDLE,
    M_OFFSTREET_PURCHASES,
    M_OFFSTREET_RETURNS,
    M_OFFSTREET_SWITCHES,
    OFFSTREET,
)
from brusim.model.jit import rule
from brusim.model.recorder import record


class DemandState(NamedTuple):
    cost_hours: np.ndarray  # float64 remembered hours a street purchase takes
    factor: np.ndarray  # float64 the craving hazard's multiplier, (1 + cost/price)^elasticity
    search_start: np.ndarray  # int64 step the current street search began


class DemandParams(NamedTuple):
    """The rule's settings in step units (`from_config`)."""

    elasticity: float
    price_hours: float
    give_up_hours: float
    memory: float  # weight of the latest search in the remembered cost
    offstreet_prob: float
    offstreet_steps: float  # mean stay off the street
    step_hours: float

    @classmethod
    def from_config(cls, cfg, clock) -> DemandParams:
        d = cfg.behaviour.demand
        return cls(elasticity=float(d.elasticity), price_hours=float(d.price_hours),
                   give_up_hours=float(d.give_up_hours),
                   memory=1.0 - np.exp(-1.0 / float(d.memory_searches)),
                   offstreet_prob=float(d.offstreet_prob),
                   offstreet_steps=float(d.offstreet_weeks) * clock.steps_per_week,
                   step_hours=clock.step_minutes / 60.0)


def init_demand(n_users: int) -> DemandState:
    """Every user starts with no remembered search cost (factor 1)."""
    return DemandState(np.zeros(n_users), np.ones(n_users), np.zeros(n_users, np.int64))


@rule
def searches_ended(t: int, d: DemandState, p: DemandParams, buyers: np.ndarray,
                   failed: np.ndarray, status: np.ndarray) -> None:
    """Searches that ended now update what a street purchase is remembered to cost: the
    ``buyers`` bought, the ``failed`` searchers whose ``status`` is now idle gave up."""
    for k in range(buyers.shape[0]):
        _remember(d, p, buyers[k], (t - d.search_start[buyers[k]]) * p.step_hours)
    for k in range(failed.shape[0]):
        i = failed[k]
        if status[i] == IDLE:
            _remember(d, p, i, (t - d.search_start[i]) * p.step_hours + p.give_up_hours)


@rule(inline=True)
def _remember(d: DemandState, p: DemandParams, i: int, hours: float) -> None:
    d.cost_hours[i] += p.memory * (hours - d.cost_hours[i])
    if p.elasticity != 0.0:
        d.factor[i] = (1.0 + d.cost_hours[i] / p.price_hours) ** p.elasticity


@rule
def choose_channel(t: int, key: np.ndarray, d: DemandState, p: DemandParams,
                   status: np.ndarray, until: np.ndarray, ready: np.ndarray,
                   home: np.ndarray, min_gap_steps: int, start: np.ndarray,
                   rec: tuple) -> np.ndarray:
    """The users who start craving now (``start``) buy off the street if they are there, or
    turn to it (probability ``offstreet_prob × cost / (cost + price_hours)``), and go out to
    search otherwise; returns the street searchers (in order), whose search starts now."""
    street = np.empty(start.shape[0], np.int64)
    n = 0
    for k in range(start.shape[0]):
        i = start[k]
        off = status[i] == OFFSTREET
        if not off and p.offstreet_prob > 0.0 and d.cost_hours[i] > 0.0:
            share = d.cost_hours[i] / (d.cost_hours[i] + p.price_hours)
            if rd.uniform(key, D_CHANNEL, t, i, 0) < p.offstreet_prob * share:
                off = True
                status[i] = OFFSTREET
                stay = p.offstreet_steps * rd.exponential(key, D_OFFSTREET_STAY, t, i, 0)
                until[i] = t + 1 + np.int64(min(stay, 2.0**50))
                record(rec, M_OFFSTREET_SWITCHES, home[i:i + 1], 1.0)
        if off:
            ready[i] = t + min_gap_steps
            record(rec, M_OFFSTREET_PURCHASES, home[i:i + 1], 1.0)
        else:
            d.search_start[i] = t
            street[n] = i
            n += 1
    return street[:n]


@rule
def end_offstreet_stays(t: int, status: np.ndarray, until: np.ndarray, home: np.ndarray,
                        rec: tuple) -> None:
    """Off-street users whose stay is over come back to the street market (idle)."""
    for i in range(status.shape[0]):
        if status[i] == OFFSTREET and until[i] <= t:
            status[i] = IDLE
            record(rec, M_OFFSTREET_RETURNS, home[i:i + 1], 1.0)
