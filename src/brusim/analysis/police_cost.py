"""Police hours per unit of reduction: the extra police unit-hours a scenario spends region-wide
for each transaction it removes at the target, against business as usual, paired by seed.

Both parts are paired contrasts over the same seeds and after window (`brusim.analysis.contrasts`):
the extra hours (scenario − baseline, region) and the transactions removed at the target
(baseline − scenario). Their quotient is a ratio of means; its 95% interval is a paired
percentile bootstrap over seeds (`scipy.stats.bootstrap`, fixed random state, so the same
results give the same interval). The quotient is only defined when the removal is clearly
positive (its interval lies above zero): "hours per transaction removed" has no meaning when
nothing is clearly removed, and the table says so instead of printing a huge or negative number.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from brusim.analysis.contrasts import paired_contrast

BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 20240101  # any fixed value: the interval is reproducible from the tables


def _per_seed(change: pd.DataFrame, scenario: str, area: str, metric: str) -> pd.Series:
    sel = change[(change["scenario"] == scenario) & (change["area"] == area)
                 & (change["metric"] == metric)]
    return sel.set_index("seed")["after"].sort_index()


def ratio_interval(hours: np.ndarray, removed: np.ndarray, level: float = 0.95
                   ) -> tuple[float, float]:
    """Paired percentile bootstrap interval of ``mean(hours) / mean(removed)`` over seeds
    (NaN when fewer than 3 seeds or a resample removes nothing on average)."""
    if hours.size < 3:
        return math.nan, math.nan

    def ratio(h: np.ndarray, r: np.ndarray, axis: int = -1) -> np.ndarray:
        den = r.mean(axis=axis)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, h.mean(axis=axis) / den, np.nan)

    res = stats.bootstrap((hours, removed), ratio, paired=True, vectorized=True,
                          confidence_level=level, n_resamples=BOOTSTRAP_RESAMPLES,
                          method="percentile", random_state=BOOTSTRAP_SEED)
    lo, hi = (float(x) for x in (res.confidence_interval.low, res.confidence_interval.high))
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else (math.nan, math.nan)


def police_cost(change: pd.DataFrame, scenarios: list[str], baseline: str, target: str
                ) -> pd.DataFrame:
    """One row per scenario other than ``baseline``: the extra police hours (region) and the
    transactions removed at ``target`` with their paired intervals, and the hours per
    transaction removed with its bootstrap interval (``defined`` False, and NaN, unless the
    removal is clearly positive). ``change`` is the comparison's change table."""
    base_hours = _per_seed(change, baseline, "region", "police_hours")
    base_target = _per_seed(change, baseline, target, "transactions")
    rows = []
    for scen in scenarios:
        if scen == baseline:
            continue
        hours = _per_seed(change, scen, "region", "police_hours")
        at_target = _per_seed(change, scen, target, "transactions")
        seeds = hours.index.intersection(base_hours.index)
        extra = paired_contrast(hours.loc[seeds], base_hours.loc[seeds])
        cut = paired_contrast(at_target.loc[seeds], base_target.loc[seeds])
        removed, removed_lo, removed_hi = -cut.difference, -cut.difference_hi, -cut.difference_lo
        defined = bool(math.isfinite(removed_lo) and removed_lo > 0)
        per, lo, hi = math.nan, math.nan, math.nan
        if defined:
            h = (hours.loc[seeds] - base_hours.loc[seeds]).to_numpy(float)
            r = (base_target.loc[seeds] - at_target.loc[seeds]).to_numpy(float)
            per = float(h.mean() / r.mean())
            lo, hi = ratio_interval(h, r)
        rows.append({"scenario": scen, "seeds": int(len(seeds)),
                     "extra_police_hours": extra.difference,
                     "extra_police_hours_lo": extra.difference_lo,
                     "extra_police_hours_hi": extra.difference_hi,
                     "transactions_removed_at_target": removed,
                     "transactions_removed_at_target_lo": removed_lo,
                     "transactions_removed_at_target_hi": removed_hi,
                     "defined": defined, "hours_per_transaction_removed": per,
                     "hours_per_transaction_removed_lo": lo,
                     "hours_per_transaction_removed_hi": hi})
    return pd.DataFrame(rows)
