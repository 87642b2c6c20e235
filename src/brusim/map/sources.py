"""Street-network sources: OSMnx GraphML, OSM XML, an OSMnx download, and a synthetic city.

Each reader returns a networkx graph whose nodes carry ``x``/``y`` as WGS84 lon/lat and whose
edges carry ``length`` in metres (the OSMnx convention).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from brusim.errors import MapError

if TYPE_CHECKING:
    import networkx as nx

log = logging.getLogger(__name__)

BRUSSELS_PLACE = "Brussels-Capital Region, Belgium"


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_graphml(path: Path) -> nx.MultiDiGraph:
    """Read an OSMnx GraphML file; a truncated or foreign file gives a one-line MapError."""
    import osmnx as ox

    if not path.is_file():
        raise MapError(f"map file not found: {path}; check map.path or BRUSIM_MAP")
    try:
        return ox.load_graphml(path)
    except Exception as exc:  # ElementTree/lxml parse errors, bad attribute types
        raise MapError(
            f"could not read GraphML {path}: {type(exc).__name__}: {str(exc)[:120]}; "
            "the file is truncated or not an OSMnx GraphML: download it again"
        ) from None


def read_osm_xml(path: Path) -> nx.MultiDiGraph:
    """Read an OSM XML extract, keeping only ``highway`` ways (osmnx keeps buildings otherwise)."""
    import osmnx as ox

    if not path.is_file():
        raise MapError(f"map file not found: {path}; check map.path or BRUSIM_MAP")
    try:
        graph = ox.graph_from_xml(path, simplify=True, retain_all=True)
    except Exception as exc:
        raise MapError(
            f"could not read OSM XML {path}: {type(exc).__name__}: {str(exc)[:120]}; "
            "export it again from OpenStreetMap"
        ) from None
    drop = [(u, v, k) for u, v, k, d in graph.edges(keys=True, data=True) if "highway" not in d]
    graph.remove_edges_from(drop)
    graph.remove_nodes_from([n for n in list(graph.nodes) if graph.degree(n) == 0])
    log.info("OSM XML: dropped %d non-highway edges (buildings, areas)", len(drop))
    return graph


def download_walk_network(place: str, cache: Path) -> Path:
    """Download a walk network with OSMnx into ``cache`` (once) and return the GraphML path."""
    import osmnx as ox

    slug = hashlib.sha1(place.encode()).hexdigest()[:10]
    target = cache / f"osm_walk_{slug}.graphml"
    if target.is_file():
        return target
    ox.settings.cache_folder = str(cache / "osmnx_http")
    ox.settings.use_cache = True
    try:
        graph = ox.graph_from_place(place, network_type="walk")
    except Exception as exc:
        raise MapError(
            f"could not download the street network of {place!r} ({type(exc).__name__}); "
            "offline? pass a file instead: map.source=graphml map.path=FILE or set BRUSIM_MAP=FILE"
        ) from None
    tmp = target.with_suffix(".tmp")
    ox.save_graphml(graph, tmp)
    tmp.replace(target)
    return target
