"""The Security Council brief (`brusim report`): builds in every language, is self-contained,
reports exactly the numbers of the results tables, and fails clearly on incomplete folders."""

from __future__ import annotations

import html
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from brusim.analysis.contrasts import MIN_BASE, UNDECIDED, paired_contrast
from brusim.errors import BrusimError
from brusim.reports import i18n, slides
from brusim.reports.brief import build_report
from brusim.reports.findings import findings
from brusim.reports.i18n import LANGUAGES, format_number, format_percent
from brusim.reports.results import load_results

NUMBER = re.compile(r"[+\u2212-]?\d+(?:[.,\u202f]\d+)*")
UNCLEAR = {"en": "not clear", "fr": "pas clair", "nl": "niet duidelijk"}


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small comparison on the synthetic city: baseline vs second_room, 2 seeds, 10 weeks."""
    from brusim.experiments.compare import load_settings, run_compare

    out = tmp_path_factory.mktemp("compare")
    settings = load_settings(None, ["config_name=synthetic", "scenarios=[baseline,second_room]",
                                    "target=central", "replications=2", "weeks=10",
                                    f"out_dir={out}", "n_jobs=1", "report=false"])
    return run_compare(settings, progress=False)


@pytest.fixture(scope="session")
def reports(results_dir: Path) -> dict[str, list[Path]]:
    """The brief in every language (built once)."""
    return {lang: build_report(results_dir, lang=lang) for lang in LANGUAGES}


def copy_results(src: Path, dst: Path) -> Path:
    """A copy of a results folder without its report (to modify safely)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("report"))
    return dst


def parse_number(text: str, lang: str) -> float:
    """Inverse of `format_number` for one number."""
    text = text.replace("\u2212", "-").replace("\u202f", "")
    return float(text.replace(",", "") if lang == "en"
                 else text.replace(".", "").replace(",", "."))


def expected_pages(results_dir: Path) -> int:
    """The answer (one page whatever its rows), the difference map, what we can and cannot say,
    title, 2 findings pages per scenario, one map page per scenario, hotspot tables against
    business as usual (rows with any dealing, at most `ROWS_PER_PAGE` per page), the budget
    figure and one budget table per scenario (at most 8 rows: one page), displacement, region
    table, police hours, time series, assumptions, the spin-up appendix (when the comparison
    spun up), 2 parameter pages, sources."""
    settings = yaml.safe_load((results_dir / "settings.yaml").read_text())
    scenarios, target = settings["scenarios"], settings["target"]
    p = pd.read_parquet(results_dir / "paired.parquet")
    tx = p[(p["metric"] == "transactions") & (p["area_kind"] == "hotspot")]
    table_pages = 0
    for scen in scenarios[1:]:  # one table per scenario against business as usual
        sub = tx[tx["scenario"] == scen]
        rows = ((sub["baseline_mean"] != 0) | (sub["scenario_mean"] != 0)
                | (sub["area"] == target)).sum()
        table_pages += max(1, math.ceil(rows / slides.ROWS_PER_PAGE))
    k = len(scenarios) - 1
    spinup = int((results_dir / "spinup.parquet").is_file())
    return 3 + 1 + 2 * k + (k + 1) + table_pages + (1 + k) + 1 + 3 + 1 + spinup + 2 + 1


# ------------------------------------------------------------------------------ building


@pytest.mark.parametrize("lang", LANGUAGES)
def test_report_builds(reports: dict[str, list[Path]], results_dir: Path, lang: str) -> None:
    paths = reports[lang]
    names = [p.name for p in paths]
    assert names[:2] == [f"brief_{lang}.html", f"brief_{lang}.pdf"]
    assert f"animation_{lang}.gif" in names
    assert all(p.is_file() and p.stat().st_size > 0 and p.parent == results_dir / "report"
               for p in paths)
    pdf = paths[1].read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == expected_pages(results_dir)
    boxes = set(re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf))
    assert {(float(w), float(h)) for w, h in boxes} == {(960.0, 540.0)}  # 16:9 landscape
    assert paths[2].stat().st_size < 3_000_000


@pytest.mark.parametrize("lang", LANGUAGES)
def test_html_is_self_contained(reports: dict[str, list[Path]], results_dir: Path,
                                lang: str) -> None:
    page = reports[lang][0].read_text(encoding="utf-8")
    links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page, flags=re.I)
    assert links, "expected embedded images"
    assert all(u.startswith(("data:", "#")) for u in links), [u[:40] for u in links]
    assert not re.search(r"url\(\s*['\"]?(?!data:)", page)  # no CSS resources either
    assert f'<html lang="{lang}">' in page
    assert page.count("data:image/png;base64,") >= 6  # maps and figures
    for f in findings(results_dir, lang):
        assert html.escape(f.text) in page


# ------------------------------------------------------------------------------ numbers


def perturbed(results_dir: Path, tmp_path: Path) -> Path:
    """A copy whose paired table holds varied contrasts, each computed by `paired_contrast` from
    made-up per-seed totals: clear and unclear effects, large bases and small ones, baselines
    of zero (the report must show events there, not percentages)."""
    out = copy_results(results_dir, tmp_path / "perturbed")
    p = pd.read_parquet(out / "paired.parquet")
    rng = np.random.default_rng(1)
    for i in range(len(p)):
        level = rng.choice([0.0, 20.0, 400.0, 3000.0])
        b = rng.poisson(level, 4).astype(float)
        s = rng.poisson(level * rng.choice([0.4, 1.0, 1.7]) + rng.choice([0.0, 30.0]), 4)
        c = paired_contrast(s.astype(float), b)
        for col, value in (("baseline_mean", c.baseline), ("scenario_mean", c.scenario),
                           ("difference", c.difference), ("difference_lo", c.difference_lo),
                           ("difference_hi", c.difference_hi), ("relative", c.relative),
                           ("relative_lo", c.relative_lo), ("relative_hi", c.relative_hi),
                           ("small_base", c.small_base), ("verdict", c.verdict)):
            p.loc[p.index[i], col] = value
    p["crosses_zero"] = ~((p["difference_lo"] > 0) | (p["difference_hi"] < 0))
    p.to_parquet(out / "paired.parquet", index=False)
    return out


@pytest.mark.parametrize("lang", LANGUAGES)
def test_findings_match_paired_table(results_dir: Path, tmp_path: Path, lang: str) -> None:
    out = perturbed(results_dir, tmp_path)
    table = pd.read_parquet(out / "paired.parquet").set_index(["scenario", "area", "metric"])
    weeks = load_results(out).window_weeks
    found = findings(out, lang)
    groups = {(f.group, f.metric) for f in found}
    assert ("hotspots", "transactions") in groups
    assert {("region", m) for m in ("violent_incidents", "public_use", "police_hours",
                                    "outreach_contacts")} <= groups
    assert found[0].area == "central"  # the target hotspot comes first
    assert any(f.clear for f in found) and not all(f.clear for f in found)
    for f in found:
        row = table.loc[(f.scenario, f.area, f.metric)]
        base = row["baseline_mean"]
        assert (f.baseline_mean, f.difference, f.difference_lo, f.difference_hi) == (
            base, row["difference"], row["difference_lo"], row["difference_hi"])
        assert f.clear == (row["verdict"] != UNDECIDED)
        assert (UNCLEAR[lang] in f.text) == (not f.clear)
        if lang == "fr":  # contractions: "du scénario", never "de le scénario"
            assert not re.search(r"\b(de|à) (le|les)\b", f.text), f.text
        if base >= MIN_BASE:
            assert f.relative == pytest.approx(row["relative"])
            assert f.relative_lo >= -1.0  # never below -100%
            shown = [100 * row[c] for c in ("relative", "relative_lo", "relative_hi")]
        else:  # a small base: events, not a percentage
            assert math.isnan(f.relative)
            shown = [row[c] for c in ("difference", "difference_lo", "difference_hi")]
        numbers = [parse_number(n, lang) for n in NUMBER.findall(f.text)]
        assert len(numbers) == 5, f.text
        for got, want in zip(numbers, [*shown, base, weeks], strict=True):
            assert abs(got - want) <= 0.5 + 1e-9, (f.text, got, want)


def test_contrasts_recomputed_from_the_shards(results_dir: Path) -> None:
    """The paired table's contrasts, recomputed from the runs' own window totals (each shard's
    results.parquet) without the analysis code: ratio of the summed totals and its log-scale
    interval by the delta method; and the range rules hold on every row."""
    settings = yaml.safe_load((results_dir / "settings.yaml").read_text())
    shards = sorted((results_dir / "shards").glob("*/results.parquet"))
    frames = [pd.read_parquet(f) for f in shards]
    runs = pd.concat(frames, ignore_index=True)
    paired = pd.read_parquet(results_dir / "paired.parquet")
    baseline, scenario = settings["scenarios"][0], settings["scenarios"][1]
    after = runs[runs["window"] == "after"]
    checked = 0
    for (kind, area, metric), want in paired[paired["scenario"] == scenario].groupby(
            ["area_kind", "area", "metric"]):
        sel = after[(after["area_kind"] == kind) & (after["area"] == area)
                    & (after["metric"] == metric)]
        b = sel[sel["scenario"] == baseline].set_index("seed")["value"].sort_index()
        s = sel[sel["scenario"] == scenario].set_index("seed")["value"].sort_index()
        assert list(s.index) == list(b.index)
        s, b = s.to_numpy(float), b.to_numpy(float)
        row = want.iloc[0]
        assert row["difference"] == pytest.approx((s - b).mean(), abs=1e-9)
        if b.mean() >= MIN_BASE and s.mean() > 0:
            ratio = s.sum() / b.sum()
            z = s / s.mean() - b / b.mean()
            half = stats.t.ppf(0.975, len(s) - 1) * z.std(ddof=1) / math.sqrt(len(s))
            assert row["relative"] == pytest.approx(ratio - 1)
            assert row["relative_lo"] == pytest.approx(ratio * math.exp(-half) - 1)
            assert row["relative_hi"] == pytest.approx(ratio * math.exp(half) - 1)
            checked += 1
    assert checked >= 3
    finite = paired["relative_lo"].dropna()
    assert (finite >= -1.0).all() and (paired["relative"].dropna() >= -1.0).all()
    assert (paired["baseline_mean"] >= 0).all() and (paired["scenario_mean"] >= 0).all()
    assert (paired["small_base"] == (paired["baseline_mean"] < MIN_BASE)).all()


def moved_dealing(results_dir: Path, tmp_path: Path) -> Path:
    """A copy whose scenario shards sell elsewhere: every after-window count of the scenario's
    nodes redrawn around 0.3-1.8 times itself (Poisson), so that areas and seeds differ from
    business as usual, then combined again (`brusim.experiments.compare.combine`)."""
    from brusim.experiments.compare import combine, load_settings

    out = copy_results(results_dir, tmp_path / "moved")
    settings = load_settings(out / "settings.yaml", [])
    rng = np.random.default_rng(2)
    for path in sorted((out / "shards").glob(f"{settings.scenarios[1]}__*/nodes.parquet")):
        nodes = pd.read_parquet(path)
        after = nodes["window"] == "after"
        factor = rng.uniform(0.3, 1.8, after.sum())
        nodes.loc[after, "count"] = rng.poisson(nodes.loc[after, "count"] * factor).astype(float)
        nodes.to_parquet(path, index=False)
    combine(out, settings)
    return out


def test_the_budget_adds_up_recomputed_from_the_shards(results_dir: Path, tmp_path: Path
                                                       ) -> None:
    """Where the market went (issue 21, item 2), recomputed from the runs' own per-node counts
    (each shard's nodes.parquet) and the node-to-area table (nodes_xy.budget_area), without the
    analysis code: the areas partition the map; seed by seed their differences add up exactly
    to the region-wide difference; and each row of the budget is the paired contrast of its
    per-seed counts (difference and t interval by hand)."""
    out = moved_dealing(results_dir, tmp_path)
    settings = yaml.safe_load((out / "settings.yaml").read_text())
    baseline, scenario = settings["scenarios"][0], settings["scenarios"][1]
    xy = pd.read_parquet(out / "nodes_xy.parquet")
    assert list(xy["node"]) == list(range(len(xy))) and xy["budget_area"].notna().all()
    area_of = xy["budget_area"].astype(str).to_numpy()
    runs = pd.concat([pd.read_parquet(f) for f in sorted((out / "shards").glob("*/nodes.parquet"))])
    after = runs[(runs["window"] == "after") & (runs["event"] == "transaction")]
    region = after.groupby(["scenario", "seed"])["count"].sum()
    after = after.assign(area=area_of[after["node"].to_numpy()])
    per = after.groupby(["scenario", "seed", "area"])["count"].sum().unstack(fill_value=0.0)
    diff = per.xs(scenario) - per.xs(baseline)
    seeds = pd.read_parquet(out / "budget_seeds.parquet")
    seeds = seeds[(seeds["scenario"] == scenario) & (seeds["metric"] == "transactions")]
    budget = pd.read_parquet(out / "budget.parquet")
    budget = budget[(budget["scenario"] == scenario) & (budget["metric"] == "transactions")]
    parts = budget[budget["kind"].isin(["target", "buffer", "hotspot", "rest"])]
    assert set(parts["area"]) == set(area_of) | set(parts.loc[parts["nodes"] == 0, "area"])
    assert parts["nodes"].sum() == len(xy)
    assert budget.loc[budget["kind"] == "target", "area"].item() == settings["target"]
    assert (diff.abs() > 0).sum().sum() >= 4  # the areas and seeds do differ
    for seed, row in diff.iterrows():
        total = region.loc[(scenario, seed)] - region.loc[(baseline, seed)]
        assert row.sum() == total != 0  # exactly: counts
        mine = seeds[seeds["seed"] == seed].set_index("area")["difference"]
        assert mine.loc["region"] == total
        partition = seeds[(seeds["seed"] == seed)
                          & seeds["kind"].isin(["target", "buffer", "hotspot", "rest"])]
        assert partition["difference"].sum() == total
        for area, value in row.items():
            assert mine.loc[area] == value
    assert parts["difference"].sum() == pytest.approx(
        budget.loc[budget["kind"] == "region", "difference"].item(), rel=1e-12)
    checked = 0
    for _, want in budget[budget["kind"].isin(["target", "buffer", "region"])].iterrows():
        if want["kind"] == "region":
            b, s = region.xs(baseline), region.xs(scenario)
        else:
            b, s = per.xs(baseline)[want["area"]], per.xs(scenario)[want["area"]]
        d = (s - b).to_numpy(float)
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
        assert want["baseline_mean"] == pytest.approx(b.mean())
        assert want["scenario_mean"] == pytest.approx(s.mean())
        assert want["difference"] == pytest.approx(d.mean(), abs=1e-9)
        assert (want["difference_lo"], want["difference_hi"]) == pytest.approx(
            (max(d.mean() - half, -b.mean()), d.mean() + half), abs=1e-9)
        assert want["relative"] == pytest.approx(s.sum() / b.sum() - 1)
        checked += 1
    assert checked == 3


def test_the_region_budget_is_the_paired_region(results_dir: Path) -> None:
    """The budget's region-wide transactions (summed over the street nodes) are the paired
    table's region-wide transactions."""
    budget = pd.read_parquet(results_dir / "budget.parquet")
    paired = pd.read_parquet(results_dir / "paired.parquet")
    b = budget[(budget["kind"] == "region") & (budget["metric"] == "transactions")]
    p = paired[(paired["area_kind"] == "region") & (paired["metric"] == "transactions")]
    merged = b.merge(p, on="scenario", suffixes=("", "_paired"))
    assert len(merged) == len(b) >= 1
    for col in ("baseline_mean", "scenario_mean", "difference"):
        assert np.allclose(merged[col], merged[f"{col}_paired"])


def test_the_literature_statistics_and_the_placebo_in_the_results(results_dir: Path) -> None:
    """The displacement table is read from the budget's per-seed counts (target = the budget's
    target area, buffer = its buffer), and the placebo's contrast reading has, by
    construction, a zero mean target change and WDD."""
    disp = pd.read_parquet(results_dir / "displacement.parquet")
    seeds = pd.read_parquet(results_dir / "budget_seeds.parquet")
    for metric in ("transactions", "dealer_hours"):
        d = disp[disp["metric"] == metric].set_index(["scenario", "seed"])
        s = seeds[seeds["metric"] == metric].set_index(["scenario", "seed", "kind"])
        for (scen, seed), row in d.iterrows():
            assert row["r_baseline"] == s.loc[(scen, seed, "target"), "baseline"]
            assert row["d_scenario"] == s.loc[(scen, seed, "buffer"), "scenario_value"]
    placebo = pd.read_parquet(results_dir / "placebo.parquet").set_index(["metric", "method"])
    assert set(placebo.index) == {(m, k) for m in ("transactions", "dealer_hours")
                                  for k in ("contrast", "before_after")}
    contrast = placebo.xs("contrast", level="method")
    assert np.allclose(contrast["target_change"].fillna(0.0), 0.0, atol=1e-12)
    assert np.allclose(contrast["wdd"].fillna(0.0), 0.0, atol=1e-9)
    # no activity in the control: nothing to judge, so the check neither passes nor blames
    assert not (placebo["defined"] & (placebo["c_baseline"] == 0)).any()
    assert not (placebo["passes"] & ~placebo["defined"]).any()
    summary = pd.read_parquet(results_dir / "displacement_summary.parquet")
    assert set(summary["control_rule"]) == {"beyond_buffer"}  # the synthetic city is 2 km wide
    assert (summary["wdd"].isna() | (summary["wdd_se"] >= 0)).all()


def test_results_database_is_documented(results_dir: Path) -> None:
    """Every table and column of results.duckdb carries its description (issue 21, item 5),
    the node table maps the results, and docs/results.md is the schema's rendering."""
    import duckdb

    from brusim.experiments import results_schema

    with duckdb.connect(str(results_dir / "results.duckdb"), read_only=True) as con:
        tables = dict(con.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall())
        columns = con.execute("SELECT table_name, column_name, comment FROM duckdb_columns() "
                              "WHERE NOT internal").fetchall()
        xy = con.execute("SELECT count(*), min(lon), max(lon), count(DISTINCT zone) "
                         "FROM nodes_xy").fetchone()
    assert {"paired", "results", "nodes_xy"} <= set(tables)
    assert all(tables.values()), [t for t, c in tables.items() if not c]
    missing = [(t, c) for t, c, comment in columns if not comment]
    assert not missing, f"undocumented columns (add them to results_schema.yaml): {missing}"
    assert len(columns) > 100
    assert xy[0] > 100 and xy[1] < xy[2] and xy[3] >= 1
    assert results_schema.column_text("paired", "no_such_column") is None
    doc = Path(__file__).resolve().parents[1] / "docs" / "results.md"
    assert doc.read_text(encoding="utf-8") == results_schema.markdown(), (
        "docs/results.md is stale: python3 scripts/results_doc.py --write")


def test_number_formatting() -> None:
    assert format_number(1234.5, "en", 1) == "1,234.5"
    assert format_number(1234.5, "fr", 1) == "1\u202f234,5"
    assert format_number(1234.5, "nl", 1) == "1.234,5"
    assert format_number(-1234567, "nl") == "\u22121.234.567"
    assert format_number(35, "en", signed=True) == "+35"
    assert format_number(-0.2, "en") == "0"  # no "-0"
    assert format_number(float("nan"), "fr") == "n.d."
    assert format_percent(-0.61, "en") == "\u221261%"
    assert format_percent(-0.61, "fr") == "\u221261\u202f%"
    assert format_percent(0.355, "nl", 1) == "+35,5%"
    assert format_percent(None, "en") == "n/a"


def test_every_language_has_every_key() -> None:
    text = yaml.safe_load(i18n.I18N_PATH.read_text(encoding="utf-8"))
    placeholders = re.compile(r"\{(\w+)\}")
    for key, entry in text.items():
        assert set(entry) == set(LANGUAGES), key
        assert all(isinstance(v, str) and v.strip() for v in entry.values()), key
        names = {lang: set(placeholders.findall(v)) for lang, v in entry.items()}
        assert names["fr"] == names["en"] == names["nl"], key


# ------------------------------------------------------------------------------ errors


def test_missing_scenario_is_a_clear_error(results_dir: Path, tmp_path: Path) -> None:
    out = copy_results(results_dir, tmp_path / "broken")
    for shard in (out / "shards").glob("second_room__*"):
        shutil.rmtree(shard)
    s = pd.read_parquet(out / "summary.parquet")
    s[s["scenario"] != "second_room"].to_parquet(out / "summary.parquet", index=False)
    with pytest.raises(BrusimError) as err:
        build_report(out, lang="en")
    message = str(err.value)
    assert "second_room" in message and "brusim compare" in message
    assert "\n" not in message


def test_missing_table_is_a_clear_error(results_dir: Path, tmp_path: Path) -> None:
    out = copy_results(results_dir, tmp_path / "no_paired")
    (out / "paired.parquet").unlink()
    with pytest.raises(BrusimError, match=r"paired\.parquet.*brusim compare"):
        build_report(out, lang="fr")


def test_cli_report_error_is_one_line(results_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from brusim.cli import app

    out = copy_results(results_dir, tmp_path / "cli")
    (out / "summary.parquet").unlink()
    result = CliRunner().invoke(app, ["report", str(out), "--lang", "nl"])
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("brusim: error:")
    assert "summary.parquet" in lines[0]


# ------------------------------------------------------------------------------ the answer


def test_the_first_page_is_the_answer(results_dir: Path, tmp_path: Path) -> None:
    """The brief opens with the answer table: one column per strategy (plain names), one row
    per outcome, each cell the budget's, the paired table's or the police cost table's own
    number with its verdict; then the difference map, then what we can and cannot say."""
    from brusim.reports.answer import BUDGET_OUTCOMES, REGION_OUTCOMES, answer_cells

    out = moved_dealing(results_dir, tmp_path)
    res = load_results(out)
    pages = slides.build_slides(res, "en")
    first = pages[0]
    assert first.title == res.settings.question  # the default question, in English
    assert first.table.header[1:] == ["A second consumption room"]
    assert [r[0].split(" (")[0] for r in first.table.rows][:2] == ["Dealing at central",
                                                                  "Dealing in the surroundings"]
    assert len(first.table.rows) == len(BUDGET_OUTCOMES) + len(REGION_OUTCOMES) + 1
    assert pages[1].images[0][0].name == "difference_map.png"
    assert pages[2].title == "What we can and cannot say"
    cells = answer_cells(res, "en")
    budget = pd.read_parquet(out / "budget.parquet")
    budget = budget[(budget["scenario"] == "second_room") & (budget["metric"] == "transactions")]
    for kind in ("buffer", "hotspots", "rest", "region"):
        row = budget[budget["kind"] == kind].iloc[0]
        cell = cells[kind]["second_room"]
        assert cell.verdict == row["verdict"]
        shown = [parse_number(x, "en") for x in NUMBER.findall(cell.text)][:3]
        assert shown == pytest.approx([row["difference"], row["difference_lo"],
                                       row["difference_hi"]], abs=0.51)
        assert not any(c.isalpha() and c.isupper() for c in cell.text)  # numbers only
    # the cells drawn grey are exactly the undecided ones
    for row, grey in zip(first.table.rows, first.table.muted, strict=True):
        assert grey[1] == row[1].endswith("no clear difference")


def test_the_answer_shows_small_bases_as_counts_and_no_impossible_bound(results_dir: Path
                                                                       ) -> None:
    """Violence has a small base in the test city: the cell gives the counts ("from 0 to 1 a
    run"), never a percentage; and no number on the answer page is a relative change below
    -100% or a negative count of events."""
    from brusim.reports.answer import answer_cells

    res = load_results(results_dir)
    p = res.tables["paired"]
    for metric, cell in answer_cells(res, "en").items():
        text = cell["second_room"].text
        if metric in ("violent_incidents", "public_use", "police_hours"):
            row = p[(p["scenario"] == "second_room") & (p["area_kind"] == "region")
                    & (p["metric"] == metric)].iloc[0]
            small = bool(row["small_base"]) or not np.isfinite(row["relative"])
            assert ("%" not in text) == small
            if small:
                assert text.startswith("from ")
        for value in re.findall(r"([+\u2212-]?\d[\d,.]*)%", text):
            assert parse_number(value, "en") >= -100


def test_scenario_ids_are_not_shown_outside_the_reproduction(reports: dict[str, list[Path]]
                                                             ) -> None:
    """Plain names everywhere: the scenario's id appears only in the reproduction section
    and the parameters appendix (which name the configs)."""
    for lang, paths in reports.items():
        page = paths[0].read_text(encoding="utf-8")
        text = re.sub(r"data:image/[^\"']+", "", page)
        cut = text.index(html.escape(i18n.tr("assumptions_title", lang)))
        assert "second_room" not in text[:cut], lang
        assert i18n.tr("name_second_room", lang) in text[:cut]


def test_the_question_is_translated_and_french_grammar_holds(reports: dict[str, list[Path]]
                                                             ) -> None:
    for lang, paths in reports.items():
        page = html.unescape(paths[0].read_text(encoding="utf-8"))
        assert i18n.tr("question_default", lang) in page
    fr = html.unescape(reports["fr"][0].read_text(encoding="utf-8"))
    assert not re.search(r"\b(?:de|à) (?:le|les)\b", fr)  # du, des, au, aux


def test_police_cost_recomputed_from_the_shards(results_dir: Path) -> None:
    """The police cost table's hours and removal, from each shard's own results table; the
    quotient is defined only when the removal's interval lies above zero."""
    from brusim.analysis.police_cost import police_cost, ratio_interval

    settings = yaml.safe_load((results_dir / "settings.yaml").read_text())
    runs = pd.concat([pd.read_parquet(f) for f in sorted((results_dir / "shards")
                                                         .glob("*/results.parquet"))])
    after = runs[runs["window"] == "after"]

    def total(scen: str, area: str, metric: str) -> pd.Series:
        sel = after[(after["scenario"] == scen) & (after["area"] == area)
                    & (after["metric"] == metric)]
        return sel.groupby("seed")["value"].sum()

    cost = pd.read_parquet(results_dir / "police_cost.parquet").set_index("scenario")
    hours = total("second_room", "region", "police_hours") - total("baseline", "region",
                                                                   "police_hours")
    removed = (total("baseline", settings["target"], "transactions")
               - total("second_room", settings["target"], "transactions"))
    row = cost.loc["second_room"]
    assert row["extra_police_hours"] == pytest.approx(hours.mean())
    assert row["transactions_removed_at_target"] == pytest.approx(removed.mean())
    assert bool(row["defined"]) == bool(row["transactions_removed_at_target_lo"] > 0)
    # the quotient on made-up runs: clear removal, unclear removal, too few seeds
    change = pd.DataFrame([
        {"scenario": s, "seed": k, "area": a, "metric": m, "after": v}
        for k, (h, t) in enumerate([(110, 40), (112, 42), (111, 38), (109, 41)])
        for s, a, m, v in (("b", "region", "police_hours", 100.0), ("b", "T", "transactions", 90),
                           ("s", "region", "police_hours", h), ("s", "T", "transactions", t),
                           ("u", "region", "police_hours", h),
                           ("u", "T", "transactions", 90 + (-1) ** k * 20))])
    table = police_cost(change, ["b", "s", "u"], "b", "T").set_index("scenario")
    s = table.loc["s"]
    assert bool(s["defined"]) and s["hours_per_transaction_removed"] == pytest.approx(
        10.5 / 49.75)
    assert s["hours_per_transaction_removed_lo"] <= s["hours_per_transaction_removed"] \
        <= s["hours_per_transaction_removed_hi"]
    assert not bool(table.loc["u", "defined"])
    assert math.isnan(table.loc["u", "hours_per_transaction_removed"])
    assert all(math.isnan(x) for x in ratio_interval(np.ones(2), np.ones(2)))
    same = ratio_interval(np.full(5, 3.0), np.full(5, 6.0))
    assert same == pytest.approx((0.5, 0.5))


def test_difference_map_cells_add_up_to_the_region(results_dir: Path, tmp_path: Path) -> None:
    """The difference map's cells partition the map: seed-averaged, their differences add up
    exactly to the region-wide difference; a cell where both arms are equal in every seed is
    not drawn as a clear change."""
    from brusim.analysis.difference_map import cell_contrasts, cell_index
    from brusim.experiments.compare import compose_run, load_settings
    from brusim.map import load_street_map
    from brusim.model.model import map_settings

    out = moved_dealing(results_dir, tmp_path)
    settings = load_settings(out / "settings.yaml", [])
    smap = load_street_map(map_settings(compose_run(settings, "baseline", 0).map))
    nodes = pd.read_parquet(out / "nodes.parquet")
    sales = nodes[nodes["event"] == "transaction"]
    cells, nx, ny = cell_index(smap)
    assert cells.min() >= 0 and cells.max() < nx * ny
    table = cell_contrasts(sales, cells, "second_room", "baseline")
    region = pd.read_parquet(out / "budget.parquet")
    region = region[(region["scenario"] == "second_room") & (region["kind"] == "region")
                    & (region["metric"] == "transactions")].iloc[0]
    assert table["difference"].sum() == pytest.approx(region["difference"], abs=1e-6)
    assert table["clear"].any() or (table["difference_lo"] <= 0).all()
    same = cell_contrasts(sales, cells, "baseline", "baseline")
    assert not same["clear"].any() and (same["difference"] == 0).all()


def test_what_we_can_say_names_the_precision_of_every_headline(results_dir: Path) -> None:
    """The "what we can and cannot say" page repeats the comparison's precision: how many
    runs, and each headline the replications table left undecided, by its plain name."""
    from brusim.reports.answer import can_cannot_slide

    res = load_results(results_dir)
    table = pd.read_parquet(results_dir / "replications.parquet")
    last = table[table["round"] == table["round"].max()]
    for lang in LANGUAGES:
        bullets = [b for blk in can_cannot_slide(res, lang).blocks if blk.kind == "bullets"
                   for b in blk.content]
        text = " ".join(bullets)
        assert "second_room" not in text
        if last["decided"].all():
            assert i18n.tr("precision_decided", lang, seeds=2, rounds=1) in bullets
        else:
            line = next(b for b in bullets if b.startswith(i18n.tr("precision_fixed", lang)
                                                           .split(":")[0]))
            assert f"{int((~last['decided']).sum())} " in line


def test_the_html_brief_opens_with_the_answer_table(reports: dict[str, list[Path]],
                                                    results_dir: Path) -> None:
    """The HTML brief's first section is the answer: the question as its heading and the
    answer table's cells, the verdict set after the value."""
    from brusim.reports.answer import answer_slide

    res = load_results(results_dir)
    for lang, paths in reports.items():
        page = paths[0].read_text(encoding="utf-8")
        first = page[page.index('<section id="s0">'):page.index("</section>")]
        slide = answer_slide(res, lang)
        assert html.escape(slide.title) in first
        value, verdict = slide.table.rows[0][1].split("\n", 1)
        assert f"{html.escape(value)} <small>· {html.escape(verdict)}</small>" in first


def test_the_limits_say_when_dealing_is_more_concentrated_than_crime_is(results_dir: Path,
                                                                         monkeypatch) -> None:
    """The brief's limits quote the runs' own concentration when it falls below the law's
    bandwidth (half of crime at 2.1-6% of streets), and say nothing of it otherwise."""
    from brusim.reports import answer

    res = load_results(results_dir)
    table = pd.read_parquet(results_dir / "concentration.parquet")
    assert {"places_for_half", "places_for_quarter"} <= set(table.columns)
    real = answer.pd.read_parquet

    def with_share(share: float):
        def read(path, *args, **kwargs):
            df = real(path, *args, **kwargs)
            if Path(path).name == "concentration.parquet":
                df = df.assign(places_for_half=share)
            return df
        return read

    monkeypatch.setattr(answer.pd, "read_parquet", with_share(0.0008))
    said = " ".join(answer.limits(res, "en"))
    assert "half of the street transactions of business as usual take place at 0.08% of" in said
    assert "0,08 %" in " ".join(answer.limits(res, "fr"))
    monkeypatch.setattr(answer.pd, "read_parquet", with_share(0.04))
    assert "street corners" not in " ".join(answer.limits(res, "en"))
