"""Run the arms of the pattern checks over common seeds with the comparison runner
(`brusim.experiments.compare.run_shard`: one shard per run, resumable) and gather the tidy
tables, with the ``scenario`` column holding the arm name."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from brusim.analysis.windows import Windows
from brusim.calibration.spec import Arm, Places
from brusim.config.load import override_key
from brusim.config.validate import problems
from brusim.errors import ConfigError
from brusim.experiments.compare import (
    CompareSettings,
    check_scenarios,
    compose_run,
    not_shared,
    read_shards,
    run_shard,
    shard_complete,
    shard_dir,
)
from brusim.experiments.executor import ExecutorSettings, run_tasks
from brusim.model.policy import is_policy_key


@dataclass(frozen=True)
class RunPlan:
    """Which arms, seeds and overrides; where the shards go."""

    arms: tuple[Arm, ...]
    seeds: int
    first_seed: int
    overrides: tuple[str, ...]  # for every run (after the pattern book's own)
    config_name: str
    out: Path

    def settings(self, arm: Arm) -> CompareSettings:
        """Comparison settings of one arm (its runs go under ``out/<arm>``)."""
        market = [o for o in arm.overrides if not is_policy_key(override_key(o))]
        return CompareSettings(scenarios=[arm.scenario], baseline=arm.scenario,
                               replications=self.seeds, first_seed=self.first_seed, n_jobs=1,
                               overrides=[*self.overrides, *arm.overrides],
                               spinup_overrides=[*self.overrides, *market],
                               config_name=self.config_name, out_dir=str(self.out / arm.name),
                               report=False)

    def tasks(self) -> list[tuple[Arm, int]]:
        return [(arm, k) for k in range(self.first_seed, self.first_seed + self.seeds)
                for arm in self.arms]


def adapt_arms(arms: list[Arm], places: Places) -> tuple[Arm, ...]:
    """Add the map's arm overrides (e.g. the synthetic city's crackdown target)."""
    return tuple(replace(a, overrides=(*a.overrides, *places.arm_overrides.get(a.name, ())))
                 for a in arms)


def check_plan(plan: RunPlan, smap) -> None:
    """Compose every arm once and check it (config problems, room for the windows) before any
    run starts; raise one ConfigError listing every problem."""
    check_scenarios([a.scenario for a in plan.arms])
    found = []
    for arm in plan.arms:
        cfg = compose_run(plan.settings(arm), arm.scenario, plan.first_seed)
        found += [f"{arm.name}: {p}" for p in problems(cfg, smap)]
        try:
            Windows.for_run(cfg.scenario.intervention_week, cfg.weeks, cfg.burn_in_weeks)
        except ValueError as exc:
            found.append(f"{arm.name}: {exc}")
    if found:
        raise ConfigError(found)


def run_task(plan: RunPlan, arm: Arm, seed: int) -> str:
    """One (arm, seed) run into its shard (skipped when complete). Safe in a worker process."""
    settings = plan.settings(arm)
    return run_shard(settings, arm.scenario, seed, Path(settings.out_dir))


def run_plan(plan: RunPlan, jobs: int = 1, progress: bool = False,
             executor: ExecutorSettings | None = None) -> None:
    """Run every (arm, seed) not yet complete: in this process (``jobs`` 1), in ``jobs``
    local processes, or through ``executor`` (ray, dask, slurm: `brusim.experiments.executor`).
    The shards go under the plan's absolute folder, which workers elsewhere must share."""
    todo = [(a, k) for a, k in plan.tasks()
            if not shard_complete(shard_dir(plan.out / a.name, a.scenario, k))]
    if not todo:
        return
    from tqdm import tqdm

    executor = executor or ExecutorSettings()
    if jobs == 1 and executor.kind == "local":
        for arm, k in tqdm(todo, desc="runs", unit="run", disable=not progress):
            run_task(plan, arm, k)
        return
    calls = [(plan, a, k) for a, k in todo]
    results = run_tasks(run_task, calls, executor, n_jobs=jobs, log_dir=plan.out / ".submitit")
    for i, _ in tqdm(results, total=len(todo), desc="runs", unit="run", disable=not progress):
        arm, k = todo[i]
        path = shard_dir(plan.out / arm.name, arm.scenario, k)
        if not shard_complete(path):
            raise ConfigError(not_shared(path / "manifest.json", executor))


def gather(plan: RunPlan) -> dict[str, pd.DataFrame]:
    """The shards of every arm as ``results``, ``weekly`` and ``nodes`` tables whose
    ``scenario`` column is the arm name."""
    parts: dict[str, list[pd.DataFrame]] = {"results": [], "weekly": [], "nodes": []}
    for arm in plan.arms:
        settings = plan.settings(arm)
        tables = read_shards(Path(settings.out_dir), settings)
        for name in parts:
            parts[name].append(tables[name].assign(scenario=arm.name))
    return {name: pd.concat(v, ignore_index=True) for name, v in parts.items()}


def burn_in_weeks(plan: RunPlan) -> int:
    """The first week after burn-in, as composed for the first arm."""
    cfg = compose_run(plan.settings(plan.arms[0]), plan.arms[0].scenario, plan.first_seed)
    return int(cfg.burn_in_weeks)
