"""Event log: every transaction, arrest, incident... as (step, type, node, agent, other) rows.

Rows are buffered per step and flushed in chunks, either kept in memory (tests, small runs) or
streamed to a Parquet file so long runs never hold the whole log in memory.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


class EventType(IntEnum):
    TRANSACTION = 0
    PUBLIC_USE = 1
    ROOM_ENTRY = 2
    VIOLENT_INCIDENT = 3
    ARREST = 4
    RELEASE_WITHOUT_PROSECUTION = 5
    PROSECUTION = 6
    OUTREACH_CONTACT = 7
    TREATMENT_ENTRY = 8
    UNSERVED_SEARCH = 9
    DEALER_MOVE = 10
    DEALER_LIE_LOW = 11
    RECRUITMENT = 12


EVENT_NAMES = [e.name.lower() for e in EventType]
SCHEMA = pa.schema(
    [("step", pa.int32()), ("type", pa.dictionary(pa.int8(), pa.string())),
     ("node", pa.int32()), ("agent", pa.int32()), ("other", pa.int32())]
)


class EventLog:
    """Collects events; ``path`` set → streamed to Parquet every ``chunk_rows`` rows."""

    def __init__(self, path: Path | None = None, chunk_rows: int = 200_000):
        self.path = path
        self.chunk_rows = chunk_rows
        # per add(): step, type, node (int32 copy), agent and other (int32 copies or scalars)
        self._parts: list[tuple[int, int, np.ndarray, np.ndarray | int, np.ndarray | int]] = []
        self._pending = 0
        self._kept: list[pa.Table] = []
        self._writer: pq.ParquetWriter | None = None
        self.counts = np.zeros(len(EventType), dtype=np.int64)

    def add(self, step: int, etype: EventType, node, agent, other=None) -> None:
        """Record events of one type at one step (array-like ``node``/``agent``/``other``).

        ``agent`` and ``other`` may be scalars (the same for every event); ``other`` defaults
        to -1. Arrays are copied, so callers may reuse them afterwards.
        """
        node = np.array(node, dtype=np.int32, ndmin=1)
        n = len(node)
        if n == 0:
            return
        agent = _int32_column(agent)
        other = -1 if other is None else _int32_column(other)
        self._parts.append((step, int(etype), node, agent, other))
        self._pending += n
        self.counts[etype] += n
        if self._pending >= self.chunk_rows:
            self.flush()

    def _table(self) -> pa.Table:
        parts = self._parts
        lengths = np.fromiter((len(p[2]) for p in parts), np.int64, len(parts))
        steps = np.repeat(np.fromiter((p[0] for p in parts), np.int32, len(parts)), lengths)
        types = np.repeat(np.fromiter((p[1] for p in parts), np.int8, len(parts)), lengths)
        nodes = np.concatenate([p[2] for p in parts])
        agents, others = (
            np.concatenate([np.broadcast_to(p[k], (len(p[2]),)) for p in parts]).astype(np.int32)
            for k in (3, 4)
        )
        type_arr = pa.DictionaryArray.from_arrays(pa.array(types), pa.array(EVENT_NAMES))
        cols = [pa.array(steps), type_arr, pa.array(nodes), pa.array(agents), pa.array(others)]
        return pa.Table.from_arrays(cols, schema=SCHEMA)

    def flush(self) -> None:
        if not self._parts:
            return
        table = self._table()
        self._parts, self._pending = [], 0
        if self.path is None:
            self._kept.append(table)
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = self.path.with_suffix(".parquet.partial")
            self._writer = pq.ParquetWriter(self._tmp, SCHEMA)
        self._writer.write_table(table)

    def close(self) -> None:
        """Flush and, when streaming, move the finished file into place atomically."""
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._tmp.replace(self.path)

    def to_table(self) -> pa.Table:
        """All events so far (in-memory logs only, or re-read from the finished file)."""
        self.flush()
        if self.path is not None and self.path.exists() and self._writer is None:
            return pq.read_table(self.path)
        if not self._kept:
            return SCHEMA.empty_table()
        return pa.concat_tables(self._kept)


def _int32_column(values) -> np.ndarray | int:
    """A scalar as a Python int, anything else as an int32 array copy."""
    if np.ndim(values) == 0:
        return int(values)
    return np.array(values, dtype=np.int32)
