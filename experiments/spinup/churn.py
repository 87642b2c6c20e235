"""Hotspot churn in business as usual: spins up for ``--weeks`` weeks (no early stop) and prints,
per seed, the share of listed-hotspot dealing that changes between adjacent 3-week windows
(churn: sum |later - earlier| / sum earlier over the hotspots, averaged over the window pairs)
and between the first and the last 3-week window after the users' pre-loading (drift).

Usage: ``python experiments/spinup/churn.py --seeds 3 --weeks 20 [override ...]``
"""

from __future__ import annotations

import argparse

import numpy as np

from brusim.config.load import compose_config
from brusim.experiments.spinup import spin_up
from brusim.map import load_street_map
from brusim.model.model import map_settings

WINDOW_WEEKS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--weeks", type=int, default=20)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    smap, rows = None, []
    for seed in range(args.seeds):
        cfg = compose_config([f"seed={seed}", f"spinup.max_weeks={args.weeks}",
                              f"spinup.min_weeks={args.weeks}", "spinup.cache=false",
                              *args.overrides])
        smap = smap or load_street_map(map_settings(cfg.map))
        _, report = spin_up(cfg, smap)
        weekly = report.weekly
        listed = [c for c in weekly.columns if c != "region"]
        x = weekly[listed].to_numpy()[cfg.spinup.preload_users_week:]
        k = WINDOW_WEEKS
        wins = [x[i:i + k].sum(0) for i in range(0, x.shape[0] - k + 1, k)]
        churn = float(np.mean([np.abs(b - a).sum() / a.sum()
                               for a, b in zip(wins[:-1], wins[1:], strict=True)]))
        drift = float(np.abs(wins[-1] - wins[0]).sum() / wins[0].sum())
        rows.append((churn, drift))
        print(f"seed {seed}: churn {churn:.3f}, drift {drift:.3f}, region "
              f"{weekly['region'].iloc[-4:].mean():,.0f} a week", flush=True)
    churn, drift = np.mean(rows, axis=0)
    print(f"mean ({' '.join(args.overrides) or 'defaults'}): churn {churn:.3f}, "
          f"drift {drift:.3f}")


if __name__ == "__main__":
    main()
