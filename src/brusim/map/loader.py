"""Choose a map source from settings, compile it once and serve it from the cache afterwards."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from brusim.config.constraints import count, positive, share
from brusim.errors import MapError
from brusim.io import OutputError
from brusim.map import cache
from brusim.map.balls import ball_folder
from brusim.map.places import read_communes, read_places
from brusim.map.sources import (
    BRUSSELS_PLACE,
    download_osm,
    file_sha256,
    outlines_path,
    read_graph,
    source_kind,
)
from brusim.map.streetmap import StreetMap
from brusim.paths import cache_dir

SOURCES = ("auto", "packaged", "osm", "graphml", "compiled", "synthetic")
COMPILER_VERSION = 3  # bump when compile output changes, to invalidate caches


@dataclass
class SyntheticSettings:
    size: int = positive(20, "nodes per side")
    spacing_m: float = positive(100.0, "m")
    seed: int = count(0, "seed")
    hotspots: list[Any] = field(default_factory=lambda: [["central", 10, 10], ["west", 4, 10],
                                                    ["east", 16, 10], ["north", 10, 16]])
    drop_share: float = share(0.05)


@dataclass
class MapSettings:
    """How to get the street map.

    ``source``: ``auto`` ($BRUSIM_MAP or ``path`` if set, else the packaged map), ``packaged``
    (the Brussels map that ships with brusim), ``osm`` (OpenStreetMap: the extract at ``path``,
    or a download of ``place`` when no path is given), ``graphml`` (an OSMnx GraphML file),
    ``compiled`` (a file made by ``brusim map build``) or ``synthetic``.
    """

    source: str = "auto"
    path: str | None = None
    place: str = BRUSSELS_PLACE
    osm_streets: str = "named"
    refresh: bool = False
    places_file: str | None = None
    communes_file: str | None = None
    max_snap_m: float = positive(250.0, "m")
    catchment_m: float = positive(400.0, "m")
    use_cache: bool = True
    cache_dir: str | None = None
    synthetic: SyntheticSettings = field(default_factory=SyntheticSettings)


def resolve_settings(settings: MapSettings) -> MapSettings:
    """Turn ``auto`` into a concrete source: ``$BRUSIM_MAP`` or ``map.path`` (by its file name),
    else the packaged Brussels map."""
    if settings.source == "download":
        raise MapError("map.source=download is now map.source=osm (a download when map.path "
                       "is not set)")
    if settings.source not in SOURCES:
        raise MapError(f"unknown map source {settings.source!r}; valid: {', '.join(SOURCES)}")
    if settings.source != "auto":
        if settings.source in ("graphml", "compiled") and not settings.path:
            raise MapError(f"map.source={settings.source} needs map.path=FILE (or set BRUSIM_MAP)")
        return settings
    path = settings.path or os.environ.get("BRUSIM_MAP")
    if not path:
        return MapSettings(**{**_shallow(settings), "source": "packaged"})
    return MapSettings(**{**_shallow(settings), "source": source_kind(Path(path)),
                          "path": path})


def _shallow(settings: MapSettings) -> dict:
    return {k: getattr(settings, k) for k in settings.__dataclass_fields__}


def _communes_file(settings: MapSettings) -> Path:
    """Outlines that label nodes without commune attributes (default: the packaged UrbIS ones)."""
    return Path(settings.communes_file) if settings.communes_file else outlines_path()


def _cache_key(settings: MapSettings, source_hash: str) -> str:
    s = asdict(settings)
    for key in ("use_cache", "cache_dir", "path", "refresh", "synthetic"):
        s.pop(key)
    from brusim.paths import config_dir

    places = Path(settings.places_file) if settings.places_file else None
    s["places_file"] = file_sha256(places or config_dir() / "places" / "brussels.yaml")
    s["communes_sha"] = file_sha256(config_dir() / "places" / "communes.yaml")
    s["communes_file"] = file_sha256(_communes_file(settings))
    blob = json.dumps([COMPILER_VERSION, source_hash, s], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def source_file(settings: MapSettings) -> tuple[Path, str]:
    """The file a (resolved) map source reads, downloading it first for ``osm`` without a
    path, and its kind (``graphml``, ``osm``, ``compiled``)."""
    from brusim.map.compact import packaged_path

    if settings.source == "packaged":
        return packaged_path(), "compiled"
    if settings.source == "osm" and not settings.path:
        return download_osm(settings.place, cache_dir(), streets=settings.osm_streets,
                            refresh=settings.refresh), "graphml"
    path = Path(settings.path).expanduser()
    return path, ("osm" if settings.source == "osm" else settings.source)


def load_street_map(settings: MapSettings | None = None) -> StreetMap:
    """Load the street map named by ``settings``: from cache if valid, else read and compile."""
    settings = resolve_settings(settings or MapSettings())
    if settings.source == "synthetic":
        return _synthetic(settings)
    folder = Path(settings.cache_dir) if settings.cache_dir else cache_dir() / "maps"
    path, kind = source_file(settings)
    if not path.is_file():
        raise MapError(f"map file not found: {path}; check map.path or BRUSIM_MAP")
    try:
        source_hash = file_sha256(path)
    except OSError as exc:
        raise MapError(f"cannot read the map file {path} ({exc.strerror or exc}); make it "
                       "readable, or point map.path or BRUSIM_MAP at a readable copy") from None
    key = _cache_key(settings, source_hash)
    if settings.use_cache:
        smap = cache.load(folder, key)
        if smap is not None:
            return smap
    # compiling needs pyproj and scipy.csgraph (and networkx for a graph): only on a cache miss
    from brusim.map.compile import assemble_street_map

    network = read_network(path, kind, settings, source_hash)
    zones, communes = read_communes()
    smap = assemble_street_map(network, read_places(settings.places_file), zones, communes,
                               max_snap_m=settings.max_snap_m,
                               catchment_m=settings.catchment_m)
    if settings.use_cache:
        try:
            cache.save(smap, folder, key)
        except (OSError, OutputError) as exc:  # a read-only or full cache: go on, uncached
            reason = getattr(exc, "strerror", None) or str(exc).split("; ")[0]
            warnings.warn(f"could not cache the compiled map in {folder} "
                          f"({reason}); it is compiled again next time: set "
                          "BRUSIM_CACHE (or map.cache_dir) to a writable folder",
                          stacklevel=2)
            return smap
        smap = dataclasses.replace(smap, ball_dir=ball_folder(folder, key))
    return smap


def read_network(path: Path, kind: str, settings: MapSettings, source_hash: str):
    """The `StreetNetwork` of a map file: decoded (``compiled``) or reduced from its graph."""
    from brusim.map.compact import OSM_NOTICE
    from brusim.map.network import StreetNetwork, network_from_graph

    if kind == "compiled":
        from brusim.map.compact import load_network

        network: StreetNetwork = load_network(path)
        stats = {**network.stats, "built_from_sha256": network.source_hash,
                 "attribution": OSM_NOTICE}
        return dataclasses.replace(network, source_hash=source_hash, stats=stats)
    from brusim.map.sources import keep_streets

    graph = read_graph(path)
    if settings.source == "osm" and settings.path:  # an extract: the same streets as a download
        graph = keep_streets(graph, settings.osm_streets)
    _, communes = read_communes()
    network = network_from_graph(graph, communes, name=path.name, source_hash=source_hash,
                                 communes_file=_communes_file(settings))
    if graph.graph.get("downloaded"):
        network.stats["downloaded"] = graph.graph["downloaded"]
    network.stats["attribution"] = OSM_NOTICE
    return network


def _synthetic(settings: MapSettings) -> StreetMap:
    from brusim.map.compile import compile_street_map  # networkx, pyproj: only when compiling
    from brusim.map.synthetic import synthetic_city

    syn = settings.synthetic
    if isinstance(syn, dict):
        syn = SyntheticSettings(**syn)
    city = synthetic_city(
        size=syn.size, spacing_m=syn.spacing_m, seed=syn.seed,
        hotspots=[tuple(h) for h in syn.hotspots], drop_share=syn.drop_share,
    )
    digest = hashlib.sha256(json.dumps(asdict(syn), default=str).encode()).hexdigest()[:20]
    return compile_street_map(
        city.graph, city.places, city.zones, city.communes,
        name=f"synthetic-{syn.size}x{syn.size}-seed{syn.seed}", source_hash=digest,
        max_snap_m=settings.max_snap_m, catchment_m=settings.catchment_m,
    )
