"""The brief as landscape slides (16:9, one message per page) in a PDF, laid out with
matplotlib's text metrics."""

from __future__ import annotations

import logging
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.image import imread
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from brusim.reports.slides import Block, Slide, Table, paginate

SLIDE_W, SLIDE_H = 40 / 3, 7.5  # inches: 16:9 (960 x 540 pt)
MARGIN = 0.55
LEAD = 1.3  # line height in font sizes
MONO = "DejaVu Sans Mono"
INK, MUTED, ACCENT, RULE = "#1a1a1a", "#8c8c8c", "#0b4f8a", "#c9d6e3"


@lru_cache(maxsize=4096)
def char_width(char: str, bold: bool = False) -> float:
    """Advance width of one character in DejaVu Sans, in font sizes (ems)."""
    font = get_font(findfont(FontProperties(family="DejaVu Sans",
                                            weight="bold" if bold else "normal")))
    font.set_size(100, 72)
    return font.load_char(ord(char)).linearHoriAdvance / 65536 / 100


def text_width(text: str, bold: bool = False, mono: bool = False) -> float:
    """Width of ``text`` in font sizes (ems) in DejaVu Sans (Mono), the fonts of the PDF."""
    if mono:
        return 0.602 * len(text)
    return sum(char_width(c, bold) for c in text)


def _wrap(text: str, width_in: float, size: float, bold: bool = False,
          mono: bool = False) -> list[str]:
    """Lines of ``text`` that fit ``width_in`` inches at ``size`` points (greedy, on spaces;
    a single word wider than the line is broken)."""
    limit = 0.97 * width_in * 72 / size  # a little slack for kerning and side bearings
    space = text_width("a b", bold, mono) - text_width("ab", bold, mono)
    lines: list[str] = []
    for para in str(text).split("\n"):
        line, used = [], 0.0
        for word in para.split(" "):
            w = text_width(word, bold, mono)
            if line and used + space + w > limit:
                lines.append(" ".join(line))
                line, used = [], 0.0
            while w > limit and len(word) > 1:  # a word wider than the line: hard break
                k = max(1, next(i for i in range(len(word), 0, -1)
                                if text_width(word[:i], bold, mono) <= limit))
                lines.append(word[:k])
                word = word[k:]
                w = text_width(word, bold, mono)
            used += (space if line else 0.0) + w
            line.append(word)
        lines.append(" ".join(line))
    return lines


def _too_wide(text: str, width_in: float, size: float, bold: bool = False) -> bool:
    """True when a single word of ``text`` is wider than ``width_in`` at ``size``."""
    return any(text_width(w, bold) * size / 72 > width_in for w in str(text).split())


def _text(fig: Figure, x: float, y: float, s: str, size: float, **kw: object) -> None:
    """Text with its top-left corner at ``(x, y)`` inches from the bottom-left of the page."""
    kw.setdefault("color", INK)
    kw.setdefault("va", "top")
    fig.text(x, y, s, fontsize=size, transform=fig.dpi_scale_trans, **kw)


def _flow(blocks: list[Block], width: float, size: float) -> tuple[list[tuple], float]:
    """Lay out text blocks in a column: ``([(dx, dy, text, size, style)], height)``."""
    ops: list[tuple] = []
    y = 0.0
    for b in blocks:
        items = b.content if isinstance(b.content, list) else [b.content]
        if b.kind == "bullets":
            indent = 1.1 * size / 72
            for item in items:
                ops.append((0.0, y, "•", size, {"color": ACCENT, "weight": "bold"}))
                for line in _wrap(item, width - indent, size):
                    ops.append((indent, y, line, size, {}))
                    y += LEAD * size / 72
                y += 0.45 * size / 72
            continue
        style, s, dx = {
            "heading": ({"weight": "bold"}, size * 1.05, 0.0),
            "text": ({}, size * 0.9, 0.0),
            "code": ({"family": MONO}, size * 0.8, 0.25),
        }[b.kind]
        for item in items:
            for line in _wrap(item, width - dx, s, b.kind == "heading", b.kind == "code"):
                ops.append((dx, y, line, s, style))
                y += LEAD * s / 72
        y += 0.35 * s / 72
    return ops, y


def _draw_flow(fig: Figure, blocks: list[Block], x: float, top: float, width: float,
               height: float, size: float = 20, min_size: float = 11) -> None:
    """Draw blocks from ``top`` down, shrinking the font until they fit ``height``."""
    ops, h = _flow(blocks, width, size)
    while h > height and size > min_size:
        size -= 1
        ops, h = _flow(blocks, width, size)
    for dx, dy, line, s, style in ops:
        _text(fig, x + dx, top - dy, line, s, **style)


def _draw_table(fig: Figure, t: Table, x: float, top: float, width: float, height: float,
                size: float = 17) -> None:
    """A table with a shaded header, zebra rows and grey muted cells; the font shrinks to fit."""
    widths = np.asarray(t.widths) / sum(t.widths) * width
    pad = 0.065
    while True:  # the header is set a little smaller, in bold
        sizes = [0.85 * size] + [size] * len(t.rows)
        cells = [[_wrap(c, w - 2 * pad, s, i == 0) for c, w in zip(row, widths, strict=True)]
                 for i, (row, s) in enumerate(zip([t.header, *t.rows], sizes, strict=True))]
        heights = [max(len(c) for c in row) * LEAD * s / 72 + 2 * pad
                   for row, s in zip(cells, sizes, strict=True)]
        wide = any(_too_wide(c, w - 2 * pad, s, i == 0)
                   for i, (row, s) in enumerate(zip([t.header, *t.rows], sizes, strict=True))
                   for c, w in zip(row, widths, strict=True))
        if (sum(heights) <= height and (not wide or size <= 14)) or size <= 10:
            break
        size -= 1
    y = top
    lefts = x + np.concatenate([[0], np.cumsum(widths)[:-1]])
    for i, (row, h, s) in enumerate(zip(cells, heights, sizes, strict=True)):
        if i == 0 or i % 2 == 0:
            fig.add_artist(Rectangle((x, y - h), width, h, transform=fig.dpi_scale_trans,
                                     color="#dde7f1" if i == 0 else "#f3f5f8", lw=0, zorder=0))
        for j, (lines, left, w) in enumerate(zip(row, lefts, widths, strict=True)):
            grey = i > 0 and bool(t.muted and t.muted[i - 1][j])
            _text(fig, left + pad if j == 0 else left + w / 2, y - pad, "\n".join(lines), s,
                  ha="left" if j == 0 else "center", linespacing=LEAD,
                  color=MUTED if grey else INK, weight="bold" if i == 0 else "normal")
        y -= h
    fig.add_artist(Line2D([x, x + width], [y, y], transform=fig.dpi_scale_trans, color=RULE))


def _draw_images(fig: Figure, images: list[tuple[Path, str]], x: float, top: float,
                 width: float, height: float, caption_size: float = 14) -> None:
    """Images side by side, each scaled to fit its share, with a caption underneath."""
    gap = 0.3
    w = (width - gap * (len(images) - 1)) / len(images)
    for i, (path, caption) in enumerate(images):
        lines = _wrap(caption, w, caption_size) if caption else []
        cap_h = len(lines) * LEAD * caption_size / 72 + (0.12 if lines else 0)
        img = imread(path)
        ih, iw = img.shape[:2]
        scale = min(w / iw, (height - cap_h) / ih)
        dw, dh = iw * scale, ih * scale
        cx = x + i * (w + gap) + w / 2
        ax = fig.add_axes((  # figure fractions
            (cx - dw / 2) / SLIDE_W, (top - dh) / SLIDE_H, dw / SLIDE_W, dh / SLIDE_H))
        ax.imshow(img, interpolation="none")
        ax.set_axis_off()
        if lines:
            _text(fig, cx, top - dh - 0.1, "\n".join(lines), caption_size, ha="center",
                  linespacing=LEAD, color="#333333")


def _draw_title_page(fig: Figure, slide: Slide, bottom: float, scale: float = 1.0) -> None:
    """Title, subtitle, the question and the facts of the comparison (shrunk to fit above
    ``bottom``)."""
    width = SLIDE_W - 2 * MARGIN
    label_w = 3.4

    def layout(k: float) -> list[tuple]:
        ops, y = [], SLIDE_H - 0.7
        for text, size, style in ((slide.title, 34 * k, {"weight": "bold", "color": ACCENT}),
                                  (slide.blocks[0].content, 19 * k, {"color": "#444444"}),
                                  (slide.blocks[1].content, 21 * k, {"style": "italic"})):
            for line in _wrap(text, width, size, style.get("weight") == "bold"):
                ops.append((MARGIN, y, line, size, style))
                y -= LEAD * size / 72
            y -= 0.25 * k
        size = 15 * k
        for label, value in slide.facts:
            lines = _wrap(value, width - label_w, size)
            ops.append((MARGIN, y, label, size, {"weight": "bold", "color": "#333333"}))
            ops.append((MARGIN + label_w, y, "\n".join(lines), size, {"linespacing": LEAD}))
            y -= len(lines) * LEAD * size / 72 + 0.1 * k
        return ops, y

    k = 1.0
    ops, y = layout(k)
    while y < bottom and k > 0.6:
        k -= 0.05
        ops, y = layout(k)
    for x, y, text, size, style in ops:
        _text(fig, x, y, text, size, **style)


def _columns(blocks: list[Block], n: int) -> list[list[Block]]:
    """Split blocks into ``n`` balanced columns; a heading never ends a column."""
    per = math.ceil(len(blocks) / n)
    chunks, i = [], 0
    while i < len(blocks):
        j = min(i + per, len(blocks))
        if j < len(blocks) and blocks[j - 1].kind == "heading":
            j -= 1
        chunks.append(blocks[i:j])
        i = j
    return chunks


def _draw_params(fig: Figure, blocks: list[Block], top: float, height: float) -> None:
    """Parameter lines in 2-4 columns, whichever allows the largest font."""
    best = None
    for n in (2, 3, 4):
        chunks = _columns(blocks, n)
        width = (SLIDE_W - 2 * MARGIN) / len(chunks)
        size = 18.0
        while size > 7 and max(_flow(c, width - 0.15, size)[1] for c in chunks) > height:
            size -= 0.5
        if best is None or size > best[0]:
            best = (size, chunks, width)
    size, chunks, width = best
    for k, chunk in enumerate(chunks):
        _draw_flow(fig, chunk, MARGIN + k * width, top, width - 0.15, height, size, size)


def draw_slide(fig: Figure, slide: Slide, footer: str, page: int, n_pages: int) -> None:
    """Draw one page: title, content by kind and layout, note, footer and page number."""
    width = SLIDE_W - 2 * MARGIN
    _text(fig, MARGIN, 0.42, footer, 10, color=MUTED)
    _text(fig, SLIDE_W - MARGIN, 0.42, f"{page} / {n_pages}", 10, color=MUTED, ha="right")
    bottom = 0.6
    if slide.note:
        lines = _wrap(slide.note, width, 13)
        bottom += len(lines) * LEAD * 13 / 72 + 0.1
        _text(fig, MARGIN, bottom - 0.05, "\n".join(lines), 13, color="#555555",
              linespacing=LEAD)
    if slide.kind == "title":
        _draw_title_page(fig, slide, bottom + 0.1)
        return
    y = SLIDE_H - 0.45
    for line in _wrap(slide.title, width, 26, bold=True):
        _text(fig, MARGIN, y, line, 26, weight="bold", color=ACCENT)
        y -= LEAD * 26 / 72
    fig.add_artist(Line2D([MARGIN, SLIDE_W - MARGIN], [y - 0.05] * 2, color=ACCENT, lw=1.5,
                          transform=fig.dpi_scale_trans))
    top = y - 0.3
    height = top - bottom - 0.1
    if slide.kind == "params":
        _draw_params(fig, slide.blocks, top, height)
    elif slide.images and slide.blocks:
        _draw_images(fig, slide.images, MARGIN, top, width * 0.6, height)
        _draw_flow(fig, slide.blocks, MARGIN + width * 0.63, top, width * 0.37, height, 17)
    elif slide.images:
        _draw_images(fig, slide.images, MARGIN, top, width, height)
    elif slide.table is not None:
        _draw_table(fig, slide.table, MARGIN, top, width, height)
    else:
        _draw_flow(fig, slide.blocks, MARGIN, top, width, height)


def render_pdf(slides: list[Slide], path: Path, lang: str, footer: str) -> Path:
    """Write the slides as a 16:9 landscape PDF, one message per page."""
    from brusim.io import atomic_write

    pages = paginate(slides, lang)
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # font subsetting chatter

    def write(tmp: str) -> None:
        with (rc_context({"pdf.fonttype": 42}),  # TrueType: crisp, searchable text
              PdfPages(tmp, metadata={"Title": slides[0].title, "Creator": "brusim"}) as pdf):
            for k, slide in enumerate(pages, 1):
                fig = Figure(figsize=(SLIDE_W, SLIDE_H))
                draw_slide(fig, slide, footer, k, len(pages))
                pdf.savefig(fig, dpi=150)

    return atomic_write(path, write)
