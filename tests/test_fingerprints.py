"""Four short runs on the packaged Brussels map give the stored content hashes
(tests/fingerprints.json, written by `python3 scripts/fingerprints.py --write`): a refactor that
is not meant to change results must keep them. When a change is meant to change results,
regenerate the file and say so in the commit."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("fingerprints", REPO / "scripts/fingerprints.py")
fingerprints = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fingerprints)
STORED = json.loads((REPO / "tests" / "fingerprints.json").read_text())


@pytest.mark.parametrize("name", sorted(fingerprints.RUNS))
def test_run_reproduces_its_stored_fingerprint(name):
    assert fingerprints.fingerprint(fingerprints.RUNS[name]) == STORED[name]
