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
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from center.broker import bridge_config_text
from tests.centerkit import register_cameras_at
from tests.support.mosquitto import MosquittoBroker
from tests.support.netns import Wan
from tests.support.ports import free_port
from tests.support.procs import ManagedProcess
from tests.support.simnodes import camera_name, node_name

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]

Say = Callable[[str], None]


def wait_until(cond: Callable[[], bool], timeout: float, what: str, step: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def simnodes(workdir: Path, port: int, nodes: int, events: int, rate: float) -> ManagedProcess:
    args = {"port": port, "nodes": nodes, "events": events, "rate": rate}
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
        out["stored_after_settling"] = rows.present() - stored_settled  # 0 when the cut is real
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
