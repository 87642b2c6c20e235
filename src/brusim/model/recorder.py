"""Columnar metrics recorder: region-wide every step, per area (hotspot catchments, police zones,
region) every ``record_every`` steps. Faster than a per-agent DataCollector, same idea.

Compiled phase kernels add their metric sums themselves (`record`) through a **recorder sink**
from `Recorder.sink`: the per-signature totals, each node's signature and this step's
region-wide totals; metric indices are the ``np.int64`` constants of `brusim.model.codes`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from brusim.model.codes import METRIC_INDEX, METRICS, STATE_METRICS
from brusim.model.jit import kernel, rule

INDEX = METRIC_INDEX  # metric name -> column
_NO_WEIGHTS = np.zeros(0)  # one scalar weight for every entry


class Recorder:
    """Accumulates per-node counts and folds them into areas at each recording interval.

    `add` sums each entry into its node's signature (the set of areas a node belongs to: its
    zone, the region and any hotspot catchments); `flush` maps the few signatures to the areas
    (hotspot catchments, police zones, region), so a recording interval costs work in
    proportion to the events in it.
    """

    def __init__(self, smap, record_every: int, step_hours: float, origin: int = 0):
        self.n = smap.n_nodes
        self.origin = origin  # the step recorded as step 0 (a branch point)
        self.record_every = record_every
        self.step_hours = step_hours
        self.step_in_interval = 0
        hs = smap.hotspots
        self.area_kind = ["hotspot"] * len(hs) + ["zone"] * len(smap.zone_ids) + ["region"]
        self.area_name = list(hs.ids) + list(smap.zone_ids) + ["region"]
        zone_rows = sp.csr_matrix(
            (np.ones(self.n), (smap.zone.astype(np.int64), np.arange(self.n))),
            shape=(len(smap.zone_ids), self.n),
        )
        region = sp.csr_matrix(np.ones((1, self.n)))
        hotspot_rows = hs.membership(self.n)
        self.membership = sp.vstack([hotspot_rows, zone_rows, region]).tocsr()
        self._signature, signature_areas = area_signatures(self.membership)
        self._n_areas, self._n_signatures = signature_areas.shape
        # (signature, area, weight) triples: areas are summed from signatures without BLAS
        # contiguous, as after a pickle: one specialisation of `fold_areas`, restored or not
        self._pair_area, self._pair_signature = (np.ascontiguousarray(a, np.int64)
                                                 for a in signature_areas.nonzero())
        self._pair_weight = signature_areas[self._pair_area, self._pair_signature]
        # (signature, metric) totals since the last flush
        self._by_signature = np.zeros(self._n_signatures * len(METRICS))
        self.area_rows: list[np.ndarray] = []
        self.area_steps: list[int] = []
        self._region = np.zeros((1024, len(METRICS)))  # region-wide rows, grown by doubling
        self._n_region = 0
        self.region_now = np.zeros(len(METRICS))

    def __getstate__(self) -> dict:
        """Pickle only the recorded rows, the area rows as one array rather than thousands of
        small ones (checkpoints of a long run pickle the recorder again and again)."""
        state = self.__dict__.copy()
        state["_region"] = self._region[: self._n_region].copy()
        state["area_rows"] = _stack(self.area_rows, (0, self._n_areas, len(METRICS)), np.float32)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.area_rows = list(state["area_rows"])

    def add(self, metric: str, nodes: np.ndarray, weight: float | np.ndarray = 1.0) -> None:
        """Add ``weight`` at each of ``nodes`` for ``metric`` (this step)."""
        n = len(nodes)
        if n == 0:
            return
        k = INDEX[metric]
        if isinstance(weight, np.ndarray):
            weights = np.asarray(weight, dtype=np.float64)
            self.region_now[k] += float(weights.sum())
            accumulate(self._by_signature, self._signature, nodes, k, len(METRICS), 0.0,
                       weights)
        else:
            weight = float(weight)
            self.region_now[k] += weight * n
            accumulate(self._by_signature, self._signature, nodes, k, len(METRICS), weight,
                       _NO_WEIGHTS)

    def sink(self) -> tuple:
        """What a compiled kernel needs to add entries (`brusim.model.sinks.record`)."""
        return self._by_signature, self._signature, self.region_now, len(METRICS)

    def end_step(self, step: int) -> None:
        if self._n_region == len(self._region):
            grown = np.zeros((max(2 * len(self._region), 1024), len(METRICS)))
            grown[: self._n_region] = self._region[: self._n_region]
            self._region = grown
        self._region[self._n_region] = self.region_now
        self._n_region += 1
        self.region_now[:] = 0.0
        self.step_in_interval += 1
        if self.step_in_interval >= self.record_every:
            self.flush(step)

    def flush(self, step: int) -> None:
        if self.step_in_interval == 0:
            return
        values = self._area_values()
        for m in STATE_METRICS:
            values[:, INDEX[m]] /= self.step_in_interval
        self.area_rows.append(values.astype(np.float32))
        self.area_steps.append(step + 1 - self.step_in_interval - self.origin)
        self._by_signature[:] = 0.0
        self.step_in_interval = 0

    def _area_values(self) -> np.ndarray:
        """(areas, metrics) sums of the entries added since the last flush."""
        values = np.zeros((self._n_areas, len(METRICS)))
        fold_areas(values, self._by_signature, self._pair_area, self._pair_signature,
                   self._pair_weight)
        return values

    def region_frame(self) -> pd.DataFrame:
        """Region-wide metrics per step."""
        data = self._region[: self._n_region].copy()
        df = pd.DataFrame(data, columns=list(METRICS))
        df.insert(0, "step", np.arange(len(df), dtype=np.int32))
        return df

    def area_frame(self, steps_per_day: int) -> pd.DataFrame:
        """Tidy per-area table: one row per (interval start step, area)."""
        if not self.area_rows:
            return pd.DataFrame(columns=["step", "day", "week", "area_kind", "area", *METRICS])
        vals = np.concatenate(self.area_rows)
        n_areas = len(self.area_name)
        steps = np.repeat(np.array(self.area_steps, dtype=np.int32), n_areas)
        df = pd.DataFrame(vals, columns=list(METRICS))
        df.insert(0, "area", pd.Categorical(np.tile(self.area_name, len(self.area_rows))))
        df.insert(0, "area_kind", pd.Categorical(np.tile(self.area_kind, len(self.area_rows))))
        df.insert(0, "week", (steps // (7 * steps_per_day)).astype(np.int32))
        df.insert(0, "day", (steps // steps_per_day).astype(np.int32))
        df.insert(0, "step", steps)
        return df


def _stack(rows: list[np.ndarray], empty_shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """Equal-shaped ``rows`` as one array (``empty_shape`` when there are none)."""
    return np.stack(rows) if rows else np.zeros(empty_shape, dtype)


def area_signatures(membership: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Group nodes by the areas they belong to.

    ``membership`` is (areas, nodes). Returns each node's signature index and the dense
    (areas, signatures) membership of the signatures, so that
    ``membership @ x == signature_areas @ (x summed by signature)``.
    """
    node_areas = membership.T.tocsr()
    node_areas.sum_duplicates()
    index: dict[tuple, int] = {}
    signature = np.empty(node_areas.shape[0], np.int64)
    for i in range(node_areas.shape[0]):
        lo, hi = node_areas.indptr[i], node_areas.indptr[i + 1]
        key = (node_areas.indices[lo:hi].tobytes(), node_areas.data[lo:hi].tobytes())
        signature[i] = index.setdefault(key, len(index))
    first = np.zeros(len(index), np.int64)
    first[signature[::-1]] = np.arange(len(signature))[::-1]  # one node per signature
    return signature, np.asarray(membership[:, first].todense(), dtype=np.float64)


@rule
def accumulate(totals: np.ndarray, signature: np.ndarray, nodes: np.ndarray, metric: int,
               n_metrics: int, weight: float, weights: np.ndarray) -> None:
    """``totals[signature[node] * n_metrics + metric] += weight`` for each of ``nodes``, in
    order (``weights[k]`` for the k-th node when ``weights`` is not empty)."""
    if weights.shape[0]:
        for k in range(nodes.shape[0]):
            totals[signature[nodes[k]] * n_metrics + metric] += weights[k]
    else:
        for k in range(nodes.shape[0]):
            totals[signature[nodes[k]] * n_metrics + metric] += weight


@rule
def record(rec: tuple, metric: int, nodes: np.ndarray, weight: float) -> None:
    """Add ``weight`` at each of ``nodes`` for ``metric`` (``Recorder.add`` with a scalar)."""
    totals, signature, region_now, n_metrics = rec
    if nodes.shape[0] == 0:
        return
    region_now[metric] += weight * nodes.shape[0]
    accumulate(totals, signature, nodes, metric, n_metrics, weight, _NO_WEIGHTS)


@kernel
def fold_areas(values: np.ndarray, by_signature: np.ndarray, pair_area: np.ndarray,
               pair_signature: np.ndarray, pair_weight: np.ndarray) -> None:
    """``values[area] += by_signature[signature] * weight`` for each (area, signature, weight)
    pair in order (``np.add.at``): (areas, metrics) sums from the per-signature sums."""
    n_metrics = values.shape[1]
    for p in range(pair_area.shape[0]):
        a, s, w = pair_area[p], pair_signature[p], pair_weight[p]
        for m in range(n_metrics):
            values[a, m] += by_signature[s * n_metrics + m] * w
