"""The `brusim` command line. `brusim run` is a Hydra app (overrides, multirun); the other
subcommands are plain commands that accept the same Hydra overrides where they need a config.

Every command that composes a config takes ``--config-name/-c`` (which base config) and
``--config-dir`` (the user's own config folder, searched after brusim's); every problem is
printed as one line and exits with code 2.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated

import hydra
import typer

from brusim.config.schema import register_configs
from brusim.errors import BrusimError
from brusim.experiments.task import run_task
from brusim.paths import USER_CONFIG_ENV, config_dir

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Agent-based simulation of street drug markets and police deployment "
                       "in the Brussels-Capital Region.")
map_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                      help="Inspect, draw and build street maps.")
app.add_typer(map_app, name="map")

PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
log = logging.getLogger("brusim")

ConfigName = Annotated[str, typer.Option(
    "--config-name", "-c", help="Base config: `config` (Brussels) or `synthetic`, or a YAML of "
                                "your own in --config-dir.")]
ConfigDir = Annotated[Path | None, typer.Option(
    "--config-dir", help="Your own config folder, laid out as brusim's configs/ (e.g. "
                         "scenario/my_plan.yaml for scenario=my_plan) and searched after them; "
                         "default: ./configs when present.")]


def fail(message: str | BrusimError) -> None:
    """Print user errors (one line per problem) and exit with code 2."""
    for line in getattr(message, "problems", None) or [str(message)]:
        typer.echo(f"brusim: error: {line}", err=True)
    raise typer.Exit(2)


def _version(value: bool) -> None:
    if value:
        from brusim import __version__

        typer.echo(f"brusim {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")]
        = False) -> None:
    """Agent-based simulation of street drug markets and police deployment in Brussels."""


def use_config_dir(config_dir_arg: Path | None) -> None:
    """Make the user's config folder (``--config-dir``, else ./configs) known to every process
    this command starts, as an absolute path."""
    from brusim.paths import user_config_dir

    if config_dir_arg is not None:
        os.environ[USER_CONFIG_ENV] = str(Path(config_dir_arg).expanduser().resolve())
    try:
        found = user_config_dir()
    except BrusimError as exc:
        fail(exc)
    if found is not None:
        os.environ[USER_CONFIG_ENV] = str(found)


register_configs()
_hydra_run = hydra.main(config_path=str(config_dir()), config_name="config",
                        version_base="1.3")(run_task)

_PATH_OVERRIDES = ("run.output_dir=", "hydra.run.dir=", "hydra.sweep.dir=")


def absolute_paths(args: list[str]) -> list[str]:
    """Output folders given on the command line, made absolute before Hydra or a launcher sees
    them (a worker on a cluster may start in another folder)."""
    out = []
    for arg in args:
        key = next((k for k in _PATH_OVERRIDES if arg.lstrip("+").startswith(k)), None)
        if key is not None:
            prefix, value = arg.split("=", 1)
            if value and value != "null" and not value.startswith(("/", "$")):
                arg = f"{prefix}={Path(value).expanduser().resolve()}"
        out.append(arg)
    return out


HYDRA_DEFAULT_DIRS = {"run": "outputs/${now:%Y-%m-%d}/${now:%H-%M-%S}",
                      "sweep": "multirun/${now:%Y-%m-%d}/${now:%H-%M-%S}"}


def _config_hydra_dirs(config_name: str) -> dict[str, str]:
    """``hydra.run.dir`` and ``hydra.sweep.dir`` as the primary config (or a primary config
    it builds on, e.g. synthetic -> config) writes them, unresolved."""
    import yaml

    from brusim.paths import search_dirs

    found: dict[str, str] = {}
    todo, seen = [config_name], set()
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        path = next((d / f"{name}.yaml" for d in search_dirs() if (d / f"{name}.yaml").is_file()),
                    None)
        if path is None:
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for kind in ("run", "sweep"):
            value = ((data.get("hydra") or {}).get(kind) or {}).get("dir")
            if value and kind not in found:
                found[kind] = str(value)
        todo += [d for d in data.get("defaults") or [] if isinstance(d, str)]
    return {kind: found.get(kind, default) for kind, default in HYDRA_DEFAULT_DIRS.items()}


def absolute_hydra_dirs(args: list[str], config_name: str) -> list[str]:
    """Hydra's run and sweep folders as absolute overrides, so that no launcher resolves them
    in a worker's own working folder (a Ray head or a SLURM node may start elsewhere)."""
    given = {a.lstrip("+").split("=", 1)[0] for a in args}
    extra = []
    for kind, value in _config_hydra_dirs(config_name).items():
        if f"hydra.{kind}.dir" not in given and not value.startswith(("/", "$")):
            quoted = str(Path.cwd() / value).replace("\\", "\\\\").replace("'", "\\'")
            extra.append(f"hydra.{kind}.dir='{quoted}'")  # quoted: the pattern has commas
    return [*absolute_paths(args), *extra]


def _known_keys(config_name: str) -> list[str]:
    """Every key of the composed default config (for 'did you mean' hints)."""
    from omegaconf import OmegaConf

    from brusim.config.load import compose_config

    try:
        cfg = OmegaConf.to_container(compose_config([], config_name=config_name), resolve=False)
    except BrusimError:
        return []
    keys: list[str] = []

    def walk(node: object, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                keys.append(f"{prefix}{k}")
                walk(v, f"{prefix}{k}.")

    walk(cfg, "")
    return keys


@app.command(context_settings=PASS_THROUGH)
def run(ctx: typer.Context,
        resume: Annotated[Path | None, typer.Option(
            "--resume", metavar="RUN_DIR", help="Continue a killed or interrupted run from "
            "its last checkpoint (no overrides: the folder's config is used).")] = None,
        config_name: ConfigName = "config", config_dir_arg: ConfigDir = None) -> None:
    """Run one simulation (Hydra overrides, e.g. `scenario=midi_plan seed=3 weeks=4`;
    add `-m` for a multirun sweep)."""
    from brusim.config.load import searchpath_override
    from brusim.console import hold_stderr, one_line_hydra_error, restore_stderr
    from brusim.experiments.executor import (
        launcher_overrides,
        refuse_single_run,
        split_executor_args,
    )

    use_config_dir(config_dir_arg)
    args = list(ctx.args)
    try:
        if "-m" in args or "--multirun" in args:  # executor= picks brusim's launcher
            args = [*split_executor_args(args)[1], *launcher_overrides(args, "run -m")]
        else:
            refuse_single_run(args)
    except BrusimError as exc:
        fail(exc)
    if resume is not None:
        _resume(resume, args)
        return
    sys.argv = [f"{sys.argv[0]} run", "--config-name", config_name,
                *searchpath_override(), *absolute_hydra_dirs(args, config_name)]
    gate = hold_stderr()
    try:
        _hydra_run()
    except SystemExit as exc:
        if exc.code not in (0, None) and not gate.released:
            text = gate.text()
            restore_stderr(discard=True)
            fail(one_line_hydra_error(text, _known_keys(config_name)))
        raise
    finally:
        restore_stderr()


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
    config_dir_arg: ConfigDir = None,
) -> None:
    """Re-run a finished run from its config and seed and confirm identical outputs (content
    hashes of metrics and events); exit code 1 when anything differs."""
    from brusim.experiments.reproduce import reproduce as reproduce_run

    use_config_dir(config_dir_arg)
    logging.getLogger("MESA").setLevel(logging.WARNING)
    try:
        outcome = reproduce_run(run_dir, work_dir=keep, progress=True)
    except BrusimError as exc:
        fail(exc)
    for line in outcome.lines():
        typer.echo(line)
    if not outcome.identical:
        raise typer.Exit(1)


def _load_map(overrides: list[str], config_name: str):
    from brusim.config.load import compose_config
    from brusim.map import load_street_map
    from brusim.model.model import map_settings

    cfg = compose_config(overrides, config_name=config_name)
    return load_street_map(map_settings(cfg.map))


@map_app.command("info", context_settings=PASS_THROUGH)
def map_info(ctx: typer.Context, config_name: ConfigName = "config",
             config_dir_arg: ConfigDir = None) -> None:
    """Print nodes, edges, street km per zone and commune, every hotspot and the map's source
    and attribution."""
    from brusim.map.info import format_map_summary, map_summary

    use_config_dir(config_dir_arg)
    try:
        smap = _load_map(ctx.args, config_name)
    except BrusimError as exc:
        fail(exc)
    typer.echo(format_map_summary(map_summary(smap)))


@map_app.command("plot", context_settings=PASS_THROUGH)
def map_plot(ctx: typer.Context,
             out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")]
             = Path("results/map.png"),
             config_name: ConfigName = "config", config_dir_arg: ConfigDir = None) -> None:
    """Write a PNG of the street network: zones coloured, hotspots labelled, stations marked."""
    from brusim.map.plot import plot_street_map

    use_config_dir(config_dir_arg)
    if not out.parent.resolve().is_dir():  # before the map is loaded
        fail(BrusimError(f"--out {out}: the folder {out.parent} does not exist; create it or "
                         "write elsewhere"))
    try:
        smap = _load_map(ctx.args, config_name)
    except BrusimError as exc:
        fail(exc)
    typer.echo(f"wrote {plot_street_map(smap, out)}")


@map_app.command("build")
def map_build(
    source: Annotated[Path, typer.Argument(help="An OSMnx GraphML file or an OSM XML extract.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The compact file to write "
                                      "(name ending in .npz.xz).")],
    name: Annotated[str | None, typer.Option(help="A readable name for the map (default: "
                                             "the source file's name).")] = None,
    streets: Annotated[str | None, typer.Option(help="named (streets with a name, as the "
                                                "packaged map) or all (default: named for OSM "
                                                "XML, all for GraphML).")] = None,
) -> None:
    """Compile a street graph into a compact network file (a few hundred kB) that
    `map.source=compiled map.path=FILE` (or BRUSIM_MAP=FILE) loads in under a second. The file
    is a derived database of OpenStreetMap: share it under the ODbL with the attribution
    (c) OpenStreetMap contributors."""
    from brusim.map.build import build_network_file
    from brusim.map.compact import read_header

    if not str(out).endswith(".npz.xz"):
        fail(f"--out {out}: the name must end in .npz.xz (how brusim recognises the format)")
    try:
        path = build_network_file(source, out, name=name, streets=streets,
                                  command=" ".join(["brusim", *sys.argv[1:]]))
    except BrusimError as exc:
        fail(exc)
    header = read_header(path)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB): {header['nodes']:,} "
               f"nodes, {header['edges']:,} street segments; (c) OpenStreetMap contributors, "
               "ODbL 1.0")


@app.command(context_settings=PASS_THROUGH)
def compare(ctx: typer.Context,
            experiment: Annotated[str | None, typer.Option(
                "--experiment", "-e", help="Comparison settings: a YAML file, or the name of "
                "an experiment that ships with brusim (midi_vs_spread).")] = None,
            legacy_config: Annotated[str | None, typer.Option("--config", hidden=True)] = None,
            no_report: Annotated[bool, typer.Option("--no-report", help="Skip the report.")]
            = False,
            config_name: ConfigName = "config", config_dir_arg: ConfigDir = None) -> None:
    """Compare scenarios over common seeds: `brusim compare scenarios=[baseline,midi_plan]
    replications=10 weeks=12` (settings as key=value; any other key=value is a Hydra
    override for every run). `replications=auto` adds seeds in rounds until the headline
    contrasts are decided or `replications_cap` is reached, and says how many it took.
    `executor=ray|dask|slurm` (with `executor.address=auto`, ...) runs them off this machine;
    out_dir must then be on a file system every worker shares."""
    from brusim.experiments.compare import (
        CompareInterrupted,
        experiment_file,
        load_settings,
        run_compare,
    )

    use_config_dir(config_dir_arg)
    logging.getLogger("MESA").setLevel(logging.WARNING)
    args = list(ctx.args)
    if config_name != "config" and not any(a.startswith("config_name=") for a in args):
        args.append(f"config_name={config_name}")
    try:
        path = experiment_file(experiment or legacy_config)
        settings = load_settings(path, args)
        out = run_compare(settings)
    except CompareInterrupted as exc:
        typer.echo(f"brusim: {exc}", err=True)
        raise typer.Exit(130) from None
    except BrusimError as exc:
        fail(exc)
    typer.echo(f"comparison written to {out}")
    from brusim.analysis.precision import precision_statement

    typer.echo(precision_statement(out))
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
    config_dir_arg: ConfigDir = None,
) -> None:
    """Build the Security Council brief of a comparison: a self-contained HTML report, a
    16:9 slide PDF and an animated map, in `RESULTS_DIR/report/`."""
    use_config_dir(config_dir_arg)
    logging.getLogger("MESA").setLevel(logging.WARNING)
    _build_report(results_dir, [lang])


@app.command(context_settings=PASS_THROUGH)
def validate(
    ctx: typer.Context,
    seeds: Annotated[int | None, typer.Option(
        "--seeds", help="Replications (default: patterns.yaml).")] = None,
    weeks: Annotated[float | None, typer.Option(
        "--weeks", help="Weeks per run (default: patterns.yaml).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Parallel runs (-1: every core).")]
    = -1,
    pattern: Annotated[list[str] | None, typer.Option(
        "--pattern", help="Only this pattern (repeatable).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder (default: results/validate/<time>).")] = None,
    config_name: ConfigName = "config", config_dir_arg: ConfigDir = None,
) -> None:
    """Check the current defaults against the patterns of configs/calibration/patterns.yaml:
    prints and writes the table (pattern, target, value with 95% CI over seeds, pass/fail).
    Extra arguments are Hydra overrides for every run, or `executor=ray|dask|slurm` (and
    `executor.*` settings) to run them off this machine (--out then on a shared file system).
    Exit code 0 even when a pattern fails."""
    from brusim.calibration.validate import ValidateSettings, console_table, run_validate
    from brusim.experiments.executor import from_args, split_executor_args

    use_config_dir(config_dir_arg)
    logging.getLogger("MESA").setLevel(logging.WARNING)
    try:
        executor_args, overrides = split_executor_args(list(ctx.args))
        folder, table = run_validate(ValidateSettings(
            seeds=seeds, weeks=weeks, jobs=jobs, overrides=overrides,
            config_name=config_name, out_dir=out.resolve() if out else None,
            patterns=pattern or None, executor=from_args(executor_args)))
    except BrusimError as exc:
        fail(exc)
    typer.echo(console_table(table))
    typer.echo(f"{int(table['passed'].sum())} of {len(table)} checks pass; table written to "
               f"{folder / 'table.md'}")


@app.command(context_settings=PASS_THROUGH)
def calibrate(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="Study name: results/calibration/NAME "
                                      "(the same name continues the study).")] = "default",
    trials: Annotated[int, typer.Option("--trials", help="Trials to add (0: only rewrite the "
                                        "fit files, e.g. with --apply).")] = 20,
    seeds: Annotated[int | None, typer.Option(
        "--seeds", help="Seeds per trial (default: patterns.yaml).")] = None,
    weeks: Annotated[float | None, typer.Option(
        "--weeks", help="Weeks per run (default: patterns.yaml).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Workers sharing the study (local "
                                      "processes, or tasks of the executor).")] = 1,
    storage: Annotated[str | None, typer.Option(
        "--storage", help="The study: a journal file or an RDB URL (postgresql://...); default "
        "study.db in the study folder, study.journal with a cluster executor.")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Write the best parameters into a "
                                        "behaviour config: configs/behaviour/default.yaml in a "
                                        "source checkout, else a new file in your config "
                                        "folder (never inside the installed package).")]
    = False,
    config_name: ConfigName = "config", config_dir_arg: ConfigDir = None,
) -> None:
    """Fit the free behavioural parameters (configs/calibration/free_parameters.yaml) to the
    patterns with Optuna; resumable; writes fit.json and fit.md. Extra arguments are Hydra
    overrides for every run, or `executor=ray|dask|slurm` (and `executor.*` settings) to run
    the trials off this machine (results/calibration then on a shared file system)."""
    from brusim.calibration.calibrate import CalibrateSettings, run_calibrate
    from brusim.experiments.executor import from_args, split_executor_args

    use_config_dir(config_dir_arg)
    logging.getLogger("MESA").setLevel(logging.WARNING)
    command = " ".join(["brusim", *sys.argv[1:]])
    try:
        executor_args, overrides = split_executor_args(list(ctx.args))
        folder, fit = run_calibrate(CalibrateSettings(
            name=name, trials=trials, seeds=seeds, weeks=weeks, jobs=jobs, apply=apply,
            overrides=overrides, config_name=config_name, command=command,
            root=Path("results/calibration").resolve(), executor=from_args(executor_args),
            storage=storage))
    except BrusimError as exc:
        fail(exc)
    typer.echo(f"best objective {fit['best_value']:.3f} (trial {fit['best_trial']} of "
               f"{fit['trials_complete']}); fit written to {folder / 'fit.md'}")
    if apply:
        typer.echo(f"applied to {fit['applied_to']}")
        if fit.get("use_with"):
            typer.echo(f"use it with: {fit['use_with']}")


@app.command(context_settings=PASS_THROUGH)
def dashboard(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="Port to serve on (0: any free port).")]
    = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    no_open: Annotated[bool, typer.Option("--no-open", help="Do not open a browser.")] = False,
    config_name: ConfigName = "config", config_dir_arg: ConfigDir = None,
) -> None:
    """A local web app that runs one simulation live on the street map, with charts and
    controls (scenario, police share, outreach, rooms, seed). Extra arguments are Hydra
    overrides, as for `brusim run` (e.g. `brusim dashboard scenario=midi_plan`)."""
    from brusim.dashboard.server import serve
    from brusim.dashboard.state import Launch

    if not 0 <= port <= 65535:
        fail(f"--port {port}: a port is a number from 0 to 65535 (0: any free port)")
    use_config_dir(config_dir_arg)
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
    config_name: ConfigName = "config", config_dir_arg: ConfigDir = None,
) -> None:
    """Global sensitivity analysis (SALib: Morris screening or Sobol indices), resumable, its
    runs wherever `executor=` sends them: `brusim sensitivity displacement_drivers
    method=sobol samples=256 executor=slurm`. Other arguments are problem settings or Hydra
    overrides for every run."""
    from brusim.experiments.executor import launcher_overrides, split_executor_args
    from brusim.experiments.sensitivity import load_problem, run_sensitivity

    use_config_dir(config_dir_arg)
    args = list(ctx.args)
    if "=" in problem:  # no problem named: the first argument is a setting
        args, problem = [problem, *args], "displacement_drivers"
    try:  # executor= picks brusim's launcher for the samples' runs
        args = [*split_executor_args(args)[1], *launcher_overrides(args, "sensitivity")]
    except BrusimError as exc:
        fail(exc)
    if config_name != "config" and not any(a.startswith("config_name=") for a in args):
        args.append(f"config_name={config_name}")
    logging.getLogger("MESA").setLevel(logging.WARNING)
    try:
        spec, hydra_overrides = load_problem(problem, absolute_paths(args))
        out = run_sensitivity(spec, hydra_overrides)
    except BrusimError as exc:
        fail(exc)
    typer.echo(f"sensitivity indices -> {out / 'indices.csv'}, figures in {out / 'figures'}")


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """brusim's own warnings as one line each (no source line); others as Python shows them."""
    if "brusim" in str(filename).replace("\\", "/").split("/"):
        return f"brusim: warning: {message}\n"
    return _python_format(message, category, filename, lineno, line)


_python_format = warnings.formatwarning


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    warnings.formatwarning = _one_line_warning
    app()


if __name__ == "__main__":
    main()
