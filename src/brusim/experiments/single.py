"""One simulation run with its output folder: config, manifest, metrics, events and figures."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from brusim.config.validate import validate
from brusim.experiments.manifest import base_manifest, now_iso
from brusim.io import frame_hash, write_json, write_parquet, write_text
from brusim.map import StreetMap, load_street_map
from brusim.model import BrusselsMarketModel
from brusim.model.model import RNG_STREAMS, map_settings


@dataclass
class RunResult:
    """In-memory results of a run (tables) and where they were written."""

    out_dir: Path | None
    region: pd.DataFrame
    areas: pd.DataFrame
    manifest: dict


def stream_info(seed: int) -> dict:
    """How each named random stream derives from the seed (numpy SeedSequence spawn keys)."""
    return {name: {"entropy": seed, "spawn_key": [i]} for i, name in enumerate(RNG_STREAMS)}


def run_single(
    cfg: DictConfig,
    out_dir: Path | None = None,
    *,
    smap: StreetMap | None = None,
    progress: bool = False,
    figures: bool | None = None,
) -> RunResult:
    """Run the model configured by ``cfg``; write its folder to ``out_dir`` when given."""
    smap = smap if smap is not None else load_street_map(map_settings(cfg.map))
    validate(cfg, smap)
    seed = int(cfg.seed)
    manifest = base_manifest(seed, stream_info(seed), smap.source_hash, smap.name)
    manifest["scenario"] = str(cfg.scenario.name)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_text(out_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        write_json(out_dir / "manifest.json", manifest)
    events_path = out_dir / "events.parquet" if out_dir is not None and cfg.run.write_events \
        else None
    t0 = time.perf_counter()
    model = BrusselsMarketModel(cfg, smap=smap, events_path=events_path)
    try:
        model.run(progress=progress)
    except KeyboardInterrupt:
        if out_dir is not None:
            manifest.update(status="interrupted", ended=now_iso(), steps_done=model.t)
            write_json(out_dir / "manifest.json", manifest)
        raise
    model.events.close()
    region, areas = model.region_metrics(), model.area_metrics()
    manifest.update(
        status="complete", ended=now_iso(), steps=model.t,
        wall_seconds=round(time.perf_counter() - t0, 2),
        event_counts=model.events.counts_by_name(),
        hashes={"metrics_region": frame_hash(region), "metrics_areas": frame_hash(areas)},
    )
    if out_dir is not None:
        write_parquet(out_dir / "metrics_region.parquet", region)
        write_parquet(out_dir / "metrics_areas.parquet", areas)
        if figures if figures is not None else bool(cfg.run.figures):
            _figures(model, out_dir, areas)
        write_json(out_dir / "manifest.json", manifest)
    return RunResult(out_dir, region, areas, manifest)


def _figures(model: BrusselsMarketModel, out_dir: Path, areas: pd.DataFrame) -> None:
    from brusim.reports.run_figures import node_counts, plot_hotspot_activity, plot_node_map

    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    smap = model.smap
    names = dict(zip(smap.hotspots.ids, smap.hotspots.names, strict=True))
    plot_hotspot_activity(areas, fig_dir / "hotspot_activity.png",
                          intervention_week=float(model.cfg.scenario.intervention_week),
                          names=names)
    events = model.events.to_table().to_pandas()
    counts = node_counts(events, "transaction", smap.n_nodes)
    plot_node_map(smap, counts, fig_dir / "dealing_map.png",
                  title=f"Where dealing happened: {model.cfg.scenario.name}, seed "
                        f"{model.cfg.seed}, {model.t // model.clock.steps_per_week} weeks",
                  label="transactions per street node")
