"""Profile `BrusselsMarketModel`: ms per step, agent-steps per second and the top functions.

Usage (from the repository root)::

    BRUSIM_MAP=/path/to/streets.graphml PYTHONPATH=src python3 benchmarks/profile_model.py --weeks 2
    PYTHONPATH=src python3 benchmarks/profile_model.py --synthetic --weeks 2

The model is built outside the timed region (map loading and set-up are not part of a step).
A plain timed run comes first, then a second run of the same length under cProfile (the profiler
inflates per-call costs, so use its ranking rather than its absolute times).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

from brusim.config.load import compose_config
from brusim.model import BrusselsMarketModel


def build_model(weeks: float, synthetic: bool, seed: int) -> BrusselsMarketModel:
    """A model for ``weeks`` weeks on the BRUSIM_MAP street map, or on the synthetic city."""
    overrides = [f"weeks={weeks}", f"seed={seed}"]
    cfg = compose_config(overrides, config_name="synthetic" if synthetic else "config")
    return BrusselsMarketModel(cfg)


def n_agents(model: BrusselsMarketModel) -> int:
    """Dealers + users + police units + outreach workers."""
    return model.dealers.n + model.users.n + len(model.police) + len(model.outreach)


def timed_run(model: BrusselsMarketModel) -> float:
    """Run the whole horizon; return the wall time in seconds."""
    start = time.perf_counter()
    model.run()
    return time.perf_counter() - start


def profiled_run(model: BrusselsMarketModel, top: int) -> str:
    """Run the whole horizon under cProfile; return the top functions by tottime as text."""
    profiler = cProfile.Profile()
    profiler.enable()
    model.run()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=float, default=2.0, help="weeks to simulate (default 2)")
    parser.add_argument("--synthetic", action="store_true", help="use the synthetic city")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=15, help="functions to list (default 15)")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    args = parser.parse_args()

    model = build_model(args.weeks, args.synthetic, args.seed)
    agents = n_agents(model)
    seconds = timed_run(model)
    steps = model.t
    print(f"map: {'synthetic' if args.synthetic else 'BRUSIM_MAP'}  nodes: {model.smap.n_nodes}  "
          f"agents: {agents}  steps: {steps}")
    print(f"{seconds / steps * 1000:.3f} ms/step  "
          f"{agents * steps / seconds:,.0f} agent-steps/s  ({seconds:.2f} s total)")
    if not args.no_profile:
        print(profiled_run(build_model(args.weeks, args.synthetic, args.seed), args.top))


if __name__ == "__main__":
    main()
