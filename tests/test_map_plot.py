"""The fast paths of the map drawing helpers give what matplotlib's slow paths give: one street
path, label boxes moved rather than laid out again, leader lines shrunk rather than clipped,
a layout settled without a draw and a tight bounding box measured without a draw."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from brusim.map import MapSettings, StreetMap, load_street_map
from brusim.map.plot import (
    HALO,
    _annotate,
    _best_position,
    _Candidate,
    add_attribution,
    add_scale_bar,
    draw_street_network,
    draw_streets,
    place_labels,
    save_tight,
    settle_layout,
    short_label,
    street_segments,
)


@pytest.fixture(scope="module")
def synthetic() -> StreetMap:
    return load_street_map(MapSettings(source="synthetic"))


def _axes(width: float = 6.0, height: float = 5.0, dpi: float = 100) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _pixels(fig: Figure) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)


def test_street_network_is_every_segment_once(synthetic: StreetMap) -> None:
    fig, ax = _axes()
    patch = draw_street_network(ax, synthetic, linewidth=0.8, alpha=0.6)
    path = patch.get_path()
    segments = street_segments(synthetic)
    assert len(path.vertices) == 2 * synthetic.n_edges
    assert np.array_equal(path.vertices, segments.reshape(-1, 2))
    assert np.array_equal(path.codes[::2], np.full(synthetic.n_edges, path.MOVETO))
    assert np.array_equal(path.codes[1::2], np.full(synthetic.n_edges, path.LINETO))
    lo, hi = ax.get_xlim()
    assert lo < synthetic.x.min() and hi > synthetic.x.max()
    assert ax.get_aspect() == 1.0


def test_street_network_looks_like_draw_streets(synthetic: StreetMap) -> None:
    """Same streets, colour, width and transparency: the pictures differ only where two strokes
    overlap (one path is composited once), by a few grey levels."""
    fig_a, ax_a = _axes()
    draw_streets(ax_a, synthetic, linewidth=0.8, alpha=0.6)
    fig_b, ax_b = _axes()
    draw_street_network(ax_b, synthetic, linewidth=0.8, alpha=0.6)
    a, b = _pixels(fig_a), _pixels(fig_b)
    ink_a, ink_b = (255 - a).mean(), (255 - b).mean()
    assert ink_a > 1.0  # streets were drawn
    assert abs(ink_a - ink_b) < 0.03 * ink_a
    assert np.mean(np.abs(a - b)) < 0.5


def _probe(ax, xy: tuple[float, float], label: str):
    return ax.annotate(label, xy=xy, xytext=(0, 0), textcoords="offset points", fontsize=7,
                       path_effects=HALO)


@pytest.mark.parametrize("side", ["right", "left", "above", "below"])
def test_candidate_box_is_matplotlibs_extent(side: str) -> None:
    """The box chosen for a label is the one matplotlib lays the label out in at that offset and
    alignment; obstacles push the label to each side in turn."""
    fig, ax = _axes()
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    settle_layout(fig)
    renderer = fig.canvas.get_renderer()
    px, py = ax.transData.transform((50.0, 50.0))
    blocks = {"right": (px + 1, py - 60, px + 400, py + 60),
              "left": (px - 400, py - 60, px - 1, py + 60),
              "above": (px - 400, py + 1, px + 400, py + 400),
              "below": (px - 400, py - 400, px + 400, py - 1)}
    others = [k for k in blocks if k != side]
    obstacles = np.array([blocks[k] for k in others])
    text = _probe(ax, (50.0, 50.0), "Gare du Midi")
    cand = _best_position(text, renderer, obstacles, np.ones(len(obstacles)),
                          ax.get_window_extent(renderer), np.array([px, py]),
                          np.zeros((0, 2)), leader_from=8.0)
    text.set_position(cand.offset)
    text.set_ha(cand.ha)
    text.set_va(cand.va)
    expected = text.get_window_extent(renderer).padded(1.5)
    assert np.allclose(cand.bbox.get_points(), expected.get_points(), atol=1e-6)
    centre = cand.bbox.get_points().mean(axis=0)
    direction = {"right": centre[0] > px, "left": centre[0] < px,
                 "above": centre[1] > py, "below": centre[1] < py}
    assert direction[side]


@pytest.mark.parametrize("angle", [0, 30, 60, 90, 120, 150, 180, -30, -60, -90, -120, -150])
def test_leader_line_is_matplotlibs_clipped_line(angle: float) -> None:
    """A leader line shrunk by the box margin starts where matplotlib's clip against the label
    box (padded by 2 pt) would start it, within a hundredth of a pixel or so."""
    fig, ax = _axes(dpi=130)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    r = 27.0
    dx, dy = r * np.cos(np.radians(angle)), r * np.sin(np.radians(angle))
    ha = "left" if dx > 0.5 else "right" if dx < -0.5 else "center"
    va = "bottom" if dy > 0.5 else "top" if dy < -0.5 else "center"
    cand = _Candidate(0.0, (dx, dy), ha, va, Bbox.unit())
    fast = _annotate(ax, "Porte de Hal", np.array([50.0, 50.0]), cand, 7.0, 8.0, {})
    relpos = ({"left": 0.0, "right": 1.0, "center": 0.5}[ha],
              {"bottom": 0.0, "top": 1.0, "center": 0.5}[va])
    slow = ax.annotate("Porte de Hal", xy=(50.0, 50.0), xytext=(dx, dy),
                       textcoords="offset points", ha=ha, va=va, fontsize=7.0,
                       arrowprops=dict(arrowstyle="-", lw=0.7, shrinkA=0.5, shrinkB=3.5,
                                       relpos=relpos))
    fig.canvas.draw()  # shrinks are in points: the draw sets their pixel scale
    fast_ends, slow_ends = (ann.arrow_patch.get_path().vertices[[0, -1]] for ann in (fast, slow))
    assert np.allclose(fast_ends, slow_ends, atol=0.05)
    assert np.hypot(*(fast_ends[0] - fast_ends[1])) > 20.0  # a real line, not a dot


def _node_map_figure(smap: StreetMap, dpi: float) -> Figure:
    """A figure like the run's dealing map: streets, sized dots, colour bar, labels, furniture."""
    fig, ax = _axes(7.0, 6.0, dpi)
    draw_street_network(ax, smap, linewidth=0.5, alpha=0.6)
    values = np.asarray(smap.node_population, dtype=float)
    sc = ax.scatter(smap.x, smap.y, s=4 + 40 * values / values.max(), c=values,
                    cmap="inferno_r", zorder=3)
    fig.colorbar(sc, ax=ax, shrink=0.6, pad=0.01).set_label("people per node")
    hs = smap.hotspots
    settle_layout(fig)
    place_labels(ax, np.column_stack([smap.x[hs.node], smap.y[hs.node]]),
                 [short_label(n) for n in hs.names])
    ax.set_title("a synthetic city", loc="left")
    ax.set_xticks([])
    ax.set_yticks([])
    add_scale_bar(ax)
    add_attribution(ax, "synthetic street grid")
    return fig


def test_settle_layout_gives_the_transforms_of_a_draw(synthetic: StreetMap) -> None:
    fig, ax = _axes()
    draw_street_network(ax, synthetic)
    fig.colorbar(ax.scatter(synthetic.x, synthetic.y, c=synthetic.x), ax=ax)
    settle_layout(fig)
    settled = ([a.get_position().bounds for a in fig.axes], ax.transData.get_matrix().copy())
    fig.canvas.draw()
    drawn = ([a.get_position().bounds for a in fig.axes], ax.transData.get_matrix())
    assert np.allclose(settled[0], drawn[0], rtol=0, atol=1e-12)
    assert np.allclose(settled[1], drawn[1], rtol=1e-12)


@pytest.mark.parametrize("pad", [0.1, 0.15])
def test_save_tight_is_savefig_tight(synthetic: StreetMap, tmp_path: Path, pad: float) -> None:
    """Same crop and the same pixels as ``savefig(bbox_inches="tight")`` at another dpi than
    the figure's, with only one render."""
    fig = _node_map_figure(synthetic, dpi=100)
    fast = save_tight(fig, tmp_path / "fast.png", dpi=130, pad_inches=pad, facecolor="white")
    assert fast == tmp_path / "fast.png"
    fig.savefig(tmp_path / "slow.png", dpi=130, bbox_inches="tight", pad_inches=pad,
                facecolor="white")
    a, b = mpimg.imread(fast), mpimg.imread(tmp_path / "slow.png")
    assert a.shape == b.shape
    assert a.shape[0] > 500 and a.shape[1] > 600
    assert np.array_equal(a, b)
