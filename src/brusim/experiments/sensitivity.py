"""`brusim sensitivity`: global sensitivity analysis with SALib (Morris screening or Sobol
indices from Saltelli/Sobol' sampling) run through the Hydra launcher of the sweeps.

A problem file (``configs/sensitivity/*.yaml``) names config keys with ranges, the method, the
sample size, base overrides and the outputs (columns of the collected sweep table). The sample
matrix is written into the output folder and each row becomes one Hydra job (folder
``sample_00012_seed0``); complete samples are skipped on a re-run, so an interrupted analysis
resumes. The indices (with confidence intervals) go to ``indices.parquet``/``.csv`` and one bar
chart per output to ``figures/``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from brusim.errors import ConfigError
from brusim.experiments.collect import CollectSpec
from brusim.io import save_figure, writable_folder, write_parquet, write_text

log = logging.getLogger(__name__)

METHODS = ("morris", "sobol")
INDEX_COLUMNS = {"morris": ("mu", "mu_star", "sigma", "mu_star_conf"),
                 "sobol": ("S1", "S1_conf", "ST", "ST_conf")}
RANK_BY = {"morris": "mu_star", "sobol": "ST"}


@dataclass
class SensitivityProblem:
    """A global sensitivity analysis. Every field can be set in the YAML file or as key=value."""

    name: str = "sensitivity"
    question: str = ""
    method: str = "morris"          # morris | sobol
    trajectories: int = 10          # morris: runs = trajectories x (parameters + 1)
    num_levels: int = 4             # morris grid levels
    samples: int = 64               # sobol: base sample N (a power of 2); runs = N x (k + 2)
    second_order: bool = False      # sobol: also second-order indices (runs = N x (2k + 2))
    sample_seed: int = 0            # seed of the sample matrix and of the bootstrap intervals
    replications: int = 1           # model seeds per sample (outputs are averaged over them)
    first_seed: int = 0
    config_name: str = "config"
    parameters: dict[str, Any] = field(default_factory=dict)  # config key: [low, high]
    overrides: list[str] = field(default_factory=list)  # applied to every run
    outputs: list[str] = field(default_factory=list)    # columns of the collected table
    collect: CollectSpec = field(default_factory=CollectSpec)
    conf_level: float = 0.95
    num_resamples: int = 1000
    out_dir: str | None = None      # default: results/sensitivity/<name>


# ------------------------------------------------------------------------------ problem file


def problem_path(name_or_path: str) -> Path:
    """A problem file given as a path or as a name in ``configs/sensitivity/``."""
    from brusim.paths import config_dir

    path = Path(name_or_path)
    if path.is_file():
        return path
    folder = config_dir() / "sensitivity"
    named = folder / f"{name_or_path.removesuffix('.yaml')}.yaml"
    if named.is_file():
        return named
    known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
    raise ConfigError(f"sensitivity problem {name_or_path!r} not found; give a YAML file or one "
                      f"of: {known}")


def split_args(args: list[str]) -> tuple[list[str], list[str]]:
    """Split ``key=value`` arguments into problem settings and Hydra overrides (the rest)."""
    names = set(SensitivityProblem.__dataclass_fields__)
    settings = [a for a in args if a.split("=", 1)[0].split(".", 1)[0] in names]
    return settings, [a for a in args if a not in settings]


def load_problem(name_or_path: str, args: list[str] = ()) -> tuple[SensitivityProblem, list[str]]:
    """The problem from its file plus ``key=value`` settings, and the remaining Hydra
    overrides (``hydra/launcher=slurm``, ``weeks=12``...): task overrides are added to the
    problem's overrides, ``hydra...`` ones are returned for the launch."""
    dotlist, rest = split_args(list(args))
    try:
        base = OmegaConf.merge(OmegaConf.structured(SensitivityProblem),
                               OmegaConf.load(problem_path(name_or_path)))
        if dotlist:
            base = OmegaConf.merge(base, OmegaConf.from_dotlist(dotlist))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"sensitivity problem: {str(exc).splitlines()[0]}") from None
    problem = OmegaConf.to_object(base)
    hydra_overrides = [a for a in rest if a.lstrip("+~").startswith("hydra")]
    problem.overrides = [*problem.overrides, *[a for a in rest if a not in hydra_overrides]]
    return problem, hydra_overrides


def parameter_kinds(problem: SensitivityProblem) -> dict[str, bool]:
    """Check the problem's settings and that every parameter is a numeric config key with
    low < high; returns which parameters are integers (from the config schema)."""
    from brusim.config.load import compose_config

    errors = []
    if problem.method not in METHODS:
        errors.append(f"method={problem.method!r}: use one of {', '.join(METHODS)}")
    if not problem.parameters:
        errors.append("no parameters: give `parameters: {config.key: [low, high]}`")
    if not problem.outputs:
        errors.append("no outputs: name columns of the collected table, e.g. "
                      "displacement.wdd or gare_du_midi.transactions.change")
    if problem.replications < 1 or problem.trajectories < 2 or problem.samples < 2:
        errors.append("replications must be >= 1, trajectories and samples >= 2")
    cfg = compose_config(problem.overrides, config_name=problem.config_name)
    integer = {}
    for key, bounds in problem.parameters.items():
        value = OmegaConf.select(cfg, key, default="<missing>")
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(f"parameter {key}: not a numeric config key (value {value!r})")
        elif not _is_range(bounds):
            errors.append(f"parameter {key}: range must be [low, high] with low < high")
        else:
            integer[key] = isinstance(value, int)
    if errors:
        raise ConfigError([f"sensitivity: {e}" for e in errors])
    return integer


def check_problem(problem: SensitivityProblem) -> dict[str, bool]:
    """`parameter_kinds`, then validate the configurations at the lower and upper ends of
    the ranges (`brusim.config.validate` on the run's map)."""
    from brusim.config.load import compose_config
    from brusim.config.validate import problems
    from brusim.map import load_street_map
    from brusim.model.model import map_settings

    integer = parameter_kinds(problem)
    for corner in (0, 1):
        point = {k: b[corner] for k, b in problem.parameters.items()}
        cfg = compose_config([*problem.overrides, *value_overrides(point, integer)],
                             config_name=problem.config_name)
        found = problems(cfg, load_street_map(map_settings(cfg.map)))
        if found:
            raise ConfigError([f"sensitivity: at the {('lower', 'upper')[corner]} ends of the "
                               f"ranges: {p}" for p in found])
    return integer


def _is_range(bounds: Any) -> bool:
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        return False
    return low < high


def value_overrides(point: dict[str, float], integer: dict[str, bool]) -> list[str]:
    """Hydra overrides setting each parameter (integers rounded, floats exact)."""
    return [f"{k}={int(round(float(v)))}" if integer.get(k) else f"{k}={float(v)!r}"
            for k, v in point.items()]


# ------------------------------------------------------------------------------ SALib


def salib_problem(problem: SensitivityProblem) -> dict:
    """The SALib problem dictionary."""
    names = list(problem.parameters)
    return {"num_vars": len(names), "names": names,
            "bounds": [[float(b[0]), float(b[1])] for b in problem.parameters.values()]}


def sample(problem: SensitivityProblem) -> np.ndarray:
    """The sample matrix (one row per model evaluation, one column per parameter)."""
    sp = salib_problem(problem)
    if problem.method == "morris":
        from SALib.sample import morris

        return morris.sample(sp, N=problem.trajectories, num_levels=problem.num_levels,
                             seed=problem.sample_seed)
    from SALib.sample import sobol

    if problem.samples & (problem.samples - 1):
        log.warning("sensitivity: samples=%d is not a power of 2; Sobol' sequences converge "
                    "best with 64, 128, 256...", problem.samples)
    return sobol.sample(sp, N=problem.samples, calc_second_order=problem.second_order,
                        seed=problem.sample_seed)


def analyse(problem: SensitivityProblem, X: np.ndarray, Y: np.ndarray) -> pd.DataFrame:
    """Indices for one output ``Y`` (one value per row of ``X``): Morris mu, mu*, sigma,
    mu*_conf or Sobol S1, S1_conf, ST, ST_conf, one row per parameter, with ``rank``
    (1 = most influential by mu* or ST). Non-finite outputs give NaN indices."""
    sp = salib_problem(problem)
    cols = INDEX_COLUMNS[problem.method]
    Y = np.asarray(Y, dtype=float)
    if not np.all(np.isfinite(Y)):
        res = {c: np.full(sp["num_vars"], np.nan) for c in cols}
    elif problem.method == "morris":
        from SALib.analyze import morris

        res = morris.analyze(sp, X, Y, num_resamples=problem.num_resamples,
                             conf_level=problem.conf_level, num_levels=problem.num_levels,
                             seed=problem.sample_seed)
    else:
        from SALib.analyze import sobol

        res = sobol.analyze(sp, Y, calc_second_order=problem.second_order,
                            num_resamples=problem.num_resamples, conf_level=problem.conf_level,
                            seed=problem.sample_seed)
    df = pd.DataFrame({"parameter": sp["names"], **{c: np.asarray(res[c], float) for c in cols}})
    df["rank"] = df[RANK_BY[problem.method]].rank(ascending=False, method="min")
    return df


def plot_indices(df: pd.DataFrame, method: str, output: str, path: Path) -> Path:
    """Bar chart of one output's indices with their confidence intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = RANK_BY[method]
    d = df.sort_values(key, na_position="first")
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(d) + 1.5))
    y = np.arange(len(d))
    if method == "morris":
        ax.barh(y, d["mu_star"], xerr=d["mu_star_conf"], color="#4c72b0", capsize=3,
                label="μ* (mean |elementary effect|)")
        ax.plot(d["sigma"], y, "o", color="#dd8452", label="σ (interactions, non-linearity)")
        ax.set_xlabel("Morris index")
    else:
        h = 0.38
        ax.barh(y + h / 2, d["ST"], h, xerr=d["ST_conf"], color="#4c72b0", capsize=3,
                label="ST (total)")
        ax.barh(y - h / 2, d["S1"], h, xerr=d["S1_conf"], color="#dd8452", capsize=3,
                label="S1 (first order)")
        ax.set_xlabel("Sobol index")
    ax.set_yticks(y, d["parameter"])
    ax.set_title(output)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.6 / len(d)),
              ncol=2, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------ running


def run_dir_name(sample_index: int, seed: int) -> str:
    """The run folder of one sample and seed, e.g. ``sample_00012_seed0``."""
    return f"sample_{sample_index:05d}_seed{seed}"


def out_dir(problem: SensitivityProblem) -> Path:
    """The analysis folder: ``out_dir`` or ``results/sensitivity/<name>``."""
    return Path(problem.out_dir) if problem.out_dir else Path("results/sensitivity") / problem.name


def _store_samples(out: Path, problem: SensitivityProblem, X: np.ndarray) -> None:
    names = list(problem.parameters)
    path = out / "samples.parquet"
    if path.exists():
        old = pd.read_parquet(path)
        if list(old.columns[1:]) != names or not np.array_equal(old[names].to_numpy(), X):
            raise ConfigError(f"{out} holds the samples of a different problem; use another "
                              "out_dir=... or delete the folder")
    else:
        write_parquet(path, pd.DataFrame(X, columns=names).rename_axis("sample").reset_index())
    write_text(out / "problem.yaml", OmegaConf.to_yaml(OmegaConf.structured(problem)))


def plan_jobs(problem: SensitivityProblem, X: np.ndarray, integer: dict[str, bool]
              ) -> list[tuple[str, list[str]]]:
    """(run folder, task overrides) of every model run: samples x replications."""
    names = list(problem.parameters)
    seeds = range(problem.first_seed, problem.first_seed + problem.replications)
    return [(run_dir_name(i, s), [*problem.overrides,
                                  *value_overrides(dict(zip(names, x, strict=True)), integer),
                                  f"seed={s}"])
            for i, x in enumerate(X) for s in seeds]


def _done(path: Path, overrides: list[str]) -> bool:
    from brusim.experiments.shards import overrides_key, shard_problem, task_overrides

    found = task_overrides(path)
    return found is not None and overrides_key(found) == overrides_key(overrides) \
        and shard_problem(path) is None


def run_sensitivity(problem: SensitivityProblem, hydra_overrides: list[str] = ()) -> Path:
    """Sample, run every sample not yet complete through the Hydra launcher, collect, analyse
    and write indices and figures. Returns the output folder."""
    from brusim.experiments.sweep import launch, progress_line, write_plan

    integer = check_problem(problem)
    X = sample(problem)
    out = writable_folder(out_dir(problem).resolve(), "out_dir")
    _store_samples(out, problem, X)
    jobs = plan_jobs(problem, X, integer)
    write_plan(out, [o for _, o in jobs])
    log.info("sensitivity %s: %s, %d parameters, %d runs; %s", problem.name, problem.method,
             len(problem.parameters), len(jobs), progress_line(out))
    todo = [[*o, f"hydra.sweep.subdir={d}"] for d, o in jobs if not _done(out / d, o)]
    if todo:
        launch(todo, [f"hydra.sweep.dir={out}", *hydra_overrides],
               config_name=problem.config_name, task_name="sensitivity")
    log.info(progress_line(out))
    analyse_folder(out, problem, X)
    return out


def sample_outputs(out: Path, problem: SensitivityProblem, n_samples: int) -> pd.DataFrame:
    """Collect the runs and average each output over the seeds of each sample."""
    from brusim.experiments.collect import collect

    table, _ = collect(out, problem.collect)
    table = table[table["run"].str.fullmatch(r"sample_\d+_seed\d+")].copy()
    table["sample"] = table["run"].map(lambda r: int(re.search(r"\d+", r).group()))
    missing_cols = [o for o in problem.outputs if o not in table.columns]
    if missing_cols:
        known = ", ".join(c for c in table.columns if "." in c and c not in problem.parameters)
        raise ConfigError(f"sensitivity: unknown output(s) {', '.join(missing_cols)}; the "
                          f"collected table has: {known}")
    means = table.groupby("sample")[problem.outputs].mean()
    counts = table.groupby("sample").size()
    incomplete = [i for i in range(n_samples) if counts.get(i, 0) < problem.replications]
    if incomplete:
        raise ConfigError(f"sensitivity: {len(incomplete)} of {n_samples} samples are not "
                          f"complete (e.g. {run_dir_name(incomplete[0], problem.first_seed)}); "
                          "run the same command again to finish them")
    return means.reindex(range(n_samples))


def analyse_folder(out: Path, problem: SensitivityProblem, X: np.ndarray) -> pd.DataFrame:
    """Indices of every output from the runs in ``out``; writes indices.parquet/.csv and one
    figure per output."""
    Y = sample_outputs(out, problem, len(X))
    tables = []
    for output in problem.outputs:
        y = Y[output].to_numpy()
        if not np.all(np.isfinite(y)):
            log.warning("sensitivity: output %s is undefined in %d samples (e.g. a WDQ without "
                        "target gain); its indices are NaN", output, int((~np.isfinite(y)).sum()))
        df = analyse(problem, X, y)
        plot_indices(df, problem.method, output, out / "figures" / f"{_file_name(output)}.png")
        tables.append(df.assign(output=output, method=problem.method))
    indices = pd.concat(tables, ignore_index=True)
    indices = indices[["output", "method", "parameter", *INDEX_COLUMNS[problem.method], "rank"]]
    write_parquet(out / "indices.parquet", indices)
    write_text(out / "indices.csv", indices.to_csv(index=False))
    return indices


def _file_name(output: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", output)


def runs_needed(problem: SensitivityProblem) -> int:
    """Model runs of the problem (before any are skipped)."""
    k = len(problem.parameters)
    per = problem.trajectories * (k + 1) if problem.method == "morris" \
        else problem.samples * (2 * k + 2 if problem.second_order else k + 2)
    return per * problem.replications

