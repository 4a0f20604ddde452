"""Working days in China (法定节假日 and 调休): deadlines counted in working days.

The calendar is the maintained ``holidays`` package (its ``China`` calendar carries the State
Council's holidays and the weekend days made working days, year by year); nothing here is a hand
table. tests/center/domain/test_workdays.py checks it against ``chinesecalendar`` (another
maintained source) day by day over the years both know.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays

MAX_WORKING_DAYS = 400  # a bound on what a caller may ask for (over a year and a half)


@lru_cache(maxsize=16)
def _calendar(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("CN", years=year)


def is_working_day(day: date) -> bool:
    """A weekday that is no public holiday, or a weekend day made a working day (调休)."""
    return bool(_calendar(day.year).is_working_day(day))


def add_working_days(start: date, days: int) -> date:
    """The ``days``-th working day after ``start`` (``start`` itself not counted): a deadline of
    "within N working days" from a day something was filed."""
    if not 0 <= days <= MAX_WORKING_DAYS:
        raise ValueError(f"days must be 0–{MAX_WORKING_DAYS}, not {days}")
    day, left = start, days
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """How many working days lie after ``start`` up to and including ``end`` (0 if end <= start)."""
    n, day = 0, start
    while day < end:
        day += timedelta(days=1)
        n += is_working_day(day)
    return n
