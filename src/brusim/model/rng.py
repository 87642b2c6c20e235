"""Random streams: numpy's own, drawn from inside compiled kernels.

The model's random numbers come from numpy ``Generator`` streams (one per process: police,
dealers, users...). Passing a ``Generator`` to a numba function costs ~25 µs per call (numba
re-types it and rebuilds its ctypes interface every time), more than most of the step's phases
take. Instead, `handle` reads the addresses of the stream's state and of numpy's own C draw
functions (``next_double``, ``next_uint64``, ``next_uint32``: the bit generator's public ctypes
interface) once; kernels take that small integer array and call those functions directly.

The draws are therefore numpy's own: `random` is ``Generator.random``, and the few
distributions the model needs are ports of numpy's C code on top of them (`standard_exponential`:
the ziggurat of ``random_standard_exponential``, with numpy's tables as numba ships them;
`gumbel`; `permute`: ``Generator.permutation`` of a 1-d array). A kernel that draws in the same
order as the numpy code it replaces leaves the stream, and every result, unchanged; the
Generator can be used from Python before and after, in turn. tests/test_bitgen.py checks each
against numpy, value for value.

A handle is only valid while its Generator lives in this process: never pickle one (the model
rebuilds them after a checkpoint is loaded).
"""

from __future__ import annotations

import ctypes

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic
from numba.np.random._constants import fe_double, ke_double, we_double, ziggurat_exp_r

STATE, NEXT_DOUBLE, NEXT_UINT64, NEXT_UINT32 = 0, 1, 2, 3


def handle(rng: np.random.Generator) -> np.ndarray:
    """Addresses of ``rng``'s bit generator state and draw functions, for compiled kernels."""
    c = rng.bit_generator.ctypes
    address = [ctypes.cast(f, ctypes.c_void_p).value
               for f in (c.next_double, c.next_uint64, c.next_uint32)]
    return np.array([c.state_address, *address], np.int64)


def _caller(result: ir.Type, result_type: types.Type):
    """An intrinsic calling the C function at address ``fn`` with the state at ``state``."""

    def call(typingctx, fn, state):
        def codegen(context, builder, signature, args):
            byte_ptr = ir.IntType(8).as_pointer()
            fn_type = ir.FunctionType(result, [byte_ptr])
            function = builder.inttoptr(args[0], fn_type.as_pointer())
            return builder.call(function, [builder.inttoptr(args[1], byte_ptr)])

        return result_type(types.int64, types.int64), codegen

    return intrinsic(call)


_call_double = _caller(ir.DoubleType(), types.float64)
_call_uint64 = _caller(ir.IntType(64), types.uint64)
_call_uint32 = _caller(ir.IntType(32), types.uint32)


@njit(cache=True, inline="always")
def random(h: np.ndarray) -> float:
    """A uniform draw in [0, 1) (``Generator.random()``)."""
    return _call_double(h[NEXT_DOUBLE], h[STATE])


@njit(cache=True, inline="always")
def _next_uint64(h: np.ndarray) -> np.uint64:
    return _call_uint64(h[NEXT_UINT64], h[STATE])


@njit(cache=True, inline="always")
def _next_uint32(h: np.ndarray) -> np.uint32:
    return _call_uint32(h[NEXT_UINT32], h[STATE])


@njit(cache=True)
def standard_exponential(h: np.ndarray) -> float:
    """An Exp(1) draw (``Generator.standard_exponential()``: numpy's ziggurat)."""
    while True:
        ri = _next_uint64(h) >> np.uint64(3)
        idx = np.int64(ri & np.uint64(0xFF))
        ri >>= np.uint64(8)
        x = ri * we_double[idx]
        if ri < ke_double[idx]:
            return x
        if idx == 0:
            return ziggurat_exp_r - np.log1p(-random(h))
        if (fe_double[idx - 1] - fe_double[idx]) * random(h) + fe_double[idx] < np.exp(-x):
            return x


@njit(cache=True)
def gumbel(h: np.ndarray) -> float:
    """A standard Gumbel draw (``Generator.gumbel()``)."""
    while True:
        u = 1.0 - random(h)
        if u < 1.0:  # numpy rejects u == 1
            return -np.log(-np.log(u))


@njit(cache=True)
def _interval(h: np.ndarray, top: int) -> int:
    """A uniform integer in [0, top] (numpy's ``random_interval``: masked rejection)."""
    if top == 0:
        return 0
    mx = np.uint64(top)
    mask = mx
    mask |= mask >> np.uint64(1)
    mask |= mask >> np.uint64(2)
    mask |= mask >> np.uint64(4)
    mask |= mask >> np.uint64(8)
    mask |= mask >> np.uint64(16)
    mask |= mask >> np.uint64(32)
    if mx <= np.uint64(0xFFFFFFFF):
        while True:
            value = np.uint64(_next_uint32(h)) & mask
            if value <= mx:
                return np.int64(value)
    while True:
        value = _next_uint64(h) & mask
        if value <= mx:
            return np.int64(value)


@njit(cache=True, error_model="numpy")
def uniforms(h: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws of ``Generator.random``."""
    out = np.empty(n)
    for k in range(n):
        out[k] = random(h)
    return out


@njit(cache=True)
def permute(h: np.ndarray, values: np.ndarray) -> None:
    """Shuffle ``values`` in place as ``Generator.permutation`` orders a copy of them."""
    for i in range(values.shape[0] - 1, 0, -1):
        j = _interval(h, i)
        values[i], values[j] = values[j], values[i]
