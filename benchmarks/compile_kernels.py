"""First-use compilation: what compiling the model's kernels adds to a first `brusim run`.

Three cases, each a 1-week `brusim run` (figures and progress bar off) in a fresh process:

- ``cold, 1 process``: an empty numba cache, ``BRUSIM_COMPILE_PROCESSES=1`` (everything
  compiles in the run's own process, as before `brusim.model.precompile`);
- ``cold, parallel``: an empty numba cache, the default (one compiling process per core);
- ``warm``: the cache the previous cold run filled.

Compilation = cold − warm (medians over ``--repeats``, interleaved so that every case sees the
same machine load). Usage: ``python benchmarks/compile_kernels.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.common import measure  # noqa: E402
from benchmarks.run_all import brusim_command, check  # noqa: E402

TARGET_S = 15.0  # issue 16: first-use compilation at most 15 s


def one_run(env: dict, log_dir: Path, name: str) -> float:
    """Wall seconds of a 1-week `brusim run` with ``env``."""
    with tempfile.TemporaryDirectory(prefix="brusim-bench-") as scratch:
        cmd = [*brusim_command(), "run", "weeks=1", "run.figures=false", "run.progress=false",
               f"hydra.run.dir={scratch}"]
        m = measure(cmd, env, log_dir=log_dir, name=name)
        check(m, name)
        return m.wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"cold, 1 process": [], "cold, parallel": [], "warm": []}
    with tempfile.TemporaryDirectory(prefix="brusim-compile-bench-") as out:
        for r in range(args.repeats):
            for case, processes in (("cold, 1 process", "1"), ("cold, parallel", "")):
                with tempfile.TemporaryDirectory(prefix="brusim-numba-") as cold:
                    env = dict(os.environ, NUMBA_CACHE_DIR=cold,
                               BRUSIM_COMPILE_PROCESSES=processes)
                    times[case].append(one_run(env, Path(out), f"{case[:6]}{processes}_{r}"))
                    if processes == "":
                        times["warm"].append(one_run(env, Path(out), f"warm_{r}"))
    med = {case: statistics.median(v) for case, v in times.items()}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"| case (1-week run, {cores} cores) | wall s, median of {args.repeats} | "
          "compilation s (− warm) | all runs |")
    print("|---|---|---|---|")
    for case, values in times.items():
        extra = "" if case == "warm" else f"{med[case] - med['warm']:.1f}"
        print(f"| {case} | {med[case]:.1f} | {extra} | "
              f"{', '.join(f'{v:.1f}' for v in values)} |")
    compiled = med["cold, parallel"] - med["warm"]
    print(f"\nfirst-use compilation ≤ {TARGET_S:g} s: {compiled:.1f} s "
          f"({'met' if compiled <= TARGET_S else 'NOT met'}; 1 process: "
          f"{med['cold, 1 process'] - med['warm']:.1f} s)")


if __name__ == "__main__":
    main()
