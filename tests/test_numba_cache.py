"""The compiled kernels' disk cache cannot go stale when a rule is edited.

numba keys a cached function by its own file only, so a phase kernel calling a helper in another
file kept running the old helper after the helper was edited. `brusim.model.numba_cache` keys
the cache by all the model package's sources; here a copy of the package is run, a helper is
edited in one file, and the output of a kernel in another file changes. Without the keyed
cache (numba's own, keyed by each file alone) this test fails: the second run after the edit
still recorded each transaction once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from brusim.model import numba_cache
from tests.conftest import REPO

SCRIPT = """
import brusim.model as bm
from brusim.config.load import compose_config
from brusim.model.events import EventType
cfg = compose_config(["weeks=0.5"], config_name="synthetic")
m = bm.BrusselsMarketModel(cfg)
m.run()
print(bm.NUMBA_CACHE_FOLDER, int(m.events.counts[EventType.TRANSACTION]),
      int(round(m.region_metrics()["transactions"].sum())))
"""


def _run(package_root: Path, tmp: Path) -> tuple[str, int, int]:
    env = {**os.environ, "PYTHONPATH": str(package_root), "NUMBA_CACHE_DIR": str(tmp / "numba"),
           "BRUSIM_CACHE": str(tmp / "cache")}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=tmp,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.split()
    return out[-3], int(out[-2]), int(out[-1])


HELPER = "    region_now[metric] += weight * nodes.shape[0]\n"


def _edit_helper(package: Path) -> Path:
    """Make `recorder.record` (called by every phase kernel, each in another file) count each
    recorded event twice in the region totals: the event log is untouched."""
    path = package / "model" / "recorder.py"
    text = path.read_text()
    assert text.count(HELPER) == 1, "recorder.record changed: update this test"
    path.write_text(text.replace(HELPER, HELPER.replace("+= weight", "+= 2 * weight")))
    return path


def test_editing_a_helper_in_one_file_recompiles_its_callers_in_others(tmp_path: Path) -> None:
    root = tmp_path / "src"  # a copy of the checkout: its package, configs and pyproject
    shutil.copytree(REPO / "src" / "brusim", root / "brusim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    folder, events, recorded = _run(root, tmp_path)
    assert events > 0 and recorded == events
    assert Path(folder).parent == tmp_path / "numba"
    assert any(Path(folder).rglob("*.nbi")), "kernels were cached"
    assert _run(root, tmp_path) == (folder, events, recorded)  # from the cache: the same

    _edit_helper(root / "brusim")  # the transactions are recorded by users.users_step
    new_folder, new_events, new_recorded = _run(root, tmp_path)
    assert new_folder != folder
    assert new_events == events  # the rules are unchanged...
    assert new_recorded == 2 * events  # ...and the edited helper ran, not the cached one


def test_the_cache_key_follows_every_source_of_the_model_package(tmp_path: Path) -> None:
    package = tmp_path / "model"
    shutil.copytree(REPO / "src" / "brusim" / "model", package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    key = numba_cache.sources_digest(package)
    assert key == numba_cache.sources_digest(REPO / "src" / "brusim" / "model")
    (package / "clock.py").write_text((package / "clock.py").read_text() + "\n# edited\n")
    assert numba_cache.sources_digest(package) != key
    (package / "clock.py").unlink()
    assert numba_cache.sources_digest(package) != key


OPT_SCRIPT = """
import brusim.model
from numba import njit
from numba.core import config
njit(lambda x: x + 1)(1)  # numba reads its settings again when it compiles
print(int(config.OPT))
"""


def test_the_kernels_optimisation_level_is_brusims_unless_the_user_sets_one() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_OPT"}
    for extra, level in (({}, numba_cache.OPT_LEVEL), ({"NUMBA_OPT": "3"}, "3")):
        proc = subprocess.run([sys.executable, "-c", OPT_SCRIPT], env={**env, **extra},
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split()[-1] == level
