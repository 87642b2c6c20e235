"""Paired contrasts: a scenario against the baseline, seed by seed, with intervals that respect
what is possible (issue 21, item 1).

Both arms of a seed begin from the same spun-up state and draw the same keyed random numbers,
so the unit of replication is the seed and an effect is read from per-seed totals ``s_i``
(scenario) and ``b_i`` (baseline) of a count over the same area and weeks:

- **difference** ``mean(s - b)`` with a t interval over seeds (counts per window: it may be
  negative, a change of a count), cut at ``-mean(b)``: a scenario cannot remove more events
  than business as usual has;
- **ratio of sums** ``R = sum(s) / sum(b)``, so ``R - 1`` is the relative change, with an
  interval on the log scale: by the delta method, ``log R`` has the standard error of
  ``s_i / mean(s) - b_i / mean(b)`` over seeds divided by the square root of their number, and
  the interval is ``R × exp(±t × se)``. It is never below 0 (a relative change never below
  −100%) and it is the ratio the brief's tables show, not a mean of per-seed ratios;
- a **small base**: below ``min_base`` events a window on the baseline side, the relative change
  says little, so the contrast is flagged and readers are shown the counts
  ("from about 12 to 40") instead of a percentage;
- a **verdict**: a clear decrease or increase when the difference's interval excludes zero and
  the ratio's excludes 1 (so a phrase never pairs "clear" with an interval that straddles no
  change), otherwise no clear difference.

With a scenario total of zero in every seed the ratio is 0 and its interval [0, 0] is not
defined by the delta method: it is reported as such (a clear decrease if the difference says
so); with a baseline total of zero the ratio is undefined (nan) and only the counts are shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

MIN_BASE = 50.0  # ASSUMPTION: below 50 baseline events a window, show counts, not a percentage
DECREASE, INCREASE, UNDECIDED = "clear decrease", "clear increase", "no clear difference"


@dataclass(frozen=True)
class Contrast:
    """A paired contrast over seeds (see the module's docstring for each field)."""

    n: int  # seeds with both arms
    baseline: float  # mean baseline total a seed
    scenario: float  # mean scenario total a seed
    difference: float
    difference_lo: float
    difference_hi: float
    ratio: float  # sum(scenario) / sum(baseline)
    ratio_lo: float
    ratio_hi: float
    small_base: bool
    verdict: str

    @property
    def relative(self) -> float:
        """The relative change, ratio - 1 (never below -1)."""
        return self.ratio - 1.0

    @property
    def relative_lo(self) -> float:
        return self.ratio_lo - 1.0

    @property
    def relative_hi(self) -> float:
        return self.ratio_hi - 1.0

    def text(self) -> str:
        """One phrase: a percentage with its interval, or the counts on a small base."""
        if self.small_base or not math.isfinite(self.ratio):
            return (f"from about {self.baseline:,.0f} to {self.scenario:,.0f} "
                    f"({self.verdict})")
        if not math.isfinite(self.ratio_lo):
            return f"{self.relative:+.0%} (one seed: no interval)"
        return (f"{self.relative:+.0%} [{self.relative_lo:+.0%} to {self.relative_hi:+.0%}] "
                f"({self.verdict})")


def _t(level: float, n: int) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return float(stats.t.ppf(0.5 + level / 2.0, n - 1))


def paired_contrast(scenario: ArrayLike, baseline: ArrayLike, level: float = 0.95,
                    min_base: float = MIN_BASE) -> Contrast:
    """The `Contrast` of per-seed totals ``scenario`` and ``baseline`` (same seeds, same order;
    pairs with a non-finite value are dropped). Totals are counts: a negative one is refused."""
    s = np.asarray(scenario, dtype=float).ravel()
    b = np.asarray(baseline, dtype=float).ravel()
    if s.shape != b.shape:
        raise ValueError(f"paired totals differ in length: {s.size} vs {b.size}")
    keep = np.isfinite(s) & np.isfinite(b)
    s, b = s[keep], b[keep]
    if (s < 0).any() or (b < 0).any():
        raise ValueError("paired totals are counts and cannot be negative")
    n = int(s.size)
    nan = math.nan
    if n == 0:
        return Contrast(0, nan, nan, nan, nan, nan, nan, nan, nan, True, UNDECIDED)
    s_mean, b_mean = float(s.mean()), float(b.mean())
    diff = s - b
    d_mean = float(diff.mean())
    d_lo = d_hi = r_lo = r_hi = nan
    if n >= 2:
        t = _t(level, n)
        half = t * float(diff.std(ddof=1)) / math.sqrt(n)
        # a scenario cannot have fewer than no events: the interval stops at -baseline
        d_lo, d_hi = max(d_mean - half, -b_mean), d_mean + half
    ratio = s_mean / b_mean if b_mean > 0 else nan
    if n >= 2 and b_mean > 0:
        if s_mean > 0:
            z = s / s_mean - b / b_mean
            se = float(z.std(ddof=1)) / math.sqrt(n)
            r_lo, r_hi = ratio * math.exp(-t * se), ratio * math.exp(t * se)
        else:
            r_lo = r_hi = 0.0
    ratio_known = math.isfinite(r_lo)
    if math.isfinite(d_lo) and d_hi < 0 and (not ratio_known or r_hi < 1.0):
        verdict = DECREASE
    elif math.isfinite(d_lo) and d_lo > 0 and (not ratio_known or r_lo > 1.0):
        verdict = INCREASE
    else:
        verdict = UNDECIDED
    return Contrast(n, b_mean, s_mean, d_mean, d_lo, d_hi, ratio, r_lo, r_hi,
                    bool(b_mean < min_base), verdict)


def level_interval(values: ArrayLike, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of non-negative counts over seeds with the contrasts' interval method on the log
    scale (delta method: ``mean × exp(±t × sd / (mean × sqrt(n)))``), so a band of counts never
    dips below zero. Returns (mean, lo, hi); (0, 0, 0) when every value is 0, no interval for
    fewer than 2 values."""
    x = np.asarray(values, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if (x < 0).any():
        raise ValueError("counts cannot be negative")
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    if mean == 0:
        return 0.0, 0.0, 0.0
    half = _t(level, x.size) * float(x.std(ddof=1)) / (mean * math.sqrt(x.size))
    return mean, mean * math.exp(-half), mean * math.exp(half)
