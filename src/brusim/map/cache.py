"""Save and load compiled `StreetMap`s as ``.npz`` + a JSON manifest with checksums.

A cache entry is used only when its manifest key matches the requested source and settings and
the array file's checksum matches; anything else is rebuilt with a warning. A map served from
the cache keeps its neighbourhood tables beside the entry (`brusim.map.balls`).
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import Field, fields
from pathlib import Path

import numpy as np

from brusim.io import atomic_write
from brusim.map.balls import ball_folder
from brusim.map.sources import file_sha256
from brusim.map.streetmap import PlaceSet, StreetMap

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
_PLACE_ARRAYS = ("node", "snap_m", "catchment_indptr", "catchment_indices", "dist")
_PLACE_META = ("ids", "names", "attrs")


def _persisted_fields() -> list[Field]:
    """The `StreetMap` fields that are map data (not e.g. where its balls are kept)."""
    return [f for f in fields(StreetMap) if f.metadata.get("persist", True)]


def save(smap: StreetMap, folder: Path, key: str) -> Path:
    """Write ``smap`` into ``folder`` under ``key`` (array file first, then manifest)."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays, meta = {}, {"format": CACHE_FORMAT, "key": key}
    for f in _persisted_fields():
        value = getattr(smap, f.name)
        if isinstance(value, np.ndarray):
            arrays[f.name] = value
        elif isinstance(value, PlaceSet):
            for a in _PLACE_ARRAYS:
                arrays[f"{f.name}.{a}"] = getattr(value, a)
            meta[f.name] = {m: list(getattr(value, m)) for m in _PLACE_META}
        else:
            meta[f.name] = list(value) if isinstance(value, tuple) else value
    npz = folder / f"{key}.npz"

    def write_npz(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    atomic_write(npz, write_npz)
    meta["npz_sha256"] = file_sha256(npz)
    atomic_write(
        folder / f"{key}.json",
        lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1), encoding="utf-8"),
    )
    return npz


def load(folder: Path, key: str) -> StreetMap | None:
    """Load the entry ``key`` or return None (with a warning) if it is missing, stale or corrupt."""
    manifest, npz = folder / f"{key}.json", folder / f"{key}.npz"
    if not manifest.exists() and not npz.exists():
        return None
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        if meta.get("format") != CACHE_FORMAT or meta.get("key") != key:
            raise ValueError("stale manifest")
        if file_sha256(npz) != meta["npz_sha256"]:
            raise ValueError("checksum mismatch")
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        kwargs = {}
        for f in _persisted_fields():
            if f.name in arrays:
                kwargs[f.name] = arrays[f.name]
            elif f.name in ("hotspots", "stations", "rooms"):
                m = meta[f.name]
                kwargs[f.name] = PlaceSet(
                    ids=tuple(m["ids"]), names=tuple(m["names"]),
                    attrs=tuple(m["attrs"]),
                    **{a: arrays[f"{f.name}.{a}"] for a in _PLACE_ARRAYS},
                )
            else:
                value = meta[f.name]
                kwargs[f.name] = tuple(value) if isinstance(value, list) else value
        return StreetMap(**kwargs, ball_dir=ball_folder(folder, key))
    except Exception as exc:  # any damage means: rebuild, never use
        warnings.warn(
            f"map cache {npz.name} is corrupt or stale ({type(exc).__name__}: {exc}); rebuilding",
            stacklevel=2,
        )
        for p in (manifest, npz):
            p.unlink(missing_ok=True)
        return None
