"""``parkguard-center mailbox``: a small SMTP server (aiosmtpd) that keeps every mail it
receives as a ``.eml`` file in a folder and logs its (decoded) subject and recipients.

The demo starts it so its e-mail channel delivers offline; it is also a way to try a site's
notification routes before the real mail server is at hand. Not a mail server for production:
it accepts any sender and recipient, on the address it is told (127.0.0.1 by default).
"""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

log = logging.getLogger("parkguard.mailbox")


class FolderHandler:
    """aiosmtpd handler: each message into ``folder`` as ``<time>-<n>.eml``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        with self._lock:
            self.count += 1
            n = self.count
        path = self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{n:05d}.eml"
        path.write_bytes(raw)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        log.info("mail %d to %s: %s (%s)", n, ", ".join(envelope.rcpt_tos), msg.get("Subject", ""), path.name)
        return "250 Message accepted for delivery"


def start(host: str, port: int, folder: Path) -> tuple[Controller, FolderHandler]:
    """Start the server in a thread; returns (controller, handler). ``controller.stop()`` ends it."""
    handler = FolderHandler(folder)
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    return controller, handler


def main(ns: argparse.Namespace | None = None) -> int:
    p = argparse.ArgumentParser(prog="parkguard-center mailbox", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=18025)
    p.add_argument("--dir", type=Path, default=Path("var/mail"), help="folder the mails go to (.eml)")
    args = p.parse_args(getattr(ns, "extra", None))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiosmtpd logs every connection and SMTP command at info (hundreds of lines a minute in the
    # demo); the mailbox's own line per mail says what arrived
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller, _handler = start(args.host, args.port, args.dir)
    log.info("mailbox listening on %s:%d, mails go to %s", args.host, args.port, args.dir.resolve())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    controller.stop()
    return 0
