"""Write fitted values into a behaviour YAML file, keeping its comments and layout.

Only the value of each fitted key changes (its line keeps its comment); a provenance block at
the top of the file names the command, date and objective. The result is re-read and checked:
the fitted keys hold the new values and every other value is unchanged.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from brusim.errors import ConfigError
from brusim.io import write_text

BEGIN = "# --- calibration: fitted values (written by `brusim calibrate --apply`) ---"
END = "# --- end of calibration block ---"
_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][\w]*):(?P<space>\s+)(?P<value>[^#\s][^#]*?)"
                   r"(?P<rest>\s*(#.*)?)$")


def format_value(value: float | int | bool) -> str:
    """A YAML scalar for ``value``: ints as ints, floats with 4 significant digits and never in
    exponent notation (PyYAML reads ``1e-05`` as a string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(f"cannot write non-finite value {v}")
    text = np.format_float_positional(v, precision=4, unique=False, fractional=False,
                                      trim="-")
    return text if "." in text else text + ".0"


def _find_line(lines: list[str], path: list[str]) -> int:
    """Index of the line holding the scalar at ``path`` in a block-style YAML mapping."""
    start, end, indent = 0, len(lines), -1
    for depth, key in enumerate(path):
        found = None
        for i in range(start, end):
            m = _LINE.match(lines[i]) if depth == len(path) - 1 else re.match(
                r"^(?P<indent>\s*)(?P<key>[A-Za-z_][\w]*):\s*(#.*)?$", lines[i])
            if not m:
                continue
            ind = len(m.group("indent"))
            if ind <= indent:
                break
            if m.group("key") == key and (found is None):
                found = (i, ind)
                break
        if found is None:
            raise ConfigError(f"key {'.'.join(path)} not found as a plain `key: value` line")
        i, ind = found
        if depth == len(path) - 1:
            return i
        # the child block: following lines indented deeper than this key
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or lines[j].lstrip().startswith("#")
                                  or len(lines[j]) - len(lines[j].lstrip()) > ind):
            j += 1
        start, end, indent = i + 1, j, ind
    raise ConfigError(f"key {'.'.join(path)} not found")


def set_values(text: str, values: dict[str, float]) -> str:
    """``text`` with each dotted key's value replaced (comments and spacing kept)."""
    lines = text.split("\n")
    for key, value in values.items():
        i = _find_line(lines, key.split("."))
        m = _LINE.match(lines[i])
        new = format_value(value)
        old = m.group("value")
        rest = m.group("rest")
        pad = rest[: len(rest) - len(rest.lstrip())]
        # keep the comment column when the new value is shorter or the padding allows it
        if rest.strip():
            pad = " " * max(1, len(pad) + len(old) - len(new))
        lines[i] = f"{m.group('indent')}{key.split('.')[-1]}:{m.group('space')}{new}" + (
            pad + rest.lstrip() if rest.strip() else "")
    return "\n".join(lines)


def set_provenance(text: str, comment_lines: list[str]) -> str:
    """Put (or replace) the calibration block of comments at the top of ``text``."""
    lines = text.split("\n")
    if BEGIN in lines:
        b = lines.index(BEGIN)
        e = lines.index(END, b) if END in lines[b:] else b
        del lines[b:e + 1]
    block = [BEGIN, *(f"# {c}" if c else "#" for c in comment_lines), END]
    return "\n".join(block + lines)


def _flat(cfg, prefix: str = "") -> dict[str, object]:
    out = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def apply_values(path: Path, values: dict[str, float], comment_lines: list[str]) -> Path:
    """Write ``values`` (keys relative to the file, e.g. ``dealers.risk_weight``) into the YAML
    file at ``path`` with a provenance block; verify by re-reading."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path} not found; --apply needs the behaviour config file")
    text = path.read_text(encoding="utf-8")
    before = _flat(OmegaConf.to_container(OmegaConf.create(text)))
    unknown = [k for k in values if k not in before]
    if unknown:
        raise ConfigError(f"{path}: no such keys {unknown}")
    new_text = set_provenance(set_values(text, values), comment_lines)
    after = _flat(OmegaConf.to_container(OmegaConf.create(new_text)))
    for k, v in before.items():
        want = float(format_value(values[k])) if k in values else v
        got = after.get(k)
        same = (math.isclose(float(got), float(want), rel_tol=1e-12)
                if k in values else got == want)
        if not same:
            raise ConfigError(f"{path}: rewriting changed {k} to {got!r} (expected {want!r}); "
                              "file left unchanged")
    write_text(path, new_text)
    return path
