"""Read the pattern definitions (configs/calibration/patterns.yaml) and the free parameters
(configs/calibration/free_parameters.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from brusim.calibration.patterns import Band, CheckSpec
from brusim.errors import ConfigError
from brusim.paths import config_dir


@dataclass(frozen=True)
class Arm:
    """A run setting: a scenario label (``a+b`` composes scenario files) plus overrides."""

    name: str
    scenario: str
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Places:
    """Hotspots the patterns refer to on one map, and arm overrides needed on that map."""

    name: str
    target: str
    receivers: tuple[str, ...]
    nearby: tuple[str, ...]
    arm_overrides: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def hotspots(self) -> set[str]:
        return {self.target, *self.receivers, *self.nearby}


@dataclass(frozen=True)
class PatternSpec:
    """One pattern: its arms, its checks and the extra settings of its function."""

    name: str
    title: str
    source: str
    arms: tuple[str, ...]
    checks: dict[str, CheckSpec]
    options: dict


@dataclass(frozen=True)
class PatternBook:
    """Everything in patterns.yaml."""

    seeds: int
    first_seed: int
    weeks: float
    overrides: tuple[str, ...]
    loss_cap: float
    arms: dict[str, Arm]
    places: tuple[Places, ...]
    patterns: dict[str, PatternSpec]
    calibrate_patterns: tuple[str, ...]
    calibrate_seeds: int
    calibrate_first_seed: int
    calibrate_weeks: float
    calibrate_overrides: tuple[str, ...] = ()

    def arms_for(self, patterns: list[str] | tuple[str, ...]) -> list[Arm]:
        """The arms the given patterns need, in the order of the arms section."""
        needed = {a for p in patterns for a in self.patterns[p].arms}
        return [arm for name, arm in self.arms.items() if name in needed]

    def places_for(self, hotspot_ids: tuple[str, ...] | list[str]) -> Places:
        """The first place set whose hotspots all exist on the map."""
        have = set(hotspot_ids)
        for p in self.places:
            if p.hotspots() <= have:
                return p
        raise ConfigError("configs/calibration/patterns.yaml: no place set matches this map's "
                          f"hotspots ({', '.join(sorted(have))}); add one under places")


OPTION_KEYS = {"title", "source", "arms", "checks"}
CHECK_KEYS = {"target", "band", "scale", "log", "weight"}


def default_patterns_path() -> Path:
    return config_dir() / "calibration" / "patterns.yaml"


def default_parameters_path() -> Path:
    return config_dir() / "calibration" / "free_parameters.yaml"


def _load(path: Path) -> dict:
    if not Path(path).is_file():
        raise ConfigError(f"{path} not found; pass an existing YAML file")
    try:
        return OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except Exception as exc:  # yaml or omegaconf errors
        raise ConfigError(f"{path}: {str(exc).splitlines()[0]}") from None


def load_patterns(path: Path | None = None) -> PatternBook:
    """Parse patterns.yaml into a `PatternBook`; malformed entries are ConfigErrors."""
    path = Path(path) if path else default_patterns_path()
    raw = _load(path)
    try:
        s, cal = raw["settings"], raw["calibrate"]
        arms = {name: Arm(name, str(a["scenario"]), tuple(a.get("overrides") or ()))
                for name, a in raw["arms"].items()}
        places = tuple(
            Places(name, str(p["target"]), tuple(p.get("receivers") or ()),
                   tuple(p.get("nearby") or ()),
                   {k: tuple(v) for k, v in (p.get("arm_overrides") or {}).items()})
            for name, p in raw["places"].items())
        patterns = {}
        for name, p in raw["patterns"].items():
            checks = {}
            for cname, c in p["checks"].items():
                unknown = set(c) - CHECK_KEYS
                if unknown:
                    raise ConfigError(f"{path}: pattern {name} check {cname}: unknown keys "
                                      f"{sorted(unknown)}; valid: {sorted(CHECK_KEYS)}")
                checks[cname] = CheckSpec(str(c["target"]), Band.of(c["band"]),
                                          float(c.get("scale", 1.0)), bool(c.get("log", False)),
                                          float(c.get("weight", 1.0)))
            missing = [a for a in p["arms"] if a not in arms]
            if missing:
                raise ConfigError(f"{path}: pattern {name} needs unknown arms {missing}")
            patterns[name] = PatternSpec(name, str(p["title"]), " ".join(str(p["source"]).split()),
                                         tuple(p["arms"]), checks,
                                         {k: v for k, v in p.items() if k not in OPTION_KEYS})
        book = PatternBook(int(s["seeds"]), int(s["first_seed"]), float(s["weeks"]),
                           tuple(s.get("overrides") or ()), float(s.get("loss_cap", 3.0)), arms,
                           places, patterns, tuple(cal["patterns"]), int(cal["seeds"]),
                           int(cal["first_seed"]), float(cal["weeks"]),
                           tuple(cal.get("overrides") or ()))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: malformed entry ({exc}); see the comments in the file"
                          ) from None
    unknown = [p for p in book.calibrate_patterns if p not in book.patterns]
    if unknown:
        raise ConfigError(f"{path}: calibrate.patterns names unknown patterns {unknown}")
    return book


@dataclass(frozen=True)
class FreeParameter:
    """A behavioural parameter fitted by `brusim calibrate`."""

    key: str  # dotted config path, e.g. behaviour.dealers.risk_weight
    low: float
    high: float
    log: bool
    integer: bool
    reason: str
    fit: bool = True  # False: free, but held at its value in the current fit


def load_free_parameters(path: Path | None = None, fitted_only: bool = False
                         ) -> list[FreeParameter]:
    """Parse free_parameters.yaml (only those with ``fit: true`` if ``fitted_only``); every key
    must be a behaviour.* parameter."""
    path = Path(path) if path else default_parameters_path()
    raw = _load(path).get("parameters") or {}
    out = []
    for key, p in raw.items():
        if not key.startswith("behaviour."):
            raise ConfigError(f"{path}: {key} is not a behaviour.* parameter; only behavioural "
                              "parameters are calibrated (--apply writes behaviour/default.yaml)")
        try:
            low, high = (float(v) for v in p["range"])
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{path}: {key} needs range: [low, high]") from None
        if not low < high or (p.get("log") and low <= 0):
            raise ConfigError(f"{path}: {key} range [{low}, {high}] is empty or not positive "
                              "on a log scale")
        out.append(FreeParameter(key, low, high, bool(p.get("log", False)),
                                 bool(p.get("integer", False)),
                                 " ".join(str(p.get("reason", "")).split()),
                                 bool(p.get("fit", True))))
    if fitted_only:
        out = [p for p in out if p.fit]
    if not out:
        raise ConfigError(f"{path}: no parameters to fit (none listed with fit: true)")
    return out
