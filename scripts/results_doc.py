"""Write docs/results.md from src/brusim/experiments/results_schema.yaml (the meaning of every
table and column of a comparison's results database).

Usage: ``python3 scripts/results_doc.py --write`` (without ``--write``: print it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from brusim.experiments.results_schema import markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "results.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {DOC.name}")
    args = parser.parse_args()
    text = markdown()
    if args.write:
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC}")
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
