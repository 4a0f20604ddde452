"""When each camera was online: spans recorded from the nodes' heartbeats and status messages,
and the online hours of cameras over a period (the 风险诊断报告's monitoring coverage, the
园区总览's coverage tile).

A span opens at the first heartbeat that shows a camera ``online`` after it was not, and each
later heartbeat showing it online extends it to that heartbeat's arrival (the center's clock, as
for the node's health in center/domain/nodes.py). It closes at the last heartbeat that showed
it online when

- a heartbeat shows the camera in another state (stalled, offline, starting) or leaves it out,
- the node's status says ``offline`` (its last will) or ``stopped``,
- heartbeats stopped for longer than 3 of the node's periods (the node was stale): the next
  heartbeat opens a new span instead of bridging the silence.

So an outage is counted from the last heartbeat that saw the camera online, to within one
heartbeat period; the time a node was silent is never counted as online."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from center.domain.nodes import HEARTBEAT_DEFAULT_S, STALE_MISSED
from center.store.models import CameraUptime

HOUR_MS = 3_600_000


def record_heartbeat(
    session: Session,
    site: str,
    node: str,
    states: dict[str, str],
    at_ms: int,
    interval_s: float | None = None,
) -> None:
    """Apply one heartbeat (``states``: camera → state as sent) received at ``at_ms``."""
    gap_ms = STALE_MISSED * float(interval_s or HEARTBEAT_DEFAULT_S) * 1000
    spans = {
        s.camera: s
        for s in session.scalars(
            select(CameraUptime).where(
                CameraUptime.site == site, CameraUptime.node == node, CameraUptime.open.is_(True)
            )
        )
    }
    for camera, span in spans.items():
        if states.get(camera) != "online" or at_ms - span.end_ms > gap_ms:
            span.open = False  # ends at the last heartbeat that saw it online
        elif at_ms > span.end_ms:
            span.end_ms = at_ms
    for camera, state in states.items():
        was = spans.get(camera)
        if state == "online" and (was is None or not was.open):
            session.add(
                CameraUptime(site=site, node=node, camera=camera, start_ms=at_ms, end_ms=at_ms, open=True)
            )


def record_node_down(session: Session, site: str, node: str) -> None:
    """The node went offline or stopped: its cameras' open spans end at their last heartbeat."""
    session.execute(
        update(CameraUptime)
        .where(CameraUptime.site == site, CameraUptime.node == node, CameraUptime.open.is_(True))
        .values(open=False)
    )


def recording_since(session: Session) -> int | None:
    """When the center began recording uptime (its first span), None before any."""
    first = session.scalar(select(func.min(CameraUptime.start_ms)))
    return int(first) if first is not None else None


@dataclass(frozen=True)
class Uptime:
    online_ms: int  # online within the window
    window_ms: int  # the part of the period the camera could be counted in

    @property
    def online_hours(self) -> float:
        return round(self.online_ms / HOUR_MS, 1)

    @property
    def window_hours(self) -> float:
        return round(self.window_ms / HOUR_MS, 1)

    @property
    def rate(self) -> float | None:
        """online ÷ window, 0–1 (4 decimals)"""
        return round(self.online_ms / self.window_ms, 4) if self.window_ms > 0 else None

    @property
    def pct(self) -> float | None:
        return round(100.0 * self.online_ms / self.window_ms, 1) if self.window_ms > 0 else None


def online_ms(session: Session, cameras: Iterable[str], from_ms: int, to_ms: int) -> dict[str, int]:
    """Milliseconds each camera was online within ``[from_ms, to_ms)`` (cameras never online: 0).
    Spans of a camera never overlap (one open span a camera), so their overlaps add up."""
    ids = sorted(set(cameras))
    out: dict[str, int] = defaultdict(int)
    for i in range(0, len(ids), 500):  # bounded IN lists
        chunk = ids[i : i + 500]
        rows = session.execute(
            select(CameraUptime.camera, CameraUptime.start_ms, CameraUptime.end_ms).where(
                CameraUptime.camera.in_(chunk), CameraUptime.end_ms > from_ms, CameraUptime.start_ms < to_ms
            )
        )
        for camera, start, end in rows:
            out[camera] += max(0, min(end, to_ms) - max(start, from_ms))
    return {c: out.get(c, 0) for c in ids}


def uptime(
    session: Session,
    cameras: dict[str, int],
    from_ms: int,
    to_ms: int,
    now: int,
) -> dict[str, Uptime | None]:
    """Each camera's online time over the period ``[from_ms, to_ms)``, cut at ``now`` and counted
    only from when the camera was registered (``cameras``: id → created_ms) and from when the
    center began recording uptime; None for a camera with no countable window (registered after
    the period, or the period before any record)."""
    since = recording_since(session)
    if since is None:
        return {c: None for c in cameras}
    end = min(to_ms, now)
    online = online_ms(session, cameras, from_ms, end)
    out: dict[str, Uptime | None] = {}
    for camera, created in cameras.items():
        start = max(from_ms, created, since)
        window = end - start
        out[camera] = Uptime(min(online[camera], max(window, 0)), window) if window > 0 else None
    return out


def total(values: Iterable[Uptime | None]) -> Uptime | None:
    """Online time and window of several cameras added up (None when none has a window)."""
    known = [v for v in values if v is not None]
    if not known:
        return None
    return Uptime(sum(v.online_ms for v in known), sum(v.window_ms for v in known))
