"""Columnar metrics recorder: region-wide every step, per area (hotspot catchments, police zones,
region) every ``record_every`` steps. Faster than a per-agent DataCollector, same idea."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

METRICS = (
    "dealers_active",       # state: sellers on their site and on shift (mean over the interval)
    "dealer_hours",         # sellers present × hours
    "transactions",
    "public_use",
    "room_entries",
    "violent_incidents",
    "arrests",
    "releases_without_prosecution",
    "prosecutions",
    "police_hours",         # on-duty unit-hours present
    "outreach_contacts",
    "treatment_entries",
    "unserved_searches",    # failed purchase attempts (demand without a seller)
    "users_searching",      # state: users out searching (mean over the interval)
)
INDEX = {m: i for i, m in enumerate(METRICS)}
STATE_METRICS = ("dealers_active", "users_searching")


class Recorder:
    """Accumulates per-node counts and folds them into areas at each recording interval.

    `add` only buffers ``(metric, nodes, weight)``; `flush` sums the buffered entries by node
    signature (the set of areas a node belongs to: its zone, the region and any hotspot
    catchments) and maps the few signatures to the areas (hotspot catchments, police zones,
    region), so a recording interval costs work in proportion to the events in it.
    """

    def __init__(self, smap, record_every: int, step_hours: float):
        self.n = smap.n_nodes
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
        self._pair_area, self._pair_signature = signature_areas.nonzero()
        self._pair_weight = signature_areas[self._pair_area, self._pair_signature]
        # buffered add() calls since the last flush: metric, nodes, count, scalar weight (0 when
        # the weights are an array, kept with the call's position in _weight_arrays)
        self._metric_ids: list[int] = []
        self._nodes: list[np.ndarray] = []
        self._lengths: list[int] = []
        self._weights: list[float] = []
        self._weight_arrays: list[tuple[int, np.ndarray]] = []
        self.area_rows: list[np.ndarray] = []
        self.area_steps: list[int] = []
        self.region_rows: list[np.ndarray] = []
        self.region_now = np.zeros(len(METRICS))

    def add(self, metric: str, nodes: np.ndarray, weight: float | np.ndarray = 1.0) -> None:
        """Add ``weight`` at each of ``nodes`` for ``metric`` (this step).

        ``nodes`` is kept by reference until the next flush: pass a fresh array (as fancy
        indexing returns), not one that will be modified in place.
        """
        n = len(nodes)
        if n == 0:
            return
        k = INDEX[metric]
        if isinstance(weight, np.ndarray):
            weights = np.array(weight, dtype=np.float64)
            self._weight_arrays.append((len(self._nodes), weights))
            self.region_now[k] += float(weights.sum())
            weight = 0.0
        else:
            weight = float(weight)
            self.region_now[k] += weight * n
        self._metric_ids.append(k)
        self._nodes.append(nodes)
        self._lengths.append(n)
        self._weights.append(weight)

    def end_step(self, step: int) -> None:
        self.region_rows.append(self.region_now.copy())
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
        self.area_steps.append(step + 1 - self.step_in_interval)
        self._metric_ids, self._nodes, self._lengths = [], [], []
        self._weights, self._weight_arrays = [], []
        self.step_in_interval = 0

    def _entry_weights(self, lengths: np.ndarray) -> np.ndarray:
        """Weight of every buffered entry (scalar weights repeated, arrays copied in)."""
        weight = np.repeat(np.array(self._weights), lengths)
        if self._weight_arrays:
            ends = np.cumsum(lengths)
            for i, w in self._weight_arrays:
                weight[ends[i] - lengths[i]:ends[i]] = w
        return weight

    def _area_values(self) -> np.ndarray:
        """(areas, metrics) sums of the entries buffered since the last flush."""
        n_metrics, n_signatures = len(METRICS), self._n_signatures
        values = np.zeros((self._n_areas, n_metrics))
        if not self._nodes:
            return values
        lengths = np.array(self._lengths, np.int64)
        nodes = np.concatenate(self._nodes)
        metric = np.repeat(np.array(self._metric_ids, np.int64), lengths)
        by_signature = np.bincount(self._signature[nodes] * n_metrics + metric,
                                   weights=self._entry_weights(lengths),
                                   minlength=n_signatures * n_metrics).reshape(-1, n_metrics)
        np.add.at(values, self._pair_area,
                  by_signature[self._pair_signature] * self._pair_weight[:, None])
        return values

    def region_frame(self) -> pd.DataFrame:
        """Region-wide metrics per step."""
        data = np.array(self.region_rows) if self.region_rows else np.zeros((0, len(METRICS)))
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
