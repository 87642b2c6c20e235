"""The task of `brusim run`: one run, or one point of a sweep, from a Hydra config.

`brusim.cli` wraps `run_task` in ``hydra.main``; `brusim.experiments.sweep.launch` hands it to a
Hydra launcher for generated sweeps (sensitivity samples).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from brusim.console import release_stderr
from brusim.errors import BrusimError
from brusim.experiments.shards import config_matches, read_manifest, shard_problem

log = logging.getLogger(__name__)


def in_multirun() -> bool:
    """Whether the current Hydra job is part of a multirun (sweep)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def skip_complete_run(cfg: DictConfig, out: Path) -> bool:
    """In a sweep, True when ``out`` already holds a complete run of ``cfg`` (manifest
    ``complete``, outputs matching their hashes, same resolved config): the job is skipped."""
    if not in_multirun() or read_manifest(Path(out)) is None:
        return False
    problem = shard_problem(Path(out), cfg, events_hash=True)
    if problem is None:
        log.info("skipping %s: already complete", out)
        return True
    log.info("re-running %s: %s", out, problem)
    return False


def resumable_run(cfg: DictConfig, out: Path) -> bool:
    """True when ``out`` holds a checkpoint of an unfinished run of the same ``cfg`` (a killed
    sweep job): it continues from there instead of starting over."""
    from brusim.experiments.checkpoint import CHECKPOINT

    out = Path(out)
    return (out / CHECKPOINT).exists() and config_matches(out, cfg)


def show_progress_bar(cfg: DictConfig) -> bool:
    """The per-step progress bar of single runs (off inside sweeps, which count runs)."""
    return bool(cfg.run.progress) and not in_multirun()


def output_folder(cfg: DictConfig) -> Path:
    """The run's folder, absolute: ``run.output_dir`` or Hydra's run/sweep folder."""
    if cfg.run.output_dir:
        return Path(str(cfg.run.output_dir)).expanduser().resolve()
    return Path(HydraConfig.get().runtime.output_dir).resolve()


def is_scenario_choice(override: str) -> bool:
    """Whether a Hydra override picks the scenario (``scenario=x``, ``scenario.name=y``)."""
    from brusim.config.load import override_key

    return override_key(override) in ("scenario", "scenario.name")


def baseline_config(cfg: DictConfig) -> DictConfig | None:
    """The baseline of this run: the same overrides without the scenario choice (None when
    the run is the baseline)."""
    from brusim.config.load import compose_config

    if cfg.scenario.name == "baseline":
        return None
    hc = HydraConfig.get()
    overrides = [o for o in hc.overrides.task if not is_scenario_choice(o)]
    return compose_config(overrides, config_name=hc.job.config_name or "config")


def run_task(cfg: DictConfig) -> None:
    """Run one simulation into its folder; inside a sweep, skip a point that is complete and
    continue one that was killed (a checkpoint of the same config)."""
    from brusim.experiments.single import resume_run, run_single

    release_stderr()
    logging.getLogger("MESA").setLevel(logging.WARNING)  # Mesa logs every step at INFO
    out = output_folder(cfg)
    if skip_complete_run(cfg, out):  # a sweep re-run: this point is already done
        return
    try:
        if resumable_run(cfg, out):  # a killed run of the same config: continue it
            result = resume_run(out, progress=show_progress_bar(cfg))
        else:
            result = run_single(cfg, out, progress=show_progress_bar(cfg),
                                baseline=baseline_config(cfg))
    except BrusimError as exc:
        for line in getattr(exc, "problems", None) or [str(exc)]:
            print(f"brusim: error: {line}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"interrupted; continue with `brusim run --resume {out}`", file=sys.stderr)
        sys.exit(130)
    m = result.manifest
    print(f"run complete: {m['steps']} steps in {m['wall_seconds']} s -> {out}")
