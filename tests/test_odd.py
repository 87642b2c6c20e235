"""docs/ODD.md stays true to the configuration and the code.

- every leaf key of the composed configuration (default, synthetic and every scenario) has its own
  row in a parameter table, with a default and a source, and every parameter row names a real key;
- the seven ODD elements (Grimm et al. 2020) appear as numbered headings in the standard order,
  with the eleven design concepts in theirs;
- every ``brusim.…`` reference in the document resolves to a module, class or function, and each
  submodel points to at least one function or class.

Default values are deliberately not compared: calibration changes them.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from brusim.config.load import compose_config
from brusim.paths import config_dir

DOC = Path(__file__).resolve().parents[1] / "docs" / "ODD.md"

ELEMENTS = [
    "Purpose and patterns",
    "Entities, state variables and scales",
    "Process overview and scheduling",
    "Design concepts",
    "Initialisation",
    "Input data",
    "Submodels",
]
CONCEPTS = [
    "Basic principles", "Emergence", "Adaptation", "Objectives", "Learning", "Prediction",
    "Sensing", "Interaction", "Stochasticity", "Collectives", "Observation",
]
# Hydra's own settings (run/sweep folders, job options) are runtime plumbing, not model
# parameters; `compose` leaves them out anyway, the filter only guards against a future change.
SKIPPED_PREFIXES = ("hydra.",)
REFERENCE = re.compile(r"`(brusim(?:\.[A-Za-z_]\w*)+)`")
TABLE_KEY = re.compile(r"^\|\s*`([^`]+)`\s*\|")


def leaf_keys(node: object, prefix: str = "") -> set[str]:
    """Dotted keys of the leaves of a plain config container.

    Dicts are walked (an empty dict is itself a leaf); lists of dicts are walked with ``[]`` for
    the position (``police.duties[].name``); every other value, lists included, is a leaf.
    """
    if isinstance(node, dict):
        if not node:
            return {prefix}
        out: set[str] = set()
        for key, value in node.items():
            out |= leaf_keys(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(node, list) and node and all(isinstance(v, dict) for v in node):
        return set().union(*(leaf_keys(v, f"{prefix}[]") for v in node))
    return {prefix}


@cache
def config_keys() -> frozenset[str]:
    """Leaf keys of the default and synthetic configs and of every scenario composed on top."""
    configs = [compose_config([]), compose_config([], config_name="synthetic")]
    scenarios = sorted(p.stem for p in (config_dir() / "scenario").glob("*.yaml"))
    assert "baseline" in scenarios and len(scenarios) > 1
    configs += [compose_config([f"scenario={name}"]) for name in scenarios]
    keys: set[str] = set()
    for cfg in configs:
        keys |= leaf_keys(OmegaConf.to_container(cfg, resolve=True))
    return frozenset(k for k in keys if not k.startswith(SKIPPED_PREFIXES))


def ancestors(keys: frozenset[str]) -> set[str]:
    """Every key and every inner node above it (``a.b.c`` gives ``a``, ``a.b``, ``a.b.c``)."""
    out: set[str] = set()
    for key in keys:
        parts = key.split(".")
        out |= {".".join(parts[: i + 1]) for i in range(len(parts))}
        out |= {k.removesuffix("[]") for k in list(out)}
    return out


@cache
def doc_text() -> str:
    assert DOC.is_file(), f"{DOC} is missing"
    return DOC.read_text(encoding="utf-8")


def section(title_pattern: str) -> str:
    """Text of the level-2 section whose heading matches ``title_pattern``, up to the next one."""
    text = doc_text()
    match = re.search(rf"^## {title_pattern}\s*$", text, flags=re.M)
    assert match, f"no '## {title_pattern}' heading in {DOC.name}"
    rest = text[match.end():]
    nxt = re.search(r"^## ", rest, flags=re.M)
    return rest[: nxt.start()] if nxt else rest


def cells(line: str) -> list[str]:
    """Cells of a Markdown table row."""
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parameter_rows() -> dict[str, list[str]]:
    """Rows of the Parameters section's tables whose first column is ``key``, by key."""
    rows: dict[str, list[str]] = {}
    header: list[str] | None = None
    for line in section("Parameters").splitlines():
        if not line.startswith("|"):
            header = None
            continue
        if header is None:
            header = cells(line)
            continue
        match = TABLE_KEY.match(line)
        if header[0] != "key" or not match:
            continue
        assert match.group(1) not in rows, f"parameter `{match.group(1)}` has two rows"
        rows[match.group(1)] = cells(line)
    return rows


def resolve(dotted: str) -> object:
    """Import the longest module prefix of ``dotted`` and getattr the rest."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)  # AttributeError: the reference is stale
        return obj
    raise ModuleNotFoundError(dotted)


def test_leaf_keys_walks_dicts_and_lists_of_dicts() -> None:
    tree = {"a": {"b": 1, "c": {}}, "d": [{"x": 1}, {"x": 2, "y": 3}], "e": [1, 2], "f": []}
    assert leaf_keys(tree) == {"a.b", "a.c", "d[].x", "d[].y", "e", "f"}


def test_config_keys_cover_groups_and_scenario_additions() -> None:
    keys = config_keys()
    for expected in ("seed", "weeks", "run.record_every_steps", "map.catchment_m",
                     "population.market_weights.gare_du_midi", "police.duties[].share_lost",
                     "courts.weekly_capacity", "behaviour.dealers.risk_weight",
                     "scenario.intervention_week", "scenario.rooms.gate.open",
                     "scenario.rooms.ribaucourt.from_week"):
        assert expected in keys


def test_every_config_key_has_a_parameter_row_with_default_and_source() -> None:
    rows = parameter_rows()
    missing = sorted(k for k in config_keys() if k not in rows)
    assert not missing, f"config keys without a row in the Parameters tables of ODD.md: {missing}"
    for key in config_keys():
        row = rows[key]
        assert len(row) >= 4, f"`{key}`: a row needs key, default, unit and source"
        assert row[1], f"`{key}`: no default given"
        assert row[-1], f"`{key}`: no source (a citation or ASSUMPTION) given"


def test_every_config_key_appears_in_backticks() -> None:
    text = doc_text()
    missing = sorted(k for k in config_keys() if f"`{k}`" not in text)
    assert not missing, f"config keys not named in ODD.md: {missing}"


def test_parameter_rows_name_real_keys() -> None:
    known = ancestors(config_keys())
    stale = sorted(k for k in parameter_rows() if k not in known)
    assert not stale, f"ODD.md documents keys that are not in the config: {stale}"


def test_seven_elements_in_order() -> None:
    headings = re.findall(r"^## (\d+)\. (.+?)\s*$", doc_text(), flags=re.M)
    assert headings == [(str(i), t) for i, t in enumerate(ELEMENTS, start=1)]


def test_eleven_design_concepts_in_order() -> None:
    concepts = re.findall(r"^### 4\.(\d+) (.+?)\s*$", section(r"4\. Design concepts"), flags=re.M)
    assert concepts == [(str(i), t) for i, t in enumerate(CONCEPTS, start=1)]


def test_every_submodel_points_to_code() -> None:
    body = section(r"7\. Submodels")
    parts = re.split(r"^### (7\.\d+ .+?)\s*$", body, flags=re.M)
    subsections = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert len(subsections) >= 10
    for title, text in subsections.items():
        refs = REFERENCE.findall(text)
        callables = [r for r in refs if callable(resolve(r))]
        assert callables, f"submodel '{title}' names no function or class of the code"


@pytest.mark.parametrize("ref", sorted(set(REFERENCE.findall(doc_text()))))
def test_code_reference_exists(ref: str) -> None:
    resolve(ref)


def test_every_parameter_row_gives_the_range_its_schema_field_declares() -> None:
    from brusim.config.validate import bound_for

    wrong = []
    for key, row in parameter_rows().items():
        bound = bound_for(key)
        expected = bound.interval() if bound is not None else "—"
        if row[3] != expected:
            wrong.append(f"`{key}`: ODD.md says {row[3]!r}, the schema {expected!r}")
    assert not wrong, "\n".join(wrong)
