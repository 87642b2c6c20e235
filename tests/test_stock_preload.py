"""The spin-up's pre-loading of the users' slow stocks (`brusim.model.users.preload_stocks`):
treatment and recovered set to the steady state of a measured entry rate (Little's law)."""

from __future__ import annotations

import numpy as np
import pytest

from brusim.model import rng as rd
from brusim.model.codes import IDLE, RECOVERED, SEARCHING, TREATMENT
from brusim.model.users import UserState, preload_stocks


def users(n: int, treat: int = 0, recov: int = 0, searching: int = 0) -> UserState:
    status = np.full(n, IDLE, np.int8)
    status[:treat] = TREATMENT
    status[treat:treat + recov] = RECOVERED
    status[treat + recov:treat + recov + searching] = SEARCHING
    home = np.arange(n, dtype=np.int64)
    z = np.zeros(n, np.int64)
    return UserState(status, home, home + 1000, home.copy(), z.copy(), np.zeros(n, np.int32),
                     np.full(n, -1, np.int64), z.copy(), np.full(n, 7, np.int64),
                     np.full(n, -1, np.int64))


def test_stocks_reach_littles_law_steady_state() -> None:
    u = users(2000, treat=50, recov=100, searching=30)
    key = rd.stream_key(0)
    # 18.5 entries a week among 1,850 active users: c = 0.01 per user-week
    got = preload_stocks(96, key, u, 18.5, 8.0, 0.6, 52.0, 672)
    c = 18.5 / 1850
    active = 2000 / (1 + c * (8 + 0.4 * 52))
    assert got.treatment == (50, round(c * active * 8))
    assert got.recovered == (100, round(c * active * 0.4 * 52))
    assert (u.status == TREATMENT).sum() == got.treatment[1]
    assert (u.status == RECOVERED).sum() == got.recovered[1]
    # in steady state the flows balance: entries = treatment / Tw, and (1 - relapse) entries =
    # recovered / Rw, with entries = c × active
    a = 2000 - got.treatment[1] - got.recovered[1]
    assert c * a == pytest.approx(got.treatment[1] / 8, rel=0.02)
    assert 0.4 * c * a == pytest.approx(got.recovered[1] / 52, rel=0.02)
    moved = np.flatnonzero(u.node != np.arange(2000) + 1000)
    assert (u.status[moved] != IDLE).all() and (u.node[moved] == u.home[moved]).all()
    assert (u.status[150:180] == SEARCHING).all()  # only idle users are moved
    # remaining times: exponential with the stocks' means (memoryless), all in the future
    new_t = (u.status == TREATMENT) & (np.arange(2000) >= 50)
    new_r = (u.status == RECOVERED) & (np.arange(2000) >= 150)
    assert (u.until[new_t | new_r] > 96).all()
    assert np.mean(u.until[new_t] - 96) / 672 == pytest.approx(8.0, rel=0.25)
    assert np.mean(u.until[new_r] - 96) / 672 == pytest.approx(52.0, rel=0.2)


def test_preload_is_keyed_and_leaves_full_stocks_alone() -> None:
    a, b = users(500), users(500)
    key = rd.stream_key(3)
    preload_stocks(10, key, a, 5.0, 8.0, 0.6, 52.0, 672)
    preload_stocks(10, key, b, 5.0, 8.0, 0.6, 52.0, 672)
    assert np.array_equal(a.status, b.status) and np.array_equal(a.until, b.until)
    c = users(500, treat=200, recov=300)  # both above any steady state of 5 entries a week
    got = preload_stocks(10, key, c, 5.0, 8.0, 0.6, 52.0, 672)
    assert got.treatment == (200, 200) and got.recovered == (300, 300)


def test_recoveries_for_good_have_no_steady_state() -> None:
    u = users(1000)
    got = preload_stocks(10, rd.stream_key(1), u, 10.0, 8.0, 0.6, None, 672)
    assert got.recovered == (0, 0) and got.treatment[1] > 0
    none = preload_stocks(10, rd.stream_key(1), users(1000), 0.0, 8.0, 0.6, 52.0, 672)
    assert none.treatment == (0, 0) and none.recovered == (0, 0)
