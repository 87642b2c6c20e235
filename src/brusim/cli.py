"""The `brusim` command line. `brusim run` is a Hydra app (overrides, multirun); the other
subcommands are plain commands that accept the same Hydra overrides where they need a config."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import hydra
import typer
from omegaconf import DictConfig

from brusim.config.schema import register_configs
from brusim.errors import BrusimError
from brusim.paths import config_dir

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Agent-based simulation of street drug markets and police deployment "
                       "in the Brussels-Capital Region.")
map_app = typer.Typer(no_args_is_help=True, help="Inspect and draw the street map.")
app.add_typer(map_app, name="map")

PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
log = logging.getLogger("brusim")


def fail(message: str | BrusimError) -> None:
    """Print user errors (one line per problem) and exit with code 2."""
    for line in getattr(message, "problems", None) or [str(message)]:
        typer.echo(f"brusim: error: {line}", err=True)
    raise typer.Exit(2)


register_configs()


@hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")
def _hydra_run(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from brusim.experiments.single import resume_run, run_single
    from brusim.experiments.sweep import resumable_run, show_progress_bar, skip_complete_run

    logging.getLogger("MESA").setLevel(logging.WARNING)  # Mesa logs every step at INFO
    out = Path(cfg.run.output_dir or HydraConfig.get().runtime.output_dir)
    if skip_complete_run(cfg, out):  # a sweep re-run: this point is already done
        return
    try:
        if resumable_run(cfg, out):  # a killed run of the same config: continue it
            result = resume_run(out, progress=show_progress_bar(cfg))
        else:
            result = run_single(cfg, out, progress=show_progress_bar(cfg))
    except BrusimError as exc:
        for line in getattr(exc, "problems", None) or [str(exc)]:
            typer.echo(f"brusim: error: {line}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo(f"interrupted; continue with `brusim run --resume {out}`", err=True)
        sys.exit(130)
    m = result.manifest
    typer.echo(f"run complete: {m['steps']} steps in {m['wall_seconds']} s -> {out}")


@app.command(context_settings=PASS_THROUGH)
def run(ctx: typer.Context,
        resume: Path = typer.Option(None, "--resume", metavar="RUN_DIR",
                                    help="Continue a killed or interrupted run from its last "
                                         "checkpoint (no overrides: the folder's config is used).")
        ) -> None:
    """Run one simulation (Hydra overrides, e.g. `scenario=midi_plan seed=3 weeks=4`;
    add `-m` for a multirun sweep)."""
    if resume is not None:
        _resume(resume, list(ctx.args))
        return
    sys.argv = [f"{sys.argv[0]} run", *ctx.args]
    _hydra_run()


def _resume(run_dir: Path, extra: list[str]) -> None:
    from brusim.experiments.single import resume_run

    if extra:
        fail(f"--resume takes no overrides (got {' '.join(extra)}); the run folder's config.yaml "
             "is used as it was")
    logging.getLogger("MESA").setLevel(logging.WARNING)
    try:
        result = resume_run(run_dir, progress=True)
    except BrusimError as exc:
        fail(exc)
    except KeyboardInterrupt:
        typer.echo(f"interrupted; resume again with `brusim run --resume {run_dir}`", err=True)
        raise typer.Exit(130) from None
    typer.echo(f"run complete: {result.manifest['steps']} steps -> {run_dir}")


@app.command()
def reproduce(
    run_dir: Annotated[Path, typer.Argument(help="A finished run folder (from `brusim run`).")],
    keep: Annotated[Path | None, typer.Option("--keep", help="Keep the re-run in this folder "
                                              "instead of a temporary one.")] = None,
) -> None:
    """Re-run a finished run from its config and seed and confirm identical outputs (content
    hashes of metrics and events); exit code 1 when anything differs."""
    from brusim.experiments.reproduce import reproduce as reproduce_run

    logging.getLogger("MESA").setLevel(logging.WARNING)
    try:
        outcome = reproduce_run(run_dir, work_dir=keep, progress=True)
    except BrusimError as exc:
        fail(exc)
    for line in outcome.lines():
        typer.echo(line)
    if not outcome.identical:
        raise typer.Exit(1)


def _compose(overrides: list[str], config_name: str = "config") -> DictConfig:
    from brusim.config.load import compose_config

    return compose_config(overrides, config_name=config_name)


def _load_map(overrides: list[str], config_name: str):
    from brusim.map import load_street_map
    from brusim.model.model import map_settings

    cfg = _compose(overrides, config_name)
    return load_street_map(map_settings(cfg.map))


@map_app.command("info", context_settings=PASS_THROUGH)
def map_info(ctx: typer.Context,
             config_name: str = typer.Option("config", "--config-name", "-c")) -> None:
    """Print nodes, edges, street km per zone and commune, and every hotspot."""
    from brusim.map.info import format_map_summary, map_summary

    try:
        smap = _load_map(ctx.args, config_name)
    except BrusimError as exc:
        fail(exc)
    typer.echo(format_map_summary(map_summary(smap)))


@map_app.command("plot", context_settings=PASS_THROUGH)
def map_plot(ctx: typer.Context,
             out: Path = typer.Option(Path("results/map.png"), "--out", "-o"),
             config_name: str = typer.Option("config", "--config-name", "-c")) -> None:
    """Write a PNG of the street network: zones coloured, hotspots labelled, stations marked."""
    from brusim.map.plot import plot_street_map

    try:
        smap = _load_map(ctx.args, config_name)
    except BrusimError as exc:
        fail(exc)
    typer.echo(f"wrote {plot_street_map(smap, out)}")


@app.command(context_settings=PASS_THROUGH)
def compare(ctx: typer.Context,
            config: Path = typer.Option(None, "--config", help="Comparison settings YAML "
                                        "(e.g. experiments/midi_vs_spread/compare.yaml)."),
            no_report: bool = typer.Option(False, "--no-report", help="Skip the report.")
            ) -> None:
    """Compare scenarios over common seeds: `brusim compare scenarios=[baseline,midi_plan]
    replications=10 overrides=[weeks=12]`."""
    from brusim.experiments.compare import CompareInterrupted, load_settings, run_compare

    logging.getLogger("MESA").setLevel(logging.WARNING)
    try:
        settings = load_settings(config, list(ctx.args))
        out = run_compare(settings)
    except CompareInterrupted as exc:
        typer.echo(f"brusim: {exc}", err=True)
        raise typer.Exit(130) from None
    except BrusimError as exc:
        fail(exc)
    typer.echo(f"comparison written to {out}")
    if settings.report and not no_report:
        _build_report(out, settings.languages)


def _build_report(out: Path, languages: list[str]) -> None:
    from brusim.reports.brief import build_report

    for lang in languages:
        try:
            paths = build_report(out, lang=lang)
        except BrusimError as exc:
            fail(exc)
        for path in paths:
            typer.echo(f"report: {path}")


@app.command()
def report(
    results_dir: Annotated[Path, typer.Argument(help="A folder written by `brusim compare`.")],
    lang: Annotated[str, typer.Option("--lang", "-l", help="Language: en, fr or nl.")] = "en",
) -> None:
    """Build the Security Council brief of a comparison: a self-contained HTML report, a
    16:9 slide PDF and an animated map, in `RESULTS_DIR/report/`."""
    logging.getLogger("MESA").setLevel(logging.WARNING)
    _build_report(results_dir, [lang])


@app.command(context_settings=PASS_THROUGH)
def validate(
    ctx: typer.Context,
    seeds: int = typer.Option(None, "--seeds", help="Replications (default: patterns.yaml)."),
    weeks: float = typer.Option(None, "--weeks", help="Weeks per run (default: patterns.yaml)."),
    jobs: int = typer.Option(-1, "--jobs", "-j", help="Parallel runs (-1: every core)."),
    pattern: list[str] = typer.Option(None, "--pattern", help="Only this pattern (repeatable)."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default: "
                             "results/validate/<time>)."),
    config_name: str = typer.Option("config", "--config-name", "-c"),
) -> None:
    """Check the current defaults against the patterns of configs/calibration/patterns.yaml:
    prints and writes the table (pattern, target, value with 95% CI over seeds, pass/fail).
    Extra arguments are Hydra overrides for every run. Exit code 0 even when a pattern fails."""
    from brusim.calibration.validate import ValidateSettings, console_table, run_validate

    logging.getLogger("MESA").setLevel(logging.WARNING)
    try:
        folder, table = run_validate(ValidateSettings(
            seeds=seeds, weeks=weeks, jobs=jobs, overrides=list(ctx.args),
            config_name=config_name, out_dir=out, patterns=pattern or None))
    except BrusimError as exc:
        fail(exc)
    typer.echo(console_table(table))
    typer.echo(f"{int(table['passed'].sum())} of {len(table)} checks pass; table written to "
               f"{folder / 'table.md'}")


@app.command(context_settings=PASS_THROUGH)
def calibrate(
    ctx: typer.Context,
    name: str = typer.Option("default", "--name", help="Study name: results/calibration/NAME "
                             "(the same name continues the study)."),
    trials: int = typer.Option(20, "--trials", help="Trials to add (0: only rewrite the fit "
                               "files, e.g. with --apply)."),
    seeds: int = typer.Option(None, "--seeds", help="Seeds per trial (default: patterns.yaml)."),
    weeks: float = typer.Option(None, "--weeks", help="Weeks per run (default: patterns.yaml)."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Worker processes sharing the study."),
    apply: bool = typer.Option(False, "--apply", help="Write the best parameters into "
                               "configs/behaviour/default.yaml (comments kept)."),
    config_name: str = typer.Option("config", "--config-name", "-c"),
) -> None:
    """Fit the free behavioural parameters (configs/calibration/free_parameters.yaml) to the
    patterns with Optuna; resumable; writes fit.json and fit.md. Extra arguments are Hydra
    overrides for every run."""
    from brusim.calibration.calibrate import CalibrateSettings, run_calibrate

    logging.getLogger("MESA").setLevel(logging.WARNING)
    command = " ".join(["brusim", *sys.argv[1:]])
    try:
        folder, fit = run_calibrate(CalibrateSettings(
            name=name, trials=trials, seeds=seeds, weeks=weeks, jobs=jobs, apply=apply,
            overrides=list(ctx.args), config_name=config_name, command=command))
    except BrusimError as exc:
        fail(exc)
    typer.echo(f"best objective {fit['best_value']:.3f} (trial {fit['best_trial']} of "
               f"{fit['trials_complete']}); fit written to {folder / 'fit.md'}")
    if apply:
        typer.echo(f"applied to {fit['applied_to']}")


@app.command(context_settings=PASS_THROUGH)
def dashboard(
    ctx: typer.Context,
    port: int = typer.Option(8765, "--port", help="Port to serve on (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    no_open: bool = typer.Option(False, "--no-open", help="Do not open a browser."),
    config_name: str = typer.Option("config", "--config-name", "-c"),
) -> None:
    """A local web app that runs one simulation live on the street map, with charts and
    controls (scenario, police share, outreach, rooms, seed). Extra arguments are Hydra
    overrides, as for `brusim run` (e.g. `brusim dashboard scenario=midi_plan`)."""
    from brusim.dashboard.server import serve
    from brusim.dashboard.state import Launch

    logging.getLogger("MESA").setLevel(logging.WARNING)
    try:
        serve(Launch(tuple(ctx.args), config_name), host=host, port=port,
              open_browser=not no_open, announce=typer.echo)
    except BrusimError as exc:
        fail(exc)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command()
def collect(
    sweep_dir: Annotated[Path, typer.Argument(help="A sweep folder (hydra.sweep.dir of a "
                                              "`brusim run -m` sweep).")],
    target: Annotated[str, typer.Option(help="Hotspot the displacement statistics are "
                                        "centred on.")] = "gare_du_midi",
    hotspots: Annotated[str, typer.Option(help="Comma-separated hotspots with before/after "
                                          "columns (and a WDQ around the target).")]
    = "gare_du_midi,porte_de_hal",
    target_m: Annotated[float, typer.Option(help="Target area: network metres from the "
                                            "target.")] = 400.0,
    buffer_inner_m: Annotated[float, typer.Option(help="Displacement ring, inner edge.")] = 400.0,
    buffer_outer_m: Annotated[float, typer.Option(help="Displacement ring, outer edge.")]
    = 1200.0,
    out: Annotated[Path | None, typer.Option(help="Folder for the table (default: the sweep "
                                             "folder).")] = None,
) -> None:
    """Gather every complete run of a sweep into one table, `collected.parquet` and
    `collected.duckdb`: a row per run, a column per swept parameter, per-run outputs.
    Incomplete or unreadable runs are skipped with a warning."""
    from brusim.experiments.collect import CollectSpec
    from brusim.experiments.collect import collect as collect_sweep
    from brusim.experiments.sweep import progress_line

    spec = CollectSpec(target=target, hotspots=[h.strip() for h in hotspots.split(",")
                                                if h.strip()],
                       target_m=target_m, buffer_inner_m=buffer_inner_m,
                       buffer_outer_m=buffer_outer_m)
    try:
        table, skipped = collect_sweep(sweep_dir, spec, out)
    except BrusimError as exc:
        fail(exc)
    where = out or sweep_dir
    typer.echo(f"collected {len(table)} runs ({len(skipped)} skipped) -> "
               f"{where / 'collected.parquet'}, {where / 'collected.duckdb'}")
    typer.echo(progress_line(sweep_dir))


@app.command(context_settings=PASS_THROUGH)
def sensitivity(
    ctx: typer.Context,
    problem: Annotated[str, typer.Argument(help="Problem YAML file, or a name in "
                                           "configs/sensitivity/.")] = "displacement_drivers",
) -> None:
    """Global sensitivity analysis (SALib: Morris screening or Sobol indices) run through the
    sweep launcher, resumable: `brusim sensitivity displacement_drivers method=sobol
    samples=256 hydra/launcher=slurm`. Other arguments are problem settings or Hydra
    overrides for every run."""
    from brusim.experiments.sensitivity import load_problem, run_sensitivity

    args = list(ctx.args)
    if "=" in problem:  # no problem named: the first argument is a setting
        args, problem = [problem, *args], "displacement_drivers"
    logging.getLogger("MESA").setLevel(logging.WARNING)
    try:
        spec, hydra_overrides = load_problem(problem, args)
        out = run_sensitivity(spec, hydra_overrides)
    except BrusimError as exc:
        fail(exc)
    typer.echo(f"sensitivity indices -> {out / 'indices.csv'}, figures in {out / 'figures'}")


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app()


if __name__ == "__main__":
    main()
