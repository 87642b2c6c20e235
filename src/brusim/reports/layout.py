"""The brief's building blocks: a `Slide` (title, text `Block` objects, a `Table`, images and a
note), rendered to PDF (`brusim.reports.pdf_report`) and HTML (`brusim.reports.html_report`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Block:
    """A piece of slide text: ``heading``, ``text``, ``bullets`` (list) or ``code`` (list)."""

    kind: str
    content: str | list[str]


@dataclass
class Table:
    """A table of text cells; ``muted`` cells are drawn grey (e.g. a CI including zero)."""

    header: list[str]
    rows: list[list[str]]
    widths: list[float]
    muted: list[list[bool]] = field(default_factory=list)
    rows_per_page: int | None = None  # PDF pages split longer tables (None: the default)
    font_size: float = 15.0  # PDF points (shrunk further only if the table does not fit)
    small_after_first_line: bool = False  # a cell's later lines (e.g. a verdict) set smaller


@dataclass
class Slide:
    """One message: a title, text blocks, an optional table, images (path, caption) and a note.
    ``kind`` is ``content``, ``title`` (title page), ``params`` (blocks are parameter columns)
    or ``html`` (HTML only, e.g. the animation)."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    table: Table | None = None
    images: list[tuple[Path, str]] = field(default_factory=list)
    note: str = ""
    kind: str = "content"
    facts: list[tuple[str, str]] = field(default_factory=list)  # title page label/value pairs
