"""Keyed random numbers: every draw is a pure function of (seed, purpose, step, agent, k).

A paired comparison needs common random numbers that stay common: a scenario that changes
nothing must draw exactly the baseline's numbers, and a change in one place must not shift the
numbers drawn anywhere else. One sequential stream per process cannot give that: as soon as
one more draw happens (an extra arrest check near Gare du Midi), every later draw of that stream
moves. So no rule draws from a stream. Each draw is the counter-based generator Philox4x64-10
(Salmon et al. 2011, *Parallel random numbers: as easy as 1, 2, 3*; numpy's
``numpy.random.Philox``, value for value: tests/test_rng.py) keyed by the run's seed: draw k
is word k % 4 of the block at the counter (k // 4, who, t, purpose), where

- ``purpose``: which draw this is (an arrest, a craving, a patrol post...; the ``D_`` codes in
  `brusim.model.codes`),
- ``t``: the step,
- ``who``: the agent (user, dealer, unit, worker) or place (cell, crew) the draw is for,
- ``k``: the draw's number for that agent and purpose within the step (a candidate site, a
  known market's place in the list); four consecutive k share one block (`open_row`).

A user's craving at step t is the same number in every scenario; it changes only when the
model's state makes it matter (the user is idle in one run and in treatment in another).

`stream_key` makes the 128-bit key from the seed; `uniform`, `uniform_open`, `exponential`,
`gumbel` are the compiled scalar draws, `open_row` a row of them for one agent; `uniforms`,
`order` and `successes` the vectorised ones kernels and Python share (`Draws` binds the key and
the step for Python code). `philox` and the draws' bits are numba intrinsics that emit the ten
rounds as LLVM instructions (`_philox_ir`; each 64-bit multiply one machine instruction), so a
draw compiles in milliseconds at each call site and inlines into it. A Philox block costs ~15 ns,
about five times numpy's PCG64 draw: a whole 26-week run takes ~1.2x as long as with the
sequential streams it replaced (docs/performance.md), the price of exact pairing.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

from brusim.model.jit import kernel, rule
from brusim.model.sorting import stable_argsort

_M0 = np.uint64(0xD2E7470EE14C6C93)  # Philox4x64 multipliers (Random123)
_M1 = np.uint64(0xCA5A826395121157)
_W0 = np.uint64(0x9E3779B97F4A7C15)  # Weyl key increments
_W1 = np.uint64(0xBB67AE8584CAA73B)
_TO_DOUBLE = 1.0 / 9007199254740992.0  # 2**-53, numpy's next_double


def init_seed(seed: int) -> np.random.SeedSequence:
    """The seed of the one sequential stream: the initial state's (`rng.describe`)."""
    return np.random.SeedSequence(int(seed), spawn_key=(0,))


def describe(seed: int) -> dict:
    """How the run's random numbers derive from ``seed``, for the manifest."""
    key = stream_key(seed)
    return {"init": {"generator": "PCG64", "entropy": int(seed), "spawn_key": [0]},
            "steps": {"generator": "Philox4x64-10", "key": [f"{int(k):#018x}" for k in key],
                      "counter": ["k // 4", "who", "t", "purpose"], "word": "k % 4"}}


def stream_key(seed: int) -> np.ndarray:
    """The run's 128-bit Philox key (two uint64 words) derived from ``seed``."""
    return np.random.SeedSequence(int(seed)).generate_state(2, np.uint64)


def _philox_ir(builder, k0, k1, c0, c1, c2, c3) -> list:
    """LLVM instructions for Philox4x64-10 of the counter (c0..c3) under (k0, k1), all i64.

    The 64-bit high multiply is one machine instruction (an ``i128`` multiply, truncated). The
    rounds are emitted as straight-line code: numba compiles a draw at each call site in a few
    milliseconds, where the same rounds as an inlined Python loop cost ~0.15 s of compilation
    per site (typed and optimised again at every one).
    """
    i64, i128 = ir.IntType(64), ir.IntType(128)
    m0, m1, shift = ir.Constant(i128, int(_M0)), ir.Constant(i128, int(_M1)), ir.Constant(i128, 64)
    for r in range(10):
        if r:
            k0 = builder.add(k0, ir.Constant(i64, int(_W0)))
            k1 = builder.add(k1, ir.Constant(i64, int(_W1)))
        p0 = builder.mul(builder.zext(c0, i128), m0)
        p1 = builder.mul(builder.zext(c2, i128), m1)
        hi0, lo0 = builder.trunc(builder.lshr(p0, shift), i64), builder.trunc(p0, i64)
        hi1, lo1 = builder.trunc(builder.lshr(p1, shift), i64), builder.trunc(p1, i64)
        c0, c1, c2, c3 = (builder.xor(builder.xor(hi1, c1), k0), lo1,
                          builder.xor(builder.xor(hi0, c3), k1), lo0)
    return [c0, c1, c2, c3]


def _key_words(context, builder, key_type, key):
    """The two uint64 words of the key array ``key``."""
    array = context.make_array(key_type)(context, builder, key)
    return [builder.load(cgutils.get_item_pointer(context, builder, key_type, array,
                                                  [context.get_constant(types.intp, i)]))
            for i in (0, 1)]


def _as_u64(context, builder, value, value_type):
    return context.cast(builder, value, value_type, types.uint64)


def _check_key(key) -> None:
    if not (isinstance(key, types.Array) and key.dtype == types.uint64 and key.ndim == 1):
        raise TypingError(f"a Philox key is a 1-d uint64 array, not {key}")


@intrinsic
def philox(typingctx, key, c0, c1, c2, c3):
    """Philox4x64-10 of the counter (c0, c1, c2, c3) under ``key`` (2 uint64 words): the
    four uint64 words of the block."""
    _check_key(key)
    counter = (c0, c1, c2, c3)

    def codegen(context, builder, signature, args):
        words = _key_words(context, builder, key, args[0])
        block = _philox_ir(builder, *words, *(_as_u64(context, builder, v, ty)
                                              for v, ty in zip(args[1:], counter, strict=True)))
        return context.make_tuple(builder, signature.return_type, block)

    return types.UniTuple(types.uint64, 4)(key, c0, c1, c2, c3), codegen


@intrinsic
def _bits(typingctx, key, purpose, t, who, k):
    """Word ``k % 4`` of the block at counter (k // 4, who, t, purpose): a block serves four
    consecutive k (`open_row`)."""
    _check_key(key)
    given = (purpose, t, who, k)

    def codegen(context, builder, signature, args):
        purpose_, t_, who_, k_ = (_as_u64(context, builder, v, ty)
                                  for v, ty in zip(args[1:], given, strict=True))
        i64 = ir.IntType(64)
        words = _key_words(context, builder, key, args[0])
        block = _philox_ir(builder, *words, builder.lshr(k_, ir.Constant(i64, 2)), who_, t_,
                           purpose_)
        word = builder.and_(k_, ir.Constant(i64, 3))
        out = block[3]
        for j in (2, 1, 0):
            out = builder.select(builder.icmp_unsigned("==", word, ir.Constant(i64, j)),
                                 block[j], out)
        return out

    return types.uint64(key, purpose, t, who, k), codegen


@rule(inline=True)
def uniform(key: np.ndarray, purpose: int, t: int, who: int, k: int) -> float:
    """A uniform draw in [0, 1) (53 bits, as numpy's ``Generator.random``)."""
    return np.float64(_bits(key, purpose, t, who, k) >> np.uint64(11)) * _TO_DOUBLE


@rule(inline=True)
def uniform_open(key: np.ndarray, purpose: int, t: int, who: int, k: int) -> float:
    """A uniform draw in (0, 1): never 0, never 1."""
    return (np.float64(_bits(key, purpose, t, who, k) >> np.uint64(11)) + 0.5) * _TO_DOUBLE


@rule(inline=True)
def exponential(key: np.ndarray, purpose: int, t: int, who: int, k: int) -> float:
    """An Exp(1) draw (inversion)."""
    return -np.log((np.float64(_bits(key, purpose, t, who, k) >> np.uint64(11)) + 0.5)
                   * _TO_DOUBLE)


@rule(inline=True)
def gumbel(key: np.ndarray, purpose: int, t: int, who: int, k: int) -> float:
    """A standard Gumbel draw (inversion)."""
    return -np.log(-np.log((np.float64(_bits(key, purpose, t, who, k) >> np.uint64(11)) + 0.5)
                           * _TO_DOUBLE))


@rule(inline=True)
def _to_open_unit(bits: np.uint64) -> float:
    return (np.float64(bits >> np.uint64(11)) + 0.5) * _TO_DOUBLE


@rule
def open_row(key: np.ndarray, purpose: int, t: int, who: int, out: np.ndarray) -> None:
    """``out[k] = uniform_open(key, purpose, t, who, k)`` for every k, one block per four."""
    n = out.shape[0]
    for b in range((n + 3) >> 2):
        c0, c1, c2, c3 = philox(key, np.uint64(b), np.uint64(who), np.uint64(t),
                                np.uint64(purpose))
        k = b << 2
        out[k] = _to_open_unit(c0)
        if k + 1 < n:
            out[k + 1] = _to_open_unit(c1)
        if k + 2 < n:
            out[k + 2] = _to_open_unit(c2)
        if k + 3 < n:
            out[k + 3] = _to_open_unit(c3)


@kernel
def uniforms(key: np.ndarray, purpose: int, t: int, who: np.ndarray) -> np.ndarray:
    """One uniform per entry of ``who`` (k = 0)."""
    out = np.empty(who.shape[0])
    for i in range(who.shape[0]):
        out[i] = uniform(key, purpose, t, who[i], 0)
    return out


@kernel
def order(key: np.ndarray, purpose: int, t: int, items: np.ndarray) -> np.ndarray:
    """``items`` in a random order keyed by each item (sorted by its own uniform, ties by
    position): whether an item comes before another does not depend on the rest."""
    return items[stable_argsort(uniforms(key, purpose, t, items))]


@kernel
def successes(key: np.ndarray, purpose: int, t: int, who: np.ndarray, trials: np.ndarray,
              prob: float) -> np.ndarray:
    """Binomial(``trials[i]``, ``prob``) per entry of ``who``, as counted Bernoulli draws
    (k = 0, 1, ...): a binomial keyed trial by trial."""
    out = np.zeros(who.shape[0], np.int64)
    for i in range(who.shape[0]):
        for k in range(trials[i]):
            out[i] += uniform(key, purpose, t, who[i], k) < prob
    return out


class Draws:
    """The run's key and a step, for Python code that draws (the hourly police plan,
    recruitment): ``uniforms(purpose, who)``, ``order(purpose, items)``."""

    __slots__ = ("key", "t")

    def __init__(self, key: np.ndarray, t: int):
        self.key, self.t = key, int(t)

    def uniforms(self, purpose: int, who: np.ndarray) -> np.ndarray:
        return uniforms(self.key, purpose, self.t, np.asarray(who, np.int64))

    def order(self, purpose: int, items: np.ndarray) -> np.ndarray:
        return order(self.key, purpose, self.t, np.asarray(items, np.int64))

    def successes(self, purpose: int, who: np.ndarray, trials: np.ndarray,
                  prob: float) -> np.ndarray:
        return successes(self.key, purpose, self.t, np.asarray(who, np.int64),
                         np.asarray(trials, np.int64), float(prob))
