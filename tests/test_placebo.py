"""A scenario that changes nothing reproduces the baseline byte for byte (issue 19, 3a).

Every shipped scenario, with an intervention that never starts, must give the baseline's events
and metrics exactly, with the same seed: each run begins from the baseline's state
(`spinup.start_model`) and adopts its policy only at its intervention (`brusim.model.policy`),
and its random numbers are keyed by purpose, step and agent, so nothing it would draw shifts
the baseline's. The last test shows the check can fail: a setting acting from the first step
(a run begun from another baseline) is caught.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brusim.config.load import compose_config
from brusim.experiments.spinup import start_model
from brusim.paths import config_dir

WEEKS = "weeks=10"  # past week 8, where a room opened by a fixed week would differ
SCENARIOS = sorted(p.stem for p in (config_dir() / "scenario").glob("*.yaml")
                   if p.stem != "baseline")
NO_SPINUP = "spinup.max_weeks=0"  # the pairing of the runs, not the spin-up, is tested here


def outputs(*overrides: str, baseline: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    base = compose_config([WEEKS, NO_SPINUP, *baseline])
    model, _ = start_model(compose_config([WEEKS, NO_SPINUP, *baseline, *overrides]),
                           baseline=base)
    model.run()
    events = model.events.frame(["step", "type", "node", "agent", "other"])
    return {"events": events.to_numpy(), "region": model.region_metrics().to_numpy(),
            "areas": model.area_metrics().select_dtypes("number").to_numpy()}


@pytest.fixture(scope="module")
def baseline() -> dict[str, np.ndarray]:
    return outputs()


def never(scenario: str) -> list[str]:
    """Overrides that keep ``scenario``'s settings but never start its intervention."""
    withdraw = ["scenario.withdraw_week=null"] if scenario == "sustainability" else []
    return [f"scenario={scenario}", "scenario.intervention_week=99", *withdraw]


def assert_identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    for name in a:
        assert a[name].shape == b[name].shape, f"{name} differ in shape"
        assert np.array_equal(a[name], b[name]), f"{name} differ"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_scenario_whose_intervention_never_starts_is_the_baseline(baseline, scenario):
    assert len(SCENARIOS) >= 8 and "prevention" in SCENARIOS
    assert_identical(baseline, outputs(*never(scenario)))


def test_the_placebo_check_catches_a_setting_that_acts_from_the_first_step(baseline):
    changed = outputs(*never("midi_plan"), baseline=("police.arrest_prob=0.02",))
    with pytest.raises(AssertionError, match="differ"):
        assert_identical(baseline, changed)


def far_from(model, focus: str, km: float) -> np.ndarray:
    """Mask of the street nodes more than ``km`` km (straight line) from hotspot ``focus``."""
    smap = model.smap
    node = smap.hotspots.node[smap.hotspots.index(focus)]
    return np.hypot(smap.x - smap.x[node], smap.y - smap.y[node]) > km * 1000


def remote_state(model, far: np.ndarray) -> dict[str, np.ndarray]:
    """The events at far nodes, and the whole state of the users and dealers standing there."""
    ev = model.events.frame(["step", "type", "node", "agent", "other"]).to_numpy()
    u, d = model.users, model.dealers
    users, dealers = far[u.node], far[d.node]
    return {"events": ev[far[ev[:, 2].astype(np.int64)]],
            **{f"users.{k}": getattr(u, k)[users] for k in ("status", "node", "ready", "until",
                                                             "known", "target")},
            **{f"dealers.{k}": getattr(d, k)[dealers] for k in ("status", "node", "until",
                                                                 "lie_lows")}}


def paired_after(steps: int) -> tuple[dict, dict]:
    """Remote state of the baseline and the Midi plan ``steps`` past an intervention at week
    0, both begun from the same state."""
    base = compose_config(["weeks=1", NO_SPINUP, "scenario.intervention_week=0"])
    scen = compose_config(["weeks=1", NO_SPINUP, "scenario.intervention_week=0",
                           "scenario=midi_plan"])
    out = []
    for cfg in (base, scen):
        model, _ = start_model(cfg, baseline=base)
        far = far_from(model, "gare_du_midi", 3.0)
        model.advance(steps)
        model.finish()
        out.append(remote_state(model, far))
    return out[0], out[1]


def test_an_intervention_changes_no_random_number_far_from_it():
    """Within the first hour of the Midi plan no causal path reaches 3 km from Gare du Midi
    (patrols there are other units'; nobody walks 3 km in an hour), so every event there, and
    the whole state of every user and dealer there, is the baseline's: the intervention's own
    draws shift nobody else's. (With one sequential stream per process they all shifted at the
    first extra draw: cravings, trips and timers everywhere.)"""
    base, scen = paired_after(4)
    assert len(base["events"]) > 0 and len(base["users.ready"]) > 500
    for name in base:
        assert np.array_equal(base[name], scen[name]), name


def test_the_remote_check_sees_the_intervention_once_it_has_spread():
    """The check above can fail: after a week the Midi plan has reached remote places (the
    shared courts, displaced sellers and buyers, word of mouth), and their state differs."""
    base, scen = paired_after(7 * 96)
    assert any(base[name].shape != scen[name].shape or not np.array_equal(base[name], scen[name])
               for name in base)


# ------------------------------------------- the displacement statistics' placebo (issue 21, 2)


def drifting_market(drift: float, seeds: int = 8, effect: float = 1.0) -> pd.DataFrame:
    """Per-node counts of a made-up market on a straight street (`tests.test_displacement`'s
    ``PLACES``): business as usual, whose target loses ``drift`` of its dealing between the
    before and the after window while its buffer gains ``drift`` of its own (nothing else
    changes; so the market drifts towards the buffer, as in Brussels), and a scenario that
    multiplies the target's after-window dealing by ``effect``. Each seed has its own overall
    level (±10%) and Poisson noise."""
    rng = np.random.default_rng(21)
    level = {0: 500, 1: 500, 2: 700, 3: 700, 4: 700, 5: 400, 6: 400, 7: 300, 8: 1000,
             9: 1500, 10: 1000}
    target, buffer = (0, 1), (2, 3, 4)
    rows = []
    for seed in range(seeds):
        f = float(np.exp(rng.normal(0.0, 0.1)))
        for window in ("before", "after"):
            for scen in ("baseline", "scenario"):
                for node, mean in level.items():
                    if window == "after" and node in target:
                        mean *= (1 - drift) * (effect if scen == "scenario" else 1.0)
                    if window == "after" and node in buffer:
                        mean *= 1 + drift
                    rows.append((scen, seed, window, node, float(rng.poisson(mean * f))))
    return pd.DataFrame(rows, columns=["scenario", "seed", "window", "node", "count"]).assign(
        event="transaction")


def placebo(nodes: pd.DataFrame) -> pd.DataFrame:
    from brusim.analysis.budget import choose_control, partition, placebo_table
    from tests.test_displacement import PLACES

    part = partition(PLACES, 0, 400.0, (400.0, 1200.0))
    control = choose_control(part, PLACES.dist[0], 1200.0)
    assert control.areas == ("c",)
    return placebo_table(nodes, part, "baseline", control, PLACES.dist[0], 400.0,
                         (400.0, 1200.0)).set_index("method")


def test_the_contrast_placebo_finds_no_effect_where_the_former_reading_finds_one():
    """Business as usual drifts (its target loses 40% between the windows, its buffer gains
    40%): the former before/after reading reports the drift as an effect (the target "improved"
    with no policy, a TNE of hundreds of transactions); the contrast reading, which compares
    runs in the same window, finds none."""
    p = placebo(drifting_market(drift=0.4))
    former, contrast = p.loc["before_after"], p.loc["contrast"]
    assert not former["passes"] and not former["target_change_contains_zero"]
    assert former["target_change_hi"] < 0 and former["tne_share"] > 0.10
    assert former["wdq_hi"] < 0  # "displacement" without any policy
    assert contrast["passes"]
    # each seed on both sides once: a linear statistic's mean is zero by construction
    assert abs(contrast["target_change"]) < 1e-12 and abs(contrast["wdd"]) < 1e-9
    assert contrast["tne_share"] < 0.02 and contrast["wdq_lo"] < 0 < contrast["wdq_hi"]


def test_the_former_reading_passes_when_business_as_usual_is_stationary():
    """So what it fails on above is the drift, not the check."""
    p = placebo(drifting_market(drift=0.0))
    assert p.loc["before_after", "passes"] and p.loc["contrast", "passes"]


def test_the_placebo_check_fails_on_a_real_effect():
    """The check can fail: the same reading of a scenario that does halve the target's dealing
    (against business as usual, same window) is not a placebo."""
    from brusim.analysis.budget import (
        area_counts,
        choose_control,
        displacement_contrast,
        partition,
        placebo_verdict,
        summarise_statistics,
        with_control,
    )
    from tests.test_displacement import PLACES

    nodes = drifting_market(drift=0.4, effect=0.5)
    part = partition(PLACES, 0, 400.0, (400.0, 1200.0))
    control = choose_control(part, PLACES.dist[0], 1200.0)
    counts = with_control(area_counts(nodes, part), nodes, control)
    summary = summarise_statistics(displacement_contrast(counts, part, "baseline"), counts,
                                   "baseline", control).iloc[0]
    verdict = placebo_verdict(summary)
    assert not verdict["passes"] and not verdict["target_change_contains_zero"]
    assert summary["target_change_hi"] < 0 and not summary["control_changed"]
