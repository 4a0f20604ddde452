"""Times as the center counts them, in epoch milliseconds: the length of a day, and query
times (ISO 8601 datetimes or epoch milliseconds) parsed to epoch ms."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

DAY_MS = 86_400_000
MAX_MS = 32_503_680_000_000  # year 3000, as in the wire contract
_DIGITS = re.compile(r"^\d{1,16}$")
# "…T08:00:00 08:00": a '+' typed into a URL arrives as a space
_SPACED_OFFSET = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


def parse_time(value: str, tz: ZoneInfo) -> int:
    """Epoch ms from ``1748736000000``, ``2025-06-01T08:00:00+08:00``, ``…Z`` or ``2025-06-01``.

    A datetime without an offset is read in ``tz`` (the park's time zone). Raises ValueError
    with a message fit for the API client.
    """
    text = _SPACED_OFFSET.sub(r"\1+\2", value.strip(" "))
    if _DIGITS.match(text):
        ms = int(text)
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"expected an ISO 8601 datetime (e.g. 2025-06-01T08:00:00+08:00) or epoch milliseconds, "
                f"got {value[:40]!r}"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        ms = int(moment.timestamp() * 1000)
    if not 0 <= ms <= MAX_MS:
        raise ValueError(f"out of range: {value[:40]!r} (between 1970 and 3000)")
    return ms
