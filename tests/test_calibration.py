"""Pattern checks on hand-made tables, `brusim validate` and `brusim calibrate` on the synthetic
city, and `--apply` on a copy of the behaviour config."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import optuna
import pandas as pd
import pytest
from omegaconf import OmegaConf

from brusim.calibration import patterns as pt
from brusim.calibration.apply import BEGIN, END, apply_values, format_value, set_values
from brusim.calibration.calibrate import CalibrateSettings, apply_fit, load_fit, run_calibrate
from brusim.calibration.spec import load_free_parameters, load_patterns
from brusim.errors import ConfigError
from brusim.paths import config_dir

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def synthetic_map():
    from brusim.calibration.validate import load_map

    return load_map("synthetic", [])


def spec(lo, hi, scale=1.0, log=False) -> pt.CheckSpec:
    return pt.CheckSpec("t", pt.Band(lo, hi), scale, log)


def results_rows(scenario: str, area: str, metric: str, values, window: str = "after",
                 kind: str = "hotspot") -> list[dict]:
    return [{"scenario": scenario, "seed": s, "area_kind": kind, "area": area, "window": window,
             "metric": metric, "value": float(v)} for s, v in zip(SEEDS, values, strict=True)]


# ------------------------------------------------------------------------------ bands and loss


def test_band_distance_and_contains():
    band = pt.Band(50.0, 70.0)
    assert band.contains(50) and band.contains(70) and not band.contains(49.9)
    assert band.distance(60) == 0 and band.distance(40) == 10 and band.distance(75) == 5
    assert not band.contains(math.nan) and math.isnan(band.distance(math.nan))
    assert pt.Band(28, 178).distance(56, log=True) == 0
    assert pt.Band(28, 178).distance(14, log=True) == pytest.approx(math.log(2))
    assert pt.Band(None, 0.0).text() == "<= 0" and pt.Band(0.5, None).text() == ">= 0.5"


def test_loss_sums_capped_normalised_distances():
    checks = [pt.make_check("a", "x", spec(0, 1, scale=0.5), [2.0, 2.0]),     # 1 / 0.5 = 2
              pt.make_check("a", "y", spec(0, 1), [0.5, 0.6]),                # inside: 0
              pt.make_check("b", "z", spec(0, 1, scale=0.1), [11.0, 11.0]),   # 100 -> cap 3
              pt.void_check("b", "w", spec(0, 1), "no data")]                 # nan -> cap 3
    assert pt.loss(checks, cap=3.0) == pytest.approx(2 + 0 + 3 + 3)
    assert pt.loss(checks, {("a", "x"): 0.5}, cap=3.0) == pytest.approx(1 + 0 + 3 + 3)


def test_make_check_passes_only_when_its_whole_interval_lies_in_the_band():
    c = pt.make_check("p", "c", spec(0.0, None), [1.0, 2.0, 3.0])
    assert c.value == pytest.approx(2.0) and c.n == 3
    assert c.ci_lo == pytest.approx(2 - 4.302653 / math.sqrt(3), rel=1e-5)
    assert c.estimate_in_band and not c.passed  # the interval reaches below 0
    assert pt.make_check("p", "c", spec(0.0, None), [2.0, 2.1, 1.9]).passed


# ------------------------------------------------------------------------------ each pattern


def nodes_table(counts_per_seed: dict[int, np.ndarray], scenario="baseline") -> pd.DataFrame:
    rows = []
    for seed, counts in counts_per_seed.items():
        for node in np.flatnonzero(counts):
            rows.append({"scenario": scenario, "seed": seed, "window": "after", "node": int(node),
                         "event": "transaction", "count": float(counts[node])})
    return pd.DataFrame(rows)


def test_concentration_follows_the_law_and_fails_both_ways():
    """Weisburd's bandwidth: half the transactions at 2.1-6% of the street nodes. Dealing at a
    handful of corners fails (too concentrated), dealing spread evenly fails (too spread); a
    city-like distribution passes. The random-allocation reference is given alongside."""
    n = 1000
    specs = {"places_for_half": spec(0.021, 0.06), "places_for_quarter": spec(0.004, 0.016)}
    law = np.zeros(n)
    law[:10] = 100.0    # 1,000 transactions at 1% of the nodes: 25% of 4,000
    law[10:40] = 1000.0 / 30  # 1,000 more at the next 3%: 50% at 4% of the nodes
    law[40:] = 2000.0 / 960   # the rest over every other node
    law = law[np.argsort(np.random.default_rng(1).random(n))]  # anywhere on the map
    corners = np.zeros(n)
    corners[[3, 17]] = 500.0
    spread = np.ones(n)
    half, quarter = pt.concentration(nodes_table({0: law, 1: law}), n, specs,
                                     scenario="baseline")
    assert half.value == pytest.approx(0.04) and half.passed and half.estimate_in_band
    assert quarter.value == pytest.approx(0.01) and quarter.passed
    assert "random allocation would need" in half.detail
    few = pt.concentration(nodes_table({0: corners}), n, specs, scenario="baseline")
    assert few[0].value == pytest.approx(0.001) and not few[0].passed  # too concentrated
    even = pt.concentration(nodes_table({0: spread}), n, specs, scenario="baseline")
    assert even[0].value == pytest.approx(0.5) and not even[0].passed  # too spread
    assert even[0].distance == pytest.approx(0.44)  # 0.5 - 0.06, in units of the scale (1)
    void = pt.concentration(nodes_table({0: law}).iloc[0:0], n, specs, scenario="baseline")
    assert [c.passed for c in void] == [False, False]


def test_places_for_share_and_what_chance_gives():
    from brusim.analysis.displacement import places_for_share, random_places_for_share

    assert places_for_share([10, 0, 0, 0]) == 0.25
    assert places_for_share([1, 1, 1, 1]) == 0.5
    assert places_for_share([2, 2, 0, 0]) == 0.25  # exactly half at the first
    assert places_for_share([5, 3, 2, 0], 0.75) == 0.5
    assert math.isnan(places_for_share([0, 0]))
    # few events over many places look concentrated by chance (Bernasco & Steenbeek 2017)
    assert random_places_for_share(100, 1000) < 0.06
    assert random_places_for_share(100_000, 1000) > 0.45
    assert random_places_for_share(100, 1000) == random_places_for_share(100, 1000)


def test_midi_plan_directions():
    # nodes 0-1 target area, 2-3 receiver, 4 nearby; counts per seed (seeds 0, 1, 2)
    counts = {"baseline": {0: [50, 50, 50], 1: [50, 50, 50], 2: [25, 25, 25], 3: [25, 25, 25],
                           4: [20, 20, 20]},
              "crackdown": {0: [20, 25, 30], 1: [20, 25, 30], 2: [30, 35, 40], 3: [30, 35, 40],
                            4: [18, 20, 16]}}
    rows = [{"scenario": scen, "seed": seed, "window": "after", "node": node,
             "event": "transaction", "count": float(v[i])}
            for scen, per_node in counts.items() for node, v in per_node.items()
            for i, seed in enumerate(SEEDS)]
    rows.append({"scenario": "crackdown", "seed": 0, "window": "before", "node": 2,
                 "event": "transaction", "count": 1000.0})  # other windows are ignored
    disp = pd.DataFrame({"scenario": "crackdown", "seed": SEEDS, "wdq": [-0.5, -0.3, np.nan],
                         "target_change": [-0.1, -0.2, -0.1]})
    specs = {"target_change": spec(-1, -0.2), "receiver_change": spec(0, None),
             "nearby_change": spec(0, None), "wdq": spec(None, 0.0)}
    areas = {"target": np.array([0, 1]), "receiver": np.array([2, 3]), "nearby": np.array([4])}
    out = {c.check: c for c in pt.midi_plan(pd.DataFrame(rows), disp, specs, areas,
                                            scenario="crackdown", baseline="baseline")}
    assert out["target_change"].value == pytest.approx(-0.5)
    assert out["target_change"].estimate_in_band
    assert out["receiver_change"].value == pytest.approx(0.4)
    assert out["receiver_change"].estimate_in_band
    assert out["nearby_change"].value == pytest.approx(-0.1) and not out["nearby_change"].passed
    assert out["wdq"].value == pytest.approx(-0.4) and out["wdq"].n == 2
    assert out["wdq"].estimate_in_band


def test_midi_areas_are_disjoint(synthetic_map):
    from brusim.calibration.evaluate import midi_areas

    places = load_patterns().places_for(synthetic_map.hotspots.ids)
    dist = synthetic_map.hotspots.dist[synthetic_map.hotspots.index(places.target)]
    areas = midi_areas(synthetic_map, dist, 400.0, places)
    assert len(areas["target"]) and len(areas["receiver"]) and len(areas["nearby"])
    assert not np.intersect1d(areas["target"], areas["receiver"]).size
    assert not np.intersect1d(areas["nearby"], np.union1d(areas["target"], areas["receiver"])).size
    assert (dist[areas["receiver"]] > 400.0).all()


def weekly_table(scenario: str, weeks: int, per_week: dict[str, list[float]],
                 area="region", kind="region") -> pd.DataFrame:
    rows = []
    for s_i, seed in enumerate(SEEDS):
        for w in range(weeks):
            rows.append({"scenario": scenario, "seed": seed, "week": w, "area_kind": kind,
                         "area": area, **{m: v[s_i] for m, v in per_week.items()}})
    return pd.DataFrame(rows)


def test_room_use_per_day_after_burn_in():
    weekly = weekly_table("baseline", 6, {"room_entries": [7 * 60.0, 7 * 40.0, 7 * 50.0]})
    c = pt.room_use(weekly, spec(50, 70, scale=10), scenario="baseline", first_week=2)[0]
    assert c.value == pytest.approx(50.0) and c.estimate_in_band and not c.passed and c.n == 3
    low = weekly_table("baseline", 6, {"room_entries": [7 * 20.0] * 3})
    c = pt.room_use(low, spec(50, 70, scale=10), scenario="baseline", first_week=2)[0]
    assert c.value == pytest.approx(20.0) and not c.passed and c.distance == pytest.approx(3.0)


def test_violence_per_year_and_rise_when_disrupted():
    weekly = weekly_table("baseline", 6, {"violent_incidents": [1.0, 2.0, 3.0]})
    results = pd.DataFrame(
        results_rows("baseline", "region", "violent_incidents", [4, 8, 10], kind="region")
        + results_rows("crackdown", "region", "violent_incidents", [6, 8, 15], kind="region"))
    specs = {"per_year": spec(28, 178, log=True), "disrupted_change": spec(0, None)}
    out = {c.check: c for c in pt.violence(weekly, results, specs, scenario="crackdown",
                                            baseline="baseline", first_week=2)}
    assert out["per_year"].value == pytest.approx(104.0) and out["per_year"].estimate_in_band
    # the paired contrast: ratio of sums over seeds - 1 (not the mean of per-seed ratios)
    assert out["disrupted_change"].value == pytest.approx(29 / 22 - 1)
    assert out["disrupted_change"].estimate_in_band and not out["disrupted_change"].passed
    calm = weekly_table("baseline", 6, {"violent_incidents": [0.1, 0.1, 0.1]})
    c = pt.violence(calm, results, {"per_year": spec(28, 178, log=True)}, scenario="crackdown",
                    baseline="baseline", first_week=2)[0]
    assert c.value == pytest.approx(5.2) and not c.passed


def test_koper_long_stops_lower_than_drive_bys():
    rows = []
    for scen, vals in (("short", [100, 100, 100]), ("long", [80, 90, 85])):
        for area in ("a", "b"):
            rows += results_rows(scen, area, "dealer_hours", vals)
    rows += results_rows("short", "region", "dealer_hours", [1, 1, 1], kind="region")
    rows += results_rows("long", "region", "dealer_hours", [9, 9, 9], kind="region")
    c = pt.koper(pd.DataFrame(rows), {"dealer_hours": spec(None, 0.0)}, short="short",
                 long="long")[0]
    assert c.value == pytest.approx(-0.15) and c.passed  # region rows are not hotspots
    flipped = pt.koper(pd.DataFrame(rows), {"dealer_hours": spec(None, 0.0)}, short="long",
                       long="short")[0]
    assert flipped.value > 0 and not flipped.passed


def test_replacement_needs_more_arrests_and_a_small_fall():
    def table(arrests_high):
        rows = (results_rows("baseline", "region", "arrests", [100, 100, 100], kind="region")
                + results_rows("high", "region", "arrests", arrests_high, kind="region")
                + results_rows("baseline", "region", "transactions", [1000] * 3, kind="region")
                + results_rows("high", "region", "transactions", [900, 950, 1000],
                               kind="region"))
        return pd.DataFrame(rows)

    s = {"transactions": spec(-0.25, None)}
    c = pt.replacement(table([500, 600, 700]), s, scenario="high", baseline="baseline")[0]
    assert c.value == pytest.approx(-0.05) and c.passed
    void = pt.replacement(table([150, 150, 150]), s, scenario="high", baseline="baseline")[0]
    assert not void.passed and math.isnan(void.value) and "premise failed" in void.detail


def test_stability_drift_and_target_change():
    rows = []
    for seed in SEEDS:
        for w in range(8):
            late = w >= 5
            rows.append({"scenario": "baseline", "seed": seed, "week": w, "area_kind": "hotspot",
                         "area": "midi", "transactions": 50.0 if late else 100.0})
            rows.append({"scenario": "baseline", "seed": seed, "week": w, "area_kind": "hotspot",
                         "area": "hal", "transactions": 150.0 if late else 100.0})
    specs = {"drift": spec(0, 0.15), "target_change": spec(-0.15, 0.15)}
    out = {c.check: c for c in pt.stability(pd.DataFrame(rows), specs, scenario="baseline",
                                            target="midi", first_week=2, window_weeks=3)}
    # early weeks 2-4: 300 + 300; late weeks 5-7: 150 + 450 -> moved 300 of 600
    assert out["drift"].value == pytest.approx(0.5) and not out["drift"].passed
    assert out["target_change"].value == pytest.approx(-0.5) and not out["target_change"].passed
    steady = pd.DataFrame(rows).assign(transactions=100.0)
    out = {c.check: c for c in pt.stability(steady, specs, scenario="baseline", target="midi",
                                            first_week=2, window_weeks=3)}
    assert out["drift"].value == 0 and out["drift"].passed and out["target_change"].passed


# ------------------------------------------------------------------------------ config files


def test_pattern_book_and_free_parameters_load():
    book = load_patterns()
    assert {"concentration", "midi_plan", "room_use", "violence", "koper", "replacement",
            "stability"} <= set(book.patterns)
    assert book.places_for(("central", "west", "east", "north")).name == "synthetic"
    with pytest.raises(ConfigError, match="no place set"):
        book.places_for(("a", "b"))
    params = load_free_parameters()
    assert all(p.key.startswith("behaviour.") and p.low < p.high and p.reason for p in params)
    fitted = load_free_parameters(fitted_only=True)
    assert 0 < len(fitted) <= len(params) and all(p.fit for p in fitted)


def test_free_parameters_must_be_behavioural(tmp_path):
    bad = tmp_path / "free.yaml"
    bad.write_text("parameters:\n  police.arrest_prob: {range: [0.01, 0.1], reason: x}\n")
    with pytest.raises(ConfigError, match="not a behaviour"):
        load_free_parameters(bad)
    bad.write_text("parameters:\n  behaviour.users.loyalty: {range: [0.9, 0.5], reason: x}\n")
    with pytest.raises(ConfigError, match="empty"):
        load_free_parameters(bad)


# ------------------------------------------------------------------------------ end to end

TINY = ["scenario.intervention_week=2", "burn_in_weeks=0", "population.n_users=150"]


def test_validate_on_the_synthetic_city_writes_the_table(tmp_path):
    out = tmp_path / "v"
    proc = subprocess.run(
        [sys.executable, "-m", "brusim.cli", "validate", "--config-name", "synthetic",
         "--seeds", "2", "--weeks", "3", "--jobs", "2", "-o", str(out), *TINY],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_parquet(out / "table.parquet")
    assert set(table["pattern"]) == {"concentration", "midi_plan", "room_use", "violence",
                                     "koper", "replacement", "stability"}
    assert pd.read_csv(out / "table.csv").shape[0] == len(table)
    md = (out / "table.md").read_text()
    assert "| pattern | check | target |" in md and md.count("PASS") + md.count("FAIL") >= 14
    assert "checks pass" in proc.stdout
    conc = table.set_index(["pattern", "check"]).loc[("concentration", "places_for_half")]
    assert 0.0 < conc["value"] <= 0.5 and conc["n"] == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["places"] == "synthetic"


def test_validate_user_error_exits_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "brusim.cli", "validate", "--config-name", "synthetic",
         "--seeds", "1", "-o", str(tmp_path / "v")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2 and "brusim: error:" in proc.stderr


def test_calibration_writes_study_and_fit_and_resumes(tmp_path):
    settings = CalibrateSettings(name="tiny", trials=3, seeds=1, weeks=3, jobs=1,
                                 overrides=TINY, config_name="synthetic", root=tmp_path,
                                 command="test")
    folder, fit = run_calibrate(settings)
    assert (folder / "study.db").is_file() and (folder / "fit.md").is_file()
    assert load_fit(folder)["trials_complete"] == 3
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{folder / 'study.db'}")
    first = study.trials[0]
    assert first.user_attrs["defaults"] is True  # the current defaults are evaluated first
    current = OmegaConf.load(config_dir() / "behaviour" / "default.yaml")
    assert first.params["behaviour.dealers.risk_weight"] == current.dealers.risk_weight
    assert {c["pattern"] for c in first.user_attrs["checks"]} == set(fit["patterns"])
    assert fit["best_value"] == min(t.value for t in study.trials)
    # the same name continues the study
    settings.trials = 1
    _, fit2 = run_calibrate(settings)
    assert fit2["trials_complete"] == 4 and fit2["defaults_value"] == fit["defaults_value"]
    assert [h["trials_added"] for h in fit2["history"]] == [3, 1]
    assert not list((folder / "runs").glob("trial_*"))  # trial runs are cleaned up
    # other settings under the same name are refused
    settings.seeds = 2
    with pytest.raises(ConfigError, match="other settings"):
        run_calibrate(settings)


# ------------------------------------------------------------------------------ --apply


def test_set_values_keeps_comments_and_layout():
    text = "a:\n  x: 1.0     # a comment\n  y: 2   # keep\nb:\n  x: 5.0 # other x\n"
    new = set_values(text, {"a.x": 0.123456, "b.x": 7})
    assert new.splitlines()[1] == "  x: 0.1235  # a comment"
    assert new.splitlines()[2] == "  y: 2   # keep"
    assert new.splitlines()[4] == "  x: 7   # other x"  # the comment column is kept
    assert format_value(1.5e-05) == "0.000015" and format_value(3.0) == "3.0"


def test_apply_fit_on_a_copy_of_the_behaviour_config(tmp_path):
    original = (config_dir() / "behaviour" / "default.yaml").read_text()
    target = tmp_path / "behaviour.yaml"
    target.write_text(original)
    fit = {"best_params": {"behaviour.dealers.risk_weight": 3.21,
                           "behaviour.violence.base_prob": 0.0000523},
           "command": "brusim calibrate --name x", "date": "2026-01-01", "git_commit": "abc",
           "study": "s.db", "best_trial": 4, "trials_complete": 9, "patterns": ["room_use"],
           "best_value": 0.5, "defaults_value": 4.0}
    apply_fit(fit, target)
    new = target.read_text()
    cfg = OmegaConf.load(target)
    assert cfg.dealers.risk_weight == 3.21 and cfg.violence.base_prob == pytest.approx(5.23e-05)
    old = OmegaConf.load(config_dir() / "behaviour" / "default.yaml")
    assert cfg.users == old.users and cfg.dealers.awareness_m == old.dealers.awareness_m
    # every original comment survives, the provenance block names the command and objective
    body = original.split(END + "\n")[-1]  # comments outside an earlier calibration block
    comments = [ln[ln.index("#"):] for ln in body.splitlines() if "#" in ln]
    assert comments and all(c in new for c in comments)
    assert new.count(BEGIN) == 1
    assert "command: brusim calibrate --name x" in new and "0.500" in new
    # applying again replaces the block instead of stacking a second one
    apply_fit({**fit, "best_value": 0.25}, target)
    again = target.read_text()
    assert again.count("--- calibration") == 1 and "0.250" in again
    with pytest.raises(ConfigError, match="no such keys"):
        apply_values(target, {"dealers.nope": 1.0}, [])
