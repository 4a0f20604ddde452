"""Structured logs: one JSON object a line when stderr is not a terminal, readable text otherwise.

Both processes log the same shape: ``{"ts": ISO 8601 UTC with milliseconds, "level", "logger",
"msg", ...extra fields, "exc"?}``.

No secret reaches a log line: :class:`RedactSecrets` (on the one handler) blanks the values of
query parameters such as ``token`` and ``password`` and bearer tokens in every message,
including uvicorn's (``"WebSocket /ws/alerts?token=…" [accepted]``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


SECRET_PARAMS = ("token", "access_token", "refresh_token", "password", "passwd", "secret", "api_key", "key")
_SECRET_QUERY = re.compile(r"(?i)([?&;](?:" + "|".join(SECRET_PARAMS) + r")=)[^&;\s\"'#]*")
_BEARER = re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=\-]+")
REDACTED = "***"


def redact(text: str) -> str:
    """``text`` with the values of secret query parameters and bearer tokens replaced by ***."""
    return _BEARER.sub(r"\1" + REDACTED, _SECRET_QUERY.sub(r"\1" + REDACTED, text))


class RedactSecrets(logging.Filter):
    """Rewrites each record's message (its arguments merged in) without secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the formatter to report
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


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
    handler.addFilter(RedactSecrets())
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
