"""Simulated time: steps, hours, weekdays, police shifts and daily rhythms."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ASSUMPTION: relative purchase demand by hour of day (street markets peak afternoon/evening).
DEMAND_BY_HOUR = np.array(
    [0.5, 0.4, 0.3, 0.2, 0.15, 0.15, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0,
     1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.6, 1.5, 1.4, 1.2, 1.0, 0.7]
)
DEMAND_BY_HOUR = DEMAND_BY_HOUR / DEMAND_BY_HOUR.mean()


@dataclass(frozen=True)
class Clock:
    """Converts step numbers into time of day, weekday and week. Step 0 is Monday 00:00."""

    step_minutes: float = 15.0

    @property
    def steps_per_hour(self) -> float:
        return 60.0 / self.step_minutes

    @property
    def steps_per_day(self) -> int:
        return int(round(24 * 60 / self.step_minutes))

    @property
    def steps_per_week(self) -> int:
        return 7 * self.steps_per_day

    def steps(self, hours: float) -> int:
        """Whole number of steps (at least 1) in a duration given in hours."""
        return max(1, int(round(hours * self.steps_per_hour)))

    def hour(self, step: int) -> float:
        return (step % self.steps_per_day) * self.step_minutes / 60.0

    def day(self, step: int) -> int:
        return step // self.steps_per_day

    def weekday(self, step: int) -> int:
        return self.day(step) % 7

    def week(self, step: int) -> int:
        return step // self.steps_per_week

    def shift(self, step: int) -> int:
        """Police shift: 0 early (6-14h), 1 late (14-22h), 2 night (22-6h)."""
        h = self.hour(step)
        return 0 if 6 <= h < 14 else (1 if 14 <= h < 22 else 2)

    def demand_factor(self, step: int) -> float:
        return float(DEMAND_BY_HOUR[int(self.hour(step)) % 24])

    def in_hours(self, step: int, start: float, length: float) -> bool:
        """Whether the time of day is inside [start, start+length) hours, wrapping midnight."""
        return (self.hour(step) - start) % 24 < length
