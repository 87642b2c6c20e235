"""Animated map of street-market activity week by week: one run (the first seed) per scenario,
side by side, with a clock and the start of the interventions marked. Written as a GIF
(Pillow, one shared palette) and, when ``ffmpeg`` is on the PATH, as an MP4.

The streets are drawn once per panel and kept as a background; each frame redraws only the
scatter of each panel, the clock and the timeline cursor (blitting), so rendering stays cheap
even on the full Brussels map.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from brusim.map.plot import HALO, draw_streets

if TYPE_CHECKING:
    from brusim.map.streetmap import StreetMap
    from brusim.reports.results import Results

DOT_COLOR = "#c0392b"
PANEL_W = 4.4  # inches
DPI = 100
FPS = 2


def load_map(settings) -> StreetMap:
    """The street map of the comparison, composed exactly as `brusim compare` does (the
    settings' overrides plus the baseline scenario)."""
    from brusim.experiments.compare import compose_run
    from brusim.map import load_street_map
    from brusim.model.model import map_settings

    cfg = compose_run(settings, settings.baseline, settings.first_seed)
    return load_street_map(map_settings(cfg.map))


def weekly_matrix(weekly_nodes: pd.DataFrame, scenarios: list[str], n_weeks: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(nodes, counts)``: the street nodes with any activity and a ``(scenario, week,
    node)`` array of their transaction counts."""
    nodes = np.unique(weekly_nodes["node"].to_numpy())
    counts = np.zeros((len(scenarios), n_weeks, len(nodes)))
    col = np.searchsorted(nodes, weekly_nodes["node"].to_numpy())
    row = weekly_nodes["scenario"].map({s: i for i, s in enumerate(scenarios)}).to_numpy()
    week = weekly_nodes["week"].to_numpy()
    ok = (row >= 0) & (week >= 0) & (week < n_weeks)
    np.add.at(counts, (row[ok].astype(int), week[ok], col[ok]), weekly_nodes["count"][ok])
    return nodes, counts


def extent(x: np.ndarray, y: np.ndarray, pad: float = 400.0, min_span: float = 1500.0,
           aspect: tuple[float, float] = (0.6, 1.25)) -> tuple[float, float, float, float]:
    """A padded box around the points, at least ``min_span`` metres wide and tall, with a
    height/width ratio clipped to ``aspect`` (so panels keep a sensible shape)."""
    cx, cy = (x.min() + x.max()) / 2, (y.min() + y.max()) / 2
    w = max(np.ptp(x) + 2 * pad, min_span)
    h = max(np.ptp(y) + 2 * pad, min_span)
    h, w = max(h, w * aspect[0]), max(w, h / aspect[1])
    return cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2


def draw_panel(ax, smap: StreetMap, box: tuple[float, float, float, float], title: str) -> None:
    """The static part of one panel: streets, hotspot circles and the title."""
    draw_streets(ax, smap, linewidth=0.3, alpha=0.5)
    ax.set_xlim(*box[:2])
    ax.set_ylim(*box[2:])
    ax.set_xticks([])
    ax.set_yticks([])
    hs = smap.hotspots
    ax.scatter(smap.x[hs.node], smap.y[hs.node], s=14, facecolor="none", edgecolor="black",
               lw=0.7, zorder=4)
    ax.set_title(title, fontsize=10, loc="left")


def draw_timeline(fig: Figure, rect: tuple[float, float, float, float], n_weeks: int,
                  start: float, label: str):
    """A week axis with the intervention period shaded and its start marked; returns the
    cursor (a span to move to the current week)."""
    tl = fig.add_axes(rect)
    tl.set_xlim(0, n_weeks)
    tl.set_ylim(0, 1)
    tl.set_yticks([])
    tl.set_xticks(range(0, n_weeks + 1, max(1, n_weeks // 10)))
    tl.tick_params(labelsize=8)
    tl.axvspan(start, n_weeks, color=DOT_COLOR, alpha=0.15, lw=0)
    tl.axvline(start, color=DOT_COLOR, lw=2)
    tl.text(start, 1.6, label, fontsize=9, color=DOT_COLOR, ha="center", va="bottom",
            transform=tl.get_xaxis_transform())
    return tl.axvspan(0, 1, color="black", alpha=0.6, lw=0)


def build_animation(res: Results, out_dir: Path, lang: str) -> list[Path]:
    """Write ``animation_<lang>.gif`` (and ``.mp4`` with ffmpeg) into ``out_dir``."""
    from brusim.reports.i18n import tr
    from brusim.reports.results import scenario_description, scenario_name

    smap = load_map(res.settings)
    scenarios = list(res.settings.scenarios)
    wn = res.tables["weekly_nodes"]
    n_weeks = int(max(res.manifest.get("weeks") or 0, wn["week"].max() + 1))
    start = float(res.manifest.get("intervention_week", 0))
    nodes, counts = weekly_matrix(wn, scenarios, n_weeks)
    if not len(nodes):
        return []
    box = extent(smap.x[nodes], smap.y[nodes])
    panel_h = PANEL_W * (box[3] - box[2]) / (box[1] - box[0])
    ncols = min(len(scenarios), 3)
    nrows = math.ceil(len(scenarios) / ncols)
    top, bottom = 1.25, 0.9  # inches for the clock and the timeline
    fig_w, fig_h = ncols * PANEL_W + 0.4, nrows * panel_h + top + bottom
    fig = Figure(figsize=(fig_w, fig_h), dpi=DPI)
    FigureCanvasAgg(fig)
    sizes = 300 * np.sqrt(counts / max(counts.max(), 1))
    target = res.settings.target
    tnode = smap.hotspots.node[smap.hotspots.index(target)] if target in smap.hotspots.ids \
        else None
    dots, labels = [], []
    for k, scen in enumerate(scenarios):
        r, c = divmod(k, ncols)
        ax = fig.add_axes(((0.25 + c * PANEL_W) / fig_w,
                           (bottom + (nrows - 1 - r) * panel_h + 0.05) / fig_h,
                           (PANEL_W - 0.1) / fig_w, (panel_h - 0.45) / fig_h))
        desc = textwrap.shorten(scenario_description(res, scen, lang) or "", 48,
                                placeholder=" …")
        draw_panel(ax, smap, box, f"{scenario_name(scen, lang)}\n{desc}")
        dots.append(ax.scatter(smap.x[nodes], smap.y[nodes], s=sizes[k, 0], c=DOT_COLOR,
                               alpha=0.65, lw=0, zorder=3))
        if tnode is not None:  # redrawn every frame, above the dots
            labels.append(ax.annotate(
                res.name(target), (smap.x[tnode], smap.y[tnode]), xytext=(5, 5),
                textcoords="offset points", fontsize=8, zorder=5, path_effects=HALO,
                annotation_clip=True))
    clock = fig.text(0.2 / fig_w, 1 - 0.25 / fig_h, "", fontsize=24, weight="bold", va="top")
    status = fig.text(2.6 / fig_w, 1 - 0.38 / fig_h, "", fontsize=13, va="top")
    fig.text(0.2 / fig_w, 1 - 0.8 / fig_h,
             tr("animation_legend", lang, seed=res.settings.first_seed), fontsize=9,
             color="#444444", va="top")
    cursor = draw_timeline(fig, (0.6 / fig_w, 0.35 / fig_h, (fig_w - 1.2) / fig_w, 0.12 / fig_h),
                           n_weeks, start, tr("animation_start", lang, n=int(start)))

    def show(week: int) -> None:
        for k, dot in enumerate(dots):
            dot.set_sizes(sizes[k, week])
        clock.set_text(tr("animation_week", lang, n=week + 1))
        running = week >= start
        status.set_text(tr("animation_active" if running else "animation_before", lang))
        status.set_color(DOT_COLOR if running else "#444444")
        cursor.set_x(week)

    animated = [*dots, *labels, clock, status, cursor]
    for artist in animated:
        artist.set_animated(True)
    frames = render_frames(fig, animated, show, n_weeks)
    paths = [write_gif(frames, out_dir / f"animation_{lang}.gif")]
    if shutil.which("ffmpeg"):
        paths.append(write_mp4(frames, out_dir / f"animation_{lang}.mp4"))
    return paths


def render_frames(fig: Figure, animated: list, show, n_weeks: int) -> list[np.ndarray]:
    """RGB frames, one per week: the static map is drawn once, then only the ``animated``
    artists are redrawn on top of it (blitting)."""
    canvas = fig.canvas
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    frames = []
    for week in range(n_weeks):
        show(week)
        canvas.restore_region(background)
        for artist in animated:
            fig.draw_artist(artist)
        frames.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    return frames


def write_gif(frames: list[np.ndarray], path: Path, colors: int = 64) -> Path:
    """An animated GIF with one shared palette and no dithering (small and stable)."""
    from PIL import Image

    palette = Image.fromarray(np.concatenate([frames[0], frames[-1]])).quantize(
        colors, method=Image.Quantize.MEDIANCUT)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE)
              for f in frames]
    tmp = path.with_name(f".{path.name}.tmp")
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                   duration=int(1000 / FPS), loop=0, optimize=True)
    tmp.replace(path)
    return path


def write_mp4(frames: list[np.ndarray], path: Path) -> Path:
    """An H.264 MP4 (yuv420p, plays everywhere) through the ffmpeg command-line tool."""
    h, w = frames[0].shape[:2]
    tmp = path.with_name(f".{path.stem}.tmp.mp4")
    cmd = [shutil.which("ffmpeg"), "-y", "-loglevel", "error", "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(FPS), "-i", "-",
           "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", "-vcodec", "libx264",
           str(tmp)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), check=True)
    tmp.replace(path)
    return path
