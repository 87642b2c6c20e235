"""The difference map: where each strategy changed dealing, against business as usual.

The map is cut into square cells (`CELL_M` metres). In each cell, a scenario's after-window
transactions are compared with business as usual's seed by seed, exactly as the paired table
compares areas (`brusim.analysis.contrasts.paired_contrast`): the mean difference and its 95%
t interval over seeds. A cell is drawn in full colour only when that interval excludes zero;
cells whose change is not clear are drawn faint, so noise is not read as displacement. One
panel per strategy, on one shared colour scale; the circles mark the target and the outer edge
of the buffer (as the crow flies: the budget measures them along the streets, so its areas lie
inside the circles).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import SymLogNorm
from matplotlib.patches import Circle
from scipy import stats

from brusim.analysis.run_figures import _figure
from brusim.io import save_figure
from brusim.map.plot import (
    add_attribution,
    add_scale_bar,
    draw_street_network,
    place_labels,
    settle_layout,
    short_label,
)
from brusim.map.streetmap import StreetMap

CELL_M = 300.0  # ASSUMPTION: about a block; fine enough to tell Midi from Porte de Hal
ZOOM_MARGIN_M = 900.0  # the panels show the hotspots plus this margin
FAINT = 0.28  # opacity of cells whose change is not clear


def cell_index(smap: StreetMap, cell_m: float = CELL_M) -> tuple[np.ndarray, int, int]:
    """Each node's cell (row-major index into an ``ny`` × ``nx`` grid), ``nx`` and ``ny``."""
    ix = np.floor((smap.x - smap.x.min()) / cell_m).astype(np.int64)
    iy = np.floor((smap.y - smap.y.min()) / cell_m).astype(np.int64)
    nx, ny = int(ix.max()) + 1, int(iy.max()) + 1
    return iy * nx + ix, nx, ny


def cell_contrasts(sales: pd.DataFrame, cells: np.ndarray, scenario: str, baseline: str,
                   level: float = 0.95) -> pd.DataFrame:
    """Per cell with any dealing in either arm: the mean paired difference (scenario −
    baseline, after window, per seed) and its t interval; ``clear`` when it excludes zero.
    ``sales`` is the comparison's nodes table restricted to transactions."""
    after = sales[sales["window"] == "after"]
    after = after.assign(cell=cells[after["node"].to_numpy()])
    per = (after[after["scenario"].isin([scenario, baseline])]
           .groupby(["scenario", "seed", "cell"])["count"].sum()
           .unstack("cell", fill_value=0.0))
    seeds = sorted(set(per.loc[scenario].index) & set(per.loc[baseline].index))
    diff = per.loc[scenario].loc[seeds] - per.loc[baseline].loc[seeds]
    n = len(seeds)
    mean = diff.mean()
    half = (float(stats.t.ppf(0.5 + level / 2, n - 1)) * diff.std(ddof=1) / math.sqrt(n) if n >= 2
            else pd.Series(np.nan, index=diff.columns))
    floor = -per.loc[baseline].loc[seeds].mean()  # no cell loses more than it had
    out = pd.DataFrame({"cell": diff.columns.astype(np.int64), "difference": mean.to_numpy(),
                        "difference_lo": np.maximum(mean - half, floor).to_numpy(),
                        "difference_hi": (mean + half).to_numpy()})
    out["clear"] = (out["difference_lo"] > 0) | (out["difference_hi"] < 0)
    return out


def plot_difference_map(sales: pd.DataFrame, smap: StreetMap, scenarios: list[str],
                        baseline: str, target: str, rings_m: tuple[float, float], path: Path,
                        labels: dict[str, str] | None = None, cell_m: float = CELL_M) -> Path:
    """One panel per scenario: cells coloured by the change in transactions against
    ``baseline`` (red: more, blue: less), faint where the change is not clear; circles of
    ``rings_m`` metres around ``target``; the hotspots marked."""
    labels = labels or {}
    cells, nx, ny = cell_index(smap, cell_m)
    others = [s for s in scenarios if s != baseline]
    tables = {s: cell_contrasts(sales, cells, s, baseline) for s in others}
    clear = np.concatenate([t.loc[t["clear"], "difference"].abs().to_numpy()
                            for t in tables.values()] + [np.zeros(1)])
    vmax = max(float(clear.max()), 10.0)
    norm = SymLogNorm(linthresh=max(vmax / 1000, 10.0), vmin=-vmax, vmax=vmax, base=10)
    ncols = min(len(others), 2)
    nrows = math.ceil(len(others) / ncols)
    fig = _figure(7.2 * ncols + 1.2, 6.6 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    x0, y0 = smap.x.min(), smap.y.min()
    edges_x, edges_y = x0 + cell_m * np.arange(nx + 1), y0 + cell_m * np.arange(ny + 1)
    hs = smap.hotspots
    t_node = hs.node[hs.index(target)]
    mesh, to_label = None, []
    for ax, scen in zip(axes, others, strict=False):
        draw_street_network(ax, smap, linewidth=0.25, alpha=0.5)
        t = tables[scen]
        for faint in (True, False):
            grid = np.full(nx * ny, np.nan)
            sel = t[t["clear"] != faint]
            grid[sel["cell"].to_numpy()] = sel["difference"].to_numpy()
            grid[grid == 0] = np.nan
            m = ax.pcolormesh(edges_x, edges_y, np.ma.masked_invalid(grid.reshape(ny, nx)),
                              cmap="RdBu_r", norm=norm, alpha=FAINT if faint else 0.95,
                              zorder=2, lw=0)
            mesh = m if not faint else mesh
        for r in rings_m:
            ax.add_patch(Circle((smap.x[t_node], smap.y[t_node]), r, fill=False, lw=1.1,
                                ls="--", ec="black", zorder=4))
        ax.scatter(smap.x[hs.node], smap.y[hs.node], s=14, facecolor="none", edgecolor="black",
                   lw=0.8, zorder=5)
        busiest = t.assign(size=t["difference"].abs()).sort_values("size", ascending=False)
        named = set()
        for cell in busiest.loc[busiest["clear"], "cell"].head(4):
            near = [k for k in range(len(hs.ids)) if cells[hs.node[k]] == cell]
            named.update(near)
        shown = sorted(named | {hs.index(target)})
        to_label.append((ax, np.column_stack([smap.x[hs.node[shown]], smap.y[hs.node[shown]]]),
                         [short_label(hs.names[k]) for k in shown]))
        n_clear = int(t["clear"].sum())
        ax.set_title(f"{labels.get(scen, scen)}\n{n_clear} cells changed clearly",
                     fontsize=12, loc="left")
        hx, hy = smap.x[hs.node], smap.y[hs.node]
        ax.set_xlim(hx.min() - ZOOM_MARGIN_M, hx.max() + ZOOM_MARGIN_M)
        ax.set_ylim(hy.min() - ZOOM_MARGIN_M, hy.max() + ZOOM_MARGIN_M)
        ax.set_xticks([])
        ax.set_yticks([])
        add_scale_bar(ax)
        add_attribution(ax, "synthetic street grid" if smap.name.startswith("synthetic")
                        else "© OpenStreetMap contributors (ODbL)")
    for ax in axes[len(others):]:
        ax.set_visible(False)
    if mesh is not None:
        cb = fig.colorbar(mesh, ax=list(axes[:len(others)]), shrink=0.7, pad=0.02)
        cb.set_label(f"change in transactions per {cell_m:.0f} m cell, after window "
                     "(mean a run; faint: not clear)", fontsize=10)
    settle_layout(fig)
    for ax, xy, names in to_label:
        place_labels(ax, xy, names, fontsize=8.5)
    rings = " and ".join(f"{r:,.0f} m" for r in rings_m)
    around = hs.names[hs.index(target)]
    fig.suptitle(f"Where each strategy changed dealing, against "
                 f"{labels.get(baseline, baseline).lower()} (circles: {rings} around {around})",
                 fontsize=13)
    save_figure(fig, path, dpi=110)
    return path
