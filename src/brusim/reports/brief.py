"""The Security Council brief of a comparison: a self-contained HTML report and a landscape
slide PDF (16:9, one message per page) in English, French or Dutch.

Everything is generated from the tables and figures that `brusim compare` wrote into a results
folder; no conclusion is written by hand. The pieces, one module each: the folder's tables
(`brusim.reports.results`), the fixed text and number formats in each language
(`brusim.reports.i18n`, ``i18n.yaml``), the findings (`brusim.reports.findings`), the content
as a list of slides (`brusim.reports.slides`), rendered twice: to PDF pages
(`brusim.reports.pdf_report`) and to one HTML file with embedded images
(`brusim.reports.html_report`).

    build_report(Path("results/compare/2025-01-01_12-00-00"), lang="fr")
"""

from __future__ import annotations

import logging
from pathlib import Path

from brusim.errors import BrusimError
from brusim.reports.html_report import render_html
from brusim.reports.i18n import check_language, tr
from brusim.reports.pdf_report import render_pdf
from brusim.reports.results import load_results
from brusim.reports.slides import build_slides

log = logging.getLogger(__name__)


def build_report(results_dir: Path, lang: str = "en") -> list[Path]:
    """Write ``brief_<lang>.html``, ``brief_<lang>.pdf`` and the animated map into
    ``results_dir/report`` and return their paths. A `BrusimError` names anything missing."""
    import brusim
    from brusim.reports.animation import build_animation

    check_language(lang)
    res = load_results(Path(results_dir))
    out = res.path / "report"
    out.mkdir(exist_ok=True)
    try:
        animation = build_animation(res, out, lang)
    except BrusimError as exc:  # e.g. the street map is not available here
        log.warning("animated map skipped: %s", exc)
        animation = []
    slides = build_slides(res, lang, animation)
    footer = tr("footer", lang, version=brusim.__version__,
                hash=res.manifest.get("config_hash", "?"))
    return [render_html(slides, out / f"brief_{lang}.html", lang, footer),
            render_pdf(slides, out / f"brief_{lang}.pdf", lang, footer), *animation]
