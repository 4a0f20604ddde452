"""Is a rule armed at a given moment? Weekdays and time ranges in the site's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from edge.config import Schedule


class ScheduleClock:
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
