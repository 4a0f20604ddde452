"""Center replicas with real processes: three ``parkguard-center serve`` on one PostgreSQL, one
Mosquitto, 20 simulated nodes through the real publisher and outbox (tests/support/simnodes.py).

- the replicas split the ingest through the MQTT 5 shared subscription ``$share/centers/…``;
- each event is recorded exactly once, whole (phase ``end``, seq 2, snapshot and clip: the three
  messages of one event are stored by different replicas, in any order);
- every surviving replica's WebSocket clients see every event of their scope (an operator: all;
  an enterprise officer: exactly its enterprise's), through PostgreSQL LISTEN/NOTIFY;
- one replica is killed with SIGKILL midway: the two others carry on (their feeds keep
  filling), and nothing is lost. Mosquitto 2.0 keeps handing the dead replica's persistent
  session its share of the group (queued for it, not lost), so the replica is started again
  with the same client id, as systemd or compose would, and stores what waited for it.

3,000 events (9,000 messages) here, paced at 250 events/s, to keep CI short (about a minute);
``bench/center_replicas.py`` runs the same with 50,000 and prints the figures.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from websockets.sync.client import connect as ws_connect

from center.store import db
from center.store.models import Alert, Quarantine
from tests.centerkit import PASSWORD, add_user, emptied, register_cameras
from tests.support.ports import free_port
from tests.support.procs import ManagedProcess
from tests.support.simnodes import camera_name, node_name

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
NODES = 20
EVENTS = 3000
RATE = 250
ENT_A, ENT_B = "ent-a", "ent-b"


def enterprise_of(i: int) -> str:
    return ENT_A if i % 2 == 0 else ENT_B


class Replica:
    def __init__(self, n: int, workdir: Path, db_url: str, mqtt_port: int, evidence: Path) -> None:
        self.n = n
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = workdir / f"center-{n}.yaml"
        cfg.write_text(
            f"""site: yijia
database: {{url: "{db_url}"}}
mqtt: {{host: 127.0.0.1, port: {mqtt_port}, client_id: center-{n}, shared_group: centers, protocol: "5"}}
http: {{host: 127.0.0.1, port: {self.port}}}
evidence_dir: {evidence}
""",
            encoding="utf-8",
        )
        self.proc = ManagedProcess(
            [BIN / "parkguard-center", "serve", "--config", cfg],
            name=f"center-{n}",
            log_dir=workdir,
            ready_url=f"{self.url}/api/ready",
            ready_timeout=90,
        )

    def token(self, username: str) -> str:
        resp = httpx.post(f"{self.url}/api/auth/login", json={"username": username, "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        return str(resp.json()["token"])


class FeedClient:
    """A WebSocket client of one replica's live feed, in a thread: the event ids it saw."""

    def __init__(self, replica: Replica, username: str) -> None:
        self.name = f"center-{replica.n}/{username}"
        self.seen: set[str] = set()
        self.enterprises: set[str | None] = set()
        self.closed = False
        self._ws = ws_connect(f"ws://127.0.0.1:{replica.port}/ws/alerts?token={replica.token(username)}")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for raw in self._ws:
                msg = json.loads(raw)
                if msg.get("type") == "alert":
                    self.seen.add(msg["alert"]["event_id"])
                    self.enterprises.add(msg["alert"]["enterprise"])
        except Exception:  # the replica died: the socket is gone
            pass
        self.closed = True

    def close(self) -> None:
        self._ws.close()


def wait_until(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_three_replicas_split_the_ingest_and_survive_a_sigkill(
    tmp_workdir: Path, pg_url: str, mosquitto_factory: Any
) -> None:
    url = emptied(pg_url)
    engine = db.make_engine(url)
    factory = db.make_session_factory(engine)
    register_cameras(factory, {camera_name(i): (node_name(i), enterprise_of(i)) for i in range(NODES)})
    add_user(factory, "op", "operator")
    add_user(factory, "officer-a", "enterprise", enterprise_id=ENT_A)
    broker = mosquitto_factory(extra_config="max_queued_messages 200000")  # started, stopped by the fixture
    evidence = tmp_workdir / "evidence"  # one folder every replica reaches (an NFS mount on a site)
    replicas = [Replica(n, tmp_workdir, url, broker.port, evidence) for n in (1, 2, 3)]
    sim: ManagedProcess | None = None
    clients: list[FeedClient] = []
    try:
        for r in replicas:
            r.proc.start()
        clients = [FeedClient(r, user) for r in replicas for user in ("op", "officer-a")]
        sent_path = tmp_workdir / "sent.json"
        args = {"port": broker.port, "nodes": NODES, "events": EVENTS, "rate": RATE}
        sim = ManagedProcess(
            [sys.executable, "-m", "tests.support.simnodes", *(f"--{k}={v}" for k, v in args.items()),
             "--state", tmp_workdir / "nodes", "--out", sent_path],
            name="simnodes", log_dir=tmp_workdir, cwd=REPO, ready_line="sent ",
        )  # fmt: skip
        sim.start()
        sim.wait_for_line(f"sent {EVENTS // 2}/", timeout=60)
        victim = replicas[2]
        victim.proc.kill9()  # midway, with messages in flight to it
        wait_until(lambda: all(c.closed for c in clients[4:]), 10, "the dead replica's sockets to close")
        assert sim.wait(timeout=120) == 0, "the nodes could not hand every message to the broker"
        sent: dict[str, str] = json.loads(sent_path.read_text())["events"]
        assert len(sent) == EVENTS

        def stored() -> int:
            """Events stored whole: their end and both pieces of evidence (from the new and the end)."""
            with factory() as s:
                rows = s.execute(select(Alert.seq, Alert.evidence).where(Alert.seq == 2))
                return sum(1 for _seq, evidence in rows if len(evidence) == 2)

        def present() -> int:
            with factory() as s:
                return s.scalar(select(func.count()).select_from(Alert)) or 0

        # the survivors carried on: nearly every event has a row (all three of an event's messages
        # handed to the dead replica's session: about 1 in 27 of those sent after the kill)
        wait_until(lambda: present() >= EVENTS * 0.9, 60, "the survivors to store their share")
        parked = EVENTS - stored()
        with factory() as s:
            late = set(sent) - set(s.scalars(select(Alert.event_id)))
        victim.proc.start()  # restarted with its client id: the broker hands it what waited for it
        try:
            wait_until(lambda: stored() == EVENTS, 90, "every event whole")
        except AssertionError:
            with factory() as s:
                shape = Counter((a.seq, len(a.evidence)) for a in s.scalars(select(Alert)))
                why = Counter(q.reason[:120] for q in s.scalars(select(Quarantine)))
            raise AssertionError(f"(seq, evidence) of the rows: {shape}; quarantined: {why}") from None

        with factory() as s:
            rows = {a.event_id: a for a in s.scalars(select(Alert))}
            quarantined = s.scalar(select(func.count()).select_from(Quarantine))
        assert set(rows) == set(sent) and quarantined == 0
        for eid, row in rows.items():
            assert (row.phase, row.seq, row.count, row.camera) == ("end", 2, 3, sent[eid]), eid
            assert sorted(e["kind"] for e in row.evidence) == ["clip", "snapshot"], eid

        # every survivor's clients saw every event of their scope, and nothing outside it
        want_a = {eid for eid, cam in sent.items() if int(cam[-2:]) % 2 == 0}
        for c in clients[:4]:
            want = set(sent) if c.name.endswith("/op") else want_a
            try:
                wait_until(lambda c=c, want=want: want <= c.seen, 30, f"{c.name} to see every event")  # type: ignore[misc]
            except AssertionError:
                missing = want - c.seen
                raise AssertionError(
                    f"{c.name} missed {len(missing)} of {len(want)} events ({len(missing & late)} of them "
                    f"stored only after the restart); saw {len(c.seen)}"
                ) from None
            assert c.seen == want, f"{c.name}: {len(c.seen - want)} outside its scope"
        assert {e for c in clients[:4] if not c.name.endswith("/op") for e in c.enterprises} == {ENT_A}
        assert any(c.seen for c in clients[4:]), "the victim's clients saw nothing before it died"
        assert parked > 0, "nothing waited for the killed replica: the group did not split the stream"
        print(f"events {EVENTS}, waited in the killed replica's session: {parked}")
    finally:
        for c in clients:
            c.close()
        if sim is not None:
            sim.stop()
        for r in replicas:
            r.proc.stop()
        engine.dispose()
