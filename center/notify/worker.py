"""The notification worker of the center process: a thread that delivers due notifications,
and every ``check_s`` checks escalations, hazard reminders and the daily digest. Every replica
may run one (claims are leased rows, center/notify/outbox.py)."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.exc import SQLAlchemyError

from center.domain.errors import first_line
from center.notify.service import Notifier

log = logging.getLogger(__name__)


class NotifyWorker:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_check = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="center-notify", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.notifier.close()

    def tick(self) -> int:
        """One round: the periodic checks when due, then one batch of deliveries."""
        n = self.notifier
        if time.monotonic() >= self._next_check:
            self._next_check = time.monotonic() + n.config.check_s
            for check in (n.check_escalations, n.check_hazards, n.run_digests):
                try:
                    check()
                except SQLAlchemyError as exc:
                    log.warning(
                        "notify: %s failed (%s); retried at the next check", check.__name__, first_line(exc)
                    )
                except Exception:
                    log.exception("notify: %s failed; retried at the next check", check.__name__)
        return n.deliver_due()

    def _run(self) -> None:
        log.info("notification worker started")
        while not self._stop.is_set():
            try:
                busy = self.tick() >= self.notifier.config.batch
            except SQLAlchemyError as exc:
                log.warning("notify: database unavailable (%s); retrying", first_line(exc))
                busy = False
            except Exception:
                log.exception("notify: worker round failed; retrying")
                busy = False
            if not busy:
                self._stop.wait(self.notifier.config.poll_s)
