"""The brief as landscape slides (16:9, one message per page) in a PDF, laid out by reportlab.

Each slide is one page: its title, then its content in a frame that reportlab wraps and, when
the content is long, shrinks to fit (`KeepInFrame`), so a slide never spills onto a second
page; the note and the footer sit at the bottom. Text is set in DejaVu Sans (the fonts that ship
with matplotlib), which has every character the three languages and the number formats use
(the minus sign, the narrow no-break space).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

from matplotlib.font_manager import FontProperties, findfont
from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Frame, Image, KeepInFrame, Paragraph, Spacer, TableStyle
from reportlab.platypus import Table as GridTable

from brusim.reports.layout import Block, Slide, Table
from brusim.reports.slides import paginate

PAGE_W, PAGE_H = 960.0, 540.0  # points: 16:9
MARGIN = 40.0
INK, MUTED, ACCENT = colors.HexColor("#1a1a1a"), colors.HexColor("#8c8c8c"), colors.HexColor(
    "#0b4f8a")
HEADER_FILL, ZEBRA_FILL = colors.HexColor("#dde7f1"), colors.HexColor("#f3f5f8")
FONTS = {"Sans": ("normal", "normal"), "Sans-Bold": ("bold", "normal"),
         "Sans-Italic": ("normal", "italic")}


@cache
def register_fonts() -> None:
    """DejaVu Sans (regular, bold, italic) and DejaVu Sans Mono, from matplotlib's fonts."""
    for name, (weight, style) in FONTS.items():
        path = findfont(FontProperties(family="DejaVu Sans", weight=weight, style=style))
        pdfmetrics.registerFont(TTFont(name, path))
    pdfmetrics.registerFont(TTFont("Mono", findfont(FontProperties(family="DejaVu Sans Mono"))))
    pdfmetrics.registerFontFamily("Sans", normal="Sans", bold="Sans-Bold", italic="Sans-Italic",
                                  boldItalic="Sans-Bold")


def style(size: float, font: str = "Sans", color=INK, **kw) -> ParagraphStyle:
    return ParagraphStyle(f"{font}{size}", fontName=font, fontSize=size, leading=size * 1.3,
                          textColor=color, **kw)


def para(text: str, st: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), st)


def blocks_flow(blocks: list[Block], size: float = 17) -> list[Flowable]:
    """Headings, text, bullet lists and code lines, in reading order."""
    out: list[Flowable] = []
    for b in blocks:
        items = b.content if isinstance(b.content, list) else [b.content]
        if b.kind == "heading":
            out += [para(i, style(size * 1.05, "Sans-Bold")) for i in items]
        elif b.kind == "bullets":
            out += [para(f"• {i}", style(size * 0.9, leftIndent=14, firstLineIndent=-14))
                    for i in items]
        elif b.kind == "code":
            out += [para(i, style(size * 0.75, "Mono", leftIndent=18)) for i in items]
        else:
            out += [para(i, style(size * 0.9)) for i in items]
        out.append(Spacer(1, size * 0.35))
    return out


def cell_para(text: str, st: ParagraphStyle, small_after_first_line: bool) -> Paragraph:
    """A table cell; with ``small_after_first_line`` its later lines follow the first after a
    dot, set at 78% (on the same line when they fit)."""
    if not small_after_first_line or "\n" not in text:
        return para(text, st)
    first, rest = str(text).split("\n", 1)
    small = escape(rest).replace("\n", "<br/>")
    return Paragraph(f'{escape(first)} <font size="{st.fontSize * 0.78:.1f}">· {small}</font>',
                     st)


def grid(t: Table, width: float, size: float | None = None) -> GridTable:
    """A table with a shaded header, zebra rows and grey muted cells."""
    size = size or t.font_size
    head = style(size * 0.85, "Sans-Bold", alignment=TA_CENTER)
    first, cell = style(size), style(size, alignment=TA_CENTER)
    muted = style(size, color=MUTED, alignment=TA_CENTER)
    rows = [[para(c, head) for c in t.header]]
    for i, row in enumerate(t.rows):
        grey = t.muted[i] if t.muted else [False] * len(row)
        rows.append([para(c, first) if j == 0 else
                     cell_para(c, muted if grey[j] else cell, t.small_after_first_line)
                     for j, c in enumerate(row)])
    total = sum(t.widths)
    table = GridTable(rows, colWidths=[w / total * width for w in t.widths], repeatRows=1)
    commands = [("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]
    commands += [("BACKGROUND", (0, r), (-1, r), ZEBRA_FILL) for r in range(2, len(rows), 2)]
    table.setStyle(TableStyle(commands))
    return table


def pictures(images: list[tuple[Path, str]], width: float, height: float) -> GridTable:
    """Images side by side, each scaled to its share of the width, captions underneath."""
    share = width / len(images)
    caption = style(12, color=colors.HexColor("#333333"), alignment=TA_CENTER)
    cells = []
    for path, text in images:
        with PILImage.open(path) as im:
            iw, ih = im.size
        scale = min((share - 8) / iw, (height - (40 if text else 0)) / ih)
        cells.append([Image(str(path), iw * scale, ih * scale),
                      para(text, caption) if text else Spacer(1, 1)])
    table = GridTable([[c[0] for c in cells], [c[1] for c in cells]],
                      colWidths=[share] * len(cells))
    table.setStyle(TableStyle([("ALIGN", (0, 0), (-1, -1), "CENTER"),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def fit(flowables: list[Flowable], canvas: Canvas, x: float, y: float, w: float,
        h: float) -> None:
    """Draw ``flowables`` in the box (x, y, w, h), shrunk as a whole if they do not fit."""
    frame = Frame(x, y, w, h, leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    frame.addFromList([KeepInFrame(w, h, flowables, mode="shrink")], canvas)


def title_page(slide: Slide) -> list[Flowable]:
    facts = GridTable([[para(label, style(15, "Sans-Bold", colors.HexColor("#333333"))),
                        para(value, style(15))] for label, value in slide.facts],
                      colWidths=[250, PAGE_W - 2 * MARGIN - 250])
    facts.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return [para(slide.title, style(34, "Sans-Bold", ACCENT)), Spacer(1, 10),
            para(slide.blocks[0].content, style(19, color=colors.HexColor("#444444"))),
            Spacer(1, 10), para(slide.blocks[1].content, style(21, "Sans-Italic")),
            Spacer(1, 18), facts]


def draw_slide(canvas: Canvas, slide: Slide, footer: str, page: int, n_pages: int) -> None:
    """One page: title, content by kind and layout, note, footer and page number."""
    width = PAGE_W - 2 * MARGIN
    canvas.setFont("Sans", 10)
    canvas.setFillColor(MUTED)
    canvas.drawString(MARGIN, 26, footer)
    canvas.drawRightString(PAGE_W - MARGIN, 26, f"{page} / {n_pages}")
    bottom = 44.0
    if slide.note:
        note = para(slide.note, style(13, color=colors.HexColor("#555555")))
        _, h = note.wrap(width, PAGE_H)
        note.drawOn(canvas, MARGIN, bottom)
        bottom += h + 8
    if slide.kind == "title":
        fit(title_page(slide), canvas, MARGIN, bottom + 8, width, PAGE_H - 40 - bottom - 8)
        return
    title = para(slide.title, style(26 if len(slide.title) <= 70 else 20, "Sans-Bold", ACCENT))
    _, h = title.wrap(width, PAGE_H)
    top = PAGE_H - 28 - h
    title.drawOn(canvas, MARGIN, top)
    canvas.setStrokeColor(ACCENT)
    canvas.setLineWidth(1.5)
    canvas.line(MARGIN, top - 5, PAGE_W - MARGIN, top - 5)
    top -= 22
    height = top - bottom - 8
    if slide.kind == "params":
        n = 3 if len(slide.blocks) > 12 else 2
        per = -(-len(slide.blocks) // n)
        col = width / n
        for k in range(n):
            part = slide.blocks[k * per:(k + 1) * per]
            if part:
                fit(blocks_flow(part, 12), canvas, MARGIN + k * col, bottom + 8, col - 12,
                    height)
    elif slide.images and slide.blocks:
        fit([pictures(slide.images, width * 0.6, height)], canvas, MARGIN, bottom + 8,
            width * 0.6, height)
        fit(blocks_flow(slide.blocks), canvas, MARGIN + width * 0.63, bottom + 8, width * 0.37,
            height)
    elif slide.images:
        fit([pictures(slide.images, width, height)], canvas, MARGIN, bottom + 8, width, height)
    elif slide.table is not None:
        fit([grid(slide.table, width)], canvas, MARGIN, bottom + 8, width, height)
    else:
        fit(blocks_flow(slide.blocks, 20), canvas, MARGIN, bottom + 8, width, height)


def render_pdf(slides: list[Slide], path: Path, lang: str, footer: str) -> Path:
    """Write the slides as a 16:9 landscape PDF, one message per page."""
    from brusim.io import atomic_write

    register_fonts()
    pages = paginate(slides, lang)

    def write(tmp: str) -> None:
        canvas = Canvas(tmp, pagesize=(PAGE_W, PAGE_H), pageCompression=1)
        canvas.setTitle(next((s.title for s in slides if s.kind == "title"), slides[0].title))
        canvas.setCreator("brusim")
        for k, slide in enumerate(pages, 1):
            draw_slide(canvas, slide, footer, k, len(pages))
            canvas.showPage()
        canvas.save()

    return atomic_write(path, write)
