"""`brusim calibrate`: fit the free behavioural parameters to several patterns at once.

An Optuna study (TPE sampler) minimises the multi-pattern loss: the sum over the fitted checks of
the normalised distance of each mean outside its target band (`brusim.calibration.patterns.loss`).
The study lives in ``<root>/<name>/study.db`` (SQLite) on this machine, or, when the trials run
through a cluster executor (``executor=ray|dask|slurm``), in ``<root>/<name>/study.journal``
(Optuna's journal file, safe for workers on several machines sharing the folder); ``--storage``
gives another journal file or an RDB URL (PostgreSQL, MySQL). Every trial's parameters and
pattern values are stored there, and running the same ``--name`` again adds trials to it. With
``jobs > 1`` several workers share the study, each a task of the executor. The first trial of a
new study evaluates the current defaults, so the fit is always compared with where it started.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from brusim.calibration import patterns as pt
from brusim.calibration.apply import apply_values, format_value
from brusim.calibration.evaluate import check_weights, evaluate
from brusim.calibration.runs import burn_in_weeks, check_plan, gather, run_plan
from brusim.calibration.spec import (
    FreeParameter,
    PatternBook,
    load_free_parameters,
    load_patterns,
)
from brusim.calibration.validate import build_plan, load_map, markdown_table
from brusim.errors import ConfigError
from brusim.experiments import executor as ex
from brusim.experiments.executor import ExecutorSettings, run_tasks
from brusim.experiments.manifest import git_commit, now_iso
from brusim.io import writable_folder, write_json, write_text
from brusim.paths import config_dir, source_checkout, user_config_dir

log = logging.getLogger(__name__)


@dataclass
class CalibrateSettings:
    """What `brusim calibrate` fits and how (defaults from patterns.yaml's calibrate section)."""

    name: str = "default"
    trials: int = 20
    seeds: int | None = None
    first_seed: int | None = None
    weeks: float | None = None
    jobs: int = 1
    apply: bool = False
    overrides: list[str] = field(default_factory=list)
    config_name: str = "config"
    root: Path = Path("results/calibration")
    patterns: list[str] | None = None
    patterns_file: Path | None = None
    parameters_file: Path | None = None
    behaviour_file: Path | None = None  # --apply target; default configs/behaviour/default.yaml
    keep_runs: bool = False
    command: str = ""
    # where the trials run (brusim.experiments.executor); off this machine, root must be on a
    # file system every worker shares
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    # the study: None (study.db here, study.journal through a cluster executor), a journal
    # file, or an RDB URL (postgresql://..., mysql://...)
    storage: str | None = None


@dataclass(frozen=True)
class Context:
    """Everything a worker process needs to evaluate trials (picklable)."""

    settings: CalibrateSettings
    book: PatternBook
    names: tuple[str, ...]
    params: tuple[FreeParameter, ...]
    folder: Path
    seeds: int
    first_seed: int
    weeks: float
    storage: str = ""  # an RDB URL or the absolute path of a journal file (`study_storage`)

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.folder / 'study.db').resolve()}"


def study_storage(s: CalibrateSettings, folder: Path) -> str:
    """Where the study lives: ``--storage`` (an RDB URL, or a journal file made absolute);
    otherwise the folder's study.journal when it exists or when the trials run through a cluster
    executor, else its study.db (SQLite: one machine only, refused for a cluster executor)."""
    if s.storage:
        return s.storage if "://" in s.storage else str(Path(s.storage).expanduser().resolve())
    db, journal = folder / "study.db", folder / "study.journal"
    if journal.exists() or (s.executor.kind != "local" and not db.exists()):
        return str(journal)
    if s.executor.kind != "local":
        raise ConfigError(f"study {s.name!r} is stored in SQLite ({db}), which workers on other "
                          f"machines cannot share safely; continue it with executor=local, or "
                          "use a new --name (a journal file) or --storage with an RDB URL")
    return f"sqlite:///{db}"


def param_overrides(values: dict[str, float]) -> list[str]:
    """Hydra overrides setting each parameter (full precision)."""
    return [f"{k}={int(v) if isinstance(v, int) else repr(float(v))}" for k, v in values.items()]


def trial_plan(ctx: Context, smap, values: dict[str, float], out: Path):
    """The run plan of one parameter set."""
    s = ctx.settings
    return build_plan(ctx.book, ctx.names, smap, seeds=ctx.seeds, first_seed=ctx.first_seed,
                      weeks=ctx.weeks, overrides=[*ctx.book.calibrate_overrides, *s.overrides,
                                                  *param_overrides(values)],
                      config_name=s.config_name, out=out)


def evaluate_values(ctx: Context, values: dict[str, float], out: Path, smap=None
                    ) -> tuple[float, list[pt.Check]]:
    """Run the fitted patterns' arms for one parameter set; return the loss and the checks."""
    smap = smap if smap is not None else load_map(ctx.settings.config_name,
                                                  list(ctx.settings.overrides))
    plan, places = trial_plan(ctx, smap, values, out)
    run_plan(plan, jobs=1)
    checks = evaluate(gather(plan), ctx.book, ctx.names, places, smap, burn_in_weeks(plan))
    value = pt.loss(checks, check_weights(ctx.book), ctx.book.loss_cap)
    return value, checks


def _suggest(trial, p: FreeParameter) -> float:
    if p.integer:
        return trial.suggest_int(p.key, int(p.low), int(p.high), log=p.log)
    return trial.suggest_float(p.key, p.low, p.high, log=p.log)


def _objective(ctx: Context, smap):
    def objective(trial) -> float:
        values = {p.key: _suggest(trial, p) for p in ctx.params}
        out = ctx.folder / "runs" / f"trial_{trial.number:05d}"
        try:
            value, checks = evaluate_values(ctx, values, out, smap)
        finally:
            if not ctx.settings.keep_runs:
                shutil.rmtree(out, ignore_errors=True)
        trial.set_user_attr("checks", [_jsonable(c.as_row()) for c in checks])
        trial.set_user_attr("passed", int(sum(c.passed for c in checks)))
        for c in checks:
            trial.set_user_attr(f"value.{c.pattern}.{c.check}",
                                c.value if math.isfinite(c.value) else None)
        return value
    return objective


def _jsonable(row: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in row.items()}


def _storage(ctx: Context):
    import optuna

    url = ctx.storage_url
    if "://" not in url:  # a journal file: appends under a lock, fit for a shared file system
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(url))
    kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def _sampler(seed: int):
    import optuna

    return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                      n_startup_trials=10)


def worker(ctx: Context, n_trials: int, seed: int) -> int:
    """Load the shared study and run ``n_trials`` trials in this process."""
    import optuna

    logging.getLogger("MESA").setLevel(logging.WARNING)
    study = optuna.load_study(study_name=ctx.settings.name, storage=_storage(ctx),
                              sampler=_sampler(seed))
    smap = load_map(ctx.settings.config_name, list(ctx.settings.overrides))
    study.optimize(_objective(ctx, smap), n_trials=n_trials, gc_after_trial=True)
    return n_trials


def current_values(params: list[FreeParameter], config_name: str, overrides: list[str]
                   ) -> dict[str, float]:
    """The parameters' values in the composed configuration (the current defaults)."""
    from omegaconf import OmegaConf

    from brusim.config.load import compose_config

    cfg = compose_config(overrides, config_name=config_name)
    return {p.key: OmegaConf.select(cfg, p.key) for p in params}


def study_fingerprint(ctx: Context) -> dict:
    """What a study was made with: resuming must not change it."""
    return {"patterns": list(ctx.names), "parameters": [p.key for p in ctx.params],
            "seeds": ctx.seeds, "first_seed": ctx.first_seed, "weeks": ctx.weeks,
            "config_name": ctx.settings.config_name,
            "overrides": [*ctx.book.calibrate_overrides, *ctx.settings.overrides]}


def open_study(ctx: Context, defaults: dict[str, float]):
    """Create the study, or load it and check it was made with the same settings."""
    import optuna

    writable_folder(ctx.folder, "the calibration folder of --name")
    study = optuna.create_study(study_name=ctx.settings.name, storage=_storage(ctx),
                                direction="minimize", load_if_exists=True)
    fp = study_fingerprint(ctx)
    old = study.user_attrs.get("fingerprint")
    if old is None:
        study.set_user_attr("fingerprint", fp)
        study.set_user_attr("created", now_iso())
        clipped = {p.key: min(max(float(defaults[p.key]), p.low), p.high) for p in ctx.params}
        study.enqueue_trial(clipped, user_attrs={"defaults": True}, skip_if_exists=True)
    elif old != fp:
        changed = sorted(k for k in fp if fp[k] != old.get(k))
        raise ConfigError(f"study {ctx.settings.name!r} in {ctx.folder} was made with other "
                          f"settings ({', '.join(changed)}); use another --name or the same "
                          "settings")
    return study


def run_calibrate(s: CalibrateSettings) -> tuple[Path, dict]:
    """Add ``s.trials`` trials to the study ``s.name``, write the fit files, apply if asked."""
    import optuna

    ex.refuse_launcher(s.overrides, "calibrate")
    ex.check(s.executor)
    if not s.name or "/" in s.name or s.name.startswith("."):
        raise ConfigError(f"--name {s.name!r}: use a plain folder name like 'brussels'")
    if s.trials < 0:
        raise ConfigError("--trials must be 0 or more")
    book = load_patterns(s.patterns_file)
    names = tuple(s.patterns or book.calibrate_patterns)
    unknown = [n for n in names if n not in book.patterns]
    if unknown:
        raise ConfigError(f"unknown pattern(s) {unknown}; valid: {', '.join(book.patterns)}")
    params = tuple(load_free_parameters(s.parameters_file, fitted_only=True))
    seeds = s.seeds if s.seeds is not None else book.calibrate_seeds
    if seeds < 1:
        raise ConfigError("--seeds must be at least 1")
    folder = (Path(s.root) / s.name).resolve()
    ctx = Context(s, book, names, params, folder, seeds,
                  s.first_seed if s.first_seed is not None else book.calibrate_first_seed,
                  float(s.weeks if s.weeks is not None else book.calibrate_weeks),
                  study_storage(s, folder))
    defaults = current_values(list(params), s.config_name, list(s.overrides))
    smap = load_map(s.config_name, list(s.overrides))
    plan, _ = trial_plan(ctx, smap, defaults, ctx.folder / "runs" / "check")
    check_plan(plan, smap)
    optuna.logging.set_verbosity(optuna.logging.INFO)
    study = open_study(ctx, defaults)
    start = len(study.trials)
    if s.trials:
        history = [*study.user_attrs.get("history", []),
                   {"command": s.command or " ".join(["brusim", *sys.argv[1:]]),
                    "date": now_iso(), "trials_added": s.trials, "jobs": s.jobs,
                    "executor": s.executor.describe()}]
        study.set_user_attr("history", history)
    jobs = max(1, min(s.jobs, s.trials)) if s.trials else 1
    if s.trials and jobs == 1 and s.executor.kind == "local":
        worker(ctx, s.trials, seed=start)
    elif s.trials:  # each worker a task of the executor, sharing the study through its storage
        shares = [s.trials // jobs + (i < s.trials % jobs) for i in range(jobs)]
        seeds = [start if jobs == 1 else start + 7919 * (i + 1) for i in range(jobs)]
        for _ in run_tasks(worker, [(ctx, n, k) for n, k in zip(shares, seeds, strict=True)],
                           s.executor, n_jobs=jobs, log_dir=ctx.folder / ".submitit"):
            pass
    study = optuna.load_study(study_name=s.name, storage=_storage(ctx))
    fit = write_fit(ctx, study)
    if s.apply:
        path, use_with = apply_fit(fit, s.behaviour_file)
        fit["applied_to"] = str(path)
        fit["use_with"] = use_with
        write_json(ctx.folder / "fit.json", fit)
    return ctx.folder, fit


def _complete(study) -> list:
    import optuna

    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


def write_fit(ctx: Context, study) -> dict:
    """Write ``fit.json``, ``fit.md`` and ``trials.csv`` for the study's best trial."""
    done = _complete(study)
    if not done:
        raise ConfigError(f"study {ctx.settings.name!r} has no complete trial yet; run with "
                          "--trials 1 or more")
    best = min(done, key=lambda t: t.value)
    start = next((t for t in done if t.user_attrs.get("defaults")), None)
    fit = {
        "name": ctx.settings.name,
        "command": ctx.settings.command or " ".join(["brusim", *sys.argv[1:]]),
        "date": now_iso(),
        "git_commit": git_commit(),
        "study": _where(ctx.storage_url),
        "trials_complete": len(done),
        "trials_total": len(study.trials),
        "best_trial": best.number,
        "objective": "sum over checks of min(cap, distance of the mean outside the target "
                     "band / scale)",
        "best_value": best.value,
        "defaults_value": start.value if start else None,
        "best_params": dict(best.params),
        "defaults_params": dict(start.params) if start else None,
        "best_checks": best.user_attrs.get("checks", []),
        "history": study.user_attrs.get("history", []),
        **study_fingerprint(ctx),
    }
    write_json(ctx.folder / "fit.json", fit)
    study.trials_dataframe().to_csv(ctx.folder / "trials.csv", index=False)
    write_text(ctx.folder / "fit.md", fit_markdown(fit, ctx.params))
    return fit


def _where(url: str) -> str:
    """The study's storage for the fit files: a file, or an RDB URL without its password."""
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///")
    if "://" in url:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    return url


def fit_markdown(fit: dict, params: tuple[FreeParameter, ...]) -> str:
    """The fit as a short Markdown report."""
    lines = [f"# Calibration `{fit['name']}`", "",
             f"- command: `{fit['command']}`", f"- date: {fit['date']}",
             *(f"- trials added by `{h['command']}` ({h['date']}, {h['trials_added']} trials)"
               for h in fit.get("history", [])),
             f"- git commit: {fit['git_commit']}", f"- study: `{fit['study']}` "
             f"({fit['trials_complete']} complete trials of {fit['trials_total']})",
             f"- patterns fitted: {', '.join(fit['patterns'])}; {fit['seeds']} seeds from "
             f"{fit['first_seed']}, {fit['weeks']:g} weeks",
             f"- objective ({fit['objective']}): best {fit['best_value']:.3f} (trial "
             f"{fit['best_trial']}), current defaults "
             + (f"{fit['defaults_value']:.3f}" if fit["defaults_value"] is not None else "n/a"),
             "", "| parameter | range | defaults | fitted |", "|---|---|---|---|"]
    old = fit.get("defaults_params") or {}
    for p in params:
        if p.key in fit["best_params"]:
            lines.append(f"| `{p.key}` | [{p.low:g}, {p.high:g}]{' log' if p.log else ''} | "
                         f"{format_value(old[p.key]) if p.key in old else 'n/a'} | "
                         f"{format_value(fit['best_params'][p.key])} |")
    if fit["best_checks"]:
        table = pd.DataFrame(fit["best_checks"]).astype({"value": float, "ci_lo": float,
                                                         "ci_hi": float})
        lines += ["", "Pattern checks of the best trial (calibration seeds):", "",
                  markdown_table(table)]
    return "\n".join(lines) + "\n"


def apply_target(name: str, behaviour_file: Path | None = None) -> tuple[Path, str]:
    """Where ``--apply`` writes, and how to use it: the given file; in a source checkout the
    project's own defaults (configs/behaviour/default.yaml, how calibrated defaults are
    published); otherwise a new behaviour file in the user's config folder (./configs unless
    --config-dir says otherwise), started from brusim's defaults, never the installed package."""
    if behaviour_file is not None:
        return Path(behaviour_file), ""
    if source_checkout() is not None:
        return config_dir() / "behaviour" / "default.yaml", ""
    folder = user_config_dir() or (Path.cwd() / "configs").resolve()
    stem = f"calibrated_{re.sub(r'[^A-Za-z0-9_]+', '_', name)}"
    target = folder / "behaviour" / f"{stem}.yaml"
    if not target.exists():
        from brusim.io import write_text

        write_text(target, (config_dir() / "behaviour" / "default.yaml").read_text("utf-8"))
    hint = "" if folder == (Path.cwd() / "configs").resolve() else f" --config-dir {folder}"
    return target, f"behaviour={stem}{hint}"


def apply_fit(fit: dict, behaviour_file: Path | None = None) -> tuple[Path, str]:
    """Write the best parameters into a behaviour config with a provenance block; returns the
    file and the override that selects it (empty for the defaults)."""
    path, use_with = apply_target(str(fit.get("name", "default")), behaviour_file)
    values = {k.removeprefix("behaviour."): v for k, v in fit["best_params"].items()}
    fitted = ", ".join(f"{k}={format_value(v)}" for k, v in values.items())
    base = fit["defaults_value"]
    trials_by = [f"trials by: {h['command']} ({h['date']})" for h in fit.get("history", [])]
    comments = [
        *trials_by,
        f"command: {fit['command']}",
        f"date: {fit['date']}; git commit: {fit['git_commit']}",
        f"study: {fit['study']}, trial {fit['best_trial']} of {fit['trials_complete']} complete",
        f"objective (sum of normalised distances outside the pattern bands, "
        f"{', '.join(fit['patterns'])}): {fit['best_value']:.3f}"
        + (f" (previous values: {base:.3f})" if base is not None else ""),
        "fitted values (the lines below keep their original comments):",
        fitted,
    ]
    return apply_values(path, values, [w for c in comments for w in _wrap(c, 96)]), use_with


def _wrap(text: str, width: int) -> list[str]:
    out, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*out, line] if line else out


def load_fit(folder: Path) -> dict:
    """A fit.json written by `write_fit`."""
    return json.loads((Path(folder) / "fit.json").read_text())
