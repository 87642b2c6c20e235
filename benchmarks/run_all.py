"""Run every brusim benchmark, each case in a fresh process, and print one table.

    python3 benchmarks/run_all.py            # full: 26-week runs (about 5 minutes)
    python3 benchmarks/run_all.py --quick    # 1-week runs, 1-day reference: a smoke test

Needs the Brussels GraphML: ``$BRUSIM_MAP``, ``--map PATH`` or the shared copy beside the
checkout. Writes ``results/benchmarks/<date>_<time>/`` with ``results.md`` (table, targets and
machine), ``results.csv`` and each case's output.

Cases:

- ``run default``: the real ``brusim run`` command end to end (Python start-up, Hydra, map
  load from the cache, model, event log streamed to Parquet, metrics, manifest and the
  configured checkpoints) with figures and the progress bar off; default scenario, population
  and seed, 26 weeks of 15-minute steps.
- ``run 10x population``: the same with every agent count ×10 (users, dealers, reserve,
  outreach workers, and police units through the officers' street share; crews stay 24).
- ``run default, first on a machine``: ``run default`` with an empty numba cache
  (``NUMBA_CACHE_DIR``), so the compiled kernels (brusim.model.kernels) are compiled in the run,
  as on a fresh install. Every other case runs after a warm-up run that fills the cache.
- ``steps default``: the product's step loop alone (map and model construction excluded).
- ``run default`` and ``steps default`` run ``--repeats`` times (default 3; these VMs vary by
  ±20% between identical runs): the table shows the median run, and the details list all.
- ``map compile`` / ``map load``: compile the GraphML into an empty cache; load it from the
  cache in a fresh process (first load, and best of 5).
- ``product 1 week`` / ``reference 1 week``: the step loops of the product and of the per-agent
  Mesa reference (benchmarks/reference) on the same map, population and seed; their ratio of
  agent-steps per second is computed within this run, so both see the same machine load.

Peak memory is each case process's peak resident set (``os.wait4`` rusage, ``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.common import Measurement, map_path, measure  # noqa: E402

HERE = Path(__file__).resolve().parent
TARGETS_MD = """\
| target | measured | met |
|---|---|---|
"""


@dataclass
class Row:
    """One line of the results table."""

    case: str
    what: str
    horizon: str
    agents: int | None = None
    steps: int | None = None
    wall_s: float | None = None  # the case process, end to end
    timed_s: float | None = None  # the part the case is about (steps, compile, load)
    agent_steps_per_s: float | None = None
    peak_rss_mib: float | None = None
    extra: dict = field(default_factory=dict)


def brusim_command() -> list[str]:
    """The installed `brusim` console script of this Python (not a pyenv shim)."""
    script = Path(sys.executable).with_name("brusim")
    found = str(script) if script.exists() else shutil.which("brusim")
    if not found:
        sys.exit("benchmarks: error: the brusim command is not installed; "
                 "run `python3 -m pip install -e .` first")
    return [found]


def check(m: Measurement, name: str) -> None:
    """Stop with the case's error output when it failed."""
    if m.returncode != 0:
        sys.exit(f"benchmarks: error: case {name!r} failed (exit {m.returncode}):\n"
                 f"{m.stderr[-3000:]}")


def last_json(text: str) -> dict:
    """The last line of a case's output, as JSON."""
    return json.loads(text.strip().splitlines()[-1])


def agents_of(scale: float, env: dict, out: Path) -> int:
    """Number of agents of the default configuration scaled by ``scale`` (in a subprocess, so
    this process stays small: see `measure_floor`)."""
    cmd = [sys.executable, str(HERE / "model_speed.py"), "--count", "--scale", f"{scale:g}"]
    m = measure(cmd, env, log_dir=out, name=f"count_{scale:g}")
    check(m, "count agents")
    return int(last_json(m.stdout)["agents"])


def scale_args(scale: float, env: dict, out: Path) -> list[str]:
    """`common.scale_overrides` (in a subprocess, which composes the config)."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); "
            "from benchmarks.common import scale_overrides; "
            "print(json.dumps(scale_overrides(float(sys.argv[2]))))")
    m = measure([sys.executable, "-c", code, str(REPO), f"{scale:g}"], env, log_dir=out,
                name=f"overrides_{scale:g}")
    check(m, "scale overrides")
    return json.loads(m.stdout.strip().splitlines()[-1])


def measure_floor(env: dict, out: Path) -> float:
    """Peak RSS (MiB) reported for a child that does nothing. Linux counts the parent's
    resident pages in a spawned child's ``ru_maxrss`` until it execs, so every case's figure is
    at least this; the harness therefore never imports numpy or brusim itself."""
    m = measure([sys.executable, "-c", "pass"], env, log_dir=out, name="floor")
    check(m, "floor")
    return m.peak_rss_mib


def run_case(name: str, what: str, weeks: float, scale: float, env: dict, out: Path) -> Row:
    """`brusim run` end to end, figures and progress bar off, in a scratch folder."""
    if name.endswith("first on a machine"):
        with tempfile.TemporaryDirectory(prefix="brusim-numba-") as cold:
            return _run_case(name, what, weeks, scale, dict(env, NUMBA_CACHE_DIR=cold), out)
    return _run_case(name, what, weeks, scale, env, out)


def _run_case(name: str, what: str, weeks: float, scale: float, env: dict, out: Path) -> Row:
    overrides = [f"weeks={weeks:g}", *scale_args(scale, env, out)]
    with tempfile.TemporaryDirectory(prefix="brusim-bench-") as scratch:
        cmd = [*brusim_command(), "run", *overrides, "run.figures=false",
               "run.progress=false", f"hydra.run.dir={scratch}"]
        m = measure(cmd, env, log_dir=out, name=name.replace(" ", "_"))
        check(m, name)
        manifest = json.loads((Path(scratch) / "manifest.json").read_text())
        events_mib = (Path(scratch) / "events.parquet").stat().st_size / 2**20
    agents, steps = agents_of(scale, env, out), int(manifest["steps"])
    return Row(name, what, f"{weeks:g} wk", agents, steps, m.wall_s, m.wall_s,
               agents * steps / m.wall_s, m.peak_rss_mib,
               {"model_s": manifest.get("wall_seconds"), "events_mib": round(events_mib, 1),
                "command": " ".join(["brusim", *cmd[1:-1]])})


def speed_case(name: str, what: str, impl: str, weeks: float, env: dict, out: Path) -> Row:
    """`model_speed.py` in a fresh process: the step loop of the product or the reference."""
    cmd = [sys.executable, str(HERE / "model_speed.py"), "--impl", impl, "--weeks", f"{weeks:g}",
           "--json"]
    m = measure(cmd, env, log_dir=out, name=name.replace(" ", "_"))
    check(m, name)
    r = last_json(m.stdout)
    horizon = f"{weeks:g} wk" if weeks >= 1 else f"{weeks * 7:g} d"
    return Row(name, what, horizon, r["agents"], r["steps"], m.wall_s, r["run_s"],
               r["agent_steps_per_s"], m.peak_rss_mib,
               {"build_s": round(r["build_s"], 2), "ms_per_step": round(r["ms_per_step"], 3)})


def median_of(repeats: int, make: Callable[[], Row]) -> Row:
    """Run a case ``repeats`` times; the run with the median timed seconds, all of them noted."""
    runs = sorted((make() for _ in range(max(repeats, 1))), key=lambda r: r.timed_s)
    row = runs[len(runs) // 2]
    if len(runs) > 1:
        row.extra["repeats_timed_s"] = [round(r.timed_s, 2) for r in runs]
    return row


def map_cases(env: dict, out: Path) -> list[Row]:
    """Compile the GraphML into an empty cache; load it from the (warmed) cache."""
    script = [sys.executable, str(HERE / "map_load.py")]
    comp = measure([*script, "--mode", "compile", "--json"], env, log_dir=out, name="map_compile")
    check(comp, "map compile")
    check(measure([*script, "--mode", "load", "--json"], env, log_dir=out, name="map_warm"),
          "map warm-up")
    load = measure([*script, "--mode", "load", "--json"], env, log_dir=out, name="map_load")
    check(load, "map load")
    c, lo = last_json(comp.stdout), last_json(load.stdout)
    return [
        Row("map compile", f"GraphML → StreetMap ({c['nodes']:,} nodes)", "", None, None,
            comp.wall_s, c["compile_s"], None, comp.peak_rss_mib),
        Row("map load", "from cache, first load in a fresh process (best of 5 after it: "
            f"{lo['load_best_s']:.3f} s)", "", None, None, load.wall_s, lo["load_first_s"], None,
            load.peak_rss_mib),
    ]


def fmt(value, digits: int = 2) -> str:
    """Table cell: blank for None, thousands separators for large numbers."""
    if value is None:
        return ""
    if isinstance(value, float) and value >= 1000:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


HEADER = ["case", "what", "horizon", "agents", "steps", "wall s", "timed s", "agent-steps/s",
          "peak RSS MiB"]


def cells(r: Row) -> list[str]:
    """A row's table cells."""
    return [r.case, r.what, r.horizon, fmt(r.agents), fmt(r.steps), fmt(r.wall_s),
            fmt(r.timed_s, 3 if (r.timed_s or 0) < 1 else 2), fmt(r.agent_steps_per_s),
            fmt(r.peak_rss_mib, 0)]


def markdown_table(rows: list[Row]) -> str:
    """The results as a Markdown table."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def text_table(rows: list[Row]) -> str:
    """The results as a plain-text table for the terminal."""
    data = [HEADER, *(cells(r) for r in rows)]
    widths = [max(len(row[i]) for row in data) for i in range(len(HEADER))]
    return "\n".join("  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True)))
                     for row in data)


def targets(rows: dict[str, Row], quick: bool) -> list[tuple[str, str, bool | None]]:
    """Each performance target of the issue, what was measured and whether it is met (None:
    not measured at the target's horizon in a quick run: times and peaks grow with it)."""
    a, b = rows["run default"], rows["run 10x population"]
    s, p, r = rows["steps default"], rows["ratio: product"], rows["ratio: reference"]
    ratio = p.agent_steps_per_s / r.agent_steps_per_s
    time_ratio = b.wall_s / a.wall_s
    out = [
        ("default 26-week run ≤ 15 s wall (one process, incl. start-up and map load)",
         f"{a.wall_s:.1f} s", None if quick else a.wall_s <= 15),
        ("… the same on a fresh install (kernels compiled in the run)",
         f"{rows['run default, first on a machine'].wall_s:.1f} s",
         None if quick else rows["run default, first on a machine"].wall_s <= 15),
        ("≥ 5 M agent-steps/s at default scale (step loop)",
         f"{s.agent_steps_per_s / 1e6:.2f} M", s.agent_steps_per_s >= 5e6),
        ("≥ 30× the per-agent reference (agent-steps/s, same map/population/seed)",
         f"{ratio:.1f}×", ratio >= 30),
        ("10× population ≤ 12× the default's time", f"{time_ratio:.1f}×",
         None if quick else time_ratio <= 12),
        ("10× population peak memory ≤ 2 GB", f"{b.peak_rss_mib:,.0f} MiB",
         None if quick else b.peak_rss_mib * 2**20 <= 2e9),
        ("default peak memory ≤ 1 GB", f"{a.peak_rss_mib:,.0f} MiB",
         None if quick else a.peak_rss_mib * 2**20 <= 1e9),
    ]
    return [(t, m, None if ok is None else bool(ok)) for t, m, ok in out]


def machine() -> dict:
    """CPU, cores, memory, load and versions, for the record (without importing them)."""
    from importlib.metadata import version

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) / 2**20 for line in Path("/proc/meminfo").read_text()
                .splitlines() if line.startswith("MemTotal")), 0.0)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1),
            "python": platform.python_version(), "numpy": version("numpy"),
            "mesa": version("mesa"), "load_average": os.getloadavg()}


def git_state() -> str:
    """Commit and whether the working tree has changes."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=False).stdout.strip()

    dirty = " (with uncommitted changes)" if git("status", "--porcelain") else ""
    return git("rev-parse", "--short", "HEAD") + dirty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="short horizons (1 week; product vs reference 1 day): a smoke test")
    parser.add_argument("--map", help="Brussels GraphML (default: $BRUSIM_MAP)")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of `run default` and `steps default` (median shown)")
    args = parser.parse_args()

    env = dict(os.environ, BRUSIM_MAP=str(map_path(args.map)))
    started = dt.datetime.now()
    out = args.out / started.strftime("%Y-%m-%d_%H-%M-%S")
    out.mkdir(parents=True, exist_ok=True)
    weeks, weeks_ref = (1.0, 1 / 7) if args.quick else (26.0, 1.0)
    info = machine()
    print(f"brusim benchmarks{' (quick)' if args.quick else ''} -> {out}", flush=True)
    floor = measure_floor(env, out)
    warm = run_case("warm-up", "fills the numba cache", 0.01, 1, env, out)  # not reported
    print(f"  warm-up (kernels compiled or loaded): {fmt(warm.wall_s)} s", flush=True)

    rows: list[Row] = []
    for make in (
        lambda: map_cases(env, out),
        lambda: [median_of(args.repeats, lambda: run_case(
            "run default", "`brusim run`, default scenario", weeks, 1, env, out))],
        lambda: [run_case("run default, first on a machine",
                          "`brusim run`, kernels compiled in the run (empty numba cache)",
                          weeks, 1, env, out)],
        lambda: [median_of(args.repeats, lambda: speed_case(
            "steps default", "product step loop, default", "product", weeks, env, out))],
        lambda: [run_case("run 10x population", "`brusim run`, every agent count ×10",
                          weeks, 10, env, out)],
        lambda: [speed_case("ratio: product", "product step loop (vs the reference)",
                            "product", weeks_ref, env, out),
                 speed_case("ratio: reference", "per-agent Mesa reference step loop",
                            "reference", weeks_ref, env, out)],
    ):
        new = make()
        rows += new
        for r in new:
            runs = r.extra.get("repeats_timed_s")
            print(f"  {r.case}: {fmt(r.wall_s)} s wall, {fmt(r.timed_s, 3)} s timed, "
                  f"{fmt(r.peak_rss_mib, 0)} MiB" + (f" (median of {runs})" if runs else ""),
                  flush=True)
    by_case = {r.case: r for r in rows}
    ratio = (by_case["ratio: product"].agent_steps_per_s
             / by_case["ratio: reference"].agent_steps_per_s)
    goals = targets(by_case, args.quick)
    info["load_average_after"] = os.getloadavg()

    print()
    print(text_table(rows))
    print(f"\nproduct / reference agent-steps per second: {ratio:.1f}×")
    for goal, measured, ok in goals:
        print(f"  [{'n/a' if ok is None else ('met' if ok else 'NOT met')}] {goal}: {measured}")

    command = "python3 benchmarks/run_all.py" + (" --quick" if args.quick else "")
    md = [f"# brusim benchmarks, {started:%Y-%m-%d %H:%M}", "",
          f"Command: `{command}` (map `{env['BRUSIM_MAP']}`), commit {git_state()}.", "",
          f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB; Python "
          f"{info['python']}, numpy {info['numpy']}, Mesa {info['mesa']}; load average "
          f"{', '.join(f'{x:.2f}' for x in info['load_average'])} before, "
          f"{', '.join(f'{x:.2f}' for x in info['load_average_after'])} after.", "",
          markdown_table(rows), "",
          f"Product / reference agent-steps per second (same run): **{ratio:.1f}×**.", "",
          f"Peak RSS of a child that does nothing: {floor:.0f} MiB (the floor of every figure:"
          " Linux counts the parent's pages in a child until it execs).", "",
          TARGETS_MD + "\n".join(
              f"| {g} | {m} | {'n/a (quick)' if ok is None else ('yes' if ok else 'no')} |"
              for g, m, ok in goals), "",
          "Details per case (JSON):", "", "```",
          *(json.dumps({"case": r.case, **r.extra}) for r in rows if r.extra), "```", ""]
    (out / "results.md").write_text("\n".join(md), encoding="utf-8")
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["case", "what", "horizon", "agents", "steps", "wall_s", "timed_s",
                         "agent_steps_per_s", "peak_rss_mib"])
        for r in rows:
            writer.writerow([r.case, r.what, r.horizon, r.agents, r.steps, r.wall_s, r.timed_s,
                             r.agent_steps_per_s, r.peak_rss_mib])
    print(f"\nwrote {out / 'results.md'} and {out / 'results.csv'}")


if __name__ == "__main__":
    main()
