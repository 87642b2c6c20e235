"""A small seeded synthetic city for tests and teaching.

A jittered street grid around central Brussels' latitude, split into two police zones and four
communes, with named hotspots at chosen grid cells. It goes through the same compiler as the
real map, so every feature of `StreetMap` works on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
from pyproj import Transformer

from brusim.map.places import CommuneSpec, PlaceSpec, ZoneSpec

ORIGIN_LAMBERT = (148_000.0, 170_000.0)  # near Gare du Midi, EPSG:31370 metres


@dataclass(frozen=True)
class SyntheticCity:
    graph: nx.MultiDiGraph
    places: dict[str, list[PlaceSpec]]
    zones: list[ZoneSpec]
    communes: list[CommuneSpec]


DEFAULT_HOTSPOTS: tuple[tuple[str, int, int], ...] = (
    ("central", 10, 10),
    ("west", 4, 10),
    ("east", 16, 10),
    ("north", 10, 16),
)


def synthetic_city(
    size: int = 20,
    spacing_m: float = 100.0,
    seed: int = 0,
    hotspots: tuple[tuple[str, int, int], ...] | list = DEFAULT_HOTSPOTS,
    drop_share: float = 0.05,
) -> SyntheticCity:
    """Build a ``size`` x ``size`` jittered grid city with named hotspots at grid cells."""
    rng = np.random.default_rng(seed)
    to_wgs = Transformer.from_crs(31370, 4326, always_xy=True)
    ix, iy = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    ix, iy = ix.ravel(), iy.ravel()
    jitter = rng.uniform(-0.15, 0.15, size=(len(ix), 2)) * spacing_m
    px = ORIGIN_LAMBERT[0] + ix * spacing_m + jitter[:, 0]
    py = ORIGIN_LAMBERT[1] + iy * spacing_m + jitter[:, 1]
    lon, lat = to_wgs.transform(px, py)
    half = size // 2
    graph = nx.MultiDiGraph(crs="epsg:4326", name="synthetic")
    for n in range(len(ix)):
        west = ix[n] < half
        south = iy[n] < half
        nis = ("90001" if south else "90002") if west else ("90003" if south else "90004")
        graph.add_node(n, x=float(lon[n]), y=float(lat[n]), nis=nis)

    def link(a: int, b: int) -> None:
        length = float(np.hypot(px[a] - px[b], py[a] - py[b]))
        graph.add_edge(a, b, length=length)
        graph.add_edge(b, a, length=length)

    for n in range(len(ix)):
        for dx, dy in ((1, 0), (0, 1)):
            if ix[n] + dx < size and iy[n] + dy < size and rng.random() >= drop_share:
                link(n, (ix[n] + dx) * size + iy[n] + dy)

    def place_at(pid: str, gx: int, gy: int, **attrs) -> PlaceSpec:
        n = int(gx) * size + int(gy)
        return PlaceSpec(pid, pid.replace("_", " ").title(), float(lat[n]), float(lon[n]), attrs)

    places = {
        "hotspots": [place_at(h[0], h[1], h[2], listed=True) for h in hotspots],
        "stations": [
            place_at("station_central", half, half - 1, type="rail", footfall=3),
            place_at("station_east", size - 3, half, type="metro", footfall=2),
        ],
        # room ids match the Brussels ones so scenarios that open or close rooms work here too
        "consumption_rooms": [place_at("gate", half + 1, half + 1, status="open"),
                              place_at("ribaucourt", half + 1, size - 4, status="planned")],
    }
    zones = [
        ZoneSpec("west_zone", 1, "West zone", 400, ("West zone",)),
        ZoneSpec("east_zone", 2, "East zone", 400, ("East zone",)),
    ]
    communes = [
        CommuneSpec("90001", "Sudouest", "Zuidwest", 30_000, 1),
        CommuneSpec("90002", "Nordouest", "Noordwest", 20_000, 1),
        CommuneSpec("90003", "Sudest", "Zuidoost", 25_000, 2),
        CommuneSpec("90004", "Nordest", "Noordoost", 25_000, 2),
    ]
    return SyntheticCity(graph, places, zones, communes)
