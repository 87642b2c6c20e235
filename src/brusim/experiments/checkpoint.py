"""Checkpoints of a running model: the whole model state (agents' arrays, random streams, recorder,
event-log position) pickled atomically into the run folder, without the street map: every
reference to it is stored as a placeholder and re-attached from the map cache on resume, after
checking the map's source hash."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

from brusim.errors import BrusimError
from brusim.io import atomic_write
from brusim.map import StreetMap
from brusim.model import BrusselsMarketModel

CHECKPOINT = "checkpoint.pkl"
FORMAT = 1  # bump when the pickled layout changes


class CheckpointError(BrusimError):
    """A checkpoint that cannot be used to resume."""


class _MapPickler(pickle.Pickler):
    """Pickles every reference to the street map as a placeholder."""

    def __init__(self, file: io.BytesIO, smap: StreetMap):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.smap = smap

    def persistent_id(self, obj: object) -> str | None:
        return "street_map" if obj is self.smap else None


class _MapUnpickler(pickle.Unpickler):
    """Puts the given street map wherever the checkpoint has the placeholder."""

    def __init__(self, file: io.BytesIO, smap: StreetMap):
        super().__init__(file)
        self.smap = smap

    def persistent_load(self, pid: object) -> StreetMap:
        if pid != "street_map":
            raise pickle.UnpicklingError(f"unknown reference {pid!r}")
        return self.smap


def save_checkpoint(model: BrusselsMarketModel, run_dir: Path) -> Path:
    """Finish the current event-log part and write the model state to ``run_dir``."""
    model.events.rotate()
    buffer = io.BytesIO()
    _MapPickler(buffer, model.smap).dump(
        {"format": FORMAT, "map_hash": model.smap.source_hash, "step": model.t, "model": model})
    data = buffer.getvalue()
    return atomic_write(Path(run_dir) / CHECKPOINT, lambda tmp: Path(tmp).write_bytes(data))


def load_checkpoint(run_dir: Path, smap: StreetMap) -> BrusselsMarketModel:
    """The model saved in ``run_dir``, on ``smap``, with its event log reopened for writing."""
    path = Path(run_dir) / CHECKPOINT
    try:
        payload = _MapUnpickler(io.BytesIO(path.read_bytes()), smap).load()
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
    model.events.discard_unfinished()
    return model
