"""Compose a configuration outside a Hydra app (tests, `compare`, notebooks)."""

from __future__ import annotations

from collections.abc import Sequence

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from brusim.config.schema import register_configs
from brusim.errors import ConfigError
from brusim.paths import config_dir, search_dirs, user_config_dir


def scenario_names() -> list[str]:
    """Scenario config names (``scenario/*.yaml`` in brusim's and the user's configs), sorted."""
    return sorted({p.stem for d in search_dirs() for p in (d / "scenario").glob("*.yaml")})


def searchpath_override() -> list[str]:
    """The Hydra override that adds the user's config folder (`paths.user_config_dir`)."""
    user = user_config_dir()
    return [f"hydra.searchpath=[file://{user}]"] if user is not None else []


def override_key(override: str) -> str:
    """The config key of a Hydra override (``+a.b=1`` -> ``a.b``)."""
    return override.split("=", 1)[0].lstrip("+~").strip()


def compose_config(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """Compose ``configs/<config_name>.yaml`` (brusim's, or the user's config folder) with Hydra
    overrides; errors become ConfigError."""
    register_configs()
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose(config_name=config_name,
                          overrides=[*searchpath_override(), *overrides])
    except (HydraException, OmegaConfBaseException) as exc:
        if _interrupted(exc):  # Hydra wraps a Ctrl-C during composition: it is no config error
            raise KeyboardInterrupt from None
        raise ConfigError(one_line(exc)) from None
    return cfg


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` was caused, at any depth, by a KeyboardInterrupt."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def one_line(exc: BaseException) -> str:
    """First meaningful line of a Hydra/OmegaConf error message (of its cause when Hydra wraps
    an OmegaConf error in an empty ConfigCompositionException)."""
    text = str(exc).strip().splitlines()
    if not text and exc.__cause__ is not None:
        return one_line(exc.__cause__)
    return text[0] if text else type(exc).__name__


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)
