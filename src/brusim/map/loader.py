"""Choose a map source from settings, compile it once and serve it from the cache afterwards."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from brusim.errors import MapError
from brusim.map import cache
from brusim.map.balls import ball_folder
from brusim.map.places import read_communes, read_places
from brusim.map.sources import (
    BRUSSELS_PLACE,
    download_walk_network,
    file_sha256,
    read_graphml,
    read_osm_xml,
)
from brusim.map.streetmap import StreetMap
from brusim.paths import cache_dir

SOURCES = ("auto", "graphml", "osm", "download", "synthetic")
COMPILER_VERSION = 2  # bump when compile output changes, to invalidate caches


@dataclass
class SyntheticSettings:
    size: int = 20
    spacing_m: float = 100.0
    seed: int = 0
    hotspots: list[Any] = field(default_factory=lambda: [["central", 10, 10], ["west", 4, 10],
                                                    ["east", 16, 10], ["north", 10, 16]])
    drop_share: float = 0.05


@dataclass
class MapSettings:
    """How to get the street map. ``source='auto'`` uses ``$BRUSIM_MAP`` or else downloads."""

    source: str = "auto"
    path: str | None = None
    place: str = BRUSSELS_PLACE
    places_file: str | None = None
    communes_file: str | None = None
    max_snap_m: float = 250.0
    catchment_m: float = 400.0
    use_cache: bool = True
    cache_dir: str | None = None
    synthetic: SyntheticSettings = field(default_factory=SyntheticSettings)


def resolve_settings(settings: MapSettings) -> MapSettings:
    """Turn ``auto`` into a concrete source (``$BRUSIM_MAP`` file, else OSMnx download)."""
    if settings.source not in SOURCES:
        raise MapError(f"unknown map source {settings.source!r}; valid: {', '.join(SOURCES)}")
    if settings.source != "auto":
        if settings.source in ("graphml", "osm") and not settings.path:
            raise MapError(f"map.source={settings.source} needs map.path=FILE (or set BRUSIM_MAP)")
        return settings
    env = os.environ.get("BRUSIM_MAP")
    path = settings.path or env
    if not path:
        return MapSettings(**{**_shallow(settings), "source": "download"})
    suffix = Path(path).suffix.lower()
    source = "osm" if suffix in (".osm", ".xml") else "graphml"
    return MapSettings(**{**_shallow(settings), "source": source, "path": path})


def _shallow(settings: MapSettings) -> dict:
    return {k: getattr(settings, k) for k in settings.__dataclass_fields__}


def _cache_key(settings: MapSettings, source_hash: str) -> str:
    s = asdict(settings)
    s.pop("use_cache"), s.pop("cache_dir"), s.pop("path")
    for key in ("places_file", "communes_file"):
        if s[key]:
            s[key] = file_sha256(Path(s[key]))
    if settings.source != "synthetic":
        s.pop("synthetic")
    places = Path(settings.places_file) if settings.places_file else None
    from brusim.paths import config_dir

    for name, p in (("places", places or config_dir() / "places" / "brussels.yaml"),
                    ("communes", config_dir() / "places" / "communes.yaml")):
        s[f"{name}_sha"] = file_sha256(p) if settings.source != "synthetic" else ""
    blob = json.dumps([COMPILER_VERSION, source_hash, s], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def load_street_map(settings: MapSettings | None = None) -> StreetMap:
    """Load the street map named by ``settings``: from cache if valid, else read and compile."""
    settings = resolve_settings(settings or MapSettings())
    folder = Path(settings.cache_dir) if settings.cache_dir else cache_dir() / "maps"
    if settings.source == "synthetic":
        return _synthetic(settings)
    if settings.source == "download":
        path = download_walk_network(settings.place, cache_dir())
        source_kind = "graphml"
    else:
        path = Path(settings.path).expanduser()
        source_kind = settings.source
    if not path.is_file():
        raise MapError(f"map file not found: {path}; check map.path or BRUSIM_MAP")
    source_hash = file_sha256(path)
    key = _cache_key(settings, source_hash)
    if settings.use_cache:
        smap = cache.load(folder, key)
        if smap is not None:
            return smap
    # compiling needs networkx, pyproj and scipy.csgraph: imported only on a cache miss
    from brusim.map.compile import compile_street_map

    graph = read_graphml(path) if source_kind == "graphml" else read_osm_xml(path)
    places = read_places(settings.places_file)
    zones, communes = read_communes()
    smap = compile_street_map(
        graph, places, zones, communes,
        name=path.name, source_hash=source_hash,
        max_snap_m=settings.max_snap_m, catchment_m=settings.catchment_m,
        communes_file=Path(settings.communes_file) if settings.communes_file else None,
    )
    if settings.use_cache:
        cache.save(smap, folder, key)
        smap = dataclasses.replace(smap, ball_dir=ball_folder(folder, key))
    return smap


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
