"""First-use compilation: what compiling the model's kernels adds to a first `brusim run`.

Each case is a 1-week `brusim run` (figures and progress bar off) in a fresh process, with its
own numba cache (``NUMBA_CACHE_DIR``) and spin-up cache (``BRUSIM_CACHE``), each empty or
filled by an earlier case of the same repeat:

- ``fresh install``: both caches empty, the default (one compiling process per core): the
  model is built and spun up, its construction compiles in parallel;
- ``fresh install, 1 process``: the same with ``BRUSIM_COMPILE_PROCESSES=1``;
- ``kernels cached``: the kernels the fresh install compiled, an empty spin-up cache (the
  fresh install's run without its compilation);
- ``spin-up cached``: an empty numba cache, the spin-up the fresh install cached (a saved model
  is restored, `brusim.model.precompile.restore_compiled`);
- ``warm``: both caches filled.

First-use compilation = fresh install − kernels cached; after a restore = spin-up cached −
warm (medians over ``--repeats``, the cases interleaved so that every case sees the same machine
load). Usage: ``python benchmarks/compile_kernels.py [--repeats 3]``.
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


def one_run(numba_dir: str, spinup_dir: str, log_dir: Path, name: str,
            processes: str = "") -> float:
    """Wall seconds of a 1-week `brusim run` with these caches."""
    env = dict(os.environ, NUMBA_CACHE_DIR=numba_dir, BRUSIM_CACHE=spinup_dir,
               BRUSIM_COMPILE_PROCESSES=processes)
    with tempfile.TemporaryDirectory(prefix="brusim-bench-") as scratch:
        cmd = [*brusim_command(), "run", "weeks=1", "run.figures=false", "run.progress=false",
               f"hydra.run.dir={scratch}"]
        m = measure(cmd, env, log_dir=log_dir, name=name)
        check(m, name)
        return m.wall_s


CASES = ("fresh install", "fresh install, 1 process", "kernels cached", "spin-up cached",
         "warm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {case: [] for case in CASES}
    with tempfile.TemporaryDirectory(prefix="brusim-compile-bench-") as out:
        for r in range(args.repeats):
            with (tempfile.TemporaryDirectory(prefix="brusim-numba-") as numba,
                  tempfile.TemporaryDirectory(prefix="brusim-spinup-") as spun):
                def fresh(kind: str) -> str:
                    return tempfile.mkdtemp(prefix=kind, dir=out)

                times["fresh install, 1 process"].append(
                    one_run(fresh("n"), fresh("s"), Path(out), f"one_{r}", "1"))
                times["fresh install"].append(one_run(numba, spun, Path(out), f"fresh_{r}"))
                times["kernels cached"].append(one_run(numba, fresh("s"), Path(out),
                                                       f"kernels_{r}"))
                times["spin-up cached"].append(one_run(fresh("n"), spun, Path(out),
                                                       f"spinup_{r}"))
                times["warm"].append(one_run(numba, spun, Path(out), f"warm_{r}"))
    med = {case: statistics.median(v) for case, v in times.items()}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"| case (1-week run, {cores} cores) | wall s, median of {args.repeats} | all runs |")
    print("|---|---|---|")
    for case, values in times.items():
        print(f"| {case} | {med[case]:.1f} | {', '.join(f'{v:.1f}' for v in values)} |")
    first = med["fresh install"] - med["kernels cached"]
    one = med["fresh install, 1 process"] - med["kernels cached"]
    restored = med["spin-up cached"] - med["warm"]
    print(f"\nfirst-use compilation ≤ {TARGET_S:g} s: {first:.1f} s "
          f"({'met' if first <= TARGET_S else 'NOT met'}; in 1 process: {one:.1f} s); "
          f"after a restored spin-up: {restored:.1f} s")


if __name__ == "__main__":
    main()
