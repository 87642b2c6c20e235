"""``hydra/launcher=executor``: every job of a sweep is one task of brusim's executor.

The command line writes ``executor=ray`` (and ``executor.address=auto`` ...); `brusim.cli`
turns these into ``hydra/launcher=executor hydra.launcher.kind=ray ...`` (see
`brusim.experiments.executor.launcher_overrides`). Each job runs Hydra's own `run_job` in the
worker, as Hydra's joblib launcher does; its run folder is written under the sweep folder,
which the command line made absolute (a worker may start in another folder), and the job's
return travels back through the engine.
"""


import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from brusim.experiments.executor import ExecutorSettings

log = logging.getLogger(__name__)


@dataclass
class ExecutorLauncherConf(ExecutorSettings):
    _target_: str = "hydra_plugins.brusim_executor.launcher.ExecutorLauncher"
    n_jobs: int = -1  # executor=local: worker processes (-1: every core)


ConfigStore.instance().store(group="hydra/launcher", name="executor",
                             node=ExecutorLauncherConf, provider="brusim")


def execute_job(idx: int, overrides: list[str], hydra_context: HydraContext,
                config: DictConfig, task_function: TaskFunction,
                singleton_state: dict[Any, Any]) -> JobReturn:
    """One job of the sweep, in a worker (Hydra's `run_job` on the job's sweep config)."""
    setup_globals()
    Singleton.set_state(singleton_state)
    sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    return run_job(hydra_context=hydra_context, config=sweep_config,
                   task_function=task_function, job_dir_key="hydra.sweep.dir",
                   job_subdir_key="hydra.sweep.subdir")


class ExecutorLauncher(Launcher):
    """Launches a sweep's jobs through `brusim.experiments.executor.Executor`."""

    def __init__(self, n_jobs: int = -1, **settings: Any) -> None:
        from brusim.experiments.executor import check

        self.settings = OmegaConf.to_object(OmegaConf.merge(
            OmegaConf.structured(ExecutorSettings), settings))
        self.n_jobs = int(n_jobs)
        check(self.settings, self.n_jobs, "hydra.launcher.n_jobs")
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config, self.task_function, self.hydra_context = config, task_function, \
            hydra_context

    def launch(self, job_overrides, initial_job_idx: int) -> list[JobReturn]:
        from brusim.errors import ConfigError
        from brusim.experiments.executor import Executor

        assert self.config is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        if not sweep_dir.is_absolute():  # resolved in a worker's own folder, it would be lost
            raise ConfigError(f"hydra.sweep.dir={sweep_dir} is relative; give an absolute "
                              "path on a file system every worker shares")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info("executor=%s is launching %d jobs into %s", self.settings.kind,
                 len(job_overrides), sweep_dir)
        for idx, overrides in enumerate(job_overrides):
            log.info("\t#%d : %s", initial_job_idx + idx, " ".join(filter_overrides(overrides)))
        state = Singleton.get_state()
        tasks = [(initial_job_idx + i, list(o), self.hydra_context, self.config,
                  self.task_function, state) for i, o in enumerate(job_overrides)]
        returns: list[JobReturn | None] = [None] * len(tasks)
        with Executor(self.settings, self.n_jobs, sweep_dir / ".submitit") as ex:
            for i, ret in ex.run(execute_job, tasks):
                returns[i] = ret
        return returns  # type: ignore[return-value]
