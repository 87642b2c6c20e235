"""Compute the patterns of a `PatternBook` from gathered run tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from brusim.analysis.budget import contrast_displacement
from brusim.calibration import patterns as pt
from brusim.calibration.spec import PatternBook, Places
from brusim.errors import ConfigError


def evaluate(tables: dict[str, pd.DataFrame], book: PatternBook, names: list[str] | tuple[str, ...],
             places: Places, smap, first_week: int) -> list[pt.Check]:
    """Every check of the named patterns. ``first_week``: the first week after burn-in."""
    out: list[pt.Check] = []
    results, weekly, nodes = tables["results"], tables["weekly"], tables["nodes"]
    for name in names:
        spec = book.patterns[name]
        o, c = spec.options, spec.checks
        if name == "concentration":
            out += pt.concentration(nodes, smap.n_nodes, c, scenario=spec.arms[0],
                                    window=str(o.get("window", "after")))
        elif name == "midi_plan":
            target = smap.hotspots.index(places.target)
            arms = nodes[nodes["scenario"].isin([o["scenario"], o["baseline"]])]
            dist = smap.hotspots.dist[target]
            target_m = float(o["target_m"])
            # the WDQ read from the paired contrast, as in comparisons (brusim.analysis.budget)
            disp = contrast_displacement(arms, smap.hotspots, target, target_m,
                                         tuple(float(x) for x in o["buffer_m"]), o["baseline"])
            areas = midi_areas(smap, dist, target_m, places)
            labels = {"target": f"{places.target} within {target_m:g} m",
                      "receiver": ", ".join(places.receivers) + " outside the target area",
                      "nearby": ", ".join(places.nearby) + " outside the target and receiver "
                                "areas"}
            out += pt.midi_plan(nodes, disp, c, areas, scenario=o["scenario"],
                                baseline=o["baseline"], labels=labels)
        elif name == "room_use":
            out += pt.room_use(weekly, c["entries_per_day"], scenario=spec.arms[0],
                               first_week=first_week)
        elif name == "violence":
            out += pt.violence(weekly, results, c, scenario=o["scenario"], baseline=o["baseline"],
                               first_week=first_week)
        elif name == "koper":
            out += pt.koper(results, c, short=o["short"], long=o["long"])
        elif name == "replacement":
            out += pt.replacement(results, c, scenario=o["scenario"], baseline=o["baseline"],
                                  min_arrest_ratio=float(o.get("min_arrest_ratio", 3.0)))
        elif name == "stability":
            out += pt.stability(weekly, c, scenario=spec.arms[0], target=places.target,
                                first_week=first_week, window_weeks=int(o["window_weeks"]))
        else:
            raise ConfigError(f"pattern {name!r} has no computation; known: concentration, "
                              "midi_plan, room_use, violence, koper, replacement, stability")
    return out


def midi_areas(smap, dist_from_target: np.ndarray, target_m: float, places: Places
               ) -> dict[str, np.ndarray]:
    """Disjoint node sets: the target area (within ``target_m`` network metres of the target),
    the receivers' catchments outside it, and the nearby hotspots' catchments outside both."""
    hs = smap.hotspots

    def catchments(ids) -> np.ndarray:
        sets = [hs.catchment(hs.index(h)) for h in ids]
        return np.unique(np.concatenate(sets)) if sets else np.zeros(0, np.int64)

    target = np.flatnonzero(dist_from_target <= target_m)
    receiver = np.setdiff1d(catchments(places.receivers), target)
    nearby = np.setdiff1d(catchments(places.nearby), np.union1d(target, receiver))
    return {"target": target, "receiver": receiver, "nearby": nearby}


def check_weights(book: PatternBook) -> dict[tuple[str, str], float]:
    """Loss weight of every (pattern, check)."""
    return {(p, c): s.weight for p, spec in book.patterns.items() for c, s in spec.checks.items()}
