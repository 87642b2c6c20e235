"""First-use compilation shared out over processes (`brusim.model.precompile`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from brusim.config.load import compose_config
from brusim.errors import BrusimError
from brusim.model import BrusselsMarketModel
from brusim.model.events import EventType
from brusim.model.precompile import PHASE_COST, claim, compile_processes, costliest_first

PHASES = list(PHASE_COST)

SCRIPT = """
import json
from brusim.config.load import compose_config
from brusim.model import BrusselsMarketModel
from brusim.model.events import EventType
from brusim.model.precompile import phase_kernels, uncompiled_phases
before = uncompiled_phases()
m = BrusselsMarketModel(compose_config(["weeks=0.5"], config_name="synthetic"))
after = uncompiled_phases()
by_helpers = [p for p, k in phase_kernels().items() if not k.overloads]
from numba.core import event
class Compiled(event.Listener):
    names = []
    def on_start(self, e):
        self.names.append(e.data["dispatcher"].py_func.__qualname__)
    def on_end(self, e):
        pass
with event.install_listener("numba:compile", Compiled()):
    m.run()
kernels = phase_kernels()
print(json.dumps({
    "before": before, "after": after, "by_helpers": by_helpers,
    "overloads": {p: len(k.overloads) for p, k in kernels.items()},
    "compiled_in_run": Compiled.names,
    "misses": {p: sum(k.stats.cache_misses.values()) for p, k in kernels.items()},
    "transactions": int(m.events.counts[EventType.TRANSACTION]),
    "region": m.region_metrics().sum().round(9).tolist(),
}))
"""


CLAIMER = """
import sys
from pathlib import Path
from brusim.model.precompile import claim
took = [p for p in sys.argv[2:] if claim(Path(sys.argv[1]), p)]
print(" ".join(took))
"""


def test_phases_are_taken_costliest_first_each_by_exactly_one_process(tmp_path) -> None:
    order = costliest_first(PHASES)
    assert order[0] == "users" and order[-1] == "records"
    assert [PHASE_COST[p] for p in order] == sorted(PHASE_COST.values(), reverse=True)
    names = [f"phase{i}" for i in range(40)]
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, str(tmp_path), *names],
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    taken = [p.communicate(timeout=120)[0].split() for p in procs]
    assert sorted(n for t in taken for n in t) == sorted(names)  # each once, none lost
    assert not claim(tmp_path, "phase0")  # all taken already


def test_the_number_of_compiling_processes_is_checked(monkeypatch) -> None:
    monkeypatch.setenv("BRUSIM_COMPILE_PROCESSES", "3")
    assert compile_processes() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("BRUSIM_COMPILE_PROCESSES", bad)
        with pytest.raises(BrusimError, match="BRUSIM_COMPILE_PROCESSES"):
            compile_processes()


def test_kernels_compiled_by_helper_processes_run_the_same_model(tmp_path: Path) -> None:
    """From an empty cache, helper processes compile part of the phases; the run then loads
    them from the cache (no second specialisation, no miss), compiles nothing more, and its
    numbers equal those of kernels compiled in one process (this test process's)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
           "BRUSIM_CACHE": str(tmp_path / "cache"), "BRUSIM_COMPILE_PROCESSES": "2"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(got["before"]) == sorted(PHASES)
    assert got["after"] == []
    assert got["by_helpers"], "no phase was compiled by a helper process"
    assert set(got["by_helpers"]) < set(PHASES)
    # one specialisation each; the event rows are written with two argument types (a crew's
    # recruits, other rows): this process holds the second only if it compiled it or a
    # recruit joined in the run
    assert {p: n for p, n in got["overloads"].items() if p != "records"} == \
        dict.fromkeys(set(PHASES) - {"records"}, 1)
    assert got["overloads"]["records"] in (1, 2)
    assert all(got["misses"][p] == 0 for p in got["by_helpers"]), got["misses"]
    assert got["compiled_in_run"] == []  # every kernel a step calls compiled beforehand

    here = BrusselsMarketModel(compose_config(["weeks=0.5"], config_name="synthetic"))
    here.run()
    assert got["transactions"] == int(here.events.counts[EventType.TRANSACTION])
    assert got["region"] == here.region_metrics().sum().round(9).tolist()


def test_a_helper_process_that_fails_is_named_and_the_run_goes_on(monkeypatch, capsys) -> None:
    """A helper that dies holding a phase: the run names it and goes on (its first step
    compiles it); one that dies before taking any leaves its phases to this process."""
    from brusim.model import precompile

    grab = ("import sys, os; from pathlib import Path; from brusim.model.precompile import claim; "
            "folder = sys.stdin.readline().strip(); sys.stdin.readline(); "
            "claim(Path(folder), 'dealers'); sys.exit(3)")
    failing = subprocess.Popen([sys.executable, "-c", grab], stdin=subprocess.PIPE)
    ran: list[list[str]] = []

    def run_phases(twin, phases):  # this process's first phase lasts until the helper died
        failing.wait(timeout=120)
        ran.append(phases)

    monkeypatch.setattr(precompile, "run_phases", run_phases)
    precompile._compile({"a model": "copy"}, ["users", "dealers", "police"], [failing])
    assert ran == [["users"], ["police"]]  # the helper held "dealers"
    assert "compiling the dealers phase in a helper process failed (exit 3)" in \
        capsys.readouterr().err

    dead = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"],
                            stdin=subprocess.PIPE)
    dead.wait()
    ran.clear()
    precompile._compile({"a model": "copy"}, ["users", "dealers"], [dead])
    assert ran == [["users"], ["dealers"]] and capsys.readouterr().err == ""


def test_a_helper_given_no_work_stops(tmp_path: Path) -> None:
    from brusim.model.precompile import _CHILD

    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE)
    child.stdin.close()
    assert child.wait(timeout=120) == 0


def test_a_restored_model_compiles_its_kernels_before_its_first_step(monkeypatch) -> None:
    """A saved model (a cached spin-up, a checkpoint) skips the constructor: `restore_compiled`
    starts the helpers before it is read and compiles in parallel once it is (before this
    the first step compiled every kernel in the run's own process, 24 s here instead of
    ~15); helpers started early are handed out once; a loader that fails lets them stop."""
    from brusim.model import precompile

    class Child:  # stands for a helper interpreter
        def __init__(self) -> None:
            self.stdin = self
            self.closed = False

        def close(self) -> None:
            self.closed = True

        def poll(self) -> None:
            return None

    children = [Child()]
    compiled: list[tuple[object, list]] = []
    monkeypatch.setattr(precompile, "uncompiled_phases", lambda: ["users"])
    monkeypatch.setattr(precompile.config, "CACHE_DIR", "/tmp/somewhere")
    monkeypatch.setattr(precompile.subprocess, "Popen", lambda *a, **k: children.pop())
    monkeypatch.setattr(precompile, "compile_processes", lambda: 2)
    monkeypatch.setattr(precompile, "compile_in_parallel",
                        lambda model, helpers: compiled.append((model, helpers)))
    precompile.prestart_helpers()
    early = list(precompile._PRESTARTED)
    assert len(early) == 1
    model = precompile.restore_compiled(lambda: "the restored model")
    assert model == "the restored model" and compiled == [("the restored model", early)]
    assert precompile._PRESTARTED == []  # handed out once

    children.append(Child())
    waiting = children[0]

    def broken() -> None:
        raise OSError("damaged file")

    with pytest.raises(OSError):
        precompile.restore_compiled(broken)
    assert waiting.closed and len(compiled) == 1  # the helper may stop; nothing compiled


def test_a_cached_spin_up_is_restored_through_restore_compiled(monkeypatch, tmp_path) -> None:
    """The spin-up cache's model comes back through `restore_compiled` (so its kernels compile
    in parallel on a fresh install), the same state as when it was cached."""
    from brusim.experiments import spinup
    from brusim.map import load_street_map
    from brusim.model.model import map_settings

    monkeypatch.setenv("BRUSIM_CACHE", str(tmp_path))
    cfg = compose_config(["spinup.min_weeks=1", "spinup.max_weeks=1", "weeks=1"],
                         config_name="synthetic")
    smap = load_street_map(map_settings(cfg.map))
    restored: list[object] = []

    def spy(load):
        restored.append(load())
        return restored[-1]

    monkeypatch.setattr(spinup, "restore_compiled", spy)
    first, report = spinup.spun_up(cfg, smap)
    assert restored == [] and not report.cached  # spun up here: built, not restored
    again, report = spinup.spun_up(cfg, smap)
    assert report.cached and restored == [again]
    assert again.t == first.t and (again.dealers.node == first.dealers.node).all()
