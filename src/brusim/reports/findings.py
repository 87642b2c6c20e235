"""The brief's findings: one sentence per scenario and outcome, worded from the paired
contrasts (never written by hand)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from brusim.analysis.contrasts import UNDECIDED
from brusim.reports.i18n import check_language, count_decimals, format_number, tr, value_ci
from brusim.reports.results import Results, load_results, scenario_description, scenario_name

REGION_FINDINGS = ("violent_incidents", "public_use", "police_hours", "outreach_contacts")


@dataclass(frozen=True)
class Finding:
    """One key finding: a row of ``paired.parquet`` and the sentence that reports it.

    ``relative*`` are the paired contrast's ratio of sums - 1 and its log-scale interval (NaN
    on a small base, when the sentence gives the difference in events instead). ``clear`` is
    the contrast's verdict: the difference's interval excludes zero and the ratio's excludes 1.
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


def shown_as_counts(row: pd.Series) -> bool:
    """Whether a ``paired.parquet`` row is read in events, not as a percentage: a small base
    (`brusim.analysis.contrasts.MIN_BASE`) or no ratio at all (a baseline of zero)."""
    return bool(row["small_base"]) or not np.isfinite(float(row["relative"]))


def counts_text(row: pd.Series, lang: str) -> str:
    """A contrast row's difference in events with its interval, ``+12 [+3 to +21]``."""
    diff = tuple(float(row[c]) for c in ("difference", "difference_lo", "difference_hi"))
    return value_ci(diff, lang, "number", count_decimals(diff[0]))


def verdict_text(verdict: str, lang: str) -> str:
    """A contrast's verdict (`brusim.analysis.contrasts`) in ``lang``."""
    return tr("verdict_" + str(verdict).replace(" ", "_"), lang)


def contrast_text(row: pd.Series, lang: str) -> str:
    """A ``paired.parquet`` row as ``value [lo to hi]``: the relative change, or on a small base
    the change in events."""
    if shown_as_counts(row):
        return counts_text(row, lang)
    rel = tuple(float(row[c]) for c in ("relative", "relative_lo", "relative_hi"))
    return value_ci(rel, lang, "percent")


def finding_from_row(res: Results, row: pd.Series, group: str, lang: str) -> Finding:
    """Phrase one ``paired.parquet`` row as a model result, with its number and 95% CI."""
    base = float(row["baseline_mean"])
    diff, lo, hi = (float(row[c]) for c in ("difference", "difference_lo", "difference_hi"))
    rel = ((np.nan,) * 3 if shown_as_counts(row)
           else tuple(float(row[c]) for c in ("relative", "relative_lo", "relative_hi")))
    value = contrast_text(row, lang)
    desc = scenario_description(res, row["scenario"], lang)
    name = scenario_name(row["scenario"], lang)
    subject = (tr("subject", lang, name=name, desc=desc) if desc
               else tr("subject_bare", lang, name=name))
    where = (tr("where_region", lang) if row["area_kind"] == "region"
             else tr("where_hotspot", lang, area=res.name(row["area"])))
    clear = row["verdict"] != UNDECIDED
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
