"""Has business as usual settled? Warm-up rules for a run's daily series (issue 19).

Two stated rules, each able to say "not settled":

- `mser5`: the MSER-5 truncation point (White 1997; Hoad, Robinson & Davies 2010 found it the
  most reliable of 42 warm-up rules): the series is cut into batches of 5 observations and
  the warm-up is the number of leading batches, at most half of them, whose removal minimises
  the squared standard error of the mean of the rest. A statistic still falling at half the
  series (a trend) means the run is too short to tell (None).
- `drift`: the relative change between the means of successive windows (default 4 weeks) must
  stay within a tolerance (default 5%) for every series from some week on; the first such week,
  or None.

`daily_series` reads the per-hotspot and region-wide daily sums of a metric from a run's area
metrics; `verdict` applies both rules to each series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BATCH = 5  # MSER-5


def mser5(series: np.ndarray) -> int | None:
    """Observations to discard as warm-up (a multiple of 5), or None when the minimum falls
    in the second half of the series (too short to find the end of the warm-up)."""
    x = np.asarray(series, dtype=float)
    n_batches = len(x) // BATCH
    if n_batches < 4 or not np.isfinite(x).all():
        return None
    y = x[: n_batches * BATCH].reshape(n_batches, BATCH).mean(axis=1)
    half = n_batches // 2  # the statistic is searched over the first half only (its
    scores = []            # end-of-series minimum is an artefact of few remaining batches)
    for d in range(half + 1):
        rest = y[d:]
        scores.append(((rest - rest.mean()) ** 2).sum() / len(rest) ** 2)
    best = int(np.argmin(scores))
    return best * BATCH if best < half else None


def drift(weekly: np.ndarray, window: int = 4, tolerance: float = 0.05) -> int | None:
    """The first week from which the mean of every ``window`` weeks differs from the mean of
    the ``window`` before by at most ``tolerance`` (relative) until the end; None if never.
    (A place without any dealing, zero throughout, is settled. A slow trend of less than
    ``tolerance`` a window passes this rule: `mser5` catches it.)"""
    w = np.asarray(weekly, dtype=float)
    ok = []
    for end in range(2 * window, len(w) + 1):
        before, after = w[end - 2 * window:end - window].mean(), w[end - window:end].mean()
        ok.append(abs(after / before - 1.0) <= tolerance if before > 0 else after == 0)
    for k in range(len(ok)):
        if all(ok[k:]):
            return k + window  # the start of the first window of the first passing pair
    return None


def daily_series(areas: pd.DataFrame, metric: str = "transactions",
                 areas_kept: list[str] | None = None) -> pd.DataFrame:
    """Daily sums of ``metric`` per hotspot catchment and region-wide (columns), by day."""
    rows = areas[areas["area_kind"].isin(["hotspot", "region"])]
    table = rows.pivot_table(index="day", columns="area", values=metric, aggfunc="sum",
                             observed=True)
    if areas_kept is not None:
        table = table[[a for a in areas_kept if a in table.columns]]
    return table.sort_index()


@dataclass
class Verdict:
    """Each series' MSER-5 warm-up (days) and drift-rule week, and the run's verdict."""

    mser5_days: dict[str, int | None]
    drift_week: dict[str, int | None]

    @property
    def settled(self) -> bool:
        return all(v is not None for v in (*self.mser5_days.values(), *self.drift_week.values()))

    @property
    def warmup_days(self) -> int | None:
        """The longest warm-up of any series (both rules), or None when one never settles."""
        if not self.settled:
            return None
        return max([*self.mser5_days.values(), *(7 * w for w in self.drift_week.values())])


def verdict(daily: pd.DataFrame, window_weeks: int = 4, tolerance: float = 0.05) -> Verdict:
    """Both rules for every column of ``daily`` (a `daily_series` table)."""
    weeks = len(daily) // 7
    weekly = daily.iloc[: weeks * 7].groupby(np.arange(weeks * 7) // 7).sum()
    return Verdict({c: mser5(daily[c].to_numpy()) for c in daily.columns},
                   {c: drift(weekly[c].to_numpy(), window_weeks, tolerance)
                    for c in daily.columns})
