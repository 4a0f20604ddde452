"""Fixtures of the center's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.centerkit import emptied


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_workdir: Path) -> str:
    """A new SQLite file of this test, or the session's PostgreSQL migrated and emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_workdir / 'center.db'}"
    return emptied(request.getfixturevalue("pg_url"))
