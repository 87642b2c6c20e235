"""Checkpoints of a running model: the whole model state (agents' arrays, random streams, recorder,
event-log position) pickled atomically into the run folder, without the street map and the
neighbourhood tables derived from it: the map is re-attached from the map cache on resume, after
checking its source hash, and the tables are rebuilt.

The file starts with a SHA-256 of the pickled state, and the state lists the SHA-256 of every
event-log part finished so far: a damaged checkpoint or part is refused on resume, never run.
The event log is re-pointed at the folder the checkpoint is loaded from, so a moved or copied
run folder resumes into itself."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

from brusim.errors import BrusimError
from brusim.io import atomic_write, sha256_file
from brusim.map import StreetMap
from brusim.model import BrusselsMarketModel
from brusim.model.precompile import restore_compiled

CHECKPOINT = "checkpoint.pkl"
FORMAT = 7  # bump when the pickled layout changes
MAGIC = b"brusim checkpoint sha256 "


class CheckpointError(BrusimError):
    """A checkpoint that cannot be used to resume."""


def signed_model(model: BrusselsMarketModel, **extra) -> bytes:
    """The model pickled without its street map, with ``extra`` entries, SHA-256 signed."""
    smap = model.smap
    holders = [model, model.strategy]  # every object that keeps a reference to the map
    for obj in holders:
        obj.smap = None
    try:
        data = pickle.dumps({"format": FORMAT, "map_hash": smap.source_hash, "step": model.t,
                             **extra, "model": model}, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        for obj in holders:
            obj.smap = smap
    return MAGIC + hashlib.sha256(data).hexdigest().encode() + b"\n" + data


def read_signed(path: Path, raw: bytes, smap: StreetMap) -> dict:
    """The payload of a `signed_model` file, its model on ``smap``; CheckpointError when the
    file is damaged, of another version or of another map."""
    try:
        payload = pickle.loads(_unsigned(path, raw))
    except CheckpointError:
        raise
    except Exception as exc:  # any damage to the file, whatever the unpickler trips on
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(exc).__name__}); delete "
                              "it and start the run again") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} was written by another brusim version; start "
                              "the run again")
    if payload["map_hash"] != smap.source_hash:
        raise CheckpointError(f"the map differs from the one the run started on ({path}); set "
                              "BRUSIM_MAP to the original map file")
    return payload


def save_checkpoint(model: BrusselsMarketModel, run_dir: Path) -> Path:
    """Finish the current event-log part and write the model state to ``run_dir``."""
    model.events.rotate()
    parts = {p.name: sha256_file(p) for p in model.events.finished_parts()}
    signed = signed_model(model, parts=parts)
    return atomic_write(Path(run_dir) / CHECKPOINT, lambda tmp: Path(tmp).write_bytes(signed))


def _unsigned(path: Path, raw: bytes) -> bytes:
    """The pickled state of a checkpoint file, after checking its SHA-256."""
    head, _, data = raw.partition(b"\n")
    if not head.startswith(MAGIC):
        raise CheckpointError(f"checkpoint {path} is unreadable (damaged, or written by another "
                              "brusim version); start the run again without --resume")
    if hashlib.sha256(data).hexdigest().encode() != head[len(MAGIC):]:
        raise CheckpointError(f"checkpoint {path} is damaged (its SHA-256 does not match); "
                              "delete it and start the run again without --resume")
    return data


def load_checkpoint(run_dir: Path, smap: StreetMap) -> BrusselsMarketModel:
    """The model saved in ``run_dir``, on ``smap``, with its event log reopened for writing
    (and its kernels compiled in parallel if this source version has none cached:
    `brusim.model.precompile.restore_compiled`)."""
    return restore_compiled(lambda: _load_checkpoint(run_dir, smap))


def _load_checkpoint(run_dir: Path, smap: StreetMap) -> BrusselsMarketModel:
    path = Path(run_dir) / CHECKPOINT
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint in {run_dir}; start the run again without "
                              "--resume") from None
    payload = read_signed(path, raw, smap)
    model: BrusselsMarketModel = payload["model"]
    model.events.move_into(Path(run_dir))  # this folder, even when it is a copy
    for part, digest in payload["parts"].items():
        found = model.events.parts_dir / part
        if not found.is_file() or sha256_file(found) != digest:
            raise CheckpointError(f"event-log part {found} is missing or damaged; start the run "
                                  "again without --resume")
    model.attach(smap)
    model.events.discard_unfinished()
    return model
