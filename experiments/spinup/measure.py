"""Does business as usual settle? Spins up the baseline (`brusim.experiments.spinup`) for
``--weeks`` weeks from the model's initial state, for ``--seeds`` seeds, judging the spin-up
rule at every week (it stops early only if the rule holds), and prints one table row per seed:
the verdict, region-wide weekly transactions at the start and the end, Gare du Midi and Porte de
Hal, the busiest listed hotspots at the end, the two stations' ranks among the listed hotspots,
the series the rule still sees changing (judged from the users' pre-loading on) and the users'
slow stocks in treatment and recovered; then the old daily warm-up rules
(`brusim.analysis.warmup`: MSER-5 and the 4-week drift rule) on the same series.

Usage: ``python experiments/spinup/measure.py --seeds 3 --weeks 40 [override ...]``
"""

from __future__ import annotations

import argparse

import numpy as np

from brusim.analysis.warmup import drift, mser5
from brusim.config.load import compose_config
from brusim.experiments.spinup import settled, spin_up
from brusim.map import load_street_map
from brusim.model.codes import USER_STATUS_NAMES
from brusim.model.model import map_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--weeks", type=int, default=40)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    print("| seed | settled? | region, first 4 → last 4 weeks (a week) | Gare du Midi | "
          "Porte de Hal | busiest listed hotspots at the end | Gare du Midi, Porte de Hal ranks | "
          "series the rule still sees changing | users in treatment, recovered |")
    print("|---|---|---|---|---|---|---|---|---|")
    smap = None
    for seed in range(args.seeds):
        cfg = compose_config([f"seed={seed}", f"spinup.max_weeks={args.weeks}",
                              "spinup.cache=false", *args.overrides])
        smap = smap or load_street_map(map_settings(cfg.map))
        model, report = spin_up(cfg, smap)
        w = report.weekly
        listed = [c for c in w.columns if c != "region"]
        top = w[listed].iloc[-4:].sum().sort_values(ascending=False).index[:4]
        names = dict(zip(smap.hotspots.ids, smap.hotspots.names, strict=True))

        def span(col: str, w=w) -> str:
            return f"{w[col].iloc[:4].mean():,.0f} → {w[col].iloc[-4:].mean():,.0f}"

        verdict = f"from week {report.settled_week}" if report.settled else "no"
        ranks = w[listed].iloc[-4:].sum().rank(ascending=False, method="min")
        judged = w.iloc[cfg.spinup.preload_users_week:].to_numpy()
        changing = [names.get(c, c) for j, c in enumerate(w.columns)
                    if not settled(judged[:, [j]], cfg.spinup.window_weeks, cfg.spinup.tolerance)]
        status = np.bincount(model.users.status, minlength=len(USER_STATUS_NAMES))
        print(f"| {seed} | {verdict} ({report.weeks} weeks) | {span('region')} | "
              f"{span('gare_du_midi')} | {span('porte_de_hal')} | "
              f"{', '.join(names[h] for h in top)} | "
              f"{int(ranks['gare_du_midi'])}, {int(ranks['porte_de_hal'])} | "
              f"{', '.join(changing) or 'none'} | "
              f"{status[USER_STATUS_NAMES.index('treatment')]}, "
              f"{status[USER_STATUS_NAMES.index('recovered')]} |", flush=True)
        for col in ("region", "gare_du_midi", "porte_de_hal"):
            print(f"  seed {seed} {col}: MSER-5 weeks {mser5(w[col].to_numpy())}, "
                  f"drift rule from week {drift(w[col].to_numpy())}")


if __name__ == "__main__":
    main()
