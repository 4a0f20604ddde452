"""Event lifecycle shared by every rule: confirmation, new → update → end, cooldown.

A rule only says, frame by frame, whether its condition holds and which objects show it;
this turns that stream into one event per situation, with no storm of alerts for one
person standing in a zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from protocol import DetectedObject, EventPhase, new_event_id

MIN_UPDATE_GAP_MS = 1000


class _State(Enum):
    IDLE = "idle"
    CONFIRMING = "confirming"
    ACTIVE = "active"
    COOLDOWN = "cooldown"


@dataclass
class Transition:
    phase: EventPhase
    event_id: str
    seq: int
    started_ms: int
    last_ms: int
    ended_ms: int | None
    count: int
    score: float
    objects: list[DetectedObject] = field(default_factory=list)


class Lifecycle:
    def __init__(
        self,
        confirm_frames: int,
        end_after_s: float,
        cooldown_s: float,
        update_interval_s: float,
        confirm_s: float = 0.0,
    ) -> None:
        self.confirm_frames = confirm_frames
        self.confirm_ms = int(confirm_s * 1000)  # and/or: the condition held this long
        self.end_after_ms = int(end_after_s * 1000)
        self.cooldown_ms = int(cooldown_s * 1000)
        self.update_interval_ms = int(update_interval_s * 1000)
        self.state = _State.IDLE
        self._confirmed = 0
        self._first_true_ms = 0
        self._event_id = ""
        self._seq = 0
        self._started_ms = 0
        self._last_true_ms = 0
        self._last_sent_ms = 0
        self._last_count = 0
        self._peak = 0
        self._best_score = 0.0
        self._objects: list[DetectedObject] = []
        self._cooldown_until = 0

    def step(
        self, ts_ms: int, holds: bool, objects: list[DetectedObject] | None = None, count: int = 0
    ) -> Transition | None:
        objects = objects or []
        if self.state is _State.COOLDOWN:
            if ts_ms < self._cooldown_until:
                return None
            self.state = _State.IDLE
        if self.state is _State.IDLE:
            if not holds:
                return None
            self.state = _State.CONFIRMING
            self._confirmed = 0
            self._first_true_ms = ts_ms
        if self.state is _State.CONFIRMING:
            if not holds:
                self.state = _State.IDLE
                return None
            self._confirmed += 1
            if self._confirmed < self.confirm_frames or ts_ms - self._first_true_ms < self.confirm_ms:
                return None
            return self._open(ts_ms, objects, count)
        # ACTIVE
        if holds:
            self._last_true_ms = ts_ms
            self._objects = objects
            self._best_score = max([self._best_score, *(o.score for o in objects)])
            since = ts_ms - self._last_sent_ms
            # Tell a new peak soon (after MIN_GAP), anything else at the update interval.
            if since >= self.update_interval_ms or (count > self._peak and since >= MIN_UPDATE_GAP_MS):
                self._last_count = count
                self._peak = max(self._peak, count)
                return self._emit(EventPhase.UPDATE, ts_ms, count)
            return None
        if ts_ms - self._last_true_ms >= self.end_after_ms:
            return self.close(ts_ms)
        return None

    @property
    def running(self) -> tuple[str, int] | None:
        """(event id, last time its condition held, epoch ms) of the running event; None if none."""
        return (self._event_id, self._last_true_ms) if self.state is _State.ACTIVE else None

    def report(self) -> Transition | None:
        """An ``update`` of the running event now, as it stands (something about it came in
        between frames, e.g. its on-site warning played); None when none runs."""
        if self.state is not _State.ACTIVE:
            return None
        return self._emit(EventPhase.UPDATE, self._last_true_ms, self._last_count)

    def close(self, ts_ms: int) -> Transition | None:
        """End the running event now (e.g. the schedule closed); None when none runs."""
        if self.state is _State.CONFIRMING:
            self.state = _State.IDLE
        if self.state is not _State.ACTIVE:
            return None
        ended = self._last_true_ms
        self.state = _State.COOLDOWN
        self._cooldown_until = ts_ms + self.cooldown_ms
        return self._emit(EventPhase.END, ended, self._last_count, ended_ms=ended)

    def _open(self, ts_ms: int, objects: list[DetectedObject], count: int) -> Transition:
        self.state = _State.ACTIVE
        self._event_id = new_event_id(self._first_true_ms)
        self._seq = -1
        self._started_ms = self._first_true_ms
        self._last_true_ms = ts_ms
        self._last_count = count
        self._peak = count
        self._objects = objects
        self._best_score = max((o.score for o in objects), default=0.0)
        return self._emit(EventPhase.NEW, ts_ms, count)

    def _emit(self, phase: EventPhase, last_ms: int, count: int, ended_ms: int | None = None) -> Transition:
        self._seq += 1
        self._last_sent_ms = last_ms
        return Transition(
            phase=phase,
            event_id=self._event_id,
            seq=self._seq,
            started_ms=self._started_ms,
            last_ms=max(last_ms, self._started_ms),
            ended_ms=ended_ms,
            count=count,
            score=round(self._best_score, 4),
            objects=list(self._objects),
        )
