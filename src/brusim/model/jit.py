"""How the model's functions are compiled: numba's options in one place.

- `kernel`: a compiled function that Python code calls (the phase kernels, the draws and the
  small kernels the schedule runs from Python).
- `rule`: a compiled function only other compiled functions call (the rules inside a phase).
  It is compiled without the CPython entry point numba otherwise builds for every function
  (~30 ms of compilation each, 2026-12-04: docs/performance.md), which a first run on a fresh
  install would pay for ~40 functions. Called from Python anyway (a test, a notebook), it
  compiles an ordinary copy of itself at the first such call (cached apart): the same code,
  the same numbers.
- ``rule(inline=True)``: a small rule numba inlines at each call site (no call at all).

Every function: cached on disk (`brusim.model.numba_cache` keys the folder by the sources),
numpy's error model (a division by zero gives inf or nan, as numpy does, instead of raising),
no C-callback wrapper (the model passes no compiled function as a value).
"""

from __future__ import annotations

import types
from collections.abc import Callable

from numba import njit
from numba.core import config
from numba.core.registry import CPUDispatcher

_OPTIONS = {"cache": True, "error_model": "numpy", "no_cfunc_wrapper": True}


def kernel(fn: Callable) -> CPUDispatcher:
    """Compile ``fn`` to be called from Python and from compiled code."""
    return njit(**_OPTIONS)(fn)


class _CompiledOnly(CPUDispatcher):
    """A dispatcher without CPython entry points: compiled callers call it directly; a call
    from Python goes to an ordinary compiled copy (made at the first such call)."""

    _python_copy: CPUDispatcher | None = None

    def __call__(self, *args, **kwargs):
        if self._python_copy is None:
            self._python_copy = kernel(_renamed(self.py_func, "python_entry"))
        return self._python_copy(*args, **kwargs)


def _renamed(fn: Callable, suffix: str) -> Callable:
    """The same function under another qualified name: numba caches it in files of its own
    (a cache entry is named after the function, and its key does not hold the options)."""
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__,
                              fn.__closure__)
    copy.__qualname__ = f"{fn.__qualname__}.{suffix}"
    copy.__module__, copy.__doc__ = fn.__module__, fn.__doc__
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


def rule(fn: Callable | None = None, *, inline: bool = False):
    """Compile ``fn`` to be called from compiled code (see the module's docstring); with
    ``inline``, inlined at every call site. Use as ``@rule`` or ``@rule(inline=True)``."""
    if fn is None:
        return lambda f: rule(f, inline=inline)
    if inline:
        return njit(inline="always", **_OPTIONS)(fn)
    if config.DISABLE_JIT:
        return fn
    options = {"nopython": True, "no_cpython_wrapper": True,
               **{k: v for k, v in _OPTIONS.items() if k != "cache"}}
    dispatcher = _CompiledOnly(py_func=fn, locals={}, targetoptions=options)
    dispatcher.enable_caching()
    return dispatcher
