"""Vectorised spatial helpers over CSR neighbourhood lists (node -> nearby nodes).

The helpers are called thousands of times per simulated week on small arrays, so they are
written to keep the number of numpy calls per invocation low (the per-call overhead, not the
arithmetic, dominates at these sizes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from brusim.map.streetmap import StreetMap


@dataclass(frozen=True)
class Ball:
    """Nodes within ``radius_m`` (straight line) of each node, as CSR ``indptr``/``indices``."""

    radius_m: float
    indptr: np.ndarray
    indices: np.ndarray
    counts: np.ndarray = field(init=False, repr=False, compare=False)  # list length per node
    all_nonempty: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        counts = np.diff(self.indptr)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "all_nonempty", bool(len(counts) == 0 or counts.min() > 0))

    @classmethod
    def build(cls, smap: StreetMap, radius_m: float) -> Ball:
        indptr, indices = smap.ball(radius_m)
        return cls(radius_m, indptr, indices)

    def gather_segments(
        self, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Like `gather`, plus each row's start offset and length in the concatenated list."""
        counts = self.counts[rows]
        ends = counts.cumsum()
        total = int(ends[-1]) if len(ends) else 0
        if total == 0:
            return self.indices[:0], np.zeros(0, np.int64), ends - counts, counts
        firsts = ends - counts
        shift = (self.indptr[rows] - firsts).repeat(counts)
        seg = np.arange(len(rows)).repeat(counts)
        return self.indices[shift + np.arange(total)], seg, firsts, counts

    @cached_property
    def padded(self) -> np.ndarray:
        """(n + 1, max list length) neighbour table, rows padded with the sentinel node ``n``.

        Row ``n`` is all sentinel. Arrays indexed by it need one spare slot at the end; cheaper
        than `gather` for small balls, at the price of handling the padding.
        """
        n = len(self.counts)
        width = max(int(self.counts.max(initial=0)), 1)
        table = np.full((n + 1, width), n, np.int32)
        rows = np.arange(n).repeat(self.counts)
        table[rows, np.arange(len(self.indices)) - self.indptr[rows]] = self.indices
        return table

    def gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Concatenated neighbour lists of ``rows`` and, for each entry, its position in rows."""
        nb, seg, _, _ = self.gather_segments(rows)
        return nb, seg

    def spread(self, nodes: np.ndarray, weights: np.ndarray | float, n: int) -> np.ndarray:
        """Per-node sum of ``weights`` placed at ``nodes`` and spread to every node in the ball."""
        if len(nodes) == 0:
            return np.zeros(n)
        nb, seg = self.gather(nodes)
        if np.ndim(weights) == 0:
            return np.bincount(nb, minlength=n) * float(weights)
        return np.bincount(nb, weights=np.asarray(weights, dtype=float)[seg], minlength=n)

    def sum_at(self, field: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For each row node, the sum of ``field`` over its ball."""
        if len(rows) == 0:
            return np.zeros(0)
        nb, seg = self.gather(rows)
        return np.bincount(seg, weights=field[nb], minlength=len(rows))

    def sample(self, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One uniformly random node from each row's ball by the uniforms ``u`` (one per row;
        the row itself if the ball is empty)."""
        counts = self.counts[rows]
        pick = (u * counts).astype(np.int64)
        if self.all_nonempty:
            return self.indices[self.indptr[rows] + pick].astype(np.int64, copy=False)
        out = rows.astype(np.int64)
        ok = counts > 0
        out[ok] = self.indices[self.indptr[rows[ok]] + pick[ok]]
        return out


_XY_CACHE: dict[tuple[int, type], tuple[StreetMap, np.ndarray]] = {}


def node_xy(smap: StreetMap, dtype: type = np.complex128) -> np.ndarray:
    """Node coordinates as complex numbers ``x + iy`` (one array op per distance), cached.

    ``np.complex64`` gives single-precision coordinates centred on the map (about 1 mm
    resolution over a city): enough for weights and radius tests on many pairs at once.
    """
    key = (id(smap), dtype)
    hit = _XY_CACHE.get(key)
    if hit is not None and hit[0] is smap:
        return hit[1]
    if len(_XY_CACHE) >= 8:  # a few maps at most are alive at once
        _XY_CACHE.clear()
    xy = smap.x + 1j * smap.y
    if dtype != np.complex128:
        xy = (xy - xy.mean()).astype(dtype)
    _XY_CACHE[key] = (smap, xy)
    return xy


def node_xy32(smap: StreetMap) -> tuple[np.ndarray, np.ndarray]:
    """Centred single-precision node coordinates as two contiguous arrays (x, y), the same
    values as `node_xy` (``np.complex64``)."""
    xy = node_xy(smap, np.complex64)
    return np.ascontiguousarray(xy.real), np.ascontiguousarray(xy.imag)
