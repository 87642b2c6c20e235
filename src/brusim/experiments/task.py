"""The task of `brusim run`: one run, or one point of a sweep, from a Hydra config.

`brusim.cli` wraps `run_task` in ``hydra.main``; `brusim.experiments.sweep.launch` hands it to a
Hydra launcher for generated sweeps (sensitivity samples).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from omegaconf import DictConfig

from brusim.console import release_stderr
from brusim.errors import BrusimError


def output_folder(cfg: DictConfig) -> Path:
    """The run's folder, absolute: ``run.output_dir`` or Hydra's run/sweep folder."""
    from hydra.core.hydra_config import HydraConfig

    if cfg.run.output_dir:
        return Path(str(cfg.run.output_dir)).expanduser().resolve()
    return Path(HydraConfig.get().runtime.output_dir).resolve()


def run_task(cfg: DictConfig) -> None:
    """Run one simulation into its folder; inside a sweep, skip a point that is complete and
    continue one that was killed (a checkpoint of the same config)."""
    from brusim.experiments.single import resume_run, run_single
    from brusim.experiments.sweep import resumable_run, show_progress_bar, skip_complete_run

    release_stderr()
    logging.getLogger("MESA").setLevel(logging.WARNING)  # Mesa logs every step at INFO
    out = output_folder(cfg)
    if skip_complete_run(cfg, out):  # a sweep re-run: this point is already done
        return
    try:
        if resumable_run(cfg, out):  # a killed run of the same config: continue it
            result = resume_run(out, progress=show_progress_bar(cfg))
        else:
            result = run_single(cfg, out, progress=show_progress_bar(cfg))
    except BrusimError as exc:
        for line in getattr(exc, "problems", None) or [str(exc)]:
            print(f"brusim: error: {line}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"interrupted; continue with `brusim run --resume {out}`", file=sys.stderr)
        sys.exit(130)
    m = result.manifest
    print(f"run complete: {m['steps']} steps in {m['wall_seconds']} s -> {out}")
