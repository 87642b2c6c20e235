"""One executor for compare, validate, calibrate, sensitivity and `run -m`: each engine run for
real on this machine (a local Ray cluster whose head runs in another working folder, a Dask
LocalCluster, submitit's local executor), with results byte-identical to a local run of the
same seeds."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import brusim
from brusim.errors import ConfigError
from brusim.experiments import executor as ex
from brusim.experiments.compare import load_settings, prepare, run_compare, run_seeds

ARGS = ["config_name=synthetic", "target=central", "replications=2", "weeks=4",
        "scenario.intervention_week=2", "burn_in_weeks=0", "report=false",
        "scenarios=[baseline,baseline+baseline]"]
TINY = ["scenario.intervention_week=2", "burn_in_weeks=0", "population.n_users=150"]


def files(folder: Path) -> dict[str, bytes]:
    """Every Parquet table under ``folder`` (the results and the shards), by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.parquet"))}


def need(module: str) -> None:
    pytest.importorskip(module, reason=f"{module} is not installed (pip install "
                                       "'brusim[cluster]')")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The comparison run locally (in this process)."""
    out = tmp_path_factory.mktemp("local")
    return run_compare(load_settings(None, [*ARGS, "n_jobs=1", f"out_dir={out}"]),
                       progress=False)


def shards_through(executor: list[str], out: Path) -> dict[str, bytes]:
    """The shards and spin-ups of the comparison run through ``executor``."""
    settings = load_settings(None, [*ARGS, *executor, f"out_dir={out}"])
    folder, _, _ = prepare(settings)
    run_seeds(settings, folder, progress=False)
    return files(folder)


def local_shards(reference: Path) -> dict[str, bytes]:
    return {k: v for k, v in files(reference).items() if k.startswith(("shards/", "spinup/"))}


# ------------------------------------------------------------------------- a Ray cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """``ray start --head`` in its own working folder (as on a cluster's head node), with this
    checkout importable; stopped by its process id at the end."""
    need("ray")
    cwd = tmp_path_factory.mktemp("ray_head_cwd")
    port = _free_port()
    src = str(Path(brusim.__file__).resolve().parents[1])
    # a throw-away cluster on the loopback: no token (Ray >= 2.5x asks drivers for one)
    os.environ["RAY_AUTH_MODE"] = "disabled"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [src, *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("ray")) if shutil.which("ray") is None
         else shutil.which("ray"), "start", "--head", "--block", f"--port={port}",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
         f"--ray-client-server-port={_free_port()}"],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if proc.poll() is not None:
            pytest.fail(f"ray start failed: {proc.stderr.read()[-500:]}")
        time.sleep(0.3)
    yield address, cwd
    os.environ.pop("RAY_AUTH_MODE", None)
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_compare_on_a_ray_cluster_whose_head_runs_elsewhere_matches_local(
        reference, ray_head, tmp_path, monkeypatch):
    """executor=ray executor.address=auto joins the running cluster; a relative out_dir is made
    absolute here, so the workers (in the head's folder) write where the driver reads."""
    import ray

    address, head_cwd = ray_head
    monkeypatch.setenv("RAY_ADDRESS", address)
    monkeypatch.chdir(tmp_path)
    out = run_compare(load_settings(None, [*ARGS, "executor=ray", "executor.address=auto",
                                           "out_dir=mine"]), progress=False)
    assert out == (tmp_path / "mine").resolve()
    assert files(out) == files(reference)  # every table and shard, byte for byte
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["executor"] == {"kind": "ray", "address": "auto"}
    # settings.yaml says what was compared, not where (a re-run may go elsewhere)
    assert load_settings(out / "settings.yaml", []).executor == ex.ExecutorSettings()
    assert not list(head_cwd.iterdir())  # nothing written in the workers' working folder
    assert not ray.is_initialized()  # the driver disconnected
    # and the workers did run in the head's folder, not here
    def cwd() -> str:  # defined here: pickled by value, the head cannot import the tests
        return os.getcwd()

    ray.init(address=address, configure_logging=False)
    try:
        where = ray.get(ray.remote(cwd).remote())
    finally:
        ray.shutdown()
    assert Path(where).resolve() == head_cwd.resolve() != Path.cwd().resolve()


def test_calibration_through_ray_uses_a_journal_and_matches_local(ray_head, tmp_path):
    """Trials evaluated by executor tasks, the study in a journal file, resumable: the same
    trials and losses as the same calibration run here."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    from brusim.calibration.calibrate import CalibrateSettings, run_calibrate

    address, _ = ray_head

    def calibrate(root: Path, trials: int, executor: ex.ExecutorSettings) -> dict:
        return run_calibrate(CalibrateSettings(
            name="tiny", trials=trials, seeds=1, weeks=3, overrides=TINY,
            config_name="synthetic", root=root, command="test", executor=executor))[1]

    local = ex.ExecutorSettings()
    on_ray = ex.ExecutorSettings(kind="ray", address=address)
    calibrate(tmp_path / "local", 1, local)
    calibrate(tmp_path / "ray", 1, on_ray)
    here = calibrate(tmp_path / "local", 1, local)  # the same name adds a trial
    there = calibrate(tmp_path / "ray", 1, on_ray)
    journal = tmp_path / "ray" / "tiny" / "study.journal"
    assert there["study"] == str(journal) and not (tmp_path / "ray" / "tiny" / "study.db").exists()
    study = optuna.load_study(study_name="tiny", storage=optuna.storages.JournalStorage(
        JournalFileBackend(str(journal))))
    local = optuna.load_study(study_name="tiny",
                              storage=f"sqlite:///{tmp_path / 'local' / 'tiny' / 'study.db'}")
    assert [t.value for t in study.trials] == [t.value for t in local.trials]
    assert [t.params for t in study.trials] == [t.params for t in local.trials]
    assert here["best_value"] == there["best_value"] and there["trials_complete"] == 2
    assert [h["trials_added"] for h in there["history"]] == [1, 1]
    assert there["history"][0]["executor"] == {"kind": "ray", "address": address}
    # an SQLite study is not continued from other machines
    with pytest.raises(ConfigError, match="cannot share safely"):
        calibrate(tmp_path / "local", 1, on_ray)


# ------------------------------------------------------------------ the other engines


@pytest.mark.parametrize("executor", [
    pytest.param(["executor=dask", "executor.workers=2"], id="dask-localcluster"),
    pytest.param(["executor=slurm", "executor.cluster=local"], id="submitit-local"),
])
def test_shards_through_each_executor_are_byte_identical_to_local(reference, executor,
                                                                   tmp_path):
    need({"dask": "distributed", "slurm": "submitit"}[executor[0].split("=")[1]])
    assert shards_through(executor, tmp_path / "out") == local_shards(reference)
    if executor[0] == "executor=slurm":  # submitit's job files sit beside the results
        assert list((tmp_path / "out" / ".submitit").glob("*_result.pkl"))


def test_validate_through_dask_matches_local(tmp_path):
    need("distributed")
    from brusim.calibration.validate import ValidateSettings, run_validate

    def validate(out: Path, executor: ex.ExecutorSettings) -> pd.DataFrame:
        return run_validate(ValidateSettings(
            seeds=2, weeks=3, jobs=1 if executor.kind == "local" else -1, overrides=TINY,
            config_name="synthetic", out_dir=out, patterns=["concentration"], progress=False,
            executor=executor))[1]

    here = validate(tmp_path / "local", ex.ExecutorSettings())
    there = validate(tmp_path / "dask", ex.ExecutorSettings(kind="dask", workers=2))
    pd.testing.assert_frame_equal(here, there)
    assert ((tmp_path / "local" / "table.parquet").read_bytes()
            == (tmp_path / "dask" / "table.parquet").read_bytes())
    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert manifest["executor"] == {"kind": "dask", "workers": 2}


def test_a_task_error_comes_back_with_its_type():
    need("distributed")
    with pytest.raises(ConfigError, match="no such scenario"):
        for _ in ex.run_tasks(_fails, [(1,), (2,)], ex.ExecutorSettings(kind="dask",
                                                                        workers=1)):
            pass


def _fails(k: int) -> int:
    if k == 2:
        raise ConfigError("no such scenario")
    return k


# ---------------------------------------------------------------------- the one setting


def test_executor_is_one_setting_in_compare_files_and_arguments(tmp_path):
    s = load_settings(None, [*ARGS, "executor=ray", "executor.address=auto"])
    assert (s.executor.kind, s.executor.address) == ("ray", "auto")
    assert not any(o.startswith("executor") for o in s.overrides)  # not a Hydra override
    path = tmp_path / "c.yaml"
    path.write_text("executor: dask\n")
    assert load_settings(path, ["config_name=synthetic"]).executor.kind == "dask"
    v = ex.from_args(["executor=slurm", "executor.partition=batch", "executor.timeout_min=30"])
    assert (v.kind, v.partition, v.timeout_min) == ("slurm", "batch", 30)


@pytest.mark.parametrize(("args", "message"), [
    (["hydra/launcher=slurm"], "would be ignored; choose where the runs go with executor=slurm"),
    (["hydra/launcher=submitit_local"], "executor=slurm executor.cluster=local"),
    (["executor=spark"], "is not one of local, ray, dask, slurm"),
    (["executor=ray", "n_jobs=4"], "n_jobs=4 applies to executor=local only"),
    (["executor.address=auto"], "would be ignored by executor=local"),
    (["executor=dask", "executor.partition=batch"], "a SLURM setting, ignored by executor=dask"),
    (["executor=ray", "executor.address=auto", "executor.workers=2"], "drop one of them"),
    (["executor=slurm", "executor.address=auto"], "executor.address is for executor=ray"),
])
def test_a_setting_that_would_be_ignored_is_refused_in_one_line(args, message):
    with pytest.raises(ConfigError, match=message) as err:
        load_settings(None, [*ARGS, *args])
    assert len(err.value.problems) == 1 and "\n" not in str(err.value)


@pytest.mark.parametrize("command", [["validate", "hydra/launcher=ray"],
                                     ["calibrate", "hydra/launcher=slurm"]])
def test_commands_refuse_the_other_way_of_choosing_where_runs_go(command, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "brusim.cli", *command], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "would be ignored" in lines[0] and "executor=" in lines[0]


@pytest.mark.parametrize(("command", "message"), [
    (["run", "executor=ray"], "applies to sweeps (brusim run -m"),
    (["run", "-m", "executor=ray", "hydra/launcher=slurm", "seed=0,1"], "both choose where"),
    (["sensitivity", "executor=dask", "hydra/launcher=joblib"], "both choose where"),
    (["run", "-m", "executor=spark", "seed=0,1"], "is not one of local, ray, dask, slurm"),
    (["sensitivity", "executor=ray", "executor.partition=batch"], "a SLURM setting"),
])
def test_sweeps_take_executor_and_refuse_what_it_would_ignore(command, message, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "brusim.cli", *command], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


# ------------------------------------------------------------- sweeps: run -m, sensitivity

SWEEP = ["--config-name", "synthetic", "weeks=0.2", "seed=0,1", "population.n_users=150",
         "run.figures=false", "+sweep_name=try", "hydra.sweep.dir=sweep"]


def sweep_through(executor: list[str], cwd: Path, env: dict[str, str] | None = None
                  ) -> dict[str, bytes]:
    """`brusim run -m` of two seeds from ``cwd`` (a relative sweep folder) through
    ``executor`` (none: Hydra's joblib launcher, the default); its Parquet tables."""
    proc = subprocess.run([sys.executable, "-m", "brusim.cli", "run", "-m", *SWEEP, *executor],
                          capture_output=True, text=True, timeout=600, cwd=cwd,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "sweep: 2/2 done" in proc.stdout + proc.stderr
    return files(cwd / "sweep")


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory) -> dict[str, bytes]:
    got = sweep_through([], tmp_path_factory.mktemp("sweep_local"))
    assert len(got) == 2 * 4  # events, areas, region, spin-up weeks of each seed
    return got


@pytest.mark.parametrize("executor", [
    pytest.param(["executor=local", "hydra.launcher.n_jobs=2"], id="local"),
    pytest.param(["executor=dask", "executor.workers=2"], id="dask-localcluster"),
    pytest.param(["executor=slurm", "executor.cluster=local"], id="submitit-local"),
])
def test_a_sweep_through_each_executor_matches_hydras_own_launcher(local_sweep, executor,
                                                                  tmp_path):
    if executor[0] != "executor=local":
        need({"dask": "distributed", "slurm": "submitit"}[executor[0].split("=")[1]])
    assert sweep_through(executor, tmp_path) == local_sweep


def test_a_sweep_on_a_ray_cluster_whose_head_runs_elsewhere_matches_local(local_sweep, ray_head,
                                                                         tmp_path):
    """`brusim run -m executor=ray executor.address=auto`: the jobs run on the cluster (in the
    head's working folder) and write under the driver's sweep folder, made absolute."""
    address, head_cwd = ray_head
    got = sweep_through(["executor=ray", "executor.address=auto"], tmp_path,
                        {"RAY_ADDRESS": address, "RAY_AUTH_MODE": "disabled"})
    assert got == local_sweep
    assert not list(head_cwd.iterdir())
