"""Benchmark: a 30-seed, 3-scenario comparison on the local cores from cached spin-ups (issue 22,
item 5: at most 5 minutes on 2 cores).

    python3 benchmarks/compare_throughput.py                 # 30 seeds, 26 weeks, with the brief
    python3 benchmarks/compare_throughput.py --seeds 10 --no-report

Two `brusim compare -e midi_vs_spread` commands into empty result folders, sharing a spin-up cache
(``BRUSIM_CACHE``) and the compiled kernels: the first fills the cache (its time is printed, not
judged), the second is the measured one: every spin-up is read from the cache, every scenario run
executes. The machine may be shared: the load average at the start is printed with the result.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.common import measure  # noqa: E402
from benchmarks.run_all import brusim_command, check  # noqa: E402

TARGET_S = 300.0
SCENARIOS = "[baseline,midi_plan,hotspot_strategy]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--no-report", action="store_true", help="tables only, no brief")
    parser.add_argument("--cache", type=Path, default=None,
                        help="spin-up cache folder to keep between calls (default: a new one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="brusim-throughput-") as tmp:
        root = Path(tmp)
        env = dict(os.environ, BRUSIM_CACHE=str(args.cache or root / "cache"))
        times = []
        for name in ("fill", "cached"):
            cmd = [*brusim_command(), "compare", "-e", "midi_vs_spread",
                   f"scenarios={SCENARIOS}", f"replications={args.seeds}",
                   f"out_dir={root / name}", *(["report=false"] if args.no_report else [])]
            load = os.getloadavg()[0]
            m = measure(cmd, env, log_dir=root, name=name)
            check(m, name)
            times.append((name, m.wall_s, m.peak_rss_mib, load))
            print(f"{name:>7}: {m.wall_s:7.1f} s", flush=True)
    for name, wall, peak, load in times:
        print(f"{name:>7}: {wall:7.1f} s, peak {peak:,.0f} MiB (load average {load:.2f} at start)")
    cached = times[-1][1]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    runs = 3 * args.seeds
    verdict = ("not judged (fewer than 30 seeds)" if args.seeds < 30
               else "met" if cached <= TARGET_S else "NOT met")
    print(f"{runs} runs of 26 weeks from cached spin-ups on {cores} cores: {cached:.1f} s "
          f"({cached / runs:.2f} s a run); target {TARGET_S:.0f} s for 30 seeds: {verdict}")


if __name__ == "__main__":
    main()
