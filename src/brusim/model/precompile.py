"""Compile the phase kernels in parallel processes the first time a source version runs.

Compiling the five phase kernels (and the rules they call) takes ~30 s in one process, on one
core, almost all of it in `users_step` and `dealers_step`. numba's compiler holds a global lock,
so threads cannot share the work; processes can, because every process writes the compiled
kernel into the same keyed on-disk cache (`brusim.model.numba_cache`).

`start_helpers` starts the helper interpreters when the model's construction begins (they
import brusim meanwhile); `compile_in_parallel`, at its end, hands each a copy of the freshly
built model. Every process then takes the phases one at a time, the costliest first, each phase
going to the first process free for it (`claim`): a process that ends its phase early takes the
next, so no fixed share has to guess how long each phase compiles on this machine. Each copy
runs its phases once at step 0 (the results are thrown away), which compiles those kernels for
exactly the argument types of the real run; the real run then loads every kernel from the
cache. The model itself is never touched: a phase draws random numbers and writes events, so
only the copies run them.

Nothing here changes a result: a kernel compiled in another process is the same machine code.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numba.core import config

# Seconds each phase took to compile on a fresh install (2 processes on 2 cores, 2026-12-04,
# timed around each claimed phase): only their order matters, the costliest taken first.
# "schedule" is the step's own small kernels (market list, decay, recorder, recruitment);
# "records" the small kernels the first steps call from Python (event rows, stock stays).
PHASE_COST = {"users": 10.5, "dealers": 6.8, "police": 3.0, "outreach": 2.2, "violence": 2.0,
              "schedule": 0.6, "records": 0.2}


def phase_kernels() -> dict:
    """Each phase's compiled kernel (a numba dispatcher)."""
    from brusim.model import dealers, events, outreach, police, users, violence, world

    return {"police": police.police_step, "dealers": dealers.dealers_step,
            "users": users.users_step, "outreach": outreach.outreach_step,
            "violence": violence.violence_step, "schedule": world.decay_fields,
            "records": events.write_events}


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


def costliest_first(phases: Sequence[str]) -> list[str]:
    """``phases`` in the order processes take them: the costliest first (list scheduling, each
    to the first process free, ends within the last phase's cost of the best split)."""
    return sorted(phases, key=lambda p: -PHASE_COST.get(p, 1.0))


def claim(claims: Path, phase: str) -> bool:
    """Take ``phase`` for this process: True for exactly one of the processes that ask (the
    one that creates its claim file, which names the process)."""
    try:
        fd = os.open(claims / phase, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(str(os.getpid()))
    return True


def run_claimed(twin, phases: Sequence[str], claims: Path) -> list[str]:
    """Run each of ``phases`` (in order) that this process can `claim`; the phases run."""
    ran = []
    for phase in phases:
        if claim(claims, phase):
            run_phases(twin, [phase])
            ran.append(phase)
    return ran


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
        elif phase == "records":  # called from Python: the same argument types as there
            from brusim.model import rng
            from brusim.model.events import EventType

            d, r = twin.dealers, np.zeros(1, np.int64)
            twin.events.add(0, EventType.RECRUITMENT, d.node[r], r, d.crew[r])  # `recruit`
            rng.exponential(twin.key, 0, 0, r[0], 0)  # `users.preload_stocks`
        elif phase == "outreach":
            on_shift = [t for t, on in enumerate(twin.outreach_plan.shift) if on]
            if len(twin.outreach) and on_shift:
                twin.outreach.on_shift[:] = True
                twin.outreach_plan.step(on_shift[0], True, twin.outreach, twin.users,
                                        twin.world, twin.key, twin.events, twin.recorder.sink())
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


_PRESTARTED: list[subprocess.Popen] = []  # helpers started early (`prestart_helpers`)


def prestart_helpers() -> None:
    """Start the helpers now, before the street map is loaded, if the cache lacks phase
    kernels; the next `start_helpers` hands them out. Unused, they stop when this process
    ends (their input closes)."""
    if not _PRESTARTED:
        _PRESTARTED.extend(start_helpers())


def discard_prestarted() -> None:
    """Let helpers started early and not handed out stop (e.g. the run failed first)."""
    close_helpers(_PRESTARTED)
    _PRESTARTED.clear()


def start_helpers(processes: int | None = None) -> list[subprocess.Popen]:
    """Start the helper interpreters as soon as a model is being built, when the cache lacks
    phase kernels: they import brusim while this process loads the map and builds the model,
    then wait for their work (`compile_in_parallel`). One per core but this one (``processes``
    in all, default `compile_processes`), at most one per phase but the first. Helpers
    started early (`prestart_helpers`) are handed out first."""
    if _PRESTARTED:
        early = [child for child in _PRESTARTED if child.poll() is None]
        _PRESTARTED.clear()
        if early:
            return early
    if not config.CACHE_DIR or not uncompiled_phases():
        return []
    n = min(processes or compile_processes(), len(PHASE_COST)) - 1
    helpers = []
    for _ in range(n):
        try:  # a fresh interpreter, not multiprocessing: no re-import of the caller's __main__
            helpers.append(subprocess.Popen([sys.executable, "-c", _CHILD],
                                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL))
        except OSError:  # no process to spare: this one compiles more
            break
    return helpers


def close_helpers(helpers: list[subprocess.Popen]) -> None:
    """Let ``helpers`` stop: one given no work reads the end of its input and exits."""
    for child in helpers:
        with contextlib.suppress(OSError):
            child.stdin.close()


def restore_compiled[T](load: Callable[[], T]) -> T:
    """``load()`` a saved model (a cached spin-up, a checkpoint) while helper processes
    start, then compile the phase kernels the cache lacks in parallel, as a model's
    construction does (`start_helpers`, `compile_in_parallel`): a saved model skips the
    constructor, and its first step would otherwise compile every kernel in this process."""
    from brusim.model.numba_cache import announce_compilation

    helpers = start_helpers()
    try:
        model = load()
    except BaseException:
        close_helpers(helpers)
        raise
    if helpers:
        announce_compilation()
    compile_in_parallel(model, helpers)
    return model


def compile_in_parallel(model, helpers: list[subprocess.Popen]) -> list[str]:
    """Compile the phase kernels the cache lacks before ``model`` first steps: a share in
    each of the ``helpers`` (`start_helpers`), the heaviest here. Returns the phases compiled
    (none when another process compiled them meanwhile, or numba has no cache folder)."""
    missing: list[str] = []
    try:
        if config.CACHE_DIR and uncompiled_phases():
            with _cache_lock(Path(config.CACHE_DIR)):  # a run starting now waits, then loads
                missing = uncompiled_phases()
                if missing:
                    _compile(model, costliest_first(missing), helpers)
    finally:
        close_helpers(helpers)
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


def _compile(model, phases: list[str], helpers: list[subprocess.Popen]) -> None:
    payload = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    with tempfile.TemporaryDirectory(prefix="brusim-compile-") as folder:
        claims = Path(folder)
        work = f"{claims}\n{' '.join(phases)}\n".encode()
        for child in helpers:
            try:
                child.stdin.write(work + payload)
                child.stdin.close()
            except OSError:  # the helper has died already: its exit code says so below
                pass
        try:
            run_claimed(pickle.loads(payload), phases, claims)
        except BaseException:  # e.g. Ctrl-C: the helpers stop too
            for child in helpers:
                child.kill()
            raise
        for child in helpers:
            code = child.wait()
            held = [p for p in phases if (claims / p).exists()
                    and (claims / p).read_text() == str(child.pid)]
            if code != 0 and held:  # the first step compiles these: slower, never wrong
                print(f"brusim: compiling the {', '.join(held)} phase in a helper process "
                      f"failed (exit {code}); the first step compiles it", file=sys.stderr)


def _child_main() -> None:
    """A helper process: its standard input is the claims folder, the phases in order, then
    the pickled model (nothing: no work, it ends)."""
    folder = sys.stdin.buffer.readline().strip()
    phases = sys.stdin.buffer.readline().split()
    if folder and phases:
        run_claimed(pickle.load(sys.stdin.buffer), [p.decode() for p in phases],
                    Path(folder.decode()))
