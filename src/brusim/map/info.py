"""A plain summary of a compiled `StreetMap`: sizes, police zones, communes, hotspots, stats.

``map_summary`` returns plain Python data (JSON-serialisable); ``format_map_summary`` turns it
into the aligned text report printed by ``brusim map info``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from brusim.map.streetmap import StreetMap


def node_street_km(smap: StreetMap) -> np.ndarray:
    """Street km attributed to each node: half of every incident segment's length.

    Each undirected segment appears twice in the CSR adjacency (once from each end), so half of
    each row's lengths gives every end node half of the segment; the total equals ``street_km``.
    """
    rows = np.repeat(np.arange(smap.n_nodes), np.diff(smap.indptr))
    return np.bincount(rows, weights=smap.length_m, minlength=smap.n_nodes) / 2000.0


def _group_table(labels: np.ndarray, names: Sequence[str], km: np.ndarray) -> list[dict]:
    """Node count and street km per label value (one row per name, in name order)."""
    k = len(names)
    nodes = np.bincount(labels, minlength=k)
    street = np.bincount(labels, weights=km, minlength=k)
    return [
        {"name": name, "nodes": int(nodes[i]), "street_km": float(street[i])}
        for i, name in enumerate(names)
    ]


def _zone_rows(smap: StreetMap, km: np.ndarray) -> list[dict]:
    """Per police zone: id, name, nodes and street km."""
    rows = _group_table(smap.zone.astype(np.int64), smap.zone_names, km)
    for row, zid in zip(rows, smap.zone_ids, strict=True):
        row["id"] = zid
    return rows


def _commune_rows(smap: StreetMap, km: np.ndarray) -> list[dict]:
    """Per commune: name, its police zone (by majority of its nodes), nodes and street km."""
    rows = _group_table(smap.commune.astype(np.int64), smap.commune_names, km)
    for i, row in enumerate(rows):
        zones = smap.zone[smap.commune == i]
        row["zone"] = smap.zone_names[int(np.bincount(zones).argmax())] if len(zones) else ""
    return rows


def _hotspot_rows(smap: StreetMap) -> list[dict]:
    """Every hotspot: id, name, snap distance, zone and commune of its node, catchment size."""
    hs = smap.hotspots
    rows = []
    for i, (pid, name) in enumerate(zip(hs.ids, hs.names, strict=True)):
        node = int(hs.node[i])
        rows.append({
            "id": pid,
            "name": name,
            "node": node,
            "snap_m": float(hs.snap_m[i]),
            "zone": smap.zone_names[int(smap.zone[node])],
            "commune": smap.commune_names[int(smap.commune[node])],
            "catchment_nodes": len(hs.catchment(i)),
            "listed": bool(hs.attrs[i].get("listed", False)),
        })
    return rows


def _room_rows(smap: StreetMap) -> list[dict]:
    """Consumption rooms: id, name, status, snap distance and zone."""
    rooms = smap.rooms
    return [
        {
            "id": pid,
            "name": rooms.names[i],
            "status": str(rooms.attrs[i].get("status", "")),
            "snap_m": float(rooms.snap_m[i]),
            "zone": smap.zone_names[int(smap.zone[int(rooms.node[i])])],
        }
        for i, pid in enumerate(rooms.ids)
    ]


def map_summary(smap: StreetMap) -> dict:
    """Summarise ``smap`` as plain data: totals, per zone and commune, hotspots and stats.

    An edge's length is attributed half to each end node's zone and commune, so the per-zone
    (and per-commune) street km add up to the map's total ``street_km``.
    """
    km = node_street_km(smap)
    return {
        "name": smap.name,
        "source_hash": smap.source_hash,
        "nodes": smap.n_nodes,
        "edges": smap.n_edges,
        "street_km": smap.street_km,
        "zones": _zone_rows(smap, km),
        "communes": _commune_rows(smap, km),
        "hotspots": _hotspot_rows(smap),
        "stations": len(smap.stations),
        "rooms": _room_rows(smap),
        "stats": dict(smap.stats),
    }


# ------------------------------------------------------------------------------ formatting


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
                 align: str | None = None) -> str:
    """Render rows as an aligned text table; ``align`` has one 'l'/'r' per column."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[j]) for r in cells) for j in range(len(headers))]
    align = align or "l" * len(headers)

    def line(row: Sequence[str]) -> str:
        parts = [c.rjust(w) if a == "r" else c.ljust(w)
                 for c, w, a in zip(row, widths, align, strict=True)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _format_groups(title: str, rows: list[dict], total_km: float, zone_col: bool) -> str:
    headers = ["commune" if zone_col else "police zone", "nodes", "street km", "share"]
    align = "lrrr"
    if zone_col:
        headers.append("police zone")
        align += "l"
    body = []
    for r in rows:
        row = [r["name"], f"{r['nodes']:,}", f"{r['street_km']:,.1f}",
               _share(r["street_km"], total_km)]
        body.append(row + [r["zone"]] if zone_col else row)
    return f"{title}\n{format_table(headers, body, align)}"


def _format_hotspots(rows: list[dict]) -> str:
    headers = ["id", "name", "snap m", "police zone", "catchment nodes", "listed"]
    body = [
        [r["id"], r["name"], f"{r['snap_m']:.0f}", r["zone"], r["catchment_nodes"],
         "yes" if r["listed"] else "no"]
        for r in rows
    ]
    return f"Hotspots ({len(rows)})\n{format_table(headers, body, 'llrlrl')}"


def _format_rooms(rows: list[dict]) -> str:
    headers = ["id", "name", "status", "snap m", "police zone"]
    body = [[r["id"], r["name"], r["status"], f"{r['snap_m']:.0f}", r["zone"]] for r in rows]
    return f"Consumption rooms ({len(rows)})\n{format_table(headers, body, 'lllrl')}"


def _format_stats(stats: dict) -> str:
    width = max((len(k) for k in stats), default=0)
    lines = [f"  {k.replace('_', ' ').ljust(width)}  {_fmt_value(v)}" for k, v in stats.items()]
    return "Compile report\n" + "\n".join(lines)


def _fmt_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def format_map_summary(summary: dict) -> str:
    """Readable plain-text report of a `map_summary` (what ``brusim map info`` prints)."""
    total = summary["street_km"]
    head = (
        f"Street map {summary['name']} (source {summary['source_hash'][:12]})\n"
        f"  {summary['nodes']:,} nodes, {summary['edges']:,} street segments, "
        f"{total:,.1f} km of streets\n"
        f"  {_count(len(summary['hotspots']), 'hotspot')}, "
        f"{_count(summary['stations'], 'station')}, "
        f"{_count(len(summary['rooms']), 'consumption room')}"
    )
    stats = dict(summary["stats"])
    attribution = stats.pop("attribution", None)
    if attribution:
        head += f"\n  map data {attribution}"
    sections = [
        head,
        _format_groups("Police zones", summary["zones"], total, zone_col=False),
        _format_groups("Communes", summary["communes"], total, zone_col=True),
        _format_hotspots(summary["hotspots"]),
    ]
    if summary["rooms"]:
        sections.append(_format_rooms(summary["rooms"]))
    if stats:
        sections.append(_format_stats(stats))
    return "\n\n".join(sections) + "\n"
