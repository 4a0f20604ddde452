"""Fixtures of the center's tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from center.store import db
from tests.centerkit import emptied


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file brought to the head revision once per run; each test starts from a copy
    (the center's own upgrade at start then finds nothing to do). tests/center/store/test_db.py
    checks the migrations themselves from an empty file."""
    path = tmp_path_factory.mktemp("template") / "center.db"
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        db.upgrade(engine)
    finally:
        engine.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_workdir: Path) -> str:
    """A new SQLite file of this test (migrated), or the session's PostgreSQL migrated and emptied."""
    if request.param == "sqlite":
        target = tmp_workdir / "center.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), target)
        return f"sqlite:///{target}"
    return emptied(request.getfixturevalue("pg_url"))
