"""Does business as usual settle? Runs the baseline for ``--weeks`` from the model's initial
state, for ``--seeds`` seeds, and applies the warm-up rules of `brusim.analysis.warmup` (MSER-5
on daily transactions, and the 4-week drift rule at 5%) to the region-wide series and the
listed hotspots' catchments. Prints one table row per seed and series.

Usage: ``python experiments/spinup/measure.py --seeds 3 --weeks 40 [override ...]``
"""

from __future__ import annotations

import argparse

from brusim.analysis.warmup import daily_series, verdict
from brusim.config.load import compose_config
from brusim.model import BrusselsMarketModel

SERIES = ["region", "gare_du_midi", "porte_de_hal", "clemenceau", "anneessens"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--weeks", type=float, default=40)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    print("| seed | series | mean/day weeks 2-5 | mean/day last 4 weeks | MSER-5 warm-up (days) "
          "| drift rule from week |")
    print("|---|---|---|---|---|---|")
    for seed in range(args.seeds):
        cfg = compose_config([f"seed={seed}", f"weeks={args.weeks:g}", "run.progress=false",
                              *args.overrides])
        model = BrusselsMarketModel(cfg)
        model.run()
        daily = daily_series(model.area_metrics(), "transactions", SERIES)
        v = verdict(daily)
        for name in daily.columns:
            early, late = daily[name].iloc[14:42].mean(), daily[name].iloc[-28:].mean()
            print(f"| {seed} | {name} | {early:.1f} | {late:.1f} | {v.mser5_days[name]} | "
                  f"{v.drift_week[name]} |")


if __name__ == "__main__":
    main()
