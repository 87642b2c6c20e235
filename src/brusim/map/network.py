"""`StreetNetwork`: the street graph reduced to what the model needs, before places are snapped.

A networkx street graph (from a GraphML file, an OSM XML extract or a download) is reduced to
its largest connected component, its unique undirected segments (shortest parallel length) and
a commune label per node (`network_from_graph`). That reduction is the slow part of compiling a
map and depends only on the source data, so it is what the packaged Brussels map holds
(`brusim.map.compact`); `brusim.map.compile.assemble_street_map` adds the places and their
distance tables in well under a second.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from brusim.errors import MapError
from brusim.map.places import CommuneSpec

if TYPE_CHECKING:
    import networkx as nx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreetNetwork:
    """Street nodes (WGS84) and undirected segments of the largest connected component.

    ``edge_u < edge_v`` index the nodes, sorted by (u, v), one entry per segment;
    ``edge_length_m`` is the shortest parallel edge (float32 metres, at least 0.5 m).
    ``commune`` indexes ``commune_nis`` (NIS codes), so a network can be matched to any commune
    table that lists those codes.
    """

    name: str
    source_hash: str  # SHA-256 of the file (or the settings) the network was made from
    lon: np.ndarray  # float64 (N,)
    lat: np.ndarray  # float64 (N,)
    osmid: np.ndarray  # int64 (N,) node ids of the source
    edge_u: np.ndarray  # int32 (E,)
    edge_v: np.ndarray  # int32 (E,)
    edge_length_m: np.ndarray  # float32 (E,)
    commune: np.ndarray  # int16 (N,) index into commune_nis
    commune_nis: tuple[str, ...]
    stats: dict = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return len(self.lon)

    @property
    def n_edges(self) -> int:
        return len(self.edge_u)


def _edge_arrays(graph: nx.MultiDiGraph, index: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected unique edges (u < v) with the shortest parallel length."""
    us, vs, ls = [], [], []
    for u, v, data in graph.edges(data=True):
        a, b = index[u], index[v]
        if a == b:
            continue
        length = data.get("length")
        if length is None:
            continue
        us.append(min(a, b))
        vs.append(max(a, b))
        ls.append(float(length))
    if not us:
        raise MapError("the street graph has no edges with a length; is it an OSMnx street graph?")
    u, v, length = np.array(us), np.array(vs), np.array(ls)
    if not np.isfinite(length).all():
        raise MapError("the street graph has edges whose length is not a number; export it "
                       "again with OSMnx (edge attribute 'length' in metres)")
    order = np.lexsort((length, v, u))
    u, v, length = u[order], v[order], length[order]
    keep = np.ones(len(u), bool)
    keep[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    return u[keep], v[keep], np.maximum(length[keep], 0.5)


def _components(n: int, u: np.ndarray, v: np.ndarray) -> tuple[int, np.ndarray]:
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    adj = sp.csr_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    return connected_components(adj, directed=False)


def network_from_graph(
    graph: nx.MultiDiGraph,
    communes: list[CommuneSpec],
    *,
    name: str,
    source_hash: str,
    communes_file: Path | None = None,
    min_component_share: float = 0.5,
) -> StreetNetwork:
    """Reduce a street graph to its largest component with a commune label on every node.

    Labels come from the nodes' ``nis``/``commune`` attributes, else from the commune outlines
    in ``communes_file`` (GeoJSON with a ``nis`` property), else from the nearest labelled node.
    """
    if graph.number_of_nodes() == 0:
        raise MapError("the street graph is empty (0 nodes); check the map file or area name")
    nodes = list(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    try:
        lon = np.array([float(graph.nodes[n]["x"]) for n in nodes])
        lat = np.array([float(graph.nodes[n]["y"]) for n in nodes])
    except (KeyError, TypeError, ValueError):
        raise MapError("street nodes need numeric 'x'/'y' (lon/lat) attributes; is it an OSMnx "
                       "street graph?") from None
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise MapError("some street nodes have coordinates that are not numbers; export the "
                       "graph again")
    u, v, length = _edge_arrays(graph, index)
    n_comp, labels = _components(len(nodes), u, v)
    sizes = np.bincount(labels)
    keep = labels == int(np.argmax(sizes))
    share = keep.mean()
    if share <= min_component_share:  # the kept component must be a strict majority
        raise MapError(
            f"the street graph is disconnected: its largest component holds only {share:.0%} of "
            f"{len(nodes)} nodes ({n_comp} components); use a connected street network"
        )
    old_to_new = np.full(len(nodes), -1, dtype=np.int64)
    old_to_new[keep] = np.arange(keep.sum())
    emask = keep[u] & keep[v]
    kept = [n for n, k in zip(nodes, keep, strict=True) if k]
    lon, lat = lon[keep], lat[keep]
    commune, report = label_communes(graph, kept, lon, lat, communes, communes_file)
    try:
        osmid = np.array([int(n) for n in kept], dtype=np.int64)
    except (TypeError, ValueError):
        osmid = np.arange(len(kept), dtype=np.int64)
    if (~keep).any():
        log.info("kept the largest component: dropped %d of %d nodes", (~keep).sum(), len(nodes))
    return StreetNetwork(
        name=name, source_hash=source_hash, lon=lon, lat=lat, osmid=osmid,
        edge_u=old_to_new[u[emask]].astype(np.int32),
        edge_v=old_to_new[v[emask]].astype(np.int32),
        edge_length_m=length[emask].astype(np.float32),
        commune=commune, commune_nis=tuple(c.nis for c in communes),
        stats={"nodes_in_source": len(nodes),
               "nodes_dropped_outside_main_component": int((~keep).sum()),
               "components_in_source": int(n_comp), **report},
    )


def label_communes(
    graph: nx.MultiDiGraph,
    nodes: list,
    lon: np.ndarray,
    lat: np.ndarray,
    communes: list[CommuneSpec],
    communes_file: Path | None,
) -> tuple[np.ndarray, dict]:
    """Commune index per node (into ``communes``) from node attributes, else outlines, else the
    nearest labelled node; and how many nodes each way labelled."""
    by_nis = {c.nis: i for i, c in enumerate(communes)}
    by_name = {c.name_fr: i for i, c in enumerate(communes)} | {
        c.name_nl: i for i, c in enumerate(communes)
    }
    commune = np.full(len(nodes), -1, dtype=np.int16)
    for k, n in enumerate(nodes):
        d = graph.nodes[n]
        key = str(d.get("nis", "") or "")
        if key in by_nis:
            commune[k] = by_nis[key]
        elif d.get("commune") in by_name:
            commune[k] = by_name[d["commune"]]
    from_attrs = int((commune >= 0).sum())
    from_outlines = 0
    if (commune < 0).any() and communes_file is not None:
        from_outlines = label_from_outlines(commune, lon, lat, communes_file, by_nis)
    missing = commune < 0
    filled = int(missing.sum())
    if filled == len(commune):
        where = (f"none of them lies inside the commune outlines of {communes_file}"
                 if communes_file is not None else "no commune outlines were given")
        raise MapError(
            "no street node could be given a commune: the graph has no 'nis'/'commune' node "
            f"attributes and {where}; is the map of the Brussels-Capital Region? (else pass "
            "map.communes_file=GEOJSON with a 'nis' property per commune)"
        )
    if filled:
        from scipy.spatial import cKDTree

        known = np.flatnonzero(~missing)
        tree = cKDTree(np.column_stack([lon[known], lat[known]]))
        _, j = tree.query(np.column_stack([lon[missing], lat[missing]]))
        commune[missing] = commune[known[j]]
    report = {"labelled_from_attributes": from_attrs, "labelled_from_polygons": from_outlines,
              "labelled_from_nearest_node": filled}
    return commune, report


def read_outlines(path: Path) -> list[dict]:
    """The features of a commune-outline GeoJSON file (one line of error when unreadable)."""
    try:
        features = json.loads(Path(path).read_text(encoding="utf-8"))["features"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MapError(
            f"cannot read commune outlines {path} ({type(exc).__name__}); pass a GeoJSON file "
            "with a 'nis' property per commune"
        ) from None
    return features


def label_from_outlines(
    commune: np.ndarray, lon: np.ndarray, lat: np.ndarray, path: Path, by_nis: dict
) -> int:
    """Fill ``commune`` (-1: unknown) from the outlines in ``path``; returns how many nodes."""
    import shapely
    from shapely.geometry import shape

    count = 0
    for feat in read_outlines(path):
        nis = str(feat.get("properties", {}).get("nis", ""))
        if nis not in by_nis:
            continue
        geom = shape(feat["geometry"])
        todo = np.flatnonzero(commune < 0)
        inside = shapely.contains_xy(geom, lon[todo], lat[todo])
        commune[todo[inside]] = by_nis[nis]
        count += int(inside.sum())
    return count
