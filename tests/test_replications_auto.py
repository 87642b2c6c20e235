"""`replications=auto` (issue 21, item 3): rounds of seeds until the headline contrasts are
decided or the cap is reached, on the synthetic city (5 weeks, second_room against business as
usual: it changes public use only, so the other headlines are exact non-effects)."""

from __future__ import annotations

import hashlib
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from brusim.analysis import precision as pr
from brusim.errors import ConfigError
from brusim.experiments import compare
from brusim.experiments.compare import load_settings, run_compare, shard_dir

ARGS = ["config_name=synthetic", "target=central", "weeks=5", "scenario.intervention_week=3",
        "burn_in_weeks=1", "scenarios=[baseline,second_room]", "n_jobs=1", "report=false"]
AUTO = ["replications=auto", "replications_start=2", "replications_step=1",
        "replications_cap=3"]


def snapshot(out: Path) -> dict[Path, tuple[str, int]]:
    """Content hash and modification time of every shard and spin-up file."""
    files = [p for p in [*out.glob("shards/*/*"), *out.glob("spinup/*")] if p.is_file()]
    return {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in files}


@pytest.fixture(scope="module")
def capped(tmp_path_factory, monkeypatch_module):
    """A tiny target half-width: round 1 (2 seeds) leaves public use undecided, so the rule goes
    on to the cap (3 seeds). Records the shard files before each round."""
    out = tmp_path_factory.mktemp("capped")
    before_round: list[dict] = []
    real = compare.run_seeds

    def spy(settings, folder, progress, engine=None):
        before_round.append(snapshot(folder))
        return real(settings, folder, progress, engine)

    monkeypatch_module.setattr(compare, "run_seeds", spy)
    settings = load_settings(None, [*ARGS, *AUTO, "target_half_width=1e-6", f"out_dir={out}"])
    run_compare(settings, progress=False)
    monkeypatch_module.undo()
    return out, before_round


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_the_rule_goes_on_to_the_cap_while_a_headline_is_undecided(capped):
    out, before_round = capped
    table = pd.read_parquet(out / "replications.parquet")
    assert len(before_round) == 2  # two rounds of runs
    assert table.groupby("round")["seeds"].first().to_dict() == {1: 2, 2: 3}
    first = table[table["round"] == 1].set_index("headline")
    assert not first["decided"].all()
    assert first.loc["region_public_use", "reason"] == pr.UNDECIDED
    settings = yaml.safe_load((out / "settings.yaml").read_text())
    assert settings["replications"] == "auto" and settings["replications_used"] == 3
    results = pd.read_parquet(out / "results.parquet")
    assert sorted(results["seed"].unique()) == [0, 1, 2]


def test_the_replications_table_has_a_row_per_round_and_headline(capped):
    out, _ = capped
    table = pd.read_parquet(out / "replications.parquet")
    assert list(table.columns) == pr.COLUMNS
    assert len(table) == 2 * len(pr.HEADLINES)  # 2 rounds x 1 scenario x 5 headlines
    assert set(table["scenario"]) == {"second_room"}
    assert set(table["headline"]) == {h[0] for h in pr.HEADLINES}
    # second_room changes public use only: transactions and police hours are exact non-effects
    exact = table[table["headline"].isin(["target_transactions", "region_transactions",
                                          "region_police_hours"])]
    assert (exact["estimate"] == 0).all() and (exact["reason"] == pr.PRECISE).all()
    assert ((table["decided"]) == (table["reason"] != pr.UNDECIDED)).all()
    finite = table.dropna(subset=["lo", "hi"])
    assert (finite["half_width"] == (finite["hi"] - finite["lo"]) / 2).all()
    # the last round's contrasts are those of the paired and budget tables
    paired = pd.read_parquet(out / "paired.parquet").set_index(["area_kind", "metric"])
    last = table[table["round"] == 2].set_index("headline")
    assert last.loc["region_public_use", "estimate"] == pytest.approx(
        paired.loc[("region", "public_use"), "relative"], abs=0, rel=0)


def test_round_one_shards_are_reused_byte_for_byte_in_round_two(capped):
    out, before_round = capped
    after_round_one, final = before_round[1], snapshot(out)
    assert len(after_round_one) > 0
    for path, (digest, mtime) in after_round_one.items():
        assert final[path] == (digest, mtime), f"{path} was rewritten"
    new = set(final) - set(after_round_one)
    assert {p.parent.name for p in new if "shards" in p.parts} == {
        shard_dir(out, s, 2).name for s in ("baseline", "second_room")}


def test_the_final_tables_equal_a_fixed_run_with_as_many_seeds(capped, tmp_path):
    out, _ = capped
    fixed = tmp_path / "fixed"
    shutil.copytree(out / "shards", fixed / "shards")
    shutil.copytree(out / "spinup", fixed / "spinup")
    marks = snapshot(fixed)
    run_compare(load_settings(None, [*ARGS, "replications=3", "target_half_width=1e-6",
                                     f"out_dir={fixed}"]), progress=False)
    assert snapshot(fixed) == marks  # no run made again
    for name in ("paired", "budget", "summary", "results"):
        assert (fixed / f"{name}.parquet").read_bytes() == (out / f"{name}.parquet").read_bytes()
    one = pd.read_parquet(fixed / "replications.parquet")
    auto = pd.read_parquet(out / "replications.parquet")
    assert set(one["round"]) == {1} and set(one["seeds"]) == {3}
    pd.testing.assert_frame_equal(one.drop(columns="round"),
                                  auto[auto["round"] == 2].drop(columns="round")
                                  .reset_index(drop=True))
    assert pr.precision_statement(fixed).startswith("replications=3 (fixed)")


def test_a_huge_half_width_stops_at_the_first_round(capped, tmp_path):
    out, _ = capped
    folder = tmp_path / "huge"
    shutil.copytree(out / "shards", folder / "shards")
    shutil.copytree(out / "spinup", folder / "spinup")
    run_compare(load_settings(None, [*ARGS, *AUTO, "target_half_width=1e9",
                                     f"out_dir={folder}"]), progress=False)
    table = pd.read_parquet(folder / "replications.parquet")
    assert set(table["round"]) == {1} and table["decided"].all()
    assert yaml.safe_load((folder / "settings.yaml").read_text())["replications_used"] == 2
    assert sorted(pd.read_parquet(folder / "results.parquet")["seed"].unique()) == [0, 1]
    assert pr.precision_statement(folder) == (
        "replications=auto: 2 seeds per scenario (1 round); every headline is decided")
    from brusim.reports.results import load_results

    assert load_results(folder).settings.replications == 2  # the brief reads the seeds used


def test_an_interrupted_auto_run_resumes_with_the_same_command(capped, tmp_path):
    """Round 2 cut short (one shard missing, no tables, settings.yaml as at the start): the same
    command runs only the missing shard and ends where the uninterrupted run ended."""
    out, _ = capped
    folder = tmp_path / "cut"
    shutil.copytree(out / "shards", folder / "shards")
    shutil.copytree(out / "spinup", folder / "spinup")
    shutil.rmtree(shard_dir(folder, "second_room", 2))
    kept = snapshot(folder)
    args = [*ARGS, *AUTO, "target_half_width=1e-6", f"out_dir={folder}"]
    run_compare(load_settings(None, args), progress=False)
    final = snapshot(folder)
    # finished shards untouched; the spin-up report of seed 2 (re-read from the cache for its
    # missing run) is written again with the same content
    assert [p.name for p, v in kept.items() if final[p] != v] == ["seed0002.json",
                                                                 "seed0002_weekly.parquet"]
    assert all(final[p][0] == v[0] for p, v in kept.items())
    assert (pd.read_parquet(folder / "paired.parquet").equals(
        pd.read_parquet(out / "paired.parquet")))
    assert yaml.safe_load((folder / "settings.yaml").read_text())["replications_used"] == 3


def test_a_folder_of_other_settings_is_refused_within_the_cap(capped, tmp_path):
    out, _ = capped
    folder = tmp_path / "other"
    shutil.copytree(out / "shards", folder / "shards")
    for scen in ("baseline", "second_room"):  # only seed 2's runs: round 1 would not see them
        for seed in (0, 1):
            shutil.rmtree(shard_dir(folder, scen, seed))
    shards = r"\(baseline/seed 2, second_room/seed 2\)"
    with pytest.raises(ConfigError, match=rf"other settings {shards}"):
        run_compare(load_settings(None, [*ARGS, *AUTO, "police.arrest_prob=0.05",
                                         f"out_dir={folder}"]), progress=False)
    assert not (folder / "settings.yaml").exists()


@pytest.mark.parametrize(("items", "message"), [
    (["replications=autp"], r"replications='autp' is neither a number of seeds nor auto"),
    (["replications=2.5"], r"neither a number of seeds nor auto"),
    (["replications=0"], r"replications must be at least 1"),
    (["replications=auto", "replications_start=1"], r"replications_start must be at least 2"),
    (["replications=auto", "replications_step=0"], r"replications_step must be at least 1"),
    (["replications=auto", "replications_start=5", "replications_cap=3"],
     r"replications_cap=3 is below replications_start=5; raise the cap or lower the start"),
    (["target_half_width=0"], r"target_half_width must be above 0"),
    (["target_half_width=-0.1"], r"target_half_width must be above 0"),
    (["target_half_width=nan"], r"target_half_width must be above 0"),
])
def test_bad_replication_settings_are_one_line_errors(tmp_path, items, message):
    with pytest.raises(ConfigError, match=message) as err:
        load_settings(None, [*ARGS, *items, f"out_dir={tmp_path}"])
    assert "\n" not in str(err.value)
    assert not any(tmp_path.iterdir())


def test_a_number_of_seeds_written_as_text_is_that_number():
    assert load_settings(None, [*ARGS, "replications='4'"]).replications == 4
    assert load_settings(None, [*ARGS, "replications=AUTO"]).replications == "auto"


# ------------------------------------------------------------------------------ the rule alone


@pytest.mark.parametrize(("verdict", "lo", "hi", "dlo", "dhi", "reason"), [
    ("clear decrease", -0.5, -0.2, -9.0, -3.0, pr.CLEAR),
    ("clear increase", 0.2, 0.9, 3.0, 9.0, pr.CLEAR),
    ("no clear difference", -0.04, 0.09, -1.0, 2.0, pr.PRECISE),
    ("no clear difference", -0.02, 0.11, -1.0, 2.0, pr.UNDECIDED),  # half-width < h, hi > h
    ("no clear difference", -0.15, 0.01, -3.0, 0.5, pr.UNDECIDED),
    ("no clear difference", math.nan, math.nan, 0.0, 0.0, pr.NOTHING),
    ("no clear difference", math.nan, math.nan, -1.0, 4.0, pr.UNDECIDED),
])
def test_a_headline_is_decided_by_its_verdict_or_a_precise_non_effect(verdict, lo, hi, dlo, dhi,
                                                                      reason):
    assert pr.decision(verdict, lo, hi, dlo, dhi, 0.10) == reason


def table(decided: list[bool], seeds: list[int]) -> pd.DataFrame:
    rows = []
    for rnd, n in enumerate(seeds, start=1):
        for ok, hid in zip(decided, ("region_transactions", "target_transactions"), strict=True):
            rows.append({"round": rnd, "seeds": n, "scenario": "hotspot_strategy",
                         "headline": hid, "label": hid.replace("_", " "), "estimate": 0.012,
                         "lo": -0.008, "hi": 0.031, "decided": ok or rnd < len(seeds)})
    return pd.DataFrame(rows)


def test_the_statement_says_plainly_what_the_cap_left_undecided():
    text = pr.statement(table([False, True], [5, 10]), auto=True, target_half_width=0.01,
                        cap=10)
    assert text == ("replications=auto: cap of 10 seeds per scenario reached (2 rounds); 1 of 2 "
                    "headlines cannot be decided at \u00b11%; undecided: hotspot_strategy "
                    "region transactions (+1.2% [\u22120.8%, +3.1%])")
    small = table([False, True], [5]).assign(small_base=True, baseline_mean=6.4,
                                             scenario_mean=7.6, difference=1.2,
                                             difference_lo=-7.5, difference_hi=4.9)
    said = pr.statement(small, auto=True, target_half_width=0.1, cap=5)
    # a small base in events, never as a percentage
    assert ("(from about 6.4 to 7.6 a window, a small base: +1.2 [\u22127.5, +4.9] events)"
            in said)
    assert "%" not in said.split("undecided:")[1]
    assert pr.statement(table([True, True], [5, 10]), auto=True, target_half_width=0.1,
                        cap=20) == ("replications=auto: 10 seeds per scenario (2 rounds); "
                                    "every headline is decided")
    assert pr.statement(table([False, True], [5]), auto=False, target_half_width=0.1
                        ).startswith("replications=5 (fixed): 1 of 2 headlines are not decided")


def test_the_stopping_rule():
    rows = table([False, True], [5])
    assert pr.stop_reason(rows, 5, 10) is None
    assert pr.stop_reason(rows, 10, 10) == "cap"
    assert pr.stop_reason(table([True, True], [5]), 5, 10) == "decided"
