"""The brief's fixed text in English, French and Dutch (``i18n.yaml``: key -> en, fr, nl) and
the formatting of numbers, percentages and intervals in each language."""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import yaml

from brusim.errors import BrusimError

LANGUAGES = ("en", "fr", "nl")
I18N_PATH = Path(__file__).with_name("i18n.yaml")
MINUS, NNBSP = "\u2212", "\u202f"


@lru_cache(maxsize=1)
def load_i18n() -> dict[str, dict[str, str]]:
    """The fixed text of the brief: key -> {en, fr, nl}."""
    with open(I18N_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def check_language(lang: str) -> None:
    """Raise a `BrusimError` for a language the brief is not written in."""
    if lang not in LANGUAGES:
        raise BrusimError(f"unknown report language {lang!r}; use one of {', '.join(LANGUAGES)}")


def tr(key: str, lang: str, **values: object) -> str:
    """The text ``key`` in ``lang`` with ``{placeholders}`` filled from ``values``."""
    text = load_i18n()[key][lang]
    return text.format(**values) if values else text


def format_number(x: float | None, lang: str, decimals: int = 0, signed: bool = False) -> str:
    """A number for ``lang``: en ``1,234.5``, fr ``1 234,5`` (narrow no-break space), nl
    ``1.234,5``; a true minus sign; ``+`` for positive values when ``signed``."""
    if x is None or not math.isfinite(float(x)):
        return tr("not_defined", lang)
    r = round(float(x), decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    body = f"{abs(r):,.{decimals}f}"
    if lang == "fr":
        body = body.replace(",", NNBSP).replace(".", ",")
    elif lang == "nl":
        body = body.replace(",", "_").replace(".", ",").replace("_", ".")
    sign = MINUS if r < 0 else ("+" if signed and r > 0 else "")
    return sign + body


def format_percent(fraction: float | None, lang: str, decimals: int = 0,
                   signed: bool = True) -> str:
    """A fraction as a percentage for ``lang`` (``-0.61`` -> en ``−61%``, fr ``−61 %``)."""
    if fraction is None or not math.isfinite(float(fraction)):
        return tr("not_defined", lang)
    number = format_number(100 * float(fraction), lang, decimals, signed)
    return number + (f"{NNBSP}%" if lang == "fr" else "%")


def count_decimals(x: float) -> int:
    """Decimals to show for a count-like mean: none for large or whole numbers, else one."""
    return 0 if not math.isfinite(x) or abs(x) >= 100 or float(x).is_integer() else 1


def value_ci(values: tuple[float, float, float], lang: str, kind: str = "number",
             decimals: int = 0) -> str:
    """``value [lo to hi]`` in ``lang``. ``kind`` "percent": fractions shown as ``−61% [−67 to
    −55]``; "number": signed numbers. The interval is left out when it is not defined."""
    v, lo, hi = (float(x) for x in values)
    if kind == "percent":
        main = format_percent(v, lang, decimals)
        lo, hi = 100 * lo, 100 * hi
    else:
        main = format_number(v, lang, decimals, signed=True)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return main
    return tr("value_ci", lang, value=main, lo=format_number(lo, lang, decimals, signed=True),
              hi=format_number(hi, lang, decimals, signed=True))
