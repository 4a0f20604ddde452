"""Working days from the ``holidays`` calendar: checked day by day against ``chinesecalendar``
(another maintained source) and by hand across 2026's holidays and 调休 days."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest

from center.domain.grid import complaint_deadline, due_dates
from center.domain.workdays import add_working_days, is_working_day, working_days_between


def test_the_calendar_agrees_with_chinesecalendar_every_day_2024_to_2026() -> None:
    day, differ, n = date(2024, 1, 1), [], 0
    while day <= date(2026, 12, 31):
        n += 1
        if is_working_day(day) != chinese_calendar.is_workday(day):
            differ.append(day)
        day += timedelta(days=1)
    assert n == 1096 and differ == []


def test_adjusted_days_of_2026() -> None:
    # 调休: these weekend days are working days; these weekdays are holidays (State Council, 2025-11)
    for d in ("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"):
        assert is_working_day(date.fromisoformat(d)), d
    for d in ("2026-01-02", "2026-02-16", "2026-02-20", "2026-02-23", "2026-05-05", "2026-06-19"):
        assert not is_working_day(date.fromisoformat(d)), d
    for d in ("2026-09-25", "2026-10-01", "2026-10-06", "2026-10-07"):
        assert not is_working_day(date.fromisoformat(d)), d


def test_complaint_deadlines_across_national_day_2026_by_hand() -> None:
    # filed Mon 28 Sep: 29, 30 Sep (2), 1–7 Oct off, 8, 9 Oct (4), Sat 10 Oct a working day (5),
    # 12–16 Oct (10): the 10th working day is Fri 16 Oct
    assert complaint_deadline(date(2026, 9, 28), False) == date(2026, 10, 16)
    # complex: 19–23 Oct (15), 26–30 Oct (20), 2–6 Nov (25), 9–13 Nov (30)
    assert complaint_deadline(date(2026, 9, 28), True) == date(2026, 11, 13)
    # filed Fri 18 Sep: Sun 20 Sep works (1), 21–24 (5), Fri 25 Sep 中秋 off, 28–30 (8), 8–9 Oct (10)
    assert complaint_deadline(date(2026, 9, 18), False) == date(2026, 10, 9)
    # filed Wed 6 May (after 1–5 May off): 7, 8, Sat 9 May works (3), 11–15 (8), 18, 19 (10)
    assert complaint_deadline(date(2026, 5, 6), False) == date(2026, 5, 19)
    assert working_days_between(date(2026, 9, 28), date(2026, 10, 16)) == 10
    assert add_working_days(date(2026, 10, 1), 0) == date(2026, 10, 1)
    with pytest.raises(ValueError):
        add_working_days(date(2026, 1, 1), -1)


def test_due_dates_spread_over_the_period() -> None:
    year = (date(2026, 1, 1), date(2026, 12, 31))
    assert due_dates(*year, 4) == [date(2026, 4, 1), date(2026, 7, 1), date(2026, 9, 30), date(2026, 12, 31)]
    assert due_dates(*year, 1) == [date(2026, 12, 31)]
    assert due_dates(*year, 2) == [date(2026, 7, 1), date(2026, 12, 31)]
    with pytest.raises(ValueError):
        due_dates(*year, 0)
