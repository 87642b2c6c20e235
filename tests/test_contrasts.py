"""Paired contrasts (brusim.analysis.contrasts): the numbers, recomputed by hand, and the range
rules of issue 21 (no relative change below -100%, small bases shown as counts)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from brusim.analysis.contrasts import (
    DECREASE,
    INCREASE,
    UNDECIDED,
    paired_contrast,
)
from brusim.calibration import patterns as pt


def test_contrast_numbers_recomputed_by_hand():
    s = np.array([80.0, 120.0, 90.0, 110.0])
    b = np.array([100.0, 150.0, 120.0, 130.0])
    c = paired_contrast(s, b)
    assert c.n == 4
    assert c.baseline == pytest.approx(125.0) and c.scenario == pytest.approx(100.0)
    assert c.difference == pytest.approx(-25.0)
    t = stats.t.ppf(0.975, 3)
    d = s - b
    half = t * d.std(ddof=1) / 2.0
    assert (c.difference_lo, c.difference_hi) == pytest.approx((-25.0 - half, -25.0 + half))
    assert c.ratio == pytest.approx(400.0 / 500.0)
    se = (s / 100.0 - b / 125.0).std(ddof=1) / 2.0
    assert c.ratio_lo == pytest.approx(0.8 * math.exp(-t * se))
    assert c.ratio_hi == pytest.approx(0.8 * math.exp(t * se))
    assert c.relative == pytest.approx(-0.2)
    assert c.verdict == DECREASE and not c.small_base
    assert c.text().startswith("-20% [")


def test_identical_arms_give_no_change_and_no_verdict():
    b = np.array([10.0, 500.0, 73.0])
    c = paired_contrast(b, b)
    assert c.difference == 0 and c.difference_lo == 0 and c.difference_hi == 0
    assert c.ratio == 1 and c.ratio_lo == 1 and c.ratio_hi == 1
    assert c.verdict == UNDECIDED


def test_relative_intervals_never_fall_below_minus_100_percent():
    """The old method (a t interval on per-seed relative changes) gives impossible bounds on
    widely spread counts; the log-scale interval of the ratio of sums cannot."""
    rng = np.random.default_rng(7)
    old_impossible = 0
    for _ in range(300):
        n = int(rng.integers(2, 12))
        b = rng.integers(1, 400, size=n).astype(float)
        s = rng.integers(0, 400, size=n).astype(float) * rng.integers(0, 2, size=n)
        c = paired_contrast(s, b)
        assert c.ratio_lo >= 0.0 and c.relative_lo >= -1.0
        assert c.ratio_lo <= c.ratio <= c.ratio_hi
        old = pt.make_check("p", "x", pt.CheckSpec("t", pt.Band(None, None)), s / b - 1.0)
        old_impossible += old.ci_lo < -1.0
    assert old_impossible > 0  # the old interval would have failed this test


def test_small_base_is_shown_as_counts():
    c = paired_contrast([40.0, 35.0, 52.0], [2.0, 0.0, 1.0])
    assert c.small_base
    assert c.text().startswith("from about 1 to 42")
    assert "%" not in c.text()


def test_zero_baseline_has_no_ratio_and_zero_scenario_has_ratio_zero():
    c = paired_contrast([3.0, 4.0, 3.5], [0.0, 0.0, 0.0])
    assert math.isnan(c.ratio) and c.verdict == INCREASE
    gone = paired_contrast([0.0, 0.0, 0.0], [300.0, 250.0, 280.0])
    assert gone.ratio == 0 and gone.ratio_lo == 0 and gone.ratio_hi == 0
    assert gone.verdict == DECREASE


def test_verdict_needs_both_intervals():
    # one seed drives a large fall: the difference excludes 0 only if the spread is small
    c = paired_contrast([100.0, 101.0, 99.0, 100.0], [110.0, 111.0, 109.0, 110.0])
    assert c.verdict == DECREASE and c.ratio_hi < 1
    noisy = paired_contrast([50.0, 200.0, 90.0, 160.0], [120.0, 100.0, 150.0, 110.0])
    assert noisy.verdict == UNDECIDED


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="differ in length"):
        paired_contrast([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="cannot be negative"):
        paired_contrast([-1.0, 2.0], [1.0, 2.0])
    empty = paired_contrast([math.nan], [1.0])
    assert empty.n == 0 and empty.verdict == UNDECIDED


def test_contrast_check_is_judged_on_the_ratio_of_sums():
    import pandas as pd

    spec = pt.CheckSpec("fall by >= 20%", pt.Band(-1.0, -0.2))
    s = pd.Series([10.0, 5.0, 20.0, 0.0], index=[0, 1, 2, 3])
    b = pd.Series([100.0, 90.0, 110.0, 95.0], index=[0, 1, 2, 3])
    chk = pt.contrast_check("midi_plan", "target_change", spec, s, b)
    assert chk.value == pytest.approx(35.0 / 395.0 - 1.0)
    assert chk.ci_lo >= -1.0 and chk.passed and chk.estimate_in_band
    # a seed only in one arm is left out
    chk2 = pt.contrast_check("midi_plan", "target_change", spec, s, b.drop(3))
    assert chk2.n == 3


def test_level_interval_and_weekly_bands_never_dip_below_zero():
    import pandas as pd

    from brusim.analysis.compare_figures import weekly_band
    from brusim.analysis.contrasts import level_interval

    m, lo, hi = level_interval([0.0, 0.0, 30.0])  # a t interval would reach -33
    assert m == pytest.approx(10.0) and 0.0 < lo < m < hi
    t = stats.t.ppf(0.975, 2)
    assert lo == pytest.approx(10.0 * math.exp(-t * np.std([0, 0, 30], ddof=1) / (10 * 3**0.5)))
    assert level_interval([0.0, 0.0]) == (0.0, 0.0, 0.0)
    weekly = pd.DataFrame({"week": [0, 0, 0, 1, 1, 1, 2], "transactions":
                           [0.0, 1.0, 40.0, 0.0, 0.0, 0.0, 5.0]})
    band = weekly_band(weekly, "transactions")
    assert (band["lo"] >= 0).all() and (band["lo"] <= band["mean"]).all()
    assert band.loc[1].tolist() == [0.0, 0.0, 0.0]
    assert band.loc[2].tolist() == [5.0, 5.0, 5.0]  # one seed: the mean, no band


def test_the_difference_interval_never_implies_a_negative_count():
    # one event a seed in business as usual; the scenario removes it in three seeds, adds 3 in one
    c = paired_contrast([0, 0, 0, 4], [1, 1, 1, 1])
    half = stats.t.ppf(0.975, 3) * np.std([-1, -1, -1, 3], ddof=1) / 2
    assert c.difference == 0.0 and c.difference_hi == pytest.approx(half)
    assert c.difference_lo == -1.0  # not -half (-3.2): fewer than no events is impossible
    assert c.small_base
