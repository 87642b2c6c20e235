"""The brief's first pages: the answer (strategies side by side, each outcome with its interval
and a plain verdict), the difference map, and what we can and cannot say.

Every number is read from the comparison's tables: the budget (where dealing went), the paired
table (violence, public use, police hours) and the police cost table (hours per transaction
removed); the verdicts are the contrasts' own (`brusim.analysis.contrasts`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from brusim.analysis.contrasts import UNDECIDED
from brusim.reports.findings import contrast_text, counts_text, shown_as_counts, verdict_text
from brusim.reports.i18n import count_decimals, format_number, format_percent, tr
from brusim.reports.layout import Block, Slide, Table
from brusim.reports.results import Results, question_text, scenario_name

REGION_OUTCOMES = ("violent_incidents", "public_use", "police_hours")
BUDGET_OUTCOMES = ("target", "buffer", "receiver", "hotspots", "rest", "region")


@dataclass(frozen=True)
class Cell:
    """One outcome of one strategy: its text and its verdict (None for a quotient, which has
    no verdict of its own)."""

    text: str
    verdict: str | None


def budget_row(res: Results, scenario: str, kind: str) -> pd.Series:
    b = res.tables["budget"]
    b = b[(b["scenario"] == scenario) & (b["metric"] == "transactions") & (b["kind"] == kind)]
    return b.iloc[0]


def receiver(res: Results, scenario: str) -> pd.Series | None:
    """The named hotspot (or the surroundings' part of one) that gained most dealing, if any
    gained."""
    b = res.tables["budget"]
    b = b[(b["scenario"] == scenario) & (b["metric"] == "transactions")
          & b["kind"].isin(["hotspot", "buffer_hotspot"]) & (b["difference"] > 0)]
    if b.empty:
        return None
    return b.sort_values("difference", ascending=False, kind="stable").iloc[0]


def receiver_name(res: Results, row: pd.Series, lang: str) -> str:
    area = str(row["area"])
    if row["kind"] == "buffer_hotspot":
        return tr("answer_receiver_buffer", lang, name=res.name(area.split("/", 1)[1]))
    return res.name(area)


def budget_cell(res: Results, scenario: str, kind: str, lang: str) -> Cell:
    """Where dealing went: the target as a relative change (in events on a small base), the
    other areas in events; region-wide both."""
    if kind == "receiver":
        row = receiver(res, scenario)
        if row is None:
            return Cell(tr("answer_no_receiver", lang), None)
        return Cell(tr("answer_named", lang, name=receiver_name(res, row, lang),
                       value=counts_text(row, lang)), str(row["verdict"]))
    row = budget_row(res, scenario, kind)
    if kind == "target":
        text = contrast_text(row, lang)
    elif kind == "region":
        text = counts_text(row, lang)
        if not shown_as_counts(row):
            text += f" ({format_percent(float(row['relative']), lang, 1)})"
    else:
        text = counts_text(row, lang)
    return Cell(text, str(row["verdict"]))


def region_cell(res: Results, scenario: str, metric: str, lang: str) -> Cell:
    """A region-wide outcome from the paired table; an outcome that is the same in every run
    (e.g. the police hours a plan adds) is said so, not given a zero-width interval."""
    p = res.tables["paired"]
    row = p[(p["scenario"] == scenario) & (p["area_kind"] == "region") & (p["metric"] == metric)]
    if row.empty:
        return Cell(tr("not_defined", lang), None)
    row = row.iloc[0]
    if shown_as_counts(row):  # a small base: the counts themselves, then the difference
        base, new = float(row["baseline_mean"]), float(row["scenario_mean"])
        return Cell(tr("answer_from_to", lang, base=format_number(base, lang, count_decimals(base)),
                       new=format_number(new, lang, count_decimals(new)),
                       diff=counts_text(row, lang)), str(row["verdict"]))
    if row["difference_lo"] == row["difference_hi"]:
        diff = format_number(float(row["difference"]), lang, 0, signed=True)
        rel = ("" if shown_as_counts(row)
               else f" ({format_percent(float(row['relative']), lang, 1)})")
        return Cell(tr("answer_same_every_run", lang, value=diff + rel), str(row["verdict"]))
    return Cell(contrast_text(row, lang), str(row["verdict"]))


def cost_cell(res: Results, scenario: str, lang: str) -> Cell:
    """Police hours per transaction removed at the target, or why it is not defined."""
    cost = res.tables["police_cost"].set_index("scenario")
    if scenario not in cost.index or not bool(cost.loc[scenario, "defined"]):
        return Cell(tr("answer_no_reduction", lang), None)
    r = cost.loc[scenario]
    values = (r["hours_per_transaction_removed"], r["hours_per_transaction_removed_lo"],
              r["hours_per_transaction_removed_hi"])
    v, lo, hi = (format_number(float(x), lang, 2) for x in values)
    text = tr("value_ci", lang, value=v, lo=lo, hi=hi) if np.isfinite(values[1]) else v
    return Cell(tr("answer_hours_each", lang, value=text), None)


def answer_cells(res: Results, lang: str) -> dict[str, dict[str, Cell]]:
    """Outcome -> strategy -> `Cell`, in the order of the answer table."""
    out: dict[str, dict[str, Cell]] = {}
    for kind in BUDGET_OUTCOMES:
        out[kind] = {s: budget_cell(res, s, kind, lang) for s in res.others}
    for metric in REGION_OUTCOMES:
        out[metric] = {s: region_cell(res, s, metric, lang) for s in res.others}
    out["cost"] = {s: cost_cell(res, s, lang) for s in res.others}
    return out


def outcome_label(res: Results, outcome: str, lang: str) -> str:
    s = res.settings
    return tr(f"answer_row_{outcome}", lang, target=res.name(s.target),
              t=format_number(s.target_m, lang), i=format_number(s.buffer_inner_m, lang),
              o=format_number(s.buffer_outer_m, lang))


def answer_slide(res: Results, lang: str) -> Slide:
    """Strategies side by side: each outcome's value, its 95% interval and the verdict."""
    cells = answer_cells(res, lang)
    rows, muted = [], []
    for outcome, by_scenario in cells.items():
        row, grey = [outcome_label(res, outcome, lang)], [False]
        for scen in res.others:
            c = by_scenario[scen]
            row.append(c.text if c.verdict is None
                       else f"{c.text}\n{verdict_text(c.verdict, lang)}")
            grey.append(c.verdict == UNDECIDED)
        rows.append(row)
        muted.append(grey)
    header = [tr("answer_outcome", lang, n=res.window_weeks),
              *(scenario_name(s, lang) for s in res.others)]
    k = max(len(res.others), 1)
    widths = [3.6 if k <= 2 else 3.0, *([(12.8 - (3.6 if k <= 2 else 3.0)) / k] * k)]
    note = tr("answer_note", lang, r=res.settings.replications)
    table = Table(header, rows, widths, muted, rows_per_page=len(rows),
                  font_size=13 if k <= 2 else 11, small_after_first_line=True)
    return Slide(question_text(res, lang), table=table, note=note)


def difference_map_slide(res: Results, lang: str) -> Slide:
    note = tr("figure_language_note", lang) if lang != "en" else ""
    return Slide(tr("difference_map_title", lang), images=[
        (res.path / "figures" / "difference_map.png",
         tr("difference_map_caption", lang, n=res.window_weeks))], note=note)


HEADLINE_ROWS = {"target_transactions": "target", "region_transactions": "region",
                 "region_violent_incidents": "violent_incidents",
                 "region_public_use": "public_use", "region_police_hours": "police_hours"}


def last_round(res: Results) -> tuple[pd.DataFrame | None, float]:
    """The replications table's last round (None for a folder made before it was recorded)
    and the target half-width of the precision rule (`brusim.analysis.precision`)."""
    h = float((res.manifest.get("precision") or {}).get("target_half_width", 0.10))
    path = res.path / "replications.parquet"
    if not path.is_file():
        return None, h
    table = pd.read_parquet(path)
    return table[table["round"] == table["round"].max()], h


def precise_non_effects(res: Results) -> tuple[set[tuple[str, str]], float]:
    """(scenario, outcome) pairs whose headline is a precise non-effect (no clear difference,
    and its whole interval within the target half-width of no change:
    `brusim.analysis.precision`), and that half-width."""
    from brusim.analysis.precision import PRECISE

    last, h = last_round(res)
    if last is None:
        return set(), h
    last = last[last["reason"] == PRECISE]
    return {(r["scenario"], HEADLINE_ROWS[r["headline"]]) for _, r in last.iterrows()
            if r["headline"] in HEADLINE_ROWS}, h


def can_say(res: Results, cells: dict[str, dict[str, Cell]], lang: str) -> tuple[list[str],
                                                                                 list[str]]:
    """Per strategy, one sentence of what is clear (a clear change, or a precise non-effect)
    and one of what is not."""
    sep = " ; " if lang == "fr" else "; "
    precise, h = precise_non_effects(res)
    within = format_percent(h, lang, 0, signed=False)
    clear, unclear = [], []
    for scen in res.others:
        name = scenario_name(scen, lang)
        yes, no = [], []
        for o, c in cells.items():
            cell, label = c[scen], outcome_label(res, o, lang)
            if cell.verdict not in (None, UNDECIDED):
                yes.append(tr("answer_clause", lang, outcome=label, value=cell.text,
                              verdict=verdict_text(cell.verdict, lang)))
            elif (scen, o) in precise:
                yes.append(tr("answer_clause_precise", lang, outcome=label, value=cell.text,
                              h=within))
            elif cell.verdict == UNDECIDED:
                no.append(label)
        if yes:
            clear.append(tr("answer_can", lang, name=name, clauses=sep.join(yes)))
        if no:
            unclear.append(tr("answer_cannot", lang, name=name, outcomes=sep.join(no),
                              r=res.settings.replications))
    return clear, unclear


def precision_line(res: Results, lang: str) -> str | None:
    """How many runs the comparison used and which headlines they could not decide
    (`brusim.analysis.precision`: the replications table and the manifest's rule), or None for
    a folder made before it was recorded."""
    last, half_width = last_round(res)
    if last is None:
        return None
    seeds, rounds = int(last["seeds"].iloc[0]), int(last["round"].iloc[0])
    undecided = last[~last["decided"].astype(bool)]
    h = format_percent(half_width, lang, 0, signed=False)
    if undecided.empty:
        return tr("precision_decided", lang, seeds=seeds, rounds=rounds)
    sep = " ; " if lang == "fr" else "; "
    names = sep.join(f"{scenario_name(r['scenario'], lang)} – "
                     f"{outcome_label(res, HEADLINE_ROWS.get(r['headline'], r['headline']), lang)}"
                     if r["headline"] in HEADLINE_ROWS else f"{r['scenario']} {r['label']}"
                     for _, r in undecided.iterrows())
    key = ("precision_cap" if (res.manifest.get("precision") or {}).get("auto")
           else "precision_fixed")
    return tr(key, lang, seeds=seeds, rounds=rounds, n=len(undecided), total=len(last), h=h,
              names=names)


def limits(res: Results, lang: str) -> list[str]:
    """What no number in this brief can tell: how far demand and supply respond, how
    concentrated the model's dealing is, the spin-up's verdict and the placebo."""
    precision = precision_line(res, lang)
    lines = [*([precision] if precision else []), tr("answer_comparative", lang),
             tr("answer_demand_limits", lang)]
    conc = res.path / "concentration.parquet"
    if conc.is_file():  # the law of crime concentration: half of crime at 2.1-6% of streets
        table = pd.read_parquet(conc)
        base = table[(table["scenario"] == res.baseline) & (table["window"] == "after")]
        if "places_for_half" in base and base["places_for_half"].notna().any():
            share = float(base["places_for_half"].mean())
            if share < 0.021:
                lines.append(tr("answer_concentration_limit", lang,
                                pct=format_number(100 * share, lang, 2)))

    spin = res.path / "spinup.parquet"
    if spin.is_file():
        table = pd.read_parquet(spin)
        unsettled = int((~table["settled"].astype(bool)).sum())
        if unsettled:
            lines.append(tr("answer_unsettled", lang, n=unsettled, total=len(table)))
    placebo = res.tables["placebo"]
    placebo = placebo[(placebo["metric"] == "transactions") & (placebo["method"] == "contrast")]
    if not placebo.empty and bool(placebo.iloc[0]["defined"]):
        key = "answer_placebo_passes" if bool(placebo.iloc[0]["passes"]) else "answer_placebo_fails"
        lines.append(tr(key, lang))
    return lines


def can_cannot_slide(res: Results, lang: str) -> Slide:
    """What we can say (clear verdicts), what we cannot (no clear difference), and the limits
    of the model behind every number."""
    clear, unclear = can_say(res, answer_cells(res, lang), lang)
    blocks = [Block("heading", tr("answer_can_heading", lang)),
              Block("bullets", clear or [tr("answer_nothing_clear", lang)]),
              Block("heading", tr("answer_cannot_heading", lang)),
              Block("bullets", [*unclear, *limits(res, lang)])]
    return Slide(tr("answer_can_title", lang), blocks)


def answer_slides(res: Results, lang: str) -> list[Slide]:
    """The answer, the difference map, and what we can and cannot say."""
    return [answer_slide(res, lang), difference_map_slide(res, lang),
            can_cannot_slide(res, lang)]
