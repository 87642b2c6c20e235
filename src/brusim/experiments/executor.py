"""Where the runs of `brusim compare`, `validate`, `calibrate`, `sensitivity` and `run -m`
execute: one setting, ``executor=local|ray|dask|slurm``, and one function, `run_tasks`, that
hands out independent tasks and yields their results as they complete (in any order). The two
sweeps reach it through Hydra (`launcher_overrides`, brusim's launcher plugin).

* ``local`` (default): worker processes on this machine (joblib's loky), ``n_jobs`` of them;
* ``ray``: Ray Core tasks; ``executor.address=auto`` (or ``host:port``, ``ray://...``) joins a
  running cluster, no address starts a local Ray instance for the command;
* ``dask``: a ``distributed`` scheduler (``executor.address=tcp://host:8786``), or a local
  cluster of ``executor.workers`` processes;
* ``slurm``: one SLURM job array through submitit (``executor.cluster=local`` runs the same jobs
  as processes on this machine, to try a set-up).

Tasks write their outputs under absolute paths that the caller resolved first; on a cluster that
folder must be on a file system every worker shares (the workers' own working folder is never
used). Only the small return values travel back through the engine.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from brusim.errors import BrusimError, ConfigError

KINDS = ("local", "ray", "dask", "slurm")
SLURM_FIELDS = ("cluster", "partition", "account", "timeout_min", "cpus_per_task", "mem_gb",
                "setup", "folder")
SUBMITIT_CLUSTERS = ("slurm", "local", "debug")
# Hydra launchers -> the executor doing the same for compare, validate and calibrate
LAUNCHER_EXECUTOR = {"slurm": "executor=slurm", "submitit_slurm": "executor=slurm",
                     "submitit_local": "executor=slurm executor.cluster=local",
                     "ray": "executor=ray", "ray_cluster": "executor=ray executor.address=auto",
                     "joblib": "executor=local", "basic": "executor=local n_jobs=1"}


@dataclass
class ExecutorSettings:
    """Where the runs execute. ``executor=ray`` is short for ``executor.kind=ray``."""

    kind: str = "local"  # local | ray | dask | slurm
    # ray: auto (a running cluster), host:port or ray://host:10001; dask: a scheduler address
    # (tcp://host:8786); none: start a local Ray instance / Dask cluster for the command
    address: str | None = None
    # processes of a local Ray instance or Dask cluster (default: every core); slurm: jobs of
    # the array running at once
    workers: int | None = None
    # slurm (submitit): slurm, or local (each job a process on this machine) to try a set-up
    cluster: str = "slurm"
    partition: str | None = None
    account: str | None = None  # VSC: your credit account; CECI: none
    timeout_min: int = 60  # a job is one run
    cpus_per_task: int = 1
    mem_gb: float = 4.0
    setup: list[str] = field(default_factory=list)  # shell lines before each job
    folder: str | None = None  # submitit's job files and logs (default: <results>/.submitit)

    def describe(self) -> dict[str, Any]:
        """The settings that differ from the defaults, for manifests."""
        base = ExecutorSettings()
        return {"kind": self.kind, **{f.name: getattr(self, f.name) for f in fields(self)
                                      if f.name != "kind"
                                      and getattr(self, f.name) != getattr(base, f.name)}}


def normalise_args(args: list[str]) -> list[str]:
    """``executor=ray`` becomes ``executor.kind=ray`` (so that ``executor.address=...`` can
    follow); other arguments are unchanged."""
    return [f"executor.kind={a.split('=', 1)[1]}" if a.split("=", 1)[0] == "executor" else a
            for a in args]


def is_executor_arg(arg: str) -> bool:
    key = arg.split("=", 1)[0].lstrip("+~")
    return key == "executor" or key.startswith("executor.")


def split_executor_args(args: list[str]) -> tuple[list[str], list[str]]:
    """The ``executor...=`` arguments, and the others."""
    return [a for a in args if is_executor_arg(a)], [a for a in args if not is_executor_arg(a)]


def from_args(args: list[str]) -> ExecutorSettings:
    """Executor settings from ``executor=KIND`` / ``executor.FIELD=VALUE`` arguments."""
    from omegaconf import OmegaConf

    base = OmegaConf.structured(ExecutorSettings)
    dotlist = [a.split(".", 1)[1] for a in normalise_args(args)]
    try:
        if dotlist:
            base = OmegaConf.merge(base, OmegaConf.from_dotlist(dotlist))
    except Exception as exc:  # omegaconf validation errors
        raise ConfigError(f"executor settings: {str(exc).splitlines()[0]}") from None
    settings = OmegaConf.to_object(base)
    check(settings)
    return settings


def check(s: ExecutorSettings, n_jobs: int | None = None, n_jobs_name: str = "n_jobs") -> None:
    """Refuse, in one line naming the fix, an unknown kind or a setting the kind would ignore
    (``n_jobs``, given and not the default -1, applies to ``executor=local`` only)."""
    s.kind = str(s.kind).strip().lower()
    if s.kind not in KINDS:
        raise ConfigError(f"executor={s.kind!r} is not one of {', '.join(KINDS)}")
    base = ExecutorSettings()
    changed = [f.name for f in fields(s) if f.name != "kind"
               and getattr(s, f.name) != getattr(base, f.name)]
    if s.kind == "local" and changed:
        raise ConfigError(f"executor.{changed[0]} would be ignored by executor=local (which "
                          f"uses {n_jobs_name} processes here); choose executor=ray, dask or "
                          "slurm, or drop it")
    if s.kind in ("ray", "dask"):
        slurm_only = [f for f in changed if f in SLURM_FIELDS]
        if slurm_only:
            raise ConfigError(f"executor.{slurm_only[0]} is a SLURM setting, ignored by "
                              f"executor={s.kind}; use executor=slurm or drop it")
        if s.address and s.workers is not None:
            raise ConfigError(f"executor.workers starts a local {s.kind} instance and would be "
                              f"ignored with executor.address={s.address}; drop one of them")
    if s.kind == "slurm":
        if s.address is not None:
            raise ConfigError("executor.address is for executor=ray or dask; SLURM jobs are "
                              "submitted from this machine (drop it)")
        if s.cluster not in SUBMITIT_CLUSTERS:
            raise ConfigError(f"executor.cluster={s.cluster!r} is not one of "
                              f"{', '.join(SUBMITIT_CLUSTERS)}")
    if s.workers is not None and s.workers < 1:
        raise ConfigError(f"executor.workers must be at least 1, got {s.workers}")
    if s.kind != "local" and n_jobs is not None and n_jobs != -1:
        raise ConfigError(f"{n_jobs_name}={n_jobs} applies to executor=local only; with "
                          f"executor={s.kind} the cluster decides (executor.workers=N for a "
                          "local instance)")


def refuse_launcher(args: Iterable[str], command: str) -> None:
    """``hydra/launcher=...`` (and ``hydra.launcher.*``) would be ignored by ``command``, which
    does not go through Hydra's launchers: refuse it, naming the executor doing the same."""
    for arg in args:
        key, _, value = arg.lstrip("+~").partition("=")
        if key == "hydra/launcher" or key.startswith("hydra.launcher"):
            hint = LAUNCHER_EXECUTOR.get(value, "executor=slurm (or local, ray, dask)")
            raise ConfigError(f"brusim {command} does not use Hydra launchers, so {arg} would "
                              f"be ignored; choose where the runs go with {hint}")


def launcher_overrides(args: Iterable[str], command: str) -> list[str]:
    """The ``executor...=`` arguments of a sweep (``run -m``, ``sensitivity``) as the Hydra
    overrides that send its jobs through brusim's launcher (``hydra/launcher=executor``,
    `hydra_plugins.brusim_executor.launcher`), checked here before Hydra starts; none when no
    executor is given. A ``hydra/launcher=...`` choice as well is refused (one of the two
    would be ignored); ``hydra.launcher.n_jobs`` stays, for ``executor=local``."""
    import json

    mine, rest = split_executor_args(list(args))
    if not mine:
        return []
    for arg in rest:
        key = arg.lstrip("+~").partition("=")[0]
        if key == "hydra/launcher" or (key.startswith("hydra.launcher")
                                       and key != "hydra.launcher.n_jobs"):
            raise ConfigError(f"brusim {command}: {arg} and executor= both choose where the runs "
                              "go; keep one (executor= means the same in every command)")
    settings = from_args(mine)
    base = ExecutorSettings()
    out = ["hydra/launcher=executor", f"hydra.launcher.kind={settings.kind}"]
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.name != "kind" and value != getattr(base, f.name):
            shown = "null" if value is None else (json.dumps(value) if isinstance(
                value, (str, list)) else str(value))
            out.append(f"hydra.launcher.{f.name}={shown}")
    return out


def refuse_single_run(args: Iterable[str]) -> None:
    """``executor=...`` for one `brusim run` (no ``-m``): it runs in this process."""
    for arg in args:
        if is_executor_arg(arg):
            raise ConfigError(f"{arg} applies to sweeps (brusim run -m ...); a single run runs "
                              "in this process")


# ----------------------------------------------------------------------------- the engines

ENV_PREFIX = "BRUSIM_"  # the driver's brusim settings (map, config folder, cache) for workers


def _call(env: dict[str, str], fn: Callable, args: tuple) -> tuple[str, Any]:
    """Run ``fn(*args)`` in a worker, with the driver's ``BRUSIM_*`` environment where the
    worker has none; a user-facing error comes back as a value (any engine keeps its type)."""
    for key, value in env.items():
        os.environ.setdefault(key, value)
    try:
        return "ok", fn(*args)
    except BrusimError as exc:
        return "error", exc


def _unwrap(outcome: tuple[str, Any]) -> Any:
    status, value = outcome
    if status == "error":
        raise value
    return value


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}


class Executor(AbstractContextManager):
    """An open engine: ``run`` may be called several times (e.g. spin-ups, then runs) on the
    same Ray instance or Dask cluster; leaving the context stops what it started."""

    def __init__(self, settings: ExecutorSettings, n_jobs: int = -1,
                 log_dir: Path | None = None):
        self.settings, self.n_jobs, self.log_dir = settings, n_jobs, log_dir
        self._stop: list[Callable[[], None]] = []
        self._client = None
        self._submitit = None
        self._opened = False

    def __enter__(self) -> Executor:
        return self

    def _open(self) -> None:
        """Start or join the engine, once, when the first tasks come (a resumed comparison
        with nothing left to run starts nothing)."""
        if self._opened:
            return
        self._opened = True
        kind = self.settings.kind
        try:
            if kind == "ray":
                self._open_ray()
            elif kind == "dask":
                self._open_dask()
            elif kind == "slurm":
                self._open_submitit()
        except ImportError as exc:
            raise ConfigError(f"executor={kind} needs {exc.name}: pip install "
                              "'brusim[cluster]'") from None
        except (ConnectionError, OSError, TimeoutError) as exc:
            where = self.settings.address or "a local instance"
            raise ConfigError(f"executor={kind}: cannot reach {where} "
                              f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
                              "; check executor.address") from None

    def __exit__(self, *exc) -> None:
        while self._stop:
            with suppress(Exception):  # stopping is best effort
                self._stop.pop()()

    # ------------------------------------------------------------------------ opening

    def _open_ray(self) -> None:
        import ray

        if ray.is_initialized():  # e.g. a notebook or test that connected already
            return
        address = self.settings.address or "local"
        kwargs: dict[str, Any] = {"configure_logging": False}
        if address == "local":
            kwargs.update(num_cpus=self.settings.workers or _cores(), include_dashboard=False)
        ray.init(address=address, **kwargs)
        self._stop.append(ray.shutdown)

    def _open_dask(self) -> None:
        from distributed import Client, LocalCluster

        if self.settings.address:
            self._client = Client(self.settings.address, timeout="30s")
        else:
            cluster = LocalCluster(n_workers=self.settings.workers or _cores(),
                                   threads_per_worker=1, processes=True, dashboard_address=None)
            self._stop.append(cluster.close)
            self._client = Client(cluster)
        self._stop.append(self._client.close)

    def _open_submitit(self) -> None:
        import submitit

        s = self.settings
        folder = Path(s.folder).expanduser().resolve() if s.folder else self.log_dir
        if folder is None:
            raise ConfigError("executor=slurm: give executor.folder=PATH for the job files "
                              "(on the shared file system)")
        try:
            ex = submitit.AutoExecutor(folder=folder, cluster=s.cluster)
        except RuntimeError as exc:
            raise ConfigError(f"executor=slurm: {str(exc).splitlines()[0]}; on a machine "
                              "without SLURM try executor.cluster=local") from None
        params: dict[str, Any] = {"timeout_min": s.timeout_min, "cpus_per_task": s.cpus_per_task,
                                  "mem_gb": s.mem_gb, "name": "brusim"}
        if s.cluster == "slurm":
            params.update({f"slurm_{k}": v for k, v in (("partition", s.partition),
                                                        ("account", s.account)) if v})
            params["slurm_setup"] = list(s.setup)
            if s.workers:
                params["slurm_array_parallelism"] = s.workers
        ex.update_parameters(**params)
        self._submitit = ex

    # ------------------------------------------------------------------------ running

    def run(self, fn: Callable, arg_tuples: list[tuple]) -> Iterator[tuple[int, Any]]:
        """Call ``fn(*args)`` for every tuple; yield ``(index, result)`` as each completes
        (any order). A task's error is raised here; tasks not yet finished are cancelled when
        the loop stops early (an error, Ctrl-C)."""
        if not arg_tuples:
            return iter(())
        self._open()
        env = _env()
        engine = {"local": self._run_local, "ray": self._run_ray, "dask": self._run_dask,
                  "slurm": self._run_submitit}[self.settings.kind]
        return engine(fn, list(arg_tuples), env)

    def _run_local(self, fn, arg_tuples, env) -> Iterator[tuple[int, Any]]:
        from joblib import Parallel, delayed

        calls = [delayed(_indexed)(i, env, fn, args) for i, args in enumerate(arg_tuples)]
        for i, outcome in Parallel(n_jobs=self.n_jobs, return_as="generator_unordered")(calls):
            yield i, _unwrap(outcome)

    def _run_ray(self, fn, arg_tuples, env) -> Iterator[tuple[int, Any]]:
        import ray

        task = ray.remote(num_cpus=1, max_retries=0)(_call)
        index = {task.remote(env, fn, args): i for i, args in enumerate(arg_tuples)}
        pending = list(index)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    yield index[ref], _unwrap(ray.get(ref))
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def _run_dask(self, fn, arg_tuples, env) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed

        tag = uuid.uuid4().hex[:8]
        futures = [self._client.submit(_call, env, fn, args, pure=False,
                                       key=f"brusim-{tag}-{i}")
                   for i, args in enumerate(arg_tuples)]
        index = {f.key: i for i, f in enumerate(futures)}
        done: set[str] = set()
        try:
            for fut in as_completed(futures):
                done.add(fut.key)
                yield index[fut.key], _unwrap(fut.result())
        finally:
            rest = [f for f in futures if f.key not in done]
            if rest:
                self._client.cancel(rest)

    def _run_submitit(self, fn, arg_tuples, env) -> Iterator[tuple[int, Any]]:
        import submitit

        n = len(arg_tuples)
        jobs = self._submitit.map_array(_call, [env] * n, [fn] * n, arg_tuples)
        pending = dict(enumerate(jobs))
        pause = 0.5 if self.settings.cluster != "slurm" else 15.0
        try:
            while pending:
                finished = [i for i, job in pending.items() if job.done()]
                for i in finished:
                    job = pending.pop(i)
                    try:
                        outcome = job.result()
                    except submitit.core.utils.UncompletedJobError as exc:
                        raise BrusimError(f"job {job.job_id} did not finish "
                                          f"({str(exc).splitlines()[0]}); its log: "
                                          f"{job.paths.stderr}") from None
                    yield i, _unwrap(outcome)
                if pending and not finished:
                    time.sleep(pause)
        finally:
            for job in pending.values():
                job.cancel(check=False)


def _indexed(i: int, env: dict[str, str], fn: Callable, args: tuple) -> tuple[int, Any]:
    return i, _call(env, fn, args)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_tasks(fn: Callable, arg_tuples: list[tuple], executor: ExecutorSettings | None = None,
              n_jobs: int = -1, log_dir: Path | None = None) -> Iterator[tuple[int, Any]]:
    """Open the executor, run ``fn(*args)`` for every tuple and yield ``(index, result)`` as
    each completes; the executor is closed when the loop ends."""
    with Executor(executor or ExecutorSettings(), n_jobs, log_dir) as ex:
        yield from ex.run(fn, arg_tuples)
