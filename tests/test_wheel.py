"""The package as a user installs it: a wheel built from this checkout, installed in a new
virtual environment, run from an empty folder with no BRUSIM_MAP, inside somebody else's git
repository. The comparison and the headline experiment run on the packaged map, a scenario
file of the user's is found, `calibrate --apply` writes a user config (never into the installed
package), and manifests name no commit (this is not a brusim checkout)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMALL = ["population=small", "weeks=3", "scenario.intervention_week=2", "burn_in_weeks=0"]


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in
                       p.parts):
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """A wheel of this checkout in a fresh virtual environment (its dependencies come from the
    system site, as a user's pip would have installed them: no network needed)."""
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps",
                            "--no-build-isolation", "-w", str(dist), "-q"],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    wheel = next(dist.glob("brusim-*.whl"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=300)
    python = venv / "bin" / "python"
    inst = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                           str(wheel)], capture_output=True, text=True, timeout=600)
    assert inst.returncode == 0, inst.stderr
    site = subprocess.run([str(python), "-c", "import brusim, pathlib; "
                           "print(pathlib.Path(brusim.__file__).parent)"],
                          capture_output=True, text=True, timeout=120, cwd=root)
    package = Path(site.stdout.strip())
    assert venv in package.parents, f"the venv imports brusim from {package}"
    # the user's folder: empty but for a scenario of theirs, inside another project's git repo
    work = root / "someone_elses_project"
    (work / "configs" / "scenario").mkdir(parents=True)
    (work / "configs" / "scenario" / "my_plan.yaml").write_text(
        "# @package _global_\ndefaults:\n  - midi_plan\n  - _self_\n"
        "scenario:\n  name: my_plan\npolice:\n  focus_share: 0.8\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("BRUSIM_MAP", "BRUSIM_CONFIG_DIR", "PYTHONPATH")}
    env.update(BRUSIM_CACHE=str(root / "cache"), NUMBA_CACHE_DIR=str(root / "numba"),
               GIT_AUTHOR_NAME="x", GIT_AUTHOR_EMAIL="x@y", GIT_COMMITTER_NAME="x",
               GIT_COMMITTER_EMAIL="x@y")
    subprocess.run(["git", "init", "-q"], cwd=work, check=True, env=env)
    subprocess.run(["git", "add", "."], cwd=work, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "theirs"], cwd=work, check=True, env=env)
    return {"brusim": str(venv / "bin" / "brusim"), "env": env, "work": work,
            "package": package, "digest": _tree_digest(package)}


def _brusim(installed: dict, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([installed["brusim"], *args], capture_output=True, text=True,
                          timeout=timeout, cwd=installed["work"], env=installed["env"])


def test_version_and_packaged_data(installed):
    proc = _brusim(installed, "--version")
    assert proc.returncode == 0 and proc.stdout.startswith("brusim ")
    package = installed["package"]
    for rel in ("data/brussels_streets_osm2021.npz.xz", "data/communes_urbis.geojson",
                "data/NOTICE.md", "_configs/config.yaml",
                "_experiments/midi_vs_spread/compare.yaml", "reports/i18n.yaml"):
        assert (package / rel).is_file(), rel
    # the sweeps' executor launcher, where Hydra looks for launchers
    assert (package.parent / "hydra_plugins" / "brusim_executor" / "launcher.py").is_file()
    info = _brusim(installed, "map", "info")
    assert info.returncode == 0, info.stderr
    assert "14,565 nodes" in info.stdout and "OpenStreetMap contributors" in info.stdout


def test_compare_with_a_user_scenario_runs_from_an_empty_folder(installed):
    proc = _brusim(installed, "compare", "scenarios=[baseline,my_plan]", "replications=1",
                   "n_jobs=1", "out_dir=results/mine", *SMALL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = installed["work"] / "results" / "mine"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["git_commit"] is None and manifest["git_dirty"] is None
    assert manifest["map"]["source_sha256"] == hashlib.sha256(
        (installed["package"] / "data/brussels_streets_osm2021.npz.xz").read_bytes()).hexdigest()
    assert manifest["scenarios"] == ["baseline", "my_plan"]
    assert (out / "results.duckdb").is_file() and list((out / "report").glob("*.html"))
    shard = (out / "shards" / "my_plan__seed0000" / "config.yaml").read_text()
    assert "focus_share: 0.8" in shard


def test_headline_experiment_runs_from_the_wheel(installed):
    proc = _brusim(installed, "compare", "--experiment", "midi_vs_spread", "replications=1",
                   "n_jobs=1", "scenarios=[baseline,hotspot_strategy]", "languages=[en]",
                   "--no-report", *SMALL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = installed["work"] / "results" / "compare" / "midi_vs_spread"
    assert (out / "paired.parquet").is_file()
    unknown = _brusim(installed, "compare", "--experiment", "nope")
    assert unknown.returncode == 2 and "midi_vs_spread" in unknown.stderr


def test_calibrate_apply_writes_a_user_config_never_the_package(installed):
    proc = _brusim(installed, "calibrate", "-c", "synthetic", "--name", "mine", "--trials", "1",
                   "--seeds", "1", "--weeks", "3", "--apply", "scenario.intervention_week=2",
                   "burn_in_weeks=0", "population.n_users=150")
    assert proc.returncode == 0, proc.stderr[-2000:]
    target = installed["work"] / "configs" / "behaviour" / "calibrated_mine.yaml"
    assert target.is_file() and "calibration: fitted values" in target.read_text()
    assert str(target) in proc.stdout and "behaviour=calibrated_mine" in proc.stdout
    assert _tree_digest(installed["package"]) == installed["digest"]
    check = _brusim(installed, "run", "-c", "synthetic", "behaviour=calibrated_mine",
                    "weeks=0.1", "run.progress=false", "run.figures=false")
    assert check.returncode == 0, check.stderr[-2000:]
