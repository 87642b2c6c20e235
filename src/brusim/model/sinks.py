"""Event rows and recorder sums written from inside compiled kernels.

A fused phase kernel (`brusim.model.step_users`, `step_dealers`, `step_police`,
`step_outreach`) writes its events and metric sums itself, in the order the per-rule Python code
used to (`EventLog.add`, `Recorder.add`), instead of returning arrays for Python to pass on.
It gets:

- an **event sink** from `EventLog.sink`: the log's column buffers (step, type, node, agent,
  other), its per-type counts and a one-element cursor (the next free row), with room reserved
  for the rows the phase can write; `EventLog.commit` takes the cursor back;
- a **recorder sink** from `Recorder.sink`: the per-signature totals, each node's signature
  and this step's region-wide totals.

Callers pass event types and metric indices as ``np.int64`` constants: numba compiles a
function once per *value* of a plain ``int`` constant argument (a literal type), which made
`emit` and `record` compile a dozen times each (~17 s of a first run's compilation).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from brusim.model.kernels import accumulate, write_events

_NO_WEIGHTS = np.zeros(0)  # one scalar weight for every entry


@njit(cache=True, error_model="numpy")
def emit(ev: tuple, step: int, etype: int, node: np.ndarray, agent: np.ndarray,
         other: np.ndarray) -> None:
    """Append events of one type (``EventLog.add``; ``other`` empty: -1) to the event sink."""
    steps, types, nodes, agents, others, counts, cursor = ev
    n = node.shape[0]
    if n == 0:
        return
    write_events(steps, types, nodes, agents, others, cursor[0], step, etype, node, agent,
                 other)
    cursor[0] += n
    counts[etype] += n


@njit(cache=True, error_model="numpy")
def record(rec: tuple, metric: int, nodes: np.ndarray, weight: float) -> None:
    """Add ``weight`` at each of ``nodes`` for ``metric`` (``Recorder.add`` with a scalar)."""
    totals, signature, region_now, n_metrics = rec
    if nodes.shape[0] == 0:
        return
    region_now[metric] += weight * nodes.shape[0]
    accumulate(totals, signature, nodes, metric, n_metrics, weight, _NO_WEIGHTS)
