"""Benchmark: compile the Brussels map from GraphML, then load it from the cache.

    BRUSIM_MAP=../shared/data/brussels/streets_osm2021.graphml python3 benchmarks/map_load.py
    python3 benchmarks/map_load.py --mode compile --json   # one phase, for run_all.py
    python3 benchmarks/map_load.py --mode load --json      # (fresh process: first load + best of 5)

``compile`` uses an empty temporary cache; ``load`` uses the brusim cache (``BRUSIM_CACHE``,
default ``~/.cache/brusim``): run it once to fill the cache, then time it (its first load
compiles when the cache holds no entry for this map).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.common import map_path  # noqa: E402

from brusim.map import MapSettings, load_street_map  # noqa: E402


def time_compile(path: Path) -> dict:
    """Seconds to read and compile the GraphML into an empty cache."""
    with tempfile.TemporaryDirectory() as cache:
        settings = MapSettings(source="graphml", path=str(path), cache_dir=cache)
        t0 = time.perf_counter()
        smap = load_street_map(settings)
        seconds = time.perf_counter() - t0
    return {"compile_s": seconds, "nodes": smap.n_nodes, "edges": smap.n_edges}


def time_load(path: Path, repeats: int = 5, cache_dir: str | None = None) -> dict:
    """Seconds of the first load from the cache in this process, and of ``repeats`` more."""
    settings = MapSettings(source="graphml", path=str(path), cache_dir=cache_dir)
    t0 = time.perf_counter()
    smap = load_street_map(settings)
    first = time.perf_counter() - t0
    loads = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        load_street_map(settings)
        loads.append(time.perf_counter() - t0)
    loads.sort()
    return {"load_first_s": first, "load_best_s": loads[0], "load_median_s": loads[len(loads) // 2],
            "nodes": smap.n_nodes, "edges": smap.n_edges}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="GraphML file (default: $BRUSIM_MAP)")
    parser.add_argument("--mode", choices=("both", "compile", "load"), default="both")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    path = map_path(args.path)
    result: dict = {"map": str(path)}
    if args.mode in ("both", "compile"):
        result |= time_compile(path)
    if args.mode == "load":
        result |= time_load(path)
    elif args.mode == "both":
        with tempfile.TemporaryDirectory() as cache:
            load_street_map(MapSettings(source="graphml", path=str(path), cache_dir=cache))
            result |= time_load(path, cache_dir=cache)
    if args.json:
        print(json.dumps(result))
        return
    print(f"map: {path.name}, {result['nodes']:,} nodes, {result['edges']:,} segments")
    print(f"{'step':<28}{'seconds':>10}")
    if "compile_s" in result:
        print(f"{'compile from GraphML':<28}{result['compile_s']:>10.2f}")
    if "load_best_s" in result:
        print(f"{'load from cache (best of 5)':<28}{result['load_best_s']:>10.3f}")
        print(f"{'load from cache (median)':<28}{result['load_median_s']:>10.3f}")


if __name__ == "__main__":
    main()
