"""Run manifests: everything needed to know how a result was produced and to reproduce it."""

from __future__ import annotations

import functools
import json
import platform
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import brusim
from brusim.errors import BrusimError

PACKAGES = ("mesa", "numpy", "numba", "llvmlite", "scipy", "pandas", "pyarrow", "osmnx",
            "networkx", "shapely", "pyproj", "hydra-core", "omegaconf", "matplotlib", "duckdb",
            "joblib")


def dependency_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.cache
def git_commit() -> str | None:
    """The commit of brusim's own source tree, or None: for an installed wheel (even one
    installed inside another project's git repository) there is no brusim commit to name."""
    from brusim.paths import source_checkout

    root = source_checkout()
    if root is None:
        return None
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != root.resolve():
        return None  # the checkout is not a git repository of its own
    return _git(root, "rev-parse", "HEAD") or None


@functools.cache
def git_dirty() -> bool | None:
    """Whether brusim's source tree has uncommitted changes (None without a commit)."""
    from brusim.paths import source_checkout

    root = source_checkout()
    if root is None or git_commit() is None:
        return None
    status = _git(root, "status", "--porcelain", "--untracked-files=no", "--", "src", "configs")
    return None if status is None else bool(status)


def flat_settings(cfg) -> dict[str, object]:
    """A config's values by dotted key (``police.arrest_prob``), resolved, without the keys
    that only change how a run is shown or saved (`shards.PRESENTATION_KEYS`)."""
    from omegaconf import DictConfig, OmegaConf

    from brusim.experiments.shards import _result_config

    data = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else (
        OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True))
    flat: dict[str, object] = {}

    def walk(node, prefix: str) -> None:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            flat[prefix[:-1]] = node

    walk(_result_config(data), "")
    return flat


def settings_hash(flat: dict[str, object]) -> str:
    """SHA-256 of `flat_settings` (key order does not matter)."""
    import hashlib

    return hashlib.sha256(json.dumps(flat, sort_keys=True, default=str).encode()).hexdigest()


def changed_settings(then: dict[str, object], now: dict[str, object]) -> list[str]:
    """``key: then -> now`` for every setting that differs (added or removed keys too)."""
    missing = "(absent)"
    return [f"{key}: {then.get(key, missing)} -> {now.get(key, missing)}"
            for key in sorted(set(then) | set(now)) if then.get(key, missing) !=
            now.get(key, missing)]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def map_provenance(smap) -> dict:
    """The street map a result was made on: its name and the SHA-256 of the file read (for
    the packaged map, of the packaged file), and of the source it was built from, if any."""
    if smap is None:
        return {}
    info = {"name": smap.name, "source_sha256": smap.source_hash}
    built_from = smap.stats.get("built_from_sha256") if isinstance(smap.stats, dict) else None
    if built_from:
        info["built_from_sha256"] = built_from
    return info


def base_manifest(seed: int, streams: dict, smap=None) -> dict:
    """Manifest fields known before the run starts."""
    return {
        "brusim_version": brusim.__version__,
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "dependencies": dependency_versions(),
        "seed": seed,
        "rng_streams": streams,
        "map": map_provenance(smap),
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
