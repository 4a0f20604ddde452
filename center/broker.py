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
