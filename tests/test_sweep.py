"""Sweeps through Hydra multirun on the synthetic city: one shard per parameter point, the same
collected table from the joblib and submitit launchers, resuming a killed sweep, collecting past
damaged shards, and the shipped launcher configs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from brusim.config.schema import register_configs
from brusim.experiments.collect import CollectSpec, collect_runs
from brusim.experiments.shards import is_complete, run_folders, shard_problem
from brusim.experiments.sweep import progress_line
from brusim.io import write_parquet
from brusim.paths import config_dir
from tests.conftest import synthetic_config

POINT = ["weeks=2", "burn_in_weeks=0", "scenario.intervention_week=1", "run.figures=false",
         "population.n_users=150"]
SWEEP = ["--config-name", "synthetic", *POINT, "behaviour.dealers.awareness_m=400,800",
         "seed=range(2)"]
SPEC = CollectSpec(target="central", hotspots=["central", "west"], target_m=200,
                   buffer_inner_m=200, buffer_outer_m=500)
SPEC_ARGS = ["--target", "central", "--hotspots", "central,west", "--target-m", "200",
             "--buffer-inner-m", "200", "--buffer-outer-m", "500"]


def brusim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "brusim.cli", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


def sweep(name: str, cwd: Path, *extra: str) -> tuple[Path, str]:
    proc = brusim("run", "-m", *SWEEP, f"+sweep_name={name}", *extra, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd / "results" / "sweeps" / name, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[Path, pd.DataFrame, str]:
    """A clean 4-run sweep through the default (joblib) launcher, and its table."""
    cwd = tmp_path_factory.mktemp("clean")
    folder, log = sweep("clean", cwd)
    table, skipped = collect_runs(folder, SPEC)
    assert skipped == []
    return folder, table, log


def test_sweep_writes_one_complete_shard_per_point(clean):
    folder, table, log = clean
    runs = list(run_folders(folder))
    assert len(runs) == 4
    for run in runs:
        # folder named by the run's overrides, sorted: the same point always lands here
        assert run.name.startswith("behaviour.dealers.awareness_m=")
        assert "sweep_name" not in run.name
        assert shard_problem(run, events_hash=True) is None
        for name in ("config.yaml", "manifest.json", "metrics_region.parquet",
                     "metrics_areas.parquet", "events.parquet"):
            assert (run / name).is_file()
    assert "sweep: 0/4 done, 4 remaining" in log
    assert "sweep: 4/4 done, 0 remaining" in log
    assert sorted(table["behaviour.dealers.awareness_m"]) == [400, 400, 800, 800]
    assert sorted(table["seed"]) == [0, 0, 1, 1]
    assert (table["scenario"] == "baseline").all() and (table["steps"] == 1344).all()
    assert "run.figures" not in table.columns  # display settings are not parameters
    totals = table["region.transactions"].to_numpy()
    assert np.isfinite(totals).all() and (totals > 0).all()
    # four different runs: region-wide sales are fixed by demand (every search is served in
    # this small city), so two points may share a region total (seed 0: 2,788 at 400 m and at
    # 800 m) but not where the sales were
    where = table["central.transactions.after"].to_numpy()
    assert len(set(zip(totals, where, strict=True))) == 4
    change = table["central.transactions.after"] - table["central.transactions.before"]
    np.testing.assert_allclose(table["central.transactions.change"], change)
    assert np.isfinite(table[["displacement.wdd", "displacement.wdd_se"]].to_numpy()).all()
    assert "wdq.west" in table.columns


def test_progress_is_counted_from_the_shards_on_disk(clean, tmp_path):
    folder, _, _ = clean
    assert progress_line(folder) == "sweep: 4/4 done, 0 remaining"
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (next(run_folders(copy)) / "manifest.json").unlink()
    assert progress_line(copy) == "sweep: 3/4 done, 1 remaining"


def test_skip_check_compares_config_and_outputs(clean, tmp_path):
    folder, _, _ = clean
    run = tmp_path / "run"
    shutil.copytree(next(run_folders(folder)), run)
    overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
    cfg = synthetic_config(*overrides)
    assert shard_problem(run, cfg, events_hash=True) is None
    other = synthetic_config(*overrides, "behaviour.dealers.risk_weight=3.0")
    assert shard_problem(run, other) == "config.yaml differs from this run's configuration"
    events = pd.read_parquet(run / "events.parquet")
    write_parquet(run / "events.parquet", events.iloc[1:])
    assert "events.parquet" in shard_problem(run, cfg, events_hash=True)
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    assert "interrupted" in shard_problem(run, cfg)


def test_submitit_local_launcher_gives_the_same_table(clean, tmp_path):
    _, table, _ = clean
    folder, log = sweep("submitit", tmp_path, "hydra/launcher=submitit_local")
    assert (folder / ".submitit").is_dir()  # the jobs really went through submitit
    other, skipped = collect_runs(folder, SPEC)
    assert skipped == []
    pd.testing.assert_frame_equal(other, table)


def test_killed_sweep_resumes_to_the_clean_table(clean, tmp_path):
    _, table, _ = clean
    args = [sys.executable, "-m", "brusim.cli", "run", "-m", *SWEEP, "+sweep_name=killed",
            "hydra.launcher.n_jobs=1"]
    folder = tmp_path / "results" / "sweeps" / "killed"
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and proc.poll() is None:
            if folder.is_dir() and any(is_complete(r) for r in run_folders(folder)):
                break
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its joblib worker
        proc.wait(timeout=60)
    done = [r for r in run_folders(folder) if is_complete(r)]
    assert 1 <= len(done) < 4, "the sweep should have been killed part-way"
    partial, skipped = collect_runs(folder, SPEC)
    assert len(partial) == len(done)

    proc = brusim("run", "-m", *SWEEP, "+sweep_name=killed", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert f"sweep: {len(done)}/4 done, {4 - len(done)} remaining" in log
    assert log.count("already complete") == len(done)
    assert log.count("run complete:") == 4 - len(done)
    assert "sweep: 4/4 done, 0 remaining" in log
    resumed, skipped = collect_runs(folder, SPEC)
    assert skipped == []
    pd.testing.assert_frame_equal(resumed, table)


def test_collect_skips_damaged_shards_with_a_warning(clean, tmp_path):
    folder, table, _ = clean
    copy = tmp_path / "sweep"
    shutil.copytree(folder, copy)
    runs = list(run_folders(copy))
    areas = runs[0] / "metrics_areas.parquet"
    areas.write_bytes(areas.read_bytes()[: areas.stat().st_size // 2])  # truncated
    (runs[1] / "manifest.json").write_text('{"status": "compl')         # cut-off JSON
    (runs[2] / "config.yaml").write_text("map: {source: [unclosed\n")   # unparsable config
    proc = brusim("collect", str(copy), *SPEC_ARGS, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "skipping" in line]
    assert len(warnings) == 3
    assert runs[0].name in warnings[0] and "metrics_areas.parquet unreadable" in warnings[0]
    assert runs[1].name in warnings[1] and "manifest" in warnings[1]
    assert runs[2].name in warnings[2] and "unusable" in warnings[2]
    assert "collected 1 runs (3 skipped)" in proc.stdout
    kept = pd.read_parquet(copy / "collected.parquet")
    expected = table[table["run"] == runs[3].name].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, expected)
    with duckdb.connect(str(copy / "collected.duckdb"), read_only=True) as con:
        n, total = con.execute('SELECT count(*), sum("region.transactions") '
                               "FROM collected").fetchone()
    assert n == 1 and total == pytest.approx(expected["region.transactions"].sum())


def test_collect_names_missing_hotspots(clean, tmp_path):
    folder, _, _ = clean
    proc = brusim("collect", str(folder), "--out", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("brusim: error: collect: hotspot(s) gare_du_midi, porte_de_hal")
    assert "central" in proc.stderr


# ------------------------------------------------------------------------------ launcher configs


def hydra_cfg(*overrides: str):
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="synthetic", overrides=list(overrides),
                       return_hydra_config=True)


def raw(node) -> dict:
    return OmegaConf.to_container(node, resolve=False)


def test_default_launcher_and_stable_sweep_folders():
    cfg = hydra_cfg("+sweep_name=focus")
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    assert cfg.hydra.sweep.dir == "results/sweeps/focus"
    assert raw(cfg.hydra.sweep)["subdir"] == "${hydra.job.override_dirname}"
    assert "sweep_name" in cfg.hydra.job.config.override_dirname.exclude_keys
    assert hydra_cfg().hydra.sweep.dir.startswith("results/sweeps/20")  # unnamed: dated


def test_slurm_launcher_config_composes():
    launcher = hydra_cfg("hydra/launcher=slurm").hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.partition == "batch" and launcher.cpus_per_task == 1
    assert launcher.timeout_min == 60 and launcher.mem_gb == 4
    assert raw(launcher)["submitit_folder"] == "${hydra.sweep.dir}/.submitit/%j"


def test_ray_launcher_config_composes():
    launcher = hydra_cfg("hydra/launcher=ray_cluster").hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
    assert launcher.ray.init.address == "auto"
    assert launcher.ray.init.object_store_memory is None
    assert launcher.ray.remote.num_cpus == 1
    doc = (Path(__file__).resolve().parents[1] / "docs" / "scaling.md").read_text()
    assert "hydra/launcher=ray_cluster" in doc and "pip install -e '.[ray]'" in doc


def test_ray_launcher_runs_a_sweep(clean, tmp_path):
    """Only where the optional `ray` extra is installed (it is not in the default install)."""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    _, table, _ = clean
    folder, _ = sweep("ray", tmp_path, "hydra/launcher=ray")
    other, skipped = collect_runs(folder, SPEC)
    assert skipped == []
    pd.testing.assert_frame_equal(other, table)
