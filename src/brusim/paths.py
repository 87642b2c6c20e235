"""Where brusim finds its configs, the user's own configs and its caches."""

from __future__ import annotations

import os
from pathlib import Path

from brusim.errors import BrusimError, ConfigError

USER_CONFIG_ENV = "BRUSIM_CONFIG_DIR"
EXPERIMENTS_SUBDIR = "experiments"


def package_root() -> Path:
    """The folder of the brusim package (``.../site-packages/brusim`` or ``src/brusim``)."""
    return Path(__file__).resolve().parent


def source_checkout() -> Path | None:
    """The repository root when brusim runs from its own source tree (an editable install or
    ``PYTHONPATH=src``), else None (an installed wheel)."""
    root = package_root().parents[1]
    pyproject = root / "pyproject.toml"
    if package_root().parent.name != "src" or not pyproject.is_file():
        return None
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    return root if 'name = "brusim"' in text else None


def config_dir() -> Path:
    """The configs folder: the repository's ``configs/`` or the copy inside an installed wheel."""
    packaged = package_root() / "_configs"
    if packaged.is_dir():
        return packaged
    checkout = source_checkout()
    if checkout is not None and (checkout / "configs").is_dir():
        return checkout / "configs"
    raise FileNotFoundError("brusim configs not found; reinstall brusim")


def experiments_dir() -> Path | None:
    """The reproducible experiments (``experiments/`` of the repository or of the wheel)."""
    packaged = package_root() / "_experiments"
    if packaged.is_dir():
        return packaged
    checkout = source_checkout()
    if checkout is not None and (checkout / EXPERIMENTS_SUBDIR).is_dir():
        return checkout / EXPERIMENTS_SUBDIR
    return None


def user_config_dir() -> Path | None:
    """The user's own config folder, searched after brusim's: ``$BRUSIM_CONFIG_DIR`` (set by
    ``--config-dir``), else ``./configs`` in the working folder when it is not brusim's own.

    It has the layout of brusim's ``configs/`` (``scenario/my_plan.yaml`` is then
    ``scenario=my_plan``); its files add to brusim's and never replace them.
    """
    env = os.environ.get(USER_CONFIG_ENV)
    if env:
        path = Path(env).expanduser().resolve()
        if not path.is_dir():
            raise ConfigError(f"config folder {path} (--config-dir or ${USER_CONFIG_ENV}) does "
                              "not exist; create it or fix the path")
        return path
    local = Path.cwd() / "configs"
    if local.is_dir() and local.resolve() != config_dir().resolve():
        return local.resolve()
    return None


def search_dirs() -> list[Path]:
    """brusim's config folder, then the user's (`user_config_dir`), if any."""
    user = user_config_dir()
    return [config_dir(), *([user] if user is not None else [])]


def cache_dir() -> Path:
    """Per-user cache folder (``$BRUSIM_CACHE`` or ``~/.cache/brusim``), created on demand."""
    root = os.environ.get("BRUSIM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "brusim"
    )
    path = Path(root)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BrusimError(f"the cache folder {path} cannot be used ({exc.strerror}); set "
                          "BRUSIM_CACHE to a writable folder") from None
    return path
