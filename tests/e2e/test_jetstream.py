"""The center's JetStream ingest (``jetstream:`` in its config) with a real ``nats-server``: JetStream
on, its MQTT gateway taking the edges' QoS 1 publishes (docs/scale.md, a district's engine).

- events published over MQTT to the gateway are stored whole, once, through the durable
  work-queue consumer, acked after the commit (the stream ends empty);
- the stream keeps what is published while no center runs; a replica that took a batch and
  died without acking it (a consumer bound to the same durable, closed) loses nothing: the
  server hands the batch to the next center after ``ack_wait``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nats
import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from center.app import create_app
from center.config import parse_config
from center.store.models import Alert
from protocol import new_event_id
from tests.centerkit import SITE, event, register_cameras_at, wait_for
from tests.support.ports import free_port
from tests.support.procs import ManagedProcess
from tests.support.tools import require_binary

pytestmark = pytest.mark.e2e
STREAM, DURABLE = "PARKGUARD", "centers"


@pytest.fixture
def nats_server(tmp_workdir: Path) -> Iterator[tuple[int, int]]:
    binary = require_binary("nats-server")  # installed, or unpacked by scripts/setup.sh test
    port, mqtt_port = free_port(), free_port()
    conf = tmp_workdir / "nats.conf"
    conf.write_text(
        f'listen: 127.0.0.1:{port}\nserver_name: pg-test\njetstream {{ store_dir: "{tmp_workdir / "js"}" }}\n'
        f"mqtt {{ listen: 127.0.0.1:{mqtt_port} }}\n",
        encoding="utf-8",
    )
    with ManagedProcess([binary, "-c", conf], name="nats", log_dir=tmp_workdir, ready_port=mqtt_port):
        yield port, mqtt_port


@contextmanager
def center(workdir: Path, port: int, mqtt_port: int) -> Iterator[TestClient]:
    cfg = parse_config(
        {
            "site": SITE,
            "database": {"url": f"sqlite:///{workdir / 'center.db'}"},
            "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "client_id": "c-js", "protocol": "3.1.1"},
            "jetstream": {"url": f"nats://127.0.0.1:{port}", "ack_wait_s": 2, "batch": 200},
        },
        "test",
        workdir,
    )
    app = create_app(cfg)
    with TestClient(app) as client:
        wait_for(lambda: app.state.jetstream.ready.is_set(), 20, "the JetStream consumer")
        yield client


def publish(mqtt_port: int, ids: list[str]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edge-{uuid.uuid4().hex[:6]}")
    client.connect("127.0.0.1", mqtt_port)
    client.loop_start()
    infos = []
    for eid in ids:
        for seq, phase in enumerate(("new", "update", "end")):
            msg = event(
                eid, phase, seq, count=seq + 1, ended_ms=1_750_000_009_000 if phase == "end" else None
            )
            infos.append(client.publish(f"parkguard/v1/{SITE}/node-a/event", json.dumps(msg), qos=1))
    for info in infos:
        info.wait_for_publish(30)
    client.loop_stop()
    client.disconnect()


def stored(workdir: Path) -> dict[str, tuple[int, str]]:
    from center.store import db

    engine = db.make_engine(f"sqlite:///{workdir / 'center.db'}")
    try:
        with db.make_session_factory(engine)() as s:
            return {a.event_id: (a.seq, a.phase) for a in s.scalars(select(Alert))}
    finally:
        engine.dispose()


def whole(workdir: Path) -> int:
    return sum(1 for v in stored(workdir).values() if v == (2, "end"))


async def take_and_die(port: int) -> int:
    """A replica that fetched a batch and died before its commit: nothing acked."""
    nc = await nats.connect(f"nats://127.0.0.1:{port}")
    sub = await nc.jetstream().pull_subscribe_bind(durable=DURABLE, stream=STREAM)
    msgs = await sub.fetch(1000, timeout=5)
    await nc.close()
    return len(msgs)


async def stream_depth(port: int) -> int:
    nc = await nats.connect(f"nats://127.0.0.1:{port}")
    info = await nc.jetstream().stream_info(STREAM)
    await nc.close()
    return int(info.state.messages)


def test_events_through_jetstream_once_and_a_dead_consumer_loses_nothing(
    tmp_workdir: Path, nats_server: tuple[int, int]
) -> None:
    port, mqtt_port = nats_server
    register_cameras_at(f"sqlite:///{tmp_workdir / 'center.db'}", {"cam-gate": ("node-a", "ent-a")})
    first = [new_event_id() for _ in range(300)]
    with center(tmp_workdir, port, mqtt_port):  # makes the stream and the durable consumer
        publish(mqtt_port, first)
        wait_for(lambda: whole(tmp_workdir) == 300, 60, "300 events whole")
    # no center runs: the stream keeps what the edges send
    second = [new_event_id() for _ in range(100)]
    publish(mqtt_port, second)
    assert asyncio.run(stream_depth(port)) == 300
    assert asyncio.run(take_and_die(port)) == 300
    with center(tmp_workdir, port, mqtt_port):  # gets the dead replica's batch after ack_wait
        wait_for(lambda: whole(tmp_workdir) == 400, 60, "the 100 later events")
        wait_for(lambda: asyncio.run(stream_depth(port)) == 0, 30, "every message acked")
    rows = stored(tmp_workdir)
    assert set(rows) == set(first) | set(second)
    assert all(v == (2, "end") for v in rows.values())


def test_three_replicas_on_jetstream_and_one_killed_not_restarted(
    tmp_workdir: Path, nats_server: tuple[int, int], pg_url: str
) -> None:
    """The replica scenario of tests/e2e/test_replicas.py on JetStream: 20 nodes publish through
    the NATS MQTT gateway, three replicas compete on the durable consumer, the third is SIGKILLed
    midway and NOT started again: its unacked batch goes to the others after ack_wait (5 s);
    every event stored whole and once, both survivors' feeds complete."""
    from tests.centerkit import emptied
    from tests.support.scaleout import run_replicas

    port, mqtt_port = nats_server
    result = run_replicas(
        tmp_workdir, emptied(pg_url), mqtt_port, nodes=20, events=3000, rate=250, kill=True, nats_port=port
    )
    print(result)
