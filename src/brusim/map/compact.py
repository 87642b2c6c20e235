"""The compact street-network file: a `StreetNetwork` in a few hundred kilobytes.

This is the form in which the Brussels map ships inside the package (``brusim/data/``), so a
fresh installation runs offline; ``brusim map build`` (or ``scripts/build_packaged_map.py``)
makes one from any OSMnx GraphML or OSM XML file. The file is an xz-compressed ``.npz`` of
integer-coded arrays (coordinates in 1e-7 degrees, delta-coded node ids and edge ends, float32
lengths) plus a JSON header with its provenance, attribution and licence, and a SHA-256 of the
decoded arrays that is checked on every read. Decoding restores the network exactly: a map
assembled from the file equals the one compiled from its source (tests/test_packaged_map.py).

The file is a derived database of OpenStreetMap: (c) OpenStreetMap contributors, offered under
the Open Database License 1.0 (see ``brusim/data/NOTICE.md``).
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

from brusim.errors import MapError
from brusim.map.network import StreetNetwork

FORMAT = "brusim-street-network"
VERSION = 1
PACKAGED_FILE = "brussels_streets_osm2021.npz.xz"
ATTRIBUTION = "© OpenStreetMap contributors"
LICENCE = ("Open Database License 1.0 (ODbL-1.0, https://opendatacommons.org/licenses/odbl/1-0/):"
           " this file is a derived database of OpenStreetMap data and is offered under the "
           "ODbL")
OSM_NOTICE = ("© OpenStreetMap contributors, Open Database License (ODbL) 1.0; a map built "
              "from it is a derived database under the ODbL (brusim/data/NOTICE.md)")
_SCALE = 10_000_000  # coordinates are stored in 1e-7 degrees (OpenStreetMap's own precision)


@dataclass(frozen=True)
class CompactInfo:
    """What a compact file says about itself (its JSON header)."""

    name: str
    source_hash: str
    header: dict


def packaged_path() -> Path:
    """The Brussels street network that ships with brusim."""
    return Path(str(files("brusim") / "data" / PACKAGED_FILE))


def _exact_fixed(values: np.ndarray) -> np.ndarray | None:
    """``values`` in 1e-7 degrees when that integer coding restores them exactly, else None."""
    coded = np.round(values * _SCALE).astype(np.int64)
    return coded if np.array_equal(coded / _SCALE, values) else None


def _arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _network_arrays(network: StreetNetwork) -> dict[str, np.ndarray]:
    return {"lon": network.lon, "lat": network.lat, "osmid": network.osmid,
            "edge_u": network.edge_u, "edge_v": network.edge_v,
            "edge_length_m": network.edge_length_m, "commune": network.commune}


def encode(network: StreetNetwork, provenance: dict | None = None) -> bytes:
    """The compact file's bytes for ``network`` (deterministic: same network, same bytes)."""
    if np.any(np.diff(network.edge_u) < 0) or np.any(network.edge_v <= network.edge_u):
        raise ValueError("edges must be sorted by u with u < v (network_from_graph's order)")
    stored: dict[str, np.ndarray] = {}
    for axis in ("lon", "lat"):
        coded = _exact_fixed(getattr(network, axis))
        if coded is None:
            stored[f"{axis}_f8"] = getattr(network, axis)
        else:
            stored[f"{axis}_e7_delta"] = np.diff(coded, prepend=0)
    stored["osmid_delta"] = np.diff(network.osmid, prepend=0)
    stored["edge_u_delta"] = np.diff(network.edge_u.astype(np.int64), prepend=0).astype(np.int32)
    stored["edge_v_minus_u"] = (network.edge_v - network.edge_u).astype(np.int32)
    stored["edge_length_m"] = network.edge_length_m.astype(np.float32)
    stored["commune"] = network.commune.astype(np.int16)
    header = {
        "format": FORMAT, "version": VERSION, "name": network.name,
        "source_hash": network.source_hash, "commune_nis": list(network.commune_nis),
        "stats": network.stats, "nodes": network.n_nodes, "edges": network.n_edges,
        "attribution": ATTRIBUTION, "licence": LICENCE, "provenance": provenance or {},
        "arrays_sha256": _arrays_digest(_network_arrays(network)),
    }
    buffer = io.BytesIO()
    np.savez(buffer, header=np.str_(json.dumps(header, sort_keys=True)), **stored)
    return lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME)


def save_network(network: StreetNetwork, path: Path, provenance: dict | None = None) -> Path:
    """Write ``network`` as a compact file (atomically)."""
    from brusim.io import write_bytes

    return write_bytes(Path(path), encode(network, provenance))


def read_header(path: Path) -> dict:
    """The JSON header of a compact file (provenance, attribution, licence, sizes)."""
    return _decode(Path(path))[1]


def load_network(path: Path) -> StreetNetwork:
    """Read a compact file; a damaged or foreign file is a one-line MapError."""
    return _decode(Path(path))[0]


def _damaged(path: Path, why: str) -> MapError:
    fix = ("reinstall brusim" if path == packaged_path()
           else "build it again with `brusim map build`")
    return MapError(f"street network file {path} is damaged or not a brusim network ({why}); "
                    f"{fix}")


def _decode(path: Path) -> tuple[StreetNetwork, dict]:
    try:
        raw = lzma.decompress(path.read_bytes())
    except FileNotFoundError:
        raise MapError(f"street network file not found: {path}; check map.path or "
                       "BRUSIM_MAP") from None
    except OSError as exc:
        raise MapError(f"cannot read street network file {path} ({exc.strerror or exc}); "
                       "check its permissions") from None
    except lzma.LZMAError as exc:
        raise _damaged(path, f"xz: {exc}") from None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            stored = {k: data[k] for k in data.files}
        header = json.loads(stored.pop("header").item())
        if header.get("format") != FORMAT:
            raise ValueError("not a street network")
        if header.get("version") != VERSION:
            raise ValueError(f"format version {header.get('version')}, this brusim reads "
                             f"{VERSION}")
        coords = {}
        for axis in ("lon", "lat"):
            if f"{axis}_f8" in stored:
                coords[axis] = stored[f"{axis}_f8"].astype(np.float64)
            else:
                coords[axis] = np.cumsum(stored[f"{axis}_e7_delta"]) / _SCALE
        edge_u = np.cumsum(stored["edge_u_delta"].astype(np.int64)).astype(np.int32)
        network = StreetNetwork(
            name=str(header["name"]), source_hash=str(header["source_hash"]),
            lon=coords["lon"], lat=coords["lat"],
            osmid=np.cumsum(stored["osmid_delta"]).astype(np.int64),
            edge_u=edge_u, edge_v=(edge_u + stored["edge_v_minus_u"]).astype(np.int32),
            edge_length_m=stored["edge_length_m"].astype(np.float32),
            commune=stored["commune"].astype(np.int16),
            commune_nis=tuple(str(c) for c in header["commune_nis"]),
            stats=dict(header.get("stats", {})),
        )
    except (KeyError, ValueError, TypeError, OSError) as exc:
        raise _damaged(path, f"{type(exc).__name__}: {str(exc)[:80]}") from None
    if _arrays_digest(_network_arrays(network)) != header.get("arrays_sha256"):
        raise _damaged(path, "its arrays do not match their checksum")
    return network, header
