"""One simulation run with its output folder: config, manifest, metrics, events and figures.

A run with an output folder saves a checkpoint every ``run.checkpoint_every_days`` simulated
days; `resume_run` continues a killed or interrupted run from its last checkpoint and produces
the same outputs as an uninterrupted run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from brusim.config.validate import validate
from brusim.errors import BrusimError
from brusim.experiments.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from brusim.experiments.manifest import (
    base_manifest,
    changed_settings,
    flat_settings,
    now_iso,
    read_manifest,
    settings_hash,
)
from brusim.experiments.spinup import start_model
from brusim.io import (
    OutputError,
    cannot_write,
    frame_hash,
    parquet_hash,
    writable_folder,
    write_json,
    write_parquet,
    write_text,
)
from brusim.map import StreetMap, load_street_map
from brusim.model import BrusselsMarketModel
from brusim.model import rng as rd
from brusim.model.model import map_settings
from brusim.model.precompile import discard_prestarted, prestart_helpers

BASELINE_CONFIG = "baseline.yaml"  # the baseline a scenario run begins from (its spin-up)


@dataclass
class RunResult:
    """In-memory results of a run (tables) and where they were written."""

    out_dir: Path | None
    region: pd.DataFrame
    areas: pd.DataFrame
    manifest: dict


def stream_info(seed: int) -> dict:
    """How the run's random numbers derive from the seed (`brusim.model.rng.describe`)."""
    return rd.describe(seed)


def run_single(
    cfg: DictConfig,
    out_dir: Path | None = None,
    *,
    smap: StreetMap | None = None,
    progress: bool = False,
    figures: bool | None = None,
    baseline: DictConfig | None = None,
) -> RunResult:
    """Run the model configured by ``cfg``, begun at its baseline's spun-up state
    (`spinup.start_model`; ``baseline``: the same settings with scenario=baseline, None when
    ``cfg`` is the baseline); write its folder to ``out_dir`` when given."""
    prestart_helpers()  # a first run of these sources: compiling helpers import meanwhile
    try:
        return _run_single(cfg, out_dir, smap, progress, figures, baseline)
    finally:
        discard_prestarted()  # none left once the model is built; else they may stop


def _run_single(cfg: DictConfig, out_dir: Path | None, smap: StreetMap | None, progress: bool,
                figures: bool | None, baseline: DictConfig | None) -> RunResult:
    smap = smap if smap is not None else load_street_map(map_settings(cfg.map))
    validate(cfg, smap)
    if baseline is not None:
        validate(baseline, smap)
    seed = int(cfg.seed)
    manifest = base_manifest(seed, stream_info(seed), smap)
    manifest["scenario"] = str(cfg.scenario.name)
    manifest["settings"] = flat_settings(cfg)
    manifest["config_hash"] = settings_hash(manifest["settings"])
    if out_dir is not None:
        out_dir = Path(out_dir)
        refuse_other_run(out_dir, cfg)
        writable_folder(out_dir, "run.output_dir")
        (out_dir / CHECKPOINT).unlink(missing_ok=True)  # a fresh start never resumes old state
        write_text(out_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        if baseline is not None:
            write_text(out_dir / BASELINE_CONFIG, OmegaConf.to_yaml(baseline, resolve=True))
        write_json(out_dir / "manifest.json", manifest)
    events_path = out_dir / "events.parquet" if out_dir is not None and cfg.run.write_events \
        else None
    t0 = time.perf_counter()
    model, spinup = start_model(cfg, smap, events_path, baseline)
    manifest["spinup"] = spinup.summary()
    if out_dir is not None:
        spinup.write(out_dir)
    if events_path is not None:
        model.events.discard_unfinished()  # parts left by an earlier run in this folder
    return _complete(model, out_dir, manifest, progress, figures, t0)


def refuse_other_run(out_dir: Path, cfg: DictConfig) -> None:
    """A folder that holds a run of other settings is never written over (the same settings
    may run again: that repairs a damaged run with the same numbers)."""
    from brusim.experiments.shards import config_matches

    if not (out_dir / "manifest.json").exists() and not (out_dir / "config.yaml").exists():
        return
    if config_matches(out_dir, cfg):
        return
    try:
        status = read_manifest(out_dir).get("status", "unknown")
    except BrusimError:
        status = "unreadable"
    raise BrusimError(f"{out_dir} already holds a run with other settings (status {status}); "
                      "write to another run.output_dir, or delete that folder first")


def resume_run(run_dir: Path, *, progress: bool = False, figures: bool | None = None
               ) -> RunResult:
    """Continue the run in ``run_dir`` from its last checkpoint (or report that it finished)."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    if manifest.get("status") == "complete":
        raise BrusimError(f"the run in {run_dir} is already complete; nothing to resume")
    cfg = load_run_config(run_dir)
    refuse_edited_config(run_dir, cfg, manifest, "resume it")
    smap = load_street_map(map_settings(cfg.map))
    model = load_checkpoint(run_dir, smap)
    manifest.update(status="running", resumed_from_step=model.steps_done,
                    resumed=[*manifest.get("resumed", []), now_iso()])
    write_json(run_dir / "manifest.json", manifest)
    return _complete(model, run_dir, manifest, progress, figures, time.perf_counter())


def refuse_edited_config(run_dir: Path, cfg: DictConfig, manifest: dict, to: str) -> None:
    """A run folder whose ``config.yaml`` no longer matches the settings its manifest recorded
    is one line naming the changed settings."""
    then = manifest.get("settings")
    if then is None:  # a run from before settings were recorded: nothing to compare
        return
    now = flat_settings(cfg)
    if manifest.get("config_hash") == settings_hash(now):
        return
    changes = changed_settings(then, now)
    shown = "; ".join(changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5
                                      else "")
    raise BrusimError(f"{run_dir}/config.yaml was edited after the run started ({shown}); "
                      f"restore those values to {to}, or start a new run with the new "
                      "settings in another folder")


def load_run_config(run_dir: Path, name: str = "config.yaml") -> DictConfig:
    """The resolved config saved in a run folder (``name``), checked against the schema."""
    from omegaconf.errors import OmegaConfBaseException

    from brusim.config.schema import BrusimConfig

    path = Path(run_dir) / name
    if not path.is_file():
        raise BrusimError(f"{run_dir} is not a run folder (no {name})")
    try:
        return OmegaConf.merge(OmegaConf.structured(BrusimConfig), OmegaConf.load(path))
    except (OmegaConfBaseException, ValueError) as exc:
        raise BrusimError(f"{path} is not a valid brusim config: "
                          f"{str(exc).splitlines()[0]}") from None


def _complete(model: BrusselsMarketModel, out_dir: Path | None, manifest: dict, progress: bool,
              figures: bool | None, t0: float) -> RunResult:
    """Step the model to its horizon (checkpointing), then write its outputs."""
    cfg = model.run_cfg
    every = int(round(float(cfg.run.checkpoint_every_days) * model.steps_per_day))
    bar = model.progress_bar() if progress else None
    on_step = bar.update if bar is not None else None
    try:
        if out_dir is None or every <= 0:
            model.advance(model.n_steps - model.t, on_step)
        else:
            while model.t < model.n_steps:
                model.advance(min(every - model.steps_done % every, model.n_steps - model.t),
                              on_step)
                if model.t < model.n_steps:
                    save_checkpoint(model, out_dir)
    except KeyboardInterrupt:
        if out_dir is not None:
            manifest.update(status="interrupted", ended=now_iso(), steps_done=model.steps_done)
            write_json(out_dir / "manifest.json", manifest)
        raise
    except (OSError, OutputError) as exc:  # the event log or a checkpoint was not written
        raise _cannot_write(out_dir, exc) from None
    finally:
        if bar is not None:
            bar.close()
    model.finish()
    region, areas = model.region_metrics(), model.area_metrics()
    manifest.update(
        status="complete", ended=now_iso(), steps=model.steps_done,
        wall_seconds=round(time.perf_counter() - t0, 2),
        event_counts=model.events.counts_by_name(),
        hashes={"metrics_region": frame_hash(region), "metrics_areas": frame_hash(areas)},
    )
    if out_dir is None:
        model.events.close()
        return RunResult(out_dir, region, areas, manifest)
    try:  # the manifest says complete only once everything else is on disk
        write_parquet(out_dir / "metrics_region.parquet", region)
        write_parquet(out_dir / "metrics_areas.parquet", areas)
        model.events.close()
        if model.events.path is not None:
            manifest["hashes"]["events"] = parquet_hash(model.events.path)
        if figures if figures is not None else bool(cfg.run.figures):
            _figures(model, out_dir, areas)
        write_json(out_dir / "manifest.json", manifest)
    except (OSError, OutputError) as exc:
        raise _cannot_write(out_dir, exc) from None
    model.events.remove_parts()
    (out_dir / CHECKPOINT).unlink(missing_ok=True)
    return RunResult(out_dir, region, areas, manifest)


def _cannot_write(out_dir: Path | None, exc: OSError | OutputError) -> Exception:
    """A failed write during a run: one line, and how to finish the run once fixed."""
    if out_dir is None:
        return exc
    then = (f"`brusim run --resume {out_dir}` finishes the run" if (out_dir / CHECKPOINT).exists()
            else "run the same command again")
    return cannot_write(out_dir, exc, then)


def _figures(model: BrusselsMarketModel, out_dir: Path, areas: pd.DataFrame) -> None:
    from brusim.analysis.run_figures import node_counts, plot_hotspot_activity, plot_node_map

    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    smap = model.smap
    names = dict(zip(smap.hotspots.ids, smap.hotspots.names, strict=True))
    plot_hotspot_activity(areas, fig_dir / "hotspot_activity.png",
                          intervention_week=float(model.run_cfg.scenario.intervention_week),
                          names=names)
    counts = node_counts(model.events.frame(["type", "node"]), "transaction", smap.n_nodes)
    plot_node_map(smap, counts, fig_dir / "dealing_map.png",
                  title=f"Where dealing happened: {model.run_cfg.scenario.name}, seed "
                        f"{model.cfg.seed}, {model.steps_done // model.clock.steps_per_week} "
                        "weeks",
                  label="transactions per street node")
