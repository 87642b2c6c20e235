"""Courts: the arrested are prosecuted up to a weekly capacity, the rest released from custody
(docs/ODD.md 7.7). Prosecuted dealers go to prison (then to the reserve); the others are held in
custody and return to the street (`dealers.end_timed_statuses`)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from brusim.model import rng as rd
from brusim.model.codes import (
    CUSTODY,
    D_COURT_ORDER,
    EV_PROSECUTION,
    M_PROSECUTIONS,
    PRISON,
)
from brusim.model.dealers import DealerState
from brusim.model.events import emit
from brusim.model.jit import rule
from brusim.model.recorder import record


class CourtParams(NamedTuple):
    weekly_capacity: int  # prosecutions a week (courts.weekly_capacity)
    custody_steps: int
    sentence_steps: int

    @classmethod
    def from_config(cls, cfg, clock) -> CourtParams:
        c = cfg.courts
        return cls(int(c.weekly_capacity), clock.steps(float(c.custody_hours)),
                   clock.steps(float(c.sentence_weeks) * 7 * 24))


@rule
def prosecute(t: int, key: np.ndarray, caught: np.ndarray, d: DealerState, c: CourtParams,
              used: int, ev: tuple, rec: tuple) -> int:
    """The ``caught`` dealers in a random order keyed by dealer (`rng.order`): the first go to
    prison while this week's capacity lasts, the others to custody. Returns the cases used
    this week (``used`` before)."""
    caught = rd.order(key, D_COURT_ORDER, t, caught)
    free = min(max(c.weekly_capacity - used, 0), caught.shape[0])
    for k in range(caught.shape[0]):
        i = caught[k]
        if k < free:
            d.status[i] = PRISON
            d.until[i] = t + c.sentence_steps
        else:
            d.status[i] = CUSTODY
            d.until[i] = t + c.custody_steps
    if free:
        prosecuted = caught[:free]
        at = d.node[prosecuted]
        emit(ev, t, EV_PROSECUTION, at, prosecuted, np.zeros(0, np.int64))
        record(rec, M_PROSECUTIONS, at, 1.0)
    return used + free
