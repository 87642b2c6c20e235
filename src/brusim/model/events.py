"""Event log: every transaction, arrest, incident... as (step, type, node, agent, other) rows.

Rows are buffered per step and flushed in chunks, either kept in memory (tests, small runs) or
streamed to Parquet so long runs never hold the whole log in memory. A streamed log is written as
numbered part files in ``<name>.parts/``; `rotate` closes the current part (a checkpoint), so a run
killed later can resume from finished parts, and `close` joins the parts into the final file.

Compiled phase kernels write their events themselves (`emit`), into an **event sink** from
`EventLog.sink`: the log's column buffers (step, type, node, agent, other), its per-type counts
and a one-element cursor (the next free row), with room reserved for the rows the phase can
write; `EventLog.commit` takes the cursor back. Event types are passed as ``np.int64`` constants
(`brusim.model.codes`): numba compiles a function once per *value* of a plain ``int`` constant
argument (a literal type).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from brusim.io import fsync
from brusim.model.codes import EVENT_NAMES, EventType
from brusim.model.jit import kernel, rule

_NO_OTHER = np.zeros(0, np.int64)  # events without an "other" column value (-1)
SCHEMA = pa.schema(
    [("step", pa.int32()), ("type", pa.dictionary(pa.int8(), pa.string())),
     ("node", pa.int32()), ("agent", pa.int32()), ("other", pa.int32())]
)


class EventLog:
    """Collects events; ``path`` set → streamed to Parquet every ``chunk_rows`` rows.

    Rows are written straight into preallocated column buffers, so recording costs a few
    slice assignments per `add` and nothing per call at flush time.
    """

    def __init__(self, path: Path | None = None, chunk_rows: int = 200_000, origin: int = 0,
                 keep: bool = True):
        self.path = path
        self.keep = keep  # in memory (no path): keep the rows, or only count them
        self.origin = origin  # the step written as step 0 (a branch point)
        self.chunk_rows = chunk_rows
        self._pending = 0
        self._buffers = _empty_columns(min(chunk_rows, 65_536))
        self._kept: list[pa.Table] = []
        self._writer: pq.ParquetWriter | None = None
        self.parts_done = 0  # finished part files (streamed logs)
        self.counts = np.zeros(len(EventType), dtype=np.int64)
        self._cursor = np.zeros(1, np.int64)  # next free row, for compiled writers (`sink`)

    @property
    def parts_dir(self) -> Path:
        """Folder of the part files of a streamed log."""
        assert self.path is not None
        return self.path.with_name(self.path.name + ".parts")

    def _part(self, index: int, partial: bool = False) -> Path:
        return self.parts_dir / f"part-{index:05d}.parquet{'.partial' if partial else ''}"

    def add(self, step: int, etype: EventType, node, agent, other=None) -> None:
        """Record events of one type at one step (array-like ``node``/``agent``/``other``).

        ``agent`` and ``other`` may be scalars (the same for every event); ``other`` defaults
        to -1. Values are copied, so callers may reuse their arrays afterwards.
        """
        node = np.asarray(node)
        n = node.size
        if n == 0:
            return
        start, end = self._pending, self._pending + n
        if end > len(self._buffers[0]):
            self._grow(end)
        steps, types, nodes, agents, others = self._buffers
        if (node.ndim == 1 and isinstance(agent, np.ndarray) and agent.shape == node.shape
                and (other is None or isinstance(other, np.ndarray) and other.shape == node.shape)):
            # the model's calls: one compiled loop instead of five slice assignments
            write_events(steps, types, nodes, agents, others, start, step, int(etype), node,
                         agent, _NO_OTHER if other is None else other)
        else:
            steps[start:end] = step
            types[start:end] = etype
            nodes[start:end] = node
            agents[start:end] = agent
            others[start:end] = -1 if other is None else other
        self._pending = end
        self.counts[etype] += n
        if end >= self.chunk_rows:
            self.flush()

    def sink(self, rows: int) -> tuple:
        """The buffers, counts and cursor for a compiled kernel to write up to ``rows`` events
        (`brusim.model.sinks.emit`); call `commit` after it."""
        if self._pending + rows > len(self._buffers[0]):
            self._grow(self._pending + rows)
        self._cursor[0] = self._pending
        return (*self._buffers, self.counts, self._cursor)

    def commit(self) -> None:
        """Take back the rows a compiled kernel wrote through `sink`."""
        self._pending = int(self._cursor[0])
        if self._pending >= self.chunk_rows:
            self.flush()

    def _grow(self, rows: int) -> None:
        bigger = _empty_columns(max(rows, 2 * len(self._buffers[0])))
        for new, old in zip(bigger, self._buffers, strict=True):
            new[: self._pending] = old[: self._pending]
        self._buffers = bigger

    def _table(self) -> pa.Table:
        # copies: pa.array would share memory with the buffers, which are reused
        steps, types, nodes, agents, others = (b[: self._pending].copy() for b in self._buffers)
        steps -= self.origin
        type_arr = pa.DictionaryArray.from_arrays(pa.array(types), pa.array(list(EVENT_NAMES)))
        cols = [pa.array(steps), type_arr, pa.array(nodes), pa.array(agents), pa.array(others)]
        return pa.Table.from_arrays(cols, schema=SCHEMA)

    def counts_by_name(self) -> dict[str, int]:
        """Number of events of each type so far, by event name."""
        return {name: int(n) for name, n in zip(EVENT_NAMES, self.counts, strict=True)}

    def flush(self) -> None:
        """Write the buffered rows (to the open part file, or to memory)."""
        if self._pending == 0:
            return
        table = self._table()
        self._pending = 0
        if self.path is None:
            if self.keep:
                self._kept.append(table)
            return
        if self._writer is None:
            self.parts_dir.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self._part(self.parts_done, partial=True), SCHEMA)
        self._writer.write_table(table)

    def rotate(self) -> None:
        """Finish the current part file (streamed logs): everything so far is safely on disk."""
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            partial = self._part(self.parts_done, partial=True)
            fsync(partial)
            partial.replace(self._part(self.parts_done))
            self.parts_done += 1

    def finished_parts(self) -> list[Path]:
        """The part files finished by `rotate` (streamed logs), in order."""
        return [] if self.path is None else [self._part(i) for i in range(self.parts_done)]

    def move_into(self, folder: Path) -> None:
        """Stream into ``folder`` from now on, under the same file name (a run folder that was
        moved or copied holds its parts)."""
        if self.path is not None:
            self.path = Path(folder) / self.path.name

    def discard_unfinished(self) -> None:
        """Delete part files written after the last `rotate` (e.g. by a killed run)."""
        if self.path is None or not self.parts_dir.exists():
            return
        for part in self.parts_dir.iterdir():
            index = int(part.name.split(".")[0].removeprefix("part-"))
            if index >= self.parts_done or part.name.endswith(".partial"):
                part.unlink()

    def close(self) -> None:
        """Flush and, when streaming, join the part files into the final file atomically (the
        parts stay until `remove_parts`: a checkpoint can still resume from them)."""
        self.rotate()
        if self.path is None:
            return
        parts = self.finished_parts()
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            if not parts:
                pq.write_table(SCHEMA.empty_table(), tmp)
            elif len(parts) == 1:
                shutil.copyfile(parts[0], tmp)
            else:
                with pq.ParquetWriter(tmp, SCHEMA) as writer:
                    for part in parts:
                        writer.write_table(pq.read_table(part))
            fsync(tmp)
            tmp.replace(self.path)
        finally:
            tmp.unlink(missing_ok=True)

    def remove_parts(self) -> None:
        """Delete the part files once the run's outputs are complete."""
        if self.path is not None:
            shutil.rmtree(self.parts_dir, ignore_errors=True)

    def __getstate__(self) -> dict:
        # a checkpoint holds the log's position, never an open file: call `rotate` first
        if self.path is None:
            self.flush()
        elif self._writer is not None or self._pending:
            raise RuntimeError("rotate the event log before pickling it")
        state = dict(self.__dict__)
        state["_writer"] = None
        state["_buffers"] = _empty_columns(0)  # nothing pending: the buffers grow again on use
        return state

    def frame(self, columns: list[str]) -> pd.DataFrame:
        """Some columns of all events as a DataFrame (only those columns are read from disk)."""
        if self.path is not None and self.path.exists() and self._writer is None:
            return pq.read_table(self.path, columns=columns).to_pandas()
        return self.to_table().select(columns).to_pandas()

    def to_table(self) -> pa.Table:
        """All events so far (in-memory logs only, or re-read from the finished file)."""
        self.flush()
        if self.path is not None and self.path.exists() and self._writer is None:
            return pq.read_table(self.path)
        if not self._kept:
            return SCHEMA.empty_table()
        return pa.concat_tables(self._kept)


def _empty_columns(rows: int) -> tuple[np.ndarray, ...]:
    """Buffers for the step, type, node, agent and other columns."""
    return (np.empty(rows, np.int32), np.empty(rows, np.int8), np.empty(rows, np.int32),
            np.empty(rows, np.int32), np.empty(rows, np.int32))


@kernel
def write_events(steps: np.ndarray, types: np.ndarray, nodes: np.ndarray, agents: np.ndarray,
                 others: np.ndarray, start: int, step: int, etype: int, node: np.ndarray,
                 agent: np.ndarray, other: np.ndarray) -> None:
    """Event rows ``start``, ``start + 1``... of the log's column buffers: this ``step``,
    ``etype``, and ``node``/``agent``/``other`` element by element (``other`` empty: -1)."""
    for k in range(node.shape[0]):
        steps[start + k] = step
        types[start + k] = etype
        nodes[start + k] = node[k]
        agents[start + k] = agent[k]
        others[start + k] = other[k] if other.shape[0] else -1


@rule
def emit(ev: tuple, step: int, etype: int, node: np.ndarray, agent: np.ndarray,
         other: np.ndarray) -> None:
    """Append events of one type (``EventLog.add``; ``other`` empty: -1) to the event sink."""
    steps, types, nodes, agents, others, counts, cursor = ev
    n = node.shape[0]
    if n == 0:
        return
    write_events(steps, types, nodes, agents, others, cursor[0], step, etype, node, agent,
                 other)
    cursor[0] += n
    counts[etype] += n
