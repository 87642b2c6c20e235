"""The brief as one self-contained HTML file (images embedded as data URIs)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from string import Template

from brusim.reports.i18n import tr
from brusim.reports.layout import Block, Slide, Table

TEMPLATE_PATH = Path(__file__).with_name("templates") / "brief.html"


def data_uri(path: Path) -> str:
    """The file as a ``data:`` URI (PNG or GIF), so the HTML needs no other file."""
    mime = {".png": "image/png", ".gif": "image/gif"}[path.suffix.lower()]
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _html_text(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def _html_blocks(blocks: list[Block]) -> str:
    parts = []
    for b in blocks:
        items = b.content if isinstance(b.content, list) else [b.content]
        if b.kind == "bullets":
            parts.append("<ul>" + "".join(f"<li>{_html_text(i)}</li>" for i in items) + "</ul>")
        elif b.kind == "code":
            parts.append("".join(f"<pre><code>{html.escape(i)}</code></pre>" for i in items))
        elif b.kind == "heading":
            parts.append(f"<h3>{_html_text(items[0])}</h3>")
        else:
            parts.append(f"<p>{_html_text(items[0])}</p>")
    return "\n".join(parts)


def _html_cell(text: str, small_after_first_line: bool) -> str:
    """A cell's text; with ``small_after_first_line`` (as in the PDF) its later lines follow
    the first, smaller, after a dot."""
    if not small_after_first_line or "\n" not in text:
        return _html_text(text)
    first, rest = text.split("\n", 1)
    return f"{_html_text(first)} <small>· {_html_text(rest)}</small>"


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{_html_text(h)}</th>" for h in t.header)
    rows = []
    for i, row in enumerate(t.rows):
        cells = "".join(
            f'<td class="{"muted" if t.muted and t.muted[i][j] else ""}">'
            f'{_html_cell(c, t.small_after_first_line and j > 0)}</td>'
            for j, c in enumerate(row))
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _html_images(images: list[tuple[Path, str]]) -> str:
    figs = "".join(f'<figure><img src="{data_uri(p)}" alt="{html.escape(c or p.stem)}">'
                   f"<figcaption>{html.escape(c)}</figcaption></figure>" for p, c in images)
    return f'<div class="figs n{len(images)}">{figs}</div>'


def _html_params(blocks: list[Block]) -> str:
    parts = [f"<h4>{html.escape(b.content)}</h4>" if b.kind == "heading"
             else f"<code>{html.escape(b.content)}</code>" for b in blocks]
    return f'<div class="params">{"".join(parts)}</div>'


def html_section(slide: Slide, index: int) -> str:
    """One slide as an HTML ``<section>``."""
    if slide.kind == "title":
        facts = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>"
                        for k, v in slide.facts)
        return (f'<header id="s{index}"><h1>{html.escape(slide.title)}</h1>'
                f'<p class="subtitle">{html.escape(slide.blocks[0].content)}</p>'
                f'<p class="question">{html.escape(slide.blocks[1].content)}</p>'
                f'<dl>{facts}</dl><p class="note">{html.escape(slide.note)}</p></header>')
    body = _html_params(slide.blocks) if slide.kind == "params" else _html_blocks(slide.blocks)
    if slide.table is not None:
        body += _html_table(slide.table)
    if slide.images:
        body += _html_images(slide.images)
    note = f'<p class="note">{_html_text(slide.note)}</p>' if slide.note else ""
    return (f'<section id="s{index}"><h2>{html.escape(slide.title)}</h2>\n{body}\n{note}'
            "</section>")


def render_html(slides: list[Slide], path: Path, lang: str, footer: str) -> Path:
    """Write one self-contained HTML file (styles inline, images as data URIs)."""
    from brusim.io import write_text

    toc = "".join(f'<li><a href="#s{i}">{html.escape(s.title)}</a></li>'
                  for i, s in enumerate(slides) if i > 0)
    sections = [html_section(s, i) for i, s in enumerate(slides)]
    nav = f"<nav><h2>{html.escape(tr('contents', lang))}</h2><ol>{toc}</ol></nav>"
    doc_title = next((s.title for s in slides if s.kind == "title"), slides[0].title)
    page = Template(TEMPLATE_PATH.read_text(encoding="utf-8")).substitute(
        lang=lang, title=html.escape(doc_title),
        body="\n".join([sections[0], nav, *sections[1:]]), footer=html.escape(footer))
    return write_text(path, page)
