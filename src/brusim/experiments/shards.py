"""Run folders of a sweep ("shards"): finding them, checking that they are complete, reading the
overrides that define them.

A shard is the folder `run_single` writes for one run (``config.yaml``, ``manifest.json``,
``metrics_region.parquet``, ``metrics_areas.parquet``, ``events.parquet``), plus Hydra's
``.hydra/overrides.yaml``. Every file is written atomically and the manifest is written last
with status ``complete``, so a killed run leaves a shard whose manifest says ``running``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import yaml
from omegaconf import DictConfig, OmegaConf

from brusim.errors import BrusimError
from brusim.experiments.manifest import read_manifest as run_manifest
from brusim.io import frame_hash, parquet_hash

TABLES = ("metrics_region", "metrics_areas")
# config keys that change how a run is shown or saved along the way, not what it computes
PRESENTATION_KEYS = (("run", "progress"), ("run", "checkpoint_every_days"))


def read_manifest(path: Path) -> dict | None:
    """The shard's manifest, or None when it is missing or unreadable."""
    try:
        data = run_manifest(path)
    except (BrusimError, OSError):
        return None
    return data if isinstance(data, dict) else None


def _result_config(data: dict) -> dict:
    for section, key in PRESENTATION_KEYS:
        if isinstance(data.get(section), dict):
            data[section].pop(key, None)
    return data


def config_matches(path: Path, cfg: DictConfig) -> bool:
    """Whether the shard's resolved ``config.yaml`` equals ``cfg`` (ignoring display keys)."""
    try:
        stored = yaml.safe_load((path / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return False
    current = OmegaConf.to_container(cfg, resolve=True)
    return isinstance(stored, dict) and _result_config(stored) == _result_config(current)


def shard_problem(path: Path, cfg: DictConfig | None = None, *, events_hash: bool = False
                  ) -> str | None:
    """Why the shard at ``path`` is not a complete run, or None when it is.

    Complete: the manifest says ``complete``; both metric tables are readable and their content
    hashes match the manifest; the events file (when the run wrote one) holds the manifest's
    event count, or, with ``events_hash``, matches the manifest's content hash; and, when
    ``cfg`` is given, the stored config equals ``cfg``.
    """
    manifest = read_manifest(path)
    if manifest is None:
        return "no readable manifest.json (run never finished)"
    if manifest.get("status") != "complete":
        return f"manifest status is {manifest.get('status')!r} (interrupted run)"
    hashes = manifest.get("hashes") or {}
    for name in TABLES:
        try:
            df = pd.read_parquet(path / f"{name}.parquet")
        except Exception as exc:  # missing, truncated or corrupt Parquet
            return f"{name}.parquet unreadable ({type(exc).__name__})"
        if frame_hash(df) != hashes.get(name):
            return f"{name}.parquet does not match the hash in manifest.json"
    events = path / "events.parquet"
    if events.exists() or _wrote_events(path):
        problem = _events_problem(events, manifest, events_hash)
        if problem:
            return problem
    if cfg is not None and not config_matches(path, cfg):
        return "config.yaml differs from this run's configuration"
    return None


def _events_problem(events: Path, manifest: dict, by_hash: bool) -> str | None:
    try:
        if by_hash and "events" in manifest.get("hashes", {}):
            ok = parquet_hash(events) == manifest["hashes"]["events"]
            return None if ok else "events.parquet does not match the hash in manifest.json"
        rows = pq.ParquetFile(events).metadata.num_rows
    except Exception as exc:
        return f"events.parquet unreadable ({type(exc).__name__})"
    expected = sum((manifest.get("event_counts") or {}).values())
    return None if rows == expected else \
        f"events.parquet has {rows} rows, manifest.json counts {expected}"


def _wrote_events(path: Path) -> bool:
    try:
        stored = yaml.safe_load((path / "config.yaml").read_text())
        return bool(stored["run"]["write_events"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return False


def is_complete(path: Path) -> bool:
    """Light check (manifest only) used for progress counts; `shard_problem` checks fully."""
    manifest = read_manifest(path)
    return manifest is not None and manifest.get("status") == "complete"


def run_folders(sweep_dir: Path) -> Iterator[Path]:
    """Every run folder under ``sweep_dir``: a folder holding ``manifest.json`` or Hydra's
    ``.hydra/overrides.yaml`` (hidden folders such as ``.submitit`` are ignored)."""
    sweep_dir = Path(sweep_dir)
    found: set[Path] = set()
    for marker in ("manifest.json", ".hydra/overrides.yaml"):
        for hit in sweep_dir.rglob(marker):
            folder = hit.parent.parent if marker.startswith(".hydra") else hit.parent
            rel = folder.relative_to(sweep_dir)
            if any(part.startswith(".") for part in rel.parts):
                continue
            found.add(folder)
    yield from sorted(found)


def task_overrides(path: Path) -> list[str] | None:
    """The Hydra task overrides that produced the run (``.hydra/overrides.yaml``)."""
    try:
        data = yaml.safe_load((path / ".hydra" / "overrides.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    return [str(x) for x in data] if isinstance(data, list) else None


def overrides_key(overrides: list[str]) -> tuple[str, ...]:
    """Order-independent identity of a run: its sorted override strings."""
    return tuple(sorted(overrides))
