"""Structured logs: one JSON object a line when stderr is not a terminal, readable text otherwise.

Both processes log the same shape: ``{"ts": ISO 8601 UTC with milliseconds, "level", "logger",
"msg", ...extra fields, "exc"?}``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():  # extra={...} fields
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(
    level: str = "INFO",
    json_lines: bool | None = None,
    *,
    quiet: Iterable[str] = (),
    propagate: Iterable[str] = (),
) -> None:
    """Configure the root logger.

    ``quiet``: loggers raised to WARNING (chatty libraries); ``propagate``: loggers whose own
    handlers are removed so that they log through the root (uvicorn's).
    """
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in propagate:
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
