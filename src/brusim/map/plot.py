"""Maps of a `StreetMap`, drawn from its own projected coordinates (EPSG:31370 metres).

Streets are drawn from ``smap.x``/``smap.y`` (never a graph layout), so the map keeps its true
shape and scale: `draw_streets` (one `LineCollection`, colours per segment or node) and
`draw_street_network` (one colour, one path: a fast static background for result maps) are the
reusable building blocks; `settle_layout` and `save_tight` spare result figures the extra
draws label placement and ``bbox_inches="tight"`` would cost. `plot_street_map` draws the
reference map (police zones, hotspots, stations, consumption rooms, scale bar, north arrow,
attribution) into a PNG with the Agg backend, without touching pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath
from matplotlib.transforms import Bbox

from brusim.io import save_figure
from brusim.map.streetmap import StreetMap

OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"
STREET_GREY = "#8c8c8c"
# Okabe & Ito (2008) colour-blind-safe palette without yellow (too pale for thin lines) and black,
# in the order of the zones in configs/places/communes.yaml (5339..5344), arranged so that the
# two blues (Marlow, Polbruno) and orange/vermillion (Ouest, Montgomery) never share a border.
ZONE_COLORS = ("#CC79A7", "#E69F00", "#009E73", "#0072B2", "#D55E00", "#56B4E9")
HOTSPOT_COLOR = "#111111"
ROOM_COLOR = "#F0E442"  # Okabe-Ito yellow, unused by the zones; drawn with a black edge
HALO = [patheffects.withStroke(linewidth=2.4, foreground="white")]
# zlib level 3 for PNGs: the same pixels, written about 40% faster than at the default level 6,
# in a file of about the same size (street maps compress even better)
PNG_OPTIONS = {"compress_level": 3}


# ------------------------------------------------------------------------------- streets


def street_edges(smap: StreetMap) -> tuple[np.ndarray, np.ndarray]:
    """End nodes ``(u, v)`` of every undirected street segment, with ``u < v``, in CSR order."""
    rows = np.repeat(np.arange(smap.n_nodes, dtype=np.int64), np.diff(smap.indptr))
    cols = smap.indices.astype(np.int64)
    keep = rows < cols
    return rows[keep], cols[keep]


def street_segments(smap: StreetMap) -> np.ndarray:
    """``(E, 2, 2)`` array of segment end coordinates (metres), in `street_edges` order."""
    u, v = street_edges(smap)
    start = np.column_stack([smap.x[u], smap.y[u]])
    end = np.column_stack([smap.x[v], smap.y[v]])
    return np.stack([start, end], axis=1)


def _apply_colors(lc: LineCollection, smap: StreetMap, colors: object,
                  u: np.ndarray, v: np.ndarray) -> None:
    """Set ``lc``'s colours from a colour, per-edge or per-node colours, or numeric values."""
    if colors is None:
        lc.set_color(STREET_GREY)
        return
    if isinstance(colors, str) or (isinstance(colors, tuple) and len(colors) in (3, 4)
                                   and all(np.isscalar(c) for c in colors)):
        lc.set_color(colors)
        return
    arr = np.asarray(colors)
    n_edges, n_nodes = len(u), smap.n_nodes
    if len(arr) not in (n_edges, n_nodes):
        raise ValueError(
            f"colors has {len(arr)} entries; give one per street segment ({n_edges}) "
            f"or one per node ({n_nodes})"
        )
    per_node = len(arr) != n_edges
    if arr.ndim == 1 and np.issubdtype(arr.dtype, np.number):
        values = (arr[u] + arr[v]) / 2.0 if per_node else arr
        lc.set_array(np.asarray(values, dtype=float))
    else:
        rgba = to_rgba_array(arr)
        lc.set_color(rgba[u] if per_node else rgba)


def draw_streets(
    ax: Axes,
    smap: StreetMap,
    colors: object = None,
    linewidth: float | np.ndarray = 0.4,
    *,
    cmap: object = None,
    norm: object = None,
    zorder: float = 1.0,
    **kwargs: object,
) -> LineCollection:
    """Draw every street segment of ``smap`` on ``ax`` as one `LineCollection` and return it.

    ``colors`` may be None (neutral grey), one colour, a sequence of colours (one per segment in
    `street_edges` order, or one per node: a segment takes its first end's colour), or numeric
    values per segment or per node (a segment takes the mean of its two ends) mapped through
    ``cmap``/``norm`` (use the returned collection for a colour bar). When the number of nodes
    equals the number of segments, values are read per segment. Sets equal aspect and limits.
    """
    u, v = street_edges(smap)
    lc = LineCollection(street_segments(smap), linewidths=linewidth, zorder=zorder,
                        capstyle="round", **kwargs)
    if cmap is not None:
        lc.set_cmap(cmap)
    if norm is not None:
        lc.set_norm(norm)
    _apply_colors(lc, smap, colors, u, v)
    ax.add_collection(lc, autolim=False)
    _fit_map(ax, smap)
    return lc


def draw_street_network(
    ax: Axes,
    smap: StreetMap,
    color: object = STREET_GREY,
    linewidth: float = 0.4,
    *,
    alpha: float | None = None,
    zorder: float = 1.0,
) -> PathPatch:
    """Draw every street segment of ``smap`` in one colour as a single path and return it.

    Looks like `draw_streets` with one colour but is several times faster on a city map (one
    path rendered in one pass instead of a path per segment): use it for a static street
    background. Sets equal aspect and limits.
    """
    segments = street_segments(smap)
    codes = np.tile(np.array([MplPath.MOVETO, MplPath.LINETO], dtype=MplPath.code_type),
                    len(segments))
    patch = PathPatch(MplPath(segments.reshape(-1, 2), codes), fill=False, edgecolor=color,
                      linewidth=linewidth, alpha=alpha, capstyle="round", zorder=zorder)
    ax.add_artist(patch)  # not add_patch: its data-limit update walks every segment
    _fit_map(ax, smap)
    return patch


def _fit_map(ax: Axes, smap: StreetMap) -> None:
    """Limits around the whole map with a 2% margin, equal aspect."""
    pad = 0.02 * max(np.ptp(smap.x), np.ptp(smap.y), 1.0)
    ax.set_xlim(smap.x.min() - pad, smap.x.max() + pad)
    ax.set_ylim(smap.y.min() - pad, smap.y.max() + pad)
    ax.set_aspect("equal")


def zone_edge_colors(smap: StreetMap, palette: Sequence[str] = ZONE_COLORS) -> np.ndarray:
    """RGBA colour of each segment from its first end node's police zone."""
    u, _ = street_edges(smap)
    rgba = to_rgba_array([palette[i % len(palette)] for i in range(len(smap.zone_names))])
    return rgba[smap.zone[u].astype(np.int64)]


def default_linewidth(smap: StreetMap) -> float:
    """Street line width (points) that keeps dense maps readable and sparse maps visible."""
    return float(np.clip(60.0 / np.sqrt(max(smap.n_edges, 1)), 0.3, 1.5))


# -------------------------------------------------------------------------------- places


def short_label(name: str, max_len: int = 20) -> str:
    """Map label for a place name: drop a parenthesised note and, if long, the second language.

    ``"Gare du Midi / Zuidstation"`` -> ``"Gare du Midi"``; ``"Saint-Antoine (Forest)"`` ->
    ``"Saint-Antoine"``; ``"Querelle / Marolles"`` stays as it is.
    """
    label = name.split(" (")[0].strip()
    if len(label) > max_len and " / " in label:
        label = label.split(" / ")[0]
    return label


def _draw_stations(ax: Axes, smap: StreetMap, size: float) -> None:
    st = smap.stations
    if len(st):
        ax.scatter(smap.x[st.node], smap.y[st.node], s=size, marker="o", facecolor="white",
                   edgecolor="#444444", linewidth=0.6, zorder=3)


def _draw_rooms(ax: Axes, smap: StreetMap, size: float) -> None:
    rooms = smap.rooms
    for i in range(len(rooms)):
        planned = str(rooms.attrs[i].get("status", "open")) != "open"
        node = rooms.node[i]
        ax.scatter(smap.x[node], smap.y[node], s=size, marker="P", linewidth=0.8,
                   facecolor="white" if planned else ROOM_COLOR, edgecolor="black", zorder=5)


def _draw_hotspots(ax: Axes, smap: StreetMap, size: float) -> None:
    hs = smap.hotspots
    for i in range(len(hs)):
        listed = bool(hs.attrs[i].get("listed", True))
        node = hs.node[i]
        ax.scatter(smap.x[node], smap.y[node], s=size, marker="o", linewidth=0.9,
                   facecolor=HOTSPOT_COLOR if listed else "white", edgecolor=HOTSPOT_COLOR,
                   zorder=6)


def _legend_handles(smap: StreetMap, palette: Sequence[str]) -> list[Line2D]:
    handles = [Line2D([], [], color=palette[i % len(palette)], lw=2.5, label=name)
               for i, name in enumerate(smap.zone_names)]

    def marker(label: str, **kw: object) -> Line2D:
        return Line2D([], [], linestyle="none", label=label, **kw)

    listed = [bool(a.get("listed", True)) for a in smap.hotspots.attrs]
    if any(listed):
        handles.append(marker("Hotspot (official list)", marker="o", markersize=6,
                              color=HOTSPOT_COLOR))
    if not all(listed):
        handles.append(marker("Hotspot (named in press)", marker="o", markersize=6,
                              markerfacecolor="white", markeredgecolor=HOTSPOT_COLOR))
    if len(smap.stations):
        handles.append(marker("Metro / rail station", marker="o", markersize=4,
                              markerfacecolor="white", markeredgecolor="#444444"))
    status = {str(a.get("status", "open")) == "open" for a in smap.rooms.attrs}
    if True in status:
        handles.append(marker("Consumption room (open)", marker="P", markersize=8,
                              markerfacecolor=ROOM_COLOR, markeredgecolor="black"))
    if False in status:
        handles.append(marker("Consumption room (planned)", marker="P", markersize=8,
                              markerfacecolor="white", markeredgecolor="black"))
    return handles


# -------------------------------------------------------------------------- label layout


@dataclass
class _Candidate:
    cost: float
    offset: tuple[float, float]
    ha: str
    va: str
    bbox: Bbox


_ANGLES = (0, 180, 30, 150, -30, -150, 60, 120, -60, -120, 90, -90)
_RADII = (5.0, 9.0, 14.0, 20.0, 27.0, 35.0, 45.0)
_SHIFT = {"left": 0.0, "bottom": 0.0, "center": 0.5, "right": 1.0, "top": 1.0}
_PAD = 1.5  # pixels added around each label box


def _alignment(dx: float, dy: float) -> tuple[str, str]:
    ha = "left" if dx > 0.5 else "right" if dx < -0.5 else "center"
    va = "bottom" if dy > 0.5 else "top" if dy < -0.5 else "center"
    return ha, va


def _ring(r: float) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Offsets (points, rows dx, dy) of the candidate positions at radius ``r``, in trial order,
    with the text alignment that puts each label on the far side of its offset."""
    rad = np.radians(np.asarray(_ANGLES, dtype=float))
    offsets = np.column_stack([r * np.cos(rad), r * np.sin(rad)])
    return offsets, [_alignment(dx, dy) for dx, dy in offsets]


_RINGS = [(r, *_ring(r)) for r in _RADII]


def _box_rows(boxes: Sequence[Bbox]) -> np.ndarray:
    """Rows (x0, y0, x1, y1) of display boxes."""
    return np.array([b.extents for b in boxes], dtype=float).reshape(-1, 4)


def _overlaps(boxes: np.ndarray, obstacles: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted overlap area (pixels²) of each box (rows x0, y0, x1, y1) with the obstacles;
    each overlapping obstacle also adds a fixed 50 px² so that touching is never free."""
    w = (np.minimum(boxes[:, None, 2], obstacles[None, :, 2])
         - np.maximum(boxes[:, None, 0], obstacles[None, :, 0]))
    h = (np.minimum(boxes[:, None, 3], obstacles[None, :, 3])
         - np.maximum(boxes[:, None, 1], obstacles[None, :, 1]))
    hit = (w > 0) & (h > 0)
    return np.where(hit, weights * (w * h + 50.0), 0.0).sum(axis=1)


def _outside(boxes: np.ndarray, frame: Bbox) -> np.ndarray:
    """Area of each box (rows x0, y0, x1, y1) outside ``frame`` (pixels²)."""
    w = np.minimum(boxes[:, 2], frame.x1) - np.maximum(boxes[:, 0], frame.x0)
    h = np.minimum(boxes[:, 3], frame.y1) - np.maximum(boxes[:, 1], frame.y0)
    inside = np.maximum(w, 0.0) * np.maximum(h, 0.0)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inside


def marker_boxes(ax: Axes, xy: np.ndarray, size_pts: float) -> list[Bbox]:
    """Square display-space boxes of side ``size_pts`` around data points."""
    half = size_pts * ax.figure.dpi / 72.0 / 2.0
    return [Bbox(row.reshape(2, 2)) for row in _point_boxes(ax, xy, half)]


def _crowded_first(xy: np.ndarray, radius: float) -> np.ndarray:
    """Point order with the most neighbours within ``radius`` first (hardest to label)."""
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    crowd = (d < radius).sum(axis=1)
    return np.lexsort((np.arange(len(xy)), -crowd))


def _box_distance(boxes: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Distance (pixels) from each box (rows x0, y0, x1, y1) to each display point: (B, P)."""
    dx = np.maximum(np.maximum(boxes[:, None, 0] - pts[None, :, 0],
                               pts[None, :, 0] - boxes[:, None, 2]), 0.0)
    dy = np.maximum(np.maximum(boxes[:, None, 1] - pts[None, :, 1],
                               pts[None, :, 1] - boxes[:, None, 3]), 0.0)
    return np.hypot(dx, dy)


def _ambiguity(boxes: np.ndarray, own: np.ndarray, others: np.ndarray,
               margin: float) -> np.ndarray:
    """Penalty per box when another labelled point is (nearly) as close to the label as its
    own point."""
    if not len(others):
        return np.zeros(len(boxes))
    gap = _box_distance(boxes, own[None, :]) + margin - _box_distance(boxes, others)
    return np.clip(gap, 0.0, None).sum(axis=1) * 40.0


def _best_position(text: object, renderer: object, obstacles: np.ndarray,
                   weights: np.ndarray, frame: Bbox, own: np.ndarray, others: np.ndarray,
                   leader_from: float) -> _Candidate:
    """Try offsets around the anchor, nearest first; return the first free or least-bad one.

    The cost adds overlaps with obstacles (rows x0, y0, x1, y1 with ``weights``), any part
    outside the axes, ambiguity (a label closer to another point than to its own; a quarter as
    bad with a leader line) and the offset radius. The label is laid out once: at an offset
    and alignment its box is that box moved by the offset (pixels) and the alignment shift.
    """
    text.set_position((0.0, 0.0))
    text.set_ha("left")
    text.set_va("bottom")
    base = text.get_window_extent(renderer)
    px_per_pt = text.get_figure(root=True).dpi / 72.0  # the "offset points" transform's scale
    margin = 6.0 * renderer.points_to_pixels(1.0)
    best: _Candidate | None = None
    for r, offsets, aligns in _RINGS:
        shift = np.array([(_SHIFT[ha] * base.width, _SHIFT[va] * base.height)
                          for ha, va in aligns])
        corner = np.array([base.x0, base.y0]) + offsets * px_per_pt - shift
        boxes = np.hstack([corner - _PAD, corner + [base.width + _PAD, base.height + _PAD]])
        vague = _ambiguity(boxes, own, others, margin) * (0.25 if r > leader_from else 1.0)
        costs = _overlaps(boxes, obstacles, weights) + 100.0 * _outside(boxes, frame) + vague + r
        for k in range(len(costs)):
            if best is None or costs[k] < best.cost:
                best = _Candidate(float(costs[k]), (float(offsets[k, 0]), float(offsets[k, 1])),
                                  *aligns[k], Bbox(boxes[k].reshape(2, 2)))
        if best is not None and best.cost <= r:  # nothing overlapped at this radius
            break
    assert best is not None
    return best


def place_labels(
    ax: Axes,
    xy: np.ndarray,
    labels: Sequence[str],
    *,
    fontsize: float = 6.5,
    obstacles: Sequence[tuple[Bbox, float]] = (),
    extra_points: np.ndarray | None = None,
    leader_from: float = 8.0,
    **text_kw: object,
) -> list:
    """Label data points so labels avoid each other and weighted obstacle boxes (display px).

    Greedy: the most crowded points choose first among offsets of growing radius, avoiding
    positions nearer to another point (of ``xy`` or ``extra_points``) than to their own.
    Labels pushed further than ``leader_from`` points get a leader line. Returns annotations.
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    xy = np.asarray(xy, dtype=float)
    pts = ax.transData.transform(xy)
    if extra_points is not None and len(extra_points):
        extra = ax.transData.transform(np.asarray(extra_points, dtype=float))
    else:
        extra = np.zeros((0, 2))
    placed = _box_rows([box for box, _ in obstacles])
    weights = np.array([weight for _, weight in obstacles], dtype=float)
    out = []
    for i in _crowded_first(xy, np.ptp(ax.get_xlim()) / 15.0):
        others = np.vstack([np.delete(pts, i, axis=0), extra])
        others = others[np.hypot(*(others - pts[i]).T) > 1.0]  # ignore points sharing a spot
        text = ax.annotate(labels[i], xy=tuple(xy[i]), xytext=(0, 0), textcoords="offset points",
                           fontsize=fontsize, path_effects=HALO, zorder=8, **text_kw)
        cand = _best_position(text, renderer, placed, weights, frame, pts[i], others,
                              leader_from)
        text.remove()
        out.append(_annotate(ax, labels[i], xy[i], cand, fontsize, leader_from, text_kw))
        placed = np.vstack([placed, cand.bbox.extents])
        weights = np.append(weights, 1.0)
    return out


def _annotate(ax: Axes, label: str, xy: np.ndarray, cand: _Candidate, fontsize: float,
              leader_from: float, text_kw: dict) -> object:
    """Draw one label at its chosen offset, with a haloed leader line when far from its point."""
    relpos = ({"left": 0.0, "right": 1.0, "center": 0.5}[cand.ha],
              {"bottom": 0.0, "top": 1.0, "center": 0.5}[cand.va])
    radius = float(np.hypot(*cand.offset))
    arrow = None
    if radius > leader_from:
        # The line starts at the text anchor, on the label's box. Matplotlib would clip it
        # where it leaves that box padded by 2 pt, bisecting against the box on every draw
        # (slow); the line is straight, so shrinking its start by that length is the same.
        ux, uy = abs(cand.offset[0]) / radius, abs(cand.offset[1]) / radius
        edge = max(ux if cand.ha != "center" else 0.0, uy if cand.va != "center" else 0.0)
        arrow = dict(arrowstyle="-", color="#222222", lw=0.7, shrinkA=0.5 + 2.0 / edge,
                     shrinkB=3.5, relpos=relpos, patchA=None)
    ann = ax.annotate(label, xy=tuple(xy), xytext=cand.offset, textcoords="offset points",
                      ha=cand.ha, va=cand.va, fontsize=fontsize, path_effects=HALO, zorder=8,
                      arrowprops=arrow, **text_kw)
    if ann.arrow_patch is not None:
        ann.arrow_patch.set_path_effects(
            [patheffects.withStroke(linewidth=2.0, foreground="white")])
    return ann


# ------------------------------------------------------------------------ map furniture


def _scale_length(width_m: float) -> float:
    """A round scale-bar length about a tenth of the map width (1 km for Brussels)."""
    steps = (50, 100, 200, 500, 1000, 2000, 5000, 10000)
    return float(max([s for s in steps if s <= width_m / 10.0], default=steps[0]))


def add_scale_bar(ax: Axes, length_m: float | None = None, loc: str = "lower left") -> None:
    """A black scale bar of ``length_m`` metres (axes must be in metres)."""
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    length_m = length_m or _scale_length(np.ptp(ax.get_xlim()))
    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    bar = AnchoredSizeBar(ax.transData, length_m, label, loc, pad=0.5, borderpad=0.8, sep=3,
                          frameon=True, size_vertical=np.ptp(ax.get_ylim()) / 300.0,
                          color="black")
    bar.patch.set(facecolor="white", edgecolor="none", alpha=0.85)
    bar.set_zorder(9)
    ax.add_artist(bar)


def add_north_arrow(ax: Axes, x: float = 0.965, y: float = 0.90) -> None:
    """A north arrow in axes fraction (Lambert 72 grid north is true north within 1°)."""
    ax.annotate("", xy=(x, y + 0.06), xytext=(x, y), xycoords="axes fraction",
                arrowprops=dict(arrowstyle="-|>,head_width=0.35,head_length=0.7",
                                color="black", lw=1.4))
    ax.text(x, y + 0.065, "N", transform=ax.transAxes, ha="center", va="bottom",
            fontsize=10, fontweight="bold", path_effects=HALO)


def add_attribution(ax: Axes, text: str = OSM_ATTRIBUTION) -> None:
    """Data attribution in the lower-right corner of the axes."""
    ax.text(0.995, 0.006, text, transform=ax.transAxes, ha="right", va="bottom",
            fontsize=6.5, color="#333333", path_effects=HALO, zorder=9)


def _free_anchor(ax: Axes, smap: StreetMap, nodes: np.ndarray, size: tuple[float, float],
                 avoid: np.ndarray) -> tuple[float, float]:
    """The node of ``nodes`` nearest their median where a centred box of ``size`` pixels
    overlaps none of the ``avoid`` boxes (rows x0, y0, x1, y1); else the median-nearest node."""
    mx, my = np.median(smap.x[nodes]), np.median(smap.y[nodes])
    order = nodes[np.argsort(np.hypot(smap.x[nodes] - mx, smap.y[nodes] - my))]
    disp = ax.transData.transform(np.column_stack([smap.x[order], smap.y[order]]))
    hw, hh = size[0] / 2, size[1] / 2
    for k, (px, py) in enumerate(disp[:600]):
        hit = ((avoid[:, 0] < px + hw) & (avoid[:, 2] > px - hw)
               & (avoid[:, 1] < py + hh) & (avoid[:, 3] > py - hh))
        if not hit.any():
            return float(smap.x[order[k]]), float(smap.y[order[k]])
    return float(smap.x[order[0]]), float(smap.y[order[0]])


def _point_boxes(ax: Axes, xy: np.ndarray, half_px: float) -> np.ndarray:
    """Rows (x0, y0, x1, y1) of display boxes of half-side ``half_px`` around data points."""
    if not len(xy):
        return np.zeros((0, 4))
    d = ax.transData.transform(xy)
    return np.column_stack([d - half_px, d + half_px])


def draw_commune_names(ax: Axes, smap: StreetMap, fontsize: float, places_xy: np.ndarray,
                        stations_xy: np.ndarray) -> list[tuple[Bbox, float]]:
    """Commune names in grey italics near each commune's middle, clear of hotspots, rooms,
    stations and each other; returns their boxes as light obstacles for later labels."""
    renderer = ax.figure.canvas.get_renderer()
    pt = renderer.points_to_pixels(1.0)
    avoid = np.vstack([_point_boxes(ax, places_xy, 7 * pt), _point_boxes(ax, stations_xy, 3 * pt)])
    boxes = []
    for i, name in enumerate(smap.commune_names):
        nodes = np.flatnonzero(smap.commune == i)
        if not len(nodes):
            continue
        t = ax.text(0, 0, name, ha="center", va="center", fontsize=fontsize, style="italic",
                    color="#4d4d4d", path_effects=HALO, zorder=4)
        size = t.get_window_extent(renderer)
        t.set_position(_free_anchor(ax, smap, nodes, (size.width, size.height), avoid))
        box = t.get_window_extent(renderer)
        avoid = np.vstack([avoid, [box.x0, box.y0, box.x1, box.y1]])
        boxes.append((box, 0.5))
    return boxes


# ------------------------------------------------------------------------------ saving


def settle_layout(fig: Figure) -> None:
    """Give every axes of ``fig`` its final position (equal aspect, colour bars) without
    rendering, as a draw would: data-to-pixel transforms are then exact for label placement."""
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        locator = ax.get_axes_locator()
        ax.apply_aspect(locator(ax, renderer) if locator else None)


def save_tight(fig: Figure, path: str | Path, *, dpi: float, pad_inches: float = 0.1,
               **kwargs: object) -> Path:
    """``fig.savefig(path, dpi=dpi, bbox_inches="tight", pad_inches=pad_inches)`` with one
    render instead of two: the tight box is measured at ``dpi`` from the artists' extents
    rather than by a full (non-rasterising) draw of every street first. A PNG is written with
    `PNG_OPTIONS` unless ``pil_kwargs`` are given. Returns ``path``."""
    if str(path).lower().endswith(".png"):
        kwargs.setdefault("pil_kwargs", dict(PNG_OPTIONS))
    saved_dpi = fig.dpi
    fig.dpi = dpi
    try:
        settle_layout(fig)
        bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(pad_inches)
    finally:
        fig.dpi = saved_dpi
    save_figure(fig, path, dpi=dpi, bbox_inches=bbox, **kwargs)
    return Path(path)


# ------------------------------------------------------------------------------ the map


def _new_figure(smap: StreetMap, dpi: float) -> tuple[Figure, Axes]:
    """A figure with a map axes sized to the map extent and room for a legend on the right."""
    aspect = max(np.ptp(smap.y), 1.0) / max(np.ptp(smap.x), 1.0)
    map_w = 11.0
    fig = Figure(figsize=(map_w + 3.4, map_w * aspect + 0.9), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.01, 0.01, map_w / (map_w + 3.4), 1 - 0.9 / (map_w * aspect + 0.9)))
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#999999")
        spine.set_linewidth(0.6)
    return fig, ax


def plot_street_map(
    smap: StreetMap,
    path: str | Path,
    *,
    title: str | None = None,
    dpi: int = 150,
    attribution: str | None = None,
    commune_labels: bool = True,
) -> Path:
    """Draw the reference map of ``smap`` (streets by police zone and named places) as a PNG.

    ``attribution`` defaults to the OpenStreetMap credit (a synthetic map gets a plain note).
    Returns the written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = _new_figure(smap, dpi)
    palette = ZONE_COLORS
    draw_streets(ax, smap, colors=zone_edge_colors(smap, palette),
                 linewidth=default_linewidth(smap), alpha=0.9)
    _draw_stations(ax, smap, size=14)
    _draw_rooms(ax, smap, size=110)
    _draw_hotspots(ax, smap, size=34)
    ax.set_title(title or _default_title(smap), fontsize=12, loc="left")
    ax.legend(handles=_legend_handles(smap, palette), loc="upper left",
              bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
              title="Police zones and places", title_fontsize=9, alignment="left")
    add_scale_bar(ax)
    add_north_arrow(ax)
    if attribution is None:
        attribution = ("synthetic street grid (not real data)"
                       if smap.name.startswith("synthetic") else OSM_ATTRIBUTION)
    add_attribution(ax, attribution)
    settle_layout(fig)  # fixes the aspect and transforms before measuring labels
    hs = smap.hotspots
    xy = np.column_stack([smap.x[hs.node], smap.y[hs.node]])
    rooms_xy = np.column_stack([smap.x[smap.rooms.node], smap.y[smap.rooms.node]])
    stations_xy = np.column_stack([smap.x[smap.stations.node], smap.y[smap.stations.node]])
    obstacles = (draw_commune_names(ax, smap, 7.5, np.vstack([xy, rooms_xy]), stations_xy)
                 if commune_labels else [])
    markers = marker_boxes(ax, xy, 7.0) + marker_boxes(ax, rooms_xy, 11.0)
    place_labels(ax, xy, [short_label(n) for n in hs.names],
                 obstacles=obstacles + [(b, 1.0) for b in markers])
    return save_tight(fig, path, dpi=dpi, pad_inches=0.15, facecolor="white")


def _default_title(smap: StreetMap) -> str:
    return (f"Street network by police zone: {smap.name} "
            f"({smap.street_km:,.0f} km of streets, {smap.n_nodes:,} nodes)")
