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
    """Title, 2 findings pages per scenario, one map page per scenario, hotspot tables (rows
    with any dealing, at most `ROWS_PER_PAGE` per page), displacement, region table, police
    hours, time series, assumptions, the spin-up appendix (when the comparison spun up), 2
    parameter pages, sources."""
    settings = yaml.safe_load((results_dir / "settings.yaml").read_text())
    scenarios, target = settings["scenarios"], settings["target"]
    s = pd.read_parquet(results_dir / "summary.parquet")
    tx = s[(s["metric"] == "transactions") & (s["area_kind"] == "hotspot")]
    table_pages = 0
    for scen in scenarios:
        sub = tx[tx["scenario"] == scen]
        rows = ((sub["before"] != 0) | (sub["after"] != 0) | (sub["area"] == target)).sum()
        table_pages += max(1, math.ceil(rows / slides.ROWS_PER_PAGE))
    k = len(scenarios) - 1
    spinup = int((results_dir / "spinup.parquet").is_file())
    return 1 + 2 * k + (k + 1) + table_pages + 1 + 3 + 1 + spinup + 2 + 1


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
    """A copy whose paired table has varied differences: some intervals exclude zero, some
    cross it, some baselines are zero (the report must show absolute numbers there)."""
    out = copy_results(results_dir, tmp_path / "perturbed")
    p = pd.read_parquet(out / "paired.parquet")
    rng = np.random.default_rng(1)
    diff = rng.normal(0, 1, len(p)) * (p["baseline_mean"].to_numpy() + 10) * 0.5
    half = np.abs(rng.normal(0, 1, len(p))) * np.abs(diff) * 1.2 + 0.5
    p["difference"], p["difference_lo"], p["difference_hi"] = diff, diff - half, diff + half
    p["crosses_zero"] = (p["difference_lo"] <= 0) & (p["difference_hi"] >= 0)
    p["relative"] = p["difference"] / p["baseline_mean"].replace(0, np.nan)
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
        assert f.clear == (not row["crosses_zero"])
        assert (UNCLEAR[lang] in f.text) == (not f.clear)
        if base > 0:
            assert f.relative == pytest.approx(row["difference"] / base)
            shown = [100 * row[c] / base for c in ("difference", "difference_lo",
                                                   "difference_hi")]
        else:
            assert math.isnan(f.relative)
            shown = [row[c] for c in ("difference", "difference_lo", "difference_hi")]
        numbers = [parse_number(n, lang) for n in NUMBER.findall(f.text)]
        assert len(numbers) == 5, f.text
        for got, want in zip(numbers, [*shown, base, weeks], strict=True):
            assert abs(got - want) <= 0.5 + 1e-9, (f.text, got, want)


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
