"""Re-run a finished run from its folder and check that every output is identical."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from brusim.errors import BrusimError
from brusim.experiments.manifest import base_manifest, read_manifest
from brusim.experiments.single import (
    BASELINE_CONFIG,
    load_run_config,
    refuse_edited_config,
    run_single,
)
from brusim.map import load_street_map
from brusim.model.model import map_settings


@dataclass
class OutputCheck:
    """One output of the run: its content hash then and now."""

    name: str
    original: str | None
    rerun: str | None

    @property
    def identical(self) -> bool:
        return self.original is not None and self.original == self.rerun


@dataclass
class Reproduction:
    """Outcome of `reproduce`: per-output checks and the environment differences."""

    run_dir: Path
    outputs: list[OutputCheck]
    environment: list[str]  # "name: then -> now" for versions that changed

    @property
    def identical(self) -> bool:
        return bool(self.outputs) and all(o.identical for o in self.outputs)

    def lines(self) -> list[str]:
        """A short human-readable verdict."""
        out = [f"{o.name}: {'identical' if o.identical else 'DIFFERS'}"
               + ("" if o.identical else f" (run {str(o.original)[:12]}, rerun "
                  f"{str(o.rerun)[:12]})") for o in self.outputs]
        if self.environment:
            out.append("environment changed since the run: " + "; ".join(self.environment))
        verdict = "reproduced: all outputs identical" if self.identical else \
            "NOT reproduced: outputs differ"
        return [*out, verdict]


def reproduce(run_dir: Path, work_dir: Path | None = None, progress: bool = False
              ) -> Reproduction:
    """Re-run ``run_dir``'s config and seed (in ``work_dir``, default a temporary folder) and
    compare the content hashes of its metrics and events with the original manifest."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    if manifest.get("status") != "complete" or "hashes" not in manifest:
        raise BrusimError(f"the run in {run_dir} did not finish (status "
                          f"{manifest.get('status')!r}); finish it with `brusim run --resume "
                          f"{run_dir}` first")
    cfg = load_run_config(run_dir)
    refuse_edited_config(run_dir, cfg, manifest, "reproduce the run")
    smap = load_street_map(map_settings(cfg.map))
    then = manifest.get("map", {}).get("source_sha256")
    if then != smap.source_hash:
        raise BrusimError(f"the map differs from the run's (sha256 {str(then)[:12]} then, "
                          f"{smap.source_hash[:12]} now); point BRUSIM_MAP at the original file")
    baseline = (load_run_config(run_dir, BASELINE_CONFIG)
                if (run_dir / BASELINE_CONFIG).is_file() else None)
    for c in (cfg, baseline):  # the spin-up is run again too, never read from the cache
        if c is not None:
            c.spinup.cache = False
    with tempfile.TemporaryDirectory(prefix="brusim-reproduce-") as tmp:
        out = Path(work_dir) if work_dir is not None else Path(tmp) / "run"
        result = run_single(cfg, out, smap=smap, progress=progress, figures=False,
                            baseline=baseline)
    now = result.manifest
    outputs = [OutputCheck(name, manifest["hashes"].get(name), now["hashes"].get(name))
               for name in sorted(set(manifest["hashes"]) | set(now["hashes"]))]
    return Reproduction(run_dir, outputs, _environment_changes(manifest))


def _environment_changes(manifest: dict) -> list[str]:
    current = base_manifest(0, {})
    changes = []
    for key in ("brusim_version", "git_commit", "python"):
        if manifest.get(key) != current.get(key):
            changes.append(f"{key}: {manifest.get(key)} -> {current.get(key)}")
    for name, version in current["dependencies"].items():
        then = manifest.get("dependencies", {}).get(name)
        if then != version:
            changes.append(f"{name}: {then} -> {version}")
    return changes
