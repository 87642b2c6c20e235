"""Shared fixtures: an isolated cache, the synthetic city config and the real Brussels map."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from brusim.config.load import compose_config
from brusim.map import MapSettings, StreetMap, load_street_map
from brusim.model.numba_cache import cache_root

# The model's kernels are cached under the user's cache (fixed when brusim.model is imported,
# before `isolated_cache` moves BRUSIM_CACHE): subprocesses of the tests use the same folder.
os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_root()))

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MAP = REPO.parent / "shared/data/brussels/streets_osm2021.graphml"


def real_map_file() -> Path | None:
    """``$BRUSIM_MAP`` if set, else the shared reference GraphML beside the checkout."""
    env = os.environ.get("BRUSIM_MAP")
    path = Path(env) if env else DEFAULT_MAP
    return path if path.is_file() else None


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keep the tests' compiled maps out of the user's cache (and start from an empty one)."""
    path = tmp_path_factory.mktemp("brusim_cache")
    old = os.environ.get("BRUSIM_CACHE")
    os.environ["BRUSIM_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("BRUSIM_CACHE", None)
    else:
        os.environ["BRUSIM_CACHE"] = old


@pytest.fixture(scope="session")
def brussels_path() -> Path:
    path = real_map_file()
    if path is None:
        where = os.environ.get("BRUSIM_MAP") or DEFAULT_MAP
        pytest.skip(f"Brussels reference data not found at {where}")
    return path


@pytest.fixture(scope="session")
def brussels(brussels_path: Path, isolated_cache: Path) -> StreetMap:
    """The real Brussels map, compiled once per test session."""
    return load_street_map(MapSettings(source="graphml", path=str(brussels_path)))


def synthetic_config(*overrides: str):
    """The synthetic-city configuration with Hydra overrides."""
    return compose_config(list(overrides), config_name="synthetic")


def brussels_config(path: Path, *overrides: str):
    """The default Brussels configuration pointing at the given map file."""
    return compose_config([f"map.path={path}", "map.source=graphml", *overrides])
