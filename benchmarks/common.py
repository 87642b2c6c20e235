"""Shared helpers of the benchmark scripts: the map file, population scaling, agent counts and
measuring a command in a fresh subprocess (wall time and peak resident memory)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MAP = REPO.parent / "shared/data/brussels/streets_osm2021.graphml"
# the agent counts of configs/population/*.yaml (crews are not agents: their number stays)
POPULATION_AGENTS = ("n_users", "n_dealers", "n_reserve_dealers", "n_outreach")


def map_path(explicit: str | None = None) -> Path:
    """The Brussels GraphML: ``explicit``, else ``$BRUSIM_MAP``, else the shared copy beside
    the checkout; exits with a one-line message when none exists."""
    for candidate in (explicit, os.environ.get("BRUSIM_MAP"), str(DEFAULT_MAP)):
        if candidate and Path(candidate).is_file():
            return Path(candidate).resolve()
    sys.exit("benchmarks: error: no Brussels map; set BRUSIM_MAP to the GraphML file "
             "(e.g. ../shared/data/brussels/streets_osm2021.graphml) or pass --map PATH")


def scale_overrides(scale: float, config_name: str = "config") -> list[str]:
    """Hydra overrides multiplying every agent count by ``scale``: users, dealers, reserve
    dealers, outreach workers and (through the street share of officers) police units."""
    if scale == 1:
        return []
    from brusim.config.load import compose_config

    cfg = compose_config([], config_name=config_name)
    out = [f"population.{k}={int(round(cfg.population[k] * scale))}" for k in POPULATION_AGENTS]
    return [*out, f"police.street_share={float(cfg.police.street_share) * scale:g}"]


def count_agents(overrides: list[str], config_name: str = "config") -> int:
    """Dealers (incl. reserve) + users + police units + outreach workers of a config."""
    import numpy as np

    from brusim.config.load import compose_config
    from brusim.map import load_street_map
    from brusim.model.model import map_settings
    from brusim.model.police import init_police

    cfg = compose_config(overrides, config_name=config_name)
    smap = load_street_map(map_settings(cfg.map))
    pop = cfg.population
    units = len(init_police(smap, cfg.police, np.random.default_rng(0)))
    return int(pop.n_users + pop.n_dealers + pop.n_reserve_dealers + pop.n_outreach + units)


@dataclass
class Measurement:
    """A finished subprocess: exit code, wall seconds, peak resident set (MiB) and output."""

    returncode: int
    wall_s: float
    peak_rss_mib: float
    stdout: str
    stderr: str


def measure(cmd: list[str], env: dict[str, str] | None = None, cwd: Path = REPO,
            log_dir: Path | None = None, name: str = "case") -> Measurement:
    """Run ``cmd`` in a fresh process; wall time around it and its peak RSS from the rusage
    the kernel reports for that one child (``os.wait4``: the same struct as
    ``resource.getrusage(RUSAGE_CHILDREN)``, but for this child only)."""
    log_dir = log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{name}.stdout", log_dir / f"{name}.stderr"
    with out_path.open("w") as out, err_path.open("w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measurement(proc.returncode, wall, usage.ru_maxrss / 1024.0,
                       out_path.read_text(), err_path.read_text())
