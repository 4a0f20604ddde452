"""When a rule is armed: its ``schedule`` (weekdays and time ranges in the site's time zone, with
date exceptions) and the clock that answers, for a moment, whether it is armed."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

_TIME_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


class TimeRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: time
    end: time  # end <= start means the range runs past midnight; 24:00 is written as end of day
    end_of_day: bool = False

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        m = _TIME_RANGE.match(text.strip())
        if not m:
            raise ValueError(f"time range {text!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
            raise ValueError(f"time range {text!r} has an impossible time")
        return cls(start=time(h1, m1), end=time(0, 0) if h2 == 24 else time(h2, m2), end_of_day=h2 == 24)

    def contains(self, t: time) -> bool:
        if self.end_of_day:
            return t >= self.start
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end  # overnight


class Schedule(BaseModel):
    """When a rule is armed: weekdays and time ranges in the site's time zone, with date exceptions."""

    model_config = ConfigDict(extra="forbid")

    weekdays: list[str] = Field(default_factory=lambda: list(_WEEKDAYS))
    times: list[str] = Field(default_factory=lambda: ["00:00-24:00"])
    except_dates: list[date] = Field(default_factory=list, description="dates on which the rule is off")
    only_dates: list[date] = Field(default_factory=list, description="extra dates on which it is on all day")

    @field_validator("weekdays")
    @classmethod
    def _days(cls, days: list[str]) -> list[str]:
        bad = [d for d in days if d.lower()[:3] not in _WEEKDAYS]
        if bad:
            raise ValueError(f"unknown weekday(s) {bad}; use mon tue wed thu fri sat sun")
        return [d.lower()[:3] for d in days]

    @field_validator("times")
    @classmethod
    def _times(cls, ranges: list[str]) -> list[str]:
        for r in ranges:
            TimeRange.parse(r)
        return ranges

    def ranges(self) -> list[TimeRange]:
        return [TimeRange.parse(r) for r in self.times]

    def weekday_numbers(self) -> set[int]:
        return {_WEEKDAYS[d] for d in self.weekdays}


class ScheduleClock:
    """Is a rule armed at a given moment? Its schedule read in the site's time zone."""

    def __init__(self, schedule: Schedule, timezone: str) -> None:
        self.tz = ZoneInfo(timezone)
        self.weekdays = schedule.weekday_numbers()
        self.ranges = schedule.ranges()
        self.except_dates = set(schedule.except_dates)
        self.only_dates = set(schedule.only_dates)
        self.always = (
            len(self.weekdays) == 7
            and any(r.end_of_day and r.start.hour == 0 and r.start.minute == 0 for r in self.ranges)
            and not self.except_dates
        )

    def armed(self, ts_ms: int) -> bool:
        if self.always:
            return True
        local = datetime.fromtimestamp(ts_ms / 1000, tz=self.tz)
        day = local.date()
        if day in self.except_dates:
            return False
        if day in self.only_dates:
            return True
        t = local.time()
        for r in self.ranges:
            if not r.contains(t):
                continue
            # A range past midnight belongs to the weekday it started on.
            starts_yesterday = not r.end_of_day and r.start >= r.end and t < r.end
            weekday = (local.weekday() - 1) % 7 if starts_yesterday else local.weekday()
            if weekday in self.weekdays:
                return True
        return False
