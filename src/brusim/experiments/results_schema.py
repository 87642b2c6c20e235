"""What the tables of a comparison's results database mean (results_schema.yaml): the texts
`write_duckdb` stores as DuckDB table and column comments, the table of node coordinates, and
the Markdown of docs/results.md."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import yaml

SCHEMA_PATH = Path(__file__).with_name("results_schema.yaml")


@cache
def schema() -> dict:
    """The parsed results_schema.yaml."""
    return yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))


def table_text(table: str) -> str | None:
    """What ``table`` holds (None if it is not described)."""
    entry = schema()["tables"].get(table)
    return entry["text"] if entry else None


def _columns(table: str) -> dict[str, str]:
    """The columns described for ``table``: those of the table it is ``same_as``, then its
    own."""
    tables = schema()["tables"]
    entry = tables.get(table) or {}
    cols = dict(tables.get(entry.get("same_as"), {}).get("columns") or {})
    cols.update(entry.get("columns") or {})
    return cols


def column_text(table: str, column: str) -> str | None:
    """What ``column`` of ``table`` means: the table's own text, the text of the table it is
    ``same_as``, a common column's, or the table's ``*`` entry; None if none applies."""
    own = _columns(table)
    if column in own:
        return own[column]
    if column in schema()["common"]:
        return schema()["common"][column]
    return own.get("*")


def node_table(smap) -> pd.DataFrame:
    """One row per street node: its OpenStreetMap id, Lambert 72 and WGS 84 coordinates, police
    zone and commune (the ``nodes_xy`` table)."""
    return pd.DataFrame({
        "node": range(smap.n_nodes), "osmid": smap.osmid, "x": smap.x, "y": smap.y,
        "lon": smap.lon, "lat": smap.lat,
        "zone": pd.Categorical.from_codes(smap.zone, list(smap.zone_ids)),
        "commune": pd.Categorical.from_codes(smap.commune, list(smap.commune_names)),
    })


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"  # DuckDB's COMMENT ON takes no parameters


def comment_statements(table: str, columns: list[str]) -> list[str]:
    """SQL statements that store the descriptions of ``table`` and its ``columns`` as DuckDB
    comments (nothing for what is not described)."""
    out = []
    text = table_text(table)
    if text:
        out.append(f'COMMENT ON TABLE "{table}" IS {_literal(text)}')
    for col in columns:
        text = column_text(table, col)
        if text:
            out.append(f'COMMENT ON COLUMN "{table}"."{col}" IS {_literal(text)}')
    return out


def markdown() -> str:
    """docs/results.md: every table, then its columns with their meaning."""
    lines = ["# The results database", "",
             "A comparison (`brusim compare`) writes these tables into `results.duckdb`, and each",
             "as a Parquet file of the same name, under its output folder. The same texts are",
             "stored in the database as table and column comments (`SELECT * FROM",
             "duckdb_columns()` shows them). This page is made from",
             "`src/brusim/experiments/results_schema.yaml` by `python scripts/results_doc.py",
             "--write`; do not edit it by hand.", "",
             "Columns found in several tables:", "",
             "| column | meaning |", "|---|---|"]
    lines += [f"| `{c}` | {t} |" for c, t in schema()["common"].items()]
    for table, entry in schema()["tables"].items():
        lines += ["", f"## `{table}`", "", entry["text"], ""]
        cols = _columns(table)
        if cols:
            lines += ["| column | meaning |", "|---|---|"]
            lines += [f"| `{c}` | {t} |" for c, t in cols.items()]
    return "\n".join(lines) + "\n"
