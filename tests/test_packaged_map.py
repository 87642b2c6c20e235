"""The Brussels map that ships inside the package: offline by default, exact, attributed, and
rebuilt byte for byte by the script in the repository."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from brusim.errors import MapError
from brusim.map import MapSettings, PlaceSet, StreetMap, load_street_map
from brusim.map.compact import (
    ATTRIBUTION,
    encode,
    load_network,
    packaged_path,
    read_header,
    save_network,
)
from brusim.map.network import StreetNetwork

REPO = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "BRUSIM_MAP"}
    return {**env, "BRUSIM_CACHE": str(tmp_path / "cache"), **extra}


def assert_same_map_data(a: StreetMap, b: StreetMap) -> None:
    """Every array and place set of two maps is equal, values and dtypes (name, source hash
    and compile statistics may differ: they describe where the map came from)."""
    for f in fields(StreetMap):
        if f.name in ("name", "source_hash", "stats") or not f.compare:
            continue
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if isinstance(va, np.ndarray):
            assert va.dtype == vb.dtype and np.array_equal(va, vb), f.name
        elif isinstance(va, PlaceSet):
            for g in fields(PlaceSet):
                pa, pb = getattr(va, g.name), getattr(vb, g.name)
                if isinstance(pa, np.ndarray):
                    assert pa.dtype == pb.dtype and np.array_equal(pa, pb), (f.name, g.name)
                else:
                    assert pa == pb, (f.name, g.name)
        else:
            assert va == vb, f.name


@pytest.fixture(scope="module")
def packaged() -> StreetMap:
    return load_street_map(MapSettings(source="packaged"))


def test_the_packaged_map_is_the_default_and_needs_no_file(tmp_path):
    """No BRUSIM_MAP, an empty cache, no network: `brusim map info` reads the packaged map and
    says where it comes from and under which licence."""
    proc = subprocess.run([sys.executable, "-m", "brusim.cli", "map", "info"],
                          capture_output=True, text=True, timeout=300, env=_env(tmp_path),
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "14,565 nodes" in proc.stdout and "21,595 street segments" in proc.stdout
    assert "© OpenStreetMap contributors" in proc.stdout and "ODbL" in proc.stdout
    sha = hashlib.sha256(packaged_path().read_bytes()).hexdigest()
    assert sha[:12] in proc.stdout


def test_packaged_file_is_small_and_attributed():
    path = packaged_path()
    assert path.stat().st_size < 700_000
    header = read_header(path)
    assert header["attribution"] == ATTRIBUTION
    assert "ODbL" in header["licence"] and "derived database" in header["licence"]
    assert header["provenance"]["source_file"] == "streets_osm2021.graphml"
    assert len(header["provenance"]["source_sha256"]) == 64
    assert header["nodes"] == 14_565 and header["edges"] == 21_595
    notice = (path.parent / "NOTICE.md").read_text()
    assert "© OpenStreetMap contributors" in notice and "odbl/1-0" in notice


def test_packaged_map_has_the_six_zones_and_every_place(packaged):
    assert packaged.n_nodes == 14_565 and len(packaged.zone_ids) == 6
    assert set(np.unique(packaged.zone)) == set(range(6))
    assert len(packaged.hotspots) == 20 and "gare_du_midi" in packaged.hotspots.ids
    assert packaged.hotspots.dist.shape == (20, packaged.n_nodes)
    assert packaged.stats["built_from_sha256"] == read_header(packaged_path())["source_hash"]


@pytest.mark.realmap
def test_packaged_map_equals_the_map_compiled_from_the_reference_graphml(packaged,
                                                                         brussels_path):
    """Decoding restores the network exactly: same nodes, coordinates, edges, lengths, zones,
    populations and place tables as compiling the GraphML, so results do not depend on which
    of the two a run used."""
    compiled = load_street_map(MapSettings(source="graphml", path=str(brussels_path),
                                           use_cache=False))
    assert_same_map_data(packaged, compiled)
    assert packaged.stats["built_from_sha256"] == compiled.source_hash


@pytest.mark.realmap
def test_build_script_rebuilds_the_packaged_files_byte_for_byte(brussels_path, tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "build_packaged_map.py"),
                           "--data", str(brussels_path.parent), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for name in (packaged_path().name, "communes_urbis.geojson"):
        assert (tmp_path / name).read_bytes() == (packaged_path().parent / name).read_bytes(), \
            f"{name} differs from the packaged copy: run scripts/build_packaged_map.py"


def _network(lon: np.ndarray, lat: np.ndarray) -> StreetNetwork:
    n = len(lon)
    u = np.arange(n - 1, dtype=np.int32)
    return StreetNetwork(name="tiny", source_hash="0" * 64, lon=lon, lat=lat,
                         osmid=np.arange(n, dtype=np.int64)[::-1].copy() * 7 + 11,
                         edge_u=u, edge_v=u + 1,
                         edge_length_m=np.linspace(0.5, 90.25, n - 1).astype(np.float32),
                         commune=(np.arange(n) % 3).astype(np.int16),
                         commune_nis=("21001", "21004", "21013"), stats={"k": 1})


@pytest.mark.parametrize("exact", [True, False])
def test_compact_file_restores_a_network_exactly(tmp_path, exact):
    """Coordinates that 1e-7 degrees can hold are stored as integers; others (a projected or
    interpolated network) fall back to float64; both read back bit for bit."""
    lon = np.round(np.linspace(4.30, 4.40, 50), 7)
    lat = np.round(np.linspace(50.80, 50.90, 50), 7)
    if not exact:
        lon = lon + 1e-9 / 3
    net = _network(lon, lat)
    path = save_network(net, tmp_path / "tiny.npz.xz", {"source_file": "x"})
    back = load_network(path)
    for f in fields(StreetNetwork):
        a, b = getattr(net, f.name), getattr(back, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), f.name
        else:
            assert a == b, f.name
    assert encode(net, {"source_file": "x"}) == path.read_bytes()  # deterministic


def test_a_damaged_network_file_is_one_line(tmp_path):
    net = _network(np.round(np.linspace(4.3, 4.4, 20), 7), np.round(np.linspace(50.8, 50.9, 20), 7))
    good = save_network(net, tmp_path / "good.npz.xz").read_bytes()
    cases = {"truncated.npz.xz": good[: len(good) // 2], "foreign.npz.xz": b"not a map at all"}
    import io
    import lzma

    with np.load(io.BytesIO(lzma.decompress(good))) as data:  # one length changed, valid xz/zip
        arrays = {k: data[k] for k in data.files}
    arrays["edge_length_m"][3] += 1.0
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    cases["altered.npz.xz"] = lzma.compress(buffer.getvalue())
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(MapError) as info:
            load_street_map(MapSettings(source="compiled", path=str(path), use_cache=False))
        message = str(info.value)
        assert "\n" not in message and "damaged" in message and "brusim map build" in message


def test_manifest_records_the_packaged_map_hash(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "brusim.cli", "run", "weeks=0.1", "population=small",
         f"run.output_dir={out}", "run.progress=false", "run.figures=false"],
        capture_output=True, text=True, timeout=600, env=_env(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["map"]["source_sha256"] == hashlib.sha256(
        packaged_path().read_bytes()).hexdigest()
    assert manifest["map"]["built_from_sha256"] == read_header(packaged_path())["source_hash"]
    assert manifest["dependencies"]["numba"] not in ("", "not installed")


def test_map_built_from_a_graph_loads_as_compiled_file(tmp_path):
    """`brusim map build` turns a street graph into a compact file that loads like the
    graph itself (here the synthetic city's graph written as GraphML)."""
    import osmnx as ox

    from brusim.map.synthetic import synthetic_city

    city = synthetic_city(size=8, hotspots=[("a", 2, 2)])
    graphml = tmp_path / "city.graphml"
    graph = city.graph.copy()
    for _, data in graph.nodes(data=True):  # the Brussels commune table: label all as 21004
        data["nis"] = "21004"
    ox.save_graphml(graph, graphml)
    out = tmp_path / "city.npz.xz"
    proc = subprocess.run([sys.executable, "-m", "brusim.cli", "map", "build", str(graphml),
                           "-o", str(out)], capture_output=True, text=True, timeout=300,
                          env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "ODbL" in proc.stdout
    net = load_network(out)
    assert net.n_nodes == 64 and set(net.commune_nis[i] for i in np.unique(net.commune)) == {
        "21004"}
    bad = subprocess.run([sys.executable, "-m", "brusim.cli", "map", "build", str(graphml),
                          "-o", str(tmp_path / "city.bin")], capture_output=True, text=True,
                         timeout=300, env=_env(tmp_path))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and ".npz.xz" in bad.stderr
