"""Are paired runs paired far from the intervention? Runs the baseline and a scenario with the
same seeds, both begun from the same spun-up baseline (`spinup.start_model`), and compares
transactions after the intervention in the hotspot catchments more than ``--km`` km (straight
line) from the scenario's focus hotspot: per area and seed, the log ratio scenario / baseline,
and per area its SD over seeds (issue 19: at most 0.02).

Usage: ``python experiments/pairing/measure.py --seeds 6 --weeks 20 [--scenario midi_plan]``;
``--scenario-override key=value`` (repeatable) changes the scenario arm only, e.g. a Midi plan of
one reinforcement unit (the smallest intervention: is the remote divergence the plan's reach, or
any perturbation amplified?); ``--rekey`` measures the yardstick of no pairing at all (the
baseline against itself with other random numbers after the branch).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from brusim.config.load import compose_config
from brusim.experiments.spinup import start_model
from brusim.model import BrusselsMarketModel
from brusim.model import rng as rd


def transactions_after(cfg, baseline, rekey: int | None = None
                       ) -> tuple[pd.Series, BrusselsMarketModel]:
    model, _ = start_model(cfg, baseline=baseline)  # both from the same spun-up state
    if rekey is not None:  # the same state, other random numbers after the branch
        model.key = model.deployment.key = rd.stream_key(rekey)
    model.run()
    areas = model.area_metrics()
    after = areas[(areas.area_kind == "hotspot")
                  & (areas.week >= int(cfg.scenario.intervention_week))]
    return after.groupby("area", observed=True)["transactions"].sum(), model


def remote_areas(model: BrusselsMarketModel, focus: str, km: float) -> list[str]:
    hs = model.smap.hotspots
    i = hs.index(focus)
    x, y = model.smap.x[hs.node], model.smap.y[hs.node]
    far = np.hypot(x - x[i], y - y[i]) > km * 1000
    return [hs.ids[j] for j in np.flatnonzero(far)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--weeks", type=float, default=20)
    parser.add_argument("--scenario", default="midi_plan")
    parser.add_argument("--focus", default="gare_du_midi")
    parser.add_argument("--km", type=float, default=3.0)
    parser.add_argument("--rekey", action="store_true",
                        help="the yardstick of no pairing: the baseline again from the same "
                             "spun-up state with other random numbers after the branch")
    parser.add_argument("--scenario-override", action="append", default=[],
                        help="a Hydra override for the scenario arm only (repeatable)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    rows = []
    for seed in range(args.seeds):
        common = [f"seed={seed}", f"weeks={args.weeks:g}", "run.progress=false", *args.overrides]
        baseline = compose_config(common)
        base, model = transactions_after(baseline, baseline)
        if args.rekey:
            scen, _ = transactions_after(baseline, baseline, rekey=10_000 + seed)
        else:
            scen, _ = transactions_after(
                compose_config([*common, f"scenario={args.scenario}",
                                *args.scenario_override]), baseline)
        for area in remote_areas(model, args.focus, args.km):
            rows.append({"seed": seed, "area": area, "baseline": base.get(area, 0.0),
                         "scenario": scen.get(area, 0.0)})
    df = pd.DataFrame(rows)
    df = df[(df.baseline > 0) & (df.scenario > 0)]
    df["log_ratio"] = np.log(df.scenario / df.baseline)
    per_area = df.groupby("area")["log_ratio"].agg(["mean", "std", "min", "max"])
    per_area["baseline_mean"] = df.groupby("area")["baseline"].mean()
    print(per_area.round(4).to_string())
    print(f"\nremote areas: {per_area.shape[0]}; seeds: {args.seeds}; log ratios "
          f"{df.log_ratio.min():+.3f} to {df.log_ratio.max():+.3f}; SD over seeds: "
          f"median {per_area['std'].median():.4f}, max {per_area['std'].max():.4f}; "
          f"SD of all {df.log_ratio.std():.4f}")


if __name__ == "__main__":
    main()
