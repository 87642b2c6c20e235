"""Benchmark: compile the Brussels map from GraphML, then load it from the cache.

    BRUSIM_MAP=../shared/data/brussels/streets_osm2021.graphml python3 benchmarks/map_load.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from brusim.map import MapSettings, load_street_map


def main() -> None:
    path = os.environ.get("BRUSIM_MAP") or (sys.argv[1] if len(sys.argv) > 1 else None)
    if not path or not Path(path).is_file():
        sys.exit("set BRUSIM_MAP to a GraphML file (or pass its path)")
    with tempfile.TemporaryDirectory() as cache:
        settings = MapSettings(source="graphml", path=path, cache_dir=cache)
        t0 = time.perf_counter()
        smap = load_street_map(settings)
        compile_s = time.perf_counter() - t0
        loads = []
        for _ in range(5):
            t0 = time.perf_counter()
            load_street_map(settings)
            loads.append(time.perf_counter() - t0)
    print(f"map: {smap.name}, {smap.n_nodes:,} nodes, {smap.n_edges:,} segments")
    print(f"{'step':<28}{'seconds':>10}")
    print(f"{'compile from GraphML':<28}{compile_s:>10.2f}")
    print(f"{'load from cache (best of 5)':<28}{min(loads):>10.3f}")
    print(f"{'load from cache (median)':<28}{sorted(loads)[2]:>10.3f}")


if __name__ == "__main__":
    main()
