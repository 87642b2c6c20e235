"""On-disk store of a street map's neighbourhood tables ("balls"), next to its cache entry.

`StreetMap.ball(radius_m)` is a KD-tree pair query plus a sort: a large share of a run's start-up
on the Brussels map. A map loaded from the cache keeps one ``.npz`` file per radius in the folder
``<map cache key>.balls/``, so later runs read the table instead of recomputing it.

A file is used only if its format, radius, node coordinates (SHA-256) and array checksum all
match; anything else is deleted and rebuilt with a one-line warning, never used. A folder is
capped at `MAX_FOLDER_BYTES`: sweeps over a radius (calibration, sensitivity) would otherwise
leave a file per value, so the least recently used files are removed beyond it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

BALL_FORMAT = 1  # bump when the layout or the computation of a ball changes
MAX_FOLDER_BYTES = 256 * 2**20  # per map; the default run's six radii take ~16 MB on Brussels


BUILD_BYTES_PER_ENTRY = 40  # peak while building: the pair list, its sort and the CSR copies


def estimate_entries(x: np.ndarray, y: np.ndarray, kdtree, radius_m: float,
                     sample: int = 2048) -> int:
    """Expected number of entries (node pairs within ``radius_m``, each node included) of a
    ball, from an evenly spread sample of nodes: a check before anything is built."""
    n = len(x)
    if n == 0:
        return 0
    idx = np.unique(np.linspace(0, n - 1, min(sample, n)).astype(np.int64))
    counts = kdtree.query_ball_point(np.column_stack([x[idx], y[idx]]), float(radius_m),
                                     return_length=True)
    return int(round(float(np.mean(counts)) * n))


def ball_folder(cache_folder: Path, key: str) -> Path:
    """Where the balls of the map cache entry ``key`` in ``cache_folder`` are kept."""
    return cache_folder / f"{key}.balls"


def ball_path(folder: Path, radius_m: float) -> Path:
    """The file holding the ball of ``radius_m`` metres (radius written exactly, as its repr)."""
    return folder / f"r{float(radius_m)!r}m.npz"


def coords_digest(x: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of the node coordinates a ball was computed from."""
    h = hashlib.sha256()
    for a in (x, y):
        h.update(str(a.dtype).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _arrays_digest(indptr: np.ndarray, indices: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in (indptr, indices):
        h.update(a.tobytes())
    return h.hexdigest()


def load_ball(
    folder: Path, radius_m: float, coords: str, n_nodes: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """The stored ball ``(indptr, indices)``, or None when there is none or it cannot be trusted
    (then the file is removed and a warning says it will be rebuilt)."""
    path = ball_path(folder, radius_m)
    try:
        raw = path.read_bytes()  # read whole: numpy would leak its file handle on a bad zip
    except OSError:  # not computed yet, just evicted by another run, or unreadable: compute
        return None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            if data["format"].item() != BALL_FORMAT:
                raise ValueError(f"format {data['format'].item()}, expected {BALL_FORMAT}")
            if data["radius_m"].item() != float(radius_m):
                raise ValueError(f"radius {data['radius_m'].item()!r} m")
            if data["coords"].item() != coords:
                raise ValueError("computed for other node coordinates")
            indptr, indices = data["indptr"], data["indices"]
            digest = data["sha256"].item()
        if indptr.dtype != np.int64 or indptr.shape != (n_nodes + 1,):
            raise ValueError(f"indptr {indptr.dtype}{indptr.shape}")
        if indices.dtype != np.int32 or indices.ndim != 1:
            raise ValueError(f"indices {indices.dtype}{indices.shape}")
        if indptr[0] != 0 or indptr[-1] != len(indices):
            raise ValueError("indptr does not span indices")
        if _arrays_digest(indptr, indices) != digest:
            raise ValueError("checksum mismatch")
    except Exception as exc:  # any damage (truncation, bad zip, missing array) means: rebuild
        reason = (str(exc).splitlines() or [""])[0]
        warnings.warn(f"ball cache {path} is corrupt or stale ({type(exc).__name__}: {reason}); "
                      "rebuilding", stacklevel=2)
        with contextlib.suppress(OSError):  # rewritten after the rebuild if the folder allows
            path.unlink()
        return None
    _touch(path)
    return indptr, indices


def save_ball(folder: Path, radius_m: float, coords: str, indptr: np.ndarray,
              indices: np.ndarray) -> None:
    """Write a ball atomically (a temporary file renamed into place: concurrent runs that
    compute the same ball never see a half-written file). A folder that cannot be written only
    costs a warning: the ball is then recomputed next time."""
    path = ball_path(folder, radius_m)
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, format=np.int64(BALL_FORMAT), radius_m=np.float64(radius_m),
                     coords=np.str_(coords), sha256=np.str_(_arrays_digest(indptr, indices)),
                     indptr=indptr, indices=indices)
        os.replace(tmp, path)
    except OSError as exc:
        warnings.warn(f"could not write ball cache {path} ({exc}); it will be recomputed",
                      stacklevel=2)
        return
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    _evict(folder, keep=path)


def _touch(path: Path) -> None:
    """Mark a file as recently used (its mtime orders the eviction)."""
    with contextlib.suppress(OSError):  # a read-only cache still serves its files
        os.utime(path)


def _evict(folder: Path, keep: Path) -> None:
    """Remove the least recently used balls until the folder fits in `MAX_FOLDER_BYTES`."""
    files = []
    for p in folder.glob("r*m.npz"):
        try:
            st = p.stat()
        except FileNotFoundError:  # removed by a concurrent run
            continue
        files.append((st.st_mtime_ns, st.st_size, p))
    total = sum(size for _, size, _ in files)
    for _, size, p in sorted(files, key=lambda f: f[0]):
        if total <= MAX_FOLDER_BYTES:
            break
        if p != keep:
            with contextlib.suppress(OSError):  # gone already, or a read-only folder
                p.unlink()
            total -= size
