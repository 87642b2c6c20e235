"""Violence: where sellers of two or more crews stand in the same grid cell, an incident may
happen, more likely with more crews and with recently displaced sellers there (docs/ODD.md
7.20)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from brusim.model import rng as rd
from brusim.model.codes import D_VIOLENCE, EV_VIOLENT_INCIDENT, M_VIOLENT_INCIDENTS
from brusim.model.dealers import DealerState
from brusim.model.events import emit
from brusim.model.jit import kernel, rule
from brusim.model.recorder import record
from brusim.model.sorting import left_position, sorted_ints


class ViolenceParams(NamedTuple):
    base_prob: float  # per contested cell and step, per extra crew
    displaced_factor: float  # relative increase per displaced seller in the cell

    @classmethod
    def from_config(cls, cfg) -> ViolenceParams:
        beh = cfg.behaviour.violence
        return cls(float(beh.base_prob), float(beh.displaced_factor))


def grid_cells(smap, cell_m: float) -> np.ndarray:
    """The square grid cell (``cell_m`` side) of every node."""
    gx = np.floor((smap.x - smap.x.min()) / cell_m).astype(np.int64)
    gy = np.floor((smap.y - smap.y.min()) / cell_m).astype(np.int64)
    return gx * (gy.max() + 1) + gy


@rule
def contested_cells(cells: np.ndarray, crews: np.ndarray, n_crews: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Cells where sellers of at least two crews stand (sorted), and how many crews each holds.

    ``cells``/``crews`` are per seller; crews are in ``[0, n_crews)``.
    """
    keys = sorted_ints(cells.astype(np.int64) * n_crews + crews)
    out_cell = np.empty(keys.shape[0], np.int64)
    out_k = np.empty(keys.shape[0], np.int64)
    m = 0
    i = 0
    while i < keys.shape[0]:
        cell = keys[i] // n_crews
        k = 0
        last = -1
        while i < keys.shape[0] and keys[i] // n_crews == cell:
            if keys[i] != last:
                k += 1
                last = keys[i]
            i += 1
        if k >= 2:
            out_cell[m] = cell
            out_k[m] = k
            m += 1
    return out_cell[:m], out_k[:m]


@rule
def violence_odds(t: int, selling: np.ndarray, seller_nodes: np.ndarray, cell: np.ndarray,
                  d: DealerState, p: ViolenceParams) -> tuple[np.ndarray, np.ndarray]:
    """Contested cells (sorted) and the probability of an incident in each this step:
    ``base_prob`` × (crews - 1) × (1 + ``displaced_factor`` × displaced sellers there)."""
    cells = np.empty(selling.shape[0], np.int64)
    crews = np.empty(selling.shape[0], np.int64)
    for k in range(selling.shape[0]):
        cells[k] = cell[seller_nodes[k]]
        crews[k] = d.crew[selling[k]]
    contested, n_crews_in = contested_cells(cells, crews, d.crew_home.shape[0])
    n_disp = np.zeros(contested.shape[0], np.int64)
    if contested.shape[0]:
        for k in range(selling.shape[0]):
            if d.displaced_until[selling[k]] > t:
                pos = left_position(contested, cells[k])
                if pos < contested.shape[0] and contested[pos] == cells[k]:
                    n_disp[pos] += 1
    prob = np.empty(contested.shape[0])
    for j in range(contested.shape[0]):
        prob[j] = p.base_prob * (n_crews_in[j] - 1) * (1.0 + p.displaced_factor * n_disp[j])
    return contested, prob


@kernel
def violence_step(t: int, key: np.ndarray, selling: np.ndarray, seller_nodes: np.ndarray,
                  cell: np.ndarray, d: DealerState, p: ViolenceParams, ev: tuple, rec: tuple
                  ) -> None:
    """Each contested cell (`violence_odds`) sees an incident with its probability, recorded
    at the first seller standing in it (in the order of ``selling``)."""
    d, p = DealerState(*d), ViolenceParams(*p)  # the caller passes plain tuples
    if selling.shape[0] < 2:
        return
    contested, prob = violence_odds(t, selling, seller_nodes, cell, d, p)
    if contested.shape[0] == 0:
        return
    hit = np.empty(contested.shape[0], np.int64)
    n_hit = 0
    for j in range(contested.shape[0]):
        if rd.uniform(key, D_VIOLENCE, t, contested[j], 0) < prob[j]:
            hit[n_hit] = contested[j]
            n_hit += 1
    if n_hit == 0:
        return
    first = np.empty(n_hit, np.int64)
    for j in range(n_hit):
        for k in range(selling.shape[0]):
            if cell[seller_nodes[k]] == hit[j]:
                first[j] = selling[k]
                break
    at = d.node[first]
    emit(ev, t, EV_VIOLENT_INCIDENT, at, first, d.crew[first].astype(np.int64))
    record(rec, M_VIOLENT_INCIDENTS, at, 1.0)
