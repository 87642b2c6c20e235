"""Figures of a scenario comparison, readable when projected: change maps, hotspot time series
with CI bands, displacement quotients with their interpretation bands, police hours per unit
of reduction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from brusim.analysis.contrasts import level_interval
from brusim.analysis.difference_map import plot_difference_map
from brusim.analysis.run_figures import KEY_HOTSPOTS, _figure, plot_node_map
from brusim.io import save_figure

SCENARIO_COLORS = ("#000000", "#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00",
                   "#56B4E9", "#F0E442")


def scenario_colors(scenarios: list[str]) -> dict[str, str]:
    return {s: SCENARIO_COLORS[i % len(SCENARIO_COLORS)] for i, s in enumerate(scenarios)}


def make_figures(out: Path, tables: dict[str, pd.DataFrame], smap, settings, cfg,
                 labels: dict[str, str] | None = None) -> list[Path]:
    """Write every comparison figure into ``out/figures`` and return the paths. ``labels``:
    the plain name shown for each scenario (its id when missing)."""
    labels = {s: (labels or {}).get(s, s) for s in settings.scenarios}
    fig_dir = out / "figures"
    fig_dir.mkdir(exist_ok=True)
    hotspot_names = dict(zip(smap.hotspots.ids, smap.hotspots.names, strict=True))
    paths = [plot_hotspot_series(tables["weekly"], fig_dir / "hotspot_timeseries.png",
                                 settings.scenarios, float(cfg.scenario.intervention_week),
                                 hotspot_names, labels=labels)]
    target_name = smap.hotspots.names[smap.hotspots.index(settings.target)]
    paths.append(plot_displacement(tables["displacement_summary"],
                                   fig_dir / "displacement_wdq.png", settings, target_name,
                                   labels))
    paths.append(plot_budget(tables["budget"], fig_dir / "budget.png", settings, target_name,
                             labels=labels))
    paths.append(plot_police_cost(tables["police_cost"],
                                  fig_dir / "police_hours_per_reduction.png", settings,
                                  target_name, labels))
    if "spinup_weekly" in tables:
        paths.append(plot_spinup(tables["spinup_weekly"], fig_dir / "spinup.png",
                                 hotspot_names))
    sales = tables["nodes"][tables["nodes"]["event"] == "transaction"]
    paths.append(plot_difference_map(sales, smap, settings.scenarios, settings.baseline,
                                     settings.target,
                                     (settings.target_m, settings.buffer_outer_m),
                                     fig_dir / "difference_map.png", labels))
    for scen in settings.scenarios:
        paths.append(plot_scenario_map(sales, smap, scen, fig_dir / f"dealing_{scen}.png",
                                       labels[scen]))
        if scen != settings.baseline:
            paths.append(plot_change_map(sales, smap, scen, settings.baseline,
                                         fig_dir / f"change_{scen}.png", labels))
    return paths


def _label_grid(axes, n_used: int, xlabel: str, ylabel: str) -> None:
    """A 2 x 3 grid of panels: the unused ones hidden, the bottom row and first panel labelled."""
    for ax in axes[n_used:]:
        ax.set_visible(False)
    for ax in axes[3:]:
        ax.set_xlabel(xlabel, fontsize=11)
    axes[0].set_ylabel(ylabel, fontsize=11)


def plot_spinup(weekly: pd.DataFrame, path: Path, names: dict[str, str], n: int = 5) -> Path:
    """Weekly transactions during each seed's spin-up: region-wide and at the hotspots busiest
    at its start (one line per seed)."""
    series = [c for c in weekly.columns if c not in ("week", "seed", "region")]
    first = weekly[weekly["week"] < 4][series].sum().sort_values(ascending=False)
    shown = ["region", *list(first.index[:n])]
    fig = _figure(14, 7)
    axes = fig.subplots(2, 3, sharex=True).ravel()
    for ax, name in zip(axes, shown, strict=False):
        for seed, g in weekly.groupby("seed"):
            ax.plot(g["week"], g[name], lw=1.2, alpha=0.8, label=f"seed {seed}")
        ax.set_title(names.get(name, name), fontsize=13)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    _label_grid(axes, len(shown), "week of the spin-up", "transactions per week")
    if axes[0].get_legend_handles_labels()[0]:  # no lines when the spin-up has no weeks
        axes[0].legend(fontsize=9, frameon=False)
    fig.suptitle("Business as usual before the runs begin (spin-up), per seed", fontsize=14)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    save_figure(fig, path, dpi=120)
    return path


def mean_after(nodes: pd.DataFrame, scenario: str, n_nodes: int) -> np.ndarray:
    """Mean after-window count per node over the scenario's seeds."""
    sel = nodes[(nodes["scenario"] == scenario) & (nodes["window"] == "after")]
    n_seeds = max(nodes.loc[nodes["scenario"] == scenario, "seed"].nunique(), 1)
    counts = np.bincount(sel["node"].to_numpy(), weights=sel["count"].to_numpy(),
                         minlength=n_nodes)
    return counts / n_seeds


def plot_scenario_map(nodes, smap, scenario: str, path: Path, label: str | None = None) -> Path:
    values = mean_after(nodes, scenario, smap.n_nodes)
    return plot_node_map(smap, values, path,
                         title=f"Where dealing was (after window): {label or scenario}",
                         label="transactions per node (mean over seeds)")


def plot_change_map(nodes, smap, scenario: str, baseline: str, path: Path,
                    labels: dict[str, str] | None = None) -> Path:
    labels = labels or {}
    diff = mean_after(nodes, scenario, smap.n_nodes) - mean_after(nodes, baseline, smap.n_nodes)
    return plot_node_map(smap, diff, path, diverging=True,
                         title=f"Where dealing moved: {labels.get(scenario, scenario)} minus "
                               f"{labels.get(baseline, baseline).lower()} (after window)",
                         label="change in transactions per node (red: more)")


def weekly_band(weekly: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per week: the mean over seeds of ``metric`` and its 95% band by the contrasts' method
    (`brusim.analysis.contrasts.level_interval`: log scale, never below zero; the mean itself
    where one seed gives no interval)."""
    rows = {week: level_interval(g.to_numpy()) for week, g in weekly.groupby("week")[metric]}
    band = pd.DataFrame.from_dict(rows, orient="index", columns=["mean", "lo", "hi"])
    band["lo"] = band["lo"].fillna(band["mean"])
    band["hi"] = band["hi"].fillna(band["mean"])
    return band.sort_index()


def plot_hotspot_series(weekly: pd.DataFrame, path: Path, scenarios: list[str],
                        intervention_week: float, names: dict[str, str],
                        metric: str = "transactions",
                        labels: dict[str, str] | None = None) -> Path:
    """Weekly metric at the key hotspots, mean and 95% CI band over seeds, per scenario."""
    hs = key_hotspots(weekly, metric)
    colors = scenario_colors(scenarios)
    fig = _figure(14, 8)
    axes = fig.subplots(2, 3, sharex=True).ravel()
    for ax, h in zip(axes, hs, strict=False):
        sub = weekly[weekly["area"].astype(str) == h]
        for scen in scenarios:
            band = weekly_band(sub[sub["scenario"] == scen], metric)
            ax.plot(band.index, band["mean"], color=colors[scen], lw=1.8,
                    label=(labels or {}).get(scen, scen))
            ax.fill_between(band.index, band["lo"], band["hi"], color=colors[scen],
                            alpha=0.18, lw=0)
        ax.axvline(intervention_week, color="grey", ls="--", lw=1)
        ax.set_title(names.get(h, h), fontsize=13)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=10)
    _label_grid(axes, len(hs), "week", f"{metric} per week")
    axes[3].set_ylabel(f"{metric} per week", fontsize=11)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(scenarios), fontsize=12,
               frameon=False)
    fig.suptitle("Transactions at key hotspots (mean and 95% CI over seeds; dashed: "
                 "intervention start)", fontsize=14)
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    save_figure(fig, path, dpi=120)
    return path


def key_hotspots(weekly: pd.DataFrame, metric: str, n: int = 6) -> list[str]:
    """The named key hotspots present in the table, topped up with the busiest others."""
    hot = weekly[weekly["area_kind"] == "hotspot"]
    present = set(hot["area"].astype(str))
    key = [h for h in KEY_HOTSPOTS if h in present]
    busiest = hot.groupby("area", observed=True)[metric].sum().sort_values(ascending=False)
    rest = [str(h) for h in busiest.index if str(h) not in key]
    return (key + rest)[:n]


WDQ_BANDS = ((-3, -1, "#f4c7c3", "displacement > gain"),
             (-1, 0, "#fce8b2", "displacement < gain"),
             (0, 1, "#d9ead3", "diffusion of benefits"),
             (1, 3, "#b6d7a8", "diffusion > gain"))


WDQ_LIMIT = 3.0  # the WDQ axis: -3 to 3 (values beyond are written at the edge)


def plot_displacement(summary: pd.DataFrame, path: Path, settings, target_name: str,
                      labels: dict[str, str] | None = None) -> Path:
    """WDQ of the transactions per scenario over the standard interpretation bands: the mean
    over seeds with its 95% CI (read from the paired contrasts) and the WDQ of the summed runs;
    a value or bound beyond the axis is clipped to its edge and written there."""
    df = summary[(summary["scenario"] != settings.baseline)
                 & (summary["metric"] == "transactions")]
    df = df.set_index("scenario").reindex(
        [s for s in settings.scenarios if s in set(df["scenario"])]).reset_index()
    fig = _figure(10, 5.5)
    ax = fig.add_subplot()
    for lo, hi, color, label in WDQ_BANDS:
        ax.axhspan(lo, hi, color=color, alpha=0.8, lw=0)
        ax.text(len(df) - 0.45, (max(lo, -2.9) + min(hi, 2.9)) / 2, label, fontsize=10,
                va="center", ha="right", color="#444444")
    x = np.arange(len(df))
    lim = WDQ_LIMIT * 0.97
    y = df["wdq"].to_numpy(dtype=float)
    lo = np.clip(df["wdq_lo"].to_numpy(dtype=float), -lim, lim)
    hi = np.clip(df["wdq_hi"].to_numpy(dtype=float), -lim, lim)
    shown = np.clip(y, -lim, lim)
    ok = np.isfinite(y)
    ax.errorbar(x[ok], shown[ok], yerr=[np.nan_to_num(shown[ok] - lo[ok]),
                                        np.nan_to_num(hi[ok] - shown[ok])],
                fmt="o", color="black", ms=8, capsize=6, lw=2, label="mean over seeds, 95% CI")
    for xi, yi in zip(x[ok], y[ok], strict=True):
        if abs(yi) > lim:
            ax.text(xi - 0.06, np.sign(yi) * lim, f"{yi:.1f}", fontsize=10, va="center",
                    ha="right")
    pooled = df["wdq_pooled"].to_numpy(dtype=float)
    fine = np.isfinite(pooled)
    ax.plot(x[fine] + 0.15, np.clip(pooled[fine], -lim, lim), "D", color="#0072B2", ms=7,
            mfc="white", mew=2, label="summed runs", ls="none")
    for xi, yi in zip(x[fine], pooled[fine], strict=True):
        if abs(yi) > lim:
            ax.text(xi + 0.22, np.sign(yi) * lim, f"{yi:.1f}", fontsize=10, va="center",
                    color="#0072B2")
    for xi in x[~ok]:
        ax.text(xi, 0, "undefined", ha="center", fontsize=10)
    ax.set_xticks(x, [(labels or {}).get(s, s) for s in df["scenario"]], fontsize=12)
    ax.set_xlim(-0.6, len(df) - 0.4)
    ax.set_ylim(-WDQ_LIMIT, WDQ_LIMIT)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel("Weighted Displacement Quotient", fontsize=12)
    ax.legend(loc="lower left", fontsize=10, frameon=True)
    ax.set_title(f"Displacement around {target_name} against business as usual (buffer "
                 f"{settings.buffer_inner_m:.0f}-{settings.buffer_outer_m:.0f} m)", fontsize=13,
                 loc="left")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return path


BUDGET_BARS = (("target", "target area"), ("buffer", "surroundings"),
               ("hotspots", "other named hotspots"), ("rest", "rest of the region"),
               ("region", "region-wide (net)"))


def plot_budget(budget: pd.DataFrame, path: Path, settings, target_name: str,
                metric: str = "transactions", labels: dict[str, str] | None = None) -> Path:
    """Where the market went: per scenario, the mean difference from business as usual in the
    target area, the surroundings, the other hotspots, the rest of the region (these four add
    up) and region-wide, with 95% interval whiskers (horizontal bars)."""
    b = budget[budget["metric"] == metric]
    scenarios = [s for s in settings.scenarios if s != settings.baseline]
    colors = scenario_colors(settings.scenarios)
    fig = _figure(11, 5.5)
    ax = fig.add_subplot()
    height = 0.8 / max(len(scenarios), 1)
    for k, scen in enumerate(scenarios):
        rows = b[b["scenario"] == scen].drop_duplicates("kind").set_index("kind")
        rows = rows.reindex([kind for kind, _ in BUDGET_BARS])
        y = np.arange(len(BUDGET_BARS)) + (k - (len(scenarios) - 1) / 2) * height
        diff = rows["difference"].to_numpy(dtype=float)
        err = [np.nan_to_num(diff - rows["difference_lo"].to_numpy(dtype=float)),
               np.nan_to_num(rows["difference_hi"].to_numpy(dtype=float) - diff)]
        ax.barh(y, np.nan_to_num(diff), height=height * 0.9, color=colors[scen],
                label=(labels or {}).get(scen, scen),
                xerr=err, capsize=4, error_kw={"lw": 1.2, "ecolor": "#333333"})
    ax.set_yticks(np.arange(len(BUDGET_BARS)), [label for _, label in BUDGET_BARS],
                  fontsize=12)
    ax.invert_yaxis()
    ax.axhline(len(BUDGET_BARS) - 1.5, color="grey", lw=0.8, ls=":")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"{metric}, scenario minus business as usual (mean a run, 95% CI)",
                  fontsize=12)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=11, frameon=False, loc="lower right")
    ax.set_title(f"Where the market went, around {target_name}: the first four add up to the "
                 "last", fontsize=13, loc="left")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return path


def plot_police_cost(cost: pd.DataFrame, path: Path, settings, target_name: str,
                     labels: dict[str, str] | None = None) -> Path:
    """Extra police unit-hours per transaction removed at the target, per scenario, with the
    paired bootstrap interval (`brusim.analysis.police_cost`); "no clear reduction" where the
    quotient is not defined."""
    fig = _figure(10, 5.5)
    ax = fig.add_subplot()
    colors = scenario_colors(settings.scenarios)
    x = np.arange(len(cost))
    vals = cost["hours_per_transaction_removed"].to_numpy(dtype=float)
    lo = cost["hours_per_transaction_removed_lo"].to_numpy(dtype=float)
    hi = cost["hours_per_transaction_removed_hi"].to_numpy(dtype=float)
    ax.bar(x, np.nan_to_num(vals), color=[colors[s] for s in cost["scenario"]],
           yerr=[np.nan_to_num(vals - lo), np.nan_to_num(hi - vals)], capsize=6,
           error_kw={"lw": 1.5, "ecolor": "#333333"})
    for i, v in enumerate(vals):
        text = ("no clear reduction" if not np.isfinite(v)
                else f"{v:.2f} [{lo[i]:.2f}-{hi[i]:.2f}]" if np.isfinite(lo[i]) else f"{v:.2f}")
        ax.text(i, np.nan_to_num(hi[i] if np.isfinite(hi[i]) else v), text, ha="center",
                va="bottom", fontsize=12)
    ax.set_xticks(x, [(labels or {}).get(s, s) for s in cost["scenario"]], fontsize=12)
    ax.set_ylabel("extra police unit-hours per transaction\nremoved at the target", fontsize=12)
    ax.set_title(f"Police hours spent per unit of reduction at {target_name} (95% interval)",
                 fontsize=13, loc="left")
    ax.tick_params(labelsize=12)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return path
