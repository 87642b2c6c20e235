"""Run manifests: everything needed to know how a result was produced and to reproduce it."""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import brusim
from brusim.errors import BrusimError

PACKAGES = ("mesa", "numpy", "scipy", "pandas", "pyarrow", "osmnx", "networkx", "hydra-core",
            "omegaconf", "matplotlib", "duckdb")


def dependency_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> str | None:
    """The commit of the brusim source tree, if it is a git checkout."""
    root = Path(brusim.__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def base_manifest(seed: int, streams: dict, map_hash: str, map_name: str) -> dict:
    """Manifest fields known before the run starts."""
    return {
        "brusim_version": brusim.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "dependencies": dependency_versions(),
        "seed": seed,
        "rng_streams": streams,
        "map": {"name": map_name, "source_sha256": map_hash},
        "started": now_iso(),
        "status": "running",
    }


def read_manifest(run_dir: Path) -> dict:
    """The manifest of a run folder; a missing or damaged one is a one-line error."""
    path = Path(run_dir) / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BrusimError(f"{run_dir} is not a run folder (no manifest.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BrusimError(f"{path} is damaged (not JSON); the run cannot be identified") from None
