"""Street-network sources: OSMnx GraphML, OSM XML, an OpenStreetMap download, the packaged
commune outlines.

Each graph reader returns a networkx graph whose nodes carry ``x``/``y`` as WGS84 lon/lat and
whose edges carry ``length`` in metres (the OSMnx convention).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from brusim.errors import MapError

if TYPE_CHECKING:
    import networkx as nx

log = logging.getLogger(__name__)

BRUSSELS_PLACE = "Brussels-Capital Region, Belgium"
OUTLINES_FILE = "communes_urbis.geojson"  # UrbIS commune outlines (brusim/data/NOTICE.md)
STREET_KINDS = ("named", "all")


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def outlines_path() -> Path:
    """The 19 communes' outlines (GeoJSON, property ``nis``) that ship with brusim."""
    return Path(str(files("brusim") / "data" / OUTLINES_FILE))


def source_kind(path: Path) -> str:
    """``osm`` for an OSM XML extract, ``compiled`` for a compact network file, else
    ``graphml``, by file name."""
    name = path.name.lower()
    if name.endswith((".osm", ".xml", ".osm.xml")):
        return "osm"
    if name.endswith(".npz.xz"):
        return "compiled"
    return "graphml"


def _check_readable(path: Path) -> None:
    if not path.is_file():
        raise MapError(f"map file not found: {path}; check map.path or BRUSIM_MAP")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise MapError(f"cannot read map file {path} ({exc.strerror or exc}); check its "
                       "permissions") from None


def read_graphml(path: Path) -> nx.MultiDiGraph:
    """Read an OSMnx GraphML file; a truncated or foreign file gives a one-line MapError."""
    import osmnx as ox

    _check_readable(path)
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

    _check_readable(path)
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


def read_graph(path: Path) -> nx.MultiDiGraph:
    """A GraphML or OSM XML file, by its name (`source_kind`)."""
    return read_osm_xml(path) if source_kind(path) == "osm" else read_graphml(path)


def keep_streets(graph: nx.MultiDiGraph, streets: str) -> nx.MultiDiGraph:
    """``named``: only segments with a street name, as in the packaged map (OpenStreetMap's
    walkable network has ~5x more nodes, mostly unnamed footways and service roads, which cost
    memory and time without adding streets a market can hold); ``all``: the graph as it is."""
    if streets not in STREET_KINDS:
        raise MapError(f"map.osm_streets={streets!r} is unknown; valid: {', '.join(STREET_KINDS)}")
    if streets == "all":
        return graph
    drop = [(u, v, k) for u, v, k, d in graph.edges(keys=True, data=True) if not d.get("name")]
    graph.remove_edges_from(drop)
    graph.remove_nodes_from([n for n in list(graph.nodes) if graph.degree(n) == 0])
    log.info("kept named streets: dropped %d unnamed segments", len(drop))
    return graph


def region_outline():
    """The Brussels-Capital Region as one polygon: the union of the packaged commune outlines,
    widened by ~4 m (the outlines are simplified one by one, which leaves slivers between
    neighbours that would otherwise be holes in the region)."""
    import shapely
    from shapely.geometry import shape

    from brusim.map.network import read_outlines

    communes = [shape(f["geometry"]) for f in read_outlines(outlines_path())]
    return shapely.union_all(communes).buffer(5e-5)


def download_osm(place: str, cache: Path, *, streets: str = "named", refresh: bool = False
                 ) -> Path:
    """Download the walk network of ``place`` from OpenStreetMap with OSMnx into ``cache``
    (once; ``refresh`` downloads again) and return the GraphML path.

    For the Brussels-Capital Region the area is the packaged outline of its 19 communes (no
    geocoding needed); another place is looked up by name (Nominatim).
    """
    import osmnx as ox

    slug = hashlib.sha1(f"{place}|{streets}".encode()).hexdigest()[:10]
    target = cache / f"osm_walk_{slug}.graphml"
    if target.is_file() and not refresh:
        return target
    ox.settings.cache_folder = str(cache / "osmnx_http")
    ox.settings.use_cache = not refresh
    try:
        if place == BRUSSELS_PLACE:
            graph = ox.graph_from_polygon(region_outline(), network_type="walk")
        else:
            graph = ox.graph_from_place(place, network_type="walk")
    except Exception as exc:
        raise MapError(
            f"could not download the street network of {place!r} from OpenStreetMap "
            f"({type(exc).__name__}: {str(exc)[:80]}); offline? the packaged Brussels map needs "
            "no network (map.source=packaged), or pass a file: map.path=FILE or BRUSIM_MAP=FILE"
        ) from None
    graph = keep_streets(graph, streets)
    graph.graph["downloaded"] = datetime.now(UTC).isoformat(timespec="seconds")
    graph.graph["place"] = place
    cache.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    ox.save_graphml(graph, tmp)
    tmp.replace(target)
    return target
