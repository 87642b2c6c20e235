"""The Security Council brief of a comparison: a self-contained HTML report and a landscape
slide PDF (16:9, one message per page) in English, French or Dutch.

Everything is generated from the tables and figures that `brusim compare` wrote into a results
folder; no conclusion is written by hand. The fixed text lives in ``i18n.yaml`` (key -> en, fr,
nl). The content is built once as a list of `Slide` objects and rendered twice: to PDF pages
with matplotlib (`render_pdf`) and to one HTML file with embedded images (`render_html`).

    build_report(Path("results/compare/2025-01-01_12-00-00"), lang="fr")
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import textwrap
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from string import Template

import numpy as np
import pandas as pd
import yaml
from matplotlib import rc_context
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.image import imread
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from brusim.errors import BrusimError

log = logging.getLogger(__name__)

LANGUAGES = ("en", "fr", "nl")
I18N_PATH = Path(__file__).with_name("i18n.yaml")
TEMPLATE_PATH = Path(__file__).with_name("templates") / "brief.html"
MINUS, NNBSP = "\u2212", "\u202f"
REQUIRED_TABLES = ("summary", "paired", "displacement_summary", "weekly_nodes")
SHARED_FIGURES = ("displacement_wdq.png", "police_hours_per_reduction.png",
                  "hotspot_timeseries.png")
REGION_FINDINGS = ("violent_incidents", "public_use", "police_hours", "outreach_contacts")
REGION_TABLE = ("transactions", "violent_incidents", "public_use", "outreach_contacts",
                "police_hours")
PARAMETER_PAGES = (("police", "courts", "population"), ("behaviour",))
ROWS_PER_PAGE = 8  # at most this many table rows per PDF page

# ------------------------------------------------------------------------------ text


@lru_cache(maxsize=1)
def load_i18n() -> dict[str, dict[str, str]]:
    """The fixed text of the brief: key -> {en, fr, nl}."""
    with open(I18N_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def check_language(lang: str) -> None:
    """Raise a `BrusimError` for a language the brief is not written in."""
    if lang not in LANGUAGES:
        raise BrusimError(f"unknown report language {lang!r}; use one of {', '.join(LANGUAGES)}")


def tr(key: str, lang: str, **values: object) -> str:
    """The text ``key`` in ``lang`` with ``{placeholders}`` filled from ``values``."""
    text = load_i18n()[key][lang]
    return text.format(**values) if values else text


def format_number(x: float | None, lang: str, decimals: int = 0, signed: bool = False) -> str:
    """A number for ``lang``: en ``1,234.5``, fr ``1 234,5`` (narrow no-break space), nl
    ``1.234,5``; a true minus sign; ``+`` for positive values when ``signed``."""
    if x is None or not math.isfinite(float(x)):
        return tr("not_defined", lang)
    r = round(float(x), decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    body = f"{abs(r):,.{decimals}f}"
    if lang == "fr":
        body = body.replace(",", NNBSP).replace(".", ",")
    elif lang == "nl":
        body = body.replace(",", "_").replace(".", ",").replace("_", ".")
    sign = MINUS if r < 0 else ("+" if signed and r > 0 else "")
    return sign + body


def format_percent(fraction: float | None, lang: str, decimals: int = 0,
                   signed: bool = True) -> str:
    """A fraction as a percentage for ``lang`` (``-0.61`` -> en ``−61%``, fr ``−61 %``)."""
    if fraction is None or not math.isfinite(float(fraction)):
        return tr("not_defined", lang)
    number = format_number(100 * float(fraction), lang, decimals, signed)
    return number + (f"{NNBSP}%" if lang == "fr" else "%")


def count_decimals(x: float) -> int:
    """Decimals to show for a count-like mean: none for large or whole numbers, else one."""
    return 0 if not math.isfinite(x) or abs(x) >= 100 or float(x).is_integer() else 1


def value_ci(values: tuple[float, float, float], lang: str, kind: str = "number",
             decimals: int = 0) -> str:
    """``value [lo to hi]`` in ``lang``. ``kind`` "percent": fractions shown as ``−61% [−67 to
    −55]``; "number": signed numbers. The interval is left out when it is not defined."""
    v, lo, hi = (float(x) for x in values)
    if kind == "percent":
        main = format_percent(v, lang, decimals)
        lo, hi = 100 * lo, 100 * hi
    else:
        main = format_number(v, lang, decimals, signed=True)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return main
    return tr("value_ci", lang, value=main, lo=format_number(lo, lang, decimals, signed=True),
              hi=format_number(hi, lang, decimals, signed=True))


# ------------------------------------------------------------------------------ results


@dataclass
class Results:
    """A comparison's results folder, read and checked."""

    path: Path
    settings: object  # brusim.experiments.compare.CompareSettings
    manifest: dict
    tables: dict[str, pd.DataFrame]
    config: dict  # resolved config of the first baseline run
    windows: dict  # {"before": [start, end], "after": [start, end]} in weeks
    names: dict[str, str]  # hotspot id -> display name

    @property
    def baseline(self) -> str:
        return self.settings.baseline

    @property
    def others(self) -> list[str]:
        """The scenarios compared with the baseline, in settings order."""
        return [s for s in self.settings.scenarios if s != self.baseline]

    @property
    def window_weeks(self) -> int:
        start, end = self.windows["after"]
        return int(end - start)

    def name(self, area: str) -> str:
        return self.names.get(area, area)


def _fix_hint(path: Path) -> str:
    return (f"re-run `brusim compare --config {path / 'settings.yaml'}` (the same settings) "
            "to complete it")


def load_results(results_dir: Path) -> Results:
    """Read a results folder made by `brusim compare`; a `BrusimError` names anything missing
    (files, tables, scenarios) and how to fix it."""
    from brusim.experiments.compare import load_settings, shard_complete, shard_dir

    path = Path(results_dir)
    if not (path / "settings.yaml").is_file():
        raise BrusimError(f"{path} is not a comparison results folder (no settings.yaml); "
                          "run `brusim compare` first and pass its output folder")
    settings = load_settings(path / "settings.yaml", [])
    missing = [f"{t}.parquet" for t in REQUIRED_TABLES if not (path / f"{t}.parquet").is_file()]
    missing += [f for f in ("manifest.json",) if not (path / f).is_file()]
    figures = [*SHARED_FIGURES, *(f"dealing_{s}.png" for s in settings.scenarios),
               *(f"change_{s}.png" for s in settings.scenarios if s != settings.baseline)]
    missing += [f"figures/{f}" for f in figures if not (path / "figures" / f).is_file()]
    if missing:
        raise BrusimError(f"results folder {path} is missing {', '.join(missing)}; "
                          + _fix_hint(path))
    tables = {t: pd.read_parquet(path / f"{t}.parquet") for t in REQUIRED_TABLES}
    seeds = range(settings.first_seed, settings.first_seed + settings.replications)
    problems = []
    for scen in settings.scenarios:
        where = [f"shards/{shard_dir(path, scen, k).name}" for k in seeds
                 if not shard_complete(shard_dir(path, scen, k))][:1]
        where += [f"{t}.parquet" for t in ("summary", "displacement_summary", "weekly_nodes")
                  if scen not in set(tables[t]["scenario"])]
        if scen != settings.baseline and scen not in set(tables["paired"]["scenario"]):
            where.append("paired.parquet")
        if where:
            problems.append(f"scenario {scen!r} (no {', '.join(where)})")
    if problems:
        raise BrusimError(f"results folder {path} is missing {'; '.join(problems)}; "
                          + _fix_hint(path))
    base = shard_dir(path, settings.baseline, settings.first_seed)
    config = yaml.safe_load((base / "config.yaml").read_text(encoding="utf-8"))
    shard_manifest = json.loads((base / "manifest.json").read_text(encoding="utf-8"))
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    return Results(path, settings, manifest, tables, config, shard_manifest["windows"],
                   hotspot_names(config))


def hotspot_names(config: dict) -> dict[str, str]:
    """Hotspot id -> display name from the places file of the run (ids if unavailable)."""
    from brusim.map.places import read_places

    try:
        places = read_places((config.get("map") or {}).get("places_file"))
    except BrusimError:
        return {}
    return {p.id: p.name for p in places["hotspots"]}


def scenario_description(res: Results, scenario: str, lang: str) -> str | None:
    """A short translated description of a known scenario (``a+b``: both joined), else the
    run's own (English) description, else None."""
    i18n = load_i18n()
    parts = scenario.split("+")
    if all(f"scenario_{p}" in i18n for p in parts):
        return " + ".join(tr(f"scenario_{p}", lang) for p in parts)
    cfg = res.path / "shards" / f"{scenario}__seed{res.settings.first_seed:04d}" / "config.yaml"
    if cfg.is_file():
        desc = (yaml.safe_load(cfg.read_text(encoding="utf-8")).get("scenario") or {})
        return desc.get("description")
    return None


def scenario_label(res: Results, scenario: str, lang: str) -> str:
    """``id (description)`` for the title page."""
    desc = scenario_description(res, scenario, lang)
    return f"{scenario} ({desc})" if desc else scenario


# ------------------------------------------------------------------------------ findings


@dataclass(frozen=True)
class Finding:
    """One key finding: a row of ``paired.parquet`` and the sentence that reports it.

    ``relative*`` are ``difference*/baseline_mean`` (NaN when the baseline mean is 0; the
    sentence then gives the absolute difference). ``clear`` is False when the 95% CI of the
    difference includes zero.
    """

    scenario: str
    group: str  # "hotspots" or "region"
    area_kind: str
    area: str
    metric: str
    baseline_mean: float
    difference: float
    difference_lo: float
    difference_hi: float
    relative: float
    relative_lo: float
    relative_hi: float
    clear: bool
    text: str


def finding_from_row(res: Results, row: pd.Series, group: str, lang: str) -> Finding:
    """Phrase one ``paired.parquet`` row as a model result, with its number and 95% CI."""
    base = float(row["baseline_mean"])
    diff, lo, hi = (float(row[c]) for c in ("difference", "difference_lo", "difference_hi"))
    rel = (diff / base, lo / base, hi / base) if base > 0 else (np.nan,) * 3
    value = (value_ci(rel, lang, "percent") if base > 0
             else value_ci((diff, lo, hi), lang, "number", count_decimals(diff)))
    desc = scenario_description(res, row["scenario"], lang)
    subject = (tr("subject", lang, id=row["scenario"], desc=desc) if desc
               else tr("subject_bare", lang, id=row["scenario"]))
    where = (tr("where_region", lang) if row["area_kind"] == "region"
             else tr("where_hotspot", lang, area=res.name(row["area"])))
    clear = not bool(row["crosses_zero"])
    text = tr("finding_clear" if clear else "finding_unclear", lang, subject=subject,
              metric=tr(f"metric_{row['metric']}", lang), where=where, value=value,
              base=format_number(base, lang, count_decimals(base)), n=res.window_weeks)
    return Finding(row["scenario"], group, row["area_kind"], row["area"], row["metric"], base,
                   diff, lo, hi, *rel, clear, text[0].upper() + text[1:])


def hotspot_rows(res: Results, scenario: str) -> pd.DataFrame:
    """Transactions rows for the findings: the target hotspot, then the 2-3 other hotspots
    with the largest paired change (a third only if its change is clear)."""
    p = res.tables["paired"]
    hs = p[(p["scenario"] == scenario) & (p["metric"] == "transactions")
           & (p["area_kind"] == "hotspot")]
    target = hs[hs["area"] == res.settings.target]
    rest = hs[(hs["area"] != res.settings.target)
              & ~((hs["baseline_mean"] == 0) & (hs["difference"] == 0))]
    rest = rest.assign(size=rest["difference"].abs()).sort_values(
        ["size", "baseline_mean"], ascending=False).head(3)
    if len(rest) == 3 and bool(rest.iloc[2]["crosses_zero"]):
        rest = rest.head(2)
    return pd.concat([target, rest.drop(columns="size")])


def findings(results: Path | Results, lang: str = "en") -> list[Finding]:
    """The key findings of every scenario against the baseline, in reading order: dealing at
    the target and the most-changed hotspots, then violence, public use, police hours and
    outreach contacts region-wide."""
    check_language(lang)
    res = results if isinstance(results, Results) else load_results(results)
    p = res.tables["paired"]
    out = []
    for scen in res.others:
        for _, row in hotspot_rows(res, scen).iterrows():
            out.append(finding_from_row(res, row, "hotspots", lang))
        region = p[(p["scenario"] == scen) & (p["area_kind"] == "region")].set_index("metric")
        for metric in REGION_FINDINGS:
            if metric in region.index:
                row = region.loc[metric].copy()
                row["metric"] = metric
                out.append(finding_from_row(res, row, "region", lang))
    return out


# ------------------------------------------------------------------------------ content


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
                                         "question", lang), text=res.settings.question))],
                 note=tr("model_note", lang), kind="title", facts=facts)


def finding_slides(res: Results, found: list[Finding], lang: str) -> list[Slide]:
    """Two slides per scenario: where dealing went, and the region-wide effects."""
    note = tr("findings_note", lang, n=res.window_weeks)
    slides = []
    for scen in res.others:
        for group, key in (("hotspots", "findings_hotspots_title"),
                           ("region", "findings_region_title")):
            texts = [f.text for f in found if f.scenario == scen and f.group == group]
            slides.append(Slide(tr(key, lang, scenario=scen),
                                [Block("bullets", texts or [tr("no_findings", lang)])],
                                note=note))
    return slides


def map_slides(res: Results, lang: str) -> list[Slide]:
    """Per scenario: where dealing was (and, against the baseline, where it moved)."""
    fig = res.path / "figures"
    dealing = tr("map_dealing", lang, n=res.window_weeks)
    note = tr("figure_language_note", lang) if lang != "en" else ""
    slides = [Slide(tr("maps_title_baseline", lang, scenario=res.baseline),
                    images=[(fig / f"dealing_{res.baseline}.png", dealing)], note=note)]
    for scen in res.others:
        slides.append(Slide(tr("maps_title", lang, scenario=scen), images=[
            (fig / f"dealing_{scen}.png", dealing),
            (fig / f"change_{scen}.png", tr("map_change", lang))], note=note))
    return slides


def hotspot_table(res: Results, scenario: str, lang: str) -> tuple[Table, list[str]]:
    """Before, after, change [CI] and relative change [CI] of transactions per hotspot (the
    target first, then by activity under the baseline), and the names of the hotspots without
    any dealing in either window (left out of the table)."""
    s = res.tables["summary"]
    tx = s[(s["metric"] == "transactions") & (s["area_kind"] == "hotspot")]
    order = (tx[tx["scenario"] == res.baseline].set_index("area")["before"]
             .sort_values(ascending=False, kind="stable").index.tolist())
    order = sorted(order, key=lambda a: a != res.settings.target)
    sub = tx[tx["scenario"] == scenario].set_index("area")
    rows, muted, empty = [], [], []
    for area in [a for a in order if a in sub.index]:
        r = sub.loc[area]
        if r["before"] == 0 and r["after"] == 0 and area != res.settings.target:
            empty.append(res.name(area))
            continue
        change = value_ci(r[["change", "change_lo", "change_hi"]], lang, "number",
                          count_decimals(r["change"]))
        rel = value_ci(r[["relative_change", "relative_change_lo", "relative_change_hi"]], lang,
                       "percent")
        rows.append([res.name(area), format_number(r["before"], lang, count_decimals(r["before"])),
                     format_number(r["after"], lang, count_decimals(r["after"])), change, rel])
        unclear = not r["change_lo"] > 0 and not r["change_hi"] < 0
        muted.append([False, False, False, unclear, unclear])
    header = [tr("hotspot", lang), tr("before", lang), tr("after", lang), tr("change", lang),
              tr("relative_change", lang)]
    return Table(header, rows, [3.8, 1.2, 1.2, 3.4, 3.0], muted), empty


def hotspot_slides(res: Results, lang: str) -> list[Slide]:
    """One table per scenario (long tables take several PDF pages)."""
    note = tr("hotspots_note", lang, n=res.window_weeks, r=res.settings.replications)
    slides = []
    for scen in res.settings.scenarios:
        table, empty = hotspot_table(res, scen, lang)
        extra = f" {tr('hotspots_empty', lang, names=', '.join(empty))}" if empty else ""
        slides.append(Slide(tr("hotspots_title", lang, scenario=scen), table=table,
                            note=note + extra))
    return slides


def displacement_slide(res: Results, lang: str) -> Slide:
    """WDQ and WDD per scenario with the standard interpretation, beside the WDQ figure."""
    d = res.tables["displacement_summary"].set_index("scenario")
    lines = []
    for scen in res.others:
        r = d.loc[scen]
        wdq = value_ci(r[["wdq", "wdq_lo", "wdq_hi"]], lang, "number", 2)
        wdd = value_ci(r[["wdd", "wdd_lo", "wdd_hi"]], lang, "number", 0)
        meaning = tr(f"wdq_{r['interpretation']}", lang)
        if (np.isfinite(r["wdq"]) and r["interpretation"] not in ("undefined", "no_target_gain")
                and r["wdq_lo"] <= 0 <= r["wdq_hi"]):
            meaning += " " + tr("wdq_unclear", lang)
        lines.append(tr("displacement_line", lang, scenario=scen, wdq=wdq, wdd=wdd,
                        meaning=meaning))
    s = res.settings
    target = res.name(s.target)
    note = tr("displacement_note", lang, t=format_number(s.target_m, lang), target=target,
              i=format_number(s.buffer_inner_m, lang), o=format_number(s.buffer_outer_m, lang))
    return Slide(tr("displacement_title", lang, target=target), [Block("bullets", lines)],
                 images=[(res.path / "figures" / "displacement_wdq.png", "")], note=note)


def region_table(res: Results, lang: str) -> Table:
    """Scenarios x region metrics: baseline totals, then relative differences [CI]."""
    s, p = res.tables["summary"], res.tables["paired"]
    base = s[(s["scenario"] == res.baseline) & (s["area_kind"] == "region")].set_index("metric")
    rows = [[res.baseline, *(format_number(base["after"].get(m, np.nan), lang,
                                           count_decimals(base["after"].get(m, np.nan)))
                             for m in REGION_TABLE)]]
    muted = [[False] * (len(REGION_TABLE) + 1)]
    for scen in res.others:
        reg = p[(p["scenario"] == scen) & (p["area_kind"] == "region")].set_index("metric")
        cells, grey = [scen], [False]
        for m in REGION_TABLE:
            if m not in reg.index:
                cells.append(tr("not_defined", lang))
                grey.append(False)
                continue
            r = reg.loc[m]
            b = r["baseline_mean"]
            diff = r[["difference", "difference_lo", "difference_hi"]].to_numpy(dtype=float)
            text = (value_ci(diff / b, lang, "percent") if b > 0
                    else value_ci(diff, lang, "number", count_decimals(diff[0])))
            cells.append(text.replace(" [", "\n[", 1))
            grey.append(bool(r["crosses_zero"]))
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
            *params, Slide(tr("sources_title", lang), sources)]


def build_slides(res: Results, lang: str, animation: list[Path] = ()) -> list[Slide]:
    """The whole brief as slides, in order."""
    return [title_slide(res, lang), *finding_slides(res, findings(res, lang), lang),
            *map_slides(res, lang), *hotspot_slides(res, lang), displacement_slide(res, lang),
            *figure_slides(res, lang, list(animation)), *closing_slides(res, lang)]


def paginate(slides: list[Slide], lang: str) -> list[Slide]:
    """PDF pages: slides with long tables split into pages of at most `ROWS_PER_PAGE` rows;
    HTML-only slides dropped."""
    pages = []
    for s in slides:
        if s.kind == "html":
            continue
        if s.table is None or len(s.table.rows) <= ROWS_PER_PAGE:
            pages.append(s)
            continue
        n = math.ceil(len(s.table.rows) / ROWS_PER_PAGE)
        per = math.ceil(len(s.table.rows) / n)  # balanced pages
        for k in range(n):
            part = slice(k * per, (k + 1) * per)
            table = Table(s.table.header, s.table.rows[part], s.table.widths, s.table.muted[part])
            pages.append(Slide(f"{s.title} {tr('page_part', lang, k=k + 1, n=n)}", s.blocks,
                               table, s.images, s.note, s.kind))
    return pages


# ------------------------------------------------------------------------------ PDF

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


# ------------------------------------------------------------------------------ HTML


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


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{_html_text(h)}</th>" for h in t.header)
    rows = []
    for i, row in enumerate(t.rows):
        cells = "".join(
            f'<td class="{"muted" if t.muted and t.muted[i][j] else ""}">{_html_text(c)}</td>'
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
    page = Template(TEMPLATE_PATH.read_text(encoding="utf-8")).substitute(
        lang=lang, title=html.escape(slides[0].title),
        body="\n".join([sections[0], nav, *sections[1:]]), footer=html.escape(footer))
    return write_text(path, page)


# ------------------------------------------------------------------------------ entry point


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
