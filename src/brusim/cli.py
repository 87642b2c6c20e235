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

    from brusim.experiments.single import run_single

    logging.getLogger("MESA").setLevel(logging.WARNING)  # Mesa logs every step at INFO
    out = Path(cfg.run.output_dir or HydraConfig.get().runtime.output_dir)
    try:
        result = run_single(cfg, out, progress=bool(cfg.run.progress))
    except BrusimError as exc:
        for line in getattr(exc, "problems", None) or [str(exc)]:
            typer.echo(f"brusim: error: {line}", err=True)
        sys.exit(2)
    m = result.manifest
    typer.echo(f"run complete: {m['steps']} steps in {m['wall_seconds']} s -> {out}")


@app.command(context_settings=PASS_THROUGH)
def run(ctx: typer.Context) -> None:
    """Run one simulation (Hydra overrides, e.g. `scenario=midi_plan seed=3 weeks=4`;
    add `-m` for a multirun sweep)."""
    sys.argv = [f"{sys.argv[0]} run", *ctx.args]
    _hydra_run()


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
    from brusim.experiments.compare import load_settings, run_compare

    logging.getLogger("MESA").setLevel(logging.WARNING)
    try:
        settings = load_settings(config, list(ctx.args))
        out = run_compare(settings)
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


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app()


if __name__ == "__main__":
    main()
