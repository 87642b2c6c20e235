"""The dashboard page (Solara): controls, the live map and the live charts.

Started by `brusim dashboard` (see `server`), which passes the launch overrides in the
``BRUSIM_DASHBOARD_LAUNCH`` environment variable. Each browser session gets its own model.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import ipyvuetify
import solara
import traitlets

from brusim.config.load import scenario_names
from brusim.errors import BrusimError
from brusim.map.plot import ZONE_COLORS

from . import state as st
from .charts import chart_options
from .layers import (
    AGENT_STYLES,
    HEAT_ALPHA,
    HEAT_CMAP,
    ROOM_STYLES,
    VIEWS,
    ZONE_ALPHA,
    marker_svg,
)

log = logging.getLogger("brusim.dashboard")
LAUNCH_ENV = "BRUSIM_DASHBOARD_LAUNCH"
SPEEDS = {"15 min": 0.25, "1 hour": 1.0, "6 hours": 6.0, "1 day": 24.0}  # simulated per frame
MIN_FRAME_SECONDS = 0.1  # at most ~10 frames a second
FRAME_TIMEOUT_SECONDS = 3.0  # a page that never reports back only slows playing down
CHART_KEYS = ("transactions", "police", "violence", "public_use")

CSS = """
.brusim-map { position: relative; width: 100%; line-height: 0; }
.brusim-map .brusim-base img { width: 100%; height: auto; display: block; }
.brusim-map .brusim-layer { position: absolute; top: 0; left: 0; width: 100%; height: 100%; }
.brusim-map .brusim-layer img, .brusim-map .brusim-layer svg {
    width: 100%; height: 100%; display: block; }
.brusim-map .brusim-heat img { image-rendering: auto; }
.brusim-map .brusim-top, .brusim-map .brusim-markers { pointer-events: none; }
.brusim-legend { font-size: 13px; line-height: 1.6; }
.brusim-legend span.item { margin-right: 14px; white-space: nowrap; }
.brusim-status { font-size: 15px; }
.brusim-status b { font-variant-numeric: tabular-nums; }
.brusim-chart { width: 100%; height: 200px; }
"""


class FrameShown(ipyvuetify.VuetifyTemplate):
    """Tells the server which frame the browser has drawn, so playing never outruns the page
    (the next frame is sent once the previous one is on screen)."""

    template = traitlets.Unicode("""
<template><span class="brusim-frame-shown" style="display:none">{{ frame }}</span></template>
<script>
module.exports = {
  mounted() { this.report(this.frame); },
  watch: { frame(value) { this.report(value); } },
  methods: {
    report(value) {
      this.$nextTick(() => requestAnimationFrame(() => this.shown(value)));
    },
  },
};
</script>
""").tag(sync=True)
    frame = traitlets.Int(0).tag(sync=True)
    on_shown = traitlets.Callable(None, allow_none=True)

    def vue_shown(self, value: int) -> None:
        if self.on_shown is not None:
            self.on_shown(int(value))


class Pacer:
    """Frame numbers sent and shown, shared by the play thread and the page's events."""

    def __init__(self) -> None:
        self.sent = 0
        self.shown = 0
        self.sent_at = time.perf_counter()
        self.latency = 0.0  # seconds from sending a frame to the browser drawing it
        self._event = threading.Event()

    def send(self) -> int:
        self.sent += 1
        self.sent_at = time.perf_counter()
        self._event.clear()
        return self.sent

    def on_shown(self, number: int) -> None:
        if number >= self.sent:
            self.latency = time.perf_counter() - self.sent_at
        self.shown = max(self.shown, number)
        self._event.set()

    def wait_shown(self, timeout: float) -> bool:
        """Wait until the last frame sent is drawn (or ``timeout`` seconds)."""
        deadline = time.perf_counter() + timeout
        while self.shown < self.sent:
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            self._event.wait(left)
            self._event.clear()
        return True


def launch_settings() -> st.Launch:
    """The launch overrides and config name passed by `brusim dashboard`."""
    raw = os.environ.get(LAUNCH_ENV)
    if not raw:
        return st.Launch()
    data = json.loads(raw)
    return st.Launch(tuple(data.get("overrides", ())), str(data.get("config_name", "config")))


def _img(data: bytes, cls: str = "") -> str:
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img class="{cls}" alt="" src="data:image/png;base64,{b64}"/>'


@dataclass(frozen=True)
class Shown:
    """The frame on the page and its number (the browser reports the numbers it has drawn)."""

    number: int
    frame: st.Frame | None


def _legend_html(frame: st.Frame) -> str:
    items = []
    for key, style in AGENT_STYLES.items():
        items.append(f'<span class="item">{marker_svg(style)} {style.label}: '
                     f'<b data-count="{key}">{frame.counts.get(key, 0)}</b></span>')
    for style in ROOM_STYLES.values():
        items.append(f'<span class="item">{marker_svg(style)} {style.label}</span>')
    stops = ", ".join(f"rgba({int(r * 255)},{int(g * 255)},{int(b * 255)},"
                      f"{HEAT_ALPHA * (0.3 + 0.7 * i / 4):.2f})"
                      for i, (r, g, b, _) in enumerate(HEAT_CMAP([0.05, 0.3, 0.55, 0.8, 1.0])))
    items.append('<span class="item"><span style="display:inline-block;width:56px;height:10px;'
                 f'vertical-align:middle;background:linear-gradient(90deg,{stops})"></span> '
                 'recent transactions</span>')
    items.append('<span class="item"><svg width="12" height="12" style="vertical-align:middle">'
                 '<circle cx="6" cy="6" r="4.5" fill="#111"/></svg> hotspot</span>')
    zones = []
    for i, name in enumerate(frame.zone_names):
        color = ZONE_COLORS[i % len(ZONE_COLORS)]
        zones.append(f'<span class="item"><span style="display:inline-block;width:14px;'
                     f'height:10px;background:{color};opacity:{min(1.0, ZONE_ALPHA * 4):.2f};'
                     f'vertical-align:middle"></span> {name}</span>')
    return (f'<div>{"".join(items)}</div><div style="color:#444">Police zones: '
            f'{"".join(zones)}</div>')


# The components below read the `Shown` reactive themselves, so a new frame re-renders only
# them, not the page with its controls.


@solara.component
def MapView(shown: solara.Reactive[Shown]):
    """The three stacked map layers: static background, per-frame heat and markers, static top
    (hotspot labels); then the legend."""
    frame = shown.value.frame
    layers = frame.layers
    base = solara.use_memo(lambda: _img(layers.background), [layers])
    top = solara.use_memo(lambda: _img(layers.top), [layers])
    with solara.Div(classes=["brusim-map"]):
        solara.HTML(tag="div", unsafe_innerHTML=base, classes=["brusim-base"])
        solara.HTML(tag="div", unsafe_innerHTML=_img(frame.heat_png),
                    classes=["brusim-layer", "brusim-heat"])
        solara.HTML(tag="div", unsafe_innerHTML=frame.markers_svg,
                    classes=["brusim-layer", "brusim-markers"])
        solara.HTML(tag="div", unsafe_innerHTML=top, classes=["brusim-layer", "brusim-top"])
    solara.HTML(tag="div", unsafe_innerHTML=_legend_html(frame), classes=["brusim-legend"])


@solara.component
def Charts(shown: solara.Reactive[Shown]):
    """The four live charts."""
    options = chart_options(shown.value.frame.series)
    for key in CHART_KEYS:
        with solara.Div(classes=["brusim-chart-box", f"brusim-chart-{key}"]):
            solara.FigureEcharts(option=options[key],
                                 attributes={"class": "brusim-chart"}, responsive=True)


@solara.component
def Status(shown: solara.Reactive[Shown], pacer: Pacer):
    """Scenario, step counter, simulated time, event totals and frame timing; reports each
    frame back once drawn."""
    number, f = shown.value.number, shown.value.frame
    FrameShown.element(frame=number, on_shown=pacer.on_shown)
    with solara.Row(classes=["brusim-status"], style={"align-items": "baseline",
                                                       "flex-wrap": "wrap"}):
        solara.HTML(tag="span", unsafe_innerHTML=(
            f"<b>{f.scenario}</b> · seed {f.seed} · "
            f'step <b class="brusim-step">{f.step}</b> of {f.n_steps} · {f.label}'))
        totals = " · ".join(f"{k} <b>{v:,}</b>" for k, v in f.totals.items())
        solara.HTML(tag="span", unsafe_innerHTML=f"&nbsp;|&nbsp; {totals}")
        solara.HTML(tag="span", unsafe_innerHTML=(
            f'&nbsp;|&nbsp; <span class="brusim-frame-ms">frame: model and layers '
            f"{1000 * f.seconds:.0f} ms"
            + (f", on screen after {1000 * pacer.latency:.0f} ms" if pacer.latency else "")
            + "</span>"
            + (" · <b>end of run</b>" if f.finished else "")),
            style={"color": "#666", "font-size": "12px"})


@solara.component
def RunButtons(shown: solara.Reactive[Shown], playing: solara.Reactive[bool],
               on_step: Callable[[], None]):
    """Play/pause and step."""
    finished = shown.value.frame is None or shown.value.frame.finished
    with solara.Row():
        solara.Button("Pause" if playing.value else "Play",
                      on_click=lambda: playing.set(not playing.value),
                      disabled=finished and not playing.value,
                      classes=["brusim-play"], color="success")
        solara.Button("Step", on_click=on_step, disabled=finished or playing.value,
                      classes=["brusim-step-button"])


@solara.component
def Page():
    """The dashboard: controls in the sidebar, status, map with legend, charts."""
    launch = solara.use_memo(launch_settings, [])
    holder = solara.use_memo(lambda: _first_simulation(launch), [])
    start = holder["controls"]
    scenario = solara.use_reactive(start.scenario)
    focus_share = solara.use_reactive(start.focus_share)
    n_outreach = solara.use_reactive(start.n_outreach)
    rooms_open = solara.use_reactive(start.rooms_open)
    seed = solara.use_reactive(start.seed)
    playing = solara.use_reactive(False)
    speed = solara.use_reactive("1 hour")
    view = solara.use_reactive(VIEWS["region"])
    shown = solara.use_reactive(Shown(0, holder["frame"]))
    running = solara.use_reactive(holder["sim"] is not None)  # re-renders the page on change
    pacer = solara.use_memo(Pacer, [])
    problems = solara.use_reactive(list(holder["problems"]))
    strategy = solara.use_reactive(holder["strategy"])
    resets = solara.use_reactive(0)

    def controls() -> st.Controls:
        return st.Controls(scenario.value, round(float(focus_share.value), 4),
                           int(n_outreach.value), bool(rooms_open.value), int(seed.value))

    def on_scenario(name: str) -> None:
        scenario.value = name
        try:
            new, strategy.value = st.scenario_defaults(launch, controls(), name)
        except BrusimError as exc:
            problems.value = st.config_problems(exc)
            return
        focus_share.value, n_outreach.value = new.focus_share, new.n_outreach
        rooms_open.value = new.rooms_open

    def reset() -> None:
        playing.value = False
        try:
            sim = st.Simulation.start(launch, controls(), view=_view_key(view.value))
        except BrusimError as exc:
            problems.value = st.config_problems(exc)
            return
        except Exception as exc:  # shown, not raised: the page must survive a bad setting
            log.exception("rebuilding the model failed")
            problems.value = [f"could not build the model: {type(exc).__name__}: {exc}"]
            return
        holder["sim"], holder["controls"] = sim, controls()
        problems.value = []
        show(sim.frame())
        running.value = True
        resets.value += 1  # re-renders the page: the settings are no longer pending

    def steps_per_frame() -> int:
        sim = holder["sim"]
        return max(1, int(round(SPEEDS[speed.value] * sim.steps_per_hour))) if sim else 1

    def show(new: st.Frame) -> None:
        shown.value = Shown(pacer.send(), new)

    def on_view(label: str) -> None:
        view.value = label
        sim = holder["sim"]
        if sim is not None:
            sim.set_view(_view_key(label))
            if not playing.value:
                show(sim.frame())

    def step_once() -> None:
        sim = holder["sim"]
        if sim is not None and not playing.value:
            show(sim.step(1))

    def play_loop(cancel: threading.Event) -> None:
        while playing.value and not cancel.is_set():
            sim = holder["sim"]
            if sim is None:
                break
            t0 = time.perf_counter()
            new = sim.step(steps_per_frame())
            if holder["sim"] is not sim:  # reset meanwhile
                break
            show(new)
            if new.finished:
                playing.value = False
                break
            pacer.wait_shown(FRAME_TIMEOUT_SECONDS)  # never outrun the page
            cancel.wait(max(0.0, MIN_FRAME_SECONDS - (time.perf_counter() - t0)))

    solara.use_thread(play_loop, dependencies=[playing.value], intrusive_cancel=False)

    pending = running.value and controls() != holder["controls"]
    solara.Title("brusim dashboard")
    solara.Style(CSS)
    with solara.Sidebar():
        _heading("Settings")
        solara.Select("Scenario", values=scenario_names(), value=scenario.value,
                      on_value=on_scenario)
        _caption(f"Police share on the focus area: <b>{focus_share.value:.2f}</b>",
                 "police.focus_share: share of the focus zones' units posted at the focus "
                 f"hotspots ({strategy.value} strategy"
                 + (": no effect)" if strategy.value == "patrol" else ")"))
        solara.SliderFloat("", value=focus_share, min=0.0, max=1.0, step=0.05)
        _caption(f"Outreach workers: <b>{n_outreach.value}</b>", "population.n_outreach")
        solara.SliderInt("", value=n_outreach, min=0, max=max(40, int(n_outreach.value)))
        solara.Switch(label="Consumption rooms open", value=rooms_open)
        solara.InputInt("Seed", value=seed)
        solara.Button("Reset with these settings", on_click=reset, color="primary",
                      classes=["brusim-reset"], block=True)
        if pending:
            solara.Info("Settings changed: press reset to rebuild the model.", dense=True)
        _heading("Run")
        RunButtons(shown, playing, step_once)
        _caption("Simulated time per frame while playing:")
        solara.ToggleButtonsSingle(value=speed, values=list(SPEEDS), dense=True)
    for line in problems.value:
        solara.Error(line, classes=["brusim-problem"])
    if not running.value:
        solara.Warning("No model is running: fix the settings and press reset.")
        return
    Status(shown, pacer)
    with solara.Columns([5, 3]):
        with solara.Column():
            solara.ToggleButtonsSingle(value=view.value, values=list(VIEWS.values()),
                                       on_value=on_view, dense=True,
                                       classes=["brusim-view"])
            MapView(shown)
        with solara.Column():
            Charts(shown)


def _view_key(label: str) -> str:
    return next(key for key, text in VIEWS.items() if text == label)


def _first_simulation(launch: st.Launch) -> dict:
    """The session's first model, from the launch config (validated by the server already)."""
    holder: dict = {"sim": None, "frame": None, "problems": []}
    try:
        sim = st.Simulation.start(launch)
        cfg = sim.cfg
    except BrusimError as exc:
        holder["problems"] = st.config_problems(exc)
        cfg = st.compose(replace(launch, overrides=()))
    else:
        holder.update(sim=sim, frame=sim.frame())
    holder.update(controls=st.controls_from(cfg), strategy=str(cfg.police.strategy))
    return holder


def _heading(text: str) -> None:
    solara.HTML(tag="div", unsafe_innerHTML=text,
                style={"font-size": "18px", "font-weight": "500", "margin": "14px 0 4px"})


def _caption(text: str, note: str = "") -> None:
    small = f'<br><span style="color:#666;font-size:11px">{note}</span>' if note else ""
    solara.HTML(tag="div", unsafe_innerHTML=text + small,
                style={"font-size": "13px", "margin-top": "10px", "line-height": "1.3"})
