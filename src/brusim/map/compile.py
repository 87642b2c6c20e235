"""Compile a street graph or a `StreetNetwork` into a `StreetMap` (projected, CSR, labelled,
with places snapped and their network distances)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from pyproj import Transformer
from scipy.sparse.csgraph import dijkstra

from brusim.errors import MapError
from brusim.map.network import StreetNetwork, network_from_graph
from brusim.map.places import CommuneSpec, PlaceSpec, ZoneSpec
from brusim.map.streetmap import PlaceSet, StreetMap

if TYPE_CHECKING:
    import networkx as nx

log = logging.getLogger(__name__)

LAMBERT72 = 31370


def _csr(n: int, u: np.ndarray, v: np.ndarray, length: np.ndarray) -> sp.csr_matrix:
    """Symmetric CSR adjacency (float32 lengths, sorted column indices) of undirected edges."""
    rows = np.concatenate([u, v])
    cols = np.concatenate([v, u])
    data = np.concatenate([length, length]).astype(np.float32)
    mat = sp.csr_matrix((data, (rows, cols)), shape=(n, n))
    mat.sort_indices()
    return mat


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
    """Compile a street graph and place lists into an immutable `StreetMap`
    (`network_from_graph`, then `assemble_street_map`)."""
    network = network_from_graph(graph, communes, name=name, source_hash=source_hash,
                                 communes_file=communes_file,
                                 min_component_share=min_component_share)
    return assemble_street_map(network, places, zones, communes, max_snap_m=max_snap_m,
                               catchment_m=catchment_m)


def assemble_street_map(
    network: StreetNetwork,
    places: dict[str, list[PlaceSpec]],
    zones: list[ZoneSpec],
    communes: list[CommuneSpec],
    *,
    max_snap_m: float = 250.0,
    catchment_m: float = 400.0,
) -> StreetMap:
    """Project a `StreetNetwork`, label its zones and populations and snap the places to it."""
    n = network.n_nodes
    adj = _csr(n, network.edge_u, network.edge_v, network.edge_length_m)
    to_lambert = Transformer.from_crs(4326, LAMBERT72, always_xy=True)
    x, y = to_lambert.transform(network.lon, network.lat)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    commune = _commune_index(network, communes)
    try:
        zone_of_commune = np.array(
            [next(i for i, z in enumerate(zones) if z.zone_id == c.zone_id) for c in communes])
    except StopIteration:
        raise MapError("a commune names a police zone that the zone list does not hold; fix "
                       "configs/places/communes.yaml") from None
    zone = zone_of_commune[commune].astype(np.int8)
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
    stats = {**network.stats, "max_snap_m": max_snap_m, "catchment_m": catchment_m}
    return StreetMap(
        name=network.name,
        source_hash=network.source_hash,
        x=x, y=y, lon=network.lon, lat=network.lat,
        osmid=network.osmid,
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


def _commune_index(network: StreetNetwork, communes: list[CommuneSpec]) -> np.ndarray:
    """The network's commune labels as indices into ``communes`` (matched by NIS code)."""
    by_nis = {c.nis: i for i, c in enumerate(communes)}
    missing = sorted(set(network.commune_nis) - set(by_nis))
    if missing:
        raise MapError(f"the street network labels nodes with communes {missing} that the "
                       "commune table does not list; use the commune table the network was "
                       "built with")
    lookup = np.array([by_nis[nis] for nis in network.commune_nis], dtype=np.int16)
    return lookup[network.commune] if len(lookup) else network.commune.astype(np.int16)
