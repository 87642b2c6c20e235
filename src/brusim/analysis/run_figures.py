"""Standard figures of a single run: activity per hotspot over time and a map of dealing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from brusim.io import save_figure
from brusim.map.plot import (
    PNG_OPTIONS,
    add_attribution,
    add_scale_bar,
    draw_street_network,
    place_labels,
    save_tight,
    settle_layout,
    short_label,
)
from brusim.map.streetmap import StreetMap

KEY_HOTSPOTS = ("gare_du_midi", "porte_de_hal", "querelle_marolles", "clemenceau", "anneessens",
                "lemonnier")


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def plot_hotspot_activity(
    areas: pd.DataFrame,
    path: Path,
    *,
    metric: str = "transactions",
    intervention_week: float | None = None,
    hotspots: list[str] | None = None,
    names: dict[str, str] | None = None,
) -> Path:
    """Weekly ``metric`` per hotspot catchment, with the intervention start marked."""
    hs = areas[areas["area_kind"] == "hotspot"]
    weekly = hs.groupby(["week", "area"], observed=True)[metric].sum().unstack("area")
    if hotspots is None:
        key = [h for h in KEY_HOTSPOTS if h in weekly.columns]
        rest = weekly.sum().drop(key, errors="ignore").sort_values(ascending=False)
        hotspots = key + list(rest.index[: max(0, 8 - len(key))])
    fig = _figure(11, 5.5)
    ax = fig.add_subplot()
    for h in hotspots:
        if h in weekly.columns:
            ax.plot(weekly.index, weekly[h], marker="o", ms=3, lw=1.6,
                    label=(names or {}).get(h, h))
    if intervention_week is not None and weekly.index.min() <= intervention_week \
            <= weekly.index.max() + 1:
        ax.axvline(intervention_week, color="black", ls="--", lw=1)
        ax.annotate("intervention", (intervention_week, ax.get_ylim()[1]), xytext=(4, -12),
                    textcoords="offset points", fontsize=10)
    ax.set_xlabel("week", fontsize=12)
    ax.set_ylabel(f"{metric.replace('_', ' ')} per week (catchment)", fontsize=12)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, ncol=2, frameon=False)
    fig.tight_layout()
    fig.set_layout_engine(None)  # tight_layout leaves a placeholder engine: savefig would lay
    # the figure out again in an extra (non-rasterising) draw before the real one
    save_figure(fig, path, dpi=130, pil_kwargs=dict(PNG_OPTIONS))
    return path


def plot_node_map(
    smap: StreetMap,
    values: np.ndarray,
    path: Path,
    *,
    title: str,
    label: str,
    cmap: str = "inferno_r",
    diverging: bool = False,
) -> Path:
    """Circles at street nodes sized and coloured by ``values`` (e.g. transactions per node)
    over the grey street network, with hotspots labelled."""
    fig = _figure(11, 9)
    ax = fig.add_subplot()
    draw_street_network(ax, smap, linewidth=0.3, alpha=0.6)
    nz = np.flatnonzero(np.abs(values) > 0)
    if len(nz):
        vmax = float(np.abs(values[nz]).max())
        size = 4 + 160 * np.sqrt(np.abs(values[nz]) / vmax)
        order = np.argsort(np.abs(values[nz]))
        nz, size = nz[order], size[order]
        sc = ax.scatter(smap.x[nz], smap.y[nz], s=size, c=values[nz],
                        cmap="RdBu_r" if diverging else cmap,
                        vmin=-vmax if diverging else 0, vmax=vmax, alpha=0.8, lw=0, zorder=3)
        cb = fig.colorbar(sc, ax=ax, shrink=0.6, pad=0.01)
        cb.set_label(label, fontsize=11)
    hs = smap.hotspots
    ax.scatter(smap.x[hs.node], smap.y[hs.node], s=18, facecolor="none", edgecolor="black",
               lw=0.9, zorder=4)
    xy = np.column_stack([smap.x[hs.node], smap.y[hs.node]])
    settle_layout(fig)
    place_labels(ax, xy, [short_label(n) for n in hs.names])
    ax.set_title(title, fontsize=13, loc="left")
    ax.set_xticks([])
    ax.set_yticks([])
    add_scale_bar(ax)
    add_attribution(ax, "synthetic street grid" if smap.name.startswith("synthetic")
                    else "© OpenStreetMap contributors (ODbL)")
    return save_tight(fig, path, dpi=130)


def node_counts(events: pd.DataFrame, event_type: str, n_nodes: int,
                steps: tuple[int, int] | None = None) -> np.ndarray:
    """Count events of one type per node, optionally within [start, end) steps."""
    ev = events[events["type"] == event_type]
    if steps is not None:
        ev = ev[(ev["step"] >= steps[0]) & (ev["step"] < steps[1])]
    return np.bincount(ev["node"].to_numpy(), minlength=n_nodes).astype(float)
