"""Model control for the dashboard: configs from the launch overrides and the controls, one
running model per browser session, what each frame shows, and the chart history.

The model is read through its public attributes (population arrays, `sales`, `rooms`,
`recorder.area_rows`, `events.counts`); nothing here changes how it runs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

import numpy as np
from omegaconf import DictConfig

from brusim.config.load import compose_config, override_key
from brusim.config.validate import validate
from brusim.errors import ConfigError
from brusim.experiments.spinup import start_model
from brusim.map import StreetMap, load_street_map
from brusim.model.codes import DealerStatus, EventType, UserStatus
from brusim.model.model import map_settings
from brusim.model.recorder import INDEX

from .layers import Overlay, Snapshot, StaticLayers, static_layers

# overrides the controls set themselves (launch overrides of these keys give their start values)
CONTROL_KEYS = ("scenario", "police.focus_share", "population.n_outreach", "seed")
PREFERRED_HOTSPOTS = ("gare_du_midi", "porte_de_hal")
N_KEY_HOTSPOTS = 3
MAX_CHART_POINTS = 340
BIN_HOURS = (1, 2, 3, 4, 6, 8, 12, 24, 48, 72, 168)
CHART_METRICS = ("transactions", "police_hours", "violent_incidents", "public_use",
                 "room_entries")
TOTALS = {"transactions": EventType.TRANSACTION, "arrests": EventType.ARREST,
          "violent incidents": EventType.VIOLENT_INCIDENT, "public use": EventType.PUBLIC_USE,
          "room entries": EventType.ROOM_ENTRY}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Launch:
    """How the dashboard was started: Hydra overrides and the config name."""

    overrides: tuple[str, ...] = ()
    config_name: str = "config"


@dataclass(frozen=True)
class Controls:
    """The settings a user can change in the dashboard before pressing reset."""

    scenario: str
    focus_share: float  # police.focus_share: share of units on the concentrated area
    n_outreach: int
    rooms_open: bool  # False closes every consumption room of the scenario
    seed: int

    def overrides(self) -> list[str]:
        """Hydra overrides for the controls that are plain config values."""
        return [f"scenario={self.scenario}", f"police.focus_share={self.focus_share:g}",
                f"population.n_outreach={self.n_outreach}", f"seed={self.seed}"]


def compose(launch: Launch, controls: Controls | None = None) -> DictConfig:
    """The launch config, with the controls (when given) replacing the keys they set."""
    overrides = list(launch.overrides)
    if controls is not None:
        overrides = [o for o in overrides if override_key(o) not in CONTROL_KEYS]
        overrides += controls.overrides()
    cfg = compose_config(overrides, config_name=launch.config_name)
    if controls is not None and not controls.rooms_open:
        for room in cfg.scenario.rooms or {}:
            cfg.scenario.rooms[room].open = False
    return cfg


def compose_baseline(launch: Launch, cfg: DictConfig) -> DictConfig | None:
    """The baseline a run of ``cfg`` begins from (its spin-up): the launch's settings without
    the scenario and the policy controls, with ``cfg``'s seed; None when ``cfg`` is it."""
    if cfg.scenario.name == "baseline":
        return None
    plain = [o for o in launch.overrides
             if override_key(o) not in CONTROL_KEYS and override_key(o) != "scenario.name"]
    return compose_config([*plain, f"seed={int(cfg.seed)}"], config_name=launch.config_name)


def controls_from(cfg: DictConfig) -> Controls:
    """The controls' values in ``cfg``."""
    rooms = cfg.scenario.rooms or {}
    return Controls(
        scenario=str(cfg.scenario.name), focus_share=float(cfg.police.focus_share),
        n_outreach=int(cfg.population.n_outreach),
        rooms_open=any(bool(r.open) for r in rooms.values()), seed=int(cfg.seed))


def scenario_defaults(launch: Launch, controls: Controls, scenario: str
                      ) -> tuple[Controls, str]:
    """``controls`` with the scenario changed and its police share, outreach workers and rooms
    taken from that scenario's config (the seed is kept), and the scenario's police strategy."""
    plain = [o for o in launch.overrides if override_key(o) not in CONTROL_KEYS]
    cfg = compose_config([*plain, f"scenario={scenario}"], config_name=launch.config_name)
    return replace(controls_from(cfg), seed=controls.seed), str(cfg.police.strategy)


_MAPS: dict[tuple, StreetMap] = {}
_MAPS_LOCK = threading.Lock()


def load_map(cfg: DictConfig) -> StreetMap:
    """The street map of ``cfg``, loaded once per process and map settings."""
    settings = map_settings(cfg.map)
    key = tuple(sorted((k, repr(v)) for k, v in vars(settings).items()))
    with _MAPS_LOCK:
        if key not in _MAPS:
            _MAPS[key] = load_street_map(settings)
        return _MAPS[key]


def checked_config(launch: Launch, controls: Controls | None = None
                   ) -> tuple[DictConfig, StreetMap, DictConfig | None]:
    """Compose the run's config and its baseline's, load the map and validate; raises
    `BrusimError` (e.g. ConfigError) on problems."""
    cfg = compose(launch, controls)
    smap = load_map(cfg)
    validate(cfg, smap)
    return cfg, smap, compose_baseline(launch, cfg)


def key_hotspots(smap: StreetMap, cfg, k: int = N_KEY_HOTSPOTS) -> list[str]:
    """Hotspots for the charts: Gare du Midi and Porte de Hal when the map has them, then the
    police focus, then the largest initial markets, then map order."""
    ids = list(smap.hotspots.ids)
    weights = dict(cfg.population.market_weights or {})
    ranked = [*PREFERRED_HOTSPOTS, *cfg.police.focus_hotspots,
              *sorted(weights, key=lambda h: -float(weights[h])), *ids]
    out: list[str] = []
    for h in ranked:
        if h in ids and h not in out:
            out.append(h)
    return out[:k]


# ------------------------------------------------------------------------------ frames


@dataclass
class Frame:
    """Everything the page shows for one model state."""

    step: int
    n_steps: int  # the configured horizon
    label: str  # simulated time
    scenario: str
    seed: int
    zone_names: tuple[str, ...]
    layers: StaticLayers  # the static layers of the view the overlay was drawn for
    finished: bool
    heat_png: bytes
    markers_svg: str
    counts: dict[str, int]  # agents shown per group
    totals: dict[str, int]  # events since the start
    series: Series
    seconds: float = 0.0  # time to step and draw this frame


@dataclass
class Series:
    """Chart data: bin start times (days) and values per bin, per chart and line."""

    days: np.ndarray
    bin_hours: int
    horizon_days: float  # the configured run length
    axis_days: float  # the x axis: whole weeks covering the run so far, up to the horizon
    intervention_day: float | None
    withdraw_day: float | None
    hotspots: list[str]  # ids
    hotspot_names: list[str]
    transactions: dict[str, np.ndarray]  # per hour, per key hotspot
    police: dict[str, np.ndarray]  # units present (mean), per key hotspot
    violence_cum: np.ndarray  # region, cumulative
    public_use: np.ndarray  # region, per day
    room_entries: np.ndarray  # region, per day


def bin_size(n_hours: int, max_points: int = MAX_CHART_POINTS) -> int:
    """Smallest of `BIN_HOURS` that shows ``n_hours`` in at most ``max_points`` points."""
    for b in BIN_HOURS:
        if n_hours <= b * max_points:
            return b
    return BIN_HOURS[-1]


def bin_mean(values: np.ndarray, size: int) -> np.ndarray:
    """Means of consecutive bins of ``size`` rows (the last bin may be partial)."""
    n = len(values)
    if n == 0:
        return values[:0]
    starts = np.arange(0, n, size)
    sums = np.add.reduceat(values, starts, axis=0)
    counts = np.minimum(size, n - starts)
    return sums / counts.reshape(-1, *([1] * (values.ndim - 1)))


class Simulation:
    """One browser session's model, its overlay renderer and its chart history."""

    def __init__(self, cfg: DictConfig, smap: StreetMap, map_width: int = 1000,
                 view: str = "region", baseline: DictConfig | None = None):
        self.cfg, self.smap, self.map_width = cfg, smap, map_width
        # from the baseline's spun-up state (cached after the first start of a seed)
        self.model, self.spinup = start_model(cfg, smap, baseline=baseline)
        self.lock = threading.Lock()
        self._first_heat = self.model.hourly(self.model.sales)  # fixes the heat colour scale
        self._overlays: dict[str, Overlay] = {}
        self.view = view
        self.set_view(view)
        self.hotspots = key_hotspots(smap, self.model.run_cfg)
        names = self.model.recorder.area_name
        self._areas = [names.index(h) for h in self.hotspots] + [names.index("region")]
        self._metrics = [INDEX[m] for m in CHART_METRICS]
        self._hourly: list[np.ndarray] = []  # (areas, metrics) per recorded hour
        self._seen_rows = 0

    @classmethod
    def start(cls, launch: Launch, controls: Controls | None = None,
              map_width: int = 1000, view: str = "region") -> Simulation:
        """A fresh simulation of the launch config with ``controls``; raises BrusimError."""
        cfg, smap, baseline = checked_config(launch, controls)
        return cls(cfg, smap, map_width, view, baseline)

    def set_view(self, view: str) -> None:
        """Show the map view ``view`` (a key of `layers.VIEWS`); its layers are drawn once."""
        with self.lock:
            if view not in self._overlays:
                layers = static_layers(self.smap, self.map_width, view)
                overlay = Overlay(self.smap, layers.geometry)
                overlay.calibrate(self._first_heat)
                self._overlays[view] = overlay
            self.view = view

    @property
    def layers(self) -> StaticLayers:
        """The static layers of the current view."""
        return static_layers(self.smap, self.map_width, self.view)

    @property
    def overlay(self) -> Overlay:
        """The overlay renderer of the current view."""
        return self._overlays[self.view]

    @property
    def steps_per_hour(self) -> int:
        return int(round(self.model.clock.steps_per_hour))

    @property
    def finished(self) -> bool:
        return self.model.t >= self.model.n_steps

    def step(self, n: int = 1) -> Frame:
        """Advance up to ``n`` steps (not past the configured horizon) and draw the frame."""
        t0 = time.perf_counter()
        with self.lock:
            for _ in range(max(0, min(n, self.model.n_steps - self.model.t))):
                self.model.step()
            frame = self._frame()
        frame.seconds = time.perf_counter() - t0
        return frame

    def frame(self) -> Frame:
        """The frame of the current state, without stepping."""
        return self.step(0)

    # -------------------------------------------------------------------- reading the model
    def snapshot(self) -> Snapshot:
        """Where each agent group is now (only agents out on the street), and the heat."""
        m = self.model
        d, u, p, o = m.dealers, m.users, m.police, m.outreach
        out = (u.status == UserStatus.SEARCHING) | (u.status == UserStatus.LINGERING)
        agents = {
            "users": u.node[out],
            "dealers_low": d.node[d.status == DealerStatus.LYING_LOW],
            "dealers": (m.selling_nodes() if m.steps_done > 0
                        else d.node[d.status == DealerStatus.ACTIVE]),
            "outreach": o.node[o.on_shift],
            "police": p.node[p.on_duty],
        }
        open_now = m.room_schedule.open_now(m.t, m.steps_per_day)
        return Snapshot(agents, m.hourly(m.sales), m.rooms.node, open_now,
                        m.room_schedule.open_.copy())

    def time_label(self) -> str:
        """Simulated time, e.g. ``week 2 · Tue 14:15 (day 8)``."""
        c, t = self.model.clock, self.model.steps_done  # the branch is a week's start
        h = c.hour(t)
        return (f"week {c.week(t) + 1} · {WEEKDAYS[c.weekday(t)]} {int(h):02d}:"
                f"{int(round((h % 1) * 60)):02d} (day {c.day(t) + 1})")

    def _collect(self) -> None:
        rows = self.model.recorder.area_rows
        for values in rows[self._seen_rows:]:
            self._hourly.append(values[np.ix_(self._areas, self._metrics)].astype(float))
        self._seen_rows = len(rows)

    def series(self) -> Series:
        """Chart data over the run so far, in bins of whole hours (at most `MAX_CHART_POINTS`)."""
        self._collect()
        m, k = self.model, len(self.hotspots)
        hours_per_record = m.recorder.record_every / m.clock.steps_per_hour
        data = (np.array(self._hourly) if self._hourly
                else np.zeros((0, k + 1, len(CHART_METRICS))))
        data = data / hours_per_record  # per hour
        size = bin_size(len(data))
        binned = bin_mean(data, size)
        col = {name: i for i, name in enumerate(CHART_METRICS)}
        region = binned[:, k] if len(binned) else np.zeros((0, len(CHART_METRICS)))
        violence = np.cumsum(data[:, k, col["violent_incidents"]] * hours_per_record) \
            if len(data) else np.zeros(0)
        hs = self.smap.hotspots
        return Series(
            days=np.arange(len(binned)) * size / 24.0,
            bin_hours=size,
            horizon_days=(m.n_steps - m.origin) / m.clock.steps_per_day,
            axis_days=min(7.0 * np.ceil(max(m.steps_done, 1) / m.clock.steps_per_week),
                          (m.n_steps - m.origin) / m.clock.steps_per_day),
            intervention_day=(m.intervention_step - m.origin) / m.clock.steps_per_day
            if m.intervention_step < m.n_steps else None,
            withdraw_day=(m.withdraw_step - m.origin) / m.clock.steps_per_day
            if m.withdraw_step is not None and m.withdraw_step < m.n_steps else None,
            hotspots=list(self.hotspots),
            hotspot_names=[hs.names[hs.index(h)] for h in self.hotspots],
            transactions={h: binned[:, i, col["transactions"]]
                          for i, h in enumerate(self.hotspots)},
            police={h: binned[:, i, col["police_hours"]] for i, h in enumerate(self.hotspots)},
            violence_cum=violence[np.minimum(np.arange(size, len(violence) + size, size),
                                             len(violence)) - 1] if len(violence) else violence,
            public_use=region[:, col["public_use"]] * 24 if len(region) else np.zeros(0),
            room_entries=region[:, col["room_entries"]] * 24 if len(region) else np.zeros(0),
        )

    def _frame(self) -> Frame:
        snap = self.snapshot()
        counts = {k: int(len(v)) for k, v in snap.agents.items()}
        totals = {name: int(self.model.events.counts[e]) for name, e in TOTALS.items()}
        m = self.model
        return Frame(step=m.steps_done, n_steps=m.n_steps - m.origin, label=self.time_label(),
                     scenario=str(m.run_cfg.scenario.name), seed=int(m.cfg.seed),
                     zone_names=tuple(self.smap.zone_names), layers=self.layers,
                     finished=self.finished,
                     heat_png=self.overlay.heat_png(snap.heat),
                     markers_svg=self.overlay.markers_svg(snap), counts=counts, totals=totals,
                     series=self.series())


def config_problems(exc: ConfigError | Exception) -> list[str]:
    """The lines of a config error, for display."""
    return list(getattr(exc, "problems", None) or [str(exc)])
