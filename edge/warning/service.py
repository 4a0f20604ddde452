"""On-site warnings (现场提醒) of a node: decided on the detection thread in microseconds, played on
one worker thread per output.

When a rule with a ``warning`` opens an event, :meth:`WarningService.request` decides at once —
outside the warning's schedule, a repeat within ``min_interval_s`` or over ``max_per_hour`` for
that rule and camera, or every output's queue full (a slow or dead device) — and otherwise hands
the warning to each output's bounded queue without waiting. The outputs' results come back through
:meth:`take_results` and go out with the event's next message. Nothing here needs the center or
the broker: it works while they are unreachable.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from common.configfile import ConfigError
from edge.config.warning import WarningConfig
from edge.rules.schedule import ScheduleClock
from edge.warning.outputs import Job, Output, OutputError, make_output
from edge.warning.voice import Voice, VoiceCache
from protocol import WarningHealth, WarningOutcome, WarningOutputResult, WarningRecord

if TYPE_CHECKING:
    from edge.config.camera import CameraConfig
    from edge.config.node import EdgeConfig
    from edge.rules.base import RuleConfigBase

log = logging.getLogger("parkguard.edge.warning")

HOUR_MS = 3_600_000
#: why a warning was not played, as counted (``parkguard_edge_warning_suppressed_total{reason}``)
SUPPRESS_REASONS = ("rate_limit", "hourly_cap", "outside_schedule", "queue_full")


class RateLimiter:
    """Per (rule, camera): no repeat within ``min_interval_s``, at most ``max_per_hour`` an hour.
    Times are the caller's (epoch ms), so a test drives it with its own clock."""

    def __init__(self) -> None:
        self._times: dict[tuple[str, str], deque[int]] = {}

    def check(
        self, key: tuple[str, str], now_ms: int, min_interval_s: float, max_per_hour: int
    ) -> str | None:
        """None when a warning may play now; else ``rate_limit`` or ``hourly_cap``."""
        times = self._times.get(key)
        if not times:
            return None
        while times and now_ms - times[0] >= HOUR_MS:
            times.popleft()
        if times and now_ms - times[-1] < min_interval_s * 1000:
            return "rate_limit"
        if len(times) >= max_per_hour:
            return "hourly_cap"
        return None

    def last(self, key: tuple[str, str]) -> int | None:
        times = self._times.get(key)
        return times[-1] if times else None

    def record(self, key: tuple[str, str], now_ms: int) -> None:
        self._times.setdefault(key, deque()).append(now_ms)


@dataclass
class _Pending:
    """A warning handed to its outputs: their results gathered until the last one is in."""

    rule: str
    camera: str
    event_id: str
    record: WarningRecord
    waiting: int
    started_ms: int  # the event's start, for the latency in the log
    order: list[str]  # the rule's outputs, in its order
    results: dict[str, WarningOutputResult] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Worker:
    """One output's thread and its bounded queue."""

    def __init__(self, output: Output, queue_max: int, done: Callable[[_Pending, WarningOutputResult], None]):
        self.output = output
        self.queue: queue.Queue[tuple[_Pending, Job] | None] = queue.Queue(maxsize=queue_max)
        self._done = done
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"warning-{self.output.id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Full):  # a full queue: the thread sees the stop after its job
            self.queue.put_nowait(None)  # wakes the thread
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, pending: _Pending, job: Job) -> bool:
        try:
            self.queue.put_nowait((pending, job))
            return True
        except queue.Full:
            return False

    def _run(self) -> None:
        out = self.output
        while not self._stop.is_set():
            item = self.queue.get()
            if item is None or self._stop.is_set():
                break
            pending, job = item
            try:
                ms = out.play(job, self._stop)
                result = WarningOutputResult(output=out.id, name=out.label, kind=out.kind, ok=True, ms=ms)
            except OutputError as exc:
                result = WarningOutputResult(
                    output=out.id, name=out.label, kind=out.kind, ok=False, error=str(exc)[:200]
                )
            except Exception as exc:  # a bug in an output must not kill its thread
                log.exception("warning output %s: unexpected error", out.id)
                result = WarningOutputResult(
                    output=out.id,
                    name=out.label,
                    kind=out.kind,
                    ok=False,
                    error=f"internal error: {exc}"[:200],
                )
            self._done(pending, result)
            if result.ok:
                try:
                    out.after(job, self._stop)
                except OutputError as exc:
                    log.error("warning output %s (%s): %s", out.id, out.label, exc)


class WarningService:
    """The node's warning outputs, their voices, the rate limiter and the figures."""

    def __init__(self, cfg: WarningConfig, state_dir: Path, timezone: str) -> None:
        self.cfg = cfg
        self.tz = ZoneInfo(timezone)
        self.timezone = timezone
        self.voices = VoiceCache(cfg.voice, cfg.voice.cache_dir or state_dir / "voice")
        self.workers: dict[str, _Worker] = {}
        for out_cfg in cfg.outputs:
            out = make_output(out_cfg)
            out.check()
            self.workers[out.id] = _Worker(out, out_cfg.queue_max, self._output_done)
        self.limiter = RateLimiter()
        self._rule_voice: dict[tuple[str, str, str], Voice | None] = {}  # (rule, message, audio) → voice
        self._clocks: dict[str, tuple[object, ScheduleClock]] = {}
        self._results: dict[str, list[tuple[str, WarningRecord]]] = {}  # camera → finished warnings
        self._lock = threading.Lock()
        self.played: Counter[str] = Counter()  # output id → plays that worked
        self.failed: Counter[str] = Counter()  # output id → plays that failed
        self.suppressed: Counter[str] = Counter({r: 0 for r in SUPPRESS_REASONS})
        self.latency_ms: list[int] = []  # event start → first output played, the last 100
        self._started = False
        self._open = 0  # warnings handed to outputs whose results are not all in

    # -- setup ---------------------------------------------------------------------------
    def prepare(self, cameras: list[CameraConfig]) -> None:
        """Make (or find in the cache) the voice of every rule's warning now, not at the post;
        ConfigError when one cannot be made."""
        for cam in cameras:
            for rule in cam.rules:
                if rule.warning is not None:
                    self._voice(rule)

    def _voice(self, rule: RuleConfigBase) -> Voice | None:
        w = rule.warning
        assert w is not None
        key = (rule.id, w.message, str(w.audio or ""))
        if key not in self._rule_voice:
            try:
                if w.audio is not None:
                    voice: Voice | None = self.voices.recorded(w.audio, w.message)
                elif w.message:
                    voice = self.voices.speak(w.message)
                else:
                    voice = None  # light only
            except ConfigError as exc:
                raise ConfigError(f"rule {rule.id}: warning: {exc}") from None
            self._rule_voice[key] = voice
        return self._rule_voice[key]

    def start(self) -> None:
        if not self._started:
            self._started = True
            for w in self.workers.values():
                w.start()

    def stop(self, timeout: float = 3.0) -> None:
        for w in self.workers.values():
            w.stop(timeout)

    # -- on the detection thread ---------------------------------------------------------
    def _clock(self, rule: RuleConfigBase) -> ScheduleClock:
        assert rule.warning is not None
        schedule = rule.warning.schedule or rule.schedule
        got = self._clocks.get(rule.id)
        if got is None or got[0] is not schedule:
            got = (schedule, ScheduleClock(schedule, self.timezone))
            self._clocks[rule.id] = got
        return got[1]

    def request(
        self, rule: RuleConfigBase, camera: str, event_id: str, ts_ms: int, started_ms: int
    ) -> WarningRecord:
        """Decide about the warning of ``rule``'s new event now (never blocks) and return its record:
        ``queued`` (the outputs have it) or why it is not played."""
        w = rule.warning
        assert w is not None
        voice = self._voice(rule)
        record = WarningRecord(outcome=WarningOutcome.QUEUED, message=w.message, decided_ms=ts_ms)
        where = f"rule {rule.id} camera {camera}"
        if not self._clock(rule).armed(ts_ms):
            self.suppressed["outside_schedule"] += 1
            log.info("warning not played (outside its schedule): %s 「%s」", where, w.message)
            return self._not_played(record, WarningOutcome.OUTSIDE_SCHEDULE, "outside the warning's schedule")
        key = (rule.id, camera)
        limited = self.limiter.check(key, ts_ms, w.min_interval_s, w.max_per_hour)
        if limited is not None:
            self.suppressed[limited] += 1
            last = self.limiter.last(key)
            if limited == "rate_limit":
                why = f"repeat within {w.min_interval_s:g} s (last played {self._local(last)})"
            else:
                why = f"cap of {w.max_per_hour} an hour reached"
            log.info("warning not played (%s): %s 「%s」", why, where, w.message)
            return self._not_played(record, WarningOutcome.RATE_LIMITED, why)
        job = Job(rule.id, camera, event_id, voice)
        pending = _Pending(
            rule.id,
            camera,
            event_id,
            record,
            waiting=len(w.outputs),
            started_ms=started_ms,
            order=list(w.outputs),
        )
        full: list[str] = []
        with pending.lock:  # results of fast outputs wait until every output has been asked
            for out_id in w.outputs:
                worker = self.workers[out_id]
                if not worker.submit(pending, job):
                    full.append(out_id)
                    out = worker.output
                    pending.results[out_id] = WarningOutputResult(
                        output=out_id,
                        name=out.label,
                        kind=out.kind,
                        ok=False,
                        error=f"queue full ({worker.queue.maxsize} waiting): device slow or unreachable",
                    )
                    pending.waiting -= 1
            if full:
                self.suppressed["queue_full"] += len(full)
                log.warning(
                    "warning dropped on output(s) %s (queue full: the device is slow or unreachable): %s",
                    ", ".join(full),
                    where,
                )
            if len(full) == len(w.outputs):
                return self._not_played(
                    record,
                    WarningOutcome.DROPPED,
                    "every output's queue was full",
                    list(pending.results.values()),
                )
            self.limiter.record(key, ts_ms)
            with self._lock:
                self._open += 1
            record.reason = "the rule's event started"
        return record

    def _not_played(
        self,
        record: WarningRecord,
        outcome: WarningOutcome,
        reason: str,
        outputs: list[WarningOutputResult] | None = None,
    ) -> WarningRecord:
        return record.model_copy(update={"outcome": outcome, "reason": reason, "outputs": outputs or []})

    def _local(self, ms: int | None) -> str:
        if ms is None:
            return "-"
        return datetime.fromtimestamp(ms / 1000, self.tz).strftime("%H:%M:%S")

    # -- on the output threads -----------------------------------------------------------
    def _output_done(self, pending: _Pending, result: WarningOutputResult) -> None:
        out_id = result.output
        if result.ok:
            self.played[out_id] += 1
            lag = (result.ms or 0) - pending.started_ms
            log.info(
                "warning played on %s (%s): 「%s」 rule %s camera %s, %d ms after the event's start",
                out_id,
                result.name,
                pending.record.message,
                pending.rule,
                pending.camera,
                lag,
            )
        else:
            self.failed[out_id] += 1
            log.error(
                "warning output %s (%s) failed: %s (rule %s camera %s, 「%s」)",
                out_id,
                result.name,
                result.error,
                pending.rule,
                pending.camera,
                pending.record.message,
            )
        with pending.lock:
            pending.results[out_id] = result
            pending.waiting -= 1
            if pending.waiting > 0:
                return
            final = self._final(pending)
        with self._lock:
            self._open -= 1
            self._results.setdefault(pending.camera, []).append((pending.event_id, final))
            played = [r.ms for r in final.outputs if r.ok and r.ms is not None]
            if played:
                self.latency_ms = [*self.latency_ms[-99:], min(played) - pending.started_ms]

    def _final(self, pending: _Pending) -> WarningRecord:
        outputs = [pending.results[o] for o in pending.order if o in pending.results]
        ok = sum(r.ok for r in outputs)
        outcome = (
            WarningOutcome.PLAYED
            if ok == len(outputs)
            else WarningOutcome.PARTIAL
            if ok
            else WarningOutcome.FAILED
        )
        return pending.record.model_copy(update={"outcome": outcome, "outputs": outputs})

    def take_results(self, camera: str) -> list[tuple[str, WarningRecord]]:
        """The warnings of ``camera``'s events whose outputs have all answered since the last call."""
        with self._lock:
            return self._results.pop(camera, [])

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every warning handed to the outputs has all its results (tests, benchmarks)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if self._open == 0:
                    return True
            time.sleep(0.01)
        return False

    # -- figures ---------------------------------------------------------------------------
    def health(self) -> WarningHealth:
        s = self.suppressed
        return WarningHealth(
            played=sum(self.played.values()),
            failed=sum(self.failed.values()),
            rate_limited=s["rate_limit"] + s["hourly_cap"],
            outside_schedule=s["outside_schedule"],
            dropped=s["queue_full"],
        )


def make_warnings(cfg: EdgeConfig) -> WarningService | None:
    """The node's warning service with every rule's voice ready; None when no output is configured
    (no rule can then have a warning). ConfigError when a voice or an output cannot work."""
    if not cfg.warning.outputs:
        return None
    service = WarningService(cfg.warning, cfg.state_dir, cfg.timezone)
    service.prepare(cfg.cameras)
    return service
