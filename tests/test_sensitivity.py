"""Global sensitivity analysis: SALib Morris and Sobol on a toy function with a known answer,
problem-file checks, and a tiny resumable `brusim sensitivity` on the synthetic city."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from brusim.errors import ConfigError
from brusim.experiments.sensitivity import (
    SensitivityProblem,
    analyse,
    check_problem,
    load_problem,
    parameter_kinds,
    plot_indices,
    runs_needed,
    sample,
)
from brusim.experiments.shards import is_complete

# ------------------------------------------------------------------------------ toy model


def toy(X: np.ndarray) -> np.ndarray:
    """y = 4 x1 + 2 x2^2 on [0, 1]^3: x3 is inert. Var(4 x1) = 16/12, Var(2 x2^2) = 16/45,
    so S1(x1) = 0.7895, S1(x2) = 0.2105, S(x3) = 0 (additive: ST = S1)."""
    return 4 * X[:, 0] + 2 * X[:, 1] ** 2 + 0 * X[:, 2]


def toy_problem(method: str, **kw) -> SensitivityProblem:
    return SensitivityProblem(method=method, parameters={"x1": [0, 1], "x2": [0, 1],
                                                         "x3": [0, 1]}, outputs=["y"], **kw)


def test_morris_ranks_the_inert_parameter_last(tmp_path):
    problem = toy_problem("morris", trajectories=20)
    X = sample(problem)
    assert X.shape == (runs_needed(problem), 3) == (80, 3)
    df = analyse(problem, X, toy(X)).set_index("parameter")
    assert df.loc["x1", "mu"] == pytest.approx(4.0)        # linear: every effect is 4
    assert df.loc["x1", "sigma"] == pytest.approx(0.0, abs=1e-9)
    assert df.loc["x3", "mu_star"] == pytest.approx(0.0, abs=1e-12)
    assert list(df.sort_values("rank").index) == ["x1", "x2", "x3"]
    assert np.isfinite(df[["mu_star", "mu_star_conf", "sigma"]].to_numpy()).all()
    png = plot_indices(df.reset_index(), "morris", "y", tmp_path / "y.png")
    assert png.stat().st_size > 5_000


def test_sobol_recovers_the_variance_shares(tmp_path):
    problem = toy_problem("sobol", samples=1024)
    X = sample(problem)
    assert X.shape == (runs_needed(problem), 3) == (1024 * 5, 3)
    df = analyse(problem, X, toy(X)).set_index("parameter")
    assert df.loc["x1", "S1"] == pytest.approx(0.7895, abs=0.05)
    assert df.loc["x2", "S1"] == pytest.approx(0.2105, abs=0.05)
    assert df.loc["x1", "ST"] == pytest.approx(0.7895, abs=0.05)
    assert abs(df.loc["x3", "ST"]) < 0.01 and abs(df.loc["x3", "S1"]) < 0.02
    assert df.loc["x3", "rank"] == 3
    conf = df[["S1_conf", "ST_conf"]]
    assert (conf.loc[["x1", "x2"]].to_numpy() > 0).all() and (conf.loc["x3"] == 0).all()
    assert plot_indices(df.reset_index(), "sobol", "y", tmp_path / "y.png").is_file()


def test_undefined_outputs_give_nan_indices():
    problem = toy_problem("morris", trajectories=4)
    X = sample(problem)
    y = toy(X)
    y[3] = np.nan
    assert analyse(problem, X, y)["mu_star"].isna().all()


# ------------------------------------------------------------------------------ problem files


def test_shipped_problem_names_real_config_keys():
    problem, hydra_overrides = load_problem("displacement_drivers", ["method=sobol",
                                                                     "hydra/launcher=slurm",
                                                                     "weeks=12"])
    assert problem.method == "sobol" and hydra_overrides == ["hydra/launcher=slurm"]
    assert problem.overrides[-1] == "weeks=12" and "scenario=midi_plan" in problem.overrides
    kinds = parameter_kinds(problem)  # composes the config: every key exists and is numeric
    assert kinds == {"police.focus_share": False, "behaviour.dealers.awareness_m": False,
                     "behaviour.dealers.risk_half_life_hours": False,
                     "behaviour.dealers.recruit_rate_per_day": False,
                     "courts.weekly_capacity": True, "behaviour.outreach.contact_prob": False}
    assert runs_needed(problem) == 256 * 8


@pytest.mark.realmap
def test_shipped_problem_ranges_are_valid_on_brussels(brussels_path):
    problem, _ = load_problem("displacement_drivers", [f"map.path={brussels_path}",
                                                       "map.source=graphml"])
    assert check_problem(problem)["courts.weekly_capacity"] is True


def test_problem_errors_name_the_key():
    problem, _ = load_problem("synthetic_demo", [])
    problem.parameters = {**problem.parameters, "behaviour.dealers.awarenes_m": [1, 2],
                          "police.strategy": [0, 1], "police.focus_share": [0.9, 0.1]}
    with pytest.raises(ConfigError) as err:
        parameter_kinds(problem)
    text = str(err.value)
    assert "behaviour.dealers.awarenes_m: not a numeric config key" in text
    assert "police.strategy: not a numeric config key" in text
    assert "police.focus_share: range must be [low, high]" in text
    problem, _ = load_problem("synthetic_demo", [])
    problem.parameters = {"police.focus_share": [0.5, 1.5]}
    with pytest.raises(ConfigError, match="upper ends of the ranges: police.focus_share=1.5"):
        check_problem(problem)
    with pytest.raises(ConfigError, match="not found; give a YAML file or one of: "):
        load_problem("no_such_problem")


# ------------------------------------------------------------------------------ a real analysis


def brusim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "brusim.cli", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


def test_sensitivity_on_the_synthetic_city_resumes(tmp_path):
    out = tmp_path / "gsa"
    problem = {
        "name": "tiny", "method": "morris", "trajectories": 2, "config_name": "synthetic",
        "parameters": {"behaviour.dealers.awareness_m": [300, 900],
                       "courts.weekly_capacity": [1, 7]},
        "overrides": ["weeks=2", "burn_in_weeks=0", "scenario.intervention_week=1",
                      "run.figures=false", "population.n_users=150"],
        "outputs": ["central.transactions.change", "region.transactions", "displacement.wdd"],
        "collect": {"target": "central", "hotspots": ["central", "west"], "target_m": 200,
                    "buffer_inner_m": 200, "buffer_outer_m": 500},
        "out_dir": str(out),
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(problem))
    proc = brusim("sensitivity", str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "sweep: 6/6 done, 0 remaining" in proc.stdout + proc.stderr
    indices = pd.read_csv(out / "indices.csv")
    assert len(indices) == 3 * 2
    assert set(indices["output"]) == set(problem["outputs"])
    assert np.isfinite(indices[["mu", "mu_star", "sigma", "mu_star_conf"]].to_numpy()).all()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "indices.parquet"), indices)
    for output in problem["outputs"]:
        assert (out / "figures" / f"{output}.png").stat().st_size > 5_000
    samples = pd.read_parquet(out / "samples.parquet")
    assert len(samples) == 6
    runs = sorted(out.glob("sample_*_seed0"))
    assert len(runs) == 6 and all(is_complete(r) for r in runs)
    # the applied values are the sample's (integers rounded) and the seed is common
    overrides = yaml.safe_load((runs[1] / ".hydra" / "overrides.yaml").read_text())
    row = samples.iloc[1]
    awareness = float(row["behaviour.dealers.awareness_m"])
    assert f"behaviour.dealers.awareness_m={awareness!r}" in overrides
    assert f"courts.weekly_capacity={round(row['courts.weekly_capacity'])}" in overrides
    assert "seed=0" in overrides

    # lose one run (as if killed): only that sample runs again, with the same indices and
    # the same events, this time through the Dask executor (a local cluster)
    pytest.importorskip("distributed", reason="pip install 'brusim[cluster]'")
    events = (runs[4] / "events.parquet").read_bytes()
    manifest = json.loads((runs[4] / "manifest.json").read_text())
    (runs[4] / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    proc = brusim("sensitivity", str(path), "executor=dask", "executor.workers=1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "sweep: 5/6 done, 1 remaining" in log
    assert log.count("run complete:") == 1 and "sample_00004_seed0" in log
    pd.testing.assert_frame_equal(pd.read_csv(out / "indices.csv"), indices)
    assert "executor=dask is launching 1 jobs" in log
    assert (runs[4] / "events.parquet").read_bytes() == events
