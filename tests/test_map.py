"""Tests for the map layer: synthetic city, Brussels reference map, cache, errors, summary, plots.

Real-map tests (marked ``realmap``) read the Brussels GraphML from ``$BRUSIM_MAP`` or from
``../shared/data/brussels/`` beside the repository and are skipped when it is absent. They share
one compiled map (session-scoped, compiled once into a session temporary cache).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from dataclasses import fields
from pathlib import Path

import matplotlib.image as mpimg
import networkx as nx
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pyproj import Transformer

from brusim.errors import MapError
from brusim.map import MapSettings, PlaceSet, StreetMap, load_street_map
from brusim.map import compile as map_compile
from brusim.map.compile import compile_street_map
from brusim.map.info import format_map_summary, map_summary
from brusim.map.loader import SyntheticSettings
from brusim.map.plot import draw_streets, plot_street_map, short_label, street_edges
from brusim.map.sources import read_osm_xml
from brusim.map.synthetic import synthetic_city

DEFAULT_MAP = Path(__file__).resolve().parents[2] / "shared/data/brussels/streets_osm2021.graphml"
ZONE_KEYS = {"bxl_ixelles", "ouest", "midi", "marlow", "montgomery", "nord"}


def _real_map_path() -> Path:
    """``$BRUSIM_MAP`` if set, else the shared reference GraphML; skip the test if absent."""
    env = os.environ.get("BRUSIM_MAP")
    path = Path(env) if env else DEFAULT_MAP
    if not path.is_file():
        pytest.skip(f"Brussels reference data not found at {path}")
    return path


def _real_settings(path: Path, cache: Path, **kw: object) -> MapSettings:
    source = "osm" if path.suffix.lower() in (".osm", ".xml") else "graphml"
    return MapSettings(source=source, path=str(path), cache_dir=str(cache), **kw)


@pytest.fixture(scope="module")
def real_map_path() -> Path:
    return _real_map_path()


@pytest.fixture(scope="session")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("brusim_map_cache")


@pytest.fixture(scope="session")
def real_map(real_cache: Path) -> StreetMap:
    """The Brussels map, compiled once per session into a session temporary cache."""
    return load_street_map(_real_settings(_real_map_path(), real_cache))


@pytest.fixture(scope="module")
def synthetic() -> StreetMap:
    return load_street_map(MapSettings(source="synthetic"))


def assert_same_map(a: StreetMap, b: StreetMap) -> None:
    """Every array (dtype and values), place set and metadata field of two maps is equal."""
    for f in fields(StreetMap):
        if not f.compare:  # not map data (where the map keeps its balls)
            continue
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if isinstance(va, np.ndarray):
            assert va.dtype == vb.dtype, f.name
            assert np.array_equal(va, vb), f.name
        elif isinstance(va, PlaceSet):
            for pf in fields(PlaceSet):
                pa, pb = getattr(va, pf.name), getattr(vb, pf.name)
                if isinstance(pa, np.ndarray):
                    assert pa.dtype == pb.dtype, f"{f.name}.{pf.name}"
                    assert np.array_equal(pa, pb), f"{f.name}.{pf.name}"
                else:
                    assert pa == pb, f"{f.name}.{pf.name}"
        else:
            assert va == vb, f.name


def _copy_cache(src: Path, dst: Path) -> tuple[Path, Path]:
    """Copy the single cache entry of ``src`` into ``dst``; return its (npz, json) paths."""
    npz = list(src.glob("*.npz"))
    assert len(npz) == 1, f"expected one cache entry in {src}, found {npz}"
    dst.mkdir(parents=True, exist_ok=True)
    for p in (npz[0], npz[0].with_suffix(".json")):
        shutil.copy2(p, dst / p.name)
    return dst / npz[0].name, dst / npz[0].with_suffix(".json").name


def _no_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any compilation fail, to prove a map came from the cache."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the map was compiled instead of loaded from the cache")

    monkeypatch.setattr(map_compile, "compile_street_map", boom)


# ------------------------------------------------------------------------ synthetic city


def test_synthetic_is_deterministic_for_a_seed(synthetic: StreetMap) -> None:
    again = load_street_map(MapSettings(source="synthetic"))
    assert_same_map(synthetic, again)


def test_synthetic_other_seed_gives_other_coordinates(synthetic: StreetMap) -> None:
    other = load_street_map(MapSettings(source="synthetic", synthetic=SyntheticSettings(seed=1)))
    assert other.n_nodes == synthetic.n_nodes == 400
    assert not np.allclose(other.x, synthetic.x)
    assert not np.allclose(other.y, synthetic.y)


def test_synthetic_csr_is_symmetric(synthetic: StreetMap) -> None:
    g = synthetic.graph
    assert (g != g.T).nnz == 0
    assert np.all(np.diff(synthetic.indptr) > 0), "every node has a street"
    rows = np.repeat(np.arange(synthetic.n_nodes), np.diff(synthetic.indptr))
    assert not np.any(rows == synthetic.indices), "no self-loops"
    assert len(synthetic.indices) == 2 * synthetic.n_edges
    assert synthetic.street_km == pytest.approx(synthetic.length_m.sum() / 2000)


def test_synthetic_every_node_has_a_zone_and_commune(synthetic: StreetMap) -> None:
    assert synthetic.zone.min() >= 0
    assert synthetic.zone.max() < len(synthetic.zone_names)
    assert set(np.unique(synthetic.zone)) == {0, 1}
    assert synthetic.commune.min() >= 0
    assert synthetic.commune.max() < len(synthetic.commune_names)


def test_synthetic_hotspots_snap_exactly(synthetic: StreetMap) -> None:
    assert synthetic.hotspots.ids == ("central", "west", "east", "north")
    assert np.all(synthetic.hotspots.snap_m < 0.01)


def test_synthetic_catchment_is_exactly_the_nodes_within_range(synthetic: StreetMap) -> None:
    hs, limit = synthetic.hotspots, synthetic.stats["catchment_m"]
    assert limit == 400.0
    for i in range(len(hs)):
        members = hs.catchment(i)
        assert hs.node[i] in members
        assert hs.dist[i, hs.node[i]] == 0.0
        assert np.all(hs.dist[i, members] <= limit)
        assert set(members.tolist()) == set(np.flatnonzero(hs.dist[i] <= limit).tolist())
        assert 10 < len(members) < synthetic.n_nodes


# ---------------------------------------------------------------------- the Brussels map


@pytest.mark.realmap
def test_real_map_keeps_main_component(real_map: StreetMap) -> None:
    stats = real_map.stats
    kept = stats["nodes_in_source"] - stats["nodes_dropped_outside_main_component"]
    assert kept == real_map.n_nodes
    assert kept / stats["nodes_in_source"] >= 0.99


@pytest.mark.realmap
def test_real_map_every_node_in_one_of_six_zones(real_map: StreetMap) -> None:
    assert set(real_map.zone_ids) == ZONE_KEYS
    assert real_map.zone.min() >= 0 and real_map.zone.max() <= 5
    assert set(np.unique(real_map.zone).tolist()) == set(range(6))
    assert len(real_map.commune_names) == 19
    assert set(np.unique(real_map.commune).tolist()) == set(range(19))


@pytest.mark.realmap
def test_gare_du_midi_snaps_into_zone_midi(real_map: StreetMap) -> None:
    hs = real_map.hotspots
    i = hs.index("gare_du_midi")
    assert hs.snap_m[i] <= 150.0
    assert real_map.zone_ids[real_map.zone[hs.node[i]]] == "midi"


@pytest.mark.realmap
def test_network_distance_midi_to_nord(real_map: StreetMap) -> None:
    hs = real_map.hotspots
    midi, nord = hs.index("gare_du_midi"), hs.index("gare_du_nord")
    d = float(hs.dist[midi, hs.node[nord]])
    assert 3200.0 <= d <= 4500.0
    assert d == pytest.approx(float(hs.dist[nord, hs.node[midi]]), rel=1e-5)  # undirected
    straight = np.hypot(real_map.x[hs.node[midi]] - real_map.x[hs.node[nord]],
                        real_map.y[hs.node[midi]] - real_map.y[hs.node[nord]])
    assert d >= straight


@pytest.mark.realmap
def test_real_street_km(real_map: StreetMap) -> None:
    assert 1800.0 <= real_map.street_km <= 2300.0


@pytest.mark.realmap
def test_cache_round_trip_gives_identical_arrays(
    real_map: StreetMap, real_cache: Path, real_map_path: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the session fixture compiled the map and saved it; load that entry from a private copy
    _copy_cache(real_cache, tmp_path)
    _no_compile(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cached = load_street_map(_real_settings(real_map_path, tmp_path))
    assert_same_map(real_map, cached)


@pytest.mark.realmap
@pytest.mark.parametrize("damage", ["npz_bytes", "json_truncated"])
def test_corrupt_cache_is_rebuilt_with_warning(
    damage: str, real_map: StreetMap, real_cache: Path, real_map_path: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    npz, manifest = _copy_cache(real_cache, tmp_path)
    if damage == "npz_bytes":
        with open(npz, "r+b") as fh:
            fh.seek(npz.stat().st_size // 2)
            fh.write(b"\x00\xff" * 64)
    else:
        text = manifest.read_text(encoding="utf-8")
        manifest.write_text(text[: len(text) // 2], encoding="utf-8")
    settings = _real_settings(real_map_path, tmp_path)
    with pytest.warns(UserWarning, match="corrupt or stale"):
        rebuilt = load_street_map(settings)
    assert_same_map(real_map, rebuilt)
    # the rebuilt entry is valid again: it loads silently, without compiling
    _no_compile(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same_map(real_map, load_street_map(settings))


@pytest.mark.realmap
def test_hotspot_far_outside_region_is_rejected(
    real_map: StreetMap, real_map_path: Path, tmp_path: Path
) -> None:
    lat, lon = 50.90, 4.55  # north-east of the region, towards Kortenberg
    x, y = Transformer.from_crs(4326, 31370, always_xy=True).transform(lon, lat)
    _, nearest = real_map.nearest_node(x, y)
    assert nearest > 5000.0, "the test hotspot must lie km outside the street network"
    places = tmp_path / "places.yaml"
    places.write_text(
        "hotspots:\n"
        f"  - {{id: far_away_square, name: Far away, lat: {lat}, lon: {lon}}}\n"
        "stations: []\nconsumption_rooms: []\n",
        encoding="utf-8",
    )
    with pytest.raises(MapError) as info:
        load_street_map(_real_settings(real_map_path, tmp_path, places_file=str(places)))
    message = str(info.value)
    assert "far_away_square" in message
    found = re.search(r"is ([\d,]+) m from", message)
    assert found, message
    assert float(found.group(1).replace(",", "")) == pytest.approx(nearest, abs=1.0)


@pytest.mark.realmap
def test_truncated_graphml_is_reported(real_map_path: Path, tmp_path: Path) -> None:
    if real_map_path.suffix.lower() != ".graphml":
        pytest.skip(f"{real_map_path} is not a GraphML file")
    cut = tmp_path / "truncated.graphml"
    with open(real_map_path, "rb") as fh:
        cut.write_bytes(fh.read(100_000))
    with pytest.raises(MapError, match="truncated"):
        load_street_map(MapSettings(source="graphml", path=str(cut), cache_dir=str(tmp_path)))


# ---------------------------------------------------------------------- graph problems


def _tiny_graph(components: list[int]) -> nx.MultiDiGraph:
    """Separate street paths (one per entry, of that many nodes) near the synthetic city."""
    to_wgs = Transformer.from_crs(31370, 4326, always_xy=True)
    graph = nx.MultiDiGraph(crs="epsg:4326")
    node = 0
    for c, size in enumerate(components):
        first = node
        for k in range(size):
            lon, lat = to_wgs.transform(148_000.0 + 100.0 * k, 170_000.0 + 800.0 * c)
            graph.add_node(node, x=lon, y=lat, nis="90001")
            if k:
                graph.add_edge(node - 1, node, length=100.0)
                graph.add_edge(node, node - 1, length=100.0)
            node += 1
        assert node - first == size
    return graph


def _compile_with_synthetic_places(graph: nx.MultiDiGraph, **kw: object) -> StreetMap:
    city = synthetic_city()
    return compile_street_map(graph, city.places, city.zones, city.communes, name="tiny",
                              source_hash="test", max_snap_m=1e6, **kw)


def test_empty_graph_is_rejected() -> None:
    with pytest.raises(MapError, match="empty"):
        _compile_with_synthetic_places(nx.MultiDiGraph())


def test_two_equal_components_are_rejected() -> None:
    with pytest.raises(MapError, match="disconnected"):
        _compile_with_synthetic_places(_tiny_graph([3, 3]))


def test_small_component_is_dropped() -> None:
    smap = _compile_with_synthetic_places(_tiny_graph([5, 2]))
    assert smap.n_nodes == 5
    assert smap.stats["nodes_dropped_outside_main_component"] == 2
    assert smap.stats["components_in_source"] == 2
    assert smap.street_km == pytest.approx(0.4)


# ------------------------------------------------------------------------------- OSM XML

OSM_XML = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="brusim-test">
  <node id="1" lat="50.8400" lon="4.3500" version="1"/>
  <node id="2" lat="50.8410" lon="4.3500" version="1"/>
  <node id="3" lat="50.8420" lon="4.3500" version="1"/>
  <node id="4" lat="50.8410" lon="4.3515" version="1"/>
  <node id="11" lat="50.8430" lon="4.3520" version="1"/>
  <node id="12" lat="50.8430" lon="4.3525" version="1"/>
  <node id="13" lat="50.8433" lon="4.3525" version="1"/>
  <node id="14" lat="50.8433" lon="4.3520" version="1"/>
  <way id="100" version="1">
    <nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/><tag k="name" v="Rue de Test"/>
  </way>
  <way id="101" version="1">
    <nd ref="2"/><nd ref="4"/>
    <tag k="highway" v="footway"/>
  </way>
  <way id="200" version="1">
    <nd ref="11"/><nd ref="12"/><nd ref="13"/><nd ref="14"/><nd ref="11"/>
    <tag k="building" v="yes"/>
  </way>
</osm>
"""


def test_osm_xml_keeps_only_highways(tmp_path: Path) -> None:
    path = tmp_path / "tiny.osm"
    path.write_text(OSM_XML, encoding="utf-8")
    graph = read_osm_xml(path)
    edges = list(graph.edges(data=True))
    assert edges
    assert all("highway" in d for _, _, d in edges)
    assert {frozenset((u, v)) for u, v, _ in edges} == {
        frozenset((1, 2)), frozenset((2, 3)), frozenset((2, 4))
    }
    assert not {11, 12, 13, 14} & set(graph.nodes)
    assert all(d["length"] > 100 for _, _, d in edges)


# ------------------------------------------------------------------------ summary, plots


@pytest.mark.realmap
def test_real_map_summary(real_map: StreetMap) -> None:
    summary = map_summary(real_map)
    assert summary["nodes"] == real_map.n_nodes
    assert summary["edges"] == real_map.n_edges
    assert len(summary["zones"]) == 6
    assert all(z["nodes"] > 0 and z["street_km"] > 0 for z in summary["zones"])
    assert {z["id"] for z in summary["zones"]} == ZONE_KEYS
    assert sum(z["street_km"] for z in summary["zones"]) == pytest.approx(real_map.street_km)
    assert sum(c["street_km"] for c in summary["communes"]) == pytest.approx(real_map.street_km)
    assert sum(z["nodes"] for z in summary["zones"]) == real_map.n_nodes
    assert [h["id"] for h in summary["hotspots"]] == list(real_map.hotspots.ids)
    midi = next(h for h in summary["hotspots"] if h["id"] == "gare_du_midi")
    assert midi["zone"] == "Midi"
    assert midi["catchment_nodes"] == len(real_map.hotspots.catchment(0))
    text = format_map_summary(summary)
    for name in [*real_map.zone_names, *real_map.commune_names, *real_map.hotspots.ids]:
        assert name in text
    assert f"Hotspots ({len(real_map.hotspots)})" in text


def test_summary_text_is_aligned(synthetic: StreetMap) -> None:
    text = format_map_summary(map_summary(synthetic))
    lines = text.splitlines()
    header = lines.index("Police zones") + 1
    # header, rule and rows share column positions: the rule's gaps line up with the header's
    rule = lines[header + 1]
    gaps = [m.start() for m in re.finditer(r"  -", rule)]
    for row in lines[header: header + 4]:
        assert all(row[g: g + 2] == "  " for g in gaps), row
    assert "400 nodes" in text and "West zone" in text


def test_plot_synthetic_map(synthetic: StreetMap, tmp_path: Path) -> None:
    out = plot_street_map(synthetic, tmp_path / "maps" / "synthetic.png", dpi=100)
    assert out.is_file()
    assert out.stat().st_size > 10_000
    image = mpimg.imread(out)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] > 600 and image.shape[1] > 600


def test_draw_streets_per_node_values(synthetic: StreetMap) -> None:
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    lc = draw_streets(ax, synthetic, colors=synthetic.node_population, cmap="viridis")
    u, v = street_edges(synthetic)
    assert len(u) == synthetic.n_edges and np.all(u < v)
    assert len(lc.get_segments()) == synthetic.n_edges
    assert len(lc.get_array()) == synthetic.n_edges
    lo, hi = ax.get_xlim()
    assert lo < synthetic.x.min() and hi > synthetic.x.max()
    with pytest.raises(ValueError, match="one per street segment"):
        draw_streets(ax, synthetic, colors=np.zeros(3))


def test_short_labels() -> None:
    assert short_label("Gare du Midi / Zuidstation") == "Gare du Midi"
    assert short_label("Saint-Antoine (Forest)") == "Saint-Antoine"
    assert short_label("Querelle / Marolles") == "Querelle / Marolles"


def test_failed_download_says_how_to_pass_a_file(tmp_path, monkeypatch):
    """Offline (or for a place OSM does not know) the download fails with one line that says how
    to give a file instead."""
    monkeypatch.setenv("BRUSIM_CACHE", str(tmp_path))
    with pytest.raises(MapError) as info:
        load_street_map(MapSettings(source="osm", place="Atlantis-sur-Senne, Nowhere"))
    message = str(info.value)
    assert "BRUSIM_MAP" in message and "\n" not in message


def test_command_line_imports_no_map_compiler_or_plotting_library() -> None:
    """`brusim` starts without networkx, osmnx, pyproj, scipy.spatial or matplotlib: the map
    layer imports them only to compile a map, query a KD-tree or draw."""
    heavy = ("networkx", "osmnx", "pyproj", "scipy.spatial", "scipy.sparse", "matplotlib")
    code = ("import sys, brusim.cli\n"
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
