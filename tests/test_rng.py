"""`brusim.model.rng`: keyed draws are numpy's Philox4x64-10, each a function of its counter
only; the compiled patrol-post draw and area fold equal the numpy code they replaced.

Philox blocks and uniforms are checked value for value against ``numpy.random.Philox``; keyed
draws must not depend on any other draw (a subset of agents draws the same numbers, a keyed
order restricted to a subset is the subset's keyed order); exponential, Gumbel and keyed
binomial draws must pass goodness-of-fit tests (they can fail: a wrong transform is shown to).
`police.draw_patrol_posts` must pick what ``PatrolSampler``'s numpy draw picks, also at chosen
uniforms on the bucket bounds and on the cumulative weights; `kernels.fold_areas` must equal
the ``np.add.at`` fold.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from scipy import stats

from brusim.map import load_street_map
from brusim.model import codes
from brusim.model import rng as rd
from brusim.model.model import map_settings
from brusim.model.police import PatrolSampler, draw_patrol_posts, group_node
from brusim.model.recorder import METRICS, Recorder, fold_areas
from tests.conftest import synthetic_config
from tests.glue_oracle import GlueRecorder

KEYS = (rd.stream_key(0), rd.stream_key(12345), np.array([2**64 - 1, 0], np.uint64))
COUNTERS = ((1, 0, 0, 0), (5, 3, 2**40, 9), (2**64 - 1, 7, 2, 3), (0, 0, 0, 0),
            (0, 2**62, 17472, 27))


def numpy_philox(key: np.ndarray, counter: tuple[int, ...]) -> np.random.Philox:
    """numpy's Philox whose next block is the block of ``counter`` (numpy adds one first)."""
    value = sum(int(c) << (64 * i) for i, c in enumerate(counter))
    return np.random.Philox(key=int(key[0]) | (int(key[1]) << 64),
                            counter=(value - 1) % 2**256)


# ----------------------------------------------------------------------------- Philox


@njit
def philox_block(key, c0, c1, c2, c3):
    return rd.philox(key, c0, c1, c2, c3)  # an intrinsic: compiled code only


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("counter", COUNTERS)
def test_philox_block_and_uniform_equal_numpy(key, counter):
    block = philox_block(key, *(np.uint64(c) for c in counter))
    assert [int(x) for x in block] == [int(x) for x in numpy_philox(key, counter).random_raw(4)]
    block_k, who, t, purpose = counter
    if max(counter) >= 2**62:  # the model's words are int64 (steps, agents): block only
        return
    # draw k is word k % 4 of the block at k // 4: numpy's four doubles from that block
    doubles = np.random.Generator(numpy_philox(key, counter)).random(4)
    for lane in range(4):
        k = 4 * block_k + lane
        assert rd.uniform(key, purpose, t, who, k) == doubles[lane]


def test_the_key_follows_the_seed():
    assert np.array_equal(rd.stream_key(3), rd.stream_key(3))
    assert not np.array_equal(rd.stream_key(3), rd.stream_key(4))
    assert rd.stream_key(3).dtype == np.uint64 and rd.stream_key(3).shape == (2,)
    described = rd.describe(3)
    assert described["steps"]["key"] == [f"{int(k):#018x}" for k in rd.stream_key(3)]


def test_every_word_of_the_counter_changes_the_draw():
    key = rd.stream_key(1)
    base = rd.uniform(key, 4, 100, 7, 2)
    assert rd.uniform(key, 4, 100, 7, 2) == base  # a pure function
    for changed in ((5, 100, 7, 2), (4, 101, 7, 2), (4, 100, 8, 2), (4, 100, 7, 3)):
        assert rd.uniform(key, *changed) != base
    assert rd.uniform(rd.stream_key(2), 4, 100, 7, 2) != base


def test_purpose_codes_are_distinct():
    values = [getattr(codes, n) for n in dir(codes) if n.startswith("D_")]
    assert len(values) == len(set(int(v) for v in values)) >= 27


# ----------------------------------------------------------------------------- keyed draws


def test_a_subset_of_agents_draws_the_same_numbers():
    key = rd.stream_key(9)
    who = np.arange(1000, dtype=np.int64)
    subset = who[::7]
    assert np.array_equal(rd.uniforms(key, 3, 55, who)[::7], rd.uniforms(key, 3, 55, subset))


def test_a_keyed_order_restricted_to_a_subset_is_the_subsets_order():
    key = rd.stream_key(10)
    items = np.arange(500, dtype=np.int64) * 3
    full = rd.order(key, 6, 12, items)
    assert sorted(full) == sorted(items) and not np.array_equal(full, items)
    subset = items[np.random.default_rng(0).random(len(items)) < 0.3]
    assert np.array_equal(full[np.isin(full, subset)], rd.order(key, 6, 12, subset))
    # the order is not the input order: shuffled inputs give the same order
    assert np.array_equal(rd.order(key, 6, 12, items[::-1].copy()), full)


def test_uniforms_are_uniform_and_the_open_ones_never_zero():
    key = rd.stream_key(11)
    who = np.arange(200_000, dtype=np.int64)
    u = rd.uniforms(key, 1, 0, who)
    assert (u >= 0).all() and (u < 1).all()
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    # neighbouring counters are uncorrelated
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01
    assert abs(np.corrcoef(u, rd.uniforms(key, 1, 1, who))[0, 1]) < 0.01


def _draws(kind, n: int) -> np.ndarray:
    key = rd.stream_key(12)
    return np.array([kind(key, 5, 3, i, 1) for i in range(n)])


def test_exponential_and_gumbel_fit_their_distributions():
    assert stats.kstest(_draws(rd.exponential, 50_000), "expon").pvalue > 1e-3
    assert stats.kstest(_draws(rd.gumbel, 50_000), "gumbel_r").pvalue > 1e-3


def test_the_fit_test_fails_a_wrong_transform():
    """The goodness-of-fit check above can fail: Exp(1) draws are not Gumbel."""
    assert stats.kstest(_draws(rd.exponential, 50_000), "gumbel_r").pvalue < 1e-6


def test_keyed_successes_are_binomial():
    key = rd.stream_key(13)
    who = np.arange(40_000, dtype=np.int64)
    trials = np.full(len(who), 6, np.int64)
    k = rd.successes(key, 11, 2, who, trials, 0.3)
    counts = np.bincount(k, minlength=7)
    expected = stats.binom.pmf(np.arange(7), 6, 0.3) * len(who)
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    assert (rd.successes(key, 11, 2, who[:5], np.zeros(5, np.int64), 0.3) == 0).all()
    # the first trials of a crew are the same whatever the number of trials
    more = rd.successes(key, 11, 2, who, trials + 4, 0.3)
    assert (more >= k).all()


def test_a_row_of_draws_is_the_scalar_draws():
    key = rd.stream_key(15)
    for n in (0, 1, 3, 4, 5, 54):
        row = np.empty(n)
        rd.open_row(key, 9, 31, 7, row)
        assert np.array_equal(row, [rd.uniform_open(key, 9, 31, 7, k) for k in range(n)])
        assert ((row > 0) & (row < 1)).all()


def test_draws_binds_key_and_step():
    key = rd.stream_key(14)
    d = rd.Draws(key, 77)
    who = np.array([3, 1, 2], np.int64)
    assert np.array_equal(d.uniforms(2, who), rd.uniforms(key, 2, 77, who))
    assert np.array_equal(d.order(2, who), rd.order(key, 2, 77, who))


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
    n_units, steps, t0 = 4000, 30, 500  # 120,000 draws
    cols = np.sort(rng.choice(n_units + 50, size=n_units, replace=False))
    units = cols + 3  # unit ids differ from their columns
    group = rng.integers(0, len(groups), size=n_units)
    group[:len(groups)] = np.arange(len(groups))  # every group
    posts = np.full((steps, n_units + 50), -5, np.int64)
    key = rd.stream_key(11)
    draw_patrol_posts(key, t0, posts, cols, units, group, sampler.nodes, sampler.cum,
                      sampler.end, sampler.index)
    u = np.concatenate([rd.uniforms(key, codes.D_PATROL_POST, t0 + r, units)
                        for r in range(steps)])
    want = sampler.draw(np.tile(group, steps), u)
    assert np.array_equal(want, numpy_draw(sampler, np.tile(group, steps), u))
    assert np.array_equal(posts[:, cols], want.reshape(steps, n_units))
    untouched = np.setdiff1d(np.arange(n_units + 50), cols)
    assert (posts[:, untouched] == -5).all()
    # the awkward groups: zero total weight and zero-weight nodes are never picked wrongly
    drawn = posts[:, cols]
    zero = np.flatnonzero(weights == 0.0)
    assert (drawn[:, group == 2] == groups[2][-1]).all()  # clipped to the last node
    assert (drawn[:, group == 0] == groups[0][0]).all()
    region = drawn[:, group == len(groups) - 1]
    assert not np.isin(region, zero).any()
    assert len(np.unique(region)) > 2000
    # a unit's posts are its own: the same unit alone draws the same nodes
    alone = np.full((steps, 1), -5, np.int64)
    draw_patrol_posts(key, t0, alone, np.zeros(1, np.int64), units[7:8], group[7:8],
                      sampler.nodes, sampler.cum, sampler.end, sampler.index)
    assert np.array_equal(alone[:, 0], posts[:, cols[7]])


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
    got = np.array([group_node(g, x, sampler.nodes, sampler.cum, sampler.end, sampler.index)
                    for g, x in zip(group, u, strict=True)])
    assert np.array_equal(got, numpy_draw(sampler, group, u))


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
