"""Reading place and commune tables (hotspots, stations, rooms, communes, zones) from configs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from brusim.errors import MapError
from brusim.paths import config_dir


@dataclass(frozen=True)
class PlaceSpec:
    """A place as written in the config: id, name, WGS84 coordinate and extra fields."""

    id: str
    name: str
    lat: float
    lon: float
    attrs: dict


def _read_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise MapError(f"places file not found: {path}; pass map.places_file=PATH") from None
    except yaml.YAMLError as exc:
        raise MapError(f"places file {path} is not valid YAML ({exc}); fix or restore it") from None
    if not isinstance(data, dict):
        raise MapError(f"places file {path} is empty; it must list hotspots/stations/rooms")
    return data


def read_places(path: str | Path | None = None) -> dict[str, list[PlaceSpec]]:
    """Read hotspots, stations and consumption rooms from a YAML file (default: Brussels)."""
    path = Path(path) if path else config_dir() / "places" / "brussels.yaml"
    data = _read_yaml(path)
    out: dict[str, list[PlaceSpec]] = {}
    for kind in ("hotspots", "stations", "consumption_rooms"):
        rows = data.get(kind) or []
        specs = []
        for k, row in enumerate(rows):
            try:
                pid, lat, lon = str(row["id"]), float(row["lat"]), float(row["lon"])
            except (KeyError, TypeError, ValueError):
                raise MapError(
                    f"{path}: {kind}[{k}] needs id, lat and lon (got {row!r}); fix that entry"
                ) from None
            extra = {k2: v for k2, v in row.items() if k2 not in ("id", "name", "lat", "lon")}
            specs.append(PlaceSpec(pid, str(row.get("name", pid)), lat, lon, extra))
        ids = [s.id for s in specs]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise MapError(f"{path}: duplicate {kind} ids {sorted(dup)}; make ids unique")
        out[kind] = specs
    if not out["hotspots"]:
        raise MapError(f"{path}: no hotspots listed; add at least one under 'hotspots:'")
    return out


@dataclass(frozen=True)
class ZoneSpec:
    key: str
    zone_id: int
    name: str
    officers: int
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class CommuneSpec:
    nis: str
    name_fr: str
    name_nl: str
    population: int
    zone_id: int


def read_communes(path: str | Path | None = None) -> tuple[list[ZoneSpec], list[CommuneSpec]]:
    """Read police zones and communes (with population and zone) from YAML."""
    path = Path(path) if path else config_dir() / "places" / "communes.yaml"
    data = _read_yaml(path)
    zones = [
        ZoneSpec(str(z["key"]), int(z["id"]), str(z["name"]), int(z["officers"]),
                 tuple(z.get("aliases", [])))
        for z in data.get("zones", [])
    ]
    communes = [
        CommuneSpec(str(c["nis"]), str(c["name_fr"]), str(c["name_nl"]), int(c["population"]),
                    int(c["zone"]))
        for c in data.get("communes", [])
    ]
    if not zones or not communes:
        raise MapError(f"{path}: needs non-empty 'zones' and 'communes' lists")
    return zones, communes
