"""Benchmark: the overhead per run of each executor (local, ray, dask, submitit's local
executor) against local processes, on the synthetic city's comparison.

    python3 benchmarks/executor_overhead.py                 # 2 scenarios x 4 seeds, 1 and 2 workers
    python3 benchmarks/executor_overhead.py --seeds 8 --json

Each case runs the same comparison's spin-ups and runs (`brusim.experiments.compare.run_seeds`)
into an empty folder, after the model's kernels are compiled. ``start_s`` is the time to start
the engine (a local Ray instance, a Dask LocalCluster) and run one empty task; ``runs_s`` the
spin-ups and runs after it; ``per_run_s`` = runs_s / tasks, and ``overhead_per_run_s`` its
difference from local processes with the same number of workers. Every case's shards are
checked byte for byte against the first case's. The machine may be shared: read ratios from one
run, and repeat when it matters.
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

ARGS = ["config_name=synthetic", "target=central", "weeks=6", "scenario.intervention_week=3",
        "burn_in_weeks=0", "report=false", "scenarios=[baseline,baseline+baseline]"]
CASES = [("local", 1), ("local", 2), ("ray", 1), ("ray", 2), ("dask", 1), ("dask", 2),
         ("slurm", 2)]


def _noop() -> int:
    return 0


def case_args(kind: str, workers: int) -> list[str]:
    if kind == "local":
        return [f"n_jobs={workers}"]
    if kind == "slurm":  # submitit's local executor starts every job at once
        return ["executor=slurm", "executor.cluster=local"]
    return [f"executor={kind}", f"executor.workers={workers}"]


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


def measure(kind: str, workers: int, seeds: int, root: Path) -> tuple[dict, dict[str, bytes]]:
    """One case: engine start, then the comparison's spin-ups and runs."""
    from brusim.experiments.compare import load_settings, prepare, run_seeds
    from brusim.experiments.executor import Executor

    out = root / f"{kind}_{workers}"
    settings = load_settings(None, [*ARGS, f"replications={seeds}", *case_args(kind, workers),
                                    f"out_dir={out}"])
    folder, _, _ = prepare(settings)
    tasks = seeds + seeds * len(settings.scenarios)  # spin-ups, then runs
    with Executor(settings.executor, settings.n_jobs, folder / ".submitit") as engine:
        t0 = time.perf_counter()
        list(engine.run(_noop, [()]))
        start = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_seeds(settings, folder, False, engine)
        runs = time.perf_counter() - t0
    row = {"executor": kind, "workers": workers, "tasks": tasks, "start_s": round(start, 2),
           "runs_s": round(runs, 2), "per_run_s": round(runs / tasks, 3)}
    return row, shard_bytes(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4, help="seeds a scenario (default 4)")
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    args = parser.parse_args()
    rows, reference = [], None
    with tempfile.TemporaryDirectory() as tmp:
        # warm the kernels and the synthetic map in this process first
        measure("local", 1, 1, Path(tmp) / "warm")
        for kind, workers in CASES:
            row, shards = measure(kind, workers, args.seeds, Path(tmp))
            reference = reference or shards
            row["identical"] = shards == reference
            rows.append(row)
            if not args.json:
                print(json.dumps(row), flush=True)
    local = {r["workers"]: r["per_run_s"] for r in rows if r["executor"] == "local"}
    for r in rows:
        r["overhead_per_run_s"] = round(r["per_run_s"] - local[r["workers"]], 3)
    if args.json:
        print(json.dumps(rows))
        return
    print("| executor | workers | start (s) | spin-ups + runs (s) | per run (s) | "
          "overhead per run (s) | identical |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['executor']} | {r['workers']} | {r['start_s']:.1f} | {r['runs_s']:.1f} | "
              f"{r['per_run_s']:.2f} | {r['overhead_per_run_s']:+.2f} | "
              f"{'yes' if r['identical'] else 'NO'} |")


if __name__ == "__main__":
    main()
