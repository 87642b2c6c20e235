"""Precision on demand (issue 21, item 3): the headline contrasts of a comparison, when each is
decided, and the sentence that says how many seeds it took.

**The headlines.** For every scenario other than the baseline: transactions at the target
hotspot (the budget's ``target`` row) and region-wide (its ``region`` row), and region-wide
violent incidents, public use and police hours (the ``paired`` table's region rows). Each is
read on the relative scale: the ratio of sums minus 1 and its 95% interval
(`brusim.analysis.contrasts`).

**Decided.** A headline is decided when

- its verdict is a clear decrease or a clear increase, or
- it is precisely a non-effect: no clear difference, and any effect is smaller than ±h — its
  95% interval of the relative change lies wholly within ``[-h, +h]`` (``h`` =
  ``target_half_width``, e.g. 0.10 for ±10%), which is an interval of half-width at most ``h``
  around no change; or
- nothing happened: no event in either arm in any seed (the ratio is undefined, the difference
  is exactly 0 in every seed).

Anything else (an interval straddling no change and reaching beyond ±h, or no interval at all)
is undecided: more seeds would narrow it. **The stopping rule** of ``replications=auto``: stop
when every headline is decided, or when the cap is reached (`stop_reason`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from brusim.analysis.contrasts import DECREASE, INCREASE
from brusim.errors import BrusimError

# (id, English label, table, row selector column, its value, metric)
HEADLINES = (
    ("target_transactions", "transactions at the target", "budget", "kind", "target",
     "transactions"),
    ("region_transactions", "region-wide transactions", "budget", "kind", "region",
     "transactions"),
    ("region_violent_incidents", "region-wide violent incidents", "paired", "area_kind",
     "region", "violent_incidents"),
    ("region_public_use", "region-wide public use", "paired", "area_kind", "region",
     "public_use"),
    ("region_police_hours", "region-wide police hours", "paired", "area_kind", "region",
     "police_hours"),
)
CLEAR, PRECISE, NOTHING, UNDECIDED = ("clear change", "precise non-effect", "no events",
                                      "undecided")
COLUMNS = ["round", "seeds", "scenario", "headline", "label", "metric", "area", "estimate",
           "lo", "hi", "half_width", "baseline_mean", "scenario_mean", "small_base", "difference",
           "difference_lo", "difference_hi", "verdict", "decided", "reason"]
TABLE = "replications"


def decision(verdict: str, lo: float, hi: float, difference_lo: float, difference_hi: float,
             target_half_width: float) -> str:
    """Why a headline is decided (`CLEAR`, `PRECISE`, `NOTHING`) or `UNDECIDED`: see the
    module's docstring."""
    if verdict in (DECREASE, INCREASE):
        return CLEAR
    if math.isfinite(lo) and math.isfinite(hi):
        return PRECISE if -target_half_width <= lo and hi <= target_half_width else UNDECIDED
    if difference_lo == 0.0 and difference_hi == 0.0 and not math.isfinite(lo):
        return NOTHING  # a zero baseline (no ratio) and a difference of exactly 0 every seed
    return UNDECIDED


def headlines(paired: pd.DataFrame, budget: pd.DataFrame, baseline: str,
              target_half_width: float) -> pd.DataFrame:
    """One row per non-baseline scenario and headline: estimate (relative change), lo, hi,
    half_width ((hi - lo) / 2), the arms' means and the small-base flag, the difference and its
    interval, verdict, decided, reason."""
    sources = {"paired": paired, "budget": budget}
    rows = []
    scenarios = [s for s in pd.unique(pd.concat([paired["scenario"], budget["scenario"]]))
                 if s != baseline]
    for scen in scenarios:
        for hid, label, table, column, value, metric in HEADLINES:
            df = sources[table]
            hit = df[(df["scenario"] == scen) & (df[column] == value) & (df["metric"] == metric)]
            if len(hit) != 1:
                raise ValueError(f"headline {hid} of {scen}: {len(hit)} rows in {table}")
            r = hit.iloc[0]
            lo, hi = float(r["relative_lo"]), float(r["relative_hi"])
            reason = decision(r["verdict"], lo, hi, float(r["difference_lo"]),
                              float(r["difference_hi"]), target_half_width)
            rows.append({"scenario": scen, "headline": hid, "label": label, "metric": metric,
                         "area": str(r["area"]), "estimate": float(r["relative"]), "lo": lo,
                         "hi": hi, "half_width": (hi - lo) / 2.0,
                         "baseline_mean": float(r["baseline_mean"]),
                         "scenario_mean": float(r["scenario_mean"]),
                         "small_base": bool(r["small_base"]),
                         "difference": float(r["difference"]),
                         "difference_lo": float(r["difference_lo"]),
                         "difference_hi": float(r["difference_hi"]),
                         "verdict": str(r["verdict"]), "decided": reason != UNDECIDED,
                         "reason": reason})
    return pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("round", "seeds")])


def round_rows(table: pd.DataFrame, round_no: int, seeds: int) -> pd.DataFrame:
    """`headlines` of one round, tagged with the round (1, 2, ...) and its seeds a scenario."""
    return table.assign(round=round_no, seeds=seeds)[COLUMNS]


def all_decided(rows: pd.DataFrame) -> bool:
    return bool(rows["decided"].all())


def stop_reason(rows: pd.DataFrame, seeds: int, cap: int) -> str | None:
    """The stopping rule after a round: ``"decided"`` (every headline is), ``"cap"`` (the cap
    is reached with some undecided) or None (add seeds)."""
    if all_decided(rows):
        return "decided"
    return "cap" if seeds >= cap else None


def _pct(x: float) -> str:
    return f"{x:+.1%}".replace("-", "\u2212") if math.isfinite(x) else "n/a"


def describe(row: pd.Series | dict) -> str:
    """``hotspot_strategy region-wide transactions (+1.2% [−0.8%, +3.1%])``; on a small base
    the counts and their difference in events instead of a percentage (``from about 6.0 to
    8.0 a window, a small base: +2.0 [−0.5, +4.5] events``)."""
    if row.get("small_base", False) or not math.isfinite(float(row["estimate"])):
        return (f"{row['scenario']} {row['label']} (from about {row['baseline_mean']:,.1f} to "
                f"{row['scenario_mean']:,.1f} a window, a small base: "
                f"{_count(row['difference'])} [{_count(row['difference_lo'])}, "
                f"{_count(row['difference_hi'])}] events)")
    return (f"{row['scenario']} {row['label']} ({_pct(row['estimate'])} "
            f"[{_pct(row['lo'])}, {_pct(row['hi'])}])")


def _count(x: float) -> str:
    return f"{x:+,.1f}".replace("-", "\u2212") if math.isfinite(x) else "n/a"


def statement(table: pd.DataFrame, auto: bool, target_half_width: float,
              cap: int | None = None) -> str:
    """The plain sentence of a comparison's precision, from its replications table: how many
    seeds, and every headline its last round left undecided."""
    last = table[table["round"] == table["round"].max()]
    seeds, rounds = int(last["seeds"].iloc[0]), int(table["round"].max())
    undecided = last[~last["decided"]]
    rounds_text = f"{rounds} round{'s' if rounds > 1 else ''}"
    within = f"\u00b1{target_half_width:.0%}"
    if auto and undecided.empty:
        return f"replications=auto: {seeds} seeds per scenario ({rounds_text}); every headline " \
               "is decided"
    if auto:
        head = (f"replications=auto: cap of {cap if cap is not None else seeds} seeds per "
                f"scenario reached ({rounds_text}); {len(undecided)} of {len(last)} headlines "
                f"cannot be decided at {within}")
    elif undecided.empty:
        return f"replications={seeds} (fixed): every headline is decided"
    else:
        head = (f"replications={seeds} (fixed): {len(undecided)} of {len(last)} headlines are "
                f"not decided at {within} (more seeds, or replications=auto, may decide them)")
    return f"{head}; undecided: " + "; ".join(describe(r) for _, r in undecided.iterrows())


def precision_statement(source: Path | str | pd.DataFrame, auto: bool | None = None,
                        target_half_width: float | None = None, cap: int | None = None) -> str:
    """The English sentence of a comparison's precision: from its results folder (its
    replications table and manifest) or from a replications table (then say ``auto``,
    ``target_half_width`` and, for auto, ``cap``)."""
    if isinstance(source, pd.DataFrame):
        table, rule = source, {}
    else:
        path = Path(source)
        if not (path / f"{TABLE}.parquet").is_file():
            raise BrusimError(f"{path} has no {TABLE}.parquet (a comparison made before it was "
                              "recorded, or not finished); run the same compare command again")
        table = pd.read_parquet(path / f"{TABLE}.parquet")
        manifest = path / "manifest.json"
        rule = (json.loads(manifest.read_text(encoding="utf-8")).get("precision", {})
                if manifest.is_file() else {})
    auto = rule.get("auto", False) if auto is None else auto
    h = rule.get("target_half_width", 0.10) if target_half_width is None else target_half_width
    return statement(table, auto, h, rule.get("cap") if cap is None else cap)


def summary(table: pd.DataFrame, auto: bool, target_half_width: float, cap: int | None,
            start: int | None, step: int | None) -> dict:
    """The manifest's ``precision`` entry: the rule, where it stopped, and the sentence."""
    last = table[table["round"] == table["round"].max()]
    seeds = int(last["seeds"].iloc[0])
    undecided = last[~last["decided"]]
    return {"auto": auto, "target_half_width": target_half_width, "cap": cap, "start": start,
            "step": step, "seeds": seeds, "rounds": int(table["round"].max()),
            "stopped": ("decided" if undecided.empty else "cap") if auto else "fixed",
            "undecided": [f"{r['scenario']}/{r['headline']}" for _, r in undecided.iterrows()],
            "statement": statement(table, auto, target_half_width, cap)}
