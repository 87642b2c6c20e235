"""The warm-up rules (`brusim.analysis.warmup`) find a transient's end and say "not settled"
for a series that keeps drifting."""

from __future__ import annotations

import numpy as np
import pandas as pd

from brusim.analysis.warmup import daily_series, drift, mser5, verdict


def noisy(level: np.ndarray, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).poisson(level).astype(float)


def test_mser5_finds_the_end_of_an_initial_transient() -> None:
    days = np.arange(280)
    settled = noisy(np.full(280, 100.0))
    assert mser5(settled) is not None and mser5(settled) <= 30
    transient = noisy(100.0 + 150.0 * np.exp(-days / 12.0))  # settles after ~6 weeks
    cut = mser5(transient)
    assert cut is not None and 25 <= cut <= 90


def test_mser5_says_too_short_for_a_series_that_keeps_drifting() -> None:
    falling = noisy(np.linspace(300.0, 60.0, 280))
    assert mser5(falling) is None
    assert mser5(np.ones(12)) is None  # fewer than four batches: cannot tell


def test_the_drift_rule_holds_from_the_end_of_a_transient_and_never_for_a_trend() -> None:
    weeks = np.arange(40)
    assert drift(700.0 + np.zeros(40)) == 4
    settling = 700.0 * (1.0 + 2.0 * np.exp(-weeks / 3.0))
    start = drift(settling)
    assert start is not None and 8 <= start <= 20
    assert drift(700.0 * (1.0 - 0.02 * weeks)) is None  # -2% a week: never within 5%
    assert drift(np.zeros(40)) == 4  # no dealing at all: settled at zero
    # -0.5% a week (-18% in 40 weeks, as the region-wide series of a 40-week baseline) passes
    # the drift rule; MSER-5 on the daily counts (~2,400 a day) catches it
    slow = 2400.0 * 0.995 ** (np.arange(280) / 7)
    weekly = slow.reshape(40, 7).sum(axis=1)
    assert drift(weekly) == 4
    assert all(mser5(noisy(slow, seed)) is None for seed in range(5))


def test_verdict_reads_area_metrics_and_names_the_series_that_never_settles() -> None:
    days = np.arange(280)
    rows = []
    for area, kind, level in (("region", "region", np.full(280, 1000.0)),
                              ("gare_du_midi", "hotspot", np.linspace(300.0, 60.0, 280)),
                              ("midi", "zone", np.full(280, 5.0))):
        for hour in range(2):  # two recordings a day, summed by day
            rows.append(pd.DataFrame({"day": days, "area_kind": kind, "area": area,
                                      "transactions": noisy(level / 2, seed=hour)}))
    daily = daily_series(pd.concat(rows, ignore_index=True))
    assert list(daily.columns) == ["gare_du_midi", "region"]  # zones are not series
    v = verdict(daily)
    assert v.mser5_days["region"] is not None and v.drift_week["region"] is not None
    assert v.mser5_days["gare_du_midi"] is None and v.drift_week["gare_du_midi"] is None
    assert not v.settled and v.warmup_days is None
