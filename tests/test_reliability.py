"""Crash safety and exact reproducibility: checkpoints survive SIGKILL, `--resume` and
`reproduce` give identical outputs, comparisons are identical across n_jobs, damaged shards are
re-run, Ctrl-C keeps finished work, and the model's invariants hold for random valid configs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brusim.errors import BrusimError, MapError
from brusim.experiments.checkpoint import CHECKPOINT
from brusim.experiments.compare import load_settings, run_compare, shard_dir
from brusim.experiments.reproduce import reproduce
from brusim.experiments.single import resume_run, run_single
from brusim.model import BrusselsMarketModel
from brusim.model.codes import DealerStatus
from tests.conftest import synthetic_config

BRUSIM = [sys.executable, "-m", "brusim.cli"]
RUN_ARGS = ["weeks=3", "run.checkpoint_every_days=1", "run.figures=false", "run.progress=false"]
OUTPUTS = ("metrics_region.parquet", "metrics_areas.parquet", "events.parquet")


def wait_for(predicate, timeout: float, proc: subprocess.Popen | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("timed out")


def same_outputs(a: Path, b: Path) -> None:
    for name in OUTPUTS:
        pd.testing.assert_frame_equal(pd.read_parquet(a / name), pd.read_parquet(b / name))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "run"
    run_single(synthetic_config(*RUN_ARGS), out)
    return out


def test_sigkill_then_resume_gives_identical_outputs(uninterrupted, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen([*BRUSIM, "run", "--config-name", "synthetic", *RUN_ARGS,
                             f"run.output_dir={out}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        # wait for the second checkpoint so the kill lands mid-run, after a part of the events
        wait_for(lambda: (out / "events.parquet.parts" / "part-00001.parquet").exists(), 240,
                 proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "running"  # killed: never marked complete
    assert (out / CHECKPOINT).exists() and not (out / "metrics_region.parquet").exists()
    done = subprocess.run([*BRUSIM, "run", "--resume", str(out)], capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr
    same_outputs(uninterrupted, out)
    resumed = json.loads((out / "manifest.json").read_text())
    clean = json.loads((uninterrupted / "manifest.json").read_text())
    assert resumed["status"] == "complete" and resumed["resumed_from_step"] > 0
    for name in ("metrics_region.parquet", "metrics_areas.parquet"):  # byte-identical files
        assert (out / name).read_bytes() == (uninterrupted / name).read_bytes()
    assert resumed["hashes"] == clean["hashes"]
    assert resumed["event_counts"] == clean["event_counts"]
    assert not (out / CHECKPOINT).exists() and not (out / "events.parquet.parts").exists()


def test_resume_in_process_from_a_mid_run_checkpoint(uninterrupted, tmp_path):
    """A checkpoint taken mid-run, with steps run after it and then lost, resumes exactly."""
    from brusim.experiments.checkpoint import save_checkpoint
    from brusim.experiments.manifest import base_manifest
    from brusim.io import write_json, write_text

    cfg = synthetic_config(*RUN_ARGS)
    out = tmp_path / "run"
    out.mkdir()
    write_text(out / "config.yaml", (uninterrupted / "config.yaml").read_text())
    write_json(out / "manifest.json", base_manifest(0, {}))
    model = BrusselsMarketModel(cfg, events_path=out / "events.parquet")
    model.advance(500)
    save_checkpoint(model, out)
    model.advance(77)  # work done after the checkpoint, then the process "dies"
    model.events.flush()
    resume_run(out)
    same_outputs(uninterrupted, out)


def test_resume_errors_are_one_line(uninterrupted, tmp_path):
    with pytest.raises(BrusimError, match="already complete"):
        resume_run(uninterrupted)
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.yaml", "manifest.json"):
        (broken / name).write_text((uninterrupted / name).read_text())
    manifest = json.loads((broken / "manifest.json").read_text())
    (broken / "manifest.json").write_text(json.dumps({**manifest, "status": "interrupted"}))
    with pytest.raises(BrusimError, match="no checkpoint"):
        resume_run(broken)
    (broken / CHECKPOINT).write_bytes(b"\x80\x05not a pickle at all")
    with pytest.raises(BrusimError, match="unreadable"):
        resume_run(broken)
    proc = subprocess.run([*BRUSIM, "run", "--resume", str(broken)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("brusim: error:") and "unreadable" in proc.stderr


def test_reproduce_confirms_identical_and_names_what_differs(uninterrupted, tmp_path):
    outcome = reproduce(uninterrupted)
    assert outcome.identical
    assert {o.name for o in outcome.outputs} == {"metrics_region", "metrics_areas", "events"}
    # the same folder with a config edited after the fact: the changed setting is named and
    # nothing is run (tests/test_faults.py has the in-process and --resume cases)
    edited = tmp_path / "edited"
    edited.mkdir()
    for name in ("manifest.json", "config.yaml"):
        (edited / name).write_text((uninterrupted / name).read_text())
    text = (edited / "config.yaml").read_text()
    assert "arrest_prob: 0.01" in text
    (edited / "config.yaml").write_text(text.replace("arrest_prob: 0.01", "arrest_prob: 0.2"))
    proc = subprocess.run([*BRUSIM, "reproduce", str(edited)], capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "police.arrest_prob: 0.01 -> 0.2" in proc.stderr


def test_map_differences_and_unfinished_runs_are_refused(uninterrupted, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.yaml").write_text((uninterrupted / "config.yaml").read_text())
    manifest = json.loads((uninterrupted / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps(
        {**manifest, "map": {"name": "x", "source_sha256": "0" * 64}}))
    with pytest.raises(BrusimError, match="map differs"):
        reproduce(other)
    (other / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    with pytest.raises(BrusimError, match="did not finish"):
        reproduce(other)


# ------------------------------------------------------------------------------ comparisons

COMPARE = ["config_name=synthetic", "target=central", "replications=2", "weeks=5",
           "scenario.intervention_week=3", "burn_in_weeks=1",
           "scenarios=[baseline,baseline+baseline]", "report=false"]


def compare_tables(out: Path) -> dict[str, pd.DataFrame]:
    return {p.name: pd.read_parquet(p) for p in sorted(out.glob("*.parquet"))}


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("seq")
    return run_compare(load_settings(None, [*COMPARE, "n_jobs=1", f"out_dir={out}"]),
                       progress=False)


def test_comparison_tables_identical_across_n_jobs(sequential, tmp_path):
    parallel = run_compare(load_settings(None, [*COMPARE, "n_jobs=2", f"out_dir={tmp_path}"]),
                           progress=False)
    a, b = compare_tables(sequential), compare_tables(parallel)
    assert a.keys() == b.keys() and len(a) >= 10
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


def test_damaged_shard_is_rerun_and_results_unchanged(sequential, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(sequential, out)
    victim = shard_dir(out, "baseline", 1) / "results.parquet"
    victim.write_bytes(victim.read_bytes()[:100])  # truncated by a disk problem
    keep = shard_dir(out, "baseline", 0) / "manifest.json"
    before = keep.stat().st_mtime_ns
    run_compare(load_settings(None, [*COMPARE, "n_jobs=1", f"out_dir={out}"]), progress=False)
    assert keep.stat().st_mtime_ns == before  # sound shards are kept
    assert (out / "shards" / "baseline__seed0001.damaged").is_dir()
    a, b = compare_tables(sequential), compare_tables(out)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


def test_recombining_on_a_full_disk_keeps_every_result_and_the_rerun_completes(
        sequential, tmp_path, monkeypatch):
    """The disk fills up while a finished comparison is combined again: one line naming the
    file and the command that resumes, the old results.duckdb kept byte for byte."""
    import errno
    import shutil

    from brusim import io

    out = tmp_path / "copy"
    shutil.copytree(sequential, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    real_fsync = io.fsync

    def full_at_the_database(path):
        if "results.duckdb" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(path)

    monkeypatch.setattr(io, "fsync", full_at_the_database)
    args = [*COMPARE, "n_jobs=1", f"out_dir={out}"]
    with pytest.raises(BrusimError) as err:
        run_compare(load_settings(None, args), progress=False)
    assert "results.duckdb: no space left on the device" in str(err.value)
    assert f"out_dir={out}" in str(err.value) and "\n" not in str(err.value)
    assert (out / "results.duckdb").read_bytes() == before["results.duckdb"]
    assert not list(out.glob(".*.tmp"))
    monkeypatch.undo()
    run_compare(load_settings(None, args), progress=False)
    a, b = compare_tables(sequential), compare_tables(out)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


def interrupt_compare(args: list[str], out: Path) -> tuple[int, str]:
    """Start `brusim compare`, Ctrl-C it once its first run is finished; (exit code, stderr).

    The child gets the default SIGINT action whatever the test runner inherited: a runner
    started in the background by a non-interactive shell (`cmd &`) ignores SIGINT, and Python
    then never turns SIGINT into KeyboardInterrupt in its children.
    """
    proc = subprocess.Popen([*BRUSIM, "compare", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for((shard_dir(out, "baseline", 0) / "manifest.json").exists, 240, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def test_ctrl_c_keeps_finished_runs_and_the_rerun_completes(sequential, tmp_path):
    args = [*COMPARE, "n_jobs=1", "replications=3", f"out_dir={tmp_path}"]
    code, err = interrupt_compare(args, tmp_path)
    first = shard_dir(tmp_path, "baseline", 0) / "manifest.json"
    assert code == 130, err
    assert "interrupted:" in err and f"out_dir={tmp_path}" in err and "Traceback" not in err
    assert first.exists()
    kept = first.stat().st_mtime_ns
    run_compare(load_settings(None, args), progress=False)
    assert first.stat().st_mtime_ns == kept
    results = pd.read_parquet(tmp_path / "results.parquet")
    assert set(results["seed"]) == {0, 1, 2}
    two_seeds = pd.read_parquet(sequential / "results.parquet")
    pd.testing.assert_frame_equal(
        results[results["seed"] < 2].reset_index(drop=True), two_seeds, check_like=True)


def test_ctrl_c_while_hydra_composes_is_an_interrupt_not_a_config_error(monkeypatch):
    """A Ctrl-C that lands inside Hydra's composition comes back wrapped in a Hydra/OmegaConf
    error (seen in `brusim compare`: "error: ConfigCompositionException", exit 2); it must
    stay an interrupt so that compare stops cleanly with exit 130 and its resume hint."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from omegaconf.errors import ValidationError

    from brusim.config.load import compose_config

    def interrupted(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        finally:
            raise ValidationError("flag restored on a half-built node")  # noqa: B012

    monkeypatch.setattr(ConfigLoaderImpl, "_load_configuration_impl", interrupted)
    with pytest.raises(KeyboardInterrupt):
        compose_config(["seed=1"])


def test_empty_hotspot_file_or_list_is_refused(tmp_path):
    from brusim.map import MapSettings, load_street_map
    from brusim.map.loader import SyntheticSettings
    from brusim.map.places import read_places

    for text, message in (("", "is empty"), ("hotspots: []\nstations: []\n", "no hotspots")):
        places = tmp_path / "places.yaml"
        places.write_text(text)
        with pytest.raises(MapError, match=message):
            read_places(places)
    with pytest.raises(MapError, match="hotspot"):
        load_street_map(MapSettings(source="synthetic", use_cache=False,
                                    synthetic=SyntheticSettings(hotspots=[])))


# ------------------------------------------------------------------------------ invariants


@st.composite
def valid_overrides(draw) -> list[str]:
    """A random valid configuration of the synthetic city (small, two simulated days)."""
    strategy = draw(st.sampled_from(["patrol", "concentrate", "hotspots", "koper"]))
    out = [f"seed={draw(st.integers(0, 10_000))}", "weeks=0.3",
           f"population.n_users={draw(st.integers(0, 400))}",
           f"population.n_crews={draw(st.integers(1, 30))}",
           f"police.arrest_prob={draw(st.floats(0, 0.5))}",
           # a focus needs street units (validate refuses a focus of nobody)
           f"police.street_share={draw(st.floats(0 if strategy == 'patrol' else 0.01, 0.3))}",
           f"police.reinforcement_units={draw(st.integers(0, 6))}",
           f"behaviour.dealers.awareness_m={draw(st.floats(150, 1500))}",
           "scenario.intervention_week=0",
           f"police.strategy={strategy}"]
    if strategy != "patrol":
        out += ["police.focus_hotspots=[central]",
                f"police.focus_share={draw(st.floats(0.1, 1.0))}"]
    return out


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides=valid_overrides())
def test_property_invariants_hold_for_random_valid_configs(overrides):
    model = BrusselsMarketModel(synthetic_config(*overrides))
    smap = model.smap
    radius = float(model.cfg.behaviour.users.purchase_radius_m)
    sizes = (len(model.police), len(model.outreach))
    cover, dealer_node, dealer_status, targets = [], [], [], []
    for _ in range(model.n_steps):
        # a buyer buys where it arrives: the target it was heading for when the step began
        targets.append(model.users.target.copy())
        model.step()
        cover.append(model.police_cover_arrest.copy())  # police reach during this step
        dealer_node.append(model.dealers.node.copy())
        dealer_status.append(model.dealers.status.copy())
        assert (len(model.police), len(model.outreach)) == sizes  # conservation
        assert model.users.n == int(model.cfg.population.n_users)
        for state in (model.dealers, model.users, model.police):
            if len(state.node):
                assert state.node.min() >= 0 and state.node.max() < smap.n_nodes
    model.finish()
    region = model.region_metrics().drop(columns="step").to_numpy()
    assert np.isfinite(region).all() and (region >= 0).all()
    events = model.events.to_table().to_pandas()
    arrests = events[events["type"] == "arrest"]
    for step, node in zip(arrests["step"], arrests["node"], strict=True):
        assert cover[step][node] > 0
    sales = events[events["type"] == "transaction"]
    for step, node, buyer, dealer in zip(sales["step"], sales["node"], sales["agent"],
                                         sales["other"], strict=True):
        assert dealer_node[step][dealer] == node
        assert dealer_status[step][dealer] == DealerStatus.ACTIVE
        where = targets[step][buyer]
        assert np.hypot(smap.x[where] - smap.x[node], smap.y[where] - smap.y[node]) <= \
            radius + 1e-6


def test_streamed_events_hash_equals_the_table_hash(uninterrupted):
    from brusim.io import frame_hash, parquet_hash

    events = uninterrupted / "events.parquet"
    whole = frame_hash(pd.read_parquet(events))
    assert parquet_hash(events, batch_rows=997) == whole == parquet_hash(events)
    manifest = json.loads((uninterrupted / "manifest.json").read_text())
    assert manifest["hashes"]["events"] == whole


def test_checkpoint_leaves_out_the_map_and_rebuilds_its_tables(tmp_path):
    import pickle

    from brusim.experiments.checkpoint import load_checkpoint, save_checkpoint

    model = BrusselsMarketModel(synthetic_config("weeks=1"), events_path=tmp_path / "e.parquet")
    model.advance(100)
    save_checkpoint(model, tmp_path)
    signed = (tmp_path / CHECKPOINT).read_bytes()  # a SHA-256 line, then the pickled state
    raw = pickle.loads(signed.partition(b"\n")[2])["model"]
    assert raw.smap is None and raw.strategy.smap is None
    assert raw.world.smap is None and raw.world.balls is None and raw.deployment.world is None
    assert raw.site_search is None and raw.user_world is None  # views of the balls
    assert raw.deployment.presence.sight_indices.size == 0
    loaded = load_checkpoint(tmp_path, model.smap)
    assert loaded.smap is model.smap and loaded.strategy.smap is model.smap
    assert np.array_equal(loaded.world.balls.aware.padded, model.world.balls.aware.padded)
    assert loaded.world.balls.purchase.radius_m == model.world.balls.purchase.radius_m


def test_a_run_never_writes_over_a_run_of_other_settings(tmp_path):
    from brusim.errors import BrusimError
    from brusim.experiments.single import run_single

    out = tmp_path / "run"
    run_single(synthetic_config("weeks=0.1"), out, figures=False)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(BrusimError, match="already holds a run with other settings"):
        run_single(synthetic_config("weeks=0.2"), out, figures=False)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    # the same settings may run again (a repair): the same numbers
    again = run_single(synthetic_config("weeks=0.1"), out, figures=False)
    assert again.manifest["hashes"] == json.loads(before["manifest.json"])["hashes"]
