"""`brusim compare`: several scenarios × the same seeds (common random numbers), in parallel,
into one results folder of tidy tables (Parquet + DuckDB) and figures.

Each (scenario, seed) run writes its own shard atomically; re-running the same comparison skips
complete shards, so an interrupted comparison resumes where it stopped.
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from brusim.analysis import budget as bg
from brusim.analysis import metrics as mt
from brusim.analysis import precision as pr
from brusim.analysis.police_cost import police_cost
from brusim.analysis.windows import (
    Windows,
    node_window_counts,
    run_recording_sellers,
    weekly_node_counts,
    weekly_series,
    window_totals,
)
from brusim.config.validate import problems
from brusim.errors import BrusimError, ConfigError
from brusim.experiments import executor as ex
from brusim.experiments.executor import Executor, ExecutorSettings
from brusim.experiments.manifest import read_manifest
from brusim.io import (
    OutputError,
    atomic_write,
    cannot_write,
    sha256_file,
    writable_folder,
    write_json,
    write_parquet,
    write_text,
)

log = logging.getLogger(__name__)

WEEKLY_METRICS = ("transactions", "dealer_hours", "public_use", "violent_incidents", "arrests",
                  "police_hours", "outreach_contacts", "room_entries", "unserved_searches")
SHARD_FILES = ("results.parquet", "weekly.parquet", "nodes.parquet")
AUTO = "auto"  # replications=auto: seeds in rounds until the headline is decided (or the cap)


class CompareInterrupted(BrusimError):
    """Ctrl-C during a comparison: finished shards are kept for a resume."""


@dataclass
class CompareSettings:
    """What to compare. Every field can be set in a YAML file or as ``key=value``."""

    scenarios: list[str] = field(default_factory=lambda: ["baseline", "midi_plan",
                                                          "hotspot_strategy"])
    baseline: str = "baseline"
    # seeds a scenario: a whole number, or "auto": rounds of seeds until every headline contrast
    # is decided or the cap is reached (brusim.analysis.precision; `replications_*` below). The
    # default (5 seeds, then 10 if the headline is not decided) keeps the main job within 5
    # minutes on 2 cores, and says plainly what 10 seeds could not decide.
    replications: Any = AUTO
    replications_start: int = 5  # auto: seeds of the first round (at least 2)
    replications_step: int = 5  # auto: seeds added a round
    replications_cap: int = 10  # auto: at most this many seeds a scenario
    # a non-effect is decided when its 95% interval of the relative change lies within
    # ±target_half_width of no change (a fraction: 0.10 = ±10%); also judged for a fixed number
    target_half_width: float = 0.10
    # written by an auto run into its results folder's settings.yaml: the seeds it ended with
    # (read only with replications=auto; leave it unset)
    replications_used: int | None = None
    first_seed: int = 0
    n_jobs: int = -1  # executor=local: worker processes (-1: every core)
    # where the runs execute: executor=local|ray|dask|slurm, executor.address=auto, ... (see
    # brusim.experiments.executor); off this machine, out_dir must be on a shared file system
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    overrides: list[str] = field(default_factory=list)
    # the spin-up's overrides (business as usual before any run begins); None: ``overrides``
    spinup_overrides: list[str] | None = None
    config_name: str = "config"
    out_dir: str | None = None
    target: str = "gare_du_midi"
    target_m: float = 400.0
    buffer_inner_m: float = 400.0
    buffer_outer_m: float = 1200.0
    window_weeks: int | None = None
    report: bool = True
    languages: list[str] = field(default_factory=lambda: ["en"])
    question: str = ("If we concentrate police on Gare du Midi, or spread the same capacity over "
                     "the hotspots, where does the market go?")


def split_args(args: list[str]) -> tuple[list[str], list[str]]:
    """Split ``key=value`` arguments into comparison settings and Hydra overrides (the rest,
    applied to every run, e.g. ``weeks=12`` or ``police.arrest_prob=0.02``)."""
    names = set(CompareSettings.__dataclass_fields__)
    settings = [a for a in args if a.split("=", 1)[0] in names or ex.is_executor_arg(a)]
    return settings, [a for a in args if a not in settings]


def load_settings(path: Path | None, args: list[str]) -> CompareSettings:
    """Settings from an optional YAML file plus ``key=value`` items; items that are not
    comparison settings are Hydra overrides for every run."""
    dotlist, run_overrides = split_args(list(args))
    base = OmegaConf.structured(CompareSettings)
    try:
        if path is not None:
            given = _read_yaml(Path(path))
            if isinstance(given.get("executor"), str):  # executor: ray
                given.executor = {"kind": given.executor}
            base = OmegaConf.merge(base, given)
        if dotlist:
            base = OmegaConf.merge(base, OmegaConf.from_dotlist(ex.normalise_args(dotlist)))
    except BrusimError:
        raise
    except Exception as exc:  # omegaconf validation errors
        raise ConfigError(f"compare settings: {str(exc).splitlines()[0]}") from None
    settings = OmegaConf.to_object(base)
    settings.overrides = [*settings.overrides, *run_overrides]
    ex.refuse_launcher([*settings.overrides, *(settings.spinup_overrides or [])], "compare")
    ex.check(settings.executor, settings.n_jobs)
    twice = sorted({s for s in settings.scenarios if settings.scenarios.count(s) > 1})
    if twice:
        raise ConfigError(f"compare: scenario(s) {twice} listed more than once; list each once")
    if settings.baseline not in settings.scenarios:
        settings.scenarios = [settings.baseline, *settings.scenarios]
    if len(settings.scenarios) < 2:
        raise ConfigError(f"compare: nothing to compare with the baseline "
                          f"{settings.baseline!r}; list another scenario, e.g. "
                          f"scenarios=[{settings.baseline},midi_plan] (one scenario alone: "
                          "brusim run)")
    check_replications(settings)
    return settings


def check_replications(settings: CompareSettings) -> None:
    """``replications`` is a number of seeds (at least 1) or ``auto`` with a sound rule; a
    number written as text (``"10"``) becomes that number, ``AUTO`` becomes ``auto``."""
    r = settings.replications
    if isinstance(r, str) and r.strip().isdigit():
        r = settings.replications = int(r)
    elif isinstance(r, str) and r.strip().lower() == AUTO:
        r = settings.replications = AUTO
    if isinstance(r, bool) or not (r == AUTO or isinstance(r, int)):
        raise ConfigError(f"compare: replications={r!r} is neither a number of seeds nor auto; "
                          "write e.g. replications=10 or replications=auto")
    if isinstance(r, int) and r < 1:
        raise ConfigError("compare: replications must be at least 1")
    h = settings.target_half_width
    if not (math.isfinite(h) and h > 0):
        raise ConfigError(f"compare: target_half_width must be above 0 (a fraction: 0.10 means "
                          f"\u00b110%), got {h}")
    if r != AUTO:
        return
    start, step, cap = (settings.replications_start, settings.replications_step,
                        settings.replications_cap)
    if start < 2:
        raise ConfigError(f"compare: replications_start must be at least 2 (an interval needs "
                          f"two seeds), got {start}")
    if step < 1:
        raise ConfigError(f"compare: replications_step must be at least 1, got {step}")
    if cap < start:
        raise ConfigError(f"compare: replications_cap={cap} is below replications_start={start}; "
                          "raise the cap or lower the start")


def is_auto(settings: CompareSettings) -> bool:
    return settings.replications == AUTO


def seed_count(settings: CompareSettings) -> int:
    """The seeds a scenario of a fixed comparison, or those an auto run ended with."""
    if not is_auto(settings):
        return int(settings.replications)
    if settings.replications_used is None:
        raise ConfigError("compare: this replications=auto comparison has not finished (no "
                          "replications_used); run the same command again to finish it")
    return int(settings.replications_used)


def seed_range(settings: CompareSettings) -> range:
    return range(settings.first_seed, settings.first_seed + seed_count(settings))


def with_seeds(settings: CompareSettings, n: int) -> CompareSettings:
    """A fixed comparison of the same scenarios over ``n`` seeds."""
    return replace(settings, replications=n, replications_used=None)


def _read_yaml(path: Path):
    """A settings file, with a YAML error named by file and line."""
    import yaml

    try:
        return OmegaConf.load(path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML at {where} ({what}); fix the file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None


def scenario_overrides(label: str) -> list[str]:
    """Hydra overrides for a scenario label; ``a+b`` composes scenario files a and b."""
    parts = [p for p in label.split("+") if p]
    if len(parts) == 1:
        return [f"scenario={parts[0]}"]
    return [f"scenario=[{','.join(parts)}]", f"scenario.name={label}"]


def experiment_file(name: str | None) -> Path | None:
    """Comparison settings named by ``--experiment``: a YAML file, a folder holding a
    ``compare.yaml``, or the name of an experiment that ships with brusim."""
    from brusim.paths import experiments_dir

    if name is None:
        return None
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if (path / "compare.yaml").is_file():
        return path / "compare.yaml"
    folder = experiments_dir()
    if folder is not None and (folder / name / "compare.yaml").is_file():
        return folder / name / "compare.yaml"
    known = sorted(p.parent.name for p in folder.glob("*/compare.yaml")) if folder else []
    raise ConfigError(f"experiment {name!r} not found: give a comparison YAML file"
                      + (f" or one of: {', '.join(known)}" if known else ""))


def check_scenarios(labels: list[str]) -> None:
    from brusim.config.load import scenario_names

    valid = scenario_names()
    bad = sorted({p for label in labels for p in label.split("+") if p not in valid})
    if bad:
        raise ConfigError(f"unknown scenario(s) {bad}; valid: {', '.join(valid)}")


def compose_run(settings: CompareSettings, scenario: str, seed: int):
    from brusim.config.load import compose_config

    return compose_config([*settings.overrides, *scenario_overrides(scenario), f"seed={seed}"],
                          config_name=settings.config_name)


SPINUP_SCENARIO = "baseline"  # every run begins from business as usual, spun up


def compose_spinup(settings: CompareSettings, seed: int):
    """The config every run of ``seed`` begins from: business as usual (`spinup`)."""
    from brusim.config.load import compose_config

    overrides = (settings.overrides if settings.spinup_overrides is None
                 else settings.spinup_overrides)
    return compose_config([*overrides, *scenario_overrides(SPINUP_SCENARIO), f"seed={seed}"],
                          config_name=settings.config_name)


# ------------------------------------------------------------------------------ one run


def shard_dir(out: Path, scenario: str, seed: int) -> Path:
    return out / "shards" / f"{scenario}__seed{seed:04d}"


def shard_complete(path: Path) -> bool:
    """A shard is complete when its manifest (written last) and all its tables exist."""
    return (path / "manifest.json").exists() and all((path / f).exists() for f in SHARD_FILES)


def checksum_problem(path: Path) -> str | None:
    """Why a finished-looking comparison shard cannot be used (unreadable manifest, a table
    whose checksum does not match the manifest's), or None when it is sound."""
    try:
        checksums = dict(read_manifest(path).get("sha256", {}))  # older shards have none
    except (BrusimError, OSError, AttributeError, TypeError, ValueError):
        return "its manifest is unreadable"
    for name, expected in checksums.items():
        try:
            if sha256_file(path / name) != expected:
                return f"{name} does not match its checksum"
        except OSError:
            return f"{name} is unreadable"
    return None


def usable_shard(path: Path) -> bool:
    """Complete and sound; a damaged shard is logged and moved aside so it is run again."""
    if not shard_complete(path):
        return False
    problem = checksum_problem(path)
    if problem is None:
        return True
    aside = path.with_name(path.name + ".damaged")
    shutil.rmtree(aside, ignore_errors=True)
    path.rename(aside)
    log.warning("shard %s is damaged (%s); moved to %s and run again", path.name, problem,
                aside.name)
    return False


_MAP_CACHE: dict = {}


def _shared_map(cfg):
    """The street map of ``cfg``, loaded once per worker process."""
    from brusim.map import load_street_map
    from brusim.model.model import map_settings

    key = OmegaConf.to_yaml(cfg.map)
    if key not in _MAP_CACHE:
        _MAP_CACHE.clear()
        _MAP_CACHE[key] = load_street_map(map_settings(cfg.map))
    return _MAP_CACHE[key]


def spinup_file(out: Path, seed: int) -> Path:
    return out / "spinup" / f"seed{seed:04d}.json"


def run_spinup(settings: CompareSettings, seed: int, out: Path) -> str:
    """Spin up the baseline of ``seed`` (into the cache) and write its report. Safe to call in
    a worker process; every shard of the seed then begins from that state."""
    from brusim.experiments.spinup import spun_up

    logging.getLogger("MESA").setLevel(logging.WARNING)
    baseline = compose_spinup(settings, seed)
    _, report = spun_up(baseline, _shared_map(baseline))
    folder = spinup_file(out, seed).parent
    folder.mkdir(parents=True, exist_ok=True)
    summary = {k: v for k, v in report.summary().items() if k != "cached"}  # same on re-runs
    write_parquet(folder / f"seed{seed:04d}_weekly.parquet",
                  report.weekly.reset_index().assign(seed=seed))
    write_json(spinup_file(out, seed), {**summary, "seed": seed})
    return "cached" if report.cached else "done"


def run_shard(settings: CompareSettings, scenario: str, seed: int, out: Path) -> str:
    """Run one (scenario, seed) from the seed's spun-up baseline and write its shard. Safe to
    call in a worker process."""
    from brusim.experiments.spinup import start_model

    logging.getLogger("MESA").setLevel(logging.WARNING)
    path = shard_dir(out, scenario, seed)
    if usable_shard(path):
        return "skipped"
    cfg = compose_run(settings, scenario, seed)
    smap = _shared_map(cfg)
    model, report = start_model(cfg, smap, None, compose_spinup(settings, seed))
    windows = Windows.for_run(cfg.scenario.intervention_week, cfg.weeks, cfg.burn_in_weeks,
                              settings.window_weeks)
    sellers = run_recording_sellers(model, windows)
    areas = model.area_metrics()
    tag = {"scenario": scenario, "seed": seed}
    results = window_totals(areas, windows).assign(**tag)
    weekly = weekly_series(areas, WEEKLY_METRICS).assign(**tag)
    events = model.events.to_table().to_pandas()
    nodes = pd.concat([node_window_counts(events, windows, model.clock.steps_per_week, et)
                       for et in ("transaction", "public_use", "violent_incident")] + [sellers])
    nodes = nodes.assign(**tag)
    path.mkdir(parents=True, exist_ok=True)
    if seed == settings.first_seed:  # for the animated map: weekly activity per node, one seed
        write_parquet(path / "weekly_nodes.parquet", weekly_node_counts(
            events, model.clock.steps_per_week).assign(**tag))
    write_parquet(path / "results.parquet", results)
    write_parquet(path / "weekly.parquet", weekly)
    write_parquet(path / "nodes.parquet", nodes)
    write_text(path / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    files = [*SHARD_FILES, "config.yaml", *(["weekly_nodes.parquet"]
                                            if seed == settings.first_seed else [])]
    write_json(path / "manifest.json", {
        **tag, "windows": {"before": windows.before, "after": windows.after},
        "steps": model.steps_done, "map_source_sha256": smap.source_hash,
        "spinup": {k: v for k, v in report.summary().items() if k != "cached"},
        "event_counts": model.events.counts_by_name(),
        "sha256": {f: sha256_file(path / f) for f in files},
    })
    return "done"


# ------------------------------------------------------------------------------ all runs


def default_out_dir() -> Path:
    return Path("results") / "compare" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")


def run_compare(settings: CompareSettings, progress: bool = True) -> Path:
    """Run every scenario × seed (resuming complete shards), then combine and analyse. With
    ``replications=auto``, seeds are added in rounds until the headline contrasts are decided or
    the cap is reached (`brusim.analysis.precision`); every shard of an earlier round is kept."""
    out, cfgs, smap = prepare(settings)
    auto = is_auto(settings)
    most = settings.replications_cap if auto else settings.replications
    tasks = [(s, k) for k in range(settings.first_seed, settings.first_seed + most)
             for s in settings.scenarios]
    other = other_settings_shards(out, settings, dict(zip(settings.scenarios, cfgs,
                                                          strict=True)), tasks)
    if other:
        raise ConfigError(f"{out} holds runs made with other settings ({', '.join(other[:3])}"
                          f"{', ...' if len(other) > 3 else ''}); use another out_dir, or "
                          "delete that folder first")
    writable_folder(out, "out_dir")
    write_text(out / "settings.yaml", OmegaConf.to_yaml(OmegaConf.structured(
        portable(replace(settings, replications_used=None)))))
    with Executor(settings.executor, settings.n_jobs, out / ".submitit") as engine:
        if not auto:
            run_seeds(settings, out, progress, engine)
            rounds = None
        else:
            n, rounds = auto_rounds(settings, out, smap, progress, engine)
    if not auto:
        return finish(out, settings, None)
    return finish(out, replace(settings, replications_used=n), rounds)


def auto_rounds(settings: CompareSettings, out: Path, smap, progress: bool, engine: Executor
                ) -> tuple[int, pd.DataFrame]:
    """replications=auto: rounds of seeds until the headlines are decided or the cap; the
    seeds used and the headlines round by round."""
    n, rounds = settings.replications_start, []
    while True:
        fixed = with_seeds(settings, n)
        run_seeds(fixed, out, progress, engine)
        rows = pr.round_rows(round_headlines(out, fixed, smap), len(rounds) + 1, n)
        rounds.append(rows)
        stop = pr.stop_reason(rows, n, settings.replications_cap)
        log.info("replications=auto, round %d (%d seeds): %d of %d headlines decided",
                 len(rounds), n, int(rows["decided"].sum()), len(rows))
        if stop:
            return n, pd.concat(rounds, ignore_index=True)
        n = min(n + settings.replications_step, settings.replications_cap)


def portable(settings: CompareSettings) -> CompareSettings:
    """``settings`` without where they ran (the executor): what settings.yaml and the config
    hash record, the same whichever executor ran the comparison."""
    return replace(settings, executor=ExecutorSettings())


def prepare(settings: CompareSettings) -> tuple[Path, list, object]:
    """The absolute results folder, every scenario's config and the map, once every scenario,
    the target and the windows are checked (before any worker starts)."""
    from brusim.map import load_street_map
    from brusim.model.model import map_settings

    check_scenarios(settings.scenarios)
    out = (Path(settings.out_dir).expanduser() if settings.out_dir else default_out_dir()).resolve()
    settings.out_dir = str(out)  # absolute before anything is handed to other processes
    # validate every scenario's config and compile the map once, before any worker starts
    cfgs = [compose_run(settings, scen, settings.first_seed) for scen in settings.scenarios]
    smap = load_street_map(map_settings(cfgs[0].map))
    found = [f"{scen}: {p}" for scen, cfg in zip(settings.scenarios, cfgs, strict=True)
             for p in problems(cfg, smap)]
    if settings.target not in smap.hotspots.ids:  # used only after the runs: check it now
        found.append(f"compare target={settings.target!r} is not a hotspot of the map; valid: "
                     f"{', '.join(smap.hotspots.ids)}")
    for cfg in cfgs:
        try:
            Windows.for_run(cfg.scenario.intervention_week, cfg.weeks, cfg.burn_in_weeks,
                            settings.window_weeks)
        except ValueError as exc:
            found.append(f"{cfg.scenario.name}: {exc}")
    if found:
        raise ConfigError(found)
    return out, cfgs, smap


def run_seeds(settings: CompareSettings, out: Path, progress: bool,
              engine: Executor | None = None) -> None:
    """Spin up and run every scenario of the seeds of a fixed ``settings`` that has no usable
    shard yet, in parallel through ``engine`` (default: this machine's cores)."""
    from tqdm import tqdm

    if engine is None:
        with Executor(settings.executor, settings.n_jobs, out / ".submitit") as opened:
            return run_seeds(settings, out, progress, opened)

    seeds = list(seed_range(settings))
    tasks = [(s, k) for k in seeds for s in settings.scenarios]
    todo = [t for t in tasks if not usable_shard(shard_dir(out, *t))]
    if len(todo) < len(tasks):
        log.info("resuming: %d of %d runs already complete", len(tasks) - len(todo), len(tasks))
    if not todo:
        return
    # each seed's baseline is spun up once (cached), then every scenario begins from it
    spin = sorted({k for _, k in todo} | {k for k in seeds if not spinup_file(out, k).exists()})
    phases = [("spin-ups", run_spinup, [(settings, k, out) for k in spin],
               lambda a: spinup_file(out, a[1])),
              ("runs", run_shard, [(settings, s, k, out) for s, k in todo],
               lambda a: shard_dir(out, a[1], a[2]) / "manifest.json")]
    bar = None
    try:
        for desc, fn, calls, written in phases:
            jobs = engine.run(fn, calls)
            bar = tqdm(jobs, total=len(calls), desc=desc, unit="run", disable=not progress)
            for i, _ in bar:
                if not written(calls[i]).exists():
                    raise ConfigError(not_shared(written(calls[i]), settings.executor))
            bar.close()
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        done = sum(shard_complete(shard_dir(out, *t)) for t in tasks)
        raise CompareInterrupted(
            f"interrupted: {done} of {len(tasks)} runs are finished and kept in {out}; "
            f"resume with the same command plus out_dir={out}") from None
    except OutputError as exc:
        raise _resume_hint(exc, out) from None


def not_shared(path: Path, executor: ExecutorSettings) -> str:
    """The error for a task that finished without its file being visible here."""
    return (f"executor={executor.kind}: a worker finished but {path} is not visible on this "
            "machine; out_dir must be on a file system every worker shares (give "
            "out_dir=/shared/path)")


def round_headlines(out: Path, settings: CompareSettings, smap) -> pd.DataFrame:
    """The headline contrasts (`brusim.analysis.precision.headlines`) of the seeds of a fixed
    ``settings``, from its shards, computed as `combine` computes them."""
    raw = read_shards(out, settings)
    paired, budget = headline_tables(raw, settings, smap)
    return pr.headlines(paired, budget, settings.baseline, settings.target_half_width)


def headline_tables(raw: dict[str, pd.DataFrame], settings: CompareSettings, smap
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``paired`` and ``budget`` tables of the shards' tables ``raw``."""
    paired = mt.paired_vs_baseline(mt.before_after_change(raw["results"]), settings.baseline)
    part = bg.partition(smap.hotspots, target_index(smap, settings), settings.target_m,
                        (settings.buffer_inner_m, settings.buffer_outer_m))
    sales = raw["nodes"][raw["nodes"]["event"] == "transaction"]
    budget = bg.budget(bg.area_counts(sales, part), part, settings.baseline)
    return paired, budget.assign(metric="transactions")


def target_index(smap, settings: CompareSettings) -> int:
    try:
        return smap.hotspots.index(settings.target)
    except KeyError as exc:
        raise ConfigError(f"compare target: {exc.args[0]}") from None


def finish(out: Path, settings: CompareSettings, rounds: pd.DataFrame | None) -> Path:
    """Combine the shards into the results tables and record the settings used (an auto
    run's settings.yaml then names the seeds it ended with, ``replications_used``)."""
    try:
        combine(out, settings, rounds)
        write_text(out / "settings.yaml",
                   OmegaConf.to_yaml(OmegaConf.structured(portable(settings))))
    except OutputError as exc:
        raise _resume_hint(exc, out) from None
    return out


def _resume_hint(exc: OutputError, out: Path) -> OutputError:
    """A failed write in a comparison: what failed, and that the same command resumes it."""
    return cannot_write(out, exc, f"run the same command plus out_dir={out}")


def other_settings_shards(out: Path, settings: CompareSettings, cfgs: dict, tasks: list
                          ) -> list[str]:
    """The finished shards of ``tasks`` in ``out`` whose run config or analysis windows are
    not those of ``settings`` (reusing them would mix two experiments)."""
    from brusim.experiments.shards import config_matches

    other = []
    for scen, seed in tasks:
        path = shard_dir(out, scen, seed)
        if not shard_complete(path):
            continue
        cfg = cfgs[scen].copy()
        cfg.seed = seed
        try:
            stored = read_manifest(path).get("windows")
        except (BrusimError, AttributeError):
            stored = None
        w = Windows.for_run(cfg.scenario.intervention_week, cfg.weeks, cfg.burn_in_weeks,
                            settings.window_weeks)
        same_windows = stored is None or (list(stored.get("before", [])) == list(w.before)
                                          and list(stored.get("after", [])) == list(w.after))
        if not (config_matches(path, cfg) and same_windows):
            other.append(f"{scen}/seed {seed}")
    return other


def read_shards(out: Path, settings: CompareSettings) -> dict[str, pd.DataFrame]:
    """Concatenate the shards of the requested scenarios and seeds."""
    tables: dict[str, list[pd.DataFrame]] = {f: [] for f in SHARD_FILES}
    seeds = seed_range(settings)
    missing = []
    for scen in settings.scenarios:
        for k in seeds:
            path = shard_dir(out, scen, k)
            if not shard_complete(path):
                missing.append(f"{scen}/seed {k}")
                continue
            for f in SHARD_FILES:
                tables[f].append(pd.read_parquet(path / f))
    weekly_nodes = [pd.read_parquet(shard_dir(out, scen, settings.first_seed)
                                    / "weekly_nodes.parquet")
                    for scen in settings.scenarios
                    if (shard_dir(out, scen, settings.first_seed) / "weekly_nodes.parquet")
                    .exists()]
    if missing:
        raise ConfigError(f"{len(missing)} runs missing from {out} (e.g. {missing[0]}); "
                          "run the same compare command again to finish them")
    out_tables = {f.removesuffix(".parquet"): pd.concat(v, ignore_index=True)
                  for f, v in tables.items()}
    if weekly_nodes:
        out_tables["weekly_nodes"] = pd.concat(weekly_nodes, ignore_index=True)
    spun = [k for k in seeds if spinup_file(out, k).exists()]
    if spun:  # each seed's spin-up: its verdict, and the weekly series it judged
        import json

        rows = [json.loads(spinup_file(out, k).read_text()) for k in spun]
        for row in rows:  # the users' pre-loaded stocks as flat columns (preload_*)
            row.update({f"preload_{k}": v for k, v in (row.pop("preload", None) or {}).items()})
        out_tables["spinup"] = pd.DataFrame(rows)
        out_tables["spinup_weekly"] = pd.concat(
            [pd.read_parquet(spinup_file(out, k).with_name(f"seed{k:04d}_weekly.parquet"))
             for k in spun], ignore_index=True)
    return out_tables


def combine(out: Path, settings: CompareSettings, rounds: pd.DataFrame | None = None
            ) -> dict[str, pd.DataFrame]:
    """Build the analysis tables, the DuckDB file and the figures from the shards. ``rounds``:
    an auto run's headlines round by round (the ``replications`` table); without them, the
    headlines of the seeds used make one round."""
    from brusim.experiments.results_schema import node_table
    from brusim.map import load_street_map
    from brusim.model.model import map_settings

    raw = read_shards(out, settings)
    cfg = compose_run(settings, settings.baseline, settings.first_seed)
    smap = load_street_map(map_settings(cfg.map))
    change = mt.before_after_change(raw["results"])
    tables = {
        "results": raw["results"],
        "weekly": raw["weekly"],
        "nodes": raw["nodes"],
        **({"weekly_nodes": raw["weekly_nodes"]} if "weekly_nodes" in raw else {}),
        **{name: raw[name] for name in ("spinup", "spinup_weekly") if name in raw},
        "change": change,
        "summary": mt.summarise(change),
        "paired": mt.paired_vs_baseline(change, settings.baseline),
        "paired_change": mt.paired_vs_baseline(change, settings.baseline, column="change"),
    }
    target = target_index(smap, settings)
    sales = raw["nodes"][raw["nodes"]["event"] == "transaction"]
    # where the market went (a budget over a partition of the map), the WDQ, TNE and WDD read
    # from the same paired contrasts, and the placebo (issue 21, item 2)
    part, budget_tables = bg.budget_tables(raw["nodes"], smap.hotspots, target,
                                           settings.target_m,
                                           (settings.buffer_inner_m, settings.buffer_outer_m),
                                           settings.baseline)
    tables.update(budget_tables)
    if rounds is None:
        rounds = pr.round_rows(pr.headlines(tables["paired"], tables["budget"],
                                            settings.baseline, settings.target_half_width),
                               1, seed_count(settings))
    tables[pr.TABLE] = rounds
    tables["concentration"] = mt.concentration(sales, smap.n_nodes)
    tables["receivers"] = pd.concat(
        [mt.top_receivers(sales, scen, settings.baseline).assign(scenario=scen)
         for scen in settings.scenarios if scen != settings.baseline] or [pd.DataFrame()],
        ignore_index=True)
    listed = np.unique(smap.hotspots.catchment_indices)
    tables["emerging"] = mt.emerging_hotspots(sales, listed, threshold=emerging_threshold(sales))
    tables["police_cost"] = police_cost(change, settings.scenarios, settings.baseline,
                                        settings.target)
    # so the results can be mapped without the map
    tables["nodes_xy"] = node_table(smap).assign(budget_area=part.node_areas())
    for name, df in tables.items():
        write_parquet(out / f"{name}.parquet", df)
    write_duckdb(out / "results.duckdb", tables)
    from brusim.analysis.compare_figures import make_figures
    from brusim.reports.results import scenario_name

    make_figures(out, tables, smap, settings, cfg,
                 {s: scenario_name(s, "en") for s in settings.scenarios})
    write_json(out / "manifest.json", compare_manifest(settings, cfg, smap, rounds))
    return tables


def emerging_threshold(sales: pd.DataFrame) -> float:
    """A node is a new hot spot when its mean after-window count reaches the 99th percentile of
    the baseline's busy nodes (at least 10 transactions)."""
    after = sales[sales["window"] == "after"]
    per_run = after.groupby(["scenario", "seed", "node"], observed=True)["count"].sum()
    return max(10.0, float(np.nanpercentile(per_run.to_numpy(), 99))) if len(per_run) else 10.0


def write_duckdb(path: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Write every table into a fresh DuckDB file, with the descriptions of its tables and
    columns as comments (results_schema.yaml), built aside, flushed, read back (each table's
    row count) and only then moved over ``path``: a failure leaves the old file."""
    import duckdb

    from brusim.experiments.results_schema import comment_statements

    kept = {name: df for name, df in tables.items() if df.shape[1] > 0}  # e.g. no receivers

    def write(tmp: str) -> None:
        Path(tmp).unlink()  # DuckDB creates its own file
        try:
            with duckdb.connect(tmp) as con:
                for name, df in kept.items():
                    con.register("df_view", df)
                    con.execute(f"CREATE TABLE {name} AS SELECT * FROM df_view")
                    con.unregister("df_view")
                    for statement in comment_statements(name, list(df.columns)):
                        con.execute(statement)
                con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            raise OSError(str(exc).splitlines()[0]) from None

    def verify(tmp: str) -> None:
        try:
            with duckdb.connect(tmp, read_only=True) as con:
                for name, df in kept.items():
                    (rows,) = con.execute(f"SELECT count(*) FROM {name}").fetchone()
                    if rows != len(df):
                        raise OSError(f"table {name}: {rows} rows read back of {len(df)}")
        except duckdb.Error as exc:
            raise OSError(str(exc).splitlines()[0]) from None

    atomic_write(path, write, verify)


def compare_manifest(settings: CompareSettings, cfg, smap, rounds: pd.DataFrame) -> dict:
    import hashlib

    from brusim.experiments.manifest import base_manifest

    blob = OmegaConf.to_yaml(OmegaConf.structured(portable(settings))) + OmegaConf.to_yaml(cfg)
    m = base_manifest(settings.first_seed, {}, smap)
    m["executor"] = settings.executor.describe()  # where it ran; not part of the results
    auto = is_auto(settings)
    precision = pr.summary(rounds, auto, settings.target_half_width,
                           settings.replications_cap if auto else None,
                           settings.replications_start if auto else None,
                           settings.replications_step if auto else None)
    m.update(status="complete", scenarios=settings.scenarios, replications=seed_count(settings),
             precision=precision,
             weeks=float(cfg.weeks), intervention_week=float(cfg.scenario.intervention_week),
             config_hash=hashlib.sha256(blob.encode()).hexdigest()[:12])
    return m
