"""Pattern checks: pure functions from tidy run tables to values with confidence intervals.

Each pattern function takes the tables that `brusim.experiments.compare` writes per run (with
the ``scenario`` column holding the arm name) and returns one `Check` per quantity it tests: the
mean over seeds with its 95% t interval (levels: a share, entries a day, incidents a year, the
baseline's drift) or, for a scenario against another arm, the paired contrast of per-seed totals
(`contrast_check`: ratio of sums - 1 with its log-scale interval, never below -100%); the
target band; whether the estimate lies in the band and whether the whole interval does.

Tables:

* ``results``: one row per (scenario, seed, area_kind, area, window, metric) with ``value``
  (window totals, `brusim.analysis.windows.window_totals`);
* ``weekly``: weekly sums per (scenario, seed, week, area_kind, area), one column per metric;
* ``nodes``: per-node counts per (scenario, seed, window, event);
* ``displacement``: `brusim.analysis.budget.contrast_displacement` output (one row per scenario
  and seed: WDQ, TNE and WDD read from the paired contrast).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from brusim.analysis import displacement as dp
from brusim.analysis.contrasts import paired_contrast
from brusim.analysis.displacement import mean_ci

WEEKS_PER_YEAR = 52.0


@dataclass(frozen=True)
class Band:
    """Target interval [lo, hi] for a check's mean (None or nan = unbounded)."""

    lo: float | None = None
    hi: float | None = None

    @classmethod
    def of(cls, pair: Sequence[float | None]) -> Band:
        lo, hi = pair
        return cls(None if lo is None else float(lo), None if hi is None else float(hi))

    def contains(self, x: float) -> bool:
        """Whether ``x`` is finite and inside the band (edges included)."""
        if not math.isfinite(x):
            return False
        return (self.lo is None or x >= self.lo) and (self.hi is None or x <= self.hi)

    def distance(self, x: float, log: bool = False) -> float:
        """How far ``x`` lies outside the band (0 inside; natural-log units if ``log``);
        nan for a non-finite ``x``."""
        if not math.isfinite(x):
            return math.nan
        if log:
            if x <= 0:
                return math.nan
            f = math.log
        else:
            def f(v: float) -> float:
                return v
        if self.lo is not None and x < self.lo:
            return f(self.lo) - f(x)
        if self.hi is not None and x > self.hi:
            return f(x) - f(self.hi)
        return 0.0

    def text(self) -> str:
        """The band as text: ``[a, b]``, ``>= a`` or ``<= b``."""
        if self.lo is not None and self.hi is not None:
            return f"[{_fmt(self.lo)}, {_fmt(self.hi)}]"
        if self.lo is not None:
            return f">= {_fmt(self.lo)}"
        if self.hi is not None:
            return f"<= {_fmt(self.hi)}"
        return "any"


@dataclass(frozen=True)
class CheckSpec:
    """What one check aims at and how it enters the calibration loss."""

    target: str
    band: Band
    scale: float = 1.0
    log: bool = False
    weight: float = 1.0


@dataclass(frozen=True)
class Check:
    """One tested quantity: mean over seeds with its 95% CI, and whether it meets its band."""

    pattern: str
    check: str
    target: str
    band: str
    value: float
    ci_lo: float
    ci_hi: float
    n: int
    passed: bool  # the whole 95% CI lies in the band (no interval, one seed: never)
    estimate_in_band: bool  # the mean alone lies in the band
    distance: float  # normalised distance of the mean outside the band (0 inside, nan if nan)
    detail: str = ""

    def as_row(self) -> dict:
        return asdict(self)


def make_check(pattern: str, name: str, spec: CheckSpec, values: Sequence[float] | np.ndarray,
               detail: str = "") -> Check:
    """Summarise per-seed ``values`` (mean and 95% t CI) against ``spec``."""
    x = np.asarray(values, dtype=float)
    mean, lo, hi = mean_ci(x)
    return _judged(pattern, name, spec, (mean, lo, hi), int(np.isfinite(x).sum()), detail)


def contrast_check(pattern: str, name: str, spec: CheckSpec, scenario: pd.Series,
                   baseline: pd.Series, detail: str = "") -> Check:
    """A relative change judged against ``spec``: the paired contrast of per-seed totals
    (`brusim.analysis.contrasts`), ratio of sums - 1 with its log-scale 95% interval, which
    never reaches below -100%."""
    seeds = scenario.index.intersection(baseline.index)
    c = paired_contrast(scenario.loc[seeds].to_numpy(), baseline.loc[seeds].to_numpy())
    base = f"baseline {c.baseline:.3g} a seed" + (", a small base" if c.small_base else "")
    detail = f"{detail}; ratio of sums over seeds ({base})" if detail else base
    return _judged(pattern, name, spec, (c.relative, c.relative_lo, c.relative_hi), c.n, detail)


def _judged(pattern: str, name: str, spec: CheckSpec, estimate: tuple[float, float, float],
            n: int, detail: str) -> Check:
    mean, lo, hi = estimate
    band = spec.band
    in_band = band.contains(mean)
    # equivalence-style: a check passes when its whole 95% interval lies in the band
    passed = in_band and band.contains(lo) and band.contains(hi)
    dist = band.distance(mean, spec.log)
    return Check(pattern, name, spec.target, band.text(), mean, lo, hi, n, passed, in_band,
                 dist / spec.scale if math.isfinite(dist) else math.nan, detail)


def void_check(pattern: str, name: str, spec: CheckSpec, reason: str) -> Check:
    """A check that cannot be computed or whose premise failed: fails, costs the loss cap."""
    return Check(pattern, name, spec.target, spec.band.text(), math.nan, math.nan, math.nan, 0,
                 False, False, math.nan, reason)


# ------------------------------------------------------------------------------ table helpers


def area_totals(results: pd.DataFrame, scenario: str, metric: str, areas: Sequence[str] | None,
                window: str = "after", area_kind: str | None = None) -> pd.Series:
    """Per seed: ``metric`` summed over ``areas`` (or every area of ``area_kind``) in ``window``."""
    sel = results[(results["scenario"] == scenario) & (results["metric"] == metric)
                  & (results["window"] == window)]
    if area_kind is not None:
        sel = sel[sel["area_kind"] == area_kind]
    if areas is not None:
        sel = sel[sel["area"].isin(list(areas))]
    seeds = results.loc[results["scenario"] == scenario, "seed"].unique()
    return sel.groupby("seed")["value"].sum().reindex(sorted(seeds), fill_value=0.0)


def paired_relative(results: pd.DataFrame, scenario: str, baseline: str, metric: str,
                    areas: Sequence[str] | None, window: str = "after",
                    area_kind: str | None = None) -> pd.Series:
    """Per common seed: scenario / baseline - 1 of ``metric`` summed over ``areas`` (nan where
    the baseline total is zero)."""
    s = area_totals(results, scenario, metric, areas, window, area_kind)
    b = area_totals(results, baseline, metric, areas, window, area_kind)
    seeds = s.index.intersection(b.index)
    s, b = s.loc[seeds], b.loc[seeds]
    return (s / b.where(b > 0) - 1.0).astype(float)


def weekly_region(weekly: pd.DataFrame, scenario: str, metric: str, first_week: int
                  ) -> pd.DataFrame:
    """Region-wide weekly ``metric`` of ``scenario`` from ``first_week`` on: per seed, the sum
    and the number of weeks."""
    sel = weekly[(weekly["scenario"] == scenario) & (weekly["area_kind"] == "region")
                 & (weekly["week"] >= first_week)]
    return sel.groupby("seed").agg(total=(metric, "sum"), weeks=("week", "nunique"))


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _ci_text(values: pd.Series | np.ndarray) -> str:
    m, lo, hi = mean_ci(np.asarray(values, dtype=float))
    return f"{_fmt(m)} [{_fmt(lo)}, {_fmt(hi)}]"


# ------------------------------------------------------------------------------ the patterns


# the law of crime concentration's cumulative proportions (Weisburd 2015): check -> share
CONCENTRATION_SHARES = {"places_for_half": 0.5, "places_for_quarter": 0.25}


def concentration(nodes: pd.DataFrame, n_nodes: int, specs: dict[str, CheckSpec], *,
                  scenario: str, window: str = "after", pattern: str = "concentration"
                  ) -> list[Check]:
    """The law of crime concentration: per seed, the smallest fraction of the map's street
    nodes holding half (a quarter) of the window's transactions, judged against the bandwidth
    across cities (Weisburd 2015). It fails both ways: dealing spread over the city, or held by
    a handful of corners. The detail gives what random allocation of the same transactions
    would give (Bernasco & Steenbeek 2017)."""
    sales = nodes[(nodes["event"] == "transaction") & (nodes["scenario"] == scenario)
                  & (nodes["window"] == window)]
    if sales.empty:
        return [void_check(pattern, name, specs[name], f"no transactions in {scenario}")
                for name in CONCENTRATION_SHARES if name in specs]
    per_seed = {seed: np.bincount(g["node"].to_numpy(np.int64), weights=g["count"].to_numpy(float),
                                  minlength=n_nodes)
                for seed, g in sales.groupby("seed")}
    out = []
    for name, share in CONCENTRATION_SHARES.items():
        if name not in specs:
            continue
        observed = [dp.places_for_share(c, share) for c in per_seed.values()]
        chance = np.mean([dp.random_places_for_share(int(round(c.sum())), n_nodes, share,
                                                     draws=5, seed=int(seed))
                          for seed, c in per_seed.items()])
        active = np.mean([(c > 0).sum() for c in per_seed.values()])
        out.append(make_check(pattern, name, specs[name], observed,
                              f"{share:.0%} of transactions at this fraction of {n_nodes} "
                              f"street nodes ({window} window; {active:.0f} nodes with any); "
                              f"random allocation would need {chance:.3g}"))
    return out


def node_totals(nodes: pd.DataFrame, scenario: str, members: np.ndarray,
                event: str = "transaction", window: str = "after") -> pd.Series:
    """Per seed of ``scenario``: ``event`` counts summed over the street nodes ``members`` in
    ``window`` (0 where none)."""
    sel = nodes[(nodes["event"] == event) & (nodes["window"] == window)
                & (nodes["scenario"] == scenario) & nodes["node"].isin(np.asarray(members))]
    seeds = sorted(nodes.loc[nodes["scenario"] == scenario, "seed"].unique())
    return sel.groupby("seed")["count"].sum().reindex(seeds, fill_value=0.0).astype(float)


def midi_plan(nodes: pd.DataFrame, displacement: pd.DataFrame, specs: dict[str, CheckSpec],
              areas: dict[str, np.ndarray], *, scenario: str, baseline: str,
              labels: dict[str, str] | None = None, event: str = "transaction",
              pattern: str = "midi_plan") -> list[Check]:
    """A focused crackdown: dealing in the target area falls against the baseline (paired by
    seed, after window), rises in the receiver and nearby areas, and the WDQ of the crackdown
    scenario is negative (displacement).

    ``areas`` maps ``target``, ``receiver`` and ``nearby`` to street-node arrays; they should be
    disjoint (as WDQ's target and buffer are), so that a receiver's change is not the target's
    own fall seen through an overlapping catchment.
    """
    labels = labels or {}
    out = []
    for name, key in (("target_change", "target"), ("receiver_change", "receiver"),
                      ("nearby_change", "nearby")):
        if name not in specs:
            continue
        out.append(contrast_check(
            pattern, name, specs[name], node_totals(nodes, scenario, areas[key], event),
            node_totals(nodes, baseline, areas[key], event),
            f"{scenario}/{baseline} - 1 of {event}s in the {key} area "
            f"({labels.get(key, key)}, {len(areas[key])} street nodes), after window"))
    if "wdq" in specs:
        d = displacement[displacement["scenario"] == scenario]
        improved = d["target_change"] < 0
        detail = (f"{scenario} against {baseline}, same seeds and after window (the baseline as "
                  f"'before'; control: far hotspots); WDQ defined in "
                  f"{int(np.isfinite(d['wdq']).sum())} of {len(d)} seeds, target improved in "
                  f"{int(improved.sum())}")
        out.append(make_check(pattern, "wdq", specs["wdq"], d["wdq"].to_numpy(), detail))
    return out


def room_use(weekly: pd.DataFrame, spec: CheckSpec, *, scenario: str, first_week: int,
             pattern: str = "room_use") -> list[Check]:
    """Consumption-room entries per day (all open rooms; only GATE in the baseline)."""
    w = weekly_region(weekly, scenario, "room_entries", first_week)
    if w.empty:
        return [void_check(pattern, "entries_per_day", spec, f"no weeks >= {first_week}")]
    per_day = w["total"] / (7.0 * w["weeks"])
    return [make_check(pattern, "entries_per_day", spec, per_day.to_numpy(),
                       f"{scenario}, weeks {first_week}+ ({int(w['weeks'].max())} weeks)")]


def violence(weekly: pd.DataFrame, results: pd.DataFrame, specs: dict[str, CheckSpec], *,
             scenario: str, baseline: str, first_week: int,
             pattern: str = "violence") -> list[Check]:
    """Violent incidents a year in the baseline (scaled from the weeks after burn-in), and the
    rise under a disrupting scenario (paired by seed, region, after window)."""
    out = []
    if "per_year" in specs:
        w = weekly_region(weekly, baseline, "violent_incidents", first_week)
        per_year = w["total"] / w["weeks"] * WEEKS_PER_YEAR
        out.append(make_check(pattern, "per_year", specs["per_year"], per_year.to_numpy(),
                              f"{baseline}: {_ci_text(w['total'])} incidents in "
                              f"{int(w['weeks'].max()) if len(w) else 0} weeks, x52/weeks"))
    if "disrupted_change" in specs:
        base = area_totals(results, baseline, "violent_incidents", ["region"], area_kind="region")
        out.append(contrast_check(
            pattern, "disrupted_change", specs["disrupted_change"],
            area_totals(results, scenario, "violent_incidents", ["region"], area_kind="region"),
            base, f"{scenario}/{baseline} - 1, region, after window (baseline "
            f"{_ci_text(base)} incidents)"))
    return out


def koper(results: pd.DataFrame, specs: dict[str, CheckSpec], *, short: str, long: str,
          pattern: str = "koper") -> list[Check]:
    """Long stops deter more than drive-bys: seller-hours and transactions summed over the
    hotspot catchments, long-stop arm relative to the short-stop arm (paired by seed)."""
    return [contrast_check(pattern, metric, spec,
                           area_totals(results, long, metric, None, area_kind="hotspot"),
                           area_totals(results, short, metric, None, area_kind="hotspot"),
                           f"{long}/{short} - 1, all hotspot catchments, after window")
            for metric, spec in specs.items()]


def replacement(results: pd.DataFrame, specs: dict[str, CheckSpec], *, scenario: str,
                baseline: str, min_arrest_ratio: float = 3.0,
                pattern: str = "replacement") -> list[Check]:
    """Arrests alone do not shrink the market: with many more arrests, the market (region-wide
    transactions, seller-hours) falls far less. Void unless arrests rose ``min_arrest_ratio``
    times."""
    ratio = paired_relative(results, scenario, baseline, "arrests", ["region"],
                            area_kind="region") + 1.0
    arrests = area_totals(results, scenario, "arrests", ["region"], area_kind="region")
    mean_ratio = float(np.nanmean(ratio)) if len(ratio) else math.nan
    premise = f"arrests x{_ci_text(ratio)} ({_ci_text(arrests)} in the after window)"
    out = []
    for metric, spec in specs.items():
        if not mean_ratio >= min_arrest_ratio:
            out.append(void_check(pattern, metric, spec,
                                  f"premise failed: {premise}, need x{min_arrest_ratio:g}"))
            continue
        out.append(contrast_check(
            pattern, metric, spec,
            area_totals(results, scenario, metric, ["region"], area_kind="region"),
            area_totals(results, baseline, metric, ["region"], area_kind="region"),
            f"{scenario}/{baseline} - 1, region, after window; {premise}"))
    return out


def stability(weekly: pd.DataFrame, specs: dict[str, CheckSpec], *, scenario: str,
              target: str, first_week: int, window_weeks: int,
              pattern: str = "stability") -> list[Check]:
    """Business as usual holds its markets: transactions per hotspot in the first
    ``window_weeks`` after burn-in vs the last ``window_weeks`` of the run (shorter windows
    when the run is too short for two). ``drift`` =
    sum |late - early| / sum early over the hotspots; ``target_change`` = late / early - 1 at
    ``target``."""
    sel = weekly[(weekly["scenario"] == scenario) & (weekly["area_kind"] == "hotspot")]
    last = int(sel["week"].max()) if len(sel) else -1
    k = min(window_weeks, (last + 1 - first_week) // 2)  # shorter runs: shorter windows
    if k < 1:
        return [void_check(pattern, name, spec, f"run too short for two windows after week "
                           f"{first_week}") for name, spec in specs.items()]
    early_w = (first_week, first_week + k)
    late_w = (last + 1 - k, last + 1)

    def window_sum(lo: int, hi: int) -> pd.DataFrame:
        w = sel[(sel["week"] >= lo) & (sel["week"] < hi)]
        return w.groupby(["seed", "area"], observed=True)["transactions"].sum().unstack("area")

    early, late = window_sum(*early_w), window_sum(*late_w)
    late = late.reindex(index=early.index, columns=early.columns, fill_value=0.0)
    where = f"weeks {early_w[0]}-{early_w[1] - 1} vs {late_w[0]}-{late_w[1] - 1}"
    values = {
        "drift": ((late - early).abs().sum(axis=1) / early.sum(axis=1).where(
            early.sum(axis=1) > 0)),
        "target_change": (late[target] / early[target].where(early[target] > 0) - 1.0
                          if target in early else pd.Series(dtype=float)),
    }
    details = {"drift": f"{scenario}, {early.shape[1]} hotspots, {where}",
               "target_change": f"{scenario}, {target}, {where}"}
    return [make_check(pattern, name, spec, values[name].to_numpy(dtype=float), details[name])
            for name, spec in specs.items()]


def checks_table(checks: Sequence[Check]) -> pd.DataFrame:
    """All checks as a table (one row per check)."""
    return pd.DataFrame([c.as_row() for c in checks])


def loss(checks: Sequence[Check], weights: dict[tuple[str, str], float] | None = None,
         cap: float = 3.0) -> float:
    """Calibration loss: sum over checks of weight x min(cap, normalised distance outside the
    band); a check without a value costs the cap."""
    total = 0.0
    for c in checks:
        w = 1.0 if weights is None else weights.get((c.pattern, c.check), 1.0)
        d = c.distance if math.isfinite(c.distance) else cap
        total += w * min(cap, d)
    return total
