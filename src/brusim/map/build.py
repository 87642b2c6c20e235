"""Build a compact street-network file (`brusim.map.compact`) from a GraphML or OSM XML file.

``brusim map build SOURCE -o OUT`` and ``scripts/build_packaged_map.py`` (which makes the map
that ships in ``brusim/data/``) both call `build_network_file`. The result depends only on the
source file, the commune table and the outlines, never on the time or the machine: building
again from the same inputs gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

from brusim.map.compact import encode, load_network
from brusim.map.network import StreetNetwork, network_from_graph
from brusim.map.places import read_communes
from brusim.map.sources import file_sha256, keep_streets, outlines_path, read_graph, source_kind


def build_network(source: Path, *, name: str | None = None, streets: str | None = None,
                  communes_file: Path | None = None) -> StreetNetwork:
    """The `StreetNetwork` of a GraphML or OSM XML file (OSM XML: named streets by default,
    as the loader reads it; ``streets='all'`` keeps every way)."""
    source = Path(source)
    graph = read_graph(source)
    if streets is None:
        streets = "named" if source_kind(source) == "osm" else "all"
    graph = keep_streets(graph, streets)
    _, communes = read_communes()
    return network_from_graph(graph, communes, name=name or source.name,
                              source_hash=file_sha256(source),
                              communes_file=communes_file or outlines_path())


def build_network_file(source: Path, out: Path, *, name: str | None = None,
                       streets: str | None = None, description: str = "",
                       command: str = "") -> Path:
    """Build the compact file ``out`` from ``source`` and check that it reads back exactly."""
    from brusim.io import write_bytes

    network = build_network(source, name=name, streets=streets)
    provenance = {"source_file": Path(source).name, "source_sha256": network.source_hash,
                  "source_description": description, "built_with": command}
    out = write_bytes(Path(out), encode(network, provenance))
    back = load_network(out)
    assert back.n_nodes == network.n_nodes and back.n_edges == network.n_edges
    return out
