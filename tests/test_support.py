"""The test infrastructure itself, against real processes: brokers, cameras, PostgreSQL."""

from __future__ import annotations

import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa

from tests.support.mosquitto import MosquittoBroker
from tests.support.ports import free_port
from tests.support.postgres import PostgresUnavailable, PrivatePostgres, unavailable_action
from tests.support.procs import ManagedProcess, ProcessDied, ReadyTimeout
from tests.support.rtsp import RtspCameraServer, read_frames
from tests.support.tools import MissingTool, postgres_bindir, require_binary

PY = sys.executable


def _alive(pid: int) -> bool:
    """True for a running process (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


# -- ports, processes, tools -------------------------------------------------------------------


def test_free_port_is_distinct_and_bindable() -> None:
    ports = {free_port() for _ in range(20)}
    assert len(ports) == 20
    for port in list(ports)[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_process_ready_line_and_stop_kills_its_children(tmp_path: Path) -> None:
    code = (
        "import subprocess, time\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        "print(f'READY child={child.pid}', flush=True)\n"
        "time.sleep(300)\n"
    )
    proc = ManagedProcess([PY, "-c", code], name="parent", log_dir=tmp_path, ready_line=r"READY child=(\d+)")
    with proc:
        assert proc.ready_match is not None
        child = int(proc.ready_match.group(1))
        assert _alive(child)
    assert not proc.is_running()
    _wait_until(lambda: not _alive(child), 5, "the grandchild to die with its group")
    assert "READY child=" in proc.log_path.read_text()


def test_process_that_dies_reports_its_log(tmp_path: Path) -> None:
    code = "import sys; print('config error: no such camera cam9', file=sys.stderr); sys.exit(3)"
    proc = ManagedProcess([PY, "-c", code], name="dies", log_dir=tmp_path, ready_line="never")
    with pytest.raises(ProcessDied) as info:
        proc.start()
    message = str(info.value)
    assert "status 3" in message and "no such camera cam9" in message


def test_process_ready_timeout_kills_it(tmp_path: Path) -> None:
    proc = ManagedProcess(
        [PY, "-c", "import time; print('starting'); time.sleep(60)"],
        name="slow",
        log_dir=tmp_path,
        ready_line="never printed",
        ready_timeout=0.5,
    )
    with pytest.raises(ReadyTimeout, match="starting"):
        proc.start()
    assert not proc.is_running()


def test_process_ready_url_port_restart_and_kill9(tmp_path: Path) -> None:
    port = free_port()
    proc = ManagedProcess(
        [PY, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        name="http",
        log_dir=tmp_path,
        ready_port=port,
        ready_url=f"http://127.0.0.1:{port}/",
    )
    proc.start()
    first_pid = proc.pid
    mark = proc.line_count()
    proc.restart()
    assert proc.pid != first_pid and proc.starts == 2
    assert proc.kill9() == -signal.SIGKILL
    assert not proc.is_running()
    assert mark >= 0 and "=== start #2" in proc.log_path.read_text()


def test_wait_for_line_after_a_mark(tmp_path: Path) -> None:
    code = (
        "import time\n"
        "for i in range(3):\n"
        "    print(f'tick {i}', flush=True)\n"
        "    time.sleep(0.2)\n"
        "time.sleep(30)\n"
    )
    with ManagedProcess([PY, "-c", code], name="ticker", log_dir=tmp_path, ready_line="tick 0") as proc:
        mark = proc.line_count()
        assert proc.wait_for_line(r"tick (\d)", since=mark, timeout=5).group(1) in ("1", "2")
        with pytest.raises(ReadyTimeout):
            proc.wait_for_line("tick 9", timeout=0.3)


def test_require_binary_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    assert os.path.isabs(require_binary("mosquitto"))  # in /usr/sbin, found without it on PATH
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingTool, match="Debian package: mosquitto-clients"):
        require_binary("mosquitto_pub")


# -- MQTT --------------------------------------------------------------------------------------


class MqttProbe:
    """A paho-mqtt 2 client on its own network thread, recording what happens."""

    def __init__(
        self, broker: MosquittoBroker, client_id: str = "", *, clean: bool = True, **auth: str
    ) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean, protocol=mqtt.MQTTv311
        )
        if auth:
            self.client.username_pw_set(auth["username"], auth.get("password"))
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.subscriptions: list[str] = []
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connects: list[mqtt.ReasonCode] = []
        self.disconnected = threading.Event()
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self.broker = broker

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object
    ) -> None:
        self.connects.append(reason)
        if reason.is_failure:
            return
        for topic in self.subscriptions:
            client.subscribe(topic, qos=1)
        self.disconnected.clear()
        self.connected.set()

    def _on_disconnect(
        self, _c: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object
    ) -> None:
        self.connected.clear()
        self.disconnected.set()

    def start(self, *subscriptions: str) -> MqttProbe:
        self.subscriptions = list(subscriptions)
        self.client.connect(self.broker.host, self.broker.port, keepalive=5)
        self.client.loop_start()
        return self

    def wait_connected(self, timeout: float = 10) -> None:
        assert self.connected.wait(timeout), f"no CONNACK success; got {self.connects}"
        time.sleep(0.2)  # let the SUBACK arrive before anything is published

    def publish(self, topic: str, payload: bytes, **kw: object) -> None:
        info = self.client.publish(topic, payload, qos=1, **kw)  # type: ignore[arg-type]
        info.wait_for_publish(timeout=10)
        assert info.is_published()

    def get(self, timeout: float = 10) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def probes() -> Iterator[Callable[..., MqttProbe]]:
    made: list[MqttProbe] = []

    def make(broker: MosquittoBroker, client_id: str = "", **kw: object) -> MqttProbe:
        made.append(MqttProbe(broker, client_id, **kw))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for probe in made:
        probe.close()


def test_mosquitto_qos1_survives_a_restart_on_the_same_port(
    mosquitto: MosquittoBroker, probes: Callable[..., MqttProbe]
) -> None:
    assert mosquitto.url == f"mqtt://127.0.0.1:{mosquitto.port}"
    sub = probes(mosquitto).start("parkguard/test/#")
    pub = probes(mosquitto).start()
    sub.wait_connected()
    pub.wait_connected()
    pub.publish("parkguard/test/a", b"before")
    msg = sub.get()
    assert (msg.topic, msg.payload, msg.qos) == ("parkguard/test/a", b"before", 1)

    port = mosquitto.port
    mosquitto.stop()
    assert sub.disconnected.wait(10) and pub.disconnected.wait(10)
    mosquitto.start()
    assert mosquitto.port == port
    sub.wait_connected(15)
    pub.wait_connected(15)
    pub.publish("parkguard/test/b", b"after")
    assert sub.get().payload == b"after"


def test_mosquitto_keeps_queued_qos1_messages_across_a_restart(
    mosquitto: MosquittoBroker, probes: Callable[..., MqttProbe]
) -> None:
    # A persistent session (clean_session=False) that is offline: the broker queues QoS 1
    # messages for it, saves them on a graceful stop and delivers them after the restart.
    sub = probes(mosquitto, "center-1", clean=False).start("parkguard/queued")
    sub.wait_connected()
    sub.close()
    pub = probes(mosquitto).start()
    pub.wait_connected()
    pub.publish("parkguard/queued", b"while-away")
    pub.close()
    mosquitto.restart()
    again = probes(mosquitto, "center-1", clean=False).start()
    again.wait_connected()
    assert again.get().payload == b"while-away"


def test_mosquitto_with_passwords_and_acl(
    mosquitto_factory: Callable[..., MosquittoBroker], probes: Callable[..., MqttProbe]
) -> None:
    broker = mosquitto_factory(
        users={"edge": "edge-pw", "viewer": "viewer-pw"},
        acl="user edge\ntopic readwrite parkguard/#\n\nuser viewer\ntopic read parkguard/public/#\n",
    )
    for auth in ({}, {"username": "edge", "password": "wrong"}):
        probe = probes(broker, **auth).start()
        _wait_until(lambda p=probe: bool(p.connects), 10, "a CONNACK")
        assert probe.connects[0].is_failure, f"{auth or 'anonymous'} was let in"
        probe.close()
    viewer = probes(broker, username="viewer", password="viewer-pw").start("#")
    edge = probes(broker, username="edge", password="edge-pw").start()
    viewer.wait_connected()
    edge.wait_connected()
    edge.publish("parkguard/private/x", b"secret")
    edge.publish("parkguard/public/x", b"open")
    assert viewer.get().payload == b"open"
    assert viewer.messages.empty()


def test_mosquitto_session_broker(
    mosquitto_session: MosquittoBroker, probes: Callable[..., MqttProbe]
) -> None:
    probe = probes(mosquitto_session).start("parkguard/session")
    probe.wait_connected()
    probe.publish("parkguard/session", b"hello")
    assert probe.get().payload == b"hello"


# -- RTSP --------------------------------------------------------------------------------------


def test_rtsp_two_cameras_decode_768x576(
    rtsp_server: Callable[..., RtspCameraServer], sample_clip: Path
) -> None:
    cams = rtsp_server({"cam1": sample_clip, "cam2": sample_clip})
    assert set(cams.urls) == {"cam1", "cam2"}
    for name, url in cams.urls.items():
        assert url == f"rtsp://127.0.0.1:{cams.port}/{name}"
        sample = read_frames(url, frames=5)
        print(f"{name}: open {sample.open_s:.2f} s, first frame {sample.first_frame_s:.2f} s")
        assert sample.sizes == {(768, 576)}
        # A key frame comes every 2 s; joining just after one costs ~2.5 s in all.
        assert sample.first_frame_s < 6.0


def test_rtsp_restart_on_the_same_port(
    rtsp_server: Callable[..., RtspCameraServer], sample_clip: Path
) -> None:
    cams = rtsp_server({"cam1": sample_clip})
    url = cams.urls["cam1"]
    assert read_frames(url, frames=2).frames == 2
    cams.stop()
    with pytest.raises(OSError):  # av.error.ConnectionRefusedError is an OSError
        read_frames(url)
    cams.start()
    assert cams.urls["cam1"] == url
    sample = read_frames(url, frames=3)
    assert sample.frames == 3 and sample.sizes == {(768, 576)}


def test_rtsp_stream_keeps_coming(rtsp_server: Callable[..., RtspCameraServer], sample_clip: Path) -> None:
    cams = rtsp_server({"cam1": sample_clip})
    sample = read_frames(cams.urls["cam1"], duration=21.0)
    print(
        f"{sample.frames} frames, {sample.elapsed_s:.1f} s, {sample.fps:.2f} fps, gap {sample.max_gap_s:.2f}"
    )
    assert sample.elapsed_s >= 21.0
    assert 9.0 <= sample.fps <= 11.0
    assert sample.max_gap_s < 1.0


def test_rtsp_camera_sigterm_stops_its_ffmpeg(
    rtsp_server: Callable[..., RtspCameraServer], sample_clip: Path
) -> None:
    cams = rtsp_server({"cam1": sample_clip, "cam2": sample_clip})
    assert cams.process.pid is not None
    feeders = _children(cams.process.pid)
    assert len(feeders) == 2 and all(_alive(pid) for pid in feeders)
    cams.process.signal(signal.SIGTERM)  # the server alone, not its process group
    assert cams.process.wait(10) == 0
    _wait_until(lambda: not any(_alive(pid) for pid in feeders), 5, "ffmpeg feeders to exit")


def test_rtsp_camera_exits_when_its_ffmpeg_dies(
    rtsp_server: Callable[..., RtspCameraServer], sample_clip: Path
) -> None:
    cams = rtsp_server({"cam1": sample_clip})
    assert cams.process.pid is not None
    (feeder,) = _children(cams.process.pid)
    os.kill(feeder, signal.SIGKILL)
    assert cams.process.wait(10) == 1
    assert "exited with status" in cams.log_path.read_text()


# -- PostgreSQL --------------------------------------------------------------------------------


def test_postgres_url_answers(pg_url: str) -> None:
    assert pg_url.startswith("postgresql+psycopg://")
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("select 1")).scalar_one() == 1
            conn.execute(sa.text("create table if not exists support_probe (id int primary key)"))
            conn.execute(sa.text("insert into support_probe values (1) on conflict do nothing"))
            assert conn.execute(sa.text("select count(*) from support_probe")).scalar_one() == 1
            # the session's database is shared with the center's tests, which compare its tables
            # with the models: leave nothing behind
            conn.execute(sa.text("drop table support_probe"))
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_private_postgres_instance() -> None:
    """The fallback of a fresh machine: a throwaway server from the installed binaries."""
    bindir = postgres_bindir()
    if bindir is None:
        message = "no PostgreSQL server binaries (Debian package postgresql) for a private instance"
        if unavailable_action() == "skip":
            pytest.skip(message)
        pytest.fail(message)
    try:
        server = PrivatePostgres(bindir).start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))
    root = server.root
    assert root is not None
    try:
        engine = sa.create_engine(server.url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("select current_database()")).scalar_one() == "parkguard_test"
        engine.dispose()
    finally:
        server.stop()
    assert not root.exists()
