"""The period of a report: whole days in the park's time zone, bounded and checked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from center.domain.errors import Invalid

DAY_MS = 86_400_000
QUARTER_MS = 900_000  # UTC offsets change on quarter hours
MAX_DAYS = 3660  # ten years and a few leap days: the longest period a report covers


@dataclass(frozen=True)
class Period:
    """``start`` to ``end``, both included, in ``tz``; ``from_ms`` / ``to_ms`` bound it (to_ms excluded)."""

    start: date
    end: date
    tz: ZoneInfo
    asked_end: date | None = None  # the end asked for, when it was in the future and cut at today

    @property
    def from_ms(self) -> int:
        return int(datetime.combine(self.start, time(), self.tz).timestamp() * 1000)

    @property
    def to_ms(self) -> int:
        return int(datetime.combine(self.end + timedelta(days=1), time(), self.tz).timestamp() * 1000)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1), self.tz)

    def offset_ranges(self) -> list[tuple[int, int, int]]:
        """The period cut where the park's UTC offset changes (daylight saving): (from_ms, to_ms,
        offset_ms) each, so that hour-of-day and day buckets computed in SQL with one offset a
        range are the park's local hours and days all through the period. One range for a zone
        without daylight saving (Asia/Shanghai)."""

        def offset(ms: int) -> int:
            off = datetime.fromtimestamp(ms / 1000, self.tz).utcoffset() or timedelta()
            return int(off.total_seconds() * 1000)

        out: list[tuple[int, int, int]] = []
        start, current = self.from_ms, offset(self.from_ms)
        day = self.from_ms
        while day < self.to_ms:
            nxt = min(day + DAY_MS, self.to_ms)
            if offset(nxt - 1) != current:  # a change inside this day: find its quarter hour
                t = day
                while t < nxt and offset(t) == current:
                    t += QUARTER_MS
                out.append((start, t, current))
                start, current = t, offset(t)
            day = nxt
        out.append((start, self.to_ms, current))
        return out

    def label(self) -> str:
        return f"{self.start:%Y年%m月%d日} 至 {self.end:%Y年%m月%d日}"


def make_period(start: date | None, end: date | None, timezone: str, today: date | None = None) -> Period:
    """The period asked for; by default the last 30 days up to today. Raises :class:`Invalid`
    (422) for a reversed period, one that starts in the future or one longer than ten years. A
    period that ends in the future is cut at today (its figures stop there, the report says so)."""
    tz = ZoneInfo(timezone)
    today = today or datetime.now(tz).date()
    end = end or today
    start = start or end - timedelta(days=29)
    if start > end:
        raise Invalid(("query", "from"), f"报告期起始日 {start} 晚于截止日 {end} (the period is reversed)")
    if start > today:
        raise Invalid(
            ("query", "from"), f"报告期起始日 {start} 在今天 {today} 之后 (the period is in the future)"
        )
    asked_end = end if end > today else None
    end = min(end, today)
    if (end - start).days + 1 > MAX_DAYS:
        raise Invalid(
            ("query", "from"), f"报告期最长十年 ({MAX_DAYS} 天) (the period is longer than ten years)"
        )
    return Period(start, end, tz, asked_end)
