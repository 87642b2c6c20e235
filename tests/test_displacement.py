"""Hand-computed checks for brusim.analysis.displacement."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from brusim.analysis.displacement import (
    concentration_share,
    interpret_wdq,
    mean_ci,
    paired_difference_ci,
    total_net_effect,
    wdd,
    wdd_p_value,
    wdd_z,
    wdq,
    wdq_target_change,
)

# Any divide-by-zero / invalid-value warning means a zero denominator was not guarded.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


# ------------------------------------------------------------------------------------ WDQ


def test_wdq_displacement_larger_than_gain() -> None:
    # Rb=100 Ra=60 Db=50 Da=70 Cb=500 Ca=400
    # numerator   = 70/400 - 50/500 = 0.175 - 0.100 = 0.075
    # denominator = 60/400 - 100/500 = 0.150 - 0.200 = -0.050
    # WDQ = 0.075 / -0.05 = -1.5
    value = wdq(100, 60, 50, 70, 500, 400)
    assert isinstance(value, float)
    assert value == pytest.approx(-1.5)
    change = wdq_target_change(100, 60, 500, 400)
    assert change == pytest.approx(-0.05)
    assert interpret_wdq(value, change) == "displacement_larger_than_gain"


def test_wdq_displacement_smaller_than_gain() -> None:
    # Cb=Ca=1000: numerator = (70-50)/1000 = 0.02; denominator = (60-100)/1000 = -0.04
    # WDQ = 0.02 / -0.04 = -0.5
    value = wdq(100, 60, 50, 70, 1000, 1000)
    assert value == pytest.approx(-0.5)
    assert interpret_wdq(value, wdq_target_change(100, 60, 1000, 1000)) == (
        "displacement_smaller_than_gain"
    )


def test_wdq_diffusion() -> None:
    # Rb=100 Ra=60 Db=50 Da=30 Cb=500 Ca=400
    # numerator   = 30/400 - 50/500 = 0.075 - 0.100 = -0.025
    # denominator = 60/400 - 100/500 = -0.05
    # WDQ = -0.025 / -0.05 = +0.5  (buffer improved too: diffusion of benefits)
    value = wdq(100, 60, 50, 30, 500, 400)
    assert value == pytest.approx(0.5)
    assert interpret_wdq(value, -0.05) == "diffusion"


def test_wdq_diffusion_larger_than_gain() -> None:
    # Cb=Ca=1000: numerator = (10-50)/1000 = -0.04; denominator = (80-100)/1000 = -0.02
    # WDQ = -0.04 / -0.02 = 2.0
    value = wdq(100, 80, 50, 10, 1000, 1000)
    assert value == pytest.approx(2.0)
    assert interpret_wdq(value) == "diffusion_larger_than_gain"


@pytest.mark.parametrize(
    ("value", "change", "key"),
    [
        (1.0, None, "diffusion"),
        (0.0, None, "displacement_smaller_than_gain"),
        (-1.0, None, "displacement_smaller_than_gain"),
        (-1.0001, None, "displacement_larger_than_gain"),
        (1.0001, None, "diffusion_larger_than_gain"),
        (0.5, 0.0, "no_target_gain"),
        (0.5, 0.01, "no_target_gain"),
        (math.nan, None, "undefined"),
        (math.inf, None, "undefined"),
        (0.5, math.nan, "undefined"),
    ],
)
def test_interpret_wdq_boundaries(value: float, change: float | None, key: str) -> None:
    assert interpret_wdq(value, change) == key


@pytest.mark.parametrize(
    "args",
    [
        (100, 60, 50, 70, 0, 400),  # Cb = 0
        (100, 60, 50, 70, 500, 0),  # Ca = 0
        (100, 60, 50, 70, 0, 0),  # both zero
    ],
)
def test_wdq_zero_control_is_nan(args: tuple[int, ...]) -> None:
    assert math.isnan(wdq(*args))


def test_wdq_zero_denominator_is_nan() -> None:
    # denominator = 80/400 - 100/500 = 0.2 - 0.2 = 0
    assert math.isnan(wdq(100, 80, 50, 70, 500, 400))
    # target 0 -> 0 with any control: denominator 0
    assert math.isnan(wdq(0, 0, 5, 7, 10, 10))
    # rates equal only up to rounding: 0.3 * 10 / 10 vs 3 / 10
    assert math.isnan(wdq(3, 0.1 + 0.2, 1, 2, 10, 1))


# ------------------------------------------------------------------------------------ TNE


def test_total_net_effect_by_hand() -> None:
    # Ca/Cb = 400/500 = 0.8
    # target: 100*0.8 - 60 = 80 - 60 = 20 prevented
    # buffer:  50*0.8 - 70 = 40 - 70 = -30 (displaced)
    # TNE = 20 - 30 = -10
    assert total_net_effect(100, 60, 50, 70, 500, 400) == pytest.approx(-10.0)
    # Cb=Ca=1000: (100-60) + (50-30) = 40 + 20 = 60
    assert total_net_effect(100, 60, 50, 30, 1000, 1000) == pytest.approx(60.0)


def test_total_net_effect_zero_cb_is_nan() -> None:
    assert math.isnan(total_net_effect(100, 60, 50, 70, 0, 400))
    # Ca = 0 is fine: expected after-counts are 0, TNE = (0-60) + (0-70) = -130
    assert total_net_effect(100, 60, 50, 70, 500, 0) == pytest.approx(-130.0)


# ------------------------------------------------------------------------------------ WDD


def test_wdd_separate_controls_by_hand() -> None:
    # dT = 80-100 = -20; dCt = 90-100 = -10; dD = 55-50 = 5; dCd = 58-60 = -2
    # WDD = -20 - (-10) + 5 - (-2) = -3
    # Var = 80+100 + 55+50 + 90+100 + 58+60 = 593
    est, se = wdd(100, 80, 50, 55, 100, 90, 60, 58)
    assert isinstance(est, float)
    assert isinstance(se, float)
    assert est == pytest.approx(-3.0)
    assert se == pytest.approx(math.sqrt(593.0))
    assert se == pytest.approx(24.35159)


def test_wdd_no_displacement_area_blog_example() -> None:
    # Wheeler's worked example: control 100 -> 90, treated 100 -> 80, no buffer areas
    # WDD = (80-100) - (90-100) = -10; Var = 100+80+100+90 = 370; SE = 19.235...
    est, se = wdd(100, 80, 0, 0, 100, 90, 0, 0)
    assert est == pytest.approx(-10.0)
    assert se == pytest.approx(19.235384, rel=1e-6)
    # z = -10 / 19.235384 = -0.519875
    z = wdd_z(est, se)
    assert z == pytest.approx(-0.519875, rel=1e-5)
    # two-sided p = erfc(|z| / sqrt(2)) = 0.60314...
    assert wdd_p_value(est, se) == pytest.approx(math.erfc(0.519875 / math.sqrt(2)), rel=1e-5)
    assert wdd_p_value(est, se) == pytest.approx(0.60314, abs=1e-4)


def test_wdd_shared_control_counts_control_variance_four_times() -> None:
    # same control C (100 -> 90) for target and buffer:
    # WDD = dT + dD - 2 dC = -20 + 5 - 2*(-10) = 5
    # Var = 80+100 + 55+50 + 4*(90+100) = 285 + 760 = 1045
    est, se = wdd(100, 80, 50, 55, 100, 90)
    assert est == pytest.approx(5.0)
    assert se == pytest.approx(math.sqrt(1045.0))
    # passing the counts explicitly as a separate control area: Var = 285 + 2*190 = 665
    est2, se2 = wdd(100, 80, 50, 55, 100, 90, 100, 90)
    assert est2 == pytest.approx(5.0)
    assert se2 == pytest.approx(math.sqrt(665.0))


def test_wdd_requires_both_cd_counts() -> None:
    with pytest.raises(ValueError):
        wdd(1, 2, 3, 4, 5, 6, cd_b=7)


def test_zero_counts_finite_or_nan_never_inf() -> None:
    est, se = wdd(0, 0, 0, 0, 0, 0, 0, 0)
    assert est == 0.0
    assert se == 0.0
    assert math.isnan(wdd_z(est, se))
    assert math.isnan(wdd_p_value(est, se))
    assert math.isnan(wdd_z(5.0, 0.0))  # would be inf without the guard
    values = [
        wdq(0, 0, 0, 0, 0, 0),
        wdq(5, 0, 0, 0, 0, 3),
        wdq(5, 0, 3, 0, 3, 0),
        wdq_target_change(1, 1, 0, 0),
        total_net_effect(0, 0, 0, 0, 0, 0),
        total_net_effect(3, 0, 0, 4, 0, 5),
        wdd(0, 5, 0, 0, 0, 0)[0],
        wdd(0, 5, 0, 0, 0, 0)[1],
    ]
    for v in values:
        assert not math.isinf(v)
    # the all-zero-target case wdd(0, 5, ...) is finite: WDD = 5, SE = sqrt(5)
    assert wdd(0, 5, 0, 0, 0, 0) == pytest.approx((5.0, math.sqrt(5.0)))


# ------------------------------------------------------------------------------ vectorised

CASES = np.array(
    [
        # r_b, r_a, d_b, d_a, c_b, c_a
        [100, 60, 50, 70, 500, 400],
        [100, 60, 50, 30, 500, 400],
        [100, 80, 50, 70, 500, 400],  # zero denominator
        [100, 60, 50, 70, 0, 400],  # zero control
        [0, 0, 0, 0, 0, 0],
        [12, 3, 7, 9, 40, 38],
    ],
    dtype=float,
)


def test_vectorised_matches_scalar() -> None:
    cols = [CASES[:, i] for i in range(6)]
    arr_wdq = wdq(*cols)
    arr_tne = total_net_effect(*cols)
    arr_est, arr_se = wdd(*cols)
    arr_est2, arr_se2 = wdd(*cols, cols[4] + 1, cols[5] + 2)
    arr_z = wdd_z(arr_est, arr_se)
    arr_p = wdd_p_value(arr_est, arr_se)
    assert isinstance(arr_wdq, np.ndarray)
    assert arr_wdq.shape == (len(CASES),)
    for i, row in enumerate(CASES):
        args = tuple(float(v) for v in row)
        np.testing.assert_allclose(arr_wdq[i], wdq(*args), equal_nan=True)
        np.testing.assert_allclose(arr_tne[i], total_net_effect(*args), equal_nan=True)
        est, se = wdd(*args)
        np.testing.assert_allclose([arr_est[i], arr_se[i]], [est, se], equal_nan=True)
        est2, se2 = wdd(*args, args[4] + 1, args[5] + 2)
        np.testing.assert_allclose([arr_est2[i], arr_se2[i]], [est2, se2], equal_nan=True)
        np.testing.assert_allclose(arr_z[i], wdd_z(est, se), equal_nan=True)
        np.testing.assert_allclose(arr_p[i], wdd_p_value(est, se), equal_nan=True)
    assert not np.isinf(arr_wdq).any()
    # hand values for the first rows
    np.testing.assert_allclose(arr_wdq[:2], [-1.5, 0.5])
    assert np.isnan(arr_wdq[2:5]).all()
    np.testing.assert_allclose(arr_tne[0], -10.0)


def test_vectorised_broadcasts_scalar_controls() -> None:
    # one control pair (500, 400) broadcast against three target/buffer rows
    r_a = np.array([60.0, 80.0, 60.0])
    d_a = np.array([70.0, 70.0, 30.0])
    out = wdq(100, r_a, 50, d_a, 500, 400)
    np.testing.assert_allclose(out, [-1.5, np.nan, 0.5], equal_nan=True)


# --------------------------------------------------------------------------- replications


def test_mean_ci_by_hand() -> None:
    # [1, 2, 3]: mean 2, sd 1, se 1/sqrt(3); t(0.975, df=2) = 4.302652729911275
    # half-width = 4.302652729911275 / 1.7320508 = 2.4841377
    mean, lo, hi = mean_ci([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3.0)
    assert half == pytest.approx(2.4841377, rel=1e-7)
    assert mean == pytest.approx(2.0)
    assert lo == pytest.approx(2.0 - half)
    assert hi == pytest.approx(2.0 + half)
    assert hi - mean == pytest.approx(stats.t.ppf(0.975, 2) / math.sqrt(3.0))


def test_mean_ci_ignores_nan_and_small_samples() -> None:
    # [1, nan, 3]: mean 2, sd sqrt(2), se 1; t(0.975, df=1) = 12.706204736174707
    mean, lo, hi = mean_ci([1.0, math.nan, 3.0])
    assert mean == pytest.approx(2.0)
    assert (lo, hi) == pytest.approx((2.0 - 12.706204736174707, 2.0 + 12.706204736174707))
    mean, lo, hi = mean_ci([math.nan, 4.0])
    assert mean == pytest.approx(4.0)
    assert math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in mean_ci([math.nan, math.nan]))
    assert all(math.isnan(v) for v in mean_ci([]))
    with pytest.raises(ValueError):
        mean_ci([1.0, 2.0], level=1.5)


def test_mean_ci_level_90() -> None:
    # t(0.95, df=2) = 2.919985580355516 -> half-width 2.919985580355516 / sqrt(3) = 1.685854
    _, lo, hi = mean_ci([1.0, 2.0, 3.0], level=0.90)
    assert (hi - lo) / 2 == pytest.approx(1.685854, rel=1e-6)


def test_paired_difference_identical_arrays() -> None:
    x = np.array([3.0, 5.0, 8.0, 1.0])
    res = paired_difference_ci(x, x.copy())
    assert res["mean"] == pytest.approx(0.0)
    assert res["lo"] == pytest.approx(0.0)
    assert res["hi"] == pytest.approx(0.0)
    assert res["n"] == 4
    assert res["crosses_zero"] is True


def test_paired_difference_by_hand_drops_nan_pairs() -> None:
    # diffs [1, 1, 2, 2] (5th pair dropped: nan): mean 1.5, sd sqrt(1/3) = 0.577350
    # se = 0.577350 / 2 = 0.288675; t(0.975, 3) = 3.182446305284263; half = 0.918693
    scen = [1.0, 2.0, 3.0, 4.0, math.nan, 9.0]
    base = [0.0, 1.0, 1.0, 2.0, 5.0, math.nan]
    res = paired_difference_ci(scen, base)
    assert res["n"] == 4
    assert res["mean"] == pytest.approx(1.5)
    assert res["lo"] == pytest.approx(1.5 - 0.918693, rel=1e-5)
    assert res["hi"] == pytest.approx(1.5 + 0.918693, rel=1e-5)
    assert res["crosses_zero"] is False


def test_paired_difference_undefined_ci_crosses_zero() -> None:
    res = paired_difference_ci([5.0, math.nan], [1.0, 2.0])
    assert res["n"] == 1
    assert res["mean"] == pytest.approx(4.0)
    assert res["crosses_zero"] is True
    with pytest.raises(ValueError):
        paired_difference_ci([1.0, 2.0], [1.0])


# --------------------------------------------------------------------------- concentration


def test_concentration_share_known_array() -> None:
    counts = np.arange(1, 21, dtype=float)  # 1..20, total = 20*21/2 = 210
    # 5% of 20 units = 1 unit -> 20 / 210
    assert concentration_share(counts) == pytest.approx(20 / 210)
    # 10% -> 2 units -> (20 + 19) / 210 = 39/210
    assert concentration_share(counts, 0.10) == pytest.approx(39 / 210)
    # 12% -> ceil(2.4) = 3 units -> (20 + 19 + 18) / 210 = 57/210
    assert concentration_share(counts[::-1].copy(), 0.12) == pytest.approx(57 / 210)
    # 100% -> everything
    assert concentration_share(counts, 1.0) == pytest.approx(1.0)


def test_concentration_share_edge_cases() -> None:
    # 3 units at 5%: ceil(0.15) = 1 unit (at least 1) -> 6 / (1 + 6 + 3) = 0.6
    assert concentration_share([1, 6, 3]) == pytest.approx(0.6)
    # 0.07 * 100 = 7.000000000000001 in floating point; must still be 7 units
    counts = np.zeros(100)
    counts[:8] = 1.0  # 8 units with one each -> top 7 hold 7/8
    assert concentration_share(counts, 0.07) == pytest.approx(7 / 8)
    assert math.isnan(concentration_share([0, 0, 0]))
    assert math.isnan(concentration_share([]))
    with pytest.raises(ValueError):
        concentration_share([1, 2], top_share=0.0)


# ------------------------------------------------------------- the budget and contrast readings


class Places:
    """A stand-in for the map's hotspots on a straight street: network distance = |x - x_h|,
    catchment = nodes within ``catchment_m``."""

    def __init__(self, ids: tuple[str, ...], at: list[float], x: list[float],
                 catchment_m: float = 400.0) -> None:
        self.ids = ids
        self.dist = np.abs(np.asarray(x, float)[None, :] - np.asarray(at, float)[:, None])
        self.catchment_m = catchment_m

    def __len__(self) -> int:
        return len(self.ids)

    def catchment(self, i: int) -> np.ndarray:
        return np.flatnonzero(self.dist[i] <= self.catchment_m)


STREET = [0, 300, 500, 1100, 1200, 1250, 1700, 1800, 2500, 3400, 5000]
PLACES = Places(("t", "a", "b", "c"), [0, 1500, 1900, 3500], STREET)


def test_partition_by_hand() -> None:
    """Target first, then the buffer, then the nearest hotspot (a tie to the first listed),
    then the rest: every node once."""
    from brusim.analysis.budget import partition

    part = partition(PLACES, 0, 400.0, (400.0, 1200.0))
    assert part.areas == ("t", "buffer", "a", "b", "c", "rest")
    assert part.kinds == ("target", "buffer", "hotspot", "hotspot", "hotspot", "rest")
    # 1100 and 1200 are in a's catchment but in the buffer; 1700 is 200 m from a and from b
    assert list(part.node_areas()) == ["t", "t", "buffer", "buffer", "buffer", "a", "a", "b",
                                       "rest", "c", "rest"]
    gap = partition(PLACES, 0, 400.0, (600.0, 1200.0))  # a node between target and buffer
    assert gap.node_areas()[2] == "rest"
    # nested "of which" rows of the buffer: a's catchment reaches into it (1100, 1200), 500 is
    # in no other catchment; b and c have no buffer nodes, so no rows
    assert part.buffer_areas == ("a",) and part.buffer_rows() == ("buffer/a",)
    assert list(part.members("buffer/a")) == [3, 4]
    assert set(part.members("buffer/a")) <= set(part.members("buffer"))


def test_nested_buffer_rows_count_the_buffers_part_of_a_hotspot() -> None:
    """The nested row of a hotspot is its catchment's part of the buffer, counted from the
    nodes, and it stays out of the sums."""
    from brusim.analysis.budget import area_counts, budget, partition

    part = partition(PLACES, 0, 400.0, (400.0, 1200.0))
    nodes = pd.DataFrame({"scenario": ["base"] * 4 + ["scen"] * 4, "seed": 0,
                          "window": "after", "node": [2, 3, 4, 6] * 2,
                          "count": [5.0, 7.0, 11.0, 13.0, 1.0, 20.0, 30.0, 2.0]})
    counts = area_counts(nodes, part)
    assert counts.loc[("base", 0), "buffer"] == 23 and counts.loc[("base", 0), "buffer/a"] == 18
    assert counts.loc[("scen", 0), "buffer/a"] == 50 and counts.loc[("scen", 0), "a"] == 2
    table = budget(counts, part, "base").set_index("area")
    assert table.loc["buffer/a", "kind"] == "buffer_hotspot"
    assert table.loc["buffer/a", "nodes"] == 2 and table.loc["buffer/a", "difference"] == 32
    parts = table[table["kind"].isin(["target", "buffer", "hotspot", "rest"])]
    assert parts["difference"].sum() == table.loc["region", "difference"] == 53 - 36


def paired_counts(rows: dict[tuple[str, int], list[float]]) -> pd.DataFrame:
    """Area counts (as `budget.area_counts` returns them) from ``{(scenario, seed): counts}``,
    areas t, buffer, far1, far2, rest."""
    table = pd.DataFrame.from_dict(rows, orient="index",
                                   columns=["t", "buffer", "far1", "far2", "rest"])
    table.index = pd.MultiIndex.from_tuples(table.index, names=["scenario", "seed"])
    return table.astype(float)


BY_HAND = paired_counts({("base", 0): [100, 200, 150, 250, 900],
                         ("scen", 0): [60, 230, 180, 200, 950],
                         ("base", 1): [80, 150, 100, 200, 800],
                         ("scen", 1): [50, 190, 130, 200, 780]})


def test_contrast_statistics_by_hand() -> None:
    """Baseline = before, scenario = after; the control (far1 + far2) weighted to the target's
    and the buffer's baseline size in the WDD; its standard error from the seeds."""
    from brusim.analysis.budget import (
        Control,
        Partition,
        displacement_contrast,
        summarise_statistics,
    )

    part = Partition(np.arange(5), ("t", "buffer", "far1", "far2", "rest"),
                     ("target", "buffer", "hotspot", "hotspot", "rest"))
    counts = BY_HAND.assign(control=BY_HAND["far1"] + BY_HAND["far2"])
    control = Control(np.array([2, 3]), ("far1", "far2"), "far_hotspots")
    per_seed = displacement_contrast(counts, part, "base")
    s0 = per_seed.iloc[0]
    assert (s0["r_baseline"], s0["r_scenario"], s0["c_baseline"], s0["c_scenario"]) == (
        100, 60, 400, 380)
    assert s0["wdq"] == pytest.approx((230 / 380 - 200 / 400) / (60 / 380 - 100 / 400))
    assert s0["wdq"] == pytest.approx(-8 / 7)
    assert s0["tne"] == pytest.approx((100 * 380 / 400 - 60) + (200 * 380 / 400 - 230))
    w_r, w_d = 180 / 700, 350 / 700  # sums over seeds: target 180, buffer 350, control 700
    assert s0["weight_target"] == pytest.approx(w_r)
    wdd0 = (60 - 100) - w_r * (380 - 400) + (230 - 200) - w_d * (380 - 400)
    wdd1 = (50 - 80) - w_r * (330 - 300) + (190 - 150) - w_d * (330 - 300)
    assert list(per_seed["wdd"]) == pytest.approx([wdd0, wdd1])
    summary = summarise_statistics(per_seed, counts, "base", control).iloc[0]
    assert summary["wdd"] == pytest.approx((wdd0 + wdd1) / 2)
    assert summary["wdd_se"] == pytest.approx(abs(wdd0 - wdd1) / 2)  # sd / sqrt(2)
    half = stats.t.ppf(0.975, 1) * abs(wdd0 - wdd1) / 2
    assert (summary["wdd_lo"], summary["wdd_hi"]) == pytest.approx(
        ((wdd0 + wdd1) / 2 - half, (wdd0 + wdd1) / 2 + half))
    assert summary["wdq_pooled"] == pytest.approx(
        (420 / 710 - 350 / 700) / (110 / 710 - 180 / 700))
    assert summary["control"] == "far1, far2" and not summary["control_changed"]


def test_budget_rows_add_up_and_the_control_is_far() -> None:
    from brusim.analysis.budget import budget, budget_seeds, choose_control, partition

    part = partition(PLACES, 0, 400.0, (400.0, 1200.0))
    far = choose_control(part, PLACES.dist[0], 1200.0, 3000.0)
    assert (far.areas, far.rule, list(far.nodes)) == (("c",), "far_hotspots", [9])
    assert choose_control(part, PLACES.dist[0], 1200.0, 1600.0).areas == ("b", "c")  # a: 1250
    streets = choose_control(part, PLACES.dist[0], 1200.0, 4000.0)  # only node 5000 is as far
    assert (streets.areas, streets.rule, list(streets.nodes)) == ((), "far_streets", [10])
    small = choose_control(part, PLACES.dist[0], 1200.0, 6000.0)
    assert (small.rule, list(small.nodes)) == ("beyond_buffer", [5, 6, 7, 8, 9, 10])
    counts = paired_counts({("base", 0): [5, 7, 11, 13, 17], ("base", 1): [2, 3, 5, 7, 11],
                            ("scen", 0): [1, 9, 10, 20, 17], ("scen", 1): [0, 6, 5, 9, 12]})
    counts.columns = list(part.areas)[:2] + ["a", "b", "rest"]
    counts = counts.reindex(columns=list(part.areas), fill_value=0.0)
    counts["buffer/a"] = counts["buffer"] - 1  # the buffer's part of a's catchment
    seeds = budget_seeds(counts, part, "base").set_index(["seed", "area"])["difference"]
    for seed in (0, 1):
        diff = seeds.xs(seed, level="seed")
        assert diff[["t", "buffer", "a", "b", "c", "rest"]].sum() == diff["region"]
        assert diff["a"] + diff["b"] + diff["c"] == diff["hotspots"]
    table = budget(counts, part, "base").set_index("area")
    assert table.loc["region", "difference"] == pytest.approx(((57 - 53) + (32 - 28)) / 2)
    assert table.loc["t", "nodes"] == 2 and table.loc["region", "nodes"] == len(STREET)
    assert table.loc["t", "verdict"] == "no clear difference"  # two seeds: -4 and -2
