"""TLS to the broker with a CA made in the test: the edge publisher and the center ingest
connect through Mosquitto's TLS listener; a client that does not trust the CA is refused."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from center.config import MqttConfig as CenterMqtt
from center.config import parse_config
from center.ingest.subscriber import Ingest
from center.store import db
from center.store.models import Alert
from common.configfile import ConfigError as CenterConfigError
from common.configfile import ConfigError as EdgeConfigError
from edge.comms.outbox import Outbox
from edge.comms.publisher import Publisher
from edge.config import MqttConfig as EdgeMqtt
from edge.config import load_edge_config
from protocol import AlertEvent, TopicKind, new_event_id
from tests.centerkit import event, register_cameras, wait_for
from tests.support.mosquitto import MosquittoBroker
from tests.support.ports import free_port

SITE = "yijia"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(folder: Path, cn: str) -> tuple[Path, ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    path = folder / f"{cn}.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, cert


def issue(
    folder: Path, name: str, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, server: bool
) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class Pki:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.ca, ca_key, ca_cert = make_ca(folder, "parkguard-test-ca")
        self.server_cert, self.server_key = issue(folder, "broker", ca_key, ca_cert, server=True)
        self.client_cert, self.client_key = issue(folder, "edge-01", ca_key, ca_cert, server=False)
        self.other_ca, other_key, other_cert = make_ca(folder, "someone-elses-ca")
        self.stranger_cert, self.stranger_key = issue(folder, "stranger", other_key, other_cert, server=False)


@pytest.fixture
def pki(tmp_workdir: Path) -> Pki:
    return Pki(tmp_workdir / "pki")


@pytest.fixture
def tls_broker(
    pki: Pki, mosquitto_factory: Callable[..., MosquittoBroker]
) -> tuple[MosquittoBroker, int, int]:
    """Plain listener (for the readiness check), a TLS one, and a mutual-TLS one."""
    tls_port, mtls_port = free_port(), free_port()
    extra = f"""
listener {tls_port} 127.0.0.1
cafile {pki.ca}
certfile {pki.server_cert}
keyfile {pki.server_key}
listener {mtls_port} 127.0.0.1
cafile {pki.ca}
certfile {pki.server_cert}
keyfile {pki.server_key}
require_certificate true
"""
    return mosquitto_factory(extra_config=extra), tls_port, mtls_port


def tls_client(ca: Path, cert: Path | None = None, key: Path | None = None) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"tls-{uuid.uuid4().hex[:6]}")
    c.tls_set(
        ca_certs=str(ca),
        certfile=str(cert) if cert else None,
        keyfile=str(key) if key else None,
        cert_reqs=ssl.CERT_REQUIRED,
        tls_version=ssl.PROTOCOL_TLS_CLIENT,
    )
    return c


def refused(client: mqtt.Client, port: int) -> bool:
    """True when the handshake or the session fails (TLS 1.3 reports a refused client
    certificate only on the first read after the handshake)."""
    acks: list[object] = []
    client.on_connect = lambda c, u, f, rc, p: acks.append(rc)
    try:
        client.connect("127.0.0.1", port)
        for _ in range(30):
            if client.loop(0.1) != mqtt.MQTT_ERR_SUCCESS or acks:
                break
    except (ssl.SSLError, OSError):
        return True
    finally:
        client.disconnect()
    return not (acks and not getattr(acks[0], "is_failure", True))


def test_edge_publisher_and_center_ingest_over_tls(
    tmp_workdir: Path, pki: Pki, tls_broker: tuple[MosquittoBroker, int, int]
) -> None:
    broker, tls_port, mtls_port = tls_broker
    engine = db.make_engine(f"sqlite:///{tmp_workdir / 'center.db'}")
    db.upgrade(engine)
    factory = db.make_session_factory(engine)
    register_cameras(factory, {"cam-gate": ("node-a", "ent-a")})  # the center takes only registered cameras
    center_cfg = CenterMqtt.model_validate(
        {"host": "localhost", "port": tls_port, "client_id": "tls-center", "tls": {"ca_file": str(pki.ca)}}
    )
    ingest = Ingest(center_cfg, SITE, factory)
    edge_cfg = EdgeMqtt.model_validate(
        {
            "host": "127.0.0.1",
            "port": mtls_port,  # the edge proves who it is with its own certificate
            "tls": {
                "ca_file": str(pki.ca),
                "cert_file": str(pki.client_cert),
                "key_file": str(pki.client_key),
            },
        }
    )
    pub = Publisher(edge_cfg, SITE, "node-a", "test", ["cam-gate"], Outbox(tmp_workdir / "outbox.sqlite"))
    ingest.start()
    pub.start()
    try:
        assert ingest.wait_connected(15), "center ingest did not connect over TLS"
        assert pub.connected.wait(15), "edge publisher did not connect over mutual TLS"
        time.sleep(0.3)
        ids = [new_event_id() for _ in range(5)]
        for eid in ids:
            pub.send(TopicKind.EVENT, AlertEvent.model_validate(event(eid)))
        assert pub.drain(15), "the outbox did not drain over TLS"

        def all_stored() -> bool:
            with factory() as s:
                return all(s.get(Alert, eid) is not None for eid in ids)

        wait_for(all_stored, 15, "the events at the center")
    finally:
        pub.stop()
        ingest.stop()
        engine.dispose()
    log = broker.log_path.read_text()
    assert "tls-center" in log and "parkguard-edge-yijia-node-a" in log


def test_clients_that_do_not_trust_the_ca_or_bring_no_certificate_are_refused(
    tmp_workdir: Path, pki: Pki, tls_broker: tuple[MosquittoBroker, int, int]
) -> None:
    _broker, tls_port, mtls_port = tls_broker
    # the broker's certificate does not chain to the CA this client trusts
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_client(pki.other_ca).connect("127.0.0.1", tls_port)
    # a plain MQTT client on the TLS port gets no CONNACK
    plain = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="plain")
    acks: list[object] = []
    plain.on_connect = lambda c, u, f, rc, p: acks.append(rc)
    plain.connect("127.0.0.1", tls_port)
    plain.loop_start()
    time.sleep(1.5)
    plain.loop_stop()
    assert acks == [], "the TLS listener answered a plain MQTT client"
    # mutual TLS: no client certificate, or one from another CA → no session
    assert refused(tls_client(pki.ca), mtls_port)
    assert refused(tls_client(pki.ca, pki.stranger_cert, pki.stranger_key), mtls_port)
    assert not refused(tls_client(pki.ca, pki.client_cert, pki.client_key), mtls_port)
    # the trusted path works, by IP and by name
    for host in ("127.0.0.1", "localhost"):
        ok = tls_client(pki.ca)
        ok.connect(host, tls_port)
        ok.disconnect()

    # the edge publisher with the wrong CA never connects; its event waits in the outbox
    cfg = EdgeMqtt.model_validate(
        {"host": "127.0.0.1", "port": tls_port, "tls": {"ca_file": str(pki.other_ca)}}
    )
    pub = Publisher(cfg, SITE, "node-a", "test", ["cam-gate"], Outbox(tmp_workdir / "outbox.sqlite"))
    pub.start()
    try:
        pub.send(TopicKind.EVENT, AlertEvent.model_validate(event(new_event_id())))
        assert not pub.connected.wait(3)
        assert pub.outbox.depth == 1
    finally:
        pub.stop()


def test_tls_config_paths_are_relative_to_the_config_and_must_exist(tmp_workdir: Path, pki: Pki) -> None:
    edge = tmp_workdir / "edge.yaml"
    cams = "cameras: [{id: c1, url: /dev/null}]"
    edge.write_text(f"site: s\nnode: n\nmqtt: {{tls: {{ca_file: pki/parkguard-test-ca.crt}}}}\n{cams}\n")
    assert load_edge_config(edge).mqtt.tls.ca_file == pki.ca  # type: ignore[union-attr]
    edge.write_text(f"site: s\nnode: n\nmqtt: {{tls: {{ca_file: pki/nope.crt}}}}\n{cams}\n")
    with pytest.raises(EdgeConfigError, match=r"edge.yaml: mqtt.tls.ca_file: no such file"):
        load_edge_config(edge)
    edge.write_text(f"site: s\nnode: n\nmqtt: {{tls: {{ca_file: a, cert_file: b}}}}\n{cams}\n")
    with pytest.raises(EdgeConfigError, match=r"mqtt.tls: give both cert_file and key_file"):
        load_edge_config(edge)
    cfg = parse_config(
        {"site": "s", "mqtt": {"tls": {"ca_file": "pki/parkguard-test-ca.crt"}}}, "c.yaml", tmp_workdir
    )
    assert cfg.mqtt.tls is not None and cfg.mqtt.tls.ca_file == pki.ca
    with pytest.raises(CenterConfigError, match=r"c.yaml: mqtt.tls.ca_file: no such file"):
        parse_config({"site": "s", "mqtt": {"tls": {"ca_file": "nope.crt"}}}, "c.yaml", tmp_workdir)
