"""A clustered engine for a district: NATS JetStream behind its MQTT gateway, measured.

    python bench/district_engines.py [--messages 30000]

Starts a private ``nats-server`` (JetStream on, its MQTT listener on a free port; one node, the
cluster adds replicas of the same stream), makes a work-queue stream over
``parkguard.v1.>`` (the MQTT topics ``parkguard/v1/…`` as NATS subjects), then:

1. publishes ``--messages`` alert events at QoS 1 with paho-mqtt to the MQTT gateway, as the
   edge's publisher does (100 in flight), timing until the last PUBACK, and checks the
   stream holds every one right after (a PUBACK means stored);
2. reads them with a durable pull consumer (explicit ack, the way center replicas would
   compete on it), acking each batch after a stand-in commit, timing the drain;
3. a consumer that fetches a batch and dies without acking: after ``ack_wait`` the batch is
   handed to the other consumer (what Mosquitto 2.0's shared subscription does not do: it
   keeps a dead member's share in its session until it returns).

Needs ``nats-py`` (the ``jetstream`` and ``test`` extras) and the ``nats-server`` binary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from protocol import AlertEvent, new_event_id  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def payloads(n: int) -> list[bytes]:
    out = []
    t0 = 1_795_827_600_000
    for i in range(n):
        ev = AlertEvent.model_validate(
            {
                "event_id": new_event_id(t0 + i), "phase": "new", "seq": 0, "site": "yijia",
                "node": "edge-01", "camera": "cam-01", "rule_id": "r1", "rule_type": "intrusion",
                "severity": "significant", "started_ms": t0, "last_ms": t0, "count": 1, "score": 0.8,
                "objects": [{"label": "person", "score": 0.8, "box": [0.1, 0.2, 0.3, 0.6]}],
            }
        )  # fmt: skip
        out.append(ev.model_dump_json().encode())
    return out


def start_nats(work: Path) -> tuple[subprocess.Popen[bytes], int, int]:
    binary = shutil.which("nats-server")
    if binary is None:
        raise SystemExit("nats-server is not installed")
    port, mqtt_port = free_port(), free_port()
    conf = work / "nats.conf"
    conf.write_text(
        f"""listen: 127.0.0.1:{port}
server_name: pg-bench
jetstream {{ store_dir: "{work / "js"}" }}
mqtt {{ listen: 127.0.0.1:{mqtt_port} }}
""",
        encoding="utf-8",
    )
    log = (work / "nats.log").open("wb")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", mqtt_port), timeout=0.5).close()
            return proc, port, mqtt_port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"nats-server did not start: {(work / 'nats.log').read_text()[-2000:]}")


def publish(mqtt_port: int, data: list[bytes]) -> float:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edge-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", mqtt_port)
    client.loop_start()
    t0 = time.monotonic()
    infos = [client.publish("parkguard/v1/yijia/edge-01/event", p, qos=1) for p in data]
    for info in infos:
        info.wait_for_publish(120)
    took = time.monotonic() - t0
    client.loop_stop()
    client.disconnect()
    return took


async def measure(port: int, mqtt_port: int, n: int) -> dict[str, object]:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig

    nc = await nats.connect(f"nats://127.0.0.1:{port}")
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(name="PARKGUARD", subjects=["parkguard.v1.>"], retention=RetentionPolicy.WORK_QUEUE)
    )
    data = payloads(n)
    pub_s = await asyncio.get_running_loop().run_in_executor(None, publish, mqtt_port, data)
    stored = (await js.stream_info("PARKGUARD")).state.messages
    cfg = ConsumerConfig(
        durable_name="centers", ack_policy=AckPolicy.EXPLICIT, ack_wait=5, max_ack_pending=5000
    )
    sub = await js.pull_subscribe("parkguard.v1.>", durable="centers", config=cfg)
    got = 0
    t0 = time.monotonic()
    while got < n:
        msgs = await sub.fetch(500, timeout=5)
        json.loads(msgs[-1].data)  # a stand-in for validating and committing the batch
        for m in msgs:
            await m.ack()
        got += len(msgs)
    consume_s = time.monotonic() - t0
    await nc.flush()  # acks are sent without waiting: let the server take them all
    left = -1
    for _ in range(50):
        left = (await js.stream_info("PARKGUARD")).state.messages
        if left == 0:
            break
        await asyncio.sleep(0.1)

    # a consumer dies with a batch unacked: the batch goes to another after ack_wait
    extra = payloads(200)
    await asyncio.get_running_loop().run_in_executor(None, publish, mqtt_port, extra)
    dead = await js.pull_subscribe("parkguard.v1.>", durable="centers", config=cfg)
    taken = await dead.fetch(200, timeout=5)  # never acked: this "replica" dies here
    await dead.unsubscribe()
    t1 = time.monotonic()
    other = await js.pull_subscribe("parkguard.v1.>", durable="centers", config=cfg)
    again = 0
    while again < len(taken):
        try:
            msgs = await other.fetch(200, timeout=10)
        except nats.errors.TimeoutError:
            break
        for m in msgs:
            await m.ack()
        again += len(msgs)
    redelivered_s = time.monotonic() - t1
    await nc.close()
    return {
        "messages": n,
        "publish_s": round(pub_s, 2),
        "publish_per_s": round(n / pub_s),
        "stored_at_last_puback": stored,
        "consume_s": round(consume_s, 2),
        "consume_per_s": round(n / consume_s),
        "left_in_stream": left,
        "unacked_by_dead_consumer": len(taken),
        "redelivered_to_other": again,
        "redelivered_after_s": round(redelivered_s, 1),
    }


def mosquitto_publish_rate(n: int) -> float:
    """The same publish against a private Mosquitto, for comparison (QoS 1, 100 in flight)."""
    binary = shutil.which("mosquitto")
    if binary is None:
        return float("nan")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "m.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\nmax_queued_messages 1000000\n"
        )
        proc = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        # a persistent subscriber that does not read, so the broker has to keep every message
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="holder", clean_session=False)
        sub.connect("127.0.0.1", port)
        sub.subscribe("parkguard/#", qos=1)
        sub.loop_start()
        time.sleep(0.3)
        sub.loop_stop()
        sub.disconnect()
        try:
            took = publish(port, payloads(n))
        finally:
            proc.terminate()
            proc.wait(10)
    return n / took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=30_000)
    args = ap.parse_args()
    try:
        import nats  # noqa: F401
    except ImportError:
        print("NOT RUN: nats-py is not installed (pip install -e '.[jetstream]')")
        return 0
    with tempfile.TemporaryDirectory(prefix="pg-nats-") as tmp:
        proc, port, mqtt_port = start_nats(Path(tmp))
        try:
            result = asyncio.run(measure(port, mqtt_port, args.messages))
        finally:
            proc.terminate()
            proc.wait(10)
    result["mosquitto_publish_per_s"] = round(mosquitto_publish_rate(args.messages))
    print(json.dumps(result, indent=1))
    print("RESULT nats_jetstream " + " ".join(f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
