"""Neighbourhood tables ("balls") of a street map: kept in memory and on disk beside the map's
cache entry, byte-identical to a fresh computation, and rebuilt when a file is damaged."""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import subprocess
import sys
import warnings
import weakref
from pathlib import Path

import numpy as np
import pytest

from brusim.map import MapSettings, StreetMap, balls, load_street_map
from brusim.map.balls import BALL_FORMAT, ball_path

RADII = (150.0, 250.0, 638.7)


@pytest.fixture(scope="module")
def synthetic() -> StreetMap:
    smap = load_street_map(MapSettings(source="synthetic"))
    assert smap.ball_dir is None  # a map built in memory has no cache folder
    return smap


def with_store(smap: StreetMap, folder: Path) -> StreetMap:
    """A fresh copy of ``smap`` (empty memory) that keeps its balls in ``folder``."""
    return dataclasses.replace(smap, ball_dir=folder)


def brute_force_ball(smap: StreetMap, radius_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Every pair distance, compared with the radius: the definition, without a KD-tree."""
    d = np.hypot(smap.x[:, None] - smap.x[None, :], smap.y[:, None] - smap.y[None, :])
    rows, cols = np.nonzero(d <= radius_m)  # row-major: sorted by row, then column
    indptr = np.zeros(smap.n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=smap.n_nodes), out=indptr[1:])
    return indptr, cols.astype(np.int32)


def assert_identical(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> None:
    for x, y, name in zip(a, b, ("indptr", "indices"), strict=True):
        assert x.dtype == y.dtype, name
        assert x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), name


def forbid_computing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make computing a ball fail, to prove it was read from memory or disk."""

    def boom(self: StreetMap, radius_m: float) -> None:
        raise AssertionError(f"the {radius_m} m ball was computed instead of loaded")

    monkeypatch.setattr(StreetMap, "_compute_ball", boom)


# ----------------------------------------------------------------------------- definition


@pytest.mark.parametrize("radius", [*RADII, 100.0])
def test_ball_is_every_node_within_the_radius(synthetic: StreetMap, radius: float) -> None:
    indptr, indices = synthetic.ball(radius)
    assert indptr.dtype == np.int64 and indices.dtype == np.int32
    assert_identical((indptr, indices), brute_force_ball(synthetic, radius))
    counts = np.diff(indptr)
    assert counts.min() >= 1  # each node is in its own ball
    # a 100 m grid: a 150 m ball holds more than the node and its four neighbours
    assert radius < 150 or np.median(counts) > 5


def test_ball_is_kept_in_memory_per_radius(synthetic: StreetMap,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    first = synthetic.ball(250)
    forbid_computing(monkeypatch)
    again = synthetic.ball(250.0)  # int and float radius are the same ball
    assert again[0] is first[0] and again[1] is first[1]


def test_memory_keeps_no_ball_nobody_holds(synthetic: StreetMap) -> None:
    """A sweep over radii on one map object must not pile up tables in memory."""
    smap = dataclasses.replace(synthetic)
    indptr, indices = smap.ball(180.0)
    refs = (weakref.ref(indptr), weakref.ref(indices))
    del indptr, indices
    gc.collect()
    assert refs[0]() is None and refs[1]() is None
    assert_identical(smap.ball(180.0), brute_force_ball(synthetic, 180.0))  # rebuilt


# --------------------------------------------------------------------------------- on disk


def test_disk_round_trip_is_byte_identical_and_not_recomputed(
    synthetic: StreetMap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = {r: dataclasses.replace(synthetic).ball(r) for r in RADII}  # no store: computed
    writer = with_store(synthetic, tmp_path / "balls")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for r in RADII:
            assert_identical(writer.ball(r), fresh[r])
    files = sorted(p.name for p in (tmp_path / "balls").iterdir())
    assert files == sorted(ball_path(Path(), r).name for r in RADII)  # no temporary leftovers

    forbid_computing(monkeypatch)
    reader = with_store(synthetic, tmp_path / "balls")  # a new map object: nothing in memory
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for r in RADII:
            assert_identical(reader.ball(r), fresh[r])


def _damage(path: Path, how: str, smap: StreetMap, folder: Path) -> None:
    if how == "flipped_bytes":
        with open(path, "r+b") as fh:
            fh.seek(path.stat().st_size // 2)
            fh.write(b"\x5a\xa5" * 32)
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    elif how == "not_a_zip":
        path.write_text("not a ball\n", encoding="utf-8")
    elif how == "other_radius":  # a file renamed by hand, or a radius written inexactly
        other = with_store(smap, folder / "other")
        other.ball(100.0)
        ball_path(folder / "other", 100.0).replace(path)
    elif how == "other_coordinates":  # a valid file written by a map with other nodes
        moved = dataclasses.replace(smap, x=smap.x * 1.5, ball_dir=folder / "moved")
        moved.ball(250.0)
        ball_path(folder / "moved", 250.0).replace(path)
    elif how == "old_format":
        with np.load(path) as data:
            arrays = dict(data)
        arrays["format"] = np.int64(BALL_FORMAT + 1)
        np.savez(path, **arrays)
    elif how == "indices_edited":  # a readable file whose arrays no longer match the checksum
        with np.load(path) as data:
            arrays = dict(data)
        arrays["indices"] = arrays["indices"].copy()
        arrays["indices"][5] = (arrays["indices"][5] + 1) % smap.n_nodes
        np.savez(path, **arrays)
    else:
        raise ValueError(how)


@pytest.mark.parametrize("how", ["flipped_bytes", "truncated", "not_a_zip", "other_radius",
                                 "other_coordinates", "old_format",
                                 "indices_edited"])
def test_damaged_ball_file_is_rebuilt_with_a_warning(
    how: str, synthetic: StreetMap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "balls"
    fresh = dataclasses.replace(synthetic).ball(250.0)
    with_store(synthetic, folder).ball(250.0)
    path = ball_path(folder, 250.0)
    _damage(path, how, synthetic, tmp_path)

    with pytest.warns(UserWarning, match="corrupt or stale") as caught:
        rebuilt = with_store(synthetic, folder).ball(250.0)
    assert len(caught) == 1 and "\n" not in str(caught[0].message)  # one line
    assert_identical(rebuilt, fresh)
    # the rebuilt file is valid again: it loads silently, without computing
    forbid_computing(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_identical(with_store(synthetic, folder).ball(250.0), fresh)


def test_folder_over_its_cap_drops_the_least_recently_used_ball(
    synthetic: StreetMap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "balls"
    for r in (100.0, 150.0, 200.0):
        with_store(synthetic, folder).ball(r)
    for age, r in enumerate((100.0, 150.0, 200.0)):  # written in that order, seconds apart
        os.utime(ball_path(folder, r), ns=(10**18 + age * 10**9,) * 2)
    with_store(synthetic, folder).ball(100.0)  # read: now the most recently used
    with_store(synthetic, tmp_path / "sizes").ball(250.0)
    size = {r: ball_path(folder, r).stat().st_size for r in (100.0, 150.0, 200.0)}
    size[250.0] = ball_path(tmp_path / "sizes", 250.0).stat().st_size
    monkeypatch.setattr(balls, "MAX_FOLDER_BYTES", size[100.0] + size[200.0] + size[250.0])

    with_store(synthetic, folder).ball(250.0)  # the fourth file pushes the folder over its cap
    kept = {r for r in (100.0, 150.0, 200.0, 250.0) if ball_path(folder, r).is_file()}
    assert kept == {100.0, 200.0, 250.0}  # 150 m: the least recently used


def test_unwritable_folder_costs_a_warning_not_the_run(synthetic: StreetMap,
                                                       tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("", encoding="utf-8")
    smap = with_store(synthetic, blocker / "balls")  # cannot be created under a file
    with pytest.warns(UserWarning, match="could not write ball cache"):
        got = smap.ball(150.0)
    assert_identical(got, dataclasses.replace(synthetic).ball(150.0))


def test_map_without_cache_folder_writes_nothing(synthetic: StreetMap,
                                                 isolated_cache: Path) -> None:
    before = sorted(isolated_cache.rglob("*"))
    dataclasses.replace(synthetic).ball(200.0)
    assert sorted(isolated_cache.rglob("*")) == before


# ----------------------------------------------------------------------------- real map


@pytest.mark.realmap
def test_cached_brussels_map_keeps_its_balls_beside_the_entry(
    brussels: StreetMap, brussels_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = brussels.ball_dir
    assert folder is not None and folder.name.endswith(".balls")
    key = folder.name.removesuffix(".balls")
    entry = json.loads((folder.parent / f"{key}.json").read_text(encoding="utf-8"))
    assert "ball_dir" not in entry  # where the balls live is not part of the cached map

    reference = dataclasses.replace(brussels, ball_dir=None)  # computes, as before caching
    radii = (150.0, 638.7)
    fresh = {r: reference.ball(r) for r in radii}
    loaded = load_street_map(MapSettings(source="graphml", path=str(brussels_path)))
    assert loaded.ball_dir == folder
    for r in radii:
        assert_identical(loaded.ball(r), fresh[r])  # computed and written (or read) here
        assert ball_path(folder, r).is_file()

    forbid_computing(monkeypatch)
    again = load_street_map(MapSettings(source="graphml", path=str(brussels_path)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for r in radii:
            assert_identical(again.ball(r), fresh[r])


@pytest.mark.realmap
def test_cached_map_and_balls_load_without_the_compile_libraries(
    brussels: StreetMap, brussels_path: Path
) -> None:
    brussels.ball(150.0)  # make sure the file exists
    code = (
        "import sys\n"
        "from brusim.map import MapSettings, load_street_map\n"
        f"smap = load_street_map(MapSettings(source='graphml', path={str(brussels_path)!r}))\n"
        "smap.ball(150.0)\n"
        "print(','.join(m for m in ('networkx', 'osmnx', 'pyproj', 'scipy.spatial', "
        "'scipy.sparse', 'matplotlib') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_map_with_balls_in_use_pickles(synthetic: StreetMap) -> None:
    """A map whose balls are in use still pickles (joblib workers, copies), balls included."""
    import pickle

    indptr, indices = synthetic.ball(120.0)
    copy = pickle.loads(pickle.dumps(synthetic))
    again = copy.ball(120.0)
    assert np.array_equal(again[0], indptr) and np.array_equal(again[1], indices)
