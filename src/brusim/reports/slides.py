"""The brief's content as a list of `Slide` objects (title, findings, maps, tables, figures,
parameters), built once and rendered to PDF (`brusim.reports.pdf`) and HTML
(`brusim.reports.html`)."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from brusim.analysis.budget import CONTROL_M
from brusim.analysis.contrasts import MIN_BASE, UNDECIDED
from brusim.reports.answer import answer_slides
from brusim.reports.findings import (
    Finding,
    contrast_text,
    counts_text,
    findings,
    shown_as_counts,
    verdict_text,
)
from brusim.reports.i18n import count_decimals, format_number, tr, value_ci
from brusim.reports.layout import Block, Slide, Table
from brusim.reports.results import Results, question_text, scenario_label, scenario_name

REGION_TABLE = ("transactions", "violent_incidents", "public_use", "outreach_contacts",
                "police_hours")
PARAMETER_PAGES = (("police", "courts", "population"), ("behaviour",))
ROWS_PER_PAGE = 8  # at most this many table rows per PDF page
BUDGET_DETAIL = 3  # hotspots shown "of which" on a budget slide (5 other rows: one page)


def title_slide(res: Results, lang: str) -> Slide:
    """The question, the scenarios, horizon, replications, date, version and config hash."""
    import brusim

    w, m = res.windows, res.manifest
    weeks = m.get("weeks", res.config.get("weeks"))
    facts = [
        (tr("scenarios_compared", lang), "; ".join(scenario_label(res, s, lang)
                                                   for s in res.settings.scenarios)),
        (tr("horizon", lang), tr("horizon_value", lang, weeks=format_number(weeks, lang),
                                 start=format_number(m.get("intervention_week"), lang),
                                 b0=w["before"][0] + 1, b1=w["before"][1],
                                 a0=w["after"][0] + 1, a1=w["after"][1])),
        (tr("replications", lang), tr("replications_value", lang, n=res.settings.replications)),
        (tr("street_map", lang), str((m.get("map") or {}).get("name", ""))),
        (tr("date", lang), str(m.get("started", ""))[:10]),
        (tr("version", lang), brusim.__version__),
        (tr("config_hash", lang), str(m.get("config_hash", ""))),
    ]
    return Slide(tr("title", lang), [Block("text", tr("subtitle", lang)),
                                     Block("heading", tr("labelled", lang, label=tr(
                                         "question", lang), text=question_text(res, lang)))],
                 note=tr("model_note", lang), kind="title", facts=facts)


def finding_slides(res: Results, found: list[Finding], lang: str) -> list[Slide]:
    """Two slides per scenario: where dealing went, and the region-wide effects."""
    note = tr("findings_note", lang, n=res.window_weeks)
    slides = []
    for scen in res.others:
        for group, key in (("hotspots", "findings_hotspots_title"),
                           ("region", "findings_region_title")):
            texts = [f.text for f in found if f.scenario == scen and f.group == group]
            slides.append(Slide(tr(key, lang, scenario=scenario_name(scen, lang)),
                                [Block("bullets", texts or [tr("no_findings", lang)])],
                                note=note))
    return slides


def map_slides(res: Results, lang: str) -> list[Slide]:
    """Per scenario: where dealing was (and, against the baseline, where it moved)."""
    fig = res.path / "figures"
    dealing = tr("map_dealing", lang, n=res.window_weeks)
    note = tr("figure_language_note", lang) if lang != "en" else ""
    slides = [Slide(tr("maps_title_baseline", lang, scenario=scenario_name(res.baseline, lang)),
                    images=[(fig / f"dealing_{res.baseline}.png", dealing)], note=note)]
    for scen in res.others:
        slides.append(Slide(tr("maps_title", lang, scenario=scenario_name(scen, lang)), images=[
            (fig / f"dealing_{scen}.png", dealing),
            (fig / f"change_{scen}.png", tr("map_change", lang))], note=note))
    return slides


def hotspot_table(res: Results, scenario: str, lang: str) -> tuple[Table, list[str]]:
    """Transactions per hotspot in the window after the intervention: business as usual, the
    scenario (means a run), and the paired contrast (difference [CI], relative change [CI], in
    events on a small base); the target first, then by business-as-usual activity. Also the
    names of the hotspots without any dealing in either scenario (left out of the table)."""
    p = res.tables["paired"]
    tx = p[(p["scenario"] == scenario) & (p["metric"] == "transactions")
           & (p["area_kind"] == "hotspot")].set_index("area")
    order = tx["baseline_mean"].sort_values(ascending=False, kind="stable").index.tolist()
    order = sorted(order, key=lambda a: a != res.settings.target)
    rows, muted, empty = [], [], []
    for area in order:
        r = tx.loc[area]
        if r["baseline_mean"] == 0 and r["scenario_mean"] == 0 and area != res.settings.target:
            empty.append(res.name(area))
            continue
        diff = counts_text(r, lang)
        rel = (tr("small_base", lang) if shown_as_counts(r) else contrast_text(r, lang))
        rows.append([res.name(area),
                     format_number(r["baseline_mean"], lang, count_decimals(r["baseline_mean"])),
                     format_number(r["scenario_mean"], lang, count_decimals(r["scenario_mean"])),
                     diff, rel])
        unclear = r["verdict"] == UNDECIDED
        muted.append([False, False, False, unclear, unclear])
    header = [tr("hotspot", lang), tr("col_baseline", lang), tr("col_scenario", lang),
              tr("difference", lang), tr("relative_change", lang)]
    return Table(header, rows, [3.8, 1.6, 1.6, 3.2, 3.0], muted), empty


def hotspot_slides(res: Results, lang: str) -> list[Slide]:
    """One table per scenario against business as usual (long tables take several PDF
    pages)."""
    note = tr("hotspots_note", lang, n=res.window_weeks, r=res.settings.replications,
              m=format_number(MIN_BASE, lang))
    slides = []
    for scen in res.others:
        table, empty = hotspot_table(res, scen, lang)
        extra = f" {tr('hotspots_empty', lang, names=', '.join(empty))}" if empty else ""
        slides.append(Slide(tr("hotspots_title", lang, scenario=scenario_name(scen, lang)),
                            table=table, note=note + extra))
    return slides


def budget_rows(budget: pd.DataFrame, scenario: str, metric: str = "transactions",
                detail: int = BUDGET_DETAIL) -> list[tuple[pd.Series, bool]]:
    """The rows of a scenario's budget slide, ``(row, of_which)``: the target, the buffer and
    (of which) up to ``detail`` hotspots' parts of it with the largest change, the other
    hotspots together and (of which) up to ``detail`` of them, the rest of the region and the
    region-wide total. The rows that are not "of which" add up to the last one."""
    b = budget[(budget["scenario"] == scenario) & (budget["metric"] == metric)]
    one = {kind: b[b["kind"] == kind].iloc[0] for kind in ("target", "buffer", "hotspots",
                                                           "rest", "region")}

    def largest(kind: str) -> list[tuple[pd.Series, bool]]:
        rows = b[(b["kind"] == kind) & (b["difference"] != 0)]
        rows = rows.assign(size=rows["difference"].abs()).sort_values("size", ascending=False,
                                                                      kind="stable")
        return [(r.drop("size"), True) for _, r in rows.head(detail).iterrows()]

    return [(one["target"], False), (one["buffer"], False), *largest("buffer_hotspot"),
            (one["hotspots"], False), *largest("hotspot"),
            (one["rest"], False), (one["region"], False)]


def budget_label(res: Results, row: pd.Series, lang: str, hotspots: int) -> str:
    """How a budget row is named on the slide."""
    s = res.settings
    labels = {
        "target": lambda: tr("budget_target", lang, target=res.name(row["area"]),
                             t=format_number(s.target_m, lang)),
        "buffer": lambda: tr("budget_buffer", lang, i=format_number(s.buffer_inner_m, lang),
                             o=format_number(s.buffer_outer_m, lang)),
        "hotspots": lambda: tr("budget_hotspots", lang, n=hotspots),
        "hotspot": lambda: tr("budget_of_which", lang, name=res.name(row["area"])),
        "buffer_hotspot": lambda: tr("budget_of_which", lang,
                                     name=res.name(str(row["area"]).split("/", 1)[1])),
        "rest": lambda: tr("budget_rest", lang),
        "region": lambda: tr("budget_region", lang),
    }
    return labels[row["kind"]]()


def budget_table(res: Results, scenario: str, lang: str) -> Table:
    """A scenario's budget of transactions (the ``budget`` table): area, business as usual,
    scenario (means a run), the difference with its 95% interval and the verdict."""
    budget = res.tables["budget"]
    b = budget[(budget["scenario"] == scenario) & (budget["metric"] == "transactions")]
    hotspots = int(((b["kind"] == "hotspot") & (b["nodes"] > 0)).sum())
    rows, muted = [], []
    for r, _of_which in budget_rows(budget, scenario):
        diff = counts_text(r, lang)
        verdict = verdict_text(r["verdict"], lang)
        rows.append([budget_label(res, r, lang, hotspots),
                     format_number(r["baseline_mean"], lang, count_decimals(r["baseline_mean"])),
                     format_number(r["scenario_mean"], lang, count_decimals(r["scenario_mean"])),
                     diff, verdict])
        unclear = r["verdict"] == UNDECIDED
        muted.append([False, False, False, unclear, unclear])
    header = [tr("budget_area", lang), tr("col_baseline", lang), tr("col_scenario", lang),
              tr("difference", lang), tr("budget_verdict", lang)]
    return Table(header, rows, [4.2, 1.5, 1.5, 4.0, 2.4], muted, rows_per_page=len(rows),
                 font_size=13)


def budget_slides(res: Results, lang: str) -> list[Slide]:
    """Where the market went: every scenario's budget as a figure, then per scenario the table
    that adds up to the region-wide change."""
    note = tr("budget_note", lang, n=res.window_weeks, r=res.settings.replications)
    figure_note = tr("figure_language_note", lang) if lang != "en" else ""
    overview = Slide(tr("budget_figure_title", lang), images=[
        (res.path / "figures" / "budget.png", tr("budget_figure_caption", lang,
                                                 n=res.window_weeks))], note=figure_note)
    return [overview, *(Slide(tr("budget_title", lang, scenario=scenario_name(scen, lang)),
                              table=budget_table(res, scen, lang), note=note)
                        for scen in res.others)]


def quotient_decimals(x: float) -> int:
    """Decimals for a quotient such as the WDQ: 2 below 10 in size, else none."""
    return 2 if np.isfinite(x) and abs(x) < 10 else 0


def placebo_lines(res: Results, lang: str) -> list[str]:
    """The placebo of the transactions (business as usual against itself), read as the
    scenarios are and by the former before/after reading."""
    p = res.tables["placebo"]
    p = p[p["metric"] == "transactions"].set_index("method")
    lines = []
    for method, key in (("contrast", "placebo_line"), ("before_after", "placebo_former")):
        if method not in p.index:
            continue
        r = p.loc[method]
        verdict = tr("placebo_undefined" if not bool(r["defined"]) else
                     "placebo_passes" if bool(r["passes"]) else "placebo_fails", lang)
        lines.append(tr(key, lang, wdq=value_ci(r[["wdq", "wdq_lo", "wdq_hi"]], lang,
                                                "number", quotient_decimals(r["wdq"])),
                        tne=value_ci(r[["tne", "tne_lo", "tne_hi"]], lang, "number", 0),
                        change=value_ci(r[["target_change", "target_change_lo",
                                           "target_change_hi"]], lang, "number", 2),
                        verdict=verdict))
    return lines


def control_text(res: Results, summary: pd.DataFrame, lang: str) -> str:
    """The comparison area of the literature's statistics, in words (`budget.choose_control`)."""
    if summary.empty:
        return tr("not_defined", lang)
    first = summary.iloc[0]
    km = format_number(CONTROL_M / 1000, lang)
    names = ", ".join(res.name(a) for a in str(first["control"]).split(", ") if a)
    return tr(f"control_{first['control_rule']}", lang, km=km, names=names)


def displacement_slide(res: Results, lang: str) -> Slide:
    """For comparison with the literature: WDQ, TNE and WDD of the transactions per scenario,
    read from the paired contrasts, with the standard interpretation; then the placebo; beside
    the WDQ figure."""
    d = res.tables["displacement_summary"]
    d = d[d["metric"] == "transactions"].set_index("scenario")
    lines = []
    for scen in res.others:
        r = d.loc[scen]
        wdq = value_ci(r[["wdq", "wdq_lo", "wdq_hi"]], lang, "number", quotient_decimals(r["wdq"]))
        tne = value_ci(r[["tne", "tne_lo", "tne_hi"]], lang, "number", 0)
        wdd = value_ci(r[["wdd", "wdd_lo", "wdd_hi"]], lang, "number", 0)
        meaning = tr(f"wdq_{r['interpretation']}", lang)
        if (np.isfinite(r["wdq"]) and r["interpretation"] not in ("undefined", "no_target_gain")
                and r["wdq_lo"] <= 0 <= r["wdq_hi"]):
            meaning += " " + tr("wdq_unclear", lang)
        if bool(r["control_changed"]):
            meaning += " " + tr("displacement_control_changed", lang)
        lines.append(tr("displacement_line", lang, scenario=scenario_name(scen, lang),
                        wdq=wdq, tne=tne, wdd=wdd,
                        pooled=format_number(r["wdq_pooled"], lang,
                                             quotient_decimals(r["wdq_pooled"])),
                        meaning=meaning))
    lines += placebo_lines(res, lang)
    s = res.settings
    target = res.name(s.target)
    note = tr("displacement_note", lang, t=format_number(s.target_m, lang), target=target,
              i=format_number(s.buffer_inner_m, lang), o=format_number(s.buffer_outer_m, lang),
              control=control_text(res, d, lang))
    return Slide(tr("displacement_title", lang, target=target), [Block("bullets", lines)],
                 images=[(res.path / "figures" / "displacement_wdq.png", "")], note=note)


def region_table(res: Results, lang: str) -> Table:
    """Scenarios x region metrics: baseline totals, then relative differences [CI]."""
    s, p = res.tables["summary"], res.tables["paired"]
    base = s[(s["scenario"] == res.baseline) & (s["area_kind"] == "region")].set_index("metric")
    rows = [[scenario_name(res.baseline, lang), *(format_number(base["after"].get(m, np.nan), lang,
                                           count_decimals(base["after"].get(m, np.nan)))
                             for m in REGION_TABLE)]]
    muted = [[False] * (len(REGION_TABLE) + 1)]
    for scen in res.others:
        reg = p[(p["scenario"] == scen) & (p["area_kind"] == "region")].set_index("metric")
        cells, grey = [scenario_name(scen, lang)], [False]
        for m in REGION_TABLE:
            if m not in reg.index:
                cells.append(tr("not_defined", lang))
                grey.append(False)
                continue
            cells.append(contrast_text(reg.loc[m], lang).replace(" [", "\n[", 1))
            grey.append(reg.loc[m, "verdict"] == UNDECIDED)
        rows.append(cells)
        muted.append(grey)
    header = [tr("scenario", lang), *(tr(f"col_{m}", lang) for m in REGION_TABLE)]
    return Table(header, rows, [2.4, *([2.0] * len(REGION_TABLE))], muted)


def figure_slides(res: Results, lang: str, animation: list[Path]) -> list[Slide]:
    """Region table, police hours per reduction, hotspot time series and the animation."""
    fig = res.path / "figures"
    target = res.name(res.settings.target)
    note = tr("figure_language_note", lang) if lang != "en" else ""
    slides = [
        Slide(tr("region_title", lang), table=region_table(res, lang),
              note=tr("region_note", lang, n=res.window_weeks)),
        Slide(tr("police_title", lang, target=target), images=[
            (fig / "police_hours_per_reduction.png", tr("police_note", lang))], note=note),
        Slide(tr("timeseries_title", lang), images=[
            (fig / "hotspot_timeseries.png", tr("timeseries_note", lang))], note=note),
    ]
    gif = [p for p in animation if p.suffix == ".gif"]
    if gif:
        files = ", ".join(p.name for p in animation)
        slides.append(Slide(tr("animation_title", lang), images=[(gif[0], "")], kind="html",
                            note=tr("animation_files", lang, files=files)))
    return slides


def _leaves(prefix: str, node: object):
    """``(dotted.path, value)`` for every leaf of a nested dict (empty dicts are leaves)."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(f"{prefix}.{key}", value)
    else:
        yield prefix, node


def parameter_lines(config: dict, sections: tuple[str, ...]) -> list[tuple[str, bool]]:
    """``(text, is_heading)`` lines of the values in ``sections`` of the config, one heading
    per group (e.g. ``behaviour.dealers``) and ``name: value`` lines."""
    lines: list[tuple[str, bool]] = []
    parent = None
    for section in sections:
        for path, value in _leaves(section, config.get(section) or {}):
            head, _, key = path.rpartition(".")
            if head != parent:
                lines.append((head.replace(".", " › "), True))
                parent = head
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            lines.append((textwrap.shorten(f"{key}: {text}".replace('"', ""), 44,
                                           placeholder=" …"), False))
    return lines


def closing_slides(res: Results, lang: str) -> list[Slide]:
    """Assumptions and limitations, parameters appendix, data sources and reproduction."""
    weeks = format_number(res.manifest.get("weeks", res.config.get("weeks")), lang)
    keys = ("assumption_comparative", "assumption_no_fit", "assumption_behaviour",
            "assumption_police", "assumption_population", "assumption_uncertainty",
            "assumption_horizon")
    assumptions = [tr(k, lang, r=res.settings.replications, weeks=weeks) for k in keys]
    n = len(PARAMETER_PAGES)
    params = [Slide(tr("parameters_title", lang, seed=res.settings.first_seed) + " "
                    + tr("page_part", lang, k=k + 1, n=n),
                    [Block("heading" if head else "code", text)
                     for text, head in parameter_lines(res.config, sections)], kind="params")
              for k, sections in enumerate(PARAMETER_PAGES)]
    settings = res.path / "settings.yaml"
    map_info = res.manifest.get("map") or {}
    sources = [
        Block("heading", tr("sources_heading", lang)),
        Block("bullets", [tr(k, lang) for k in ("source_osm", "source_statbel",
                                                  "source_transit", "source_hotspots")]),
        Block("heading", tr("reproduce_heading", lang)),
        Block("text", tr("reproduce_text", lang)),
        Block("code", [f"brusim compare --config {settings}"]),
        Block("text", tr("reproduce_map", lang, name=map_info.get("name", "?"),
                         sha=str(map_info.get("source_sha256", "?"))[:16])),
        Block("text", tr("reproduce_report", lang)),
        Block("code", [f"brusim report {res.path} --lang {lang}"]),
    ]
    return [Slide(tr("assumptions_title", lang), [Block("bullets", assumptions)]),
            *spinup_slides(res, lang), *params, Slide(tr("sources_title", lang), sources)]


def spinup_slides(res: Results, lang: str) -> list[Slide]:
    """Appendix: how each seed's business as usual was spun up before the runs began, the
    rule's verdict and the weekly series it judged."""
    path = res.path / "spinup.parquet"
    if not path.is_file():
        return []
    table = pd.read_parquet(path)
    yes, no = tr("spinup_settled_yes", lang), tr("spinup_settled_no", lang)
    rows = [[str(int(r.seed)), str(int(r.weeks)),
             (yes.format(week=int(r.settled_week)) if r.settled else no)]
            for r in table.itertuples()]
    unsettled = int((~table["settled"].astype(bool)).sum())
    note = tr("spinup_rule", lang, rule=str(table["rule"].iloc[0]))
    if unsettled:
        note += " " + tr("spinup_unsettled", lang, n=unsettled, total=len(table))
    fig = res.path / "figures" / "spinup.png"
    return [Slide(tr("spinup_title", lang),
                  table=Table([tr("spinup_seed", lang), tr("spinup_weeks", lang),
                               tr("spinup_verdict", lang)], rows, [0.2, 0.2, 0.6],
                              [[False, False, not r.settled] for r in table.itertuples()]),
                  images=[(fig, "")] if fig.is_file() else [], note=note)]


def build_slides(res: Results, lang: str, animation: list[Path] = ()) -> list[Slide]:
    """The whole brief as slides, in order: the answer first (the table, the difference map,
    what we can and cannot say), then the title page with the question and the settings."""
    return [*answer_slides(res, lang), title_slide(res, lang),
            *finding_slides(res, findings(res, lang), lang),
            *map_slides(res, lang), *hotspot_slides(res, lang), *budget_slides(res, lang),
            displacement_slide(res, lang),
            *figure_slides(res, lang, list(animation)), *closing_slides(res, lang)]


def paginate(slides: list[Slide], lang: str) -> list[Slide]:
    """PDF pages: slides with long tables split into pages of at most `ROWS_PER_PAGE` rows;
    HTML-only slides dropped."""
    pages = []
    for s in slides:
        if s.kind == "html":
            continue
        limit = (s.table.rows_per_page or ROWS_PER_PAGE) if s.table is not None else 0
        if s.table is None or len(s.table.rows) <= limit:
            pages.append(s)
            continue
        n = math.ceil(len(s.table.rows) / limit)
        per = math.ceil(len(s.table.rows) / n)  # balanced pages
        for k in range(n):
            part = slice(k * per, (k + 1) * per)
            table = Table(s.table.header, s.table.rows[part], s.table.widths, s.table.muted[part])
            pages.append(Slide(f"{s.title} {tr('page_part', lang, k=k + 1, n=n)}", s.blocks,
                               table, s.images, s.note, s.kind))
    return pages
