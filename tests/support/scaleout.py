"""Scale-out scenarios with real processes, shared by the tests (small counts) and bench/ (large).

:func:`run_bridge`: a site Mosquitto (config from ``parkguard-center bridge-config``) bridged to a
central Mosquitto in another network namespace, the center (``parkguard-center serve``, SQLite)
beside the central broker, simulated nodes (the real publisher and outbox) on the site broker;
the WAN link cut for real (:class:`tests.support.netns.Wan`) while the nodes publish, then
restored: every event must arrive whole, once. Without namespaces (not root, no iproute2) the
link is "cut" by stopping the central broker instead, and the result says so.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from websockets.sync.client import connect as ws_connect

from center.broker import bridge_config_text
from center.store import db
from center.store.models import Alert, Quarantine
from tests.centerkit import PASSWORD, add_user, register_cameras, register_cameras_at
from tests.support.mosquitto import MosquittoBroker
from tests.support.netns import Wan
from tests.support.ports import free_port
from tests.support.procs import ManagedProcess
from tests.support.simnodes import camera_name, node_name

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]

Say = Callable[[str], None]
ENT_A, ENT_B = "ent-a", "ent-b"


def wait_until(cond: Callable[[], bool], timeout: float, what: str, step: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def simnodes(
    workdir: Path, port: int, nodes: int, events: int, rate: float, protocol: str = "5"
) -> ManagedProcess:
    args = {"port": port, "nodes": nodes, "events": events, "rate": rate, "protocol": protocol}
    return ManagedProcess(
        [sys.executable, "-m", "tests.support.simnodes", *(f"--{k}={v}" for k, v in args.items()),
         "--state", workdir / "nodes", "--out", workdir / "sent.json"],
        name="simnodes", log_dir=workdir, cwd=REPO, ready_line="sent ", ready_timeout=60,
    )  # fmt: skip


def sent_events(workdir: Path) -> dict[str, str]:
    return dict(json.loads((workdir / "sent.json").read_text())["events"])


def last_sent(sim: ManagedProcess) -> int:
    """How many events the nodes had handed to their outboxes at the last progress line."""
    for line in reversed(sim.lines()):
        if line.startswith("sent "):
            return int(line.split()[1].split("/")[0])
    return 0


class SqliteRows:
    """Read the center's SQLite file from outside its process (WAL: readers do not block it)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def whole(self) -> int:
        """Events stored with their end and both pieces of evidence."""
        with sqlite3.connect(self.path, timeout=10) as db:
            rows = db.execute("select evidence from alerts where seq = 2").fetchall()
        return sum(1 for (ev,) in rows if len(json.loads(ev)) == 2)

    def present(self) -> int:
        with sqlite3.connect(self.path, timeout=10) as db:
            return int(db.execute("select count(*) from alerts").fetchone()[0])

    def check(self, sent: dict[str, str]) -> None:
        with sqlite3.connect(self.path, timeout=10) as db:
            rows = db.execute("select event_id, seq, phase, camera, evidence from alerts").fetchall()
            quarantined = db.execute("select count(*) from quarantine").fetchone()[0]
        got = {r[0]: r for r in rows}
        assert len(rows) == len(got) == len(sent), f"{len(rows)} rows for {len(sent)} events"
        assert set(got) == set(sent) and quarantined == 0, f"quarantined {quarantined}"
        for eid, (_e, seq, phase, camera, ev) in got.items():
            assert (seq, phase, camera, len(json.loads(ev))) == (2, "end", sent[eid], 2), eid


def run_bridge(
    workdir: Path, *, nodes: int, events: int, rate: float, cut_s: float, say: Say = print
) -> dict[str, Any]:
    """The bridged site with the WAN cut ``cut_s`` seconds while the nodes publish; figures back."""
    why_not = Wan.available()
    wan = Wan().up() if why_not is None else None
    central_host = wan.remote_ip if wan is not None else "127.0.0.1"
    central = MosquittoBroker(
        workdir / "central", extra_config="max_queued_messages 1000000\nmax_queued_bytes 0"
    )
    if wan is not None:  # the central broker listens inside the namespace, on its side of the pair
        central.host = central_host
        central._write_files()
        central.process.argv = [*wan.exec_prefix, *central.process.argv]
    site_port = free_port()
    site_conf = bridge_config_text(
        "yijia", f"{central_host}:{central.port}", listen_host="127.0.0.1", listen_port=site_port,
        persistence_dir=f"{workdir / 'site' / 'data'}/", keepalive_s=5,
    )  # fmt: skip
    site = MosquittoBroker(workdir / "site", port=site_port)
    # the generated config as a park would run it, plus what a test broker needs (logs on stderr
    # for the readiness line; as root, stay root: see tests/support/mosquitto.py)
    test_lines = [
        "log_dest stderr",
        "log_type all",
        "connection_messages true",
        "user root",
        "allow_anonymous true",
    ]
    site.config_path.write_text(site_conf + "\n".join(test_lines) + "\n", encoding="utf-8")
    db_path = workdir / "center.db"
    register_cameras_at(
        f"sqlite:///{db_path}", {camera_name(i): (node_name(i), "ent-a") for i in range(nodes)}
    )
    http_port = free_port()
    cfg = workdir / "center.yaml"
    cfg.write_text(
        f"""site: yijia
database: {{url: "sqlite:///{db_path}"}}
mqtt: {{host: {central_host}, port: {central.port}, client_id: center-central}}
http: {{host: {central_host}, port: {http_port}}}
""",
        encoding="utf-8",
    )
    center = ManagedProcess(
        [*(wan.exec_prefix if wan is not None else []), BIN / "parkguard-center", "serve", "--config", cfg],
        name="center", log_dir=workdir, ready_line="connected to MQTT broker", ready_stream="any",
        ready_timeout=90,
    )  # fmt: skip
    rows = SqliteRows(db_path)
    sim = simnodes(workdir, site_port, nodes, events, rate)
    out: dict[str, Any] = {
        "cut": "veth link down" if wan is not None else f"central broker stopped ({why_not})"
    }
    try:
        central.start()
        center.start()
        site.start()
        site.process.wait_for_line(r"Connecting bridge", timeout=30)
        sim.start()
        wait_until(lambda: rows.present() > 0, 60, "the first events across the bridge")
        if wan is not None:
            wan.cut()
        else:
            central.stop()
        cut_at, sent_at_cut, stored_at_cut = time.monotonic(), last_sent(sim), rows.present()
        say(f"link cut after {sent_at_cut} events sent, {stored_at_cut} stored")
        settle = min(5.0, cut_s / 2)  # what crossed before the cut is still being stored
        time.sleep(settle)
        stored_settled = rows.present()
        time.sleep(cut_s - settle)
        sent_in_cut = last_sent(sim) - sent_at_cut
        stored_in_cut = rows.present() - stored_at_cut
        out["stored_after_settling"] = rows.present() - stored_settled  # 0 unless the center lags
        out["sent_before_cut"], out["stored_by_end_of_cut"] = sent_at_cut, rows.present()
        held = time.monotonic() - cut_at
        say(f"cut for {held:.0f} s: {sent_in_cut} events sent meanwhile, {stored_in_cut} stored")
        if wan is not None:
            wan.restore()
        else:
            central.start()
        restored = time.monotonic()
        assert sim.wait(timeout=900) == 0, "the nodes could not hand every message to the site broker"
        sent = sent_events(workdir)
        wait_until(lambda: rows.whole() == len(sent), 900, "every event across the bridge", step=1.0)
        caught_up_s = time.monotonic() - restored
        rows.check(sent)
        out.update(
            events=len(sent), messages=3 * len(sent), cut_s=cut_s, sent_during_cut=sent_in_cut,
            stored_during_cut=stored_in_cut, backlog_messages=3 * sent_in_cut,
            caught_up_s=round(caught_up_s, 1),
        )  # fmt: skip
        say(f"all {len(sent)} events stored whole, once, {caught_up_s:.1f} s after the link came back")
        return out
    finally:
        sim.stop()
        center.stop()
        site.stop()
        central.stop()
        if wan is not None:
            wan.close()


def enterprise_of(i: int) -> str:
    return ENT_A if i % 2 == 0 else ENT_B


class Replica:
    def __init__(
        self, n: int, workdir: Path, db_url: str, mqtt_port: int, evidence: Path, nats_port: int | None = None
    ) -> None:
        self.n = n
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = workdir / f"center-{n}.yaml"
        if nats_port is None:  # MQTT: the replicas split a shared subscription
            mqtt_section = (
                f"mqtt: {{host: 127.0.0.1, port: {mqtt_port}, client_id: center-{n}, shared_group: centers, "
                'protocol: "5"}'
            )
        else:  # JetStream: one durable consumer; MQTT (the NATS gateway, 3.1.1) for node status only
            mqtt_section = (
                f'mqtt: {{host: 127.0.0.1, port: {mqtt_port}, client_id: center-{n}, protocol: "3.1.1"}}\n'
                f"jetstream: {{url: 'nats://127.0.0.1:{nats_port}', ack_wait_s: 5}}"
            )
        cfg.write_text(
            f"""site: yijia
database: {{url: "{db_url}"}}
{mqtt_section}
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


def run_replicas(
    workdir: Path,
    db_url: str,
    broker_port: int,
    *,
    nodes: int,
    events: int,
    rate: float,
    kill: bool,
    nats_port: int | None = None,
    say: Say = print,
) -> dict[str, Any]:
    """Three replicas on ``db_url`` (migrated, empty) and the broker at ``broker_port``; the third
    SIGKILLed midway and started again when ``kill``. Asserts every event stored whole, once, and
    every (surviving) feed client's view; returns figures. ``nats_port``: the replicas take the
    events from NATS JetStream (``broker_port`` is then NATS's MQTT gateway) and the killed one
    is not started again: its unacked batch goes to the others after ``ack_wait``."""
    url = db_url
    engine = db.make_engine(url)
    factory = db.make_session_factory(engine)
    register_cameras(factory, {camera_name(i): (node_name(i), enterprise_of(i)) for i in range(nodes)})
    add_user(factory, "op", "operator")
    add_user(factory, "officer-a", "enterprise", enterprise_id=ENT_A)
    evidence = workdir / "evidence"  # one folder every replica reaches (an NFS mount on a site)
    replicas = [Replica(n, workdir, url, broker_port, evidence, nats_port) for n in (1, 2, 3)]
    sim: ManagedProcess | None = None
    out: dict[str, Any] = {}
    clients: list[FeedClient] = []
    try:
        for r in replicas:
            r.proc.start()
        if nats_port is not None:  # the stream exists before the nodes publish
            for r in replicas:
                r.proc.wait_for_line("JetStream ingest: consuming", timeout=60)
        clients = [FeedClient(r, user) for r in replicas for user in ("op", "officer-a")]
        sim = simnodes(workdir, broker_port, nodes, events, rate, "5" if nats_port is None else "3.1.1")
        started = time.monotonic()
        sim.start()
        victim = replicas[2]
        if kill:
            sim.wait_for_line(f"sent {events // 2}/", timeout=600)
            victim.proc.kill9()  # midway, with messages in flight to it
            wait_until(lambda: all(c.closed for c in clients[4:]), 10, "the dead replica's sockets to close")
        assert sim.wait(timeout=1800) == 0, "the nodes could not hand every message to the broker"
        out["produced_s"] = round(time.monotonic() - started, 1)
        sent = sent_events(workdir)
        assert len(sent) == events

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
        parked, late = 0, set()
        if kill and nats_port is None:
            wait_until(lambda: present() >= events * 0.9, 600, "the survivors to store their share")
            parked = events - stored()
            with factory() as s:
                late = set(sent) - set(s.scalars(select(Alert.event_id)))
            say(f"survivors stored their share; {parked} events wait (in part) for the killed replica")
            victim.proc.start()  # restarted with its client id: the broker hands it what waited for it
        elif kill:
            say("the killed replica stays down: JetStream hands its unacked batch to the others")
        try:
            wait_until(lambda: stored() == events, 90 + events / 100, "every event whole", step=1.0)
            out["stored_s"] = round(time.monotonic() - started, 1)
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
        for c in clients[:4] if kill else clients:
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
        if kill:
            assert any(c.seen for c in clients[4:]), "the victim's clients saw nothing before it died"
            assert parked > 0 or nats_port is not None, "nothing waited for the killed replica: no split"
        out.update(events=events, messages=3 * events, parked=parked, feed_clients=len(clients))
        return out
    finally:
        for c in clients:
            c.close()
        if sim is not None:
            sim.stop()
        for r in replicas:
            r.proc.stop()
        engine.dispose()
