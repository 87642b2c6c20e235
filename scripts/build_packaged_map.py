"""Build the data that ships inside brusim (``src/brusim/data/``) from the reference files.

    python3 scripts/build_packaged_map.py [--data ../shared/data/brussels]

Writes
- ``brussels_streets_osm2021.npz.xz``: the compact Brussels street network, a derived
  database of OpenStreetMap (ODbL 1.0), built from ``streets_osm2021.graphml``;
- ``communes_urbis.geojson``: the 19 communes' outlines (UrbIS), simplified to ~2 m, with
  their NIS code, names and police zone, for labelling downloaded OpenStreetMap networks.

Both outputs depend only on their inputs (no dates, no machine names): running the script again
gives the same bytes, which tests/test_packaged_map.py checks when the reference data is there.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_OUT = REPO / "src" / "brusim" / "data"
OUTLINE_TOLERANCE_DEG = 2e-5  # ~1.5-2 m in Brussels: labels change only for nodes on a border
NETWORK_DESCRIPTION = ("Brussels-Capital Region named-street network, OpenStreetMap data as of "
                       "April 2021 (via the EqualStreetNames Brussels dataset), OSMnx GraphML")


def build_outlines(communes_geojson: Path, out: Path) -> Path:
    """Simplified commune outlines with the properties the map layer reads."""
    import shapely
    from shapely.geometry import mapping, shape

    from brusim.io import write_text

    source = json.loads(communes_geojson.read_text(encoding="utf-8"))
    features = []
    for feat in sorted(source["features"], key=lambda f: str(f["properties"]["nis"])):
        props = feat["properties"]
        geom = shape(feat["geometry"]).simplify(OUTLINE_TOLERANCE_DEG, preserve_topology=True)
        geom = shapely.set_precision(geom, 1e-6)
        features.append({"type": "Feature",
                         "properties": {"nis": str(props["nis"]), "name_fr": props["name_fr"],
                                        "name_nl": props["name_nl"],
                                        "zone_id": str(props["zone_id"])},
                         "geometry": mapping(geom)})
    collection = {
        "type": "FeatureCollection",
        "name": "brussels_communes_urbis_simplified",
        "attribution": "Realised by means of Brussels UrbIS - Distribution & Copyright "
                       "Paradigm (CIRB); Brussels-Capital Region open data licence; "
                       "simplified by brusim (scripts/build_packaged_map.py)",
        "features": features,
    }
    return write_text(out, json.dumps(collection, separators=(",", ":")) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data/brussels",
                        help="folder of the reference data (default: ../shared/data/brussels)")
    parser.add_argument("--out", type=Path, default=DATA_OUT, help="output folder")
    args = parser.parse_args(argv)
    graphml = args.data / "streets_osm2021.graphml"
    communes = args.data / "communes.geojson"
    for path in (graphml, communes):
        if not path.is_file():
            sys.exit(f"build_packaged_map: error: {path} not found; pass --data FOLDER")
    from brusim.map.build import build_network_file
    from brusim.map.compact import PACKAGED_FILE, read_header

    outlines = build_outlines(communes, args.out / "communes_urbis.geojson")
    print(f"wrote {outlines} ({outlines.stat().st_size / 1024:.0f} KiB)")
    network = build_network_file(
        graphml, args.out / PACKAGED_FILE, name="Brussels-Capital Region, OpenStreetMap 2021",
        description=NETWORK_DESCRIPTION,
        command="python3 scripts/build_packaged_map.py")
    header = read_header(network)
    print(f"wrote {network} ({network.stat().st_size / 1024:.0f} KiB): {header['nodes']} nodes, "
          f"{header['edges']} street segments")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
