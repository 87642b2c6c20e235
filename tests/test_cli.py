"""The command line end to end on the synthetic city: a run folder, map info and map plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from brusim.io import frame_hash


def brusim(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "brusim.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def test_run_writes_a_complete_run_folder(tmp_path):
    out = tmp_path / "run"
    proc = brusim("run", "--config-name", "synthetic", "weeks=0.5", "seed=4",
                  f"run.output_dir={out}", "run.progress=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["seed"] == 4 and manifest["steps"] == 336
    assert manifest["rng_streams"]["steps"]["generator"] == "Philox4x64-10"
    region = pd.read_parquet(out / "metrics_region.parquet")
    areas = pd.read_parquet(out / "metrics_areas.parquet")
    assert len(region) == 336
    assert manifest["hashes"]["metrics_region"] == frame_hash(region)
    events = pq.read_table(out / "events.parquet").to_pandas()
    assert (events["type"] == "transaction").sum() == manifest["event_counts"]["transaction"]
    assert region["transactions"].sum() == manifest["event_counts"]["transaction"]
    assert set(areas["area_kind"]) == {"hotspot", "zone", "region"}
    assert "seed: 4" in (out / "config.yaml").read_text()
    for fig in ("hotspot_activity.png", "dealing_map.png"):
        assert (out / "figures" / fig).stat().st_size > 10_000
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


def test_map_info_lists_zones_and_hotspots():
    proc = brusim("map", "info", "--config-name", "synthetic")
    assert proc.returncode == 0, proc.stderr
    for word in ("400 nodes", "West zone", "East zone", "central", "north"):
        assert word in proc.stdout


def test_map_plot_writes_a_png(tmp_path):
    png = tmp_path / "map.png"
    proc = brusim("map", "plot", "--config-name", "synthetic", "-o", str(png))
    assert proc.returncode == 0, proc.stderr
    assert png.stat().st_size > 10_000


def test_map_error_is_one_line(tmp_path):
    proc = brusim("map", "info", "map.source=graphml", f"map.path={tmp_path / 'missing.graphml'}")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("brusim: error: map file not found")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("dashboard", "--port", "99999", "--no-open"), "--port 99999: a port is a number"),
    (("map", "plot", "-o", "{tmp}/missing/map.png", "map=synthetic"),
     "the folder {tmp}/missing does not exist"),
])
def test_bad_command_line_values_are_one_line(tmp_path, args, message):
    proc = brusim(*(a.format(tmp=tmp_path) for a in args))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message.format(tmp=tmp_path) in lines[0], proc.stderr
    assert not (tmp_path / "missing").exists()


def test_version():
    proc = brusim("--version")
    assert proc.returncode == 0
    from brusim import __version__

    assert proc.stdout.strip() == f"brusim {__version__}"


def test_help_texts_keep_square_brackets_and_one_config_option_spelling():
    proc = brusim("compare", "--help")
    assert "scenarios=[baseline,midi_plan]" in proc.stdout
    for command in (["run"], ["compare"], ["validate"], ["calibrate"], ["dashboard"],
                    ["sensitivity"], ["map", "info"], ["map", "plot"]):
        text = brusim(*command, "--help").stdout
        assert "-c, --config-name" in text and "--config-dir" in text, command


def test_unknown_key_in_run_is_one_line_with_a_suggestion(tmp_path):
    proc = brusim("run", "-c", "synthetic", "police.arest_prob=0.1", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "unknown setting 'police.arest_prob'" in proc.stderr
    assert "did you mean police.arrest_prob" in proc.stderr
    assert not (tmp_path / "results").exists()  # refused before any folder was made
    bad = brusim("run", "-c", "synthetic", "weeks=abc", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "weeks=abc" in bad.stderr


def test_a_scenario_in_the_working_folders_configs_is_found(tmp_path):
    (tmp_path / "configs" / "scenario").mkdir(parents=True)
    (tmp_path / "configs" / "scenario" / "my_plan.yaml").write_text(
        "# @package _global_\ndefaults:\n  - baseline\n  - _self_\nscenario:\n  name: my_plan\n"
        "police:\n  arrest_prob: 0.02\n")
    out = tmp_path / "run"
    proc = brusim("run", "-c", "synthetic", "scenario=my_plan", "weeks=0.1",
                  f"run.output_dir={out}", "run.progress=false", "run.figures=false",
                  cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (out / "config.yaml").read_text()
    assert "name: my_plan" in text and "arrest_prob: 0.02" in text
    other = tmp_path / "elsewhere"
    other.mkdir()
    proc = brusim("run", "-c", "synthetic", "--config-dir", str(tmp_path / "configs"),
                  "scenario=my_plan", "weeks=0.1", f"run.output_dir={other / 'run'}",
                  "run.progress=false", "run.figures=false", cwd=other)
    assert proc.returncode == 0, proc.stderr
    missing = brusim("map", "info", "-c", "synthetic", "--config-dir", str(tmp_path / "nope"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "does not exist" in missing.stderr


def test_output_folders_are_absolute_before_work_is_handed_out(tmp_path):
    """A relative run folder or sweep folder becomes an absolute path against the working
    folder before Hydra or a launcher sees it (a cluster worker may start elsewhere)."""
    proc = brusim("run", "-c", "synthetic", "weeks=0.1", "run.output_dir=out/run",
                  "run.progress=false", "run.figures=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"-> {tmp_path / 'out' / 'run'}" in proc.stdout
    sweep = brusim("run", "-m", "-c", "synthetic", "weeks=0.1", "seed=1,2", "+sweep_name=s",
                   "run.figures=false", cwd=tmp_path)
    assert sweep.returncode == 0, sweep.stderr
    multirun = (tmp_path / "results" / "sweeps" / "s" / "multirun.yaml").read_text()
    assert f"dir: {tmp_path / 'results' / 'sweeps'}/" in multirun  # absolute, then the pattern
    assert len(list((tmp_path / "results" / "sweeps" / "s").glob("*seed=*"))) == 2


def test_manifest_names_the_checkouts_own_commit(tmp_path):
    import shutil

    from brusim.experiments.manifest import git_commit

    repo = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (repo / ".git").exists():
        import pytest

        pytest.skip("not a git checkout")
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    assert git_commit() == head


def test_a_cache_path_that_is_a_file_is_one_line(tmp_path):
    import os

    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file")
    env = {k: v for k, v in os.environ.items() if k != "BRUSIM_MAP"}
    proc = subprocess.run([sys.executable, "-m", "brusim.cli", "map", "info"],
                          capture_output=True, text=True, timeout=300,
                          env={**env, "BRUSIM_CACHE": str(not_a_folder)})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "set BRUSIM_CACHE to a writable folder" in lines[0], proc.stderr
    assert not_a_folder.read_text() == "a file"
