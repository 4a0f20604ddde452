"""The demo's embedded MQTT broker.

Real sites run Mosquitto or EMQX. For the one-command demo on a machine that has neither,
``parkguard-center broker`` serves MQTT 3.1.1 from amqtt in-process; when a ``mosquitto``
binary is on the PATH the demo prefers it (see :mod:`center.demo`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shutil
import signal
import subprocess
import sys
from pathlib import Path

log = logging.getLogger("parkguard.center.broker")


def amqtt_config(host: str, port: int) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 200}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


async def serve_amqtt(host: str, port: int, stop: asyncio.Event) -> None:
    from amqtt.broker import Broker

    broker = Broker(amqtt_config(host, port))
    await broker.start()
    print(f"READY mqtt://{host}:{port} (amqtt)", flush=True)
    try:
        await stop.wait()
    finally:
        await broker.shutdown()


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


def write_mosquitto_config(workdir: Path, host: str, port: int) -> Path:
    """A private Mosquitto config: one loopback listener, anonymous (demo only), persistence in workdir."""
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        "\n".join(
            [
                "# written by parkguard-center demo; a demo broker, open to anonymous clients on loopback",
                "per_listener_settings false",
                f"listener {port} {host}",
                "allow_anonymous true",
                "persistence true",
                f"persistence_location {workdir.resolve()}/",
                "log_dest stdout",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "max_queued_messages 100000",
                "",
            ]
        ),
        encoding="utf-8",
    )
    return conf


def start_mosquitto(workdir: Path, host: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    binary = mosquitto_binary()
    if binary is None:
        raise FileNotFoundError("mosquitto not installed")
    conf = write_mosquitto_config(workdir, host, port)
    # Running as root, mosquitto drops to user 'mosquitto': let it write its persistence folder.
    with contextlib.suppress(LookupError, PermissionError, OSError):
        shutil.chown(workdir, user="mosquitto")
    with log.open("ab") as fh:
        return subprocess.Popen(
            [binary, "-c", str(conf)], stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )


def main(ns: argparse.Namespace | None = None) -> int:
    p = argparse.ArgumentParser(prog="parkguard-center broker", description="embedded MQTT broker (amqtt)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    args = p.parse_args(getattr(ns, "extra", None))
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_amqtt(args.host, args.port, stop)

    asyncio.run(_main())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# --- broker accounts for a real site: a Mosquitto password file and ACL ----------------------

PASSWORD_ENV_PREFIX = "PARKGUARD_MQTT_PASSWORD_"
PBKDF2_ITERATIONS = 101  # what mosquitto_passwd 2.0 writes for its "$7$" (PBKDF2-SHA512) hashes


def mosquitto_password_hash(password: str, salt: bytes | None = None) -> str:
    """A Mosquitto 2.0 password-file hash (``$7$``: PBKDF2-SHA512), as ``mosquitto_passwd`` writes."""
    import base64
    import hashlib
    import os

    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, PBKDF2_ITERATIONS)
    return f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def password_env_name(account: str) -> str:
    """``edge-01`` → ``PARKGUARD_MQTT_PASSWORD_EDGE_01``."""
    return PASSWORD_ENV_PREFIX + "".join(c if c.isalnum() else "_" for c in account.upper())


def acl_text(site: str, center_user: str, nodes: dict[str, str]) -> str:
    """The ACL: each node writes only under its own prefix and reads only its own config and live
    requests; the center reads every node's messages of the site and writes their configs and
    live requests (the WebRTC signaling it relays for viewers).

    ``nodes`` maps node id → its MQTT user name.
    """
    from protocol.ids import valid_id
    from protocol.topics import ROOT

    for name in [site, *nodes]:
        if not valid_id(name):
            raise ValueError(f"{name!r} is not a valid site/node id (letters, digits, '_', '-', '.')")
    base = f"{ROOT}/{site}"
    lines = [
        "# ParkGuard broker ACL, written by `parkguard-center broker-accounts`.",
        "# A node publishes only under its own prefix and reads only its own config and live requests;",
        "# the center reads the whole site and writes the nodes' configs and live requests.",
        "",
        f"user {center_user}",
        f"topic read {base}/+/event",
        f"topic read {base}/+/status",
        f"topic read {base}/+/heartbeat",
        f"topic readwrite {base}/+/config",
        f"topic write {base}/+/live-request",
        f"topic read {base}/+/live-response",
    ]
    for node, user in nodes.items():
        lines += [
            "",
            f"user {user}",
            f"topic write {base}/{node}/event",
            f"topic write {base}/{node}/status",
            f"topic write {base}/{node}/heartbeat",
            f"topic read {base}/{node}/config",
            f"topic read {base}/{node}/live-request",
            f"topic write {base}/{node}/live-response",
        ]
    return "\n".join(lines) + "\n"


def write_broker_accounts(
    out_dir: Path,
    site: str,
    center_user: str,
    nodes: dict[str, str],
    passwords: dict[str, str],
) -> dict[str, Path]:
    """Write ``passwd`` (salted hashes only) and ``acl``, both mode 0600; no password in clear.

    ``passwords`` maps MQTT user name → password, for the center and every node.
    """
    users = [center_user, *nodes.values()]
    missing = [u for u in users if u not in passwords]
    if missing:
        raise ValueError(f"no password for account(s) {', '.join(missing)}")
    if len(set(users)) != len(users):
        raise ValueError("every node and the center need their own MQTT user name")
    out_dir.mkdir(parents=True, exist_ok=True)
    passwd = out_dir / "passwd"
    acl = out_dir / "acl"
    _write_private(passwd, "".join(f"{u}:{mosquitto_password_hash(passwords[u])}\n" for u in users))
    _write_private(acl, acl_text(site, center_user, nodes))
    return {"passwd": passwd, "acl": acl}


def _write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (mosquitto refuses world-readable ones in newer versions)."""
    import os

    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def broker_accounts_main(args: argparse.Namespace) -> int:
    """``parkguard-center broker-accounts``: password file + ACL for the center and its nodes.

    Each account's password comes from ``PARKGUARD_MQTT_PASSWORD_<USER>`` (the center's from its
    config's ``mqtt.password_env`` when set); an account without one gets a random password,
    written to ``credentials.env`` (mode 0600) in the output folder for the installer to hand
    out, and never printed.
    """
    import os
    import secrets

    from center.config import load_config

    config = load_config(args.config)
    center_user = config.mqtt.username or "parkguard-center"
    nodes: dict[str, str] = {}
    for spec in args.node:
        node, _, user = spec.partition(":")
        nodes[node] = user or node
    passwords: dict[str, str] = {}
    generated: dict[str, str] = {}
    for user in [center_user, *nodes.values()]:
        env = (
            config.mqtt.password_env
            if user == center_user and config.mqtt.password_env
            else password_env_name(user)
        )
        value = os.environ.get(env)
        if not value:
            value = secrets.token_urlsafe(24)
            generated[env] = value
        passwords[user] = value
    try:
        files = write_broker_accounts(Path(args.out), config.site, center_user, nodes, passwords)
    except ValueError as exc:
        print(f"parkguard-center: broker-accounts: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {files['passwd']} ({len(passwords)} accounts) and {files['acl']}")
    if generated:
        creds = Path(args.out) / "credentials.env"
        _write_private(creds, "".join(f"{k}={v}\n" for k, v in generated.items()))
        print(f"generated passwords for {', '.join(generated)} → {creds} (mode 0600; hand each to its owner)")
    print(
        "mosquitto.conf: password_file <dir>/passwd, acl_file <dir>/acl, allow_anonymous false "
        "(see docker/mosquitto.conf)"
    )
    return 0


def bridge_config_text(
    site: str,
    remote: str,
    *,
    listen_host: str = "0.0.0.0",
    listen_port: int = 1883,
    persistence_dir: str = "/var/lib/mosquitto/",
    username: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
    password_file: str | None = None,
    acl_file: str | None = None,
    keepalive_s: int = 15,
    max_queued: int = 1_000_000,
) -> str:
    """A site's Mosquitto config: the nodes' listener, and a bridge that forwards the site's
    messages to the central broker ``remote`` (``host:port``) and brings the nodes' configs back.

    Store and forward: ``cleansession false`` keeps the bridge's session on both brokers, so what
    the nodes publish while the WAN is down waits on the site broker (up to ``max_queued``
    messages, in its persistence file across a restart) and goes out, in order, when the link is
    back; the central broker keeps the configs for the bridge likewise. ``keepalive_s`` bounds
    how long a silently dead link (a cut cable, not a closed socket) goes unnoticed (×1.5).
    The remote password has to be in the file (Mosquitto reads it from there only): keep the file
    0600, readable by the broker's user. ``password_file`` / ``acl_file``: the nodes' accounts on
    the site broker (``parkguard-center broker-accounts``); without them Mosquitto 2 lets no one in.
    """
    from protocol.ids import valid_id
    from protocol.topics import ROOT

    if not valid_id(site):
        raise ValueError(f"{site!r} is not a valid site id (letters, digits, '_', '-', '.')")
    host, sep, port = remote.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"remote {remote!r}: give host:port")
    base = f"{ROOT}/{site}"
    lines = [
        f"# ParkGuard site broker of {site}, bridged to the central broker {remote}",
        "# written by `parkguard-center bridge-config`; see docs/scale.md",
        "per_listener_settings false",
        f"listener {listen_port} {listen_host}",
        "persistence true",
        f"persistence_location {persistence_dir}",
        "autosave_interval 60",
        f"max_queued_messages {max_queued}",
        "max_queued_bytes 0",
        *([f"password_file {password_file}"] if password_file else []),
        *([f"acl_file {acl_file}"] if acl_file else []),
        "",
        f"connection parkguard-{site}",
        f"address {host}:{port}",
        f"remote_clientid parkguard-bridge-{site}",
        "cleansession false",
        "bridge_protocol_version mqttv311",
        "try_private true",
        "notifications false",
        f"keepalive_interval {keepalive_s}",
        "restart_timeout 1 30",
        f"topic {base}/+/event out 1",
        f"topic {base}/+/status out 1",
        f"topic {base}/+/heartbeat out 0",
        f"topic {base}/+/config in 1",
    ]
    if username:
        lines.append(f"remote_username {username}")
    if password:
        lines.append(f"remote_password {password}")
    if ca_file:
        lines.append(f"bridge_cafile {ca_file}")
    return "\n".join(lines) + "\n"


def bridge_config_main(args: argparse.Namespace) -> int:
    """``parkguard-center bridge-config``: the site broker's config with its bridge (0600)."""
    import os

    password = os.environ.get(args.password_env) if args.password_env else None
    if args.password_env and not password:
        print(f"parkguard-center: bridge-config: {args.password_env} is not set", file=sys.stderr)
        return 2
    try:
        text = bridge_config_text(
            args.site,
            args.remote,
            listen_host=args.listen_host,
            listen_port=args.listen_port,
            persistence_dir=args.persistence_dir,
            username=args.username,
            password=password,
            ca_file=args.ca_file,
            password_file=args.password_file,
            acl_file=args.acl_file,
        )
    except ValueError as exc:
        print(f"parkguard-center: bridge-config: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_private(out, text)
    print(f"wrote {out} (bridge to {args.remote}; the password, if any, is in the file only)")
    return 0
