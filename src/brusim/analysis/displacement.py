"""Crime-displacement statistics for before/after comparisons of areas.

Notation (Bowers & Johnson 2003; Wheeler & Ratcliffe 2018):

* ``R`` target (treated) area, ``D`` buffer / displacement area, ``C`` control area;
* suffix ``_b`` = count in the *before* window, ``_a`` = count in the *after* window.

All area statistics accept Python scalars or numpy arrays (broadcast against each other).
Scalar inputs give Python ``float`` results, array inputs give ``float64`` arrays. Undefined
values (zero control counts, zero denominators) are returned as ``nan``; these functions never
return ``inf`` and never raise for zero counts.

Also included are small helpers for summarising simulation replications (t-based confidence
intervals, paired common-random-number differences) and a concentration measure.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

FloatOrArray = float | NDArray[np.float64]

__all__ = [
    "wdq",
    "wdq_target_change",
    "interpret_wdq",
    "total_net_effect",
    "wdd",
    "wdd_z",
    "wdd_p_value",
    "mean_ci",
    "paired_difference_ci",
    "concentration_share",
]

# Relative tolerance below which the WDQ denominator counts as zero (equal target rates up to
# floating-point rounding), so that 1e-17-sized denominators do not produce absurd quotients.
_REL_TOL = 1e-12


def _arr(x: ArrayLike) -> NDArray[np.float64]:
    """Convert input to a float64 array (0-d for scalars)."""
    return np.asarray(x, dtype=np.float64)


def _out(x: NDArray[np.float64]) -> FloatOrArray:
    """Return a Python float for 0-d results, otherwise the array; maps +-inf to nan."""
    x = np.where(np.isinf(x), np.nan, x)
    if x.ndim == 0:
        return float(x)
    return x


def _safe_div(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    """Elementwise num/den with nan wherever den == 0 (no warnings)."""
    num, den = np.broadcast_arrays(num, den)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = num / np.where(den == 0, 1.0, den)
    return np.where(den == 0, np.nan, q)


# --------------------------------------------------------------------------------------------
# Weighted Displacement Quotient (Bowers & Johnson 2003)
# --------------------------------------------------------------------------------------------


def wdq_target_change(
    r_b: ArrayLike, r_a: ArrayLike, c_b: ArrayLike, c_a: ArrayLike
) -> FloatOrArray:
    """WDQ denominator ("success measure") Ra/Ca - Rb/Cb; < 0 means the target improved.

    nan when either control count is zero.
    """
    r_b, r_a, c_b, c_a = map(_arr, (r_b, r_a, c_b, c_a))
    return _out(_safe_div(r_a, c_a) - _safe_div(r_b, c_b))


def wdq(
    r_b: ArrayLike,
    r_a: ArrayLike,
    d_b: ArrayLike,
    d_a: ArrayLike,
    c_b: ArrayLike,
    c_a: ArrayLike,
) -> FloatOrArray:
    """Weighted Displacement Quotient (Da/Ca - Db/Cb) / (Ra/Ca - Rb/Cb).

    Returns nan when any control count is zero or the denominator is zero (target rates equal
    to within a relative tolerance of 1e-12, which absorbs floating-point rounding).
    """
    r_b, r_a, d_b, d_a, c_b, c_a = map(_arr, (r_b, r_a, d_b, d_a, c_b, c_a))
    rate_ra, rate_rb = _safe_div(r_a, c_a), _safe_div(r_b, c_b)
    num = _safe_div(d_a, c_a) - _safe_div(d_b, c_b)
    den = rate_ra - rate_rb
    scale = np.maximum(np.abs(rate_ra), np.abs(rate_rb))
    den = np.where(np.abs(den) <= _REL_TOL * scale, 0.0, den)
    return _out(_safe_div(num, den))


def interpret_wdq(value: float, target_change: float | None = None) -> str:
    """Classify a scalar WDQ value into an interpretation key.

    ``target_change`` is the WDQ denominator (see :func:`wdq_target_change`). The WDQ is only
    meaningful when the target improved (denominator < 0); if ``target_change`` is given and
    is >= 0 the key is ``"no_target_gain"``. If it is None the caller asserts the target
    improved. Keys and (consistent, half-open) boundaries:

    * ``"undefined"``: value (or target_change) is nan / inf;
    * ``"no_target_gain"``: target_change >= 0;
    * ``"diffusion_larger_than_gain"``: wdq > 1;
    * ``"diffusion"``: 0 < wdq <= 1;
    * ``"displacement_smaller_than_gain"``: -1 <= wdq <= 0 (0 = no buffer change, still a
      net gain; -1 = displacement exactly cancels the gain);
    * ``"displacement_larger_than_gain"``: wdq < -1.
    """
    if target_change is not None:
        if not math.isfinite(float(target_change)):
            return "undefined"
        if target_change >= 0:
            return "no_target_gain"
    v = float(value)
    if not math.isfinite(v):
        return "undefined"
    if v > 1:
        return "diffusion_larger_than_gain"
    if v > 0:
        return "diffusion"
    if v >= -1:
        return "displacement_smaller_than_gain"
    return "displacement_larger_than_gain"


def total_net_effect(
    r_b: ArrayLike,
    r_a: ArrayLike,
    d_b: ArrayLike,
    d_a: ArrayLike,
    c_b: ArrayLike,
    c_a: ArrayLike,
) -> FloatOrArray:
    """Total Net Effect (Rb*Ca/Cb - Ra) + (Db*Ca/Cb - Da); positive = crimes prevented.

    nan when Cb == 0.
    """
    r_b, r_a, d_b, d_a, c_b, c_a = map(_arr, (r_b, r_a, d_b, d_a, c_b, c_a))
    ratio = _safe_div(c_a, c_b)
    return _out((r_b * ratio - r_a) + (d_b * ratio - d_a))


# --------------------------------------------------------------------------------------------
# Weighted Displacement Difference (Wheeler & Ratcliffe 2018)
# --------------------------------------------------------------------------------------------


def wdd(
    r_b: ArrayLike,
    r_a: ArrayLike,
    d_b: ArrayLike,
    d_a: ArrayLike,
    ct_b: ArrayLike,
    ct_a: ArrayLike,
    cd_b: ArrayLike | None = None,
    cd_a: ArrayLike | None = None,
) -> tuple[FloatOrArray, FloatOrArray]:
    """Weighted Displacement Difference and its Poisson standard error.

    WDD = dT - dCt + dD - dCd with dX = X_a - X_b (negative = crime reduction). With separate
    controls ``ct`` (for the target) and ``cd`` (for the buffer), as in Wheeler & Ratcliffe
    (2018), Var = Ra + Rb + Da + Db + Ct_a + Ct_b + Cd_a + Cd_b (independent Poisson counts).

    If ``cd_b``/``cd_a`` are omitted the same control is used for both areas, so
    WDD = dT + dD - 2 dC and, because the control enters twice, its variance is counted
    four times: Var = Ra + Rb + Da + Db + 4 (C_a + C_b). (Passing the same counts explicitly
    as ``cd`` treats them as a separate, independent area.) SE is nan if Var < 0.
    """
    r_b, r_a, d_b, d_a, ct_b, ct_a = map(_arr, (r_b, r_a, d_b, d_a, ct_b, ct_a))
    if (cd_b is None) != (cd_a is None):
        raise ValueError("give both cd_b and cd_a, or neither")
    d_t, d_d, d_ct = r_a - r_b, d_a - d_b, ct_a - ct_b
    var_rd = r_a + r_b + d_a + d_b
    if cd_b is None:
        est = d_t - d_ct + d_d - d_ct
        var = var_rd + 4.0 * (ct_a + ct_b)
    else:
        cd_b_arr, cd_a_arr = _arr(cd_b), _arr(cd_a)
        est = d_t - d_ct + d_d - (cd_a_arr - cd_b_arr)
        var = var_rd + ct_a + ct_b + cd_a_arr + cd_b_arr
    with np.errstate(invalid="ignore"):
        se = np.where(var >= 0, np.sqrt(np.abs(var)), np.nan)
    est, se = np.broadcast_arrays(est, se)
    return _out(np.asarray(est, dtype=np.float64)), _out(np.asarray(se, dtype=np.float64))


def wdd_z(wdd_value: ArrayLike, se: ArrayLike) -> FloatOrArray:
    """z statistic WDD / SE; nan when SE is zero or nan."""
    return _out(_safe_div(_arr(wdd_value), _arr(se)))


def wdd_p_value(wdd_value: ArrayLike, se: ArrayLike) -> FloatOrArray:
    """Two-sided normal p-value 2 * (1 - Phi(|WDD / SE|)); nan when SE is zero or nan."""
    z = _arr(wdd_z(wdd_value, se))
    return _out(np.asarray(2.0 * stats.norm.sf(np.abs(z)), dtype=np.float64))


# --------------------------------------------------------------------------------------------
# Replication summaries
# --------------------------------------------------------------------------------------------


def _check_level(level: float) -> None:
    """Raise ValueError unless 0 < level < 1."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")


def mean_ci(values: ArrayLike, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t confidence interval over replications, ignoring non-finite values.

    Returns (mean, lo, hi); with fewer than 2 finite values returns (mean, nan, nan)
    (mean is nan when there are none).
    """
    _check_level(level)
    x = _arr(values).ravel()
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, math.nan
    se = float(x.std(ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + level / 2.0, n - 1)) * se
    return mean, mean - half, mean + half


def paired_difference_ci(
    scenario_values: ArrayLike, baseline_values: ArrayLike, level: float = 0.95
) -> dict[str, float | int | bool]:
    """t CI of scenario - baseline over paired (common-random-number) replications.

    Pairs where either value is non-finite are dropped. Returns a dict with keys ``mean``,
    ``lo``, ``hi``, ``n`` (pairs used) and ``crosses_zero`` (True when lo <= 0 <= hi or the
    interval is undefined).
    """
    s = _arr(scenario_values).ravel()
    b = _arr(baseline_values).ravel()
    if s.shape != b.shape:
        raise ValueError(f"paired inputs differ in length: {s.size} vs {b.size}")
    keep = np.isfinite(s) & np.isfinite(b)
    diff = s[keep] - b[keep]
    mean, lo, hi = mean_ci(diff, level)
    crosses = bool(not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0.0 <= hi)
    return {"mean": mean, "lo": lo, "hi": hi, "n": int(diff.size), "crosses_zero": crosses}


def concentration_share(counts: ArrayLike, top_share: float = 0.05) -> float:
    """Share of the total held by the top ``top_share`` fraction of units.

    The number of top units is ceil(top_share * n), at least 1 (n = number of finite
    counts; non-finite entries are ignored). nan when the total is zero or there are no units.
    """
    x = _busiest_first(counts, top_share, "top_share")
    if x is None:
        return math.nan
    # round() guards against e.g. 0.07 * 100 == 7.000000000000001 -> ceil 8
    k = min(x.size, max(1, math.ceil(round(top_share * x.size, 9))))
    return float(x[:k].sum()) / float(x.sum())


def _busiest_first(counts: ArrayLike, share: float, name: str) -> np.ndarray | None:
    """The finite ``counts``, largest first; None when there are none or they sum to zero.
    ``share`` (called ``name``) must lie in (0, 1]."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {share!r}")
    x = _arr(counts).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0 or float(x.sum()) == 0.0:
        return None
    return np.sort(x)[::-1]


def places_for_share(counts: ArrayLike, share: float = 0.5) -> float:
    """The smallest fraction of units that together hold at least ``share`` of the total: the
    measure of the law of crime concentration (Weisburd 2015: 50% of crime at 2.1-6.0% of a
    city's street segments, 25% at 0.4-1.6%). nan when the total is zero or there are no units."""
    x = _busiest_first(counts, share, "share")
    if x is None:
        return math.nan
    held = np.cumsum(x)
    k = int(np.searchsorted(held, share * held[-1] * (1.0 - 1e-12))) + 1
    return k / x.size


def random_places_for_share(total: int, n_units: int, share: float = 0.5, draws: int = 20,
                            seed: int = 0) -> float:
    """`places_for_share` when ``total`` events fall on ``n_units`` units uniformly at random
    (the mean over ``draws`` multinomial allocations, a fixed ``seed``): what chance alone gives.
    With fewer events than places even chance looks concentrated (Bernasco & Steenbeek 2017),
    so an observed concentration means something only well below this."""
    if total <= 0 or n_units <= 0:
        return math.nan
    rng = np.random.default_rng(seed)
    return float(np.mean([places_for_share(rng.multinomial(int(total), np.full(n_units,
                                                                                1.0 / n_units)),
                                           share) for _ in range(draws)]))
