"""`brusim.model.rng` draws numpy's own numbers, and the compiled patrol-post draw and area fold
equal the numpy code they replaced.

The draws are checked value for value against ``Generator.random``, ``standard_exponential``,
``gumbel`` and ``permutation`` (several seeds and bit generators; sizes 0, 1 and many), and the
stream's state afterwards must equal numpy's, also when Python and compiled draws take turns on
one Generator. `police.draw_patrol_posts` must pick what ``PatrolSampler``'s numpy draw picks
(``searchsorted(side="right")`` over the whole cumulative array, clipped to the group's end),
from a numpy stream and from chosen uniforms at the bucket bounds and on the cumulative
weights; `kernels.fold_areas` must equal the ``np.add.at`` fold.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from numba import carray, cfunc, njit, types
from numba.np.random._constants import fe_double, ke_double, we_double, ziggurat_exp_r

from brusim.map import load_street_map
from brusim.model import rng as rd
from brusim.model.model import map_settings
from brusim.model.police import PatrolSampler, draw_patrol_posts
from brusim.model.recorder import METRICS, Recorder, fold_areas
from tests.conftest import synthetic_config
from tests.glue_oracle import GlueRecorder

SEEDS = (0, 1, 12345, 2**63 + 7)
SIZES = (0, 1, 2, 1000)
BIT_GENERATORS = (np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox,
                  np.random.SFC64)


# ----------------------------------------------------------------------------- compiled wrappers


@njit
def uniforms(h: np.ndarray, n: int) -> np.ndarray:
    out = np.empty(n)
    for k in range(n):
        out[k] = rd.random(h)
    return out


@njit
def exponentials(h: np.ndarray, n: int) -> np.ndarray:
    out = np.empty(n)
    for k in range(n):
        out[k] = rd.standard_exponential(h)
    return out


@njit
def gumbels(h: np.ndarray, n: int) -> np.ndarray:
    out = np.empty(n)
    for k in range(n):
        out[k] = rd.gumbel(h)
    return out


@njit
def permuted(h: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = values.copy()
    rd.permute(h, out)
    return out


def pair(seed: int, bit_generator=np.random.PCG64) -> tuple[np.random.Generator,
                                                          np.random.Generator]:
    """Two Generators in the same state: one for numpy's draws, one for the compiled ones."""
    return (np.random.Generator(bit_generator(seed)),
            np.random.Generator(bit_generator(seed)))


def same_state(a: np.random.Generator, b: np.random.Generator) -> bool:
    return equal_states(a.bit_generator.state, b.bit_generator.state)


def equal_states(a: object, b: object) -> bool:
    """Bit generator states (nested dicts of ints and arrays) are equal."""
    if isinstance(a, dict):
        return (isinstance(b, dict) and a.keys() == b.keys()
                and all(equal_states(a[k], b[k]) for k in a))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b


# ----------------------------------------------------------------------------- draws


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", SIZES)
def test_random_gumbel_exponential_permutation_equal_numpy(seed: int, n: int):
    for numpy_draw, compiled in (
        (lambda g: g.random(n), lambda h: uniforms(h, n)),
        (lambda g: g.standard_exponential(n), lambda h: exponentials(h, n)),
        (lambda g: g.gumbel(size=n), lambda h: gumbels(h, n)),
        (lambda g: g.permutation(np.arange(n, dtype=np.int64) * 3 - 7),
         lambda h: permuted(h, np.arange(n, dtype=np.int64) * 3 - 7)),
    ):
        ref, rng = pair(seed)
        want, got = numpy_draw(ref), compiled(rd.handle(rng))
        assert got.dtype == want.dtype and np.array_equal(got, want)
        assert same_state(ref, rng)


@pytest.mark.parametrize("bit_generator", BIT_GENERATORS)
def test_every_numpy_bit_generator(bit_generator):
    """The handle calls the bit generator's own C functions, whichever it is."""
    ref, rng = pair(99, bit_generator)
    h = rd.handle(rng)
    assert np.array_equal(uniforms(h, 500), ref.random(500))
    assert np.array_equal(exponentials(h, 500), ref.standard_exponential(500))
    assert np.array_equal(gumbels(h, 500), ref.gumbel(size=500))
    assert np.array_equal(permuted(h, np.arange(300)), ref.permutation(300))
    assert same_state(ref, rng)


def ziggurat_in_python(rng: np.random.Generator, n: int) -> tuple[np.ndarray, Counter]:
    """numpy's ``random_standard_exponential`` (ziggurat) written out over a PCG64 stream's raw
    64-bit outputs, counting the branch each draw takes."""
    bits = rng.bit_generator
    chunk: list[int] = []

    def next_uint64() -> int:
        if not chunk:
            chunk.extend(reversed(bits.random_raw(4096).tolist()))
        return chunk.pop()

    def next_double() -> float:  # PCG64's next_double
        return (next_uint64() >> 11) * (1.0 / 9007199254740992.0)

    out = np.empty(n)
    branches: Counter = Counter()
    for k in range(n):
        while True:
            ri = next_uint64() >> 3
            idx = ri & 0xFF
            ri >>= 8
            x = ri * float(we_double[idx])
            if ri < int(ke_double[idx]):
                branches["fast"] += 1
                break
            if idx == 0:
                branches["tail"] += 1
                x = ziggurat_exp_r - math.log1p(-next_double())
                break
            if ((float(fe_double[idx - 1]) - float(fe_double[idx])) * next_double()
                    + float(fe_double[idx]) < math.exp(-x)):
                branches["wedge_accept"] += 1
                break
            branches["wedge_reject"] += 1
        out[k] = x
    return out, branches


def test_many_exponentials_run_every_ziggurat_branch():
    n = 200_000
    ref, rng = pair(2024)
    want = ref.standard_exponential(n)
    got = exponentials(rd.handle(rng), n)
    assert np.array_equal(got, want)
    assert same_state(ref, rng)
    port, branches = ziggurat_in_python(np.random.Generator(np.random.PCG64(2024)), n)
    assert np.array_equal(port, want)  # so the branch counts below are numpy's
    assert branches["tail"] > 20 and branches["wedge_accept"] > 100
    assert branches["wedge_reject"] > 100


def test_python_and_compiled_draws_take_turns_on_one_stream():
    ref = np.random.default_rng(7)
    rng = np.random.default_rng(7)
    h = rd.handle(rng)
    got, want = [], []
    for k in range(40):
        n = k % 5  # sizes 0..4, so the uint32 buffer of permutations is left half used
        got.append(uniforms(h, n))
        want.append(ref.random(n))
        got.append(rng.standard_exponential(k))
        want.append(ref.standard_exponential(k))
        got.append(permuted(h, np.arange(k + 1)).astype(float))
        want.append(ref.permutation(k + 1).astype(float))
        got.append(rng.integers(0, 1000, size=3).astype(float))  # numpy's uint32 buffer too
        want.append(ref.integers(0, 1000, size=3).astype(float))
        got.append(exponentials(h, n))
        want.append(ref.standard_exponential(n))
        got.append(rng.permutation(n + 2).astype(float))
        want.append(ref.permutation(n + 2).astype(float))
        got.append(gumbels(h, 2))
        want.append(ref.gumbel(size=2))
        assert same_state(ref, rng), k
    assert np.array_equal(np.concatenate(got), np.concatenate(want))


def test_a_handle_of_another_stream_draws_other_numbers():
    """The comparisons above can fail: a different stream gives different numbers."""
    ref, rng = pair(5)
    other = np.random.default_rng(6)
    assert not np.array_equal(uniforms(rd.handle(other), 10), ref.random(10))
    assert not same_state(ref, rng)  # ref drew ten numbers, rng none
    assert same_state(rng, np.random.Generator(np.random.PCG64(5)))


# ----------------------------------------------------------------------------- patrol posts


def numpy_draw(sampler: PatrolSampler, group: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The pre-fusion ``PatrolSampler.draw`` with given uniforms."""
    pos = sampler.cum.searchsorted(group + u, side="right")
    return sampler.nodes[np.minimum(pos, sampler.end[group] - 1)]


def sampler_groups(rng: np.random.Generator, n_nodes: int) -> tuple[list[np.ndarray],
                                                                    np.ndarray]:
    """Groups of every awkward kind over ``n_nodes`` nodes, and node weights with zeros."""
    weights = rng.random(n_nodes) * 10
    weights[rng.random(n_nodes) < 0.2] = 0.0
    order = rng.permutation(n_nodes)
    groups = [order[:1],  # a single node
              order[1:9],  # 8 nodes of equal weight: cumulative shares on bucket bounds
              order[9:20],  # all weights zero: the draw clips to the group's last node
              order[20:21],  # a single node of zero weight
              order[21:400], order[400:1500], order[1500:]]
    weights[order[1:9]] = 2.5
    weights[order[9:21]] = 0.0
    weights[order[21]] = 0.0  # a leading zero-weight node
    weights[order[399]] = 0.0  # a trailing one
    weights[order[400]] = 0.0  # the next group's first node, right after it
    groups.append(np.arange(n_nodes))  # the region
    return groups, weights


def test_draw_patrol_posts_equals_the_numpy_draw():
    rng = np.random.default_rng(3)
    groups, weights = sampler_groups(rng, 3000)
    sampler = PatrolSampler.build(groups, weights)
    assert np.array_equal(sampler.cum.searchsorted(
        np.arange(len(groups))[:, None] + np.arange(PatrolSampler.BUCKETS + 1)
        / PatrolSampler.BUCKETS, side="right"), sampler.index)
    n_units, steps = 4000, 30  # 120,000 draws
    cols = np.sort(rng.choice(n_units + 50, size=n_units, replace=False))
    group = rng.integers(0, len(groups), size=n_units)
    group[:len(groups)] = np.arange(len(groups))  # every group
    posts = np.full((steps, n_units + 50), -5, np.int64)
    stream, ref = pair(11)
    draw_patrol_posts(rd.handle(stream), posts, cols, group, sampler.nodes, sampler.cum,
                         sampler.end, sampler.index)
    want = numpy_draw(sampler, np.tile(group, steps), ref.random(steps * n_units))
    assert np.array_equal(posts[:, cols], want.reshape(steps, n_units))
    untouched = np.setdiff1d(np.arange(n_units + 50), cols)
    assert (posts[:, untouched] == -5).all()
    assert same_state(ref, stream)
    # the awkward groups: zero total weight and zero-weight nodes are never picked wrongly
    drawn = posts[:, cols]
    zero = np.flatnonzero(weights == 0.0)
    assert (drawn[:, group == 2] == groups[2][-1]).all()  # clipped to the last node
    assert (drawn[:, group == 0] == groups[0][0]).all()
    region = drawn[:, group == len(groups) - 1]
    assert not np.isin(region, zero).any()
    assert len(np.unique(region)) > 2000


@cfunc(types.float64(types.voidptr))
def _scripted_double(state):
    """``next_double`` of a scripted source: ``state`` points at [position, u0, u1, ...]."""
    head = carray(state, 1, dtype=np.float64)
    k = int(head[0])
    values = carray(state, k + 2, dtype=np.float64)
    head[0] = k + 1
    return values[k + 1]


def scripted_handle(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A `rng.handle` whose uniform draws are ``u``, in order (and the buffer it reads)."""
    buffer = np.concatenate([[0.0], u])
    h = np.array([buffer.ctypes.data, _scripted_double.address, 0, 0], np.int64)
    return h, buffer


def test_draw_patrol_posts_at_bucket_bounds_and_on_the_cumulative_weights():
    """Uniforms chosen where a bucket search could go wrong: on every bucket bound and every
    cumulative share of the group, one ulp either side, 0 and the largest double below 1."""
    rng = np.random.default_rng(8)
    groups, weights = sampler_groups(rng, 3000)
    sampler = PatrolSampler.build(groups, weights)
    bounds = np.arange(PatrolSampler.BUCKETS + 1) / PatrolSampler.BUCKETS
    g_all, u_all = [], []
    for g in range(len(groups)):
        share = sampler.cum[sampler.end[g] - len(groups[g]):sampler.end[g]] - g
        base = np.concatenate([bounds, share, [0.0, 1.0 - 2.0**-53, 0.5]])
        u = np.concatenate([base, np.nextafter(base, -1.0), np.nextafter(base, 2.0)])
        u = np.unique(u[(u >= 0.0) & (u < 1.0)])
        g_all.append(np.full(len(u), g))
        u_all.append(u)
    group, u = np.concatenate(g_all), np.concatenate(u_all)
    posts = np.zeros((1, len(group)), np.int64)
    h, buffer = scripted_handle(u)
    draw_patrol_posts(h, posts, np.arange(len(group)), group, sampler.nodes, sampler.cum,
                         sampler.end, sampler.index)
    assert buffer[0] == len(u)  # one uniform per post
    assert np.array_equal(posts[0], numpy_draw(sampler, group, u))


# ----------------------------------------------------------------------------- area fold


def test_fold_areas_equals_add_at():
    rng = np.random.default_rng(4)
    n_areas, n_sig, n_metrics, n_pairs = 30, 200, len(METRICS), 5000
    pair_area = rng.integers(0, n_areas, n_pairs)
    pair_signature = rng.integers(0, n_sig, n_pairs)
    pair_weight = rng.random(n_pairs) * 3
    by_signature = rng.standard_normal(n_sig * n_metrics) * 1e3
    start = rng.standard_normal((n_areas, n_metrics))
    want = start.copy()
    np.add.at(want, pair_area,
              by_signature.reshape(-1, n_metrics)[pair_signature] * pair_weight[:, None])
    got = start.copy()
    fold_areas(got, by_signature, pair_area, pair_signature, pair_weight)
    assert np.array_equal(got, want)
    empty = start.copy()
    fold_areas(empty, by_signature, pair_area[:0], pair_signature[:0], pair_weight[:0])
    assert np.array_equal(empty, start)


def test_recorder_area_values_equal_the_add_at_recorder():
    smap = load_street_map(map_settings(synthetic_config().map))
    fused, glue = Recorder(smap, 4, 0.25), GlueRecorder(smap, 4, 0.25)
    rng = np.random.default_rng(5)
    for _ in range(50):
        metric = METRICS[rng.integers(len(METRICS))]
        nodes = rng.integers(0, smap.n_nodes, rng.integers(0, 40))
        weight = float(rng.random())
        fused.add(metric, nodes, weight)
        glue.add(metric, nodes, weight)
    values = fused._area_values()
    assert values.any() and np.array_equal(values, glue._area_values())
