"""Before/after windows and per-run summaries that the comparison tables are built from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from brusim.model.recorder import METRICS


@dataclass(frozen=True)
class Windows:
    """Equal-length before and after windows in weeks: before ends at the intervention start,
    after is the last ``length`` weeks of the run (so WDD's raw differences are comparable)."""

    before: tuple[int, int]
    after: tuple[int, int]

    @classmethod
    def for_run(cls, intervention_week: float, weeks: float, burn_in_weeks: float,
                length: int | None = None) -> Windows:
        start, end, weeks_i = int(intervention_week), int(weeks), int(burn_in_weeks)
        available = min(start - weeks_i, end - start)
        if available < 1:
            raise ValueError(
                f"no room for before/after windows: burn-in {weeks_i}, intervention week "
                f"{start}, horizon {end} weeks; start the intervention later or run longer"
            )
        length = min(length or available, available)
        return cls((start - length, start), (end - length, end))

    def label(self, week: np.ndarray) -> np.ndarray:
        """'before', 'after' or '' for each week number."""
        out = np.full(len(week), "", dtype=object)
        out[(week >= self.before[0]) & (week < self.before[1])] = "before"
        out[(week >= self.after[0]) & (week < self.after[1])] = "after"
        return out


def window_totals(areas: pd.DataFrame, windows: Windows) -> pd.DataFrame:
    """Sum each metric per area over the before and after windows (tidy long table).

    State metrics (means per interval) are summed too: they become "interval-means", so
    divide by the window's interval count to compare levels; counts are plain totals.
    """
    df = areas.assign(window=windows.label(areas["week"].to_numpy()))
    df = df[df["window"] != ""]
    metrics = [m for m in METRICS if m in df.columns]
    wide = df.groupby(["area_kind", "area", "window"], observed=True)[metrics].sum()
    return wide.reset_index().melt(id_vars=["area_kind", "area", "window"], var_name="metric")


def weekly_series(areas: pd.DataFrame, metrics: tuple[str, ...]) -> pd.DataFrame:
    """Weekly sums per area for the given metrics."""
    return (areas.groupby(["week", "area_kind", "area"], observed=True)[list(metrics)].sum()
            .reset_index())


def node_window_counts(events: pd.DataFrame, windows: Windows, steps_per_week: int,
                       event_type: str = "transaction") -> pd.DataFrame:
    """Events of one type per street node in each window (only nodes with events)."""
    ev = events[events["type"] == event_type]
    week = ev["step"].to_numpy() // steps_per_week
    label = windows.label(week)
    keep = label != ""
    out = (pd.DataFrame({"window": label[keep], "node": ev["node"].to_numpy()[keep]})
           .value_counts().rename("count").reset_index())
    out["event"] = event_type
    return out


def weekly_node_counts(events: pd.DataFrame, steps_per_week: int,
                       event_type: str = "transaction") -> pd.DataFrame:
    """Events of one type per (week, node), only where there are any."""
    ev = events[events["type"] == event_type]
    df = pd.DataFrame({"week": (ev["step"].to_numpy() // steps_per_week).astype(np.int32),
                       "node": ev["node"].to_numpy()})
    return df.value_counts().rename("count").reset_index().sort_values(["week", "node"])


def run_recording_sellers(model, windows: Windows) -> pd.DataFrame:
    """Run ``model`` to its horizon while summing seller-hours per street node in each window.

    Transactions follow buyers; seller presence shows where the market's supply stands, so
    displacement can be measured on either.
    """
    n, spw = model.smap.n_nodes, model.clock.steps_per_week
    hours = model.clock.step_minutes / 60.0
    acc = {"before": np.zeros(n), "after": np.zeros(n)}
    while model.t < model.n_steps:
        model.step()
        label = windows.label(np.array([(model.steps_done - 1) // spw]))[0]
        if label:
            acc[label] += np.bincount(model.selling_nodes(), minlength=n) * hours
    model.recorder.flush(model.t - 1)
    model.events.flush()
    rows = [pd.DataFrame({"window": label, "node": np.flatnonzero(v),
                          "count": v[np.flatnonzero(v)]}) for label, v in acc.items()]
    return pd.concat(rows, ignore_index=True).assign(event="dealer_hours")
