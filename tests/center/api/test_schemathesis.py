"""Property-based checks of the whole OpenAPI (schemathesis): no input makes the center answer
with a server error, and every status code it answers is documented in the OpenAPI. Bounded:
a few examples per operation, as an administrator on a seeded SQLite park (the same code runs
on PostgreSQL in the other tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, status_code_conformance

from center.app import create_app
from center.auth.security import new_token, token_hash
from center.config import CenterConfig
from center.seed import demo_password, seed
from center.store import db
from protocol import now_ms

# property-based fuzzing of every route: left out of the fast loop; its items (one per operation)
# share one node id, which pytest-xdist cannot tell apart, so it runs in the one-process pass
pytestmark = [pytest.mark.slow, pytest.mark.single_process]
WORKDIR = Path("/tmp") / f"parkguard-schemathesis-{now_ms()}"
WORKDIR.mkdir(parents=True, exist_ok=True)
CONFIG = CenterConfig.model_validate(
    {
        "site": "yijia",
        "database": {"url": f"sqlite:///{WORKDIR / 'center.db'}"},
        "evidence_dir": str(WORKDIR / "evidence"),
        "mqtt": {"client_id": "schemathesis"},
        "auth": {"login_max_failures": 1000},
    }
)


def _prepared_app() -> tuple[Any, str]:
    """The app on a migrated, seeded database, and an administrator's token (no lifespan needed)."""
    app = create_app(CONFIG, start_ingest=False)
    db.upgrade(app.state.engine)
    from sqlalchemy import select

    from center.store.models import AuthSession, User

    token = new_token()
    with app.state.session_factory.begin() as s:
        seed(s, CONFIG)
        admin = s.scalars(select(User).where(User.username == "admin")).one()
        s.add(
            AuthSession(
                token_hash=token_hash(token),
                user_id=admin.id,
                created_ms=now_ms(),
                expires_ms=now_ms() + 86_400_000,
            )
        )
    assert demo_password("admin")
    return app, token


APP, TOKEN = _prepared_app()
schema = (
    schemathesis.openapi.from_asgi("/api/openapi.json", APP)
    .exclude(path="/api/auth/logout")  # would end the session the run uses
    .exclude(path="/api/users/{user_id}")  # could disable the administrator it runs as
)


@pytest.mark.filterwarnings("ignore")
@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: Any) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"}, checks=[not_a_server_error, status_code_conformance]
    )
