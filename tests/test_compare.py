"""The comparison command end to end on the synthetic city, and common random numbers."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from brusim.errors import ConfigError
from brusim.experiments.compare import load_settings, run_compare, shard_dir
from brusim.model.recorder import METRICS

ARGS = ["config_name=synthetic", "target=central", "replications=2", "weeks=10", "n_jobs=1",
        "report=false"]


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """baseline compared with itself under another label: must differ by exactly zero."""
    out = tmp_path_factory.mktemp("twin")
    settings = load_settings(None, [*ARGS, "scenarios=[baseline,baseline+baseline]",
                                    f"out_dir={out}"])
    return run_compare(settings, progress=False), settings


def test_table_has_every_scenario_seed_area_and_metric(twin):
    out, settings = twin
    results = pd.read_parquet(out / "results.parquet")
    assert set(results["scenario"]) == set(settings.scenarios)
    assert set(results["seed"]) == {0, 1}
    assert set(results["metric"]) == set(METRICS)
    assert set(results["window"]) == {"before", "after"}
    per_run = results.groupby(["scenario", "seed"]).size()
    assert per_run.nunique() == 1 and len(per_run) == 4
    con = duckdb.connect(str(out / "results.duckdb"), read_only=True)
    n = con.execute("SELECT count(*) FROM results").fetchone()[0]
    assert n == len(results)
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    assert {"summary", "paired", "budget", "budget_seeds", "displacement",
            "displacement_summary", "placebo", "concentration", "receivers", "emerging"} <= tables
    for fig in ("hotspot_timeseries.png", "budget.png", "displacement_wdq.png",
                "police_hours_per_reduction.png", "dealing_baseline.png"):
        assert (out / "figures" / fig).stat().st_size > 10_000


def test_common_random_numbers_identical_scenarios_zero_difference(twin):
    out, _ = twin
    paired = pd.read_parquet(out / "paired.parquet")
    assert len(paired) > 0
    assert np.allclose(paired["difference"].to_numpy(), 0.0)
    assert paired["crosses_zero"].all()
    budget = pd.read_parquet(out / "budget.parquet")
    assert len(budget) > 0 and (budget["difference"] == 0).all()
    assert (budget["verdict"] == "no clear difference").all()


def test_rerun_resumes_and_keeps_finished_shards(twin, tmp_path):
    out, settings = twin
    marker = shard_dir(out, "baseline", 0) / "manifest.json"
    before = marker.stat().st_mtime_ns
    run_compare(settings, progress=False)
    assert marker.stat().st_mtime_ns == before  # not recomputed


@pytest.mark.parametrize("change", ["police.arrest_prob=0.05", "window_weeks=1"])
def test_a_changed_setting_never_reuses_or_overwrites_the_finished_runs(twin, change):
    out, settings = twin
    kept = {p: p.read_bytes() for p in [out / "settings.yaml", *out.glob("shards/*/*")]
            if p.is_file()}
    changed = load_settings(None, [*ARGS, "scenarios=[baseline,baseline+baseline]",
                                   f"out_dir={out}", change])
    with pytest.raises(ConfigError, match="holds runs made with other settings"):
        run_compare(changed, progress=False)
    assert {p: p.read_bytes() for p in kept} == kept  # nothing written, settings.yaml kept


@pytest.mark.parametrize(("scenarios", "message"), [
    ("[]", "nothing to compare with the baseline"),
    ("[baseline]", "nothing to compare with the baseline"),
    ("[baseline,midi_plan,midi_plan]", "listed more than once"),
])
def test_scenario_lists_that_compare_nothing_are_refused_before_any_run(tmp_path, scenarios,
                                                                        message):
    with pytest.raises(ConfigError, match=message):
        load_settings(None, [*ARGS, f"scenarios={scenarios}", f"out_dir={tmp_path}"])
    assert not any(tmp_path.iterdir())


def test_a_target_off_the_map_is_refused_before_any_run(tmp_path):
    settings = load_settings(None, [*ARGS, "scenarios=[baseline,second_room]",
                                    "target=gare_du_midi", f"out_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="target='gare_du_midi' is not a hotspot"):
        run_compare(settings, progress=False)
    assert not (tmp_path / "shards").exists()


def test_a_yaml_error_in_a_settings_file_names_file_and_line(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("scenarios: [baseline, midi_plan]\nreplications: 3\n  weeks: [10\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: not valid YAML at line 3"):
        load_settings(path, [])


def test_unknown_scenario_is_a_clear_error(tmp_path):
    settings = load_settings(None, [*ARGS, "scenarios=[baseline,crackdown]",
                                    f"out_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="crackdown"):
        run_compare(settings, progress=False)


def test_unknown_setting_is_passed_to_hydra_and_rejected(tmp_path):
    settings = load_settings(None, [*ARGS, "police.strateg=patrol", f"out_dir={tmp_path}"])
    with pytest.raises(ConfigError):
        run_compare(settings, progress=False)


# ----------------------------------------------------------------------------- WDQ on the model

POLICE_ON_A = ["behaviour.outreach.hotspots=[a]", "population.n_outreach=0", "weeks=4",
               "scenario.intervention_week=2", "population.dispersed_crew_share=0",
               "police.strategy=concentrate", "police.focus_hotspots=[a]",
               "police.focus_share=1.0", "police.reinforcement_units=4"]


def seller_wdq(sites: list[str], extra: list[str]) -> pd.DataFrame:
    """WDQ of seller-hours around site a (target 500 m, buffer 500-1200 m), three seeds."""
    from brusim.analysis import metrics as mt
    from brusim.analysis.windows import Windows, run_recording_sellers
    from brusim.model import BrusselsMarketModel
    from tests.conftest import synthetic_config

    frames = []
    for seed in range(3):
        model = BrusselsMarketModel(synthetic_config(*sites, *POLICE_ON_A, *extra,
                                                     f"seed={seed}"))
        frames.append(run_recording_sellers(model, Windows((1, 2), (3, 4)))
                      .assign(scenario="x", seed=seed))
    nodes = pd.concat(frames, ignore_index=True)
    a = model.smap.hotspots.index("a")
    return mt.displacement(nodes, model.smap.hotspots.dist[a], 500.0, (500.0, 1200.0))


MOBILE_SELLERS = ["behaviour.dealers.awareness_m=800", "behaviour.dealers.risk_weight=2.0",
                  "behaviour.dealers.move_cost_per_km=0.3",
                  "behaviour.dealers.turf_cost_per_km=0.2",
                  "behaviour.dealers.turf_penalty=0.6", "behaviour.dealers.choice_noise=0.1",
                  "behaviour.dealers.sales_half_life_hours=72", "behaviour.users.loyalty=0.8"]


def test_attractive_site_in_buffer_gives_negative_wdq():
    sites = ["map.synthetic.hotspots=[[a,3,4],[b,3,15],[c,16,4]]",
             "+population.market_weights.a=1.0", "+population.market_weights.b=1.0",
             "+population.market_weights.c=1.0"]
    # A mechanism test, in the behavioural regime it was written for (the pre-calibration
    # values): mobile sellers who know site b, 1.1 km away in the buffer. Under the calibrated
    # Brussels values (awareness 639 m, 200 h market memory) sellers on this toy map stay put.
    d = seller_wdq(sites, MOBILE_SELLERS)
    assert d["r_after"].sum() < d["r_before"].sum()  # the target improved (over the seeds)
    assert d["wdq"].mean() < 0  # sellers moved into the buffer: displacement


def test_no_viable_site_nearby_gives_non_negative_wdq():
    sites = ["map.synthetic.hotspots=[[a,3,4],[c,18,18]]",
             "+population.market_weights.a=1.0", "+population.market_weights.c=1.0"]
    stay = ["behaviour.dealers.awareness_m=150", "behaviour.dealers.footfall_weight=0",
            "behaviour.users.search_radius_m=600", "behaviour.dealers.turf_cost_per_km=5"]
    d = seller_wdq(sites, stay)
    assert d["r_after"].sum() < d["r_before"].sum()  # fewer sellers at the target
    assert np.isfinite(d["wdq"]).all()
    # No displacement into the buffer: at most a stray seller passing through (seed 0 since
    # 2026-12-03: 1.5 seller-hours against 62 lost at the target, WDQ -0.01), where the
    # attractive-site case above moves hundreds of seller-hours (WDQ -0.1 to -0.9).
    gained, lost = d["d_after"] - d["d_before"], d["r_before"] - d["r_after"]
    assert (gained <= 0.05 * lost).all()
    assert (d["wdq"] > -0.05).all()


def test_emerging_hotspots_with_no_dealing_outside_the_listed_ones():
    """A small market can sell only at listed hotspots: the table is then empty, not an error
    (pandas keeps an empty mapped column as strings)."""
    from brusim.analysis.metrics import emerging_hotspots

    nodes = pd.DataFrame({"scenario": pd.Series(["baseline", "plan"], dtype="str"),
                          "seed": [0, 0], "window": ["after", "after"], "node": [3, 4],
                          "event": ["transaction"] * 2, "count": [5.0, 7.0]})
    assert emerging_hotspots(nodes, np.array([3, 4]), threshold=1.0).empty
    found = emerging_hotspots(nodes, np.array([3]), threshold=1.0)
    assert found[["scenario", "node", "mean"]].values.tolist() == [["plan", 4, 7.0]]
