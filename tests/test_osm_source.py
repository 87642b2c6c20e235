"""OpenStreetMap data as users get it: an OSM XML extract, and a download through OSMnx from an
Overpass server (here a small one started by the test on localhost, answering with a street
grid around Gare du Midi: no network). The nodes carry no commune, so the packaged UrbIS
outlines label them; and a map too large for its neighbourhood tables is refused up front."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import pytest
import yaml

from brusim.config.load import compose_config
from brusim.config.validate import problems
from brusim.map import MapSettings, load_street_map
from brusim.map.sources import BRUSSELS_PLACE

MIDI = (50.83571, 4.33653)  # lat, lon
STEP_DEG = (0.0009, 0.0014)  # ~100 m between grid nodes


def street_grid(size: int = 16) -> tuple[list[dict], list[dict]]:
    """OSM nodes and ways of a size x size grid centred on Gare du Midi: named residential
    streets, plus one unnamed footway across the grid."""
    lat0 = MIDI[0] - STEP_DEG[0] * size / 2
    lon0 = MIDI[1] - STEP_DEG[1] * size / 2
    nodes = [{"type": "node", "id": 1000 + i * size + j, "lat": round(lat0 + i * STEP_DEG[0], 7),
              "lon": round(lon0 + j * STEP_DEG[1], 7)} for i in range(size) for j in range(size)]
    ways = []
    for i in range(size):
        ways.append({"type": "way", "id": 5000 + i, "nodes": [1000 + i * size + j
                                                             for j in range(size)],
                     "tags": {"highway": "residential", "name": f"Rue {i}"}})
        ways.append({"type": "way", "id": 6000 + i, "nodes": [1000 + j * size + i
                                                             for j in range(size)],
                     "tags": {"highway": "residential", "name": f"Avenue {i}"}})
    # an unnamed footway between two grid corners, through an extra node
    extra = {"type": "node", "id": 999, "lat": round(lat0 + STEP_DEG[0] * 0.5, 7),
             "lon": round(lon0 + STEP_DEG[1] * 0.5, 7)}
    nodes.append(extra)
    ways.append({"type": "way", "id": 7000, "nodes": [1000, 999, 1000 + size + 1],
                 "tags": {"highway": "footway"}})
    return nodes, ways


def write_osm_xml(path: Path, nodes: list[dict], ways: list[dict]) -> Path:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    lines += [f'  <node id="{n["id"]}" lat="{n["lat"]}" lon="{n["lon"]}" version="1"/>'
              for n in nodes]
    for w in ways:
        lines.append(f'  <way id="{w["id"]}" version="1">')
        lines += [f'    <nd ref="{r}"/>' for r in w["nodes"]]
        lines += [f'    <tag k="{k}" v={quoteattr(v)}/>' for k, v in w["tags"].items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def places_file(tmp_path: Path) -> Path:
    """Two hotspots and one room inside the grid (the Brussels list reaches far beyond it)."""
    path = tmp_path / "places.yaml"
    path.write_text(yaml.safe_dump({
        "hotspots": [{"id": "gare_du_midi", "name": "Gare du Midi", "lat": MIDI[0],
                      "lon": MIDI[1], "listed": True},
                     {"id": "porte_de_hal", "name": "Porte de Hal", "lat": 50.8339,
                      "lon": 4.3410, "listed": True}],
        "stations": [{"id": "midi", "name": "Midi", "lat": MIDI[0], "lon": MIDI[1],
                      "footfall": 6}],
        "consumption_rooms": [{"id": "gate", "name": "GATE", "lat": 50.8390, "lon": 4.3390}],
    }), encoding="utf-8")
    return path


def _labelled_like_brussels(smap) -> None:
    """Nodes around Midi lie in Saint-Gilles, Anderlecht and Bruxelles: three communes of two
    police zones, labelled from the packaged outlines, none left unlabelled."""
    names = {smap.commune_names[c] for c in np.unique(smap.commune)}
    assert {"Saint-Gilles", "Anderlecht", "Bruxelles"} <= names
    zones = {smap.zone_ids[z] for z in np.unique(smap.zone)}
    assert {"midi", "bxl_ixelles"} <= zones
    assert smap.stats["labelled_from_attributes"] == 0
    assert smap.stats["labelled_from_polygons"] > 0.9 * smap.n_nodes
    midi = smap.hotspots.node[smap.hotspots.index("gare_du_midi")]
    assert smap.commune_names[smap.commune[midi]] == "Saint-Gilles"
    assert smap.zone_ids[smap.zone[midi]] == "midi"
    assert "OpenStreetMap" in smap.stats["attribution"]


def test_osm_xml_extract_is_labelled_from_the_packaged_outlines(tmp_path, places_file):
    nodes, ways = street_grid()
    osm = write_osm_xml(tmp_path / "midi.osm", nodes, ways)
    settings = MapSettings(source="osm", path=str(osm), places_file=str(places_file),
                           cache_dir=str(tmp_path / "maps"))
    smap = load_street_map(settings)
    _labelled_like_brussels(smap)
    # OSMnx merges the grid's corner nodes into their edges (simplification)
    assert 16 * 16 - 4 <= smap.n_nodes <= 16 * 16
    every = load_street_map(MapSettings(source="osm", path=str(osm), osm_streets="all",
                                        places_file=str(places_file),
                                        cache_dir=str(tmp_path / "maps")))
    assert every.n_edges == smap.n_edges + 1  # named streets only: without the footway


class FakeOverpass(BaseHTTPRequestHandler):
    """Answers Overpass API queries (POST /api/interpreter) with the street grid as JSON."""

    queries: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's method name)
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        type(self).queries.append(urllib.parse.parse_qs(body)["data"][0])
        nodes, ways = street_grid()
        payload = json.dumps({"version": 0.6, "elements": nodes + ways}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def overpass(monkeypatch):
    import osmnx as ox

    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOverpass)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeOverpass.queries = []
    monkeypatch.setattr(ox.settings, "overpass_url", f"http://127.0.0.1:{server.server_port}/api")
    monkeypatch.setattr(ox.settings, "overpass_rate_limit", False)
    monkeypatch.setattr(ox.settings, "use_cache", False)
    yield FakeOverpass
    server.shutdown()
    server.server_close()


def test_download_is_labelled_cached_and_refreshed_on_request(tmp_path, places_file, overpass,
                                                              monkeypatch):
    """`map.source=osm` without a path asks Overpass for the walk network inside the packaged
    region outline (no geocoding), keeps the named streets, labels the nodes and caches the
    download: a second load asks nothing, `map.refresh=true` asks again."""
    monkeypatch.setenv("BRUSIM_CACHE", str(tmp_path / "cache"))
    settings = MapSettings(source="osm", places_file=str(places_file))
    smap = load_street_map(settings)
    assert len(overpass.queries) == 1
    query = overpass.queries[0]
    assert "highway" in query and "poly:" in query and "footway" not in query.split("!~")[0]
    _labelled_like_brussels(smap)
    assert 16 * 16 - 4 <= smap.n_nodes <= 16 * 16 and "downloaded" in smap.stats
    again = load_street_map(settings)
    assert len(overpass.queries) == 1 and again.source_hash == smap.source_hash
    load_street_map(MapSettings(source="osm", refresh=True, places_file=str(places_file)))
    assert len(overpass.queries) == 2
    assert settings.place == BRUSSELS_PLACE


def test_a_map_too_large_for_its_neighbourhood_tables_is_refused_up_front(tmp_path):
    """A dense network (here 90 x 90 nodes 8 m apart, every node within the 639 m awareness
    radius of most others) is refused before any table is built, in one line that names the
    setting and the ways out; the same settings pass on the synthetic city."""
    cfg = compose_config(["run.max_memory_gb=0.5"], config_name="synthetic")
    dense = load_street_map(MapSettings(source="synthetic", synthetic={
        "size": 90, "spacing_m": 8.0, "seed": 0, "drop_share": 0.0,
        "hotspots": [["central", 45, 45], ["west", 10, 45], ["east", 80, 45],
                     ["north", 45, 80]]}))
    found = problems(cfg, dense)
    assert len(found) == 1
    assert "neighbourhood tables" in found[0] and "run.max_memory_gb=0.5" in found[0]
    assert "behaviour.dealers.awareness_m" in found[0] and "osm_streets=named" in found[0]
    assert problems(cfg, load_street_map(MapSettings(source="synthetic"))) == []
