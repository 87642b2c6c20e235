"""Compile a networkx street graph into a `StreetMap` (projected, CSR, labelled, with places)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import networkx as nx
import numpy as np
import scipy.sparse as sp
from pyproj import Transformer
from scipy.sparse.csgraph import connected_components, dijkstra

from brusim.errors import MapError
from brusim.map.places import CommuneSpec, PlaceSpec, ZoneSpec
from brusim.map.streetmap import PlaceSet, StreetMap

log = logging.getLogger(__name__)

LAMBERT72 = 31370


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
    order = np.lexsort((length, v, u))
    u, v, length = u[order], v[order], length[order]
    keep = np.ones(len(u), bool)
    keep[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    return u[keep], v[keep], np.maximum(length[keep], 0.5)


def _csr(n: int, u: np.ndarray, v: np.ndarray, length: np.ndarray) -> sp.csr_matrix:
    rows = np.concatenate([u, v])
    cols = np.concatenate([v, u])
    data = np.concatenate([length, length]).astype(np.float32)
    mat = sp.csr_matrix((data, (rows, cols)), shape=(n, n))
    mat.sort_indices()
    return mat


def _zone_lookup(zones: list[ZoneSpec]) -> dict[str, int]:
    lookup = {}
    for i, z in enumerate(zones):
        for alias in (z.key, str(z.zone_id), z.name, *z.aliases):
            lookup[alias] = i
    return lookup


def _label_nodes(
    graph: nx.MultiDiGraph,
    nodes: list,
    lon: np.ndarray,
    lat: np.ndarray,
    zones: list[ZoneSpec],
    communes: list[CommuneSpec],
    communes_file: Path | None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Commune index per node from node attributes, else polygons, else nearest labelled node."""
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
    from_polygons = 0
    if (commune < 0).any() and communes_file is not None:
        from_polygons = _label_from_polygons(commune, lon, lat, communes_file, by_nis)
    missing = commune < 0
    filled = int(missing.sum())
    if filled == len(commune):
        raise MapError(
            "no street node could be given a commune: the graph has no 'nis'/'commune' node "
            "attributes and no commune polygons were given; pass map.communes_file=GEOJSON"
        )
    if filled:
        from scipy.spatial import cKDTree

        known = np.flatnonzero(~missing)
        tree = cKDTree(np.column_stack([lon[known], lat[known] * 1.0]))
        _, j = tree.query(np.column_stack([lon[missing], lat[missing]]))
        commune[missing] = commune[known[j]]
    zone_of_commune = np.array(
        [next(i for i, z in enumerate(zones) if z.zone_id == c.zone_id) for c in communes]
    )
    zone = zone_of_commune[commune].astype(np.int8)
    report = {"labelled_from_attributes": from_attrs, "labelled_from_polygons": from_polygons,
              "labelled_from_nearest_node": filled}
    return commune, zone, report


def _label_from_polygons(
    commune: np.ndarray, lon: np.ndarray, lat: np.ndarray, path: Path, by_nis: dict
) -> int:
    import shapely
    from shapely.geometry import shape

    try:
        features = json.loads(Path(path).read_text(encoding="utf-8"))["features"]
    except (OSError, ValueError, KeyError) as exc:
        raise MapError(
            f"cannot read commune polygons {path} ({exc}); pass a GeoJSON file"
        ) from None
    count = 0
    for feat in features:
        nis = str(feat.get("properties", {}).get("nis", ""))
        if nis not in by_nis:
            continue
        geom = shape(feat["geometry"])
        todo = np.flatnonzero(commune < 0)
        inside = shapely.contains_xy(geom, lon[todo], lat[todo])
        commune[todo[inside]] = by_nis[nis]
        count += int(inside.sum())
    return count


def _snap_places(
    specs: list[PlaceSpec],
    kind: str,
    x: np.ndarray,
    y: np.ndarray,
    graph: sp.csr_matrix,
    to_lambert: Transformer,
    max_snap_m: float,
    catchment_m: float,
) -> PlaceSet:
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([x, y]))
    nodes, snaps = [], []
    for s in specs:
        px, py = to_lambert.transform(s.lon, s.lat)
        d, i = tree.query([px, py])
        if d > max_snap_m:
            raise MapError(
                f"{kind[:-1]} {s.id!r} at ({s.lat:.5f}, {s.lon:.5f}) is {d:,.0f} m from the "
                f"nearest street node (limit {max_snap_m:.0f} m): fix its coordinates or raise "
                "map.max_snap_m"
            )
        nodes.append(int(i))
        snaps.append(float(d))
    node = np.array(nodes, dtype=np.int32)
    if len(node):
        dist = dijkstra(graph, directed=False, indices=node).astype(np.float32)
    else:
        dist = np.zeros((0, len(x)), dtype=np.float32)
    members = [np.flatnonzero(row <= catchment_m).astype(np.int32) for row in dist]
    indptr = np.zeros(len(members) + 1, dtype=np.int64)
    np.cumsum([len(m) for m in members], out=indptr[1:])
    indices = np.concatenate(members) if members else np.zeros(0, np.int32)
    return PlaceSet(
        ids=tuple(s.id for s in specs),
        names=tuple(s.name for s in specs),
        node=node,
        snap_m=np.array(snaps, dtype=np.float32),
        attrs=tuple(dict(s.attrs) for s in specs),
        catchment_indptr=indptr,
        catchment_indices=indices.astype(np.int32),
        dist=dist,
    )


def compile_street_map(
    graph: nx.MultiDiGraph,
    places: dict[str, list[PlaceSpec]],
    zones: list[ZoneSpec],
    communes: list[CommuneSpec],
    *,
    name: str,
    source_hash: str,
    max_snap_m: float = 250.0,
    catchment_m: float = 400.0,
    min_component_share: float = 0.5,
    communes_file: Path | None = None,
) -> StreetMap:
    """Compile a street graph and place lists into an immutable `StreetMap`."""
    if graph.number_of_nodes() == 0:
        raise MapError("the street graph is empty (0 nodes); check the map file or area name")
    nodes = list(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    lon = np.array([float(graph.nodes[n]["x"]) for n in nodes])
    lat = np.array([float(graph.nodes[n]["y"]) for n in nodes])
    u, v, length = _edge_arrays(graph, index)
    full = _csr(len(nodes), u, v, length)
    n_comp, labels = connected_components(full, directed=False)
    sizes = np.bincount(labels)
    main = int(np.argmax(sizes))
    keep = labels == main
    share = keep.mean()
    if share <= min_component_share:  # the kept component must be a strict majority
        raise MapError(
            f"the street graph is disconnected: its largest component holds only {share:.0%} of "
            f"{len(nodes)} nodes ({n_comp} components); use a connected street network"
        )
    old_to_new = np.full(len(nodes), -1, dtype=np.int64)
    old_to_new[keep] = np.arange(keep.sum())
    emask = keep[u] & keep[v]
    nodes_kept = [n for n, k in zip(nodes, keep, strict=True) if k]
    lon, lat = lon[keep], lat[keep]
    adj = _csr(len(nodes_kept), old_to_new[u[emask]], old_to_new[v[emask]], length[emask])

    to_lambert = Transformer.from_crs(4326, LAMBERT72, always_xy=True)
    x, y = to_lambert.transform(lon, lat)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    commune, zone, label_report = _label_nodes(
        graph, nodes_kept, lon, lat, zones, communes, communes_file
    )
    per_commune = np.bincount(commune, minlength=len(communes)).astype(np.float64)
    pop = np.array([c.population for c in communes], dtype=np.float64)
    node_population = (pop / np.maximum(per_commune, 1))[commune].astype(np.float32)

    snap = dict(x=x, y=y, graph=adj, to_lambert=to_lambert, max_snap_m=max_snap_m,
                catchment_m=catchment_m)
    if not places.get("hotspots"):
        raise MapError("no hotspots given for the map; list at least one (map.places_file, or "
                       "map.synthetic.hotspots for the synthetic city)")
    hotspots = _snap_places(places.get("hotspots", []), "hotspots", **snap)
    stations = _snap_places(places.get("stations", []), "stations", **snap)
    rooms = _snap_places(places.get("consumption_rooms", []), "rooms", **snap)

    try:
        osmid = np.array([int(n) for n in nodes_kept], dtype=np.int64)
    except (TypeError, ValueError):
        osmid = np.arange(len(nodes_kept), dtype=np.int64)
    stats = {
        "nodes_in_source": len(nodes),
        "nodes_dropped_outside_main_component": int((~keep).sum()),
        "components_in_source": int(n_comp),
        "max_snap_m": max_snap_m,
        "catchment_m": catchment_m,
        **label_report,
    }
    if (~keep).any():
        log.info("kept the largest component: dropped %d of %d nodes", (~keep).sum(), len(nodes))
    return StreetMap(
        name=name,
        source_hash=source_hash,
        x=x, y=y, lon=lon, lat=lat,
        osmid=osmid,
        indptr=adj.indptr.astype(np.int32),
        indices=adj.indices.astype(np.int32),
        length_m=adj.data.astype(np.float32),
        zone=zone,
        zone_ids=tuple(z.key for z in zones),
        zone_names=tuple(z.name for z in zones),
        commune=commune,
        commune_names=tuple(c.name_fr for c in communes),
        node_population=node_population,
        hotspots=hotspots,
        stations=stations,
        rooms=rooms,
        stats=stats,
        zone_officers=tuple(z.officers for z in zones),
    )
