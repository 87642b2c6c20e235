"""Constraints on configuration values, declared beside the schema's fields.

A schema field says its range and unit where it is defined::

    flee_risk: float = share(0.6)
    awareness_m: float = positive(638.7, "m")
    shift_start_hour: float = between(10.0, 0, 24, "hour of day", high_open=True)

`brusim.config.validate` walks the schema and checks every value against its `Bound` (NaN and
infinity are refused everywhere), so the CLI, the dashboard and the model's constructor refuse
the same values with the same one-line messages. A field holding a table or a list of numbers
declares the bound of each entry (``each=``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Bound:
    """An interval ``[low, high]`` (either end optional, either end open) and a unit."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    unit: str = ""

    def allows(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None
                    and (value >= self.high if self.high_open else value > self.high))

    def describe(self) -> str:
        """The interval in words, as the error messages give it."""
        lo, hi = self.low, self.high
        if (lo, hi, self.low_open, self.high_open) == (0, 1, False, False):
            return "a share between 0 and 1"
        if hi is None and lo is not None:
            return f"greater than {lo:g}" if self.low_open else f"{lo:g} or more"
        if lo is None and hi is not None:
            return f"less than {hi:g}" if self.high_open else f"{hi:g} or less"
        return "a finite number" if lo is None else f"in {self.interval()}"

    def interval(self) -> str:
        """The interval in symbols, as the parameter tables of docs/ODD.md give it."""
        lo, hi = self.low, self.high
        if hi is None:
            if lo is None:
                return "finite"
            return f"> {lo:g}" if self.low_open else f"≥ {lo:g}"
        if lo is None:
            return f"< {hi:g}" if self.high_open else f"≤ {hi:g}"
        return (f"{'(' if self.low_open else '['}{lo:g}, {hi:g}"
                f"{')' if self.high_open else ']'}")

    def problem(self, path: str, value: Any) -> str | None:
        """One line naming ``path`` when ``value`` breaks the bound, else None."""
        if isinstance(value, bool) or value is None:
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            return f"{path}={value!r}: must be a number"
        if self.allows(number):
            return None
        if not math.isfinite(number):
            return f"{path}={value}: must be a finite number ({self.describe()})"
        return f"{path}={value}: must be {self.describe()}"


def _bounded(default: Any, bound: Bound) -> Any:
    if isinstance(default, (list, dict)):
        raise TypeError("use field(default_factory=..., metadata=each(...)) for tables")
    return field(default=default, metadata={"bound": bound})


def share(default: float, unit: str = "share") -> Any:
    """A probability or share, in [0, 1]."""
    return _bounded(default, Bound(0.0, 1.0, unit=unit))


def count(default: int, unit: str = "count") -> Any:
    """A whole number, 0 or more."""
    return _bounded(default, Bound(0, unit=unit))


def positive(default: float, unit: str) -> Any:
    """Greater than 0."""
    return _bounded(default, Bound(0.0, low_open=True, unit=unit))


def non_negative(default: float, unit: str) -> Any:
    """0 or more."""
    return _bounded(default, Bound(0.0, unit=unit))


def between(default: float, low: float, high: float, unit: str, high_open: bool = False,
            low_open: bool = False) -> Any:
    """In ``[low, high]`` (ends open on request)."""
    return _bounded(default, Bound(low, high, low_open=low_open, high_open=high_open, unit=unit))


def each(bound: Bound, factory: Any) -> Any:
    """A table or list field whose every number obeys ``bound``."""
    return field(default_factory=factory, metadata={"each": bound})


SHARE = Bound(0.0, 1.0, unit="share")
NON_NEGATIVE = Bound(0.0)
