"""Where brusim finds its configs and keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """The configs folder: the repository's ``configs/`` or the copy inside an installed wheel."""
    here = Path(__file__).resolve().parent
    packaged = here / "_configs"
    if packaged.is_dir():
        return packaged
    repo = here.parents[1] / "configs"
    if repo.is_dir():
        return repo
    raise FileNotFoundError("brusim configs not found; reinstall brusim")


def cache_dir() -> Path:
    """Per-user cache folder (``$BRUSIM_CACHE`` or ``~/.cache/brusim``), created on demand."""
    root = os.environ.get("BRUSIM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "brusim"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path
