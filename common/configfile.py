"""YAML config files validated by pydantic; every error is a line a user can act on.

Errors name the file and the field path, e.g.
``configs/edge.yaml: cameras[0].zones[0].points: need at least 3 points``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

#: at most this many validation errors are listed, one a line; the rest are counted
MAX_ERRORS_SHOWN = 5


class ConfigError(Exception):
    """A configuration problem a user can fix; its message names the file and the field."""


def format_location(loc: tuple[int | str, ...]) -> str:
    """``('cameras', 0, 'zones', 1, 'points')`` → ``cameras[0].zones[1].points``.

    Tags that pydantic adds for validators and discriminated unions are left out.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"function-after", "function-before", "function-wrap"} or "[" in str(part):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def format_validation_error(source: str, err: ValidationError) -> str:
    """One ``source: field.path: message`` line per error (at most MAX_ERRORS_SHOWN, then a count)."""
    errors = err.errors()
    lines = []
    for e in errors[:MAX_ERRORS_SHOWN]:
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{source}: {format_location(tuple(e['loc']))}: {msg}")
    rest = len(errors) - MAX_ERRORS_SHOWN
    if rest > 0:
        lines[-1] += f" (and {rest} more error{'s' if rest > 1 else ''})"
    return "\n".join(lines)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a missing, unreadable or malformed file raises ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None


def validate_mapping(model: type[M], data: Any, source: str) -> M:
    """Validate a top-level mapping against ``model``; raise ConfigError naming ``source``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of settings at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None


def resolve_path(base: Path, p: Path) -> Path:
    """``p`` with ``~`` expanded, relative to ``base`` unless absolute."""
    p = p.expanduser()
    return p if p.is_absolute() else (base / p).resolve()
