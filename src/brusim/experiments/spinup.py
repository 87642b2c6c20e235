"""Spin-up: business as usual runs until it settles; every run of a seed branches from there.

The model starts from an assumed state (crews at assumed market weights, an empty court queue),
which is not where the market it simulates would be. So before any run is reported, the
baseline (the comparison's business as usual, with its seed) runs from that state until a stated
warm-up rule holds (`settled`), for at least ``spinup.min_weeks`` and at most
``spinup.max_weeks``; if it never holds, the run says so (``settled: false``) and goes on from
``max_weeks``. The spun-up state is cached, keyed by everything but the scenario: the baseline's
settings, the map's hash and the model's code (`spinup_key`). Every scenario of that seed,
the baseline included, then begins from the same state (`start_model`), with its own time axis
from there, and adopts its policy at its intervention week (`brusim.model.policy`).

The rule, on weekly transactions region-wide and in each listed hotspot's catchment: the last
two ``window_weeks`` windows differ by at most ``tolerance`` (relative), or by no more than
two Poisson standard errors (a small hotspot's week-to-week noise is not drift).
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from brusim.errors import BrusimError, ConfigError
from brusim.experiments.checkpoint import CheckpointError, read_signed, signed_model
from brusim.io import OutputError, atomic_write
from brusim.model import BrusselsMarketModel
from brusim.model.codes import METRICS
from brusim.model.events import EventLog
from brusim.model.precompile import restore_compiled

log = logging.getLogger(__name__)
NEVER = 2**62  # no intervention during the spin-up
RULE = ("the last two {w}-week windows of weekly transactions, region-wide and in every listed "
        "hotspot's catchment, differ by at most {tol:.0%} or by at most two Poisson standard "
        "errors")
# settings that do not change the spun-up state (how long the reported run is, how it is saved)
NOT_IN_KEY = ("weeks", "burn_in_weeks", "scenario.intervention_week", "scenario.withdraw_week",
              "spinup.cache")


@dataclass
class SpinupReport:
    """How a spin-up went: its length, the rule's verdict and the weekly series it judged."""

    weeks: int
    settled: bool
    settled_week: int | None
    rule: str
    key: str
    weekly: pd.DataFrame = field(repr=False)  # week x series (region + listed hotspots)
    cached: bool = False
    preload: dict | None = None  # the users' stocks pre-loaded (`users.preload_stocks`)

    def summary(self) -> dict:
        """The report without its series, for a manifest."""
        return {"weeks": self.weeks, "settled": self.settled, "settled_week": self.settled_week,
                "rule": self.rule, "key": self.key, "cached": self.cached,
                "preload": self.preload}

    def write(self, folder: Path) -> list[Path]:
        """``spinup.json`` and ``spinup_weekly.parquet`` in ``folder``."""
        from brusim.io import write_json, write_parquet

        return [write_json(Path(folder) / "spinup.json", self.summary()),
                write_parquet(Path(folder) / "spinup_weekly.parquet",
                              self.weekly.reset_index())]


def as_object(cfg):
    """A config as the plain dataclasses the model reads."""
    return OmegaConf.to_object(cfg) if isinstance(cfg, DictConfig) else cfg


def spinup_key(cfg, smap) -> str:
    """SHA-256 of what the spun-up state depends on: the baseline's settings (not the reported
    run's length or intervention), the map's source hash and the model's code."""
    from brusim import __version__
    from brusim.experiments.manifest import flat_settings
    from brusim.model.numba_cache import sources_digest

    settings = {k: v for k, v in flat_settings(cfg).items() if k not in NOT_IN_KEY}
    blob = json.dumps({"settings": settings, "map": smap.source_hash, "code": sources_digest(),
                       "version": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def series_names(smap) -> list[str]:
    """The series the rule judges: region-wide, then the listed hotspots."""
    hs = smap.hotspots
    return ["region", *[h for h, a in zip(hs.ids, hs.attrs, strict=True)
                        if a.get("listed", True)]]


def settled(weekly: np.ndarray, window: int, tolerance: float) -> bool:
    """The rule on a (weeks, series) array of weekly counts (see the module docstring)."""
    if len(weekly) < 2 * window:
        return False
    a = weekly[-2 * window:-window].sum(axis=0)
    b = weekly[-window:].sum(axis=0)
    allowed = np.maximum(tolerance * a, 2.0 * np.sqrt(a + b))
    return bool((np.abs(b - a) <= allowed).all())


def _week_totals(model: BrusselsMarketModel, columns: np.ndarray) -> tuple[np.ndarray, float]:
    """This week's transactions in the judged areas and treatment entries region-wide; the
    recorder's rows are then dropped."""
    rec = model.recorder
    rows = np.sum(rec.area_rows, axis=0) if rec.area_rows else np.zeros(
        (len(rec.area_name), len(METRICS)))
    rec.area_rows.clear()
    rec.area_steps.clear()
    entries = float(rows[len(rec.area_name) - 1, METRICS.index("treatment_entries")])
    return rows[columns, METRICS.index("transactions")].astype(float), entries


def _preload(model: BrusselsMarketModel, entries: list[float]):
    """Users' treatment and recovered stocks filled to the steady state of the treatment
    entries measured so far (week 0 left out: the market is still forming)."""
    from brusim.model.users import preload_stocks

    beh = model.cfg.behaviour.outreach
    measured = entries[1:] or entries
    return preload_stocks(model.t, model.key, model.users, float(np.mean(measured)),
                          float(beh.treatment_weeks), float(beh.relapse_prob),
                          None if beh.recovered_weeks is None else float(beh.recovered_weeks),
                          model.clock.steps_per_week)


def spin_up(cfg, smap) -> tuple[BrusselsMarketModel, SpinupReport]:
    """Run business as usual (``cfg``, no intervention) until the rule holds (uncached)."""
    cfg = as_object(cfg)
    s = cfg.spinup
    model = BrusselsMarketModel(cfg, smap=smap)
    model.intervention_step, model.withdraw_step = NEVER, None
    model.events = EventLog(None, keep=False)  # counted, not kept: nothing is reported
    names = series_names(smap)
    columns = np.array([model.recorder.area_name.index(n) if n != "region" else
                        len(model.recorder.area_name) - 1 for n in names])
    weeks, rows, entries, done, preload, judged_from = 0, [], [], None, None, 0
    while weeks < s.max_weeks:
        model.advance(model.clock.steps_per_week)
        weeks += 1
        totals, entered = _week_totals(model, columns)
        rows.append(totals)
        entries.append(entered)
        if weeks == s.preload_users_week:
            preload, judged_from = _preload(model, entries), weeks
        if weeks >= s.min_weeks and settled(np.array(rows[judged_from:]), s.window_weeks,
                                            s.tolerance):
            done = weeks
            break
    rule = (RULE.format(w=s.window_weeks, tol=s.tolerance) if s.max_weeks else
            "none: no spin-up (spinup.max_weeks=0), runs begin at the initial state")
    weekly = pd.DataFrame(np.array(rows).reshape(len(rows), len(names)), columns=names,
                          index=pd.RangeIndex(len(rows), name="week"))
    report = SpinupReport(weeks, done is not None, done, rule, spinup_key(cfg, smap), weekly,
                          preload=preload.summary() if preload else None)
    return model, report


def cache_path(key: str) -> Path:
    from brusim.paths import cache_dir

    return cache_dir() / "spinup" / f"{key[:32]}.pkl"


def spun_up(cfg, smap) -> tuple[BrusselsMarketModel, SpinupReport]:
    """The spun-up model of ``cfg`` (the baseline), from the cache when it holds it (a damaged
    cache file is reported and spun up again; a cache that cannot be written only warns)."""
    cfg = as_object(cfg)
    key = spinup_key(cfg, smap)
    path = cache_path(key)
    if cfg.spinup.cache and path.is_file():
        try:
            payload = read_signed(path, path.read_bytes(), smap)
            if payload.get("key") != key:
                raise CheckpointError(f"spin-up cache {path} holds another spin-up")

            def restored() -> BrusselsMarketModel:
                model: BrusselsMarketModel = payload["model"]
                model.attach(smap)
                return model

            model = restore_compiled(restored)
            report = SpinupReport(**payload["report"], weekly=pd.DataFrame(payload["weekly"]),
                                  cached=True)
            report.weekly.index.name = "week"
            return model, report
        except (CheckpointError, OSError, TypeError, KeyError) as exc:
            warnings.warn(f"spin-up cache {path} is unusable ({exc}); spinning up again",
                          stacklevel=2)
    model, report = spin_up(cfg, smap)
    if cfg.spinup.cache:
        summary = {k: v for k, v in report.summary().items() if k != "cached"}
        data = signed_model(model, key=key, report=summary, weekly=report.weekly)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
        except (OSError, OutputError) as exc:
            warnings.warn(f"the spin-up could not be cached in {path.parent} ({exc}); it will "
                          "be run again next time (set BRUSIM_CACHE to a writable folder)",
                          stacklevel=2)
    return model, report


def start_model(cfg, smap=None, events_path: Path | None = None, baseline=None
                ) -> tuple[BrusselsMarketModel, SpinupReport]:
    """The model of a run of ``cfg``, begun at the spun-up state of its baseline (``baseline``:
    the same settings with the baseline scenario; None when ``cfg`` is the baseline)."""
    from brusim.map import load_street_map
    from brusim.model.model import map_settings

    cfg = as_object(cfg)
    if baseline is None:
        if cfg.scenario.name != "baseline":
            raise BrusimError(f"a run of scenario {cfg.scenario.name!r} begins from its "
                              "baseline's spin-up: pass baseline= (the same settings with "
                              "scenario=baseline)")
        baseline = cfg
    baseline = as_object(baseline)
    if int(baseline.seed) != int(cfg.seed):
        raise ConfigError(f"the baseline's seed {baseline.seed} is not the run's {cfg.seed}")
    if smap is None:
        smap = load_street_map(map_settings(cfg.map))
    model, report = spun_up(baseline, smap)
    model.begin(cfg, events_path)
    return model, report
