"""Police units, their availability (shifts, competing duties) and deployment strategies.

A strategy decides, each hour, which on-duty units leave normal patrol for a focus and where
they go. Strategies share one small interface, so a new one is a few lines.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from brusim.errors import ConfigError

PATROL, FOCUS = 0, 1


@dataclass
class PoliceState:
    zone: np.ndarray  # int32 home zone, -1 for regional reinforcement
    node: np.ndarray  # int64 current node
    on_duty: np.ndarray  # bool
    role: np.ndarray  # int8 PATROL/FOCUS
    focus_target: np.ndarray  # int32 hotspot index of the focus, -1 none
    stop_minutes: np.ndarray  # float minutes spent at the current node this step
    base: np.ndarray  # int64 (Z,) base node per zone (where off-duty units are)

    def __len__(self) -> int:
        return len(self.zone)


def init_police(smap, cfg, rng: np.random.Generator) -> PoliceState:
    """Units per zone from officers × street share / officers per unit, plus reinforcements."""
    counts = []
    for key, default in zip(smap.zone_ids, smap.zone_officers, strict=True):
        officers = cfg.officers.get(key, default)
        counts.append(int(round(officers * cfg.street_share / max(cfg.officers_per_unit, 1))))
    zone = np.concatenate([np.full(c, z, np.int32) for z, c in enumerate(counts)]
                          + [np.full(cfg.reinforcement_units, -1, np.int32)])
    base = np.zeros(len(smap.zone_ids), np.int64)
    for z in range(len(smap.zone_ids)):
        nodes = np.flatnonzero(smap.zone == z)
        if len(nodes) == 0:
            continue
        w = smap.node_population[nodes].astype(float)
        cx, cy = np.average(smap.x[nodes], weights=w), np.average(smap.y[nodes], weights=w)
        base[z] = nodes[np.argmin(np.hypot(smap.x[nodes] - cx, smap.y[nodes] - cy))]
    node = np.where(zone >= 0, base[np.maximum(zone, 0)], base[0]).astype(np.int64)
    n = len(zone)
    return PoliceState(zone, node, np.zeros(n, bool), np.zeros(n, np.int8),
                       np.full(n, -1, np.int32), np.zeros(n), base)


def duty_loss(duties, zone_ids: tuple[str, ...], step: int, clock, seed: int) -> np.ndarray:
    """Share of each zone's capacity lost to competing duties at this step (max over duties)."""
    loss = np.zeros(len(zone_ids))
    day = clock.day(step)
    for duty in duties:
        if duty.weekday >= 0 and clock.weekday(step) != duty.weekday:
            continue
        if (day // 7) % max(duty.every_weeks, 1) != 0:
            continue
        if not clock.in_hours(step, duty.start_hour, duty.hours):
            continue
        # the day's draw is deterministic per (duty, day) so the hour-by-hour checks agree
        if duty.probability < 1.0:
            draw = zlib.crc32(f"{duty.name}:{day}:{seed}".encode()) / 2**32
            if draw >= duty.probability:
                continue
        if duty.zone != "all" and duty.zone not in zone_ids:
            raise ConfigError(f"police.duties {duty.name}: unknown zone {duty.zone!r}; valid: "
                              f"all, {', '.join(zone_ids)}")
        zones = range(len(zone_ids)) if duty.zone == "all" else [zone_ids.index(duty.zone)]
        for z in zones:
            loss[z] = max(loss[z], duty.share_lost)
    return loss


def units_on_duty(p: PoliceState, available_share: np.ndarray, reinforcements_on: bool
                  ) -> np.ndarray:
    """The first ⌊share × units⌋ units of each zone are on duty (stable rota)."""
    on = np.zeros(len(p), bool)
    for z, share in enumerate(available_share):
        idx = np.flatnonzero(p.zone == z)
        on[idx[: int(round(share * len(idx)))]] = True
    if reinforcements_on:
        on[p.zone < 0] = True
    return on


def deterrence(stop_minutes: np.ndarray, tau_minutes: float) -> np.ndarray:
    """Deterrent effect of a stop of a given length: 1 - exp(-stop/tau) (Koper-style curve)."""
    return 1.0 - np.exp(-np.asarray(stop_minutes) / tau_minutes)


@dataclass(frozen=True)
class PatrolSampler:
    """Draws patrol nodes for many units in one call.

    Group ``g`` (a zone, or the whole region) picks its node ``i`` with probability proportional
    to ``weights[i]``. All groups share one sorted array ``g + cumulative share within g``, so
    one ``searchsorted`` serves units of every group at once.
    """

    nodes: np.ndarray  # concatenated node lists of the groups
    cum: np.ndarray  # g + normalised cumulative weight, per entry of ``nodes``
    end: np.ndarray  # (G,) one past each group's last entry
    size: np.ndarray  # (G,) nodes per group
    # (G, BUCKETS + 1): position of g + j / BUCKETS in ``cum`` (searchsorted, right), so a
    # draw's search starts within a few entries (kernels.draw_patrol_posts)
    index: np.ndarray

    BUCKETS = 1024

    @classmethod
    def build(cls, groups: list[np.ndarray], weights: np.ndarray) -> PatrolSampler:
        cums = []
        for g, nodes in enumerate(groups):
            c = np.cumsum(weights[nodes], dtype=np.float64)
            share = c / c[-1] if len(c) and c[-1] > 0 else np.zeros(len(c))
            cums.append(g + share)
        size = np.array([len(nodes) for nodes in groups], np.int64)
        cum = np.concatenate(cums) if cums else np.zeros(0)
        bounds = np.arange(len(groups))[:, None] + np.arange(cls.BUCKETS + 1) / cls.BUCKETS
        index = cum.searchsorted(bounds, side="right").astype(np.int64)
        return cls(np.concatenate(groups).astype(np.int64), cum, np.cumsum(size), size, index)

    def draw(self, group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One weighted random node for each entry of ``group`` (groups must be non-empty)."""
        pos = self.cum.searchsorted(group + rng.random(len(group)), side="right")
        return self.nodes[np.minimum(pos, self.end[group] - 1)]


# ---------------------------------------------------------------- deployment strategies


@dataclass
class FocusPlan:
    """Per unit: focus hotspot index (-1 = patrol); stop length; redraw the node every step?"""

    target: np.ndarray
    stop_minutes: float
    move_every_step: bool


class Strategy:
    """Base: everyone patrols. Subclasses choose focus units and their hotspots."""

    name = "patrol"

    def __init__(self, cfg, smap):
        self.cfg = cfg
        self.smap = smap
        self.focus = self._focus_indices(cfg.focus_hotspots, smap)
        listed = [i for i, a in enumerate(smap.hotspots.attrs) if a.get("listed", True)]
        self.listed = np.array(listed, dtype=np.int64)

    @staticmethod
    def _focus_indices(ids, smap) -> np.ndarray:
        try:
            return np.array([smap.hotspots.index(h) for h in ids], dtype=np.int64)
        except KeyError as exc:
            raise ConfigError(f"police.focus_hotspots: {exc.args[0]}") from None

    def plan(self, p: PoliceState, activity: np.ndarray, rng: np.random.Generator,
             units: np.ndarray | None = None) -> FocusPlan:
        """Focus hotspot per unit. ``units``: keep these focus units and only re-target them
        (a mid-hour move); by default the strategy picks the focus units itself."""
        return FocusPlan(np.full(len(p), -1, np.int32), self.cfg.patrol_stop_minutes, True)

    def _pick_units(self, p: PoliceState, zones: np.ndarray | None,
                    rng: np.random.Generator) -> np.ndarray:
        """On-duty units sent to the focus: a share of each contributing zone + reinforcements."""
        chosen = [np.flatnonzero(p.on_duty & (p.zone < 0))]
        for z in range(len(self.smap.zone_ids)):
            if zones is not None and z not in zones:
                continue
            idx = np.flatnonzero(p.on_duty & (p.zone == z))
            k = int(round(self.cfg.focus_share * len(idx)))
            chosen.append(rng.permutation(idx)[:k])
        return np.concatenate(chosen).astype(np.int64)

    def _zones(self) -> np.ndarray | None:
        if not self.cfg.focus_zones:
            return None
        try:
            return np.array([self.smap.zone_ids.index(z) for z in self.cfg.focus_zones])
        except ValueError:
            raise ConfigError(
                f"police.focus_zones {self.cfg.focus_zones}: valid zones are "
                f"{', '.join(self.smap.zone_ids)}"
            ) from None


class Concentrate(Strategy):
    """Midi-plan style: a share of units held at a named set of hotspots (static presence)."""

    name = "concentrate"

    def plan(self, p, activity, rng, units=None):
        target = np.full(len(p), -1, np.int32)
        units = self._pick_units(p, self._zones(), rng) if units is None else units
        if len(self.focus) and len(units):
            target[units] = self.focus[np.arange(len(units)) % len(self.focus)]
        return FocusPlan(target, self.cfg.focus_stop_minutes, False)


class HotspotSpread(Strategy):
    """2024 hotspot strategy: each zone's focus units spread over its listed hotspots in
    proportion to observed activity (region-wide when the command is merged)."""

    name = "hotspots"
    move_every_step = False

    def _stop(self) -> float:
        return self.cfg.focus_stop_minutes

    def plan(self, p, activity, rng, units=None):
        target = np.full(len(p), -1, np.int32)
        pool = self.focus if len(self.focus) else self.listed
        if len(pool) == 0:
            return FocusPlan(target, self._stop(), self.move_every_step)
        hz = self.smap.zone[self.smap.hotspots.node[pool]]
        weights = activity[pool] + 1e-3
        units = self._pick_units(p, self._zones(), rng) if units is None else units
        merged = self.cfg.merged_command
        groups = [units] if merged else [units[p.zone[units] == z] for z in np.unique(p.zone)]
        for group in groups:
            if len(group) == 0:
                continue
            z = p.zone[group[0]]
            ok = np.ones(len(pool), bool) if merged or z < 0 else hz == z
            if not ok.any():
                continue
            w = np.where(ok, weights, 0.0)
            target[group] = pool[rng.choice(len(pool), size=len(group), p=w / w.sum())]
        return FocusPlan(target, self._stop(), self.move_every_step)


class KoperStops(HotspotSpread):
    """Random short stops (Koper 1995): 15-minute visits, moving between hotspots every step."""

    name = "koper"
    move_every_step = True

    def _stop(self) -> float:
        return self.cfg.koper_stop_minutes


STRATEGIES: dict[str, type[Strategy]] = {
    s.name: s for s in (Strategy, Concentrate, HotspotSpread, KoperStops)
}


def make_strategy(cfg, smap) -> Strategy:
    """Build the strategy named by ``cfg.strategy`` (ConfigError lists valid names)."""
    try:
        cls = STRATEGIES[cfg.strategy]
    except KeyError:
        raise ConfigError(
            f"police.strategy={cfg.strategy!r} is unknown; valid: {', '.join(STRATEGIES)}"
        ) from None
    return cls(cfg, smap)
