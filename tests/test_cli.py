"""The command line end to end on the synthetic city: a run folder, map info and map plot."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pyarrow.parquet as pq

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
    assert set(manifest["rng_streams"]) >= {"dealers", "users", "police"}
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
