"""Where the market went, as a budget that adds up (issue 21, item 2), and the literature's
displacement statistics read from the same paired contrasts.

**The budget.** Every street node belongs to exactly one area (`partition`):

- ``target``: within ``target_m`` network metres of the target hotspot;
- ``buffer``: the ring ``(buffer_inner_m, buffer_outer_m]`` around it, target nodes excepted;
- one area per other hotspot: its catchment, less the target and the buffer; a node in several
  catchments belongs to the hotspot it is nearest to along the streets (ties: the first in the
  places file);
- ``rest``: every other node (the rest of the region, including any gap between the target and
  an inner buffer radius larger than ``target_m``).

Hotspots close to the target can lie wholly in the buffer (around Gare du Midi: Porte de Hal and
Lemonnier), so the budget also has nested rows "of which" for the buffer (kind
``buffer_hotspot``, area ``buffer/<hotspot id>``): the buffer's nodes in each other hotspot's
catchment, by the same nearest-hotspot rule. They are part of the buffer, not extra areas, and
do not enter the sums.

For each scenario and seed the after-window count of every area is compared with the
baseline's of the same seed (`brusim.analysis.contrasts.paired_contrast`). The areas' per-seed
differences add up exactly to the region-wide difference, so the budget's mean differences do
too; their intervals do not add up (each is its own row's interval over seeds).

**WDQ, TNE and WDD from contrasts.** The literature's formulas (`brusim.analysis.displacement`)
compare a before and an after period; here the baseline plays "before" and the scenario "after",
both in the same after-window of the same seed, so the drift of business as usual (the same in
both arms) is never counted as the policy's effect. The control is a comparable area beyond the
policy's reach: the hotspot areas of the budget lying wholly more than `CONTROL_M` network
metres from the target (`choose_control`, with fallbacks for maps too small to have any). The
WDQ and the TNE depend only on the control's ratio scenario / baseline; the WDD depends on its
size, so the control enters it weighted to the target's (and, for the buffer's term, the
buffer's) baseline size: ``w = sum R_b / sum C_b`` over seeds (Wheeler & Ratcliffe's separate
controls for the target and the buffer). The WDD's standard error is the spread of its
per-seed values (over seeds, not the Poisson formula, which ignores that events come in
dependent runs). A control that itself changes clearly under the scenario (e.g. a scenario
that polices the far hotspots too) is flagged: the statistics then do not mean what they mean
in the literature.

**The placebo** (`placebo_pairs`): business as usual against itself, seed ``i`` against seed
``i + 1`` (cyclically), read the same way. It has no policy, so an unbiased reading must give a
WDQ interval containing 0, a TNE near 0 and no change at the target (`placebo_verdict`). Each
seed is once on each side, so a count's mean difference is exactly zero by construction; what
the placebo tests is the rest: the statistics' ratios and the width of intervals under unpaired
noise. The former reading (each run's own before and after windows, control = the rest of the
map, `brusim.analysis.metrics.displacement`) fails it when business as usual drifts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from brusim.analysis.contrasts import UNDECIDED, paired_contrast
from brusim.analysis.displacement import (
    interpret_wdq,
    mean_ci,
    total_net_effect,
    wdd,
    wdq,
    wdq_target_change,
)

CONTROL_M = 3000.0  # ASSUMPTION: beyond 3 km along the streets the policy's direct reach ends
PLACEBO_TNE_SHARE = 0.10  # ASSUMPTION: "TNE near 0" = within 10% of the target + buffer count
BUDGET_METRICS = {"transactions": "transaction", "dealer_hours": "dealer_hours"}
PLACEBO = "placebo"
BUFFER_OF = "buffer/"  # prefix of the nested buffer rows: the buffer's part of a hotspot


@dataclass(frozen=True)
class Partition:
    """Every street node's budget area: ``labels[node]`` indexes ``areas`` (ids) and ``kinds``
    (``target``, ``buffer``, ``hotspot`` or ``rest``)."""

    labels: np.ndarray
    areas: tuple[str, ...]
    kinds: tuple[str, ...]
    # the buffer's nodes by the hotspot whose catchment they are in: ``buffer_labels[node]``
    # indexes ``buffer_areas`` (hotspot ids), -1 outside the buffer or any catchment
    buffer_labels: np.ndarray | None = None
    buffer_areas: tuple[str, ...] = ()

    def members(self, area: str) -> np.ndarray:
        """The nodes of ``area`` (or of a nested buffer row ``buffer/<hotspot id>``)."""
        if area.startswith(BUFFER_OF):
            return np.flatnonzero(self.buffer_labels
                                  == self.buffer_areas.index(area[len(BUFFER_OF):]))
        return np.flatnonzero(self.labels == self.areas.index(area))

    def buffer_rows(self) -> tuple[str, ...]:
        """The nested buffer rows' area names, ``buffer/<hotspot id>``."""
        return tuple(BUFFER_OF + h for h in self.buffer_areas)

    def node_areas(self) -> pd.Categorical:
        """The area id of every node, in node order."""
        return pd.Categorical.from_codes(self.labels, list(self.areas))


def partition(hotspots, target: int, target_m: float, buffer_m: tuple[float, float]
              ) -> Partition:
    """The budget's areas (see the module's docstring) for target hotspot ``target`` of the
    map's ``hotspots`` (`brusim.map.streetmap.PlaceSet`)."""
    dist = np.asarray(hotspots.dist, dtype=np.float64)
    d = dist[target]
    n_nodes = d.size
    others = [j for j in range(len(hotspots)) if j != target]
    areas = (hotspots.ids[target], "buffer", *(hotspots.ids[j] for j in others), "rest")
    kinds = ("target", "buffer", *(["hotspot"] * len(others)), "rest")
    labels = np.full(n_nodes, len(areas) - 1, dtype=np.int64)
    reach = np.full((len(others), n_nodes), np.inf)
    for k, j in enumerate(others):
        members = hotspots.catchment(j)
        reach[k, members] = dist[j, members]
    in_some = np.isfinite(reach).any(axis=0)
    nearest = np.full(n_nodes, -1, dtype=np.int64)
    if in_some.any():
        nearest[in_some] = np.argmin(reach[:, in_some], axis=0)  # nearest; ties: the first
        labels[in_some] = 2 + nearest[in_some]
    in_buffer = (d > buffer_m[0]) & (d <= buffer_m[1]) & ~(d <= target_m)
    labels[in_buffer] = 1
    labels[d <= target_m] = 0
    # the buffer's part of each hotspot, in the places file's order (hotspots with none: no row)
    inside = np.unique(nearest[in_buffer & (nearest >= 0)])
    buffer_labels = np.full(n_nodes, -1, dtype=np.int64)
    code = {int(k): c for c, k in enumerate(inside)}
    for k, c in code.items():
        buffer_labels[in_buffer & (nearest == k)] = c
    return Partition(labels, areas, kinds, buffer_labels,
                     tuple(hotspots.ids[others[int(k)]] for k in inside))


def area_counts(nodes: pd.DataFrame, part: Partition, window: str = "after") -> pd.DataFrame:
    """Counts per run in ``window`` summed over each budget area: index (scenario, seed), one
    column per area in the partition's order, then one per nested buffer row (zeros where
    nothing happened)."""
    sel = nodes[nodes["window"] == window]
    rows = {}
    nested = len(part.buffer_areas)
    for key, g in sel.groupby(["scenario", "seed"], observed=True):
        node, count = g["node"].to_numpy(), g["count"].to_numpy()
        areas = np.bincount(part.labels[node], weights=count, minlength=len(part.areas))
        if nested:
            sub = part.buffer_labels[node]
            areas = np.concatenate([areas, np.bincount(sub[sub >= 0], weights=count[sub >= 0],
                                                       minlength=nested)])
        rows[key] = areas
    runs = nodes[["scenario", "seed"]].drop_duplicates().itertuples(index=False, name=None)
    index = pd.MultiIndex.from_tuples(sorted(runs), names=["scenario", "seed"])
    table = pd.DataFrame.from_dict(rows, orient="index",
                                   columns=[*part.areas, *part.buffer_rows()])
    table.index = pd.MultiIndex.from_tuples(table.index, names=["scenario", "seed"])
    return table.reindex(index, fill_value=0.0).astype(float)


def with_totals(counts: pd.DataFrame, part: Partition) -> pd.DataFrame:
    """``counts`` plus a ``hotspots`` column (every hotspot area) and a ``region`` column (all
    areas)."""
    hotspot = [a for a, k in zip(part.areas, part.kinds, strict=True) if k == "hotspot"]
    return counts.assign(hotspots=counts[hotspot].sum(axis=1),
                         region=counts[list(part.areas)].sum(axis=1))


def _row_kinds(part: Partition) -> dict[str, str]:
    """Kind of every budget row: the partition's areas, the subtotal and the total."""
    return {**dict(zip(part.areas, part.kinds, strict=True)),
            **dict.fromkeys(part.buffer_rows(), "buffer_hotspot"), "hotspots": "hotspots",
            "region": "region"}


def paired_arms(counts: pd.DataFrame, baseline: str) -> dict[str, tuple[pd.DataFrame,
                                                                        pd.DataFrame]]:
    """Per scenario other than ``baseline``: its counts and the baseline's, on the seeds both
    have, in seed order."""
    base = counts.xs(baseline, level="scenario")
    out = {}
    for scen in counts.index.get_level_values("scenario").unique():
        if scen == baseline:
            continue
        s = counts.xs(scen, level="scenario")
        seeds = s.index.intersection(base.index).sort_values()
        out[scen] = (s.loc[seeds], base.loc[seeds])
    return out


def budget_seeds(counts: pd.DataFrame, part: Partition, baseline: str) -> pd.DataFrame:
    """Per scenario, seed and budget row: the baseline's count, the scenario's and their
    difference (long table; the rows of kind target, buffer, hotspot and rest add up to
    region)."""
    kinds = _row_kinds(part)
    frames = []
    for scen, (s, b) in paired_arms(with_totals(counts, part), baseline).items():
        for area, kind in kinds.items():
            frames.append(pd.DataFrame({"scenario": scen, "seed": s.index.to_numpy(),
                                        "area": area, "kind": kind,
                                        "baseline": b[area].to_numpy(),
                                        "scenario_value": s[area].to_numpy()}))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["scenario", "seed", "area", "kind", "baseline", "scenario_value"])
    out["difference"] = out["scenario_value"] - out["baseline"]
    return out


def budget(counts: pd.DataFrame, part: Partition, baseline: str, level: float = 0.95
           ) -> pd.DataFrame:
    """The budget: per scenario and budget row, the paired contrast of its after-window counts
    (`paired_contrast`) and the row's number of street nodes."""
    sizes = np.bincount(part.labels, minlength=len(part.areas))
    nested = (np.bincount(part.buffer_labels[part.buffer_labels >= 0],
                          minlength=len(part.buffer_areas)) if part.buffer_areas else [])
    nodes = {**dict(zip(part.areas, sizes.tolist(), strict=True)),
             **dict(zip(part.buffer_rows(), [int(n) for n in nested], strict=True)),
             "hotspots": int(sum(n for n, k in zip(sizes, part.kinds, strict=True)
                                 if k == "hotspot")),
             "region": int(part.labels.size)}
    rows = []
    for scen, (s, b) in paired_arms(with_totals(counts, part), baseline).items():
        for area, kind in _row_kinds(part).items():
            c = paired_contrast(s[area].to_numpy(), b[area].to_numpy(), level)
            rows.append({"scenario": scen, "area": area, "kind": kind, "nodes": nodes[area],
                         "n": c.n, "baseline_mean": c.baseline, "scenario_mean": c.scenario,
                         "difference": c.difference, "difference_lo": c.difference_lo,
                         "difference_hi": c.difference_hi, "relative": c.relative,
                         "relative_lo": c.relative_lo, "relative_hi": c.relative_hi,
                         "small_base": c.small_base, "verdict": c.verdict})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ the literature's statistics


@dataclass(frozen=True)
class Control:
    """The comparison area of the WDQ, TNE and WDD: its street ``nodes``, the budget areas it is
    made of (``areas``, empty for a fallback) and the ``rule`` that chose it (`choose_control`)."""

    nodes: np.ndarray
    areas: tuple[str, ...]
    rule: str


def control_areas(part: Partition, dist_from_target: np.ndarray, control_m: float = CONTROL_M
                  ) -> list[str]:
    """The hotspot areas of the budget whose every node lies more than ``control_m`` network
    metres from the target."""
    d = np.asarray(dist_from_target, dtype=np.float64)
    far = []
    for k, (area, kind) in enumerate(zip(part.areas, part.kinds, strict=True)):
        members = np.flatnonzero(part.labels == k)
        if kind == "hotspot" and members.size and bool((d[members] > control_m).all()):
            far.append(area)
    return far


def choose_control(part: Partition, dist_from_target: np.ndarray, buffer_outer_m: float,
                   control_m: float = CONTROL_M) -> Control:
    """The comparison area: the hotspot areas lying wholly beyond ``control_m``
    (`control_areas`; rule ``far_hotspots``); on a map without any, every node beyond
    ``control_m`` (``far_streets``); on a map smaller than that, every node beyond the buffer
    (``beyond_buffer``, the former reading's control)."""
    d = np.asarray(dist_from_target, dtype=np.float64)
    far = control_areas(part, d, control_m)
    if far:
        members = np.flatnonzero(np.isin(part.labels, [part.areas.index(a) for a in far]))
        return Control(members, tuple(far), "far_hotspots")
    beyond = np.flatnonzero(d > control_m)
    if beyond.size:
        return Control(beyond, (), "far_streets")
    return Control(np.flatnonzero(d > buffer_outer_m), (), "beyond_buffer")


def with_control(counts: pd.DataFrame, nodes: pd.DataFrame, control: Control,
                 window: str = "after") -> pd.DataFrame:
    """``counts`` (`area_counts`) plus a ``control`` column: the run's count over the control's
    nodes in ``window``."""
    sel = nodes[(nodes["window"] == window) & nodes["node"].isin(control.nodes)]
    per_run = sel.groupby(["scenario", "seed"], observed=True)["count"].sum()
    return counts.assign(control=per_run.reindex(counts.index, fill_value=0.0).astype(float))


def contrast_statistics(s: pd.DataFrame, b: pd.DataFrame, part: Partition) -> pd.DataFrame:
    """WDQ, TNE and WDD per seed, the baseline ``b`` as "before" and the scenario ``s`` as
    "after" (same seeds, same order, columns = budget areas and ``control``); the control
    enters the WDD weighted to the baseline size of the target and of the buffer."""
    target, buffer = part.areas[0], "buffer"
    c_b, c_a = b["control"].to_numpy(), s["control"].to_numpy()
    r_b, r_a = b[target].to_numpy(), s[target].to_numpy()
    d_b, d_a = b[buffer].to_numpy(), s[buffer].to_numpy()
    c_sum = c_b.sum()
    w_r = r_b.sum() / c_sum if c_sum > 0 else np.nan
    w_d = d_b.sum() / c_sum if c_sum > 0 else np.nan
    out = pd.DataFrame({"seed": s.index.to_numpy(), "r_baseline": r_b, "r_scenario": r_a,
                        "d_baseline": d_b, "d_scenario": d_a, "c_baseline": c_b,
                        "c_scenario": c_a, "weight_target": w_r, "weight_buffer": w_d})
    args = (r_b, r_a, d_b, d_a, c_b, c_a)
    out["wdq"] = np.asarray(wdq(*args), dtype=float)
    out["target_change"] = np.asarray(wdq_target_change(r_b, r_a, c_b, c_a), dtype=float)
    out["tne"] = np.asarray(total_net_effect(*args), dtype=float)
    est, _poisson_se = wdd(r_b, r_a, d_b, d_a, w_r * c_b, w_r * c_a, w_d * c_b, w_d * c_a)
    out["wdd"] = np.asarray(est, dtype=float)
    out["interpretation"] = [interpret_wdq(w, tc) for w, tc in
                             zip(out["wdq"], out["target_change"], strict=True)]
    return out


def displacement_contrast(counts: pd.DataFrame, part: Partition, baseline: str
                          ) -> pd.DataFrame:
    """`contrast_statistics` of every scenario against ``baseline``, one row per scenario and
    seed (``counts`` with a ``control`` column, `with_control`)."""
    frames = [contrast_statistics(s, b, part).assign(scenario=scen)
              for scen, (s, b) in paired_arms(counts, baseline).items()]
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    return out[["scenario", *[c for c in out.columns if c != "scenario"]]]


def contrast_displacement(nodes: pd.DataFrame, hotspots, target: int, target_m: float,
                          buffer_m: tuple[float, float], baseline: str,
                          event: str = "transaction", control_m: float = CONTROL_M
                          ) -> pd.DataFrame:
    """WDQ, TNE and WDD per scenario and seed from the paired contrast (`contrast_statistics`)
    for one event type of a node table (``nodes``: scenario, seed, window, event, node, count),
    with the budget's partition and control: what `brusim validate` judges."""
    part = partition(hotspots, target, target_m, buffer_m)
    dist = np.asarray(hotspots.dist[target], dtype=np.float64)
    control = choose_control(part, dist, buffer_m[1], control_m)
    sel = nodes[nodes["event"] == event]
    return displacement_contrast(with_control(area_counts(sel, part), sel, control), part,
                                 baseline)


def summarise_statistics(per_seed: pd.DataFrame, counts: pd.DataFrame, baseline: str,
                         control: Control, level: float = 0.95) -> pd.DataFrame:
    """Per scenario: mean and t interval over seeds of the WDQ, TNE, WDD and WDQ's denominator;
    the WDQ of the counts summed over seeds (``wdq_pooled``, steadier than the mean of per-seed
    quotients when the target has little dealing in some seeds; no interval) and its
    denominator; the WDD's standard error over seeds; the standard reading of the pooled WDQ
    (a ratio of sums, as the contrasts' relative changes are); the control's rule, areas,
    weights and its own paired contrast (whether it changed under the scenario)."""
    if per_seed.empty:
        return pd.DataFrame()
    arms = paired_arms(counts, baseline)
    rows = []
    for scen, g in per_seed.groupby("scenario", observed=True, sort=False):
        row = {"scenario": scen, "n": len(g), "wdq_defined": int(np.isfinite(g["wdq"]).sum())}
        for col in ("wdq", "tne", "wdd", "target_change"):
            row[col], row[f"{col}_lo"], row[f"{col}_hi"] = mean_ci(g[col].to_numpy(), level)
        sums = [g[c].sum() for c in ("r_baseline", "r_scenario", "d_baseline", "d_scenario",
                                     "c_baseline", "c_scenario")]
        row["wdq_pooled"] = float(wdq(*sums))
        row["target_change_pooled"] = float(wdq_target_change(sums[0], sums[1], sums[4],
                                                              sums[5]))
        finite = g["wdd"].to_numpy()[np.isfinite(g["wdd"].to_numpy())]
        row["wdd_se"] = (float(finite.std(ddof=1) / np.sqrt(finite.size)) if finite.size > 1
                         else np.nan)
        row["interpretation"] = interpret_wdq(row["wdq_pooled"], row["target_change_pooled"])
        row["control_rule"] = control.rule
        row["control"] = ", ".join(control.areas)
        row["weight_target"] = float(g["weight_target"].iloc[0])
        row["weight_buffer"] = float(g["weight_buffer"].iloc[0])
        row["r_baseline"] = float(g["r_baseline"].mean())
        row["d_baseline"] = float(g["d_baseline"].mean())
        row["c_baseline"] = float(g["c_baseline"].mean())
        s, b = arms[scen]
        row["control_verdict"] = paired_contrast(s["control"], b["control"], level).verdict
        row["control_changed"] = row["control_verdict"] != UNDECIDED
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ the placebo


def placebo_pairs(counts: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """The baseline's counts and a ``placebo`` arm in which seed ``i`` holds the baseline's
    seed ``i + 1`` (the last holds the first): business as usual against itself, unpaired."""
    base = counts.xs(baseline, level="scenario").sort_index()
    shifted = base.iloc[np.roll(np.arange(len(base)), -1)].set_axis(base.index)
    return pd.concat({baseline: base, PLACEBO: shifted}, names=["scenario", "seed"])


def placebo_verdict(row: pd.Series | dict, tne_share: float = PLACEBO_TNE_SHARE) -> dict:
    """Whether one reading of a no-policy comparison (a summary row with wdq, tne,
    target_change and their intervals, and the target's and buffer's mean baseline counts
    ``r_baseline`` and ``d_baseline``) shows no effect: the WDQ's interval contains 0, the TNE's
    interval contains 0 and its mean is within ``tne_share`` of the target + buffer count, and
    the interval of the target's change (WDQ's denominator) contains 0. ``defined`` is False
    when any of these is undefined (e.g. no activity in the control; then it cannot pass)."""
    def contains_zero(col: str) -> bool:
        lo, hi = float(row[f"{col}_lo"]), float(row[f"{col}_hi"])
        return bool(np.isfinite(lo) and np.isfinite(hi) and lo <= 0.0 <= hi)

    size = float(row["r_baseline"]) + float(row["d_baseline"])
    tne_share_value = abs(float(row["tne"])) / size if size > 0 else np.nan
    checks = {"wdq_contains_zero": contains_zero("wdq"),
              "tne_contains_zero": contains_zero("tne"),
              "tne_share": tne_share_value,
              "tne_near_zero": bool(np.isfinite(tne_share_value)
                                    and tne_share_value <= tne_share),
              "target_change_contains_zero": contains_zero("target_change")}
    checks["defined"] = bool(np.isfinite([float(row[f"{c}{end}"]) for c in (
        "wdq", "tne", "target_change") for end in ("", "_lo", "_hi")]).all())
    checks["passes"] = bool(checks["wdq_contains_zero"] and checks["tne_contains_zero"]
                            and checks["tne_near_zero"]
                            and checks["target_change_contains_zero"])
    return checks


def placebo_table(nodes: pd.DataFrame, part: Partition, baseline: str, control: Control,
                  dist_from_target: np.ndarray, target_m: float,
                  buffer_m: tuple[float, float], level: float = 0.95) -> pd.DataFrame:
    """The placebo (business as usual against itself) read two ways, with `placebo_verdict`:
    ``contrast`` (`placebo_pairs` in the after-window, as the scenarios are read) and
    ``before_after`` (the former reading: each baseline run's own before and after windows,
    control = every node beyond the buffer, `brusim.analysis.metrics.displacement`)."""
    from brusim.analysis import metrics as mt

    pairs = placebo_pairs(with_control(area_counts(nodes, part), nodes, control), baseline)
    per_seed = displacement_contrast(pairs, part, baseline)
    contrast = summarise_statistics(per_seed, pairs, baseline, control, level).iloc[0]
    own = mt.displacement(nodes[nodes["scenario"] == baseline], dist_from_target, target_m,
                          buffer_m)
    before_after = mt.displacement_summary(own, level).iloc[0].copy()
    before_after["r_baseline"] = float(own["r_before"].mean())
    before_after["d_baseline"] = float(own["d_before"].mean())
    before_after["c_baseline"] = float(own["c_before"].mean())
    rows = []
    for method, row in (("contrast", contrast), ("before_after", before_after)):
        out = {"method": method, "n": int(row["n"])}
        for col in ("wdq", "tne", "wdd", "target_change"):
            out.update({col: float(row[col]), f"{col}_lo": float(row[f"{col}_lo"]),
                        f"{col}_hi": float(row[f"{col}_hi"])})
        out.update(r_baseline=float(row["r_baseline"]), d_baseline=float(row["d_baseline"]),
                   c_baseline=float(row["c_baseline"]))
        out.update(placebo_verdict(out))
        rows.append(out)
    return pd.DataFrame(rows)


def budget_tables(nodes: pd.DataFrame, hotspots, target: int, target_m: float,
                  buffer_m: tuple[float, float], baseline: str, control_m: float = CONTROL_M,
                  level: float = 0.95) -> tuple[Partition, dict[str, pd.DataFrame]]:
    """The partition and the comparison's tables of this module, for transactions and
    seller-hours (column ``metric``): ``budget``, ``budget_seeds``, ``displacement`` (WDQ, TNE,
    WDD per seed from contrasts), ``displacement_summary`` and ``placebo``."""
    part = partition(hotspots, target, target_m, buffer_m)
    dist = np.asarray(hotspots.dist[target], dtype=np.float64)
    control = choose_control(part, dist, buffer_m[1], control_m)
    out: dict[str, list[pd.DataFrame]] = {k: [] for k in (
        "budget", "budget_seeds", "displacement", "displacement_summary", "placebo")}
    for metric, event in BUDGET_METRICS.items():
        sel = nodes[nodes["event"] == event]
        counts = with_control(area_counts(sel, part), sel, control)
        per_seed = displacement_contrast(counts, part, baseline)
        tables = {"budget": budget(counts, part, baseline, level),
                  "budget_seeds": budget_seeds(counts, part, baseline),
                  "displacement": per_seed,
                  "displacement_summary": summarise_statistics(per_seed, counts, baseline,
                                                               control, level),
                  "placebo": placebo_table(sel, part, baseline, control, dist, target_m,
                                           buffer_m, level)}
        for name, df in tables.items():
            out[name].append(df.assign(metric=metric))
    return part, {name: _metric_first(pd.concat(frames, ignore_index=True))
                  for name, frames in out.items()}


def _metric_first(df: pd.DataFrame) -> pd.DataFrame:
    """The columns with ``metric`` after ``scenario`` (or first)."""
    cols = [c for c in df.columns if c != "metric"]
    at = cols.index("scenario") + 1 if "scenario" in cols else 0
    return df[[*cols[:at], "metric", *cols[at:]]]
