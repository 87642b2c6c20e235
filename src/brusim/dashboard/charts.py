"""ECharts options of the dashboard's live charts (drawn in the browser by Solara's
`FigureEcharts`; only the numbers travel each frame)."""

from __future__ import annotations

import numpy as np

from brusim.map.plot import short_label

from .state import Series

HOTSPOT_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7")
REGION_COLORS = ("#B2182B", "#7B3294", "#F0A800")


def _points(days: np.ndarray, values: np.ndarray) -> list[list[float]]:
    return [[round(float(d), 4), round(float(v), 3)] for d, v in zip(days, values, strict=True)]


def line_chart(title: str, days: np.ndarray, lines: list[tuple[str, np.ndarray, str]],
               axis_days: float, marks: list[tuple[float, str]] = (),
               step: bool = False, x_note: str = "") -> dict:
    """One ECharts line chart: ``lines`` of (name, values per bin, colour) over ``days``, an
    x axis from 0 to ``axis_days`` and dashed vertical ``marks`` (day, label) inside it; the
    title carries the unit."""
    series = [{
        "type": "line", "name": name, "data": _points(days, values),
        "showSymbol": len(days) <= 3, "symbolSize": 5,  # a lone point needs a symbol
        "step": "end" if step else False, "color": color, "lineStyle": {"width": 1.6},
    } for name, values, color in lines]
    shown = [(d, label) for d, label in marks if d is not None and d <= axis_days]
    if series and shown:
        series[0]["markLine"] = {
            "silent": True, "symbol": "none",
            "lineStyle": {"type": "dashed", "color": "#444", "width": 1},
            "label": {"formatter": "{b}", "position": "insideEndTop", "fontSize": 10},
            "data": [{"name": label, "xAxis": round(float(d), 4)} for d, label in shown],
        }
    return {
        "animation": False,
        "title": {"text": title, "left": 0, "top": 0,
                  "textStyle": {"fontSize": 13, "fontWeight": "bold", "color": "#222"}},
        "legend": {"top": 20, "left": 0, "itemWidth": 14, "itemHeight": 8,
                   "textStyle": {"fontSize": 11}},
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 40, "right": 16, "top": 46, "bottom": 34},
        "xAxis": {"type": "value", "min": 0, "max": round(float(axis_days), 4),
                  "interval": 7 if axis_days > 14 else 1, "name": f"day of the run{x_note}",
                  "nameLocation": "middle", "nameGap": 20, "nameTextStyle": {"fontSize": 10},
                  "axisLabel": {"fontSize": 10}},
        "yAxis": {"type": "value", "min": 0, "axisLabel": {"fontSize": 10}},
        "series": series,
    }


def chart_options(s: Series) -> dict[str, dict]:
    """The four live charts, by key: transactions and police at the key hotspots, violent
    incidents and public consumption in the region."""
    marks = [(s.intervention_day, "intervention"), (s.withdraw_day, "withdrawal")]
    names = [short_label(n) for n in s.hotspot_names]
    colors = dict(zip(s.hotspots, HOTSPOT_COLORS, strict=False))
    note = "" if s.bin_hours == 1 else f" ({s.bin_hours}-hour means)"
    return {
        "transactions": line_chart(
            "Transactions per hour at key hotspots", s.days,
            [(n, s.transactions[h], colors[h]) for n, h in zip(names, s.hotspots, strict=True)],
            s.axis_days, marks, x_note=note),
        "police": line_chart(
            "Police units present at key hotspots", s.days,
            [(n, s.police[h], colors[h]) for n, h in zip(names, s.hotspots, strict=True)],
            s.axis_days, marks, x_note=note),
        "violence": line_chart(
            "Violent incidents since the start, region", s.days,
            [("incidents", s.violence_cum, REGION_COLORS[0])],
            s.axis_days, marks, step=True),
        "public_use": line_chart(
            "Public drug use per day, region", s.days,
            [("public use", s.public_use, REGION_COLORS[1]),
             ("consumption-room entries", s.room_entries, REGION_COLORS[2])],
            s.axis_days, marks, x_note=note),
    }
