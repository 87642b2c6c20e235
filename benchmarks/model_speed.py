"""Time the model's step loop: the product (`BrusselsMarketModel`) or the per-agent reference
(`benchmarks/reference`), on the BRUSIM_MAP street map, for one configuration.

    BRUSIM_MAP=../shared/data/brussels/streets_osm2021.graphml \\
        python3 benchmarks/model_speed.py --impl reference --weeks 1 [--scale 10] [--json]

Map loading (from the cache) and model construction are timed separately from the steps;
agent-steps per second = agents × steps / step-loop seconds. Before the timed model, a warm-up
model of the same configuration runs 8 steps (for both implementations), so one-time costs —
numba loading the compiled kernels from its cache at their first call, first-call imports — are
not counted as steps. `run_all.py` runs this script in a fresh process per case.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.common import count_agents, scale_overrides  # noqa: E402


def model_class(impl: str) -> type:
    """The product model or the per-agent reference."""
    if impl == "product":
        from brusim.model import BrusselsMarketModel

        return BrusselsMarketModel
    from benchmarks.reference.model import ReferenceMarketModel

    return ReferenceMarketModel


def time_model(impl: str, weeks: float, scale: float, seed: int,
               config_name: str = "config") -> dict:
    """Build and run one model; return its size and the seconds of each phase."""
    from brusim.config.load import compose_config
    from brusim.map import load_street_map
    from brusim.model.model import map_settings

    cfg = compose_config([f"weeks={weeks}", f"seed={seed}", *scale_overrides(scale, config_name)],
                         config_name=config_name)
    t0 = time.perf_counter()
    smap = load_street_map(map_settings(cfg.map))
    t1 = time.perf_counter()
    model_class(impl)(cfg, smap=smap).run(8)  # warm-up: first calls, kernel loading
    t1b = time.perf_counter()
    model = model_class(impl)(cfg, smap=smap)
    t2 = time.perf_counter()
    model.run()
    t3 = time.perf_counter()
    agents, steps = len(model.agents), int(model.t)
    return {"impl": impl, "weeks": weeks, "scale": scale, "seed": seed, "nodes": smap.n_nodes,
            "agents": agents, "steps": steps, "map_s": t1 - t0, "warmup_s": t1b - t1,
            "build_s": t2 - t1b,
            "run_s": t3 - t2, "ms_per_step": (t3 - t2) / steps * 1000,
            "agent_steps_per_s": agents * steps / (t3 - t2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=("product", "reference"), default="product")
    parser.add_argument("--weeks", type=float, default=1.0)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every agent count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--synthetic", action="store_true", help="the synthetic city instead")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--count", action="store_true",
                        help="only print the number of agents of the configuration (JSON)")
    args = parser.parse_args()
    logging.getLogger("MESA").setLevel(logging.WARNING)
    if args.count:
        config_name = "synthetic" if args.synthetic else "config"
        print(json.dumps({"agents": count_agents(scale_overrides(args.scale, config_name),
                                                 config_name)}))
        return
    r = time_model(args.impl, args.weeks, args.scale, args.seed,
                   "synthetic" if args.synthetic else "config")
    if args.json:
        print(json.dumps(r))
        return
    print(f"{r['impl']}: {r['nodes']} nodes, {r['agents']} agents, {r['steps']} steps")
    print(f"map load {r['map_s']:.2f} s, build {r['build_s']:.2f} s, steps {r['run_s']:.2f} s "
          f"= {r['ms_per_step']:.2f} ms/step, {r['agent_steps_per_s']:,.0f} agent-steps/s")


if __name__ == "__main__":
    main()
