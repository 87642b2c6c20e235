"""Ordinary faults as a user meets them (issue 18): a full disk or a read-only folder, damaged
checkpoints and event-log parts, a copied run folder, an edited config, an unreadable map file
and a read-only map cache. A full disk is an injected write error (ENOSPC) in the real code
path: the tests run as root, for whom permissions do not stop a write, and a tmpfs needs a
mount these machines do not allow."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from brusim import io
from brusim.errors import BrusimError, MapError
from brusim.experiments.checkpoint import CHECKPOINT, save_checkpoint
from brusim.experiments.compare import write_duckdb
from brusim.experiments.manifest import base_manifest
from brusim.experiments.reproduce import reproduce
from brusim.experiments.single import resume_run, run_single
from brusim.io import OutputError, write_json, write_text
from brusim.map import MapSettings, load_street_map
from brusim.model import BrusselsMarketModel
from tests.conftest import synthetic_config
from tests.test_osm_source import places_file, street_grid, write_osm_xml  # noqa: F401

RUN_ARGS = ["weeks=3", "run.checkpoint_every_days=1", "run.figures=false", "run.progress=false"]
OUTPUTS = ("metrics_region.parquet", "metrics_areas.parquet", "events.parquet")


def full_disk(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "run"
    run_single(synthetic_config(*RUN_ARGS), out)
    return out


def same_outputs(a: Path, b: Path) -> None:
    for name in OUTPUTS:
        pd.testing.assert_frame_equal(pd.read_parquet(a / name), pd.read_parquet(b / name))
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (a, b))
    assert ma["hashes"] == mb["hashes"] and ma["event_counts"] == mb["event_counts"]


def mid_run(uninterrupted: Path, out: Path, steps: int = 500) -> BrusselsMarketModel:
    """A run folder as a killed run leaves it: config, running manifest, a checkpoint after
    ``steps`` steps and one finished event-log part."""
    out.mkdir(parents=True)
    write_text(out / "config.yaml", (uninterrupted / "config.yaml").read_text())
    manifest = json.loads((uninterrupted / "manifest.json").read_text())
    write_json(out / "manifest.json", {**base_manifest(0, {}), "settings": manifest["settings"],
                                       "config_hash": manifest["config_hash"]})
    model = BrusselsMarketModel(synthetic_config(*RUN_ARGS), events_path=out / "events.parquet")
    model.advance(steps)
    save_checkpoint(model, out)
    return model


# ------------------------------------------------------------------ a full disk mid-run
def test_a_full_disk_mid_run_is_one_line_and_the_resume_completes_identically(
        uninterrupted, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_write = pq.ParquetWriter.write_table
    calls = {"n": 0}

    def fills_up(self, table, *args, **kwargs):
        calls["n"] += "agent" in table.column_names  # event-log chunks only
        if calls["n"] > 1:  # the first event-log chunk fits, the second does not
            full_disk()
        return real_write(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", fills_up)
    with pytest.raises(OutputError) as err:
        run_single(synthetic_config(*RUN_ARGS), out)
    message = str(err.value)
    assert "\n" not in message and "no space left on the device" in message
    assert f"brusim run --resume {out}" in message
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "running" and "config_hash" in manifest  # nothing lost
    assert (out / CHECKPOINT).exists() and not (out / "metrics_region.parquet").exists()
    monkeypatch.undo()  # space freed
    resume_run(out)
    same_outputs(uninterrupted, out)
    assert not (out / CHECKPOINT).exists() and not (out / "events.parquet.parts").exists()


def test_a_full_disk_while_writing_the_results_keeps_the_checkpoint(uninterrupted, tmp_path,
                                                                    monkeypatch):
    out = tmp_path / "run"
    real_fsync = io.fsync

    def full_at_the_results(path):  # the disk fills up as the first result table is flushed
        if "metrics_region" in str(path):
            full_disk()
        real_fsync(path)

    monkeypatch.setattr(io, "fsync", full_at_the_results)
    with pytest.raises(OutputError, match="metrics_region.parquet: no space left.*"
                                          "brusim run --resume"):
        run_single(synthetic_config(*RUN_ARGS), out)
    assert not list(out.glob(".*.tmp")), "a temporary file was left behind"
    assert not (out / "metrics_region.parquet").exists()
    monkeypatch.undo()
    resume_run(out)
    same_outputs(uninterrupted, out)


def test_a_failed_write_never_replaces_the_old_file(tmp_path, monkeypatch):
    good = tmp_path / "table.parquet"
    io.write_parquet(good, pd.DataFrame({"a": [1, 2, 3]}))
    before = good.read_bytes()
    monkeypatch.setattr(io, "fsync", full_disk)
    with pytest.raises(OutputError, match="no space left"):
        io.write_parquet(good, pd.DataFrame({"a": []}))
    monkeypatch.setattr(io.tempfile, "mkstemp", lambda **_: (_ for _ in ()).throw(
        OSError(errno.EROFS, "Read-only file system")))
    with pytest.raises(OutputError, match="read-only.*make the folder writable"):
        io.write_text(good, "x")
    assert good.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.parquet"]


def test_recombining_on_a_full_disk_keeps_the_old_results_database(tmp_path, monkeypatch):
    import duckdb

    path = tmp_path / "results.duckdb"
    write_duckdb(path, {"sales": pd.DataFrame({"node": [1, 2], "count": [5.0, 7.0]})})
    before = path.read_bytes()
    monkeypatch.setattr(io, "fsync", full_disk)
    with pytest.raises(OutputError, match="results.duckdb: no space left"):
        write_duckdb(path, {"sales": pd.DataFrame({"node": [], "count": []})})
    assert path.read_bytes() == before
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT sum(count) FROM sales").fetchone()[0] == 12.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.duckdb"]


# ------------------------------------------------------------------ checkpoints and parts
def test_a_checkpoint_with_flipped_bytes_is_refused(uninterrupted, tmp_path):
    out = tmp_path / "run"
    mid_run(uninterrupted, out)
    data = bytearray((out / CHECKPOINT).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (out / CHECKPOINT).write_bytes(bytes(data))
    with pytest.raises(BrusimError, match="damaged .*SHA-256"):
        resume_run(out)


def test_a_damaged_event_log_part_is_refused(uninterrupted, tmp_path):
    out = tmp_path / "run"
    model = mid_run(uninterrupted, out)
    part = model.events.finished_parts()[0]
    with open(part, "r+b") as fh:
        fh.seek(part.stat().st_size // 2)
        fh.write(b"\x00" * 16)
    with pytest.raises(BrusimError, match="part .* missing or damaged"):
        resume_run(out)


def test_a_copied_run_folder_resumes_into_itself(uninterrupted, tmp_path):
    original = tmp_path / "original"
    mid_run(uninterrupted, original)
    before = {p.relative_to(original): p.read_bytes() for p in original.rglob("*")
              if p.is_file()}
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    resume_run(copy)
    same_outputs(uninterrupted, copy)
    after = {p.relative_to(original): p.read_bytes() for p in original.rglob("*") if p.is_file()}
    assert after == before, "resuming the copy wrote into the original folder"


# ------------------------------------------------------------------ an edited config
def test_an_edited_config_is_named_by_reproduce_and_resume(uninterrupted, tmp_path):
    edited = tmp_path / "edited"
    shutil.copytree(uninterrupted, edited)
    text = (edited / "config.yaml").read_text()
    (edited / "config.yaml").write_text(text.replace("arrest_prob: ", "arrest_prob: 0.5 #", 1))
    with pytest.raises(BrusimError, match=r"edited after the run started \(police.arrest_prob: "
                                          r"[0-9.]+ -> 0.5\)"):
        reproduce(edited)

    running = tmp_path / "running"
    mid_run(uninterrupted, running)
    text = (running / "config.yaml").read_text()
    (running / "config.yaml").write_text(text.replace("arrest_prob: ", "arrest_prob: 0.5 #", 1))
    with pytest.raises(BrusimError, match="police.arrest_prob: .* -> 0.5.*to resume it"):
        resume_run(running)


# ------------------------------------------------------------------ maps and caches
def test_an_unreadable_map_file_is_one_line(tmp_path, monkeypatch):
    from brusim.map import loader

    graph = tmp_path / "streets.graphml"
    graph.write_text("<graphml/>")

    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(loader, "file_sha256", denied)  # root reads any file: inject it
    with pytest.raises(MapError, match=r"cannot read the map file .*streets.graphml "
                                       r"\(Permission denied\).*readable copy"):
        load_street_map(MapSettings(source="graphml", path=str(graph),
                                    cache_dir=str(tmp_path / "maps")))


def test_a_read_only_map_cache_runs_uncached_with_one_warning(tmp_path, monkeypatch,
                                                              places_file):  # noqa: F811
    from brusim.map import cache

    osm = write_osm_xml(tmp_path / "grid.osm", *street_grid())
    monkeypatch.setattr(cache, "save", lambda *a, **k: (_ for _ in ()).throw(
        OSError(errno.EROFS, "Read-only file system")))
    with pytest.warns(UserWarning, match="could not cache the compiled map .*Read-only.*"
                                         "BRUSIM_CACHE"):
        smap = load_street_map(MapSettings(source="osm", path=str(osm),
                                           places_file=str(places_file),
                                           cache_dir=str(tmp_path / "maps")))
    assert smap.n_nodes > 0


# ------------------------------------------------------------------ output folders
@pytest.mark.parametrize("command", [
    ["run", "--config-name", "synthetic", "weeks=0.1", "run.output_dir={out}"],
    ["compare", "config_name=synthetic", "target=central", "replications=1", "weeks=5",
     "scenario.intervention_week=3", "burn_in_weeks=1", "scenarios=[baseline,baseline+baseline]",
     "out_dir={out}"],
])
def test_an_output_folder_that_cannot_be_written_is_one_line_before_any_work(command, tmp_path):
    import subprocess
    import sys

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "results"  # cannot be created, whoever runs the test (root included)
    proc = subprocess.run([sys.executable, "-m", "brusim.cli",
                           *(a.format(out=out) for a in command)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert f"={out}: cannot write there" in proc.stderr and "writable folder" in proc.stderr
