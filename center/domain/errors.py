"""Domain errors, mapped to HTTP answers by the app (404, 409, 422) and to messages by the CLI."""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none), for one-line logs."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class DomainError(Exception):
    status_code = 400


class NotFound(DomainError):
    status_code = 404


class StateConflict(DomainError):
    """An illegal state change (e.g. closing a hazard that was never rectified); str() is the reason."""

    status_code = 409


class Invalid(DomainError):
    """Input that passed the schema but not the data (an unknown evidence file, a camera of
    another enterprise); ``loc`` names the field as FastAPI's 422 answers do."""

    status_code = 422

    def __init__(self, loc: tuple[str | int, ...], msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg
