"""Shared fixtures: real brokers, cameras and databases (logic lives in tests/support)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) leaves it out
    sys.path.insert(0, str(REPO_ROOT))

from tests.support.mosquitto import MosquittoBroker  # noqa: E402
from tests.support.postgres import PostgresUnavailable, provide_postgres, unavailable_action  # noqa: E402
from tests.support.rtsp import RtspCameraServer  # noqa: E402
from tests.support.sdnotify import NotifySocket, notify_socket_bound  # noqa: E402

SAMPLE_CLIP = REPO_ROOT / "samples" / "vtest-walkway.mp4"

# Tests that use these fixtures get the marker, so `-m "not e2e"` / `-m "not postgres"` work.
_FIXTURE_MARKERS = {
    "mosquitto": "e2e",
    "mosquitto_factory": "e2e",
    "mosquitto_session": "e2e",
    "rtsp_server": "e2e",
    "pg_url": "postgres",
}
_failed = pytest.StashKey[bool]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    e2e_dir = REPO_ROOT / "tests" / "e2e"
    for item in items:
        if e2e_dir in Path(item.path).parents:
            item.add_marker("e2e")
        for fixture in getattr(item, "fixturenames", ()):
            if marker := _FIXTURE_MARKERS.get(fixture):
                item.add_marker(marker)


def pytest_collection_finish(session: pytest.Session) -> None:
    """pytest-xdist tells tests apart by node id: of several items sharing one, a worker runs one
    and the rest are silently lost. Refuse to start instead (mark them single_process)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    seen: set[str] = set()
    shared = sorted({item.nodeid for item in session.items if item.nodeid in seen or seen.add(item.nodeid)})
    if shared:
        message = (
            f"{len(shared)} node id(s) name several tests, which pytest-xdist would run only once: "
            f"{', '.join(shared[:5])}; mark them single_process or run with -n 0"
        )
        os.write(2, f"\n{message}\n".encode())  # the controller shows only its own error
        raise pytest.UsageError(message)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.failed:
        item.stash[_failed] = True
    return report


def _show_logs_if_failed(request: pytest.FixtureRequest, paths: list[Path]) -> None:
    """On a failed test, print the tails of its processes' logs (shown in the report)."""
    if not request.node.stash.get(_failed, False):
        return
    for path in paths:
        if path.exists():
            tail = "\n".join(path.read_text(errors="replace").splitlines()[-30:])
            print(f"\n----- {path} (last 30 lines) -----\n{tail}")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def sample_clip() -> Path:
    if not SAMPLE_CLIP.is_file():
        pytest.fail(f"sample footage missing: {SAMPLE_CLIP} (it is part of the repository)")
    return SAMPLE_CLIP


@pytest.fixture
def tmp_workdir(tmp_path: Path) -> Path:
    """An empty directory for this test's files (outboxes, databases, configs); not the cwd."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    return workdir


@pytest.fixture
def mosquitto_factory(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., MosquittoBroker]]:
    """``mosquitto_factory(users={"edge": "pw"}, acl="...", ...)``: started private brokers."""
    brokers: list[MosquittoBroker] = []

    def make(**options: object) -> MosquittoBroker:
        broker = MosquittoBroker(tmp_path / f"mosquitto-{len(brokers)}", **options)  # type: ignore[arg-type]
        brokers.append(broker)
        return broker.start()

    yield make
    _show_logs_if_failed(request, [b.log_path for b in brokers])
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    """A private anonymous broker for this test (``.host``, ``.port``, ``.url``, stop/start)."""
    return mosquitto_factory()


@pytest.fixture(scope="session")
def mosquitto_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    """One private anonymous broker shared by the session; do not stop it in a test."""
    broker = MosquittoBroker(tmp_path_factory.mktemp("mosquitto-session")).start()
    yield broker
    broker.stop()


@pytest.fixture
def rtsp_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., RtspCameraServer]]:
    """``rtsp_server({"cam1": clip, "cam2": clip}, loop=True)``: a started camera server.

    ``.urls["cam1"]`` is ``rtsp://127.0.0.1:PORT/cam1``; ``stop()``/``start()`` keep the port.
    """
    servers: list[RtspCameraServer] = []

    def make(mounts: Mapping[str, str | Path], **options: object) -> RtspCameraServer:
        workdir = tmp_path / f"rtsp-{len(servers)}"
        server = RtspCameraServer(mounts, workdir, **options)  # type: ignore[arg-type]
        servers.append(server)
        return server.start()

    yield make
    _show_logs_if_failed(request, [s.log_path for s in servers])
    for server in servers:
        server.stop()


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    """A unix datagram socket standing in for systemd's $NOTIFY_SOCKET; every message it got."""
    with notify_socket_bound() as sock:
        yield sock


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL of a PostgreSQL database for the session (see tests/support/postgres.py)."""
    with contextlib.ExitStack() as stack:
        try:
            handle = stack.enter_context(provide_postgres())
        except PostgresUnavailable as exc:
            if unavailable_action() == "skip":
                pytest.skip(str(exc))
            pytest.fail(str(exc), pytrace=False)
        yield handle.url
