"""Taps on a camera for live sessions: the main stream's packets as the reader demuxed them and
the detections as the analyzer produced them, handed to whoever subscribed (no subscriber: a
check of an empty dict, nothing copied).

Subscribers are called on the producer's thread (the camera reader, the node's loop): they must
only queue (a live session hands the item to its asyncio loop).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av

from edge.detect.detections import Detections

log = logging.getLogger("parkguard.edge.live")


@dataclass(frozen=True)
class StreamFormat:
    """The codec of the stream the reader opened (again after every reconnect)."""

    codec: str  # FFmpeg's name: h264, hevc, mjpeg …
    extradata: bytes | None  # avcC or Annex B parameter sets (H.264)
    width: int
    height: int
    generation: int  # bumped at every (re)open


@dataclass(frozen=True)
class TapPacket:
    data: bytes
    ts_ms: int  # presentation time on the wall clock (epoch ms)
    keyframe: bool
    fmt: StreamFormat


class _Fanout:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[int, Callable[[Any], None]] = {}
        self._ids = itertools.count(1)

    def subscribe(self, fn: Callable[[Any], None]) -> int:
        with self._lock:
            token = next(self._ids)
            self._subs[token] = fn
            return token

    def unsubscribe(self, token: int) -> None:
        with self._lock:
            self._subs.pop(token, None)

    @property
    def listeners(self) -> int:
        return len(self._subs)

    def _send(self, item: object) -> None:
        with self._lock:
            subs = list(self._subs.values())
        for fn in subs:
            try:
                fn(item)
            except Exception:  # a viewer's failure never reaches the camera reader
                log.exception("live tap subscriber failed")


class PacketTap(_Fanout):
    """The demuxed packets of one camera's main stream."""

    def __init__(self) -> None:
        super().__init__()
        self.fmt: StreamFormat | None = None
        self._generation = 0

    def set_stream(self, stream: av.video.stream.VideoStream) -> None:
        self._generation += 1
        ctx = stream.codec_context
        self.fmt = StreamFormat(
            codec=ctx.name,
            extradata=bytes(ctx.extradata) if ctx.extradata else None,
            width=ctx.width,
            height=ctx.height,
            generation=self._generation,
        )

    def add(self, data: bytes, ts_ms: int, keyframe: bool) -> None:
        if not self._subs or self.fmt is None:
            return
        self._send(TapPacket(data, ts_ms, keyframe, self.fmt))


def overlay_message(ts_ms: int, dets: Detections) -> dict[str, Any]:
    """One analyzed frame's detections for the browser's overlay: boxes normalised 0–1, label,
    track id (-1: untracked), score; rounded, so a frame of 50 objects stays a few KB."""
    objs: list[list[Any]] = []
    tracks = dets.tracks
    for i in range(min(len(dets), 200)):
        x1, y1, x2, y2 = (round(float(v), 4) for v in dets.boxes[i])
        label = dets.labels[i] if i < len(dets.labels) else str(int(dets.class_ids[i]))
        track = int(tracks[i]) if tracks is not None else -1
        objs.append([x1, y1, x2, y2, label, track, round(float(dets.scores[i]), 2)])
    return {"t": "dets", "ts_ms": ts_ms, "objs": objs}


class DetectionTap(_Fanout):
    """One camera's analyzed frames (after the tracker), as overlay messages."""

    def add(self, ts_ms: int, dets: Detections) -> None:
        if not self._subs:
            return
        self._send(overlay_message(ts_ms, dets))
