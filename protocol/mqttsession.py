"""MQTT protocol choice and persistent sessions, shared by the edge's publisher and the center's ingest.

Both keep a persistent session (the broker holds their QoS 1 messages and subscriptions while
they are away). MQTT 5 is used where the broker speaks it (``protocol: auto`` probes it once at
start): a refused publish then comes back with a reason code instead of being dropped silently.
Under MQTT 5 a session lives only as long as its expiry interval, so it is set to "never" —
the behaviour of an MQTT 3.1.1 persistent session.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger("parkguard.mqtt")

Protocol = Literal["auto", "5", "3.1.1"]
SESSION_NEVER_EXPIRES = 0xFFFFFFFF


def probe_mqtt5(
    host: str,
    port: int,
    username: str | None = None,
    password: str | None = None,
    tls: Any = None,
    timeout: float = 5.0,
) -> bool | None:
    """Whether the broker accepts an MQTT 5 connection: True, False (it refused the protocol or
    closed the connection), None (no answer: unreachable, or refused for another reason)."""
    answer: list[bool | None] = []
    done = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)  # random id, clean start
    if username is not None:
        client.username_pw_set(username, password)
    if tls is not None:
        tls.apply(client)

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            answer.append(True)
        elif reason.value in (1, 132):  # 3.1.1 "unacceptable protocol version" / 5 "unsupported"
            answer.append(False)
        else:
            answer.append(None)
        done.set()

    def on_disconnect(_c: Any, _u: Any, _f: Any, _reason: Any, _p: Any) -> None:
        if not answer:  # closed before a CONNACK: a broker that does not parse MQTT 5 at all
            answer.append(False)
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        client.connect(host, port, keepalive=10)
    except OSError:
        return None
    client.loop_start()
    try:
        done.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    return answer[0] if answer else None


def choose_v5(protocol: Protocol, host: str, port: int, **probe: Any) -> bool:
    """MQTT 5 or not, for ``protocol`` (``auto``: as the broker answers a probe; 3.1.1 when it
    cannot be asked, since every broker speaks 3.1.1)."""
    if protocol != "auto":
        return protocol == "5"
    spoken = probe_mqtt5(host, port, **probe)
    log.info(
        "MQTT broker %s:%s: %s",
        host,
        port,
        "speaks MQTT 5"
        if spoken
        else "no MQTT 5, using 3.1.1"
        if spoken is False
        else "no answer to an MQTT 5 probe, using 3.1.1",
    )
    return bool(spoken)


def new_client(client_id: str, v5: bool, **kwargs: Any) -> mqtt.Client:
    """A paho client for a persistent session (3.1.1: clean_session False; 5: see ``connect_kwargs``)."""
    if v5:
        return mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, **kwargs
        )
    return mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=False,
        **kwargs,
    )


def connect_kwargs(v5: bool) -> dict[str, Any]:
    """Extra arguments of ``connect``/``connect_async``: MQTT 5 resumes the session and keeps it."""
    if not v5:
        return {}
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_NEVER_EXPIRES
    return {"clean_start": False, "properties": props}
