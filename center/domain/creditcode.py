"""统一社会信用代码 (unified social credit code), GB 32100-2015.

18 characters: registration authority (1), entity type (1), administrative division (6),
organisation code (9, GB 11714 with its own check character) and a check character over
the first 17, from the alphabet ``0-9 A-H J-N P-R T U W-Y`` (no I, O, S, V, Z).
"""

from __future__ import annotations

import re

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUES = {c: i for i, c in enumerate(ALPHABET)}
_WEIGHTS = [
    pow(3, i, 31) for i in range(17)
]  # 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28
_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUW-Y]{2}\d{6}[0-9A-HJ-NPQRTUW-Y]{10}$")
_ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]


def check_char(first17: str) -> str:
    """The 18th character of a code whose first 17 characters are given."""
    total = sum(_VALUES[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def org_check_char(first8: str) -> str:
    """The check character of a GB 11714 organisation code (digits and capital letters)."""

    def value(c: str) -> int:
        return int(c) if c.isdigit() else ord(c) - ord("A") + 10

    rest = 11 - sum(value(c) * w for c, w in zip(first8, _ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(rest, str(rest))


def problem(code: str) -> str | None:
    """Why ``code`` is not a valid 统一社会信用代码, or None when it is."""
    if len(code) != 18:
        return f"must be 18 characters, got {len(code)}"
    if code != code.upper():
        return "use capital letters"
    if not _SHAPE.match(code):
        return (
            "characters 3–8 are digits (the division code); the others are 0-9 or A-Y without I, O, S, V, Z"
        )
    expected = check_char(code[:17])
    if code[17] != expected:
        return f"check character is wrong (expected {expected} at the end)"
    return None


def is_valid(code: str) -> bool:
    return problem(code) is None


def make(authority: str, kind: str, division: str, org8: str) -> str:
    """A valid code from its parts (the organisation code's check character is computed)."""
    body = f"{authority}{kind}{division}{org8}{org_check_char(org8)}"
    return body + check_char(body)
