"""The per-step part of police and courts as one compiled kernel (`police_step`).

The hourly part (who is on duty, the strategy's focus plan, patrol posts drawn for the hour)
stays in Python (`BrusselsMarketModel._step_police`). Each step, units take this step's posts,
the remembered exposures decay and take the police seen now (`kernels.police_exposure`), then
units arrest sellers within range and courts prosecute up to their weekly capacity (docs/ODD.md
7.6-7.7). Random numbers come from the police stream (`brusim.model.bitgen`) in the order and
number the Python code drew them before it was fused; events and metrics go straight to the
sinks (`brusim.model.sinks`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from brusim.model import bitgen as bg
from brusim.model.kernels import police_exposure, posts_within, where_active_on_shift
from brusim.model.sinks import emit, record

# np.int64, not int: a literal int argument compiles a callee once per value (sinks.py)
ACTIVE, CUSTODY, PRISON = np.int64(0), np.int64(2), np.int64(3)  # brusim.model.dealers
EV_ARREST, EV_PROSECUTION = np.int64(4), np.int64(6)  # brusim.model.events.EventType
# brusim.model.recorder.INDEX
M_ARRESTS, M_PROSECUTIONS, M_POLICE_HOURS = (
    np.int64(6), np.int64(8), np.int64(9))


@njit(cache=True, error_model="numpy")
def police_step(t: int, h: np.ndarray, posts: np.ndarray, old_posts: np.ndarray,
                on_units: np.ndarray, effect: np.ndarray, units: tuple, fields: tuple,
                dealers: tuple, on_shift: np.ndarray, courts: tuple, used: int, ev: tuple,
                rec: tuple) -> tuple[np.ndarray, int]:
    """Units at ``posts`` (this step's row of the hour's posts), exposures, arrests and courts,
    in place. Returns the dealers still selling and the court cases used this week.

    ``old_posts``: the posts of the previous step. ``on_units``: the on-duty units (``posts``
    is one node per on-duty unit) and ``effect`` the deterrence of each. ``units``: (unit
    nodes, sight indptr, sight indices, arrest indptr, arrest indices, units posted per node,
    step hours). ``fields``: (presence, its decay, arrest memory, its decay, arrest risk added
    around an arrest). ``dealers``: (status, until, node, crew); ``on_shift`` per dealer.
    ``courts``: (arrest probability per unit in range, weekly capacity, custody steps,
    sentence steps); ``used``: cases taken this week.
    """
    unit_node, sight_ptr, sight_idx, arrest_ptr, arrest_idx, posts_at, step_hours = units
    presence, decay_risk, arrest_memory, decay_arrest, arrest_risk = fields
    status, until, node, crew = dealers
    arrest_prob, capacity, custody, sentence = courts

    for k in range(on_units.shape[0]):
        unit_node[on_units[k]] = posts[k]
    police_exposure(presence, decay_risk, posts, effect, sight_ptr, sight_idx, arrest_memory,
                    decay_arrest, posts_at, old_posts)
    record(rec, M_POLICE_HOURS, posts, step_hours)

    selling = where_active_on_shift(status, ACTIVE, on_shift)
    cover = np.empty(selling.shape[0])
    covered = False
    for k in range(selling.shape[0]):
        cover[k] = posts_within(node[selling[k]], arrest_ptr, arrest_idx, posts_at, False)
        covered = covered or cover[k] > 0
    if not covered:  # nobody within arrest range of a unit
        return selling, used
    n_caught = 0
    caught_mask = np.empty(selling.shape[0], np.bool_)
    for k in range(selling.shape[0]):
        caught_mask[k] = bg.random(h) < 1.0 - (1.0 - arrest_prob) ** cover[k]
        n_caught += caught_mask[k]
    if n_caught == 0:
        return selling, used
    caught = selling[caught_mask]
    at = node[caught]
    emit(ev, t, EV_ARREST, at, caught, crew[caught].astype(np.int64))
    record(rec, M_ARRESTS, at, 1.0)
    # peers notice arrests: perceived risk rises around the site (Ball.spread)
    count = np.zeros(presence.shape[0], np.int64)
    for s in at:
        for k in range(sight_ptr[s], sight_ptr[s + 1]):
            count[sight_idx[k]] += 1
    for i in range(count.shape[0]):
        arrest_memory[i] += count[i] * arrest_risk
    bg.permute(h, caught)
    free = min(max(capacity - used, 0), caught.shape[0])
    used += free
    for k in range(caught.shape[0]):
        d = caught[k]
        if k < free:
            status[d] = PRISON
            until[d] = t + sentence
        else:
            status[d] = CUSTODY
            until[d] = t + custody
    if free:
        prosecuted = caught[:free]
        emit(ev, t, EV_PROSECUTION, node[prosecuted], prosecuted, np.zeros(0, np.int64))
        record(rec, M_PROSECUTIONS, node[prosecuted], 1.0)
    return where_active_on_shift(status, ACTIVE, on_shift), used
