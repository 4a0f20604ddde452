"""Fuzz the center's MQTT ingest: 10,000 payloads generated with hypothesis, published at QoS 1
on the ingest topics of a real Mosquitto to the real center app (SQLite).

Valid event/status/heartbeat messages are mixed with mutations that can never be valid
(a required field removed, a wrong type no coercion accepts, numbers past their bounds, an
unknown key, deep nesting, the wrong site/node, another kind's payload, random bytes, JSON
that is not an object, oversize payloads, topic levels that are not ids). The test knows
which is which: every invalid one must land in the quarantine (or be counted as skipped: an
empty status clears a retained birth), every valid one must be stored, and the center must
answer its API all along.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from center.ingest.process import Received, process, process_batch
from center.store import db
from center.store.models import Alert, Quarantine
from protocol import new_event_id, now_ms
from protocol.topics import ROOT
from tests.centerkit import mini_park, register_cameras, running_center

pytestmark = pytest.mark.e2e

SITE = "yijia"
TOTAL = 10_000
BATCH = 10  # cases drawn per hypothesis example (its per-example overhead is ~1 ms)
KEEP = 64 * 1024  # the quarantine keeps a payload's first 64 KiB
NODES = ["fz-1", "fz-2", "fz-3"]
CAMERAS_OF = {node: [f"cam-{node}-{i}" for i in range(3)] for node in NODES}
REGISTERED = {cam: (node, f"ent-{node}") for node, cams in CAMERAS_OF.items() for cam in cams}
T0 = 1_750_000_000_000

ids = st.text(alphabet="abcxyzABC0189_.-", min_size=1, max_size=12)
ms = st.integers(T0, T0 + 10_000_000)
unit = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def box(draw: st.DrawFn) -> list[float]:
    x1, x2 = sorted([draw(unit), draw(unit)])
    y1, y2 = sorted([draw(unit), draw(unit)])
    return [x1, y1, x2, y2]


obj = st.fixed_dictionaries(
    {"label": st.sampled_from(["person", "car", "phone"]), "score": unit, "box": box()},
    optional={"track": st.integers(0, 10_000)},
)


@st.composite
def valid_event(draw: st.DrawFn, node: str) -> dict[str, Any]:
    phase = draw(st.sampled_from(["new", "update", "end"]))
    started = draw(ms)
    seq = 0 if phase == "new" else draw(st.integers(1, 1_000_000_000))
    msg: dict[str, Any] = {
        "v": 1,
        "event_id": "",  # filled at publish time: unique, so no two valid events conflict
        "phase": phase,
        "seq": seq,
        "site": SITE,
        "node": node,
        "camera": draw(st.sampled_from(CAMERAS_OF[node])),  # registered to the node that sends it
        "rule_id": draw(ids),
        "rule_type": draw(st.sampled_from(["intrusion", "loitering", "man_down", "smoking"])),
        "severity": draw(st.sampled_from(["general", "significant", "major"])),
        "started_ms": started,
        "last_ms": started + draw(st.integers(0, 100_000)),
        "count": draw(st.integers(0, 10_000)),
        "score": draw(unit),
        "objects": draw(st.lists(obj, max_size=3)),
    }
    if phase == "end" or draw(st.booleans()):
        msg["ended_ms"] = msg["last_ms"]
    return msg


@st.composite
def valid_status(draw: st.DrawFn, node: str) -> dict[str, Any]:
    return {
        "v": 1,
        "site": SITE,
        "node": node,
        "state": draw(st.sampled_from(["online", "offline", "stopped"])),
        "ts_ms": draw(ms),
        "software": "fuzz/1",
        "cameras": draw(st.lists(ids, max_size=3)),
        "config_version": draw(st.none() | st.integers(0, 100)),
    }


cam_health = st.fixed_dictionaries(
    {
        "camera": ids,
        "state": st.sampled_from(["starting", "online", "stalled", "offline"]),
        "fps_in": st.floats(0, 1000),
        "fps_out": st.floats(0, 1000),
        "infer_ms": st.floats(0, 600_000),
        "dropped_frames": st.integers(0, 2**40),
    }
)


@st.composite
def valid_heartbeat(draw: st.DrawFn, node: str) -> dict[str, Any]:
    return {
        "v": 1,
        "site": SITE,
        "node": node,
        "ts_ms": draw(ms),
        "uptime_s": draw(st.floats(0, 1e9)),
        "cameras": draw(st.lists(cam_health, max_size=3)),
        "outbox_depth": draw(st.integers(0, 10**6)),
    }


VALID = {"event": valid_event, "status": valid_status, "heartbeat": valid_heartbeat}
REQUIRED = {
    "event": ["event_id", "phase", "seq", "site", "node", "camera", "rule_id", "rule_type",
              "severity", "started_ms", "last_ms"],
    "status": ["site", "node", "state", "ts_ms"],
    "heartbeat": ["site", "node", "ts_ms", "uptime_s"],
}  # fmt: skip
SCALARS = {  # fields no dict/list value can pass
    "event": ["event_id", "phase", "seq", "camera", "rule_type", "severity", "started_ms", "count", "score"],
    "status": ["state", "ts_ms", "software"],
    "heartbeat": ["ts_ms", "uptime_s", "outbox_depth"],
}
BOUNDED = {  # integer fields with an upper bound below 10**14
    "event": ["seq", "started_ms", "last_ms", "count"],
    "status": ["ts_ms"],
    "heartbeat": ["ts_ms"],
}


DEEP = "__deep__"


def nested(depth: int) -> str:
    """JSON text nested ``depth`` levels (lists and objects), past what json.dumps would write."""
    return (
        "".join("[" if i % 2 else '{"a":' for i in range(depth))
        + "1"
        + "".join("]" if i % 2 else "}" for i in reversed(range(depth)))
    )


@st.composite
def invalid_message(draw: st.DrawFn, kind: str, node: str) -> tuple[str, dict[str, Any] | bytes, str]:
    """(kind of topic, payload, what was done); never valid, whatever is drawn."""
    msg = draw(VALID[kind](node))
    hows = ["drop", "type", "huge", "extra", "deep", "site", "node", "cross", "version", "enum"]
    how = draw(st.sampled_from(hows + (["camera"] if kind == "event" else [])))
    topic_kind = kind
    if how == "drop":
        del msg[draw(st.sampled_from(REQUIRED[kind]))]
    elif how == "type":
        msg[draw(st.sampled_from(SCALARS[kind]))] = draw(
            st.sampled_from([{"x": 1}, [1, 2], [], {}, [[None]]])
        )
    elif how == "huge":
        sign = draw(st.sampled_from([1, -1]))
        msg[draw(st.sampled_from(BOUNDED[kind]))] = sign * 10 ** draw(st.integers(14, 400))
    elif how == "extra":
        msg[draw(st.sampled_from(["zzz", "extra", "Site", "v2"]))] = draw(st.integers() | st.text(max_size=5))
    elif how == "deep":
        msg[draw(st.sampled_from(SCALARS[kind]))] = DEEP + str(draw(st.integers(2, 5000)))
    elif how == "site":
        msg["site"] = draw(ids.filter(lambda s: s != SITE))
    elif how == "node":
        msg["node"] = draw(ids.filter(lambda s: s != node))
    elif how == "camera":  # another node's camera, or one the center does not know
        others = [c for c, (n, _e) in REGISTERED.items() if n != node]
        msg["camera"] = draw(st.sampled_from(others) | ids.map(lambda i: f"unknown-{i}"))
    elif how == "cross":  # another kind's valid payload on this kind's topic
        topic_kind = draw(st.sampled_from([k for k in VALID if k != kind]))
    elif how == "version":
        msg["v"] = draw(st.integers().filter(lambda v: v != 1) | st.just("1") | st.none())
    else:
        field = {"event": "phase", "status": "state", "heartbeat": "cameras"}[kind]
        msg[field] = draw(st.text(max_size=8).filter(lambda t: t not in {"new", "update", "end", "online",
                                                                         "offline", "stopped"}))  # fmt: skip
    return topic_kind, msg, how


FAMILIES = ["valid"] * 30 + ["mutated"] * 45 + ["bytes"] * 10 + ["json"] * 8 + ["topic"] * 6 + ["big"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@st.composite
def case(draw: st.DrawFn) -> tuple[str, str, bytes | dict[str, Any], bool]:
    """(topic, how, payload, valid)."""
    kind = draw(st.sampled_from(["event", "status", "heartbeat"]))
    node = draw(st.sampled_from(NODES))
    family = draw(st.sampled_from(FAMILIES))
    if family == "valid":
        return f"{ROOT}/{SITE}/{node}/{kind}", "valid", draw(VALID[kind](node)), True
    if family == "mutated":
        topic_kind, msg, how = draw(invalid_message(kind, node))
        return f"{ROOT}/{SITE}/{node}/{topic_kind}", how, msg, False
    if family == "bytes":
        return f"{ROOT}/{SITE}/{node}/{kind}", "bytes", draw(st.binary(max_size=300)), False
    if family == "json":  # JSON that is not an object, or an object of random keys
        value = draw(json_values.filter(lambda v: not isinstance(v, dict) or "site" not in v))
        return f"{ROOT}/{SITE}/{node}/{kind}", "json", json.dumps(value).encode(), False
    if family == "topic":  # a topic the subscription matches whose levels are not ids
        bad = draw(st.sampled_from(["no de", "x" * 65, "ü", "a:b", "a,b"]))
        where = draw(st.sampled_from(["site", "node"]))
        topic = f"{ROOT}/{bad}/{node}/{kind}" if where == "site" else f"{ROOT}/{SITE}/{bad}/{kind}"
        return topic, "topic", draw(VALID[kind](node)), False
    size = draw(st.integers(256 * 1024 + 1, 300 * 1024))  # over the ingest's payload limit
    return f"{ROOT}/{SITE}/{node}/{kind}", "big", b"{" + b" " * (size - 2) + b"}", False


def encode(payload: bytes | dict[str, Any]) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if payload.get("event_id") == "":
        payload = {**payload, "event_id": new_event_id(now_ms())}
    text = json.dumps(payload)
    for key, value in payload.items():  # deep nesting is spliced in as text
        if isinstance(value, str) and value.startswith(DEEP):
            text = text.replace(json.dumps(value), nested(int(value[len(DEEP) :])), 1)
            del key
    return text.encode()


class Sender:
    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fuzz-{uuid.uuid4().hex[:8]}")
        self.client.max_inflight_messages_set(500)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.infos: list[mqtt.MQTTMessageInfo] = []

    def send(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, info.rc
        self.infos.append(info)

    def close(self) -> None:
        for info in self.infos:
            info.wait_for_publish(30)
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(mosquitto_factory: Any) -> Any:
    """As docker/mosquitto.conf sets it: Mosquitto's default queue of 1000 messages per client
    would drop QoS 1 messages whenever the center lags behind a burst of 10,000."""
    return mosquitto_factory(extra_config="max_queued_messages 100000\n")


@pytest.fixture
def sender(broker: Any) -> Iterator[Sender]:
    s = Sender(broker.port)
    yield s
    s.client.loop_stop()


@pytest.fixture
def center_app(tmp_workdir: Path, broker: Any) -> Iterator[TestClient]:
    with running_center(tmp_workdir, broker.port) as client:
        register_cameras(client.app.state.session_factory, REGISTERED)  # type: ignore[attr-defined]
        yield client


def test_fuzzed_payloads_are_stored_or_quarantined_and_the_center_stays_up(
    center_app: TestClient, sender: Sender
) -> None:
    client = center_app
    app = client.app
    ingest = app.state.ingest
    valid: Counter[str] = Counter()
    invalid: Counter[tuple[str, bytes]] = Counter()
    skipped = 0
    hows: Counter[str] = Counter()
    sent = itertools.count(1)
    api_ok: list[int] = []
    stop = threading.Event()

    def poll_api() -> None:  # the API answers while the fuzz runs
        while not stop.is_set():
            api_ok.append(client.get("/api/nodes").status_code)
            stop.wait(0.5)

    poller = threading.Thread(target=poll_api, daemon=True)

    @settings(
        max_examples=TOTAL // BATCH,
        derandomize=True,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(case(), min_size=BATCH, max_size=BATCH))
    def publish(cases: list[tuple[str, str, bytes | dict[str, Any], bool]]) -> None:
        for c in cases:
            one(*c)

    def one(topic: str, how: str, payload: bytes | dict[str, Any], ok: bool) -> None:
        nonlocal skipped
        data = encode(payload)
        sender.send(topic, data)
        next(sent)
        hows[how] += 1
        if ok:
            valid[topic.rsplit("/", 1)[1]] += 1
        elif not data and topic.endswith("/status"):
            skipped += 1  # an empty status clears a retained birth: skipped, not quarantined
        else:
            invalid[(topic, data[:KEEP])] += 1

    t0 = time.monotonic()
    poller.start()
    try:
        publish()
        total = next(sent) - 1
        generated_s = time.monotonic() - t0
        sender.close()
        deadline = time.monotonic() + 120
        while sum(ingest.counts.values()) < total:
            assert time.monotonic() < deadline, f"the center took {ingest.counts} of {total} messages"
            time.sleep(0.2)
    finally:
        stop.set()
        poller.join(5)
    elapsed = time.monotonic() - t0
    assert total >= 0.95 * TOTAL, f"hypothesis generated only {total} cases"
    print(
        f"\nfuzz: {total} messages in {elapsed:.1f} s (generated and sent in {generated_s:.1f} s); "
        f"kinds {dict(hows)}; outcomes {ingest.counts}"
    )

    counts = dict(ingest.counts)
    assert sum(counts.values()) == total, counts
    assert counts.get("skipped", 0) == skipped, counts
    stored = sum(counts.get(k, 0) for k in ("inserted", "updated", "unchanged", "status", "heartbeat"))
    assert stored == sum(valid.values()), (counts, valid)
    assert counts.get("quarantined", 0) == sum(invalid.values()), counts
    with app.state.session_factory() as session:
        rows = session.execute(select(Quarantine.topic, Quarantine.payload)).all()
    assert Counter((t, bytes(p)) for t, p in rows) == invalid  # exactly the invalid ones, each once
    assert hows.keys() >= {"valid", "drop", "type", "huge", "deep", "bytes", "json", "topic", "big", "camera"}

    assert api_ok and set(api_ok) == {200}, Counter(api_ok)
    assert client.get("/api/health").json()["mqtt"] == "connected"
    resp = client.get("/api/quarantine", params={"limit": 500})
    assert resp.status_code == 200 and len(resp.json()) == 500


# --- the batched store agrees with the one-message-at-a-time one ----------------------------

ALERT_COLUMNS = [c.name for c in Alert.__table__.columns if c.name not in {"received_ms", "updated_ms"}]


@st.composite
def event_stream(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Messages of a few events in any order: replays, old seqs, a conflicting camera, evidence."""
    eids = [new_event_id(T0 + i) for i in range(draw(st.integers(1, 4)))]
    out = []
    for _ in range(draw(st.integers(1, 25))):
        eid = draw(st.sampled_from(eids))
        seq = draw(st.integers(0, 6))
        phase = "new" if seq == 0 else draw(st.sampled_from(["update", "end"]))
        msg = {
            "v": 1, "event_id": eid, "phase": phase, "seq": seq, "site": SITE, "node": "edge-01",
            "camera": draw(st.sampled_from(["cam-a1", "cam-a1", "cam-a1", "cam-zz"])),
            "rule_id": "r1", "rule_type": "intrusion",
            "severity": draw(st.sampled_from(["general", "significant", "major"])),
            "started_ms": T0, "last_ms": T0 + draw(st.integers(0, 9)) * 1000,
            "count": draw(st.integers(0, 9)), "score": draw(st.sampled_from([0.0, 0.5, 1.0])),
            "objects": draw(st.lists(obj, max_size=1)),
            "evidence": draw(st.lists(st.sampled_from([SNAP, CLIP]), max_size=2, unique_by=sha)),
        }  # fmt: skip
        if phase == "end":
            msg["ended_ms"] = msg["last_ms"]
        for key in draw(st.sets(st.sampled_from(["rule_name", "zone", "enterprise"]))):
            msg[key] = {"rule_name": "禁区", "zone": "z1", "enterprise": "ent-x"}[key]
        out.append(msg)
    return out


def sha(item: dict[str, Any]) -> str:
    return item["sha256"]


SNAP = {"kind": "snapshot", "sha256": "a" * 64, "content_type": "image/jpeg", "size": 5}
CLIP = {"kind": "clip", "sha256": "b" * 64, "content_type": "video/mp4", "size": 9}


def test_batched_store_matches_the_single_message_store(tmp_path: Path) -> None:
    """process_batch (one SELECT, multi-row INSERT, executemany UPDATE) ends with the same rows
    and outcomes as storing each message in its own transaction with the ORM path."""
    factories = []
    for name in ("single", "batch"):
        engine = db.make_engine(f"sqlite:///{tmp_path / name}.db")
        db.upgrade(engine)
        factory = db.make_session_factory(engine)
        mini_park(factory)  # cam-a1 is ent-a's on edge-01 (events get ent-a); cam-zz is not registered
        factories.append(factory)
    single, batch = factories
    topic = f"{ROOT}/{SITE}/edge-01/event"

    @settings(max_examples=150, derandomize=True, database=None, deadline=None)
    @given(event_stream(), st.integers(1, 8))
    def check(messages: list[dict[str, Any]], cut: int) -> None:
        for f in factories:
            with f.begin() as s:
                s.execute(delete(Alert))
                s.execute(delete(Quarantine))
        payloads = [json.dumps(m).encode() for m in messages]
        one = [process(single, SITE, topic, p, T0).outcome for p in payloads]
        items = [Received(topic, p, i, 1, 0, T0) for i, p in enumerate(payloads)]
        many: list[str] = []
        for i in range(0, len(items), cut):
            many += [r.outcome for r in process_batch(batch, SITE, items[i : i + cut])]
        assert many == one
        rows = []
        for f in factories:
            with f() as s:
                rows.append(
                    [
                        {c: getattr(a, c) for c in ALERT_COLUMNS}
                        for a in s.scalars(select(Alert).order_by(Alert.event_id))
                    ]
                )
                rows[-1].append(sorted(s.scalars(select(Quarantine.reason))))
        assert rows[0] == rows[1]

    check()
