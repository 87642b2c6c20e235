"""Comparison metrics across scenarios and replications (pure functions on tidy tables).

Tables follow one shape: ``results`` has one row per (scenario, seed, area_kind, area, window,
metric) with a ``value``; ``nodes`` has per-node event counts per (scenario, seed, window).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from brusim.analysis.contrasts import paired_contrast
from brusim.analysis.displacement import (
    concentration_share,
    interpret_wdq,
    mean_ci,
    paired_difference_ci,
    places_for_share,
    total_net_effect,
    wdd,
    wdq,
    wdq_target_change,
)


def before_after_change(results: pd.DataFrame) -> pd.DataFrame:
    """Per run, area and metric: before, after, change (after - before) and relative change."""
    wide = results.pivot_table(index=["scenario", "seed", "area_kind", "area", "metric"],
                               columns="window", values="value", observed=True).reset_index()
    for col in ("before", "after"):
        if col not in wide:
            wide[col] = np.nan
    wide["change"] = wide["after"] - wide["before"]
    with np.errstate(divide="ignore", invalid="ignore"):
        wide["relative_change"] = np.where(wide["before"] > 0,
                                           wide["change"] / wide["before"], np.nan)
    return wide


def summarise(change: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Mean and confidence interval over seeds of before, after and change per scenario/area."""
    rows = []
    keys = ["scenario", "area_kind", "area", "metric"]
    for key, g in change.groupby(keys, observed=True):
        row = dict(zip(keys, key, strict=True))
        row["n"] = int(g["seed"].nunique())
        for col in ("before", "after", "change", "relative_change"):
            m, lo, hi = mean_ci(g[col].to_numpy(), level)
            row[col], row[f"{col}_lo"], row[f"{col}_hi"] = m, lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


def paired_vs_baseline(change: pd.DataFrame, baseline: str, column: str = "after",
                       level: float = 0.95) -> pd.DataFrame:
    """Scenario minus baseline, paired by seed (common random numbers), with CIs and a flag
    where the difference's interval crosses zero.

    With ``column="after"`` (window totals: counts) each row is a paired contrast
    (`brusim.analysis.contrasts.paired_contrast`): ``relative`` = ratio of the summed totals - 1
    with a log-scale interval (never below -100%), ``small_base`` when the baseline has fewer
    than `contrasts.MIN_BASE` events a window (show counts, not a percentage) and a ``verdict``.
    With another column (a before-to-after change, which may be negative) only the difference
    and its interval are defined; ``relative`` is the difference over the baseline's mean and
    has no interval."""
    base = change[change["scenario"] == baseline].set_index(
        ["seed", "area_kind", "area", "metric"])[column]
    rows = []
    for (scen, kind, area, metric), g in change.groupby(
            ["scenario", "area_kind", "area", "metric"], observed=True):
        if scen == baseline:
            continue
        g = g.set_index("seed")[column]
        b = base.xs((kind, area, metric), level=("area_kind", "area", "metric"))
        seeds = g.index.intersection(b.index)
        s_vals, b_vals = g.loc[seeds].to_numpy(), b.loc[seeds].to_numpy()
        row = {"scenario": scen, "area_kind": kind, "area": area, "metric": metric}
        if column == "after":
            c = paired_contrast(s_vals, b_vals, level)
            row.update(baseline_mean=c.baseline, scenario_mean=c.scenario,
                       difference=c.difference, difference_lo=c.difference_lo,
                       difference_hi=c.difference_hi, n=c.n,
                       crosses_zero=not (c.difference_lo > 0 or c.difference_hi < 0),
                       relative=c.relative, relative_lo=c.relative_lo,
                       relative_hi=c.relative_hi, small_base=c.small_base, verdict=c.verdict)
        else:
            res = paired_difference_ci(s_vals, b_vals, level)
            base_mean = float(b_vals.mean()) if len(seeds) else np.nan
            row.update(baseline_mean=base_mean, difference=res["mean"],
                       difference_lo=res["lo"], difference_hi=res["hi"], n=res["n"],
                       crosses_zero=res["crosses_zero"],
                       relative=res["mean"] / base_mean if base_mean else np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def ring_nodes(dist_from_target: np.ndarray, inner_m: float, outer_m: float) -> np.ndarray:
    """Nodes whose network distance from the target lies in (inner, outer]."""
    return np.flatnonzero((dist_from_target > inner_m) & (dist_from_target <= outer_m))


def area_counts(nodes: pd.DataFrame, members: np.ndarray) -> pd.DataFrame:
    """Counts per (scenario, seed, window) summed over the member nodes."""
    sel = nodes[nodes["node"].isin(members)]
    return (sel.groupby(["scenario", "seed", "window"], observed=True)["count"].sum()
            .unstack("window").reindex(columns=["before", "after"]).fillna(0.0))


def displacement(
    nodes: pd.DataFrame,
    dist_from_target: np.ndarray,
    target_m: float = 400.0,
    buffer_m: tuple[float, float] = (400.0, 1200.0),
    control: np.ndarray | None = None,
) -> pd.DataFrame:
    """WDQ, TNE and WDD (with Poisson SE) per scenario and seed for one target, from each
    run's own before and after windows.

    Target = nodes within ``target_m`` network metres; buffer = the ring ``buffer_m``;
    control = ``control`` nodes, or every other node of the map (beyond the buffer).
    This before/after reading counts any drift of business as usual as the policy's effect:
    comparisons read the same statistics from paired contrasts instead
    (`brusim.analysis.budget`); it is kept for runs without a paired baseline (sweeps,
    calibration) and as the former reading the placebo check is shown to catch.
    """
    target = np.flatnonzero(dist_from_target <= target_m)
    buffer = ring_nodes(dist_from_target, *buffer_m)
    if control is None:
        control = np.flatnonzero(~(dist_from_target <= buffer_m[1]))
    runs = nodes[["scenario", "seed"]].drop_duplicates()
    r = area_counts(nodes, target)
    d = area_counts(nodes, buffer)
    c = area_counts(nodes, control)
    out = runs.set_index(["scenario", "seed"]).join(r.add_prefix("r_")).join(
        d.add_prefix("d_")).join(c.add_prefix("c_")).fillna(0.0).reset_index()
    args = [out[k].to_numpy() for k in ("r_before", "r_after", "d_before", "d_after",
                                        "c_before", "c_after")]
    out["wdq"] = wdq(*args)
    out["target_change"] = wdq_target_change(args[0], args[1], args[4], args[5])
    out["tne"] = total_net_effect(*args)
    out["wdd"], out["wdd_se"] = wdd(*args)
    out["interpretation"] = [interpret_wdq(w, tc) for w, tc in
                             zip(out["wdq"], out["target_change"], strict=True)]
    return out


def displacement_summary(disp: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Mean and CI of WDQ, TNE and WDD per scenario; the interpretation of the mean WDQ."""
    rows = []
    for scen, g in disp.groupby("scenario", observed=True):
        row = {"scenario": scen, "n": len(g),
               "wdq_defined": int(np.isfinite(g["wdq"]).sum())}
        for col in ("wdq", "tne", "wdd", "target_change"):
            row[col], row[f"{col}_lo"], row[f"{col}_hi"] = mean_ci(g[col].to_numpy(), level)
        row["wdd_se_pooled"] = float(np.sqrt(np.nanmean(g["wdd_se"] ** 2) / max(len(g), 1)))
        row["interpretation"] = interpret_wdq(row["wdq"], row["target_change"])
        rows.append(row)
    return pd.DataFrame(rows)


def top_receivers(nodes: pd.DataFrame, scenario: str, baseline: str, n: int = 10
                  ) -> pd.DataFrame:
    """Nodes with the largest mean after-window gain in the scenario over the baseline."""
    after = nodes[nodes["window"] == "after"]
    per = after.groupby(["scenario", "node"], observed=True)["count"].sum().unstack(0).fillna(0)
    seeds = after.groupby("scenario", observed=True)["seed"].nunique()
    if scenario not in per or baseline not in per:
        return pd.DataFrame(columns=["node", "gain"])
    gain = per[scenario] / seeds[scenario] - per[baseline] / seeds[baseline]
    top = gain.sort_values(ascending=False).head(n)
    return pd.DataFrame({"node": top.index.astype(int), "gain": top.to_numpy()})


def emerging_hotspots(nodes: pd.DataFrame, listed_nodes_near: np.ndarray, threshold: float,
                      window: str = "after") -> pd.DataFrame:
    """Nodes above ``threshold`` mean events per run in ``window`` that lie outside every
    listed hotspot's catchment (``listed_nodes_near``), per scenario."""
    sel = nodes[(nodes["window"] == window) & ~nodes["node"].isin(listed_nodes_near)]
    seeds = nodes.groupby("scenario", observed=True)["seed"].nunique()
    per = sel.groupby(["scenario", "node"], observed=True)["count"].sum().reset_index()
    # astype: with no node left (an empty table) pandas keeps the mapped column as strings
    per["mean"] = per["count"] / per["scenario"].map(seeds).astype(float)
    return per[per["mean"] >= threshold].sort_values(["scenario", "mean"], ascending=[True, False])


def concentration(nodes: pd.DataFrame, n_nodes: int, top_share: float = 0.05) -> pd.DataFrame:
    """Share of events at the top ``top_share`` of all street nodes, and the fractions of nodes
    holding half and a quarter of them (the law of crime concentration), per run and window."""
    rows = []
    for (scen, seed, window), g in nodes.groupby(["scenario", "seed", "window"], observed=True):
        counts = np.zeros(n_nodes)
        counts[g["node"].to_numpy()] = g["count"].to_numpy()
        rows.append({"scenario": scen, "seed": seed, "window": window,
                     "share_top": concentration_share(counts, top_share),
                     "places_for_half": places_for_share(counts, 0.5),
                     "places_for_quarter": places_for_share(counts, 0.25)})
    return pd.DataFrame(rows)
