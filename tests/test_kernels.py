"""The compiled rules of the model's submodels against the numpy code they replaced.

Each ``old_*`` function below is a compact port of the pre-numba numpy rule (commit c9d7868:
model.py, users.py, dealers.py, police.Posts). A kernel is given the same inputs and the same
random draws (made by the caller, in the caller's order) and must reproduce the oracle bit for
bit: integer results, masks and chosen indices, and floating fields updated in the same order.
Neighbourhood tables come from the synthetic city; `isolate` empties some balls.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from brusim.model import BrusselsMarketModel, codes
from brusim.model import dealers as dl
from brusim.model import rng as rd
from brusim.model import users as us
from brusim.model.market import choose_markets
from brusim.model.police import (
    PoliceParams,
    Posting,
    Presence,
    police_exposure,
    posts_within,
)
from brusim.model.spatial import Ball, node_xy32
from brusim.model.violence import contested_cells
from brusim.model.world import Fields, decay_fields
from tests.conftest import synthetic_config

SEEDS = (0, 1, 2)
I64 = np.zeros(0, np.int64)  # empty index array
NONE_F = np.zeros(0)  # an empty float argument (no cut, no draws)
NONE_B = np.zeros(0, bool)  # an empty mask argument (no room open)


@pytest.fixture(scope="module")
def model() -> BrusselsMarketModel:
    """A synthetic-city model 50 steps in (sellers placed, sales and police exposure built up)."""
    m = BrusselsMarketModel(synthetic_config("weeks=1", "seed=3"))
    m.advance(50)
    return m


def isolate(ball: Ball, nodes: np.ndarray) -> Ball:
    """``ball`` with ``nodes`` taken out of every list: their balls are empty, and the table
    stays symmetric (as the kernels assume)."""
    n = len(ball.counts)
    rows = np.repeat(np.arange(n), ball.counts)
    keep = ~np.isin(rows, nodes) & ~np.isin(ball.indices, nodes)
    indptr = np.zeros(n + 1, ball.indptr.dtype)
    np.cumsum(np.bincount(rows[keep], minlength=n), out=indptr[1:])
    return Ball(ball.radius_m, indptr, ball.indices[keep])


def xy128(smap) -> np.ndarray:
    """Node coordinates as complex128 (the old `spatial.node_xy`)."""
    return smap.x + 1j * smap.y


def xy64(smap) -> np.ndarray:
    """Centred single-precision complex coordinates (the old ``node_xy(smap, np.complex64)``)."""
    xy = xy128(smap)
    return (xy - xy.mean()).astype(np.complex64)


def random_users(rng: np.random.Generator, n_users: int, n_nodes: int, t: int) -> us.UserState:
    """Users in every status, with times around step ``t``."""
    def times() -> np.ndarray:
        return rng.integers(t - 5, t + 5, n_users).astype(np.int64)

    home = rng.integers(0, n_nodes, n_users).astype(np.int64)
    return us.UserState(
        status=rng.integers(0, 5, n_users).astype(np.int8), home=home,
        node=np.where(rng.random(n_users) < 0.5, home, rng.integers(0, n_nodes, n_users)),
        target=rng.integers(0, n_nodes, n_users).astype(np.int64), arrive=times(),
        attempts=rng.integers(0, 6, n_users).astype(np.int32),
        known=rng.integers(-1, n_nodes, n_users).astype(np.int64), ready=times(),
        until=times(), referred_until=times())


def copy_state(state):
    """A deep copy of a state (a NamedTuple of arrays)."""
    return state._replace(**{f: getattr(state, f).copy() for f in state._fields})


def assert_same_state(a, b) -> None:
    for f in a._fields:
        x, y = getattr(a, f), getattr(b, f)
        assert x.dtype == y.dtype and np.array_equal(x, y), f


def presence_of(sight: Ball, arrest: Ball, posts_at: np.ndarray) -> Presence:
    return Presence(sight.indptr, sight.indices, arrest.indptr, arrest.indices, posts_at)


def fields_of(n: int, sales=None, unserved=None, demand_near=None, presence=None,
              memory=None) -> Fields:
    def given(a, size):
        return np.zeros(size) if a is None else a
    return Fields(given(presence, n), given(memory, n), given(sales, n), given(unserved, n),
                  given(demand_near, n + 1))


def subset(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    """A sorted random subset of ``range(n)``."""
    return np.flatnonzero(rng.random(n) < share).astype(np.int64)


# ============================================================================ numpy oracles


def old_police_exposure(presence, arrest_memory, posts, effect, sight: Ball, decay_risk,
                        decay_arrest) -> None:
    """Pre-numba numpy rule (Posts.build + _police_exposure): decay, then ``np.add.at`` of each
    post's deterrence over its sight ball, unit after unit (one float when all are equal)."""
    near = sight.gather(posts)[0]
    presence *= decay_risk
    if len(posts) == 0 or np.all(effect == effect[0]):
        np.add.at(presence, near, float(effect[0]) if len(posts) else 0.0)
    else:
        np.add.at(presence, near, np.repeat(effect, sight.counts[posts]))
    arrest_memory *= decay_arrest


def old_cover(ball: Ball, posts: np.ndarray, n: int) -> np.ndarray:
    """Pre-numba numpy rule (``police_cover_arrest``): units within the ball of each node."""
    cover = np.zeros(n)
    np.add.at(cover, ball.gather(posts)[0], 1.0)
    return cover


def old_scan_users(t, u: us.UserState, in_sight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pre-numba numpy rules (_end_lingering, start_cravings' candidates, the arrivals)."""
    linger = (u.status == codes.LINGERING).nonzero()[0]
    stay = u.until[linger] > t
    stay[stay] = ~in_sight[u.node[linger[stay]]]
    leave = linger[~stay]
    u.status[leave] = codes.IDLE
    u.node[leave] = u.home[leave]
    cand = ((u.status == codes.IDLE) & (u.ready <= t)).nonzero()[0]
    return cand, ((u.status == codes.SEARCHING) & (u.arrive <= t)).nonzero()[0]


def old_busiest(origins, padded, seller_nodes, noise, cover_arrest, avoid_police: bool):
    """Pre-numba numpy rule (_purchases): the site with most sellers within the padded ball
    (ties: noise), its sellers, and whether a purchase happens (no unit within arrest range).
    The cover gets a slot for the padding node, where the old code had none (it never saw an
    empty ball)."""
    n = len(cover_arrest)
    sellers_at = np.zeros(n + 1, np.int64)
    sellers_at[n] = -1
    np.add.at(sellers_at, seller_nodes, 1)
    near = padded[origins]
    best = (sellers_at[near] + noise * 0.5).argmax(axis=1)
    site = near[np.arange(len(origins)), best]
    n_sellers = sellers_at[site]
    ok = n_sellers > 0
    if avoid_police:
        ok &= np.append(cover_arrest, 0.0)[site] == 0
    return site, n_sellers, ok


def old_purchases(t, buyers, sites, n_sellers, failed, u_seller, u_public, public_prob,
                  nuisance_cut, in_room, selling, seller_nodes, sales, unserved, demand_near,
                  padded, sales_w, unserved_w, u: us.UserState, linger, min_gap):
    """Pre-numba numpy rules (_purchases after the site choice, _consume, _failed_search,
    _add_demand): returns (seller of each sale, public-use mask, failed searchers' nodes)."""
    dealer, public = I64, NONE_B
    if len(buyers):
        order = np.argsort(seller_nodes, kind="stable")
        first = seller_nodes[order].searchsorted(sites)
        dealer = selling[order[first + (u_seller * n_sellers).astype(np.int64)]]
        np.add.at(sales, sites, 1.0)
        np.add.at(demand_near, padded[sites], sales_w)
        u.known[buyers] = sites
        u.node[buyers] = sites
        cut = 0.0 if nuisance_cut is None else nuisance_cut[sites]
        public = u_public < public_prob * (1 - cut)
        if in_room is not None:
            public &= ~in_room
        pb = buyers[public]
        u.status[pb] = codes.LINGERING
        u.until[pb] = t + linger
        home = buyers[~public]
        u.status[home] = codes.IDLE
        u.node[home] = u.home[home]
        u.ready[buyers] = t + min_gap
    nodes = I64
    if len(failed):
        nodes = u.node[failed]
        np.add.at(unserved, nodes, 1.0)
        np.add.at(demand_near, padded[nodes], unserved_w)
        u.attempts[failed] += 1
    return dealer, public, nodes


def old_travel_steps(xy, a, b, circuity, walk, transit, transit_above) -> np.ndarray:
    """Pre-numba numpy rule (users.travel_steps)."""
    d = np.abs(xy[a] - xy[b]) * circuity
    return (d / np.where(d > transit_above, transit, walk)).astype(np.int64) + 1


def old_set_out(t, start, fresh_mask, picks, failed, failed_at, u: us.UserState, max_attempts,
                retry, xy, circuity, walk, transit, transit_above) -> None:
    """Pre-numba numpy rule (_set_out after the draws): ``picks`` for the fresh new searchers,
    then one per failed searcher."""
    target = u.known[start]
    fresh = fresh_mask.nonzero()[0]
    n_fresh = len(fresh)
    fresh_pick = picks[:n_fresh]
    target[fresh] = np.where(fresh_pick < 0, u.home[start[fresh]], fresh_pick)
    u.status[start] = codes.SEARCHING
    u.attempts[start] = 0
    u.target[start] = target
    nxt = picks[n_fresh:]
    go = (u.attempts[failed] < max_attempts) & (nxt >= 0)
    g = failed[~go]
    u.status[g] = codes.IDLE
    u.node[g] = u.home[g]
    u.ready[g] = t + retry
    u.target[failed[go]] = nxt[go]
    movers = np.concatenate([start, failed[go]])
    u.arrive[movers] = t + old_travel_steps(
        xy, np.concatenate([u.node[start], failed_at[go]]), np.concatenate([target, nxt[go]]),
        circuity, walk, transit, transit_above)


def old_pick_markets(xy, origin, markets, strength, radius, rng, exclude_origin=False):
    """Pre-numba numpy rule (users.pick_markets, complex64 coordinates ``xy``)."""
    if len(markets) == 0 or len(origin) == 0:
        return np.full(len(origin), -1, np.int64)
    d = np.abs(xy[origin][:, None] - xy[markets])
    w = strength * np.exp(d * np.float32(-2.0 / radius))
    closest = np.where(exclude_origin, 1.0, -1.0)
    w *= (d <= radius) & (d >= (closest[:, None] if np.ndim(closest) else closest))
    score = w / rng.standard_exponential(w.shape)
    best = score.argmax(axis=1)
    return np.where(score[np.arange(len(origin)), best] > 0, markets[best], -1)


def old_contested_cells(cells, crews, n_crews) -> tuple[np.ndarray, np.ndarray]:
    """Pre-numba numpy rule (dealers.contested_cells)."""
    keys = np.sort(cells.astype(np.int64) * n_crews + crews)
    new_pair = np.empty(len(keys), bool)
    new_pair[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=new_pair[1:])
    pair_cell = keys[new_pair] // n_crews  # one entry per distinct (cell, crew), sorted by cell
    first = np.empty(len(pair_cell), bool)
    first[:1] = True
    np.not_equal(pair_cell[1:], pair_cell[:-1], out=first[1:])
    if first.all():
        return pair_cell[:0], pair_cell[:0]
    starts = first.nonzero()[0]
    n_crews_in = np.add.reduceat(np.ones(len(pair_cell), np.int64), starts)
    many = n_crews_in >= 2
    return pair_cell[starts[many]], n_crews_in[many]


def old_site_counts(cands, crews, market: Ball, seller_nodes, seller_crews, n):
    """Pre-numba numpy rule (_site_counts): sellers within the market ball of each candidate,
    and those of the deciding dealer's crew (counted from the sellers' side)."""
    near, seller = market.gather(seller_nodes)
    comp = np.bincount(near, minlength=n)[cands]
    keys = seller_crews.astype(np.int64)[seller] * n + near
    keys.sort()
    q = (crews.astype(np.int64) * n)[:, None] + cands
    return comp, keys.searchsorted(q, side="right") - keys.searchsorted(q, side="left")


def old_sample(ball: Ball, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pre-numba numpy rule (Ball.sample): a random node of each row's ball (the row if empty)."""
    counts = ball.counts[rows]
    pick = (rng.random(len(rows)) * counts).astype(np.int64)
    out = rows.astype(np.int64)
    ok = counts > 0
    out[ok] = ball.indices[ball.indptr[rows[ok]] + pick[ok]]
    return out


def old_crew_index(d: dl.DealerState):
    """Pre-numba numpy rule (dealers.crew_index)."""
    order = np.argsort(d.crew, kind="stable")
    sorted_crew = d.crew[order]
    crews = np.arange(len(d.crew_home))
    start = sorted_crew.searchsorted(crews, "left")
    return order, start, sorted_crew.searchsorted(crews, "right") - start


SITE_KEY = rd.stream_key(20261203)  # the keyed market pick of the site-decision oracle
SITE_T = 7


def old_decide(d: dl.DealerState, who, selling, aware: Ball, market: Ball, markets, smap, beh,
               demand_near, footfall_pull, exposure, sbd_cut, rng):
    """Pre-numba numpy rules (candidate_sites, known_market_near, _site_counts, site_utility,
    choose_sites, as called by _decide): (new site, moved, lie low)."""
    cur, crew = d.node[who], d.crew[who]
    home = d.crew_home[crew]
    k_rand = max(int(beh.n_candidates) - 4, 2)
    cands = np.empty((len(who), 4 + k_rand), np.int64)
    cands[:, 0], cands[:, 1], cands[:, 3] = cur, home, cur
    order, start, size = old_crew_index(d)
    mate = order[start[crew] + (rng.random(len(who)) * size[crew]).astype(np.int64)]
    cands[:, 2] = np.where(d.status[mate] == codes.ACTIVE, d.node[mate], home)
    if len(markets):  # the known market in reach with the smallest uniform keyed by its node
        xy = xy64(smap)
        in_reach = np.abs(xy[cur][:, None] - xy[markets]) <= aware.radius_m
        keyed = np.array([[rd.uniform(SITE_KEY, codes.D_SITE_MARKET, SITE_T, w, m)
                           for m in markets] for w in who]).reshape(len(who), len(markets))
        best = np.where(in_reach, keyed, 2.0).argmin(axis=1)
        cands[:, 3] = np.where(in_reach.any(axis=1), markets[best], cur)
    base = np.concatenate([cur, home] * (k_rand // 2) + [cur] * (k_rand % 2))
    cands[:, 4:] = old_sample(aware, base, rng).reshape(k_rand, len(who)).T
    comp, own = old_site_counts(cands, crew, market, d.node[selling], d.crew[selling],
                                smap.n_nodes)
    xy = xy128(smap)
    dist = np.abs(xy[cands] - xy[cands][:, :1]) * smap.circuity
    home_dist = np.abs(xy[cands] - xy[d.crew_home][crew][:, None]) * smap.circuity
    self_near = dist <= market.radius_m * smap.circuity
    comp -= self_near
    own -= self_near
    # site_utility
    takings = (demand_near[cands] + footfall_pull[cands]) / (comp + 1.0)
    if sbd_cut is not None:
        takings *= 1.0 - sbd_cut[cands]
    e = exposure[cands]
    risk = e / (e + beh.risk_half_saturation)
    risk *= d.tolerance[who][:, None]
    contested = (comp - own > 0.5) & (own < 0.5)
    takings *= 1.0 + np.minimum(own, 3.0) * beh.crew_bonus
    util = takings * (np.exp(risk * -beh.risk_weight) - beh.turf_penalty * contested)
    util -= dist * (beh.move_cost_per_km / 1000.0)
    util -= home_dist * (beh.turf_cost_per_km / 1000.0)
    util = util + float(beh.choice_noise) * rng.gumbel(size=cands.shape)
    # choose_sites
    rows = np.arange(len(cands))
    best = util.argmax(axis=1)
    u_best, u_cur, new_site = util[rows, best], util[:, 0], cands[rows, best]
    lie_low = u_best < beh.min_utility
    moved = (new_site != cur) & (u_best > u_cur + beh.switch_margin * np.abs(u_cur) + 1e-9)
    moved &= ~lie_low
    return np.where(moved, new_site, cur), moved, lie_low


# ============================================================================ per-node fields


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [0, 1, 37])
def test_decay_fields(seed: int, n: int):
    rng = np.random.default_rng(seed)
    fields = [rng.random(n) * 10, rng.random(n), rng.random(n + 1) * 3]
    factor = float(rng.random())
    expected = [f * factor for f in fields]
    decay_fields(*fields, factor)
    for got, want in zip(fields, expected, strict=True):
        assert np.array_equal(got, want)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n_units", [0, 1, 7, 40])
@pytest.mark.parametrize("same_effect", [True, False])
@pytest.mark.parametrize("isolated", [False, True])
def test_police_exposure_and_coverage(model, seed, n_units, same_effect, isolated):
    rng = np.random.default_rng(seed)
    n = model.smap.n_nodes
    cut = rng.choice(n, 30, replace=False) if isolated else I64
    balls = model.world.balls
    sight, arrest = isolate(balls.sight, cut), isolate(balls.arrest, cut)
    # posts repeat nodes (two units at one node) and include isolated nodes
    posts = rng.choice(np.concatenate([rng.integers(0, n, 20), cut[:3]]), n_units)
    old_posts = rng.integers(0, n, int(rng.integers(0, 30)))
    effect = (np.full(n_units, 0.4) if same_effect else rng.random(n_units))
    presence, memory = rng.random(n) * 5, rng.random(n) * 2
    decay_risk, decay_arrest = 0.8, 0.99
    want_presence, want_memory = presence.copy(), memory.copy()
    old_police_exposure(want_presence, want_memory, posts, effect, sight, decay_risk,
                        decay_arrest)
    posts_at = np.bincount(old_posts, minlength=n).astype(np.int64)
    police_exposure(Posting(posts, old_posts, I64, effect, I64),
                    presence_of(sight, arrest, posts_at), fields_of(n, presence=presence,
                                                                    memory=memory),
                    PoliceParams(0.0, 0.0, decay_risk, decay_arrest, 0.25))
    assert np.array_equal(presence, want_presence)
    assert np.array_equal(memory, want_memory)
    assert np.array_equal(posts_at, np.bincount(posts, minlength=n))
    # coverage asked of the posts equals the old per-node tables (and Ball.spread)
    every = np.arange(n, dtype=np.int64)
    for ball in (arrest, sight):
        cover = old_cover(ball, posts, n)
        assert np.array_equal(cover, ball.spread(posts, 1.0, n))
        assert np.array_equal(cover_at(every, ball, posts_at), cover)
        for node in rng.choice(n, 25):
            count = posts_within(node, ball.indptr, ball.indices, posts_at, False)
            seen = posts_within(node, ball.indptr, ball.indices, posts_at, True)
            assert count == cover[node] and seen == (cover[node] > 0)
    if isolated:
        assert not cover_at(cut, sight, posts_at).any()


def cover_at(nodes: np.ndarray, ball: Ball, posts_at: np.ndarray) -> np.ndarray:
    """Units posted within the ball of each of ``nodes`` (`police.posts_within`)."""
    return np.array([posts_within(int(v), ball.indptr, ball.indices, posts_at, False)
                     for v in nodes], dtype=float)


# ============================================================================ selections


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [0, 1, 50])
def test_where_equal_due_and_active_on_shift(seed: int, n: int):
    rng = np.random.default_rng(seed)
    status = rng.integers(0, 5, n).astype(np.int8)
    when = rng.integers(0, 10, n).astype(np.int64)
    on_shift = rng.random(n) < 0.5
    for value, t in ((codes.TREATMENT, 5), (codes.IDLE, -1), (codes.SEARCHING, 10)):
        got = us.where_equal_due(status, value, when, t)
        assert got.dtype == np.int64
        assert np.array_equal(got, ((status == value) & (when <= t)).nonzero()[0])
    got = dl.where_active_on_shift(status, on_shift)
    assert np.array_equal(got, ((status == codes.ACTIVE) & on_shift).nonzero()[0])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n_users", [0, 1, 300])
@pytest.mark.parametrize("n_units", [0, 12])
def test_scan_users(model, seed, n_users, n_units):
    rng = np.random.default_rng(seed)
    n, t = model.smap.n_nodes, 20
    sight = isolate(model.world.balls.sight, rng.choice(n, 40, replace=False))
    want = random_users(rng, n_users, n, t)
    posts = rng.integers(0, n, n_units)
    posts_at = np.bincount(posts, minlength=n).astype(np.int64)
    got = copy_state(want)
    in_sight = old_cover(sight, posts, n) > 0
    if n_users > 1 and n_units:  # police in sight send lingering users home early
        assert ((want.status == codes.LINGERING) & (want.until > t) & in_sight[want.node]).any()
    cand_want, arr_want = old_scan_users(t, want, in_sight)
    cand, arr = us.scan_users(t, got, presence_of(sight, model.world.balls.arrest, posts_at))
    assert np.array_equal(cand, cand_want) and np.array_equal(arr, arr_want)
    assert_same_state(got, want)


# ============================================================================ purchases


def purchase_case(model, seed: int, n_users: int, n_sellers: int, ties: bool):
    """Random users arriving at nodes of the synthetic city, sellers bunched at a few sites
    (several per site), police posts, and the draws `_purchases` makes."""
    rng = np.random.default_rng(seed)
    n, t = model.smap.n_nodes, 30
    u = random_users(rng, n_users, n, t)
    arr = subset(rng, n_users, 0.6)
    selling = np.sort(rng.choice(200, n_sellers, replace=False)).astype(np.int64)
    seller_nodes = rng.choice(rng.integers(0, n, 15), n_sellers).astype(np.int64)
    posts = rng.integers(0, n, 10)
    width = model.world.balls.purchase.padded.shape[1]
    # quantised noise: several sites tie (the first of them wins)
    noise = (rng.integers(0, 2, (len(arr), width)) * 0.5 if ties
             else rng.random((len(arr), width)))
    fields = (rng.random(n) * 4, rng.random(n), rng.random(n + 1) * 9)
    return rng, t, u, arr, selling, seller_nodes, posts, noise, fields


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("n_users", "n_sellers"), [(0, 5), (200, 0), (200, 1), (200, 40)])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("avoid_police", [True, False])
def test_busiest_sites_and_purchases(model, seed, n_users, n_sellers, ties, avoid_police):
    rng, t, u, arr, selling, seller_nodes, posts, noise, fields = purchase_case(
        model, seed, n_users, n_sellers, ties)
    n = model.smap.n_nodes
    cut = rng.choice(n, 25, replace=False)
    balls = model.world.balls
    purchase, arrest = isolate(balls.purchase, cut), isolate(balls.arrest, cut)
    u.node[arr[-3:]] = cut[:len(arr[-3:])]  # searchers at nodes with an empty ball
    posts_at = np.bincount(posts, minlength=n).astype(np.int64)
    scratch = np.zeros(n + 1, np.int64)
    scratch[n] = -1
    origins = u.node[arr]
    site, count, ok = us.busiest_sites(origins, purchase.padded, seller_nodes, scratch, noise,
                                       avoid_police, presence_of(balls.sight, arrest, posts_at))
    want = old_busiest(origins, purchase.padded, seller_nodes, noise,
                       old_cover(arrest, posts, n), avoid_police)
    for got_a, want_a in zip((site, count, ok), want, strict=True):
        assert np.array_equal(got_a, want_a)
    assert not scratch[:n].any() and scratch[n] == -1  # scratch left as found
    if n_sellers == 0:
        assert not ok.any()
    if n_users and n_sellers > 1:  # some buy, some find no seller
        assert ok.any() and not ok.all()
    # the purchases that follow, given the same draws and room mask
    buyers, sites, failed = arr[ok], site[ok], arr[~ok]
    u_seller, u_public = rng.random(len(buyers)), rng.random(len(buyers))
    for in_room, nuisance in ((None, None), (rng.random(len(buyers)) < 0.3, rng.random(n))):
        got_u, want_u = copy_state(u), copy_state(u)
        got_f, want_f = [f.copy() for f in fields], [f.copy() for f in fields]
        padded = balls.market.padded
        want_out = old_purchases(t, buyers, sites, count[ok], failed, u_seller, u_public, 0.5,
                                 nuisance, in_room, selling, seller_nodes, *want_f, padded, 0.7,
                                 0.3, want_u, 2, 12)
        params = model.user_params._replace(public_use_prob=0.5, sales_weight=0.7,
                                            unserved_weight=0.3, linger_steps=2,
                                            min_gap_steps=12)
        got_out = us.purchases(t, got_u, buyers, sites, count[ok], (u_seller, u_public),
                               NONE_F if nuisance is None else nuisance,
                               NONE_B if in_room is None else in_room, failed,
                               (selling, seller_nodes), fields_of(n, *got_f), padded, params)
        for got_a, want_a in zip(got_out, want_out, strict=True):
            assert np.array_equal(got_a, want_a)
        for got_a, want_a in zip(got_f, want_f, strict=True):
            assert np.array_equal(got_a, want_a)
        assert_same_state(got_u, want_u)
        if len(buyers):
            assert np.isin(got_out[0], selling).all()
            assert np.array_equal(seller_nodes[np.searchsorted(selling, got_out[0])], sites)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("n_start", "n_failed"), [(0, 0), (0, 5), (8, 0), (40, 30)])
def test_set_out(model, seed, n_start, n_failed):
    rng = np.random.default_rng(seed)
    smap, n, t = model.smap, model.smap.n_nodes, 40
    want = random_users(rng, 200, n, t)
    who = rng.permutation(200)
    start, failed = np.sort(who[:n_start]), np.sort(who[n_start:n_start + n_failed])
    want.status[start], want.status[failed] = codes.IDLE, codes.SEARCHING  # as in the model
    failed_at = rng.integers(0, n, n_failed).astype(np.int64)
    fresh = (want.known[start] < 0) | (rng.random(n_start) >= 0.7)
    picks = rng.integers(-1, n, int(fresh.sum()) + n_failed).astype(np.int64)
    picks[rng.random(len(picks)) < 0.2] = -1  # no market in reach
    # speeds chosen so that walking and transit trips both occur on the small city
    walk, transit, above, circuity = 300.0, 900.0, 600.0, float(smap.circuity)
    got = copy_state(want)
    old_set_out(t, start, fresh, picks, failed, failed_at, want, 4, 8, xy128(smap), circuity,
                walk, transit, above)
    params = model.user_params._replace(max_attempts=4, retry_steps=8, walk_m=walk,
                                        transit_m=transit, transit_above_m=above)
    us.set_out(t, got, start, fresh, picks, failed, failed_at,
               model.user_world._replace(circuity=circuity), params)
    assert_same_state(got, want)
    if n_failed > 5:  # some failed searchers go on, some give up
        assert ((got.status[failed] == codes.SEARCHING).any()
                and (got.status[failed] == codes.IDLE).any())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("n_origins", "n_markets", "radius"),
                         [(0, 10, 2500.0), (30, 0, 2500.0), (50, 20, 2500.0), (50, 20, 300.0),
                          (20, 20, 0.5), (1, 1, 2500.0)])
@pytest.mark.parametrize("exclude", [None, "mask"])
def test_pick_markets(model, seed, n_origins, n_markets, radius, exclude):
    rng = np.random.default_rng(seed)
    smap, n = model.smap, model.smap.n_nodes
    markets = rng.choice(n, n_markets, replace=False).astype(np.int64)
    strength = rng.exponential(3.0, n_markets)
    strength[rng.random(n_markets) < 0.2] = 0.0
    origins = rng.integers(0, n, n_origins).astype(np.int64)
    origins[: n_origins // 3] = rng.choice(markets, n_origins // 3) if n_markets else 0
    mask = rng.random(n_origins) < 0.5 if exclude else None
    xy32 = node_xy32(smap)  # the kernel's coordinates are the old ones
    assert np.array_equal(xy32[0], xy64(smap).real)
    assert np.array_equal(xy32[1], xy64(smap).imag)
    got = choose_markets(xy32, origins, markets, strength, radius, np.random.default_rng(seed),
                         exclude_origin=mask)
    want = old_pick_markets(xy64(smap), origins, markets, strength, radius,
                            np.random.default_rng(seed),
                            exclude_origin=False if mask is None else mask)
    assert got.dtype == np.int64 and np.array_equal(got, want)


# ============================================================================ dealers


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("size", [0, 1, 2, 30, 200])
@pytest.mark.parametrize("n_crews", [1, 3, 12])
def test_contested_cells(seed, size, n_crews):
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, max(size // 3, 1), size).astype(np.int64)
    crews = rng.integers(0, n_crews, size).astype(np.int32)
    got = contested_cells(cells, crews, n_crews)
    want = old_contested_cells(cells, crews, n_crews)
    for got_a, want_a in zip(got, want, strict=True):
        assert got_a.dtype == np.int64 and np.array_equal(got_a, want_a)
    if n_crews == 1:
        assert len(got[0]) == 0


DECIDE_CASES = {  # variations of the model's state and settings around _decide
    "as is": {},
    "no markets": {"markets": False},
    "risky, security by design": {"risky": True, "sbd": True},
    "no noise (ties)": {"noise": 0.0},
    "empty awareness balls, mates away": {"isolate": True, "mates_away": True},
    "nobody decides": {"who": 0},
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("case", list(DECIDE_CASES))
def test_decide_sites(model, seed, case):
    opts = DECIDE_CASES[case]
    rng = np.random.default_rng(seed + 100)
    smap, n = model.smap, model.smap.n_nodes
    d = copy_state(model.dealers)
    beh = model.cfg.behaviour.dealers
    if "noise" in opts:
        beh = dataclasses.replace(beh, choice_noise=opts["noise"])
    aware, market = model.world.balls.aware, model.world.balls.market
    if opts.get("isolate"):  # some sellers and crew homes have no site in their awareness
        cut = np.concatenate([rng.choice(n, 30, replace=False), d.crew_home[::2]])
        aware = isolate(aware, cut)
        d.node[: d.n // 3] = rng.choice(cut, d.n // 3)
    if opts.get("mates_away"):
        d.status[rng.random(d.n) < 0.4] = codes.LYING_LOW
    selling = np.flatnonzero(d.status == codes.ACTIVE).astype(np.int64)
    who = selling[rng.random(len(selling)) < 0.7][: opts.get("who")]
    markets = model.markets.nodes if opts.get("markets", True) else I64
    f = model.world.fields
    presence, memory = f.presence.copy(), f.arrest_memory.copy()
    if opts.get("risky"):
        presence += rng.exponential(15.0, n)
    sbd = rng.random(n) * 0.8 if opts.get("sbd") else None
    assert len(markets) or not opts.get("markets", True)
    args = (d, who, selling, aware, market, markets, smap, beh, f.demand_near,
            model.world.footfall_pull, presence, memory, sbd)
    want = old_decide(*args[:10], presence + memory, sbd, np.random.default_rng(seed))
    got, head = kernel_decide(model, *args, np.random.default_rng(seed))
    for name, got_a, want_a in zip(("site", "moved", "lie low"), got, want, strict=True):
        assert np.array_equal(got_a, want_a), name
    assert (head == 0).all()  # the scratch table is left clean
    if opts.get("risky"):  # the case is not vacuous: dealers leave or lie low
        assert got[1].any() or got[2].any()


def kernel_decide(model, d, who, selling, aware, market, markets, smap, beh, demand_near,
                  footfall_pull, presence, memory, sbd, rng):
    """The draws of the dealers' phase, then `dealers.decide_sites` with the model's
    arguments. Returns the kernel's results and its scratch table."""
    p = model.dealer_params._replace(choice_noise=float(beh.choice_noise))
    n_who, k_rand = len(who), p.k_rand
    u_mate = rng.random(n_who)
    u_sample = rng.random(k_rand * n_who)
    noise = rng.gumbel(size=(n_who, dl.FIXED_CANDIDATES + k_rand))
    x32, y32 = node_xy32(smap)
    head = np.zeros(smap.n_nodes, np.int64)
    search = dl.SiteSearch(x32, y32, np.float32(aware.radius_m), aware.indptr, aware.indices,
                           market.indptr, market.indices, float(market.radius_m), head, smap.x,
                           smap.y, float(smap.circuity), footfall_pull)
    fields = fields_of(smap.n_nodes, demand_near=demand_near, presence=presence, memory=memory)
    return dl.decide_sites(who, d, dl.crew_index(d), markets, search,
                           dl.SiteDraws(u_mate, SITE_KEY, SITE_T, u_sample, noise),
                           (d.node[selling], d.crew[selling]), fields,
                           NONE_F if sbd is None else sbd, p), head


# ============================================================================ whole model


def test_compiled_step_loop_is_reproducible(model):
    """Two runs of a week with one seed, police making Koper stops at the hotspots,
    agree on every region metric and on the final state."""
    overrides = ("weeks=1", "seed=11", "scenario=koper", "scenario.intervention_week=0")
    runs = []
    for _ in range(2):
        m = BrusselsMarketModel(synthetic_config(*overrides), smap=model.smap)
        m.run()
        runs.append(m)
    a, b = runs
    metrics = a.region_metrics()
    pd.testing.assert_frame_equal(metrics, b.region_metrics(), check_exact=True)
    assert metrics["transactions"].sum() > 0 and metrics["arrests"].sum() > 0
    assert_same_state(a.users, b.users)
    assert_same_state(a.dealers, b.dealers)
    assert np.array_equal(a.world.fields.presence, b.world.fields.presence)
    assert np.array_equal(a.sales, b.sales)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [0, 1, 2, 9, 300, 2000])
def test_sorting_helpers_match_numpy(seed: int, n: int):
    from brusim.model.sorting import left_position, sorted_ints

    rng = np.random.default_rng(seed)
    values = rng.integers(-50, 50 if n < 100 else 10**9, n).astype(np.int32)
    got = sorted_ints(values)
    assert got.dtype == np.int64 and np.array_equal(got, np.sort(values))
    for v in list(rng.integers(-60, 60, 20)) + [int(x) for x in values[:5]]:
        assert left_position(got, v) == np.searchsorted(got, v)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [0, 1, 2, 15, 16, 17, 33, 300, 2000])
def test_stable_argsort_matches_numpy_with_ties(seed: int, n: int):
    from brusim.model.sorting import stable_argsort

    rng = np.random.default_rng(seed)
    for values in (rng.random(n), np.round(rng.random(n), 1), rng.integers(0, 4, n)):
        got = stable_argsort(values)
        assert got.dtype == np.int64
        assert np.array_equal(got, np.argsort(values, kind="stable"))
