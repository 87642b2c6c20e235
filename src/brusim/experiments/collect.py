"""`brusim collect SWEEP_DIR`: gather every complete run of a sweep into one table.

One row per run: a column per swept parameter (from the run's ``.hydra/overrides.yaml``), the
scenario and seed, and per-run outputs computed with `brusim.analysis`:

* ``region.<metric>``: whole-run totals of the region metrics (means for state metrics);
* ``<hotspot>.<metric>.before|after|change``: totals over the before/after windows in the
  hotspot's catchment (``window_totals`` + ``before_after_change``);
* ``displacement.wdq|tne|wdd|wdd_se|target_change``: transactions within ``target_m`` of the
  target against the ring ``buffer_inner_m``-``buffer_outer_m`` around it (``displacement``);
* ``wdq.<hotspot>``: the WDQ with that hotspot's catchment as the displacement area around the
  target (e.g. Porte de Hal around Gare du Midi).

Incomplete or unreadable runs are skipped with a one-line warning naming the folder.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from brusim.analysis import metrics as mt
from brusim.analysis.displacement import wdq
from brusim.analysis.windows import Windows, node_window_counts, window_totals
from brusim.errors import BrusimError, ConfigError
from brusim.experiments.shards import read_manifest, run_folders, shard_problem, task_overrides
from brusim.io import write_parquet
from brusim.model.clock import Clock
from brusim.model.recorder import METRICS, STATE_METRICS

log = logging.getLogger(__name__)

TABLE = "collected"
# override keys that are not model parameters
NOT_PARAMETERS = ("sweep_name",)
NOT_PARAMETER_PREFIXES = ("run.", "hydra.", "hydra/")


@dataclass
class CollectSpec:
    """Which hotspots and displacement geometry the per-run outputs describe."""

    target: str = "gare_du_midi"
    hotspots: list[str] = field(default_factory=lambda: ["gare_du_midi", "porte_de_hal"])
    metrics: list[str] = field(default_factory=lambda: [
        "transactions", "dealer_hours", "public_use", "violent_incidents", "arrests"])
    target_m: float = 400.0
    buffer_inner_m: float = 400.0
    buffer_outer_m: float = 1200.0
    window_weeks: int | None = None


class ShardError(Exception):
    """A run folder that cannot be used (incomplete, truncated, inconsistent)."""


# ------------------------------------------------------------------------------ parameters


def parameters(overrides: list[str]) -> dict[str, object]:
    """Parameter columns from Hydra override strings (typed values, lists as text)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    out: dict[str, object] = {}
    for o in parsed:
        key = o.key_or_group
        if key in NOT_PARAMETERS or key.startswith(NOT_PARAMETER_PREFIXES) or o.is_delete():
            continue
        value = o.value()
        out[key] = value if isinstance(value, str | int | float | bool) or value is None \
            else o.get_value_element_as_str()
    return out


# ------------------------------------------------------------------------------ one run


class MapCache:
    """Street maps by map configuration, loaded once per collect."""

    def __init__(self) -> None:
        self._maps: dict[str, object] = {}

    def get(self, cfg_map: DictConfig):
        """The StreetMap of a run's ``map`` config node."""
        from brusim.map import MapSettings, load_street_map

        key = OmegaConf.to_yaml(cfg_map)
        if key not in self._maps:
            settings = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(MapSettings),
                                                           cfg_map))
            self._maps[key] = load_street_map(settings)
        return self._maps[key]


def region_totals(region: pd.DataFrame) -> dict[str, float]:
    """Whole-run totals of the region metrics (means for state metrics)."""
    return {f"region.{m}": float(region[m].mean() if m in STATE_METRICS else region[m].sum())
            for m in METRICS if m in region.columns}


def hotspot_changes(areas: pd.DataFrame, windows: Windows, spec: CollectSpec) -> dict[str, float]:
    """Before, after and change of each key metric in each key hotspot's catchment."""
    totals = window_totals(areas, windows).assign(scenario="run", seed=0)
    change = mt.before_after_change(totals)
    change = change[change["area_kind"] == "hotspot"].set_index(["area", "metric"])
    out = {}
    for h in spec.hotspots:
        for m in spec.metrics:
            row = change.loc[(h, m)] if (h, m) in change.index else None
            for col in ("before", "after", "change"):
                out[f"{h}.{m}.{col}"] = float(row[col]) if row is not None else math.nan
    return out


def displacement_outputs(events: pd.DataFrame, windows: Windows, steps_per_week: int, smap,
                         spec: CollectSpec) -> dict[str, float]:
    """WDQ, TNE and WDD of transactions around the target: against the ring around it, and
    against each other key hotspot's catchment."""
    sales = node_window_counts(events, windows, steps_per_week, "transaction").assign(
        scenario="run", seed=0)
    if sales.empty:
        return {}
    dist = smap.hotspots.dist[smap.hotspots.index(spec.target)]
    ring = (spec.buffer_inner_m, spec.buffer_outer_m)
    disp = mt.displacement(sales, dist, spec.target_m, ring).iloc[0]
    out = {f"displacement.{k}": float(disp[k])
           for k in ("wdq", "tne", "wdd", "wdd_se", "target_change")}
    target = np.flatnonzero(dist <= spec.target_m)
    for h in spec.hotspots:
        if h == spec.target:
            continue
        area = np.setdiff1d(smap.hotspots.catchment(smap.hotspots.index(h)), target)
        control = np.setdiff1d(np.flatnonzero(dist > spec.buffer_outer_m), area)
        counts = [_window_counts(sales, nodes) for nodes in (target, area, control)]
        out[f"wdq.{h}"] = float(wdq(counts[0]["before"], counts[0]["after"], counts[1]["before"],
                                    counts[1]["after"], counts[2]["before"], counts[2]["after"]))
    return out


def _window_counts(sales: pd.DataFrame, nodes: np.ndarray) -> pd.Series:
    counts = mt.area_counts(sales, nodes)
    return counts.iloc[0] if len(counts) else pd.Series({"before": 0.0, "after": 0.0})


def run_row(path: Path, spec: CollectSpec, maps: MapCache) -> dict[str, object]:
    """One table row for the run in ``path``; raises ShardError when it cannot be used."""
    problem = shard_problem(path)
    if problem is not None:
        raise ShardError(problem)
    try:
        return _outputs(path, spec, maps)
    except BrusimError:
        raise  # a user error (unknown hotspot, missing map): not this shard's fault
    except Exception as exc:  # anything unreadable or inconsistent in this folder
        raise ShardError(f"unusable ({type(exc).__name__}: {exc})") from None


def _outputs(path: Path, spec: CollectSpec, maps: MapCache) -> dict[str, object]:
    manifest = read_manifest(path) or {}
    cfg = OmegaConf.load(path / "config.yaml")
    smap = maps.get(cfg.map)
    check_spec(spec, smap)
    params = parameters(task_overrides(path) or [])
    row: dict[str, object] = {k: params[k] for k in sorted(params)}  # order-independent
    row.update(scenario=manifest.get("scenario"), seed=manifest.get("seed"),
               steps=manifest.get("steps"))
    row.update(region_totals(pd.read_parquet(path / "metrics_region.parquet")))
    try:
        windows = Windows.for_run(cfg.scenario.intervention_week, cfg.weeks, cfg.burn_in_weeks,
                                  spec.window_weeks)
    except ValueError:
        return row  # no before/after windows in this run: those outputs stay empty
    row.update(hotspot_changes(pd.read_parquet(path / "metrics_areas.parquet"), windows, spec))
    if (path / "events.parquet").exists():
        events = pd.read_parquet(path / "events.parquet", columns=["type", "step", "node"])
        spw = Clock(float(cfg.step_minutes)).steps_per_week
        row.update(displacement_outputs(events, windows, spw, smap, spec))
    return row


# ------------------------------------------------------------------------------ all runs


def check_spec(spec: CollectSpec, smap) -> None:
    """Every named hotspot exists on the sweep's map."""
    ids = smap.hotspots.ids
    bad = [h for h in [spec.target, *spec.hotspots] if h not in ids]
    if bad:
        raise ConfigError(f"collect: hotspot(s) {', '.join(dict.fromkeys(bad))} not on map "
                          f"{smap.name!r}; choose --target/--hotspots from: {', '.join(ids)}")
    unknown = [m for m in spec.metrics if m not in METRICS]
    if unknown:
        raise ConfigError(f"collect: unknown metric(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(METRICS)}")


def collect_runs(sweep_dir: Path, spec: CollectSpec | None = None
                 ) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The table of every usable run under ``sweep_dir`` and the (folder, reason) skipped."""
    spec = spec or CollectSpec()
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ConfigError(f"collect: no sweep folder {sweep_dir}; give the folder of a "
                          "`brusim run -m` sweep (hydra.sweep.dir)")
    maps = MapCache()
    rows, skipped = [], []
    for path in run_folders(sweep_dir):
        rel = path.relative_to(sweep_dir).as_posix() or "."
        try:
            row = run_row(path, spec, maps)
        except ShardError as exc:
            log.warning("collect: skipping %s: %s", rel, exc)
            skipped.append((rel, str(exc)))
            continue
        rows.append({"run": rel, **row})
    return pd.DataFrame(rows), skipped


def collect(sweep_dir: Path, spec: CollectSpec | None = None, out: Path | None = None
            ) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Collect a sweep and write ``collected.parquet`` and ``collected.duckdb`` (table
    ``collected``) into ``out`` (default: the sweep folder)."""
    from brusim.experiments.compare import write_duckdb

    table, skipped = collect_runs(sweep_dir, spec)
    if table.empty:
        raise ConfigError(f"collect: no complete runs under {sweep_dir}")
    out = Path(out) if out is not None else Path(sweep_dir)
    write_parquet(out / f"{TABLE}.parquet", table)
    write_duckdb(out / f"{TABLE}.duckdb", {TABLE: table})
    return table, skipped
