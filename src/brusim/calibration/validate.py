"""`brusim validate`: run every pattern's arms on the current defaults and write the table of
pattern, target, model value with 95% CI over seeds, and pass/fail."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from brusim.calibration import patterns as pt
from brusim.calibration.evaluate import evaluate
from brusim.calibration.runs import RunPlan, adapt_arms, burn_in_weeks, check_plan, gather, run_plan
from brusim.calibration.spec import PatternBook, load_patterns
from brusim.errors import ConfigError
from brusim.experiments import executor as ex
from brusim.experiments.compare import compose_run
from brusim.experiments.executor import ExecutorSettings
from brusim.experiments.manifest import base_manifest, now_iso
from brusim.io import writable_folder, write_json, write_parquet, write_text


@dataclass
class ValidateSettings:
    """What `brusim validate` runs (defaults from patterns.yaml)."""

    seeds: int | None = None
    first_seed: int | None = None
    weeks: float | None = None
    jobs: int = -1
    overrides: list[str] = field(default_factory=list)
    config_name: str = "config"
    out_dir: Path | None = None
    patterns: list[str] | None = None  # default: all
    patterns_file: Path | None = None
    progress: bool = True
    # where the runs execute (brusim.experiments.executor); off this machine, out_dir must be on
    # a file system every worker shares
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)


def load_map(config_name: str, overrides: list[str]):
    """The street map of the composed configuration."""
    from brusim.config.load import compose_config
    from brusim.map import load_street_map
    from brusim.model.model import map_settings

    cfg = compose_config(overrides, config_name=config_name)
    return load_street_map(map_settings(cfg.map))


def build_plan(book: PatternBook, names: list[str] | tuple[str, ...], smap, *, seeds: int,
               first_seed: int, weeks: float, overrides: list[str], config_name: str,
               out: Path):
    """The run plan for the named patterns, with the map's place set."""
    places = book.places_for(smap.hotspots.ids)
    arms = adapt_arms(book.arms_for(names), places)
    plan = RunPlan(arms, seeds, first_seed,
                   (*book.overrides, f"weeks={weeks:g}", *overrides), config_name, out)
    return plan, places


def run_validate(s: ValidateSettings) -> tuple[Path, pd.DataFrame]:
    """Run the validation and write ``table.md``, ``table.parquet``, ``table.csv`` and a
    manifest into the output folder (default ``results/validate/<time>``)."""
    ex.refuse_launcher(s.overrides, "validate")
    ex.check(s.executor, s.jobs, "--jobs")
    book = load_patterns(s.patterns_file)
    names = list(s.patterns or book.patterns)
    unknown = [n for n in names if n not in book.patterns]
    if unknown:
        raise ConfigError(f"unknown pattern(s) {unknown}; valid: {', '.join(book.patterns)}")
    seeds = s.seeds if s.seeds is not None else book.seeds
    if seeds < 2:
        raise ConfigError("validate: --seeds must be at least 2 (a confidence interval needs two)")
    out = (Path(s.out_dir) if s.out_dir else (
        Path("results") / "validate" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S"))).resolve()
    smap = load_map(s.config_name, list(s.overrides))
    plan, places = build_plan(
        book, names, smap, seeds=seeds,
        first_seed=s.first_seed if s.first_seed is not None else book.first_seed,
        weeks=s.weeks if s.weeks is not None else book.weeks, overrides=list(s.overrides),
        config_name=s.config_name, out=out / "runs")
    check_plan(plan, smap)
    writable_folder(out, "--out")
    manifest = base_manifest(plan.first_seed, {}, smap)
    manifest.update(command=" ".join(["brusim", *sys.argv[1:]]), patterns=names,
                    seeds=list(range(plan.first_seed, plan.first_seed + seeds)),
                    overrides=list(plan.overrides), places=places.name,
                    executor=s.executor.describe(),
                    arms={a.name: {"scenario": a.scenario, "overrides": list(a.overrides)}
                          for a in plan.arms})
    write_json(out / "manifest.json", manifest)
    run_plan(plan, s.jobs, s.progress, s.executor)
    checks = evaluate(gather(plan), book, names, places, smap, burn_in_weeks(plan))
    table = pt.checks_table(checks)
    titles = {n: book.patterns[n].title for n in names}
    table.insert(1, "title", table["pattern"].map(titles))
    write_parquet(out / "table.parquet", table)
    write_text(out / "table.csv", table.to_csv(index=False))
    cfg = compose_run(plan.settings(plan.arms[0]), plan.arms[0].scenario, plan.first_seed)
    header = (f"Pattern checks on the current defaults: map {smap.name}, {seeds} seeds "
              f"({plan.first_seed}-{plan.first_seed + seeds - 1}), {float(cfg.weeks):g} weeks, "
              f"intervention week {cfg.scenario.intervention_week}.")
    write_text(out / "table.md", header + "\n\n" + markdown_table(table, book) + "\n")
    manifest.update(status="complete", ended=now_iso(),
                    passed=int(table["passed"].sum()), checks=len(table))
    write_json(out / "manifest.json", manifest)
    return out, table


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    ax = abs(x)
    return f"{x:.3g}" if ax < 1000 else f"{x:,.0f}"


def value_text(row) -> str:
    """``mean [lo, hi]`` of a check row (``n/a`` when undefined)."""
    if not math.isfinite(row["value"]):
        return "n/a"
    ci = (f" [{_num(row['ci_lo'])}, {_num(row['ci_hi'])}]"
          if math.isfinite(row["ci_lo"]) else "")
    return _num(row["value"]) + ci


def markdown_table(table: pd.DataFrame, book: PatternBook | None = None) -> str:
    """The checks as a Markdown table: pattern, check, target, value [95% CI], pass (the whole
    interval in the band), and whether the estimate alone is."""
    lines = ["| pattern | check | target | model: estimate [95% CI] | band | pass (CI in band) | "
             "estimate in band |",
             "|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        title = r["title"] if "title" in r else r["pattern"]
        target = " ".join(str(r["target"]).split()).replace("|", "/")
        lines.append(f"| {title} | {r['check']} | {target} | {value_text(r)} | {r['band']} | "
                     f"{'PASS' if r['passed'] else 'FAIL'} | "
                     f"{'yes' if r['estimate_in_band'] else 'no'} |")
    n_pass = int(table["passed"].sum())
    lines.append("")
    lines.append(f"{n_pass} of {len(table)} checks pass (the whole 95% CI inside the band); "
                 f"{int(table['estimate_in_band'].sum())} have the estimate inside.")
    notes = [f"- {r['pattern']}/{r['check']}: {r['detail']}" for _, r in table.iterrows()
             if r["detail"]]
    if notes:
        lines += ["", "Details:", "", *notes]
    return "\n".join(lines)


def console_table(table: pd.DataFrame) -> str:
    """A compact plain-text table for the terminal."""
    rows = [(str(r["pattern"]), str(r["check"]), value_text(r), str(r["band"]),
             "PASS" if r["passed"] else "FAIL") for _, r in table.iterrows()]
    head = ("pattern", "check", "model: estimate [95% CI]", "target band", "result")
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths)),
                      *(fmt.format(*r) for r in rows)])
