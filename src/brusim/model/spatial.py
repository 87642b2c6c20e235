"""Vectorised spatial helpers over CSR neighbourhood lists (node -> nearby nodes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brusim.map.streetmap import StreetMap


@dataclass(frozen=True)
class Ball:
    """Nodes within ``radius_m`` (straight line) of each node, as CSR ``indptr``/``indices``."""

    radius_m: float
    indptr: np.ndarray
    indices: np.ndarray

    @classmethod
    def build(cls, smap: StreetMap, radius_m: float) -> Ball:
        indptr, indices = smap.ball(radius_m)
        return cls(radius_m, indptr, indices)

    def gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Concatenated neighbour lists of ``rows`` and, for each entry, its position in rows."""
        starts = self.indptr[rows]
        counts = self.indptr[rows + 1] - starts
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, np.int32), np.zeros(0, np.int64)
        seg = np.repeat(np.arange(len(rows)), counts)
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        return self.indices[np.repeat(starts, counts) + offsets], seg

    def spread(self, nodes: np.ndarray, weights: np.ndarray | float, n: int) -> np.ndarray:
        """Per-node sum of ``weights`` placed at ``nodes`` and spread to every node in the ball."""
        if len(nodes) == 0:
            return np.zeros(n)
        nb, seg = self.gather(nodes)
        w = np.broadcast_to(np.asarray(weights, dtype=float), (len(nodes),))[seg]
        return np.bincount(nb, weights=w, minlength=n)

    def sum_at(self, field: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For each row node, the sum of ``field`` over its ball."""
        if len(rows) == 0:
            return np.zeros(0)
        nb, seg = self.gather(rows)
        return np.bincount(seg, weights=field[nb], minlength=len(rows))

    def sample(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One uniformly random node from each row's ball (the row itself if the ball is empty)."""
        starts = self.indptr[rows]
        counts = self.indptr[rows + 1] - starts
        pick = (rng.random(len(rows)) * counts).astype(np.int64)
        out = rows.astype(np.int64).copy()
        ok = counts > 0
        out[ok] = self.indices[starts[ok] + pick[ok]]
        return out


def segment_argmax(values: np.ndarray, seg: np.ndarray, n_seg: int) -> np.ndarray:
    """Index (into ``values``) of the largest value within each segment; -1 for empty segments."""
    out = np.full(n_seg, -1, dtype=np.int64)
    if len(values) == 0:
        return out
    order = np.lexsort((-values, seg))
    first = np.ones(len(order), bool)
    first[1:] = seg[order][1:] != seg[order][:-1]
    out[seg[order][first]] = order[first]
    return out


def weighted_choice(cum_weights: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Draw ``size`` indices with probability proportional to the weights whose cumsum is given."""
    total = cum_weights[-1]
    return np.searchsorted(cum_weights, rng.random(size) * total, side="right").clip(
        0, len(cum_weights) - 1
    )


def euclid(smap: StreetMap, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Straight-line distance (m) between node arrays ``a`` and ``b``."""
    return np.hypot(smap.x[a] - smap.x[b], smap.y[a] - smap.y[b])
