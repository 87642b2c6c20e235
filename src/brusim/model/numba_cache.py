"""numba's on-disk cache of the compiled kernels, keyed by the model package's sources.

numba keys a cached function by its own file's modification time and size only. A kernel that
calls a helper in another file (every phase kernel calls `brusim.model.rng`, `events` and
`recorder` helpers) would keep running the old helper from the cache after the helper is edited:
the run's output would silently be that of the old code. Here every kernel of the model package
is cached in a folder named after the SHA-256 of all the package's sources, so an edit to any
file of ``brusim/model`` compiles everything afresh, and going back to earlier sources finds
their cache again. `use_keyed_cache` must run before the first kernel is defined, which
``brusim/model/__init__.py`` does.

The folder lives under ``$NUMBA_CACHE_DIR`` if set, else ``<brusim cache>/numba``; folders of
other sources are pruned beyond the `KEEP` most recently used.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

PREFIX = "brusim-model-"
KEEP = 4  # folders of other source versions kept (switching branches finds its cache again)
# LLVM's optimisation level for the kernels unless ``$NUMBA_OPT`` says otherwise (numba's
# default is 3). Measured 2026-12-04 (docs/performance.md): level 2 compiles a fresh install
# ~1.5 s sooner on 2 cores (15.1 against 16.6 s), the step loop is as fast within the noise
# (1.68 against 1.67 s for 8 weeks, 3 alternating runs), and the numbers are the same: no
# level changes floating-point semantics (no fast-math).
OPT_LEVEL = "2"


def sources_digest(package: Path | None = None) -> str:
    """SHA-256 of the model package's Python sources (names and contents)."""
    package = package or Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        h.update(path.name.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def cache_root() -> Path:
    """Where the keyed folders go: ``$NUMBA_CACHE_DIR``, else ``<brusim cache>/numba`` (the
    system's temporary folder when the brusim cache cannot be used: the command that needs
    the cache says so itself)."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return Path(env)
    from brusim.errors import BrusimError
    from brusim.paths import cache_dir

    try:
        return cache_dir() / "numba"
    except BrusimError:
        import tempfile

        return Path(tempfile.gettempdir()) / "brusim-numba"


def use_keyed_cache() -> Path | None:
    """Point numba's cache at this source version's folder; None when it cannot be written
    (numba then compiles without caching, which costs time, never correctness). Sets the
    optimisation level `OPT_LEVEL` unless ``$NUMBA_OPT`` is set."""
    from numba.core import config

    os.environ.setdefault("NUMBA_OPT", OPT_LEVEL)  # numba reads it again at each compilation

    folder = cache_root() / f"{PREFIX}{sources_digest()[:20]}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.utime(folder)  # most recently used
    except OSError:
        config.CACHE_DIR = ""
        return None
    config.CACHE_DIR = str(folder)
    _prune(folder)
    return folder


_announced = False


def announce_compilation() -> None:
    """Say on standard error, once per process, that the kernels are being compiled when this
    source version has nothing cached yet (the first run after installing or editing brusim)."""
    global _announced
    from numba.core import config

    if _announced:
        return
    _announced = True
    folder = Path(config.CACHE_DIR) if config.CACHE_DIR else None
    if folder is not None and any(folder.rglob("*.nbi")):
        return
    where = f"cached in {folder}" if folder is not None else "not cached: no writable folder"
    print(f"brusim: compiling the model's kernels, once per version (about 15 s with two "
          f"cores, about 30 s with one; {where})", file=sys.stderr, flush=True)


def _prune(keep: Path) -> None:
    """Remove the folders of other source versions beyond the `KEEP` most recently used (and
    not used for an hour: another process may be compiling into one)."""
    try:
        others = [p for p in keep.parent.glob(f"{PREFIX}*") if p != keep and p.is_dir()]
        others.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in others[KEEP:]:
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > 3600:
                shutil.rmtree(old, ignore_errors=True)
