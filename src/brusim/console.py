"""What the command line prints when something is wrong: one line per problem, never a
traceback, and Hydra's multi-line messages folded into one.

`brusim run` is a Hydra app, and Hydra prints its own errors (an unknown key, a value of the
wrong type) over five lines before the task starts. `HydraErrorGate` holds back what is
written to standard error until the task (or a sweep) starts (`release_stderr`); if Hydra
exits first, the held text is folded into one line (`one_line_hydra_error`).
"""

from __future__ import annotations

import difflib
import io
import re
import sys

_GATE: HydraErrorGate | None = None


class HydraErrorGate(io.TextIOBase):
    """A stand-in for ``sys.stderr`` that holds text until `release` (then passes it on)."""

    def __init__(self, real) -> None:
        super().__init__()
        self.real = real
        self.held: list[str] = []
        self.released = False

    def write(self, text: str) -> int:
        if self.released:
            return self.real.write(text)
        self.held.append(text)
        return len(text)

    def flush(self) -> None:
        if self.released:
            self.real.flush()

    def isatty(self) -> bool:
        return self.real.isatty()

    def fileno(self) -> int:
        return self.real.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.real, "encoding", "utf-8")

    def release(self) -> None:
        """Pass on what was held and everything written from now on."""
        if not self.released:
            self.released = True
            self.real.write("".join(self.held))
            self.held.clear()

    def text(self) -> str:
        return "".join(self.held)


def hold_stderr() -> HydraErrorGate:
    """Install a gate on ``sys.stderr`` (until `release_stderr` or `restore_stderr`)."""
    global _GATE
    _GATE = HydraErrorGate(sys.stderr)
    sys.stderr = _GATE
    return _GATE


def release_stderr() -> None:
    """Hydra has composed the config: let standard error through (a no-op without a gate)."""
    if _GATE is not None:
        _GATE.release()


def restore_stderr(discard: bool = False) -> None:
    """Remove the gate; what it held is passed on, or dropped with ``discard``."""
    global _GATE
    if _GATE is not None:
        if discard:
            _GATE.held.clear()
        _GATE.release()
        sys.stderr = _GATE.real
        _GATE = None


_UNKNOWN_KEY = re.compile(r"^Could not override '(?P<key>[^']+)'")


def one_line_hydra_error(text: str, known_keys: list[str] | None = None) -> str:
    """Hydra's error message as one line; a misspelt key gets the closest known keys."""
    lines = [ln.strip() for ln in text.splitlines()
             if ln.strip() and not ln.startswith((" ", "\t"))
             and not ln.startswith(("Set the environment variable HYDRA_FULL_ERROR",
                                    "Traceback", "To append to your config"))
             and not ln.strip().endswith(":")]
    unknown = next((m for m in map(_UNKNOWN_KEY.match, lines) if m), None)
    if unknown is not None and any(" not in " in ln for ln in lines):
        key = unknown.group("key")
        close = difflib.get_close_matches(key, known_keys or [], n=2, cutoff=0.6)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        return (f"unknown setting {key!r}{hint}; `brusim run --cfg job` lists the settings "
                "and their values")
    return "; ".join(ln.rstrip(".") for ln in lines) or "invalid configuration"
