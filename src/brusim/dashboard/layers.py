"""Map layers of the dashboard, all drawn from the map's own projected coordinates.

The browser stacks three images of the same size: a static **background** (zones shaded,
streets, stations, commune names), a transparent **overlay** redrawn every frame (transaction
heat, consumption rooms, agents) and a static transparent **top** layer (hotspots and their
labels, scale bar, north arrow, attribution). The two static layers are drawn once per map and
size and cached (in memory and in the brusim cache folder), so a frame only costs the overlay.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap, to_rgba_array
from matplotlib.figure import Figure
from PIL import Image
from scipy.ndimage import gaussian_filter

from brusim.map.plot import (
    HOTSPOT_COLOR,
    OSM_ATTRIBUTION,
    ROOM_COLOR,
    ZONE_COLORS,
    add_attribution,
    add_north_arrow,
    add_scale_bar,
    default_linewidth,
    draw_commune_names,
    draw_streets,
    marker_boxes,
    place_labels,
    short_label,
)
from brusim.map.streetmap import StreetMap
from brusim.paths import cache_dir

DPI = 100
LAYERS_VERSION = 1  # bump when the static layers' drawing changes (invalidates the disk cache)
LABEL_PT = (8.0, 9.5)  # hotspot labels on the whole map / a zoomed view (shown at 70-90%)
STREET_COLOR = "#7f7f7f"
ZONE_ALPHA = 0.16
HEAT_ALPHA = 0.75  # opacity of the hottest cells (streets stay visible through them)
HEAT_CMAP = LinearSegmentedColormap.from_list(
    "brusim_heat", ["#fff7bc", "#fec44f", "#ec7014", "#cc4c02", "#8c2d04"])


@dataclass(frozen=True)
class MarkerStyle:
    """How one kind of marker is drawn (an SVG path around 0,0 in map pixels) and named."""

    label: str
    path: str
    fill: str
    stroke: str
    stroke_width: float = 0.9


# Distinct in colour and shape, and from the pale zone shading and the orange heat.
AGENT_STYLES: dict[str, MarkerStyle] = {
    "users": MarkerStyle("Users out (searching or using)",
                         "M3.2,0A3.2,3.2 0 1,1 -3.2,0A3.2,3.2 0 1,1 3.2,0Z", "#7b3294", "white",
                         0.8),
    "dealers_low": MarkerStyle("Dealers lying low", "M0,-5.2L4.6,3L-4.6,3Z", "white", "#c51b1b",
                               1.4),
    "dealers": MarkerStyle("Dealers selling", "M0,-5.8L5.2,3.4L-5.2,3.4Z", "#e31a1c", "black"),
    "outreach": MarkerStyle("Outreach workers on shift", "M0,-5.6L5.6,0L0,5.6L-5.6,0Z",
                            "#1a9850", "black"),
    "police": MarkerStyle("Police units on duty", "M-4.2,-4.2H4.2V4.2H-4.2Z", "#08519c",
                          "white", 1.0),
}
_PLUS = "M-2.2,-7H2.2V-2.2H7V2.2H2.2V7H-2.2V2.2H-7V-2.2H-2.2Z"
ROOM_STYLES: dict[str, MarkerStyle] = {
    "room_open": MarkerStyle("Consumption room open now", _PLUS, ROOM_COLOR, "black", 1.1),
    "room_closed": MarkerStyle("Consumption room closed now", _PLUS, "white", "black", 1.1),
}


def marker_svg(style: MarkerStyle, size: float = 16) -> str:
    """A small standalone SVG of one marker, for legends."""
    return (f'<svg width="{size}" height="{size}" viewBox="-8 -8 16 16" '
            f'style="vertical-align:middle"><path d="{style.path}" fill="{style.fill}" '
            f'stroke="{style.stroke}" stroke-width="{style.stroke_width}"/></svg>')


@dataclass(frozen=True)
class MapGeometry:
    """Pixel size and data limits shared by every layer (one metre is as wide as it is high)."""

    width: int
    height: int
    xlim: tuple[float, float]
    ylim: tuple[float, float]

    @classmethod
    def fit(cls, smap: StreetMap, width: int = 1000, pad: float = 0.03,
            bbox: tuple[float, float, float, float] | None = None) -> MapGeometry:
        """Geometry of ``width`` pixels around the map's extent (or ``bbox``: x0, y0, x1, y1
        in metres), with equal scale on both axes."""
        x0, y0, x1, y1 = bbox or (float(smap.x.min()), float(smap.y.min()),
                                  float(smap.x.max()), float(smap.y.max()))
        margin = pad * max(x1 - x0, y1 - y0, 1.0)
        x0, x1, y0, y1 = x0 - margin, x1 + margin, y0 - margin, y1 + margin
        height = max(int(round(width * (y1 - y0) / (x1 - x0))), 1)
        # stretch the y range so that metres per pixel are exactly equal on both axes
        half = (x1 - x0) / width * height / 2
        yc = (y0 + y1) / 2
        return cls(width, height, (x0, x1), (yc - half, yc + half))

    @property
    def metres_per_pixel(self) -> float:
        return (self.xlim[1] - self.xlim[0]) / self.width

    def figure(self, facecolor: str | tuple = "white") -> tuple[Figure, Axes]:
        """A figure of exactly this size whose axes fill it, limits set, no decoration."""
        fig = Figure(figsize=(self.width / DPI, self.height / DPI), dpi=DPI, facecolor=facecolor)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.set_axis_off()
        ax.patch.set_alpha(0.0)
        ax.set_xlim(*self.xlim)
        ax.set_ylim(*self.ylim)
        ax.set_aspect("auto")  # the limits already have the figure's aspect
        return fig, ax

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether points (metres) fall inside the view."""
        return ((x >= self.xlim[0]) & (x <= self.xlim[1])
                & (y >= self.ylim[0]) & (y <= self.ylim[1]))

    def pixel_centres(self, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Data coordinates of the centres of every ``step``-th pixel (rows from the bottom)."""
        m = self.metres_per_pixel * step
        xs = self.xlim[0] + m * (np.arange(int(np.ceil(self.width / step))) + 0.5)
        ys = self.ylim[0] + m * (np.arange(int(np.ceil(self.height / step))) + 0.5)
        return xs, ys


# ------------------------------------------------------------------------ static layers


@dataclass(frozen=True)
class StaticLayers:
    """The two static images of a map (PNG bytes) and their geometry."""

    geometry: MapGeometry
    background: bytes  # opaque
    top: bytes  # transparent


_CACHE: dict[tuple, StaticLayers] = {}
_CACHE_LOCK = threading.Lock()
VIEWS = {"region": "Whole map", "hotspots": "Hotspot area"}


def view_bbox(smap: StreetMap, view: str) -> tuple[float, float, float, float] | None:
    """The extent (x0, y0, x1, y1, metres) of a view: None for the whole map; for
    ``"hotspots"`` a square around the central hotspots (the nearest 80% to their median), at
    least 2 km wide."""
    if view == "region" or not len(smap.hotspots):
        return None
    if view != "hotspots":
        raise ValueError(f"unknown map view {view!r}; valid: {', '.join(VIEWS)}")
    hx, hy = smap.x[smap.hotspots.node], smap.y[smap.hotspots.node]
    cx, cy = float(np.median(hx)), float(np.median(hy))
    near = np.hypot(hx - cx, hy - cy)
    half = max(float(np.quantile(near, 0.8)) + 400.0, 1000.0)
    return cx - half, cy - half, cx + half, cy + half


def layers_key(smap: StreetMap, width: int, view: str) -> str:
    """Digest of everything the static layers are drawn from (map, places, size, view)."""
    h = hashlib.sha256(repr((LAYERS_VERSION, smap.name, smap.source_hash, smap.n_nodes,
                             smap.zone_names, smap.commune_names, width, view)).encode())
    for places in (smap.hotspots, smap.stations, smap.rooms):
        h.update(repr((places.ids, places.names, places.attrs)).encode())
        h.update(np.asarray(places.node, np.int64).tobytes())
    h.update(np.asarray(smap.zone, np.int64).tobytes())
    return h.hexdigest()[:24]


def static_layers(smap: StreetMap, width: int = 1000, view: str = "region") -> StaticLayers:
    """The background and top layers of a view (`VIEWS`) of ``smap`` at ``width`` pixels:
    drawn once and kept in memory and in the brusim cache folder (``dashboard/``)."""
    key = layers_key(smap, width, view)
    with _CACHE_LOCK:
        if key not in _CACHE:
            geom = MapGeometry.fit(smap, width, bbox=view_bbox(smap, view))
            folder = cache_dir() / "dashboard"
            back, top = folder / f"{key}_background.png", folder / f"{key}_top.png"
            if back.is_file() and top.is_file():
                _CACHE[key] = StaticLayers(geom, back.read_bytes(), top.read_bytes())
            else:
                layers = _draw_static(smap, geom)
                folder.mkdir(parents=True, exist_ok=True)
                for path, data in ((back, layers.background), (top, layers.top)):
                    tmp = path.with_suffix(f".tmp{os.getpid()}")
                    tmp.write_bytes(data)
                    tmp.replace(path)  # complete files only, even with several servers
                _CACHE[key] = layers
        return _CACHE[key]


def zone_shading(smap: StreetMap, geom: MapGeometry, step: int = 2) -> np.ndarray:
    """RGBA image (rows from the bottom) shading each police zone's built-up area.

    Every ``step``-th pixel takes the colour of its nearest street node's zone, opaque (up to
    `ZONE_ALPHA`) when that node lies within a few block lengths, so parks, water and land
    outside the region stay white; the edges are softened by a slight blur.
    """
    xs, ys = geom.pixel_centres(step)
    gx, gy = np.meshgrid(xs, ys)
    reach = max(150.0, 2.5 * float(np.median(smap.length_m))) if len(smap.length_m) else 150.0
    dist, node = smap.kdtree.query(np.column_stack([gx.ravel(), gy.ravel()]))
    palette = to_rgba_array([ZONE_COLORS[i % len(ZONE_COLORS)]
                             for i in range(max(len(smap.zone_names), 1))])
    rgba = palette[smap.zone[node].astype(np.int64)].reshape(len(ys), len(xs), 4)
    inside = (dist <= reach).reshape(len(ys), len(xs)).astype(float)
    rgba[..., 3] = ZONE_ALPHA * np.clip(gaussian_filter(inside, 1.2), 0.0, 1.0)
    return rgba


def _draw_static(smap: StreetMap, geom: MapGeometry) -> StaticLayers:
    """Draw the background, then hide it and draw the top layer in the same figure, so that
    hotspot labels avoid the commune names."""
    fig, ax = geom.figure()
    extent = (*geom.xlim, *geom.ylim)
    back = [ax.imshow(zone_shading(smap, geom), extent=extent, origin="lower",
                      interpolation="bilinear", zorder=0)]
    zoom = (float(np.ptp(smap.x)) / geom.metres_per_pixel) / geom.width  # 1: whole map
    back.append(draw_streets(ax, smap, colors=STREET_COLOR, alpha=0.85,
                             linewidth=0.8 * default_linewidth(smap) * np.clip(zoom, 1, 2.5)))
    ax.set_xlim(*geom.xlim)  # draw_streets sets its own padded limits
    ax.set_ylim(*geom.ylim)
    ax.set_aspect("auto")
    st = smap.stations
    if len(st):
        back.append(ax.scatter(smap.x[st.node], smap.y[st.node], s=12, marker="o",
                               facecolor="white", edgecolor="#555555", linewidth=0.6, zorder=3))
    fig.canvas.draw()
    hs = smap.hotspots
    inside = geom.contains(smap.x[hs.node], smap.y[hs.node])
    hs_xy = np.column_stack([smap.x[hs.node], smap.y[hs.node]])[inside]
    hs_names = [short_label(n) for n, keep in zip(hs.names, inside, strict=True) if keep]
    rooms_xy = np.column_stack([smap.x[smap.rooms.node], smap.y[smap.rooms.node]])
    st_xy = np.column_stack([smap.x[st.node], smap.y[st.node]])
    n_before = len(ax.texts)
    obstacles = draw_commune_names(ax, smap, 8.5, np.vstack([hs_xy, rooms_xy]), st_xy)
    back.extend(ax.texts[n_before:])
    background = _png(fig)

    for artist in back:
        artist.set_visible(False)
    fig.patch.set_alpha(0.0)
    listed = np.array([bool(a.get("listed", True)) for a in hs.attrs], dtype=bool)[inside]
    face = np.where(listed, HOTSPOT_COLOR, "white") if len(hs_xy) else "white"
    ax.scatter(hs_xy[:, 0], hs_xy[:, 1], s=30, marker="o", facecolor=face,
               edgecolor=HOTSPOT_COLOR, linewidth=1.0, zorder=9)
    add_scale_bar(ax)
    add_north_arrow(ax, x=0.955, y=0.86)
    add_attribution(ax, "synthetic street grid (not real data)"
                    if smap.name.startswith("synthetic") else OSM_ATTRIBUTION)
    fig.canvas.draw()
    markers = marker_boxes(ax, hs_xy, 9.0) + marker_boxes(ax, rooms_xy, 11.0)
    place_labels(ax, hs_xy, hs_names, fontsize=LABEL_PT[int(zoom > 1.5)],
                 obstacles=list(obstacles) + [(b, 1.0) for b in markers], fontweight="bold")
    top = _png(fig, transparent=True)
    return StaticLayers(geom, background, top)


def _png(fig: Figure, transparent: bool = False, compress: int = 6) -> bytes:
    """The figure as PNG bytes at its own pixel size."""
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    image = Image.fromarray(rgba if transparent else rgba[..., :3])
    buf = io.BytesIO()
    image.save(buf, format="png", compress_level=compress)
    return buf.getvalue()


# ------------------------------------------------------------------------------ overlay


@dataclass
class Snapshot:
    """What the overlay shows at one moment: street nodes of each agent group (keys of
    `AGENT_STYLES`), transaction intensity per node, and the consumption rooms."""

    agents: dict[str, np.ndarray]
    heat: np.ndarray  # per node, e.g. recent transactions per hour
    room_nodes: np.ndarray
    room_open: np.ndarray  # bool per room: open right now
    room_shown: np.ndarray  # bool per room: in the scenario at all


class Overlay:
    """The per-frame layers of one map: a small heat image (the browser stretches it smoothly
    over the map) and the markers as an SVG in map pixels.

    Nothing is rasterised at map size per frame: a frame costs a few thousand numbers.
    """

    def __init__(self, smap: StreetMap, geometry: MapGeometry, cell_m: float = 45.0,
                 blur_m: float = 120.0, saturation: float = 0.6):
        self.smap, self.geom = smap, geometry
        blur_m = min(blur_m, 0.02 * (geometry.xlim[1] - geometry.xlim[0]))  # small maps
        pixels_per_cell = max(cell_m / geometry.metres_per_pixel, 5.0)
        self.nx = max(int(round(geometry.width / pixels_per_cell)), 1)
        self.ny = max(int(round(geometry.height / pixels_per_cell)), 1)
        cx = (geometry.xlim[1] - geometry.xlim[0]) / self.nx
        cy = (geometry.ylim[1] - geometry.ylim[0]) / self.ny
        ix = np.clip(((smap.x - geometry.xlim[0]) / cx).astype(np.int64), 0, self.nx - 1)
        iy = np.clip(((geometry.ylim[1] - smap.y) / cy).astype(np.int64), 0, self.ny - 1)
        self._cell_of_node = iy * self.nx + ix  # rows from the top, as images are
        self._sigma = max(1.0, blur_m / cx)
        self.heat_scale: float | None = None
        self.saturation = saturation  # share of the first frame's peak shown at full colour
        mpp = geometry.metres_per_pixel
        self._px = (smap.x - geometry.xlim[0]) / mpp  # node positions in map pixels
        self._py = (geometry.ylim[1] - smap.y) / mpp
        margin = 10 * mpp  # markers just outside still show their edge
        self._visible = ((smap.x >= geometry.xlim[0] - margin)
                         & (smap.x <= geometry.xlim[1] + margin)
                         & (smap.y >= geometry.ylim[0] - margin)
                         & (smap.y <= geometry.ylim[1] + margin))

    def heat_grid(self, per_node: np.ndarray) -> np.ndarray:
        """Blurred (ny, nx) grid (rows from the top) of a per-node quantity summed per cell."""
        grid = np.bincount(self._cell_of_node, weights=per_node, minlength=self.nx * self.ny)
        return gaussian_filter(grid.reshape(self.ny, self.nx), self._sigma, mode="constant")

    def calibrate(self, per_node: np.ndarray) -> None:
        """Fix the heat colour scale from a reference state (e.g. the model's first step)."""
        self.heat_scale = max(self.saturation * float(self.heat_grid(per_node).max()), 1e-9)

    def heat_png(self, per_node: np.ndarray) -> bytes:
        """The heat layer as a small transparent PNG. Its colour scale is fixed by the first
        call (the model starts near its steady state), so frames stay comparable; cells above
        `saturation` times that first peak get the full colour."""
        if self.heat_scale is None:
            self.calibrate(per_node)
        grid = self.heat_grid(per_node)
        level = np.clip(grid / self.heat_scale, 0.0, 1.0)
        rgba = HEAT_CMAP(level)
        rgba[..., 3] = np.where(level > 0.02, HEAT_ALPHA * level ** 0.6, 0.0)
        image = Image.fromarray((rgba * 255).astype(np.uint8), mode="RGBA")
        buf = io.BytesIO()
        image.save(buf, format="png", compress_level=1)
        return buf.getvalue()

    def markers_svg(self, snap: Snapshot) -> str:
        """Consumption rooms and agents (in `AGENT_STYLES` order, police on top) as an SVG in
        map pixels; scales with its container."""
        g = self.geom
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {g.width} {g.height}" '
                 'preserveAspectRatio="none" class="brusim-markers"><defs>']
        for key, s in {**ROOM_STYLES, **AGENT_STYLES}.items():
            parts.append(f'<path id="m-{key}" d="{s.path}" fill="{s.fill}" stroke="{s.stroke}" '
                         f'stroke-width="{s.stroke_width}"/>')
        parts.append("</defs>")
        shown = snap.room_shown
        for node, is_open in zip(snap.room_nodes[shown], snap.room_open[shown], strict=True):
            key = "room_open" if is_open else "room_closed"
            parts.append(self._uses(key, np.array([node])))
        for key in AGENT_STYLES:
            nodes = snap.agents.get(key)
            if nodes is not None and len(nodes):
                parts.append(self._uses(key, nodes))
        parts.append("</svg>")
        return "".join(parts)

    def _uses(self, key: str, nodes: np.ndarray) -> str:
        nodes = nodes[self._visible[nodes]]
        xs, ys = self._px[nodes], self._py[nodes]
        return f'<g data-kind="{key}">' + "".join(
            f'<use href="#m-{key}" x="{x:.1f}" y="{y:.1f}"/>' for x, y in zip(xs, ys, strict=True)
        ) + "</g>"


def composite(layers: list[bytes | Image.Image]) -> Image.Image:
    """Stack image layers (first at the bottom; PNG bytes or images) into one RGBA image of the
    first layer's size, stretching smaller layers over it as the browser does."""
    images = [x if isinstance(x, Image.Image) else Image.open(io.BytesIO(x)) for x in layers]
    out = images[0].convert("RGBA")
    for image in images[1:]:
        out = Image.alpha_composite(out, image.convert("RGBA").resize(out.size, Image.BILINEAR))
    return out
