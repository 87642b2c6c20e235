"""The tables, figures and settings a comparison wrote into its results folder, loaded for the
brief (`load_results`); a `BrusimError` names anything missing and how to make it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from brusim.errors import BrusimError
from brusim.reports.i18n import load_i18n, tr

SHARED_FIGURES = ("budget.png", "difference_map.png", "displacement_wdq.png",
                  "police_hours_per_reduction.png",
                  "hotspot_timeseries.png")
REQUIRED_TABLES = ("summary", "paired", "budget", "displacement_summary", "placebo", "police_cost",
                   "weekly_nodes")
AGAINST_BASELINE = ("paired", "budget", "displacement_summary")  # rows only for the others


@dataclass
class Results:
    """A comparison's results folder, read and checked."""

    path: Path
    settings: object  # brusim.experiments.compare.CompareSettings
    manifest: dict
    tables: dict[str, pd.DataFrame]
    config: dict  # resolved config of the first baseline run
    windows: dict  # {"before": [start, end], "after": [start, end]} in weeks
    names: dict[str, str]  # hotspot id -> display name

    @property
    def baseline(self) -> str:
        return self.settings.baseline

    @property
    def others(self) -> list[str]:
        """The scenarios compared with the baseline, in settings order."""
        return [s for s in self.settings.scenarios if s != self.baseline]

    @property
    def window_weeks(self) -> int:
        start, end = self.windows["after"]
        return int(end - start)

    def name(self, area: str) -> str:
        return self.names.get(area, area)


def _fix_hint(path: Path) -> str:
    return (f"re-run `brusim compare --config {path / 'settings.yaml'}` (the same settings) "
            "to complete it")


def load_results(results_dir: Path) -> Results:
    """Read a results folder made by `brusim compare`; a `BrusimError` names anything missing
    (files, tables, scenarios) and how to fix it."""
    from brusim.experiments.compare import (
        load_settings,
        seed_count,
        shard_complete,
        shard_dir,
        with_seeds,
    )

    path = Path(results_dir)
    if not (path / "settings.yaml").is_file():
        raise BrusimError(f"{path} is not a comparison results folder (no settings.yaml); "
                          "run `brusim compare` first and pass its output folder")
    settings = load_settings(path / "settings.yaml", [])
    try:  # the seeds used: an auto run's settings name them (replications_used)
        settings = with_seeds(settings, seed_count(settings))
    except BrusimError as exc:
        raise BrusimError(f"results folder {path}: {exc}") from None
    missing = [f"{t}.parquet" for t in REQUIRED_TABLES if not (path / f"{t}.parquet").is_file()]
    missing += [f for f in ("manifest.json",) if not (path / f).is_file()]
    figures = [*SHARED_FIGURES, *(f"dealing_{s}.png" for s in settings.scenarios),
               *(f"change_{s}.png" for s in settings.scenarios if s != settings.baseline)]
    missing += [f"figures/{f}" for f in figures if not (path / "figures" / f).is_file()]
    if missing:
        raise BrusimError(f"results folder {path} is missing {', '.join(missing)}; "
                          + _fix_hint(path))
    tables = {t: pd.read_parquet(path / f"{t}.parquet") for t in REQUIRED_TABLES}
    seeds = range(settings.first_seed, settings.first_seed + settings.replications)
    problems = []
    for scen in settings.scenarios:
        where = [f"shards/{shard_dir(path, scen, k).name}" for k in seeds
                 if not shard_complete(shard_dir(path, scen, k))][:1]
        where += [f"{t}.parquet" for t in ("summary", "weekly_nodes")
                  if scen not in set(tables[t]["scenario"])]
        if scen != settings.baseline:
            where += [f"{t}.parquet" for t in AGAINST_BASELINE
                      if scen not in set(tables[t]["scenario"])]
        if where:
            problems.append(f"scenario {scen!r} (no {', '.join(where)})")
    if problems:
        raise BrusimError(f"results folder {path} is missing {'; '.join(problems)}; "
                          + _fix_hint(path))
    base = shard_dir(path, settings.baseline, settings.first_seed)
    config = yaml.safe_load((base / "config.yaml").read_text(encoding="utf-8"))
    shard_manifest = json.loads((base / "manifest.json").read_text(encoding="utf-8"))
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    return Results(path, settings, manifest, tables, config, shard_manifest["windows"],
                   hotspot_names(config))


def hotspot_names(config: dict) -> dict[str, str]:
    """Hotspot id -> display name from the places file of the run (ids if unavailable)."""
    from brusim.map.places import read_places

    try:
        places = read_places((config.get("map") or {}).get("places_file"))
    except BrusimError:
        return {}
    return {p.id: p.name for p in places["hotspots"]}


def scenario_description(res: Results, scenario: str, lang: str) -> str | None:
    """A short translated description of a known scenario (``a+b``: both joined), else the
    run's own (English) description, else None."""
    i18n = load_i18n()
    parts = scenario.split("+")
    if all(f"scenario_{p}" in i18n for p in parts):
        return " + ".join(tr(f"scenario_{p}", lang) for p in parts)
    cfg = res.path / "shards" / f"{scenario}__seed{res.settings.first_seed:04d}" / "config.yaml"
    if cfg.is_file():
        desc = (yaml.safe_load(cfg.read_text(encoding="utf-8")).get("scenario") or {})
        return desc.get("description")
    return None


def scenario_name(scenario: str, lang: str = "en") -> str:
    """A scenario's plain name (``name_<id>`` in ``i18n.yaml``; ``a+b``: both joined), else its
    id: the name every title, table and figure shows."""
    i18n = load_i18n()
    return " + ".join(tr(f"name_{p}", lang) if f"name_{p}" in i18n else p
                      for p in scenario.split("+"))


def scenario_label(res: Results, scenario: str, lang: str) -> str:
    """``Plain name: description`` for the title page (the description when there is one)."""
    name, desc = scenario_name(scenario, lang), scenario_description(res, scenario, lang)
    return f"{name}: {desc}" if desc and desc.lower() != name.lower() else name


def question_text(res: Results, lang: str) -> str:
    """The comparison's question in ``lang``: the default question is translated; a question
    written in the settings is shown as written."""
    from brusim.experiments.compare import CompareSettings

    if res.settings.question == CompareSettings.question:
        return tr("question_default", lang)
    return res.settings.question
