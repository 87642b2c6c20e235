"""Content hashes of four short runs on the Brussels map: a refactor that must not change
results keeps them (tests/test_fingerprints.py checks them against tests/fingerprints.json).

    python3 scripts/fingerprints.py            # print the hashes
    python3 scripts/fingerprints.py --write    # store them in tests/fingerprints.json

Store new hashes only when a change is *meant* to change results (and say so in the commit).
The runs: business as usual for 3 weeks; the Midi plan, Koper stops and a second consumption
room from week 0 for 1 week (so each scenario's own code runs), on the packaged map.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STORE = REPO / "tests" / "fingerprints.json"
RUNS: dict[str, list[str]] = {
    "baseline_3w": ["scenario=baseline", "weeks=3"],
    "midi_plan_1w": ["scenario=midi_plan", "weeks=1", "scenario.intervention_week=0"],
    "koper_1w": ["scenario=koper", "weeks=1", "scenario.intervention_week=0"],
    "second_room_1w": ["scenario=second_room", "weeks=1", "scenario.intervention_week=0",
                       "scenario.rooms.ribaucourt.from_week=0"],
}


def fingerprint(overrides: list[str], seed: int = 1) -> dict[str, str]:
    """Hashes of a run's region metrics, area metrics and events (kept in memory)."""
    from brusim.config.load import compose_config
    from brusim.io import frame_hash
    from brusim.model import BrusselsMarketModel

    cfg = compose_config([*overrides, f"seed={seed}", "map.source=packaged"])
    model = BrusselsMarketModel(cfg)
    model.run()
    events = model.events.to_table().to_pandas()
    return {"metrics_region": frame_hash(model.region_metrics()),
            "metrics_areas": frame_hash(model.area_metrics()),
            "events": frame_hash(events), "steps": str(model.t)}


def all_fingerprints() -> dict[str, dict[str, str]]:
    return {name: fingerprint(overrides) for name, overrides in RUNS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"store them in {STORE}")
    args = parser.parse_args(argv)
    found = all_fingerprints()
    print(json.dumps(found, indent=2, sort_keys=True))
    if args.write:
        STORE.write_text(json.dumps(found, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {STORE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
