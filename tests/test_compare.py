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
    assert {"summary", "paired", "displacement", "displacement_summary", "concentration",
            "receivers", "emerging"} <= tables
    for fig in ("hotspot_timeseries.png", "displacement_wdq.png",
                "police_hours_per_reduction.png", "dealing_baseline.png"):
        assert (out / "figures" / fig).stat().st_size > 10_000


def test_common_random_numbers_identical_scenarios_zero_difference(twin):
    out, _ = twin
    paired = pd.read_parquet(out / "paired.parquet")
    assert len(paired) > 0
    assert np.allclose(paired["difference"].to_numpy(), 0.0)
    assert paired["crosses_zero"].all()


def test_rerun_resumes_and_keeps_finished_shards(twin, tmp_path):
    out, settings = twin
    marker = shard_dir(out, "baseline", 0) / "manifest.json"
    before = marker.stat().st_mtime_ns
    run_compare(settings, progress=False)
    assert marker.stat().st_mtime_ns == before  # not recomputed


def test_unknown_scenario_is_a_clear_error(tmp_path):
    settings = load_settings(None, [*ARGS, "scenarios=[baseline,crackdown]",
                                    f"out_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="crackdown"):
        run_compare(settings, progress=False)


def test_unknown_setting_is_passed_to_hydra_and_rejected(tmp_path):
    settings = load_settings(None, [*ARGS, "police.strateg=patrol", f"out_dir={tmp_path}"])
    with pytest.raises(ConfigError):
        run_compare(settings, progress=False)
