"""Checkpoints of a running model: the whole model state (agents' arrays, random streams, recorder,
event-log position) pickled atomically into the run folder, without the street map and the
neighbourhood tables derived from it: the map is re-attached from the map cache on resume, after
checking its source hash, and the tables are rebuilt."""

from __future__ import annotations

import pickle
from pathlib import Path

from brusim.errors import BrusimError
from brusim.io import atomic_write
from brusim.map import StreetMap
from brusim.model import BrusselsMarketModel

CHECKPOINT = "checkpoint.pkl"
FORMAT = 5  # bump when the pickled layout changes


class CheckpointError(BrusimError):
    """A checkpoint that cannot be used to resume."""


def save_checkpoint(model: BrusselsMarketModel, run_dir: Path) -> Path:
    """Finish the current event-log part and write the model state to ``run_dir``."""
    model.events.rotate()
    smap = model.smap
    holders = [model, model.strategy]  # every object that keeps a reference to the map
    for obj in holders:
        obj.smap = None
    try:
        data = pickle.dumps({"format": FORMAT, "map_hash": smap.source_hash, "step": model.t,
                             "model": model}, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        for obj in holders:
            obj.smap = smap
    return atomic_write(Path(run_dir) / CHECKPOINT, lambda tmp: Path(tmp).write_bytes(data))


def load_checkpoint(run_dir: Path, smap: StreetMap) -> BrusselsMarketModel:
    """The model saved in ``run_dir``, on ``smap``, with its event log reopened for writing."""
    path = Path(run_dir) / CHECKPOINT
    try:
        payload = pickle.loads(path.read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint in {run_dir}; start the run again without "
                              "--resume") from None
    except Exception as exc:  # any damage to the file, whatever the unpickler trips on
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(exc).__name__}); delete "
                              "it and start the run again") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} was written by another brusim version; start "
                              "the run again")
    if payload["map_hash"] != smap.source_hash:
        raise CheckpointError(f"the map differs from the one the run started on ({path}); set "
                              "BRUSIM_MAP to the original map file")
    model: BrusselsMarketModel = payload["model"]
    model.attach(smap)
    model.events.discard_unfinished()
    return model
