"""Compile the phase kernels in parallel processes the first time a source version runs.

Compiling the five phase kernels (and the rules they call) takes 35-45 s in one process, on one
core, almost all of it in `users_step` and `dealers_step`. numba's compiler holds a global lock,
so threads cannot share the work; processes can, because every process writes the compiled
kernel into the same keyed on-disk cache (`brusim.model.numba_cache`). `compile_in_parallel`
hands each helper process a copy of the freshly built model and a share of the phases; each
copy runs its phases once at step 0 (their results are thrown away), which compiles those
kernels for exactly the argument types of the real run. The real run then loads every kernel
from the cache. The model itself is never touched: a phase draws random numbers and writes
events, so only the copies run them.

Nothing here changes a result: a kernel compiled in another process is the same machine code.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from numba.core import config

# Compile seconds of each phase alone in a fresh process (benchmarks/compile_kernels.py);
# only their ratios matter, to share the phases out evenly.
# "schedule" is the step's own small kernels (market list, decay, recorder, recruitment).
PHASE_COST = {"users": 14.5, "dealers": 11.0, "police": 5.7, "violence": 4.0, "outreach": 3.8,
              "schedule": 2.6}


def phase_kernels() -> dict:
    """Each phase's compiled kernel (a numba dispatcher)."""
    from brusim.model import dealers, outreach, police, users, violence, world

    return {"police": police.police_step, "dealers": dealers.dealers_step,
            "users": users.users_step, "outreach": outreach.outreach_step,
            "violence": violence.violence_step, "schedule": world.decay_fields}


def uncompiled_phases() -> list[str]:
    """The phases whose kernel is neither compiled in this process nor in numba's cache."""
    missing = []
    for phase, kernel in phase_kernels().items():
        if kernel.overloads:
            continue
        index = getattr(getattr(kernel._cache, "_cache_file", None), "_index_path", None)
        if index is None or not Path(index).exists():
            missing.append(phase)
    return missing


def share_out(phases: Sequence[str], n: int) -> list[list[str]]:
    """``phases`` in ``n`` groups of about equal compile time (longest first, each to the
    lightest group); the first group is the heaviest (the calling process takes it: the
    others first pay a process start)."""
    groups: list[list[str]] = [[] for _ in range(max(1, min(n, len(phases))))]
    loads = [0.0] * len(groups)
    for phase in sorted(phases, key=lambda p: -PHASE_COST.get(p, 1.0)):
        k = loads.index(min(loads))
        groups[k].append(phase)
        loads[k] += PHASE_COST.get(phase, 1.0)
    order = sorted(range(len(groups)), key=lambda k: -loads[k])
    return [groups[k] for k in order if groups[k]]


def run_phases(twin, phases: Sequence[str]) -> None:
    """Run ``phases`` once at step 0 on ``twin`` (a throw-away copy of a model), so that
    their kernels compile for its argument types."""
    from brusim.model.events import EventLog

    twin.events = EventLog(None)  # the copy must not write into the run's event log
    for phase in phases:
        if phase == "police":
            twin.police_phase(0, True)
        elif phase == "dealers":
            twin.dealers_phase(0, twin._selling)
        elif phase == "users":
            twin.users_phase(0)
        elif phase == "violence":
            twin.violence_phase(0)
        elif phase == "schedule":  # the rest of `BrusselsMarketModel.step`
            for t in (0, 1):  # the daily and the hourly market-list refresh
                twin.markets.refresh(t, twin.world.fields.sales, twin.steps_per_day)
            twin.recruitment(twin.steps_per_day)
            twin.world.decay()
            for t in range(twin.recorder.record_every):
                twin.recorder.end_step(t)
        elif phase == "outreach":
            on_shift = [t for t, on in enumerate(twin.outreach_plan.shift) if on]
            if len(twin.outreach) and on_shift:
                twin.outreach.on_shift[:] = True
                twin.outreach_plan.step(on_shift[0], True, twin.outreach, twin.users,
                                        twin.world, twin._handle("outreach"),
                                        twin.streams["outreach"], twin.events,
                                        twin.recorder.sink())
        else:
            raise ValueError(f"unknown phase {phase!r}")


_CHILD = "from brusim.model.precompile import _child_main; _child_main()"


def compile_processes() -> int:
    """How many processes compile: ``$BRUSIM_COMPILE_PROCESSES`` (1: all in this process),
    else one per core."""
    value = os.environ.get("BRUSIM_COMPILE_PROCESSES", "")
    if value.strip():
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            from brusim.errors import BrusimError

            raise BrusimError(f"BRUSIM_COMPILE_PROCESSES={value!r} is not a whole number >= 1; "
                              "set it to 1 (compile in this process) or more, or unset it")
        return n
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def compile_in_parallel(model, processes: int | None = None) -> list[str]:
    """Compile the phase kernels the cache lacks, in up to ``processes`` processes (default:
    `compile_processes`, at most one per phase), before ``model`` first steps. Returns the
    phases compiled. Does nothing when all are cached or when numba has no cache folder (other
    processes' work could not be shared)."""
    if not config.CACHE_DIR or not uncompiled_phases():
        return []
    with _cache_lock(Path(config.CACHE_DIR)):  # another run starting now waits, then loads
        missing = uncompiled_phases()
        if missing:
            _compile(model, missing, processes or compile_processes())
    return missing


@contextlib.contextmanager
def _cache_lock(folder: Path):
    """An exclusive lock on the cache folder (none where locks are not supported)."""
    try:
        import fcntl

        handle = open(folder / "compile.lock", "a")  # noqa: SIM115 (closed below)
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        handle.close()


def _compile(model, missing: list[str], processes: int) -> None:
    groups = share_out(missing, processes)
    payload = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    children: list[tuple[list[str], subprocess.Popen | None]] = []
    with contextlib.ExitStack() as stack:
        try:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="brusim-compile-")))
            (tmp / "model.pkl").write_bytes(payload)
        except OSError:  # no room for the copy: the first step compiles everything, here
            return
        for group in groups[1:]:
            try:  # a fresh interpreter, not multiprocessing: no re-import of the caller's __main__
                child = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp / "model.pkl"),
                                          *group], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            except OSError:
                child = None
            children.append((group, child))
        try:
            run_phases(pickle.loads(payload), groups[0])
        except BaseException:  # e.g. Ctrl-C: the helpers stop too
            for _, child in children:
                if child is not None:
                    child.kill()
            raise
        finally:
            codes = [child.wait() if child is not None else None for _, child in children]
    for (group, _), code in zip(children, codes, strict=True):
        if code != 0:  # the first step compiles these itself: slower, never wrong
            print(f"brusim: compiling the {', '.join(group)} phase in a helper process failed "
                  f"({'could not start' if code is None else f'exit {code}'}); the first step "
                  "compiles it", file=sys.stderr)


def _child_main() -> None:
    """A helper process: ``argv`` is the model copy's file, then its phases."""
    run_phases(pickle.loads(Path(sys.argv[1]).read_bytes()), sys.argv[2:])
