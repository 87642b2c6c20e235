"""Deployment strategies: each hour a strategy decides which on-duty units leave normal patrol
for a focus and which hotspot each goes to (docs/ODD.md 7.3). They share one small interface, so
a new strategy is a few lines; `STRATEGIES` is the registry that `police.strategy` names (and
`brusim.config.validate` reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from brusim.errors import ConfigError
from brusim.model.codes import D_FOCUS_PICK, D_FOCUS_TARGET
from brusim.model.rng import Draws


class PoliceState(Protocol):
    """What a strategy reads of the units (`brusim.model.police.PoliceState`)."""

    zone: np.ndarray  # home zone per unit, -1 regional
    on_duty: np.ndarray  # bool per unit

    def __len__(self) -> int: ...


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

    def plan(self, p: PoliceState, activity: np.ndarray, draws: Draws,
             units: np.ndarray | None = None) -> FocusPlan:
        """Focus hotspot per unit. ``units``: keep these focus units and only re-target them
        (a mid-hour move); by default the strategy picks the focus units itself."""
        return FocusPlan(np.full(len(p), -1, np.int32), self.cfg.patrol_stop_minutes, True)

    def _pick_units(self, p: PoliceState, zones: np.ndarray | None, draws: Draws) -> np.ndarray:
        """On-duty units sent to the focus: a share of each contributing zone + reinforcements."""
        chosen = [np.flatnonzero(p.on_duty & (p.zone < 0))]
        for z in range(len(self.smap.zone_ids)):
            if zones is not None and z not in zones:
                continue
            idx = np.flatnonzero(p.on_duty & (p.zone == z))
            k = int(round(self.cfg.focus_share * len(idx)))
            chosen.append(draws.order(D_FOCUS_PICK, idx)[:k])
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

    def plan(self, p, activity, draws, units=None):
        target = np.full(len(p), -1, np.int32)
        units = self._pick_units(p, self._zones(), draws) if units is None else units
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

    def plan(self, p, activity, draws, units=None):
        target = np.full(len(p), -1, np.int32)
        pool = self.focus if len(self.focus) else self.listed
        if len(pool) == 0:
            return FocusPlan(target, self._stop(), self.move_every_step)
        hz = self.smap.zone[self.smap.hotspots.node[pool]]
        weights = activity[pool] + 1e-3
        units = self._pick_units(p, self._zones(), draws) if units is None else units
        merged = self.cfg.merged_command
        groups = [units] if merged else [units[p.zone[units] == z] for z in np.unique(p.zone)]
        for group in groups:
            if len(group) == 0:
                continue
            z = p.zone[group[0]]
            ok = np.ones(len(pool), bool) if merged or z < 0 else hz == z
            if not ok.any():
                continue
            cdf = np.cumsum(np.where(ok, weights, 0.0))
            pick = np.searchsorted(cdf / cdf[-1], draws.uniforms(D_FOCUS_TARGET, group),
                                   side="right")  # each unit's hotspot by its own uniform
            target[group] = pool[np.minimum(pick, len(pool) - 1)]
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
