"""Sweeps through Hydra multirun: skipping complete runs, counting progress, and launching
generated override lists (sensitivity samples) through the configured Hydra launcher.

Each run of a sweep lands in ``hydra.sweep.dir/hydra.sweep.subdir`` (by default a folder named
after the run's overrides, so a parameter point always has the same folder). Re-running the same
sweep skips runs whose folder already holds a complete run of the same configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from brusim.errors import BrusimError
from brusim.experiments.shards import (
    is_complete,
    overrides_key,
    run_folders,
    task_overrides,
)
from brusim.io import writable_folder, write_json

log = logging.getLogger(__name__)

PLAN_FILE = "sweep.json"


# ------------------------------------------------------------------------------ progress


def write_plan(sweep_dir: Path, jobs: Sequence[Sequence[str]]) -> None:
    """Record the task overrides of every run the sweep will launch (for progress counts)."""
    plan = sorted({overrides_key([o for o in job if not _is_hydra_override(o)]) for job in jobs})
    write_json(Path(sweep_dir) / PLAN_FILE, {"jobs": [list(p) for p in plan]})


def _is_hydra_override(override: str) -> bool:
    return override.lstrip("+~").startswith("hydra")


def sweep_counts(sweep_dir: Path) -> tuple[int, int | None]:
    """(runs done, runs planned or None) from the run folders on disk and the sweep's plan."""
    import json

    sweep_dir = Path(sweep_dir)
    try:
        planned = {tuple(job) for job in json.loads((sweep_dir / PLAN_FILE).read_text())["jobs"]}
    except (OSError, ValueError, KeyError, TypeError):
        planned = None
    done = 0
    for path in run_folders(sweep_dir):
        if not is_complete(path):
            continue
        overrides = task_overrides(path)
        if planned is None or (overrides is not None and overrides_key(overrides) in planned):
            done += 1
    return done, None if planned is None else len(planned)


def progress_line(sweep_dir: Path) -> str:
    """``sweep: 12/40 done, 28 remaining`` (or ``sweep: 12 runs done`` without a plan)."""
    done, total = sweep_counts(sweep_dir)
    if total is None:
        return f"sweep: {done} runs done"
    return f"sweep: {done}/{total} done, {total - done} remaining"


def planned_jobs(config: DictConfig) -> list[list[str]] | None:
    """The job override lists Hydra's basic sweeper will launch (None for other sweepers)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    target = str(OmegaConf.select(config, "hydra.sweeper._target_") or "")
    if not target.endswith("BasicSweeper"):
        return None
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    args = [f"{k}={v}" for k, v in params.items()]
    args += list(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))
    overrides = OverridesParser.create().parse_overrides(args)
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


class SweepProgress(Callback):
    """Hydra callback: logs how many runs of the sweep are done at its start, after each job
    (in the job's process, counted from the run folders on disk) and at its end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from brusim.console import release_stderr

        release_stderr()  # the sweep's config is composed: Hydra's own errors are past
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = planned_jobs(config)
        if jobs is not None:
            write_plan(sweep_dir, jobs)
        log.info("%s (complete runs are skipped)", progress_line(sweep_dir))

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if config.hydra.mode == RunMode.MULTIRUN:
            log.info(progress_line(Path(config.hydra.sweep.dir)))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        line = progress_line(Path(config.hydra.sweep.dir))
        log.info("%s%s", line, "" if line.endswith(" 0 remaining") or "/" not in line
                 else " (re-run the same command to finish)")


# ------------------------------------------------------------------------------ launching


def hydra_task() -> Callable[[DictConfig], Any]:
    """The task function of `brusim run`."""
    from brusim.experiments.task import run_task

    return run_task


def launch(jobs: Sequence[Sequence[str]], hydra_overrides: Sequence[str], *,
           config_name: str = "config", task_name: str = "brusim") -> list[Any]:
    """Launch one Hydra job per override list through the configured launcher
    (``hydra/launcher=...`` in ``hydra_overrides``), as Hydra's own sweeper would.

    ``hydra_overrides`` apply to the whole sweep (e.g. ``hydra.sweep.dir=...``); each job
    carries its full task overrides (plus e.g. ``hydra.sweep.subdir=...``). Returns Hydra's
    job returns; raises BrusimError naming the failed jobs.
    """
    from hydra._internal.callbacks import Callbacks
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.plugins import Plugins
    from hydra.core.utils import JobStatus
    from hydra.types import HydraContext

    from brusim.config.load import searchpath_override
    from brusim.config.schema import register_configs
    from brusim.paths import config_dir

    register_configs()
    GlobalHydra.instance().clear()
    hydra = Hydra.create_main_hydra2(task_name, create_config_search_path(str(config_dir())))
    try:
        cfg = hydra.compose_config(config_name, [*searchpath_override(), *hydra_overrides,
                                                 "hydra.mode=MULTIRUN"],
                                   run_mode=RunMode.MULTIRUN, with_log_configuration=True,
                                   from_shell=False)
        sweep_dir = Path(cfg.hydra.sweep.dir)
        writable_folder(sweep_dir, "hydra.sweep.dir")
        OmegaConf.save(cfg, sweep_dir / "multirun.yaml")
        HydraConfig.instance().set_config(cfg)
        context = HydraContext(config_loader=hydra.config_loader, callbacks=Callbacks(cfg))
        launcher = Plugins.instance().instantiate_launcher(
            hydra_context=context, task_function=hydra_task(), config=cfg)
        returns = list(launcher.launch([list(j) for j in jobs], initial_job_idx=0)) \
            if jobs else []
    finally:
        GlobalHydra.instance().clear()
    failed = [r for r in returns if r.status == JobStatus.FAILED]
    if failed:
        first = failed[0]
        raise BrusimError(f"{len(failed)} of {len(returns)} runs failed (first: "
                          f"{' '.join(first.overrides or [])}: {first._return_value}); "
                          "re-run the same command to retry them")
    return returns
