"""`StreetMap`: the compiled, immutable street network that agents live on.

Everything is a numpy array indexed by node number ``0..n_nodes-1`` so that agent state can be
kept as integer node indices and every rule can be applied to a whole population at once.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from brusim.map import balls

if TYPE_CHECKING:
    import scipy.sparse as sp
    from scipy.spatial import cKDTree


@dataclass(frozen=True)
class PlaceSet:
    """Named places (hotspots, stations, rooms) snapped to street nodes.

    ``catchment_indptr/indices`` is a CSR list: the nodes of place ``i`` are
    ``catchment_indices[catchment_indptr[i]:catchment_indptr[i+1]]`` (nodes within the catchment
    network distance). ``dist`` holds network distances (m) from each place's node to every node.
    """

    ids: tuple[str, ...]
    names: tuple[str, ...]
    node: np.ndarray  # int32 (P,)
    snap_m: np.ndarray  # float32 (P,) distance from the given coordinate to the node
    attrs: tuple[dict, ...]  # the remaining config fields (listed, footfall, status...)
    catchment_indptr: np.ndarray
    catchment_indices: np.ndarray
    dist: np.ndarray  # float32 (P, N)

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, place_id: str) -> int:
        """Position of ``place_id``; raises KeyError listing valid ids."""
        try:
            return self.ids.index(place_id)
        except ValueError:
            raise KeyError(
                f"unknown place {place_id!r}; valid: {', '.join(self.ids)}"
            ) from None

    def catchment(self, i: int) -> np.ndarray:
        """Nodes within the catchment of place ``i``."""
        return self.catchment_indices[self.catchment_indptr[i] : self.catchment_indptr[i + 1]]

    def membership(self, n_nodes: int) -> sp.csr_matrix:
        """Sparse (P, N) 0/1 matrix: row i marks the catchment nodes of place i."""
        import scipy.sparse as sp  # scipy.sparse loads in ~0.2 s: only when a matrix is asked for

        counts = np.diff(self.catchment_indptr)
        rows = np.repeat(np.arange(len(self.ids)), counts)
        data = np.ones(len(rows), dtype=np.float32)
        return sp.csr_matrix((data, (rows, self.catchment_indices)), shape=(len(self.ids), n_nodes))


@dataclass(frozen=True)
class StreetMap:
    """Compact street network in Belgian Lambert 72 (EPSG:31370) metres.

    Adjacency is undirected CSR (``indptr``, ``indices``, ``length_m``). Node labels:
    ``zone`` indexes ``zone_names``/``zone_ids``; ``commune`` indexes ``commune_names``.
    ``ball_dir`` is not map data but the folder where `ball` keeps its tables on disk (set for a
    map served from the cache, None otherwise); its ``persist=False`` keeps it out of the cache.
    """

    name: str
    source_hash: str
    x: np.ndarray  # float64 (N,)
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    osmid: np.ndarray  # int64 (N,) original node ids
    indptr: np.ndarray  # int32 (N+1,)
    indices: np.ndarray  # int32 (2E,)
    length_m: np.ndarray  # float32 (2E,)
    zone: np.ndarray  # int8 (N,)
    zone_ids: tuple[str, ...]
    zone_names: tuple[str, ...]
    commune: np.ndarray  # int16 (N,)
    commune_names: tuple[str, ...]
    node_population: np.ndarray  # float32 (N,) residents attributed to each node
    hotspots: PlaceSet
    stations: PlaceSet
    rooms: PlaceSet
    stats: dict = field(default_factory=dict)  # compile report (dropped nodes, fills...)
    zone_officers: tuple[int, ...] = ()  # officers per zone (configs/places/communes.yaml)
    ball_dir: Path | None = field(default=None, compare=False, repr=False,
                                  metadata={"persist": False})

    @property
    def n_nodes(self) -> int:
        return len(self.x)

    @property
    def n_edges(self) -> int:
        """Number of undirected street segments."""
        return len(self.indices) // 2

    @property
    def street_km(self) -> float:
        return float(self.length_m.sum() / 2 / 1000)

    def neighbours(self, node: int) -> np.ndarray:
        """Nodes adjacent to ``node``."""
        return self.indices[self.indptr[node] : self.indptr[node + 1]]

    @cached_property
    def graph(self) -> sp.csr_matrix:
        """Weighted undirected adjacency as a scipy CSR matrix (for csgraph routines)."""
        import scipy.sparse as sp  # only when a matrix is asked for (slow import)

        n = self.n_nodes
        return sp.csr_matrix((self.length_m, self.indices, self.indptr), shape=(n, n))

    @cached_property
    def kdtree(self) -> cKDTree:
        """KD-tree of the node coordinates (for balls and nearest-node queries)."""
        from scipy.spatial import cKDTree  # scipy.spatial loads in ~0.2 s: only when queried

        return cKDTree(np.column_stack([self.x, self.y]))

    @cached_property
    def circuity(self) -> float:
        """Ratio of network to straight-line distance, measured from the hotspots' distances."""
        d = self.hotspots.dist if len(self.hotspots) else self.rooms.dist
        src = self.hotspots.node if len(self.hotspots) else self.rooms.node
        ratios = []
        for i, s in enumerate(src):
            eu = np.hypot(self.x - self.x[s], self.y - self.y[s])
            ok = (eu > 300) & np.isfinite(d[i])
            if ok.any():
                ratios.append(np.median(d[i][ok] / eu[ok]))
        return float(np.median(ratios)) if ratios else 1.3

    @cached_property
    def _balls(self) -> dict[float, tuple[weakref.ref, weakref.ref]]:
        """Balls handed out and still in use, by radius (per object: a changed copy starts
        empty). Weak, so a sweep over radii never piles up tables nobody holds any more."""
        return {}

    def __getstate__(self) -> dict:
        """Pickle without the weak references to balls in use (they cannot be pickled)."""
        state = self.__dict__.copy()
        state.pop("_balls", None)
        return state

    @cached_property
    def _coords_digest(self) -> str:
        return balls.coords_digest(self.x, self.y)

    def ball(self, radius_m: float) -> tuple[np.ndarray, np.ndarray]:
        """CSR (indptr, indices) of nodes within ``radius_m`` straight-line metres of each node
        (each node included in its own list; int64 indptr, int32 indices sorted in each list).

        A ball still held by a caller (e.g. a model) is shared, not rebuilt; for a map with a
        ``ball_dir`` each radius is computed once and then read from disk, in later runs too.
        The arrays are shared between callers: treat them as read-only.
        """
        radius_m = float(radius_m)
        refs = self._balls.get(radius_m)
        found = (refs[0](), refs[1]()) if refs is not None else (None, None)
        if found[0] is not None and found[1] is not None:
            return found
        found = None
        if self.ball_dir is not None:
            found = balls.load_ball(self.ball_dir, radius_m, self._coords_digest, self.n_nodes)
        if found is None:
            found = self._compute_ball(radius_m)
            if self.ball_dir is not None:
                balls.save_ball(self.ball_dir, radius_m, self._coords_digest, *found)
        self._balls[radius_m] = (weakref.ref(found[0]), weakref.ref(found[1]))
        return found

    def _compute_ball(self, radius_m: float) -> tuple[np.ndarray, np.ndarray]:
        n = self.n_nodes
        pairs = self.kdtree.query_pairs(r=radius_m, output_type="ndarray")
        rows = np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(n)])
        cols = np.concatenate([pairs[:, 1], pairs[:, 0], np.arange(n)])
        order = np.lexsort((cols, rows))
        rows, cols = rows[order], cols[order]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return indptr, cols.astype(np.int32)

    def nearest_node(self, x: float, y: float) -> tuple[int, float]:
        """Nearest node to a projected point and its straight-line distance (m)."""
        d, i = self.kdtree.query([x, y])
        return int(i), float(d)
