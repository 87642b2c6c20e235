"""Time the dashboard's frame update without a browser: model steps, then the overlay (heat
image, marker SVG) and the chart series of one frame.

    python3 -m brusim.dashboard.bench [--frames 200] [--warmup-days 2] [OVERRIDES...]

Uses the default config (the Brussels map via ``$BRUSIM_MAP`` or the cache) unless
overrides say otherwise, e.g. ``--config-name synthetic``.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np

from .state import Launch, Simulation


def time_frames(sim: Simulation, frames: int, steps_per_frame: int) -> dict[str, float]:
    """Median milliseconds per frame: the whole update, the model steps alone, the rest."""
    whole, model = [], []
    for _ in range(frames):
        t0 = time.perf_counter()
        for _ in range(steps_per_frame):
            sim.model.step()
        t1 = time.perf_counter()
        sim.frame()
        t2 = time.perf_counter()
        whole.append(t2 - t0)
        model.append(t1 - t0)
    whole_ms, model_ms = 1000 * np.median(whole), 1000 * np.median(model)
    return {"frame_ms": whole_ms, "model_ms": model_ms, "draw_ms": whole_ms - model_ms}


def main(argv: list[str] | None = None) -> None:
    """Print frame times for both map views at 1 and 4 steps per frame."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--warmup-days", type=float, default=2.0)
    parser.add_argument("--config-name", default="config")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    logging.getLogger("MESA").setLevel(logging.WARNING)
    t0 = time.perf_counter()
    sim = Simulation.start(Launch(tuple(args.overrides), args.config_name))
    m = sim.model
    print(f"{sim.smap.name}: {sim.smap.n_nodes:,} nodes, {len(m.agents):,} agents; "
          f"model and layers ready in {time.perf_counter() - t0:.1f} s")
    sim.step(int(args.warmup_days * m.clock.steps_per_day))
    for view in ("region", "hotspots"):
        t0 = time.perf_counter()
        sim.set_view(view)
        ready = time.perf_counter() - t0
        for steps in (1, 4):
            r = time_frames(sim, args.frames, steps)
            print(f"view {view:8s} {steps} step(s)/frame: frame {r['frame_ms']:.1f} ms "
                  f"(model {r['model_ms']:.1f} ms, overlay and charts {r['draw_ms']:.1f} ms); "
                  f"layers ready in {ready:.2f} s")


if __name__ == "__main__":
    main()
