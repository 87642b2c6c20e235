"""Atomic file writing: each output is written to a temporary file beside it, flushed to the disk
(fsync), checked (a table is read back), and only then renamed over the old file, whose folder
is flushed too. An interrupted run, a full disk or a read-only folder therefore never leaves a
half-written file behind nor replaces a good result by a worse one: the old file stays until
the new one is complete. A write that fails is one `OutputError` line naming the file, the
reason and the fix."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from brusim.errors import BrusimError

REASONS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
           errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
           errno.EPERM: "permission denied"}


class OutputError(BrusimError):
    """An output that cannot be written (full disk, read-only or missing folder); ``path`` and
    ``reason`` let a caller say the way on again (`cannot_write`)."""

    def __init__(self, message: str, path: Path | None = None, reason: str | None = None):
        super().__init__(message)
        self.path, self.reason = path, reason

    def __reduce__(self):  # keeps path and reason across processes (a comparison's workers)
        return OutputError, (str(self), self.path, self.reason)


def cannot_write(path: Path, exc: BaseException,
                 then: str = "run the same command again") -> OutputError:
    """The one-line error for a failed write of ``path`` (or of the file an `OutputError`
    names): the reason, and ``then``, what to do once it is fixed."""
    if isinstance(exc, OutputError):
        if exc.path is None:
            return exc
        path, reason = exc.path, exc.reason
    else:
        reason = REASONS.get(getattr(exc, "errno", None) or -1) or \
            (str(exc).splitlines() or [""])[0] or type(exc).__name__
    return OutputError(f"cannot write {path}: {reason}; free space or make the folder "
                       f"writable (or choose another output folder), then {then}: what was "
                       "already written is kept", path, reason)


def writable_folder(folder: Path, setting: str) -> Path:
    """Create ``folder`` if needed and check that a file can be written in it, before any
    work; else one line naming ``setting`` (the option that chose the folder)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = REASONS.get(exc.errno or -1) or exc.strerror or str(exc)
        raise OutputError(f"{setting}={folder}: cannot write there ({reason}); choose a "
                          "writable folder") from None
    return folder


def atomic_write(path: Path, write: Callable[[str], None],
                 verify: Callable[[str], None] | None = None) -> Path:
    """Call ``write(tmp_path)``, flush it to the disk, ``verify(tmp_path)`` (raises when the
    file is not what was meant), then rename it to ``path`` and flush the folder. ``path`` is
    untouched unless everything succeeded."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise cannot_write(path, exc) from None
    os.close(fd)
    try:
        write(tmp)
        fsync(tmp)
        if verify is not None:
            verify(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes owner-only files; use the usual mode
        os.replace(tmp, path)
        fsync(path.parent)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def fsync(path: str | Path) -> None:
    """Flush a file's (or a folder's) data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def write_json(path: Path, data: dict) -> Path:
    return write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet(path: Path, df: pd.DataFrame) -> Path:
    """``df`` as a Parquet file, read back (footer and row count) before it replaces ``path``."""
    def verify(tmp: str) -> None:
        import pyarrow.parquet as pq

        rows = pq.ParquetFile(tmp).metadata.num_rows
        if rows != len(df):
            raise OSError(f"{rows} rows read back of {len(df)} written")

    return atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False), verify)


def save_figure(fig, path: Path, **savefig) -> Path:
    """``fig.savefig(path, **savefig)``, atomically (the format from the file's suffix)."""
    path = Path(path)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip("."),
                                                      **savefig))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def frame_hash(df: pd.DataFrame) -> str:
    """Content hash of a table (values and column names), independent of file encoding."""
    h = hashlib.sha256()
    h.update(",".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).values.tobytes())
    return h.hexdigest()


def parquet_hash(path: Path, batch_rows: int = 1 << 20) -> str:
    """`frame_hash` of a Parquet file's table, read batch by batch (a long run's event log
    never has to fit in memory)."""
    import pyarrow.parquet as pq

    h = hashlib.sha256()
    with pq.ParquetFile(path) as reader:
        h.update(",".join(reader.schema_arrow.names).encode())
        for batch in reader.iter_batches(batch_size=batch_rows):
            h.update(pd.util.hash_pandas_object(batch.to_pandas(), index=False).values.tobytes())
    return h.hexdigest()
