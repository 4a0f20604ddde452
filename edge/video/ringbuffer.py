"""The last seconds of a camera, kept compressed: the demuxed packets, key frame to key frame.

The stream reader thread adds every packet it demuxes (it demuxes them anyway); nothing is
decoded or re-encoded to keep them. Memory is bounded in seconds and in bytes: whole GOPs are
dropped from the old end, always keeping enough for the last ``seconds``. Timestamps are
wall-clock epoch milliseconds, so a window asked for by an alert's times finds its frames.

A clip still to be built can **pin** the start of its window (:meth:`RingBuffer.pin`): GOPs it
needs are kept past ``seconds`` until it is built and unpins, so a slow clip worker (a busy
machine, faces to blur) never finds its window evicted. Pinned data may take the ring up to
``2 × max_bytes``; beyond that the oldest GOP goes anyway (counted in ``pin_overflows``).

Timestamps come from the wall clock, so they can jump: a stream that reopens (file loop, camera
reboot, RTSP reconnect) leaves a gap, which clips keep as it is; a clock stepped back makes the
held GOPs lie in the "future" of the new packets — they are dropped (counted in
``discontinuities``), since no window could be cut from two timelines.

Readers (evidence clips, another thread):

- :meth:`RingBuffer.frames` decodes the BGR frames of a window, starting at the key frame before it;
- :meth:`RingBuffer.clip_mp4` remuxes the packets of a window (from that key frame) to an MP4 file.
"""

from __future__ import annotations

import io
import logging
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.codeccontext import VideoCodecContext

log = logging.getLogger("parkguard.edge.ring")

MS = Fraction(1, 1000)
BACKWARDS_TOLERANCE_MS = 1000  # a key frame this much before the newest GOP's start: a new timeline


class StreamInfo:
    """What decoding or muxing a stream's packets needs: its codec parameters, kept as a template.

    A stream's parameters cannot outlive its container, so they are copied into a stream of an
    in-memory output container that is never written (the cheapest holder PyAV offers).
    """

    def __init__(self, stream: av.video.stream.VideoStream) -> None:
        ctx = stream.codec_context
        self.codec = ctx.name
        self.extradata: bytes | None = bytes(ctx.extradata) if ctx.extradata else None
        self.width = ctx.width
        self.height = ctx.height
        self.rate: Fraction | None = stream.average_rate or stream.guessed_rate
        self._holder = av.open(io.BytesIO(), "w", format="mp4")
        self.template = self._holder.add_stream_from_template(stream)

    def same_as(self, other: StreamInfo | None) -> bool:
        return other is not None and (self.codec, self.extradata, self.width, self.height) == (
            other.codec,
            other.extradata,
            other.width,
            other.height,
        )


@dataclass(slots=True)
class RingPacket:
    data: bytes
    ts_ms: int  # presentation time, wall clock
    dts_ms: int  # decoding time, wall clock
    key: bool


@dataclass
class Gop:
    info: StreamInfo
    packets: list[RingPacket] = field(default_factory=list)
    size: int = 0

    @property
    def start_ms(self) -> int:
        return self.packets[0].ts_ms

    @property
    def end_ms(self) -> int:
        return max(p.ts_ms for p in self.packets[-4:])


class RingBuffer:
    def __init__(self, seconds: float = 10.0, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.seconds = seconds
        self.max_bytes = max_bytes
        self._gops: deque[Gop] = deque()
        self._info: StreamInfo | None = None
        self._bytes = 0
        self._waiting_key = True
        self._lock = threading.Lock()
        self.packets_in = 0
        self.dropped_gops = 0
        self.discontinuities = 0  # the clock went back: older GOPs dropped
        self.pin_overflows = 0  # pinned GOPs dropped anyway: over 2 × max_bytes
        self._pins: dict[int, int] = {}  # token → first epoch ms a pending clip needs
        self._next_pin = 0

    # -- writer (the stream reader thread) -------------------------------------------------
    def set_stream(self, info: StreamInfo) -> None:
        """A (re)opened stream: its packets start a new GOP at its first key frame."""
        with self._lock:
            if not info.same_as(self._info):
                self._info = info
            self._waiting_key = True

    def add(self, data: bytes, ts_ms: int, dts_ms: int, key: bool) -> None:
        if not data:
            return
        with self._lock:
            info = self._info
            if info is None:
                return
            if key:
                if self._gops and ts_ms < self._gops[-1].start_ms - BACKWARDS_TOLERANCE_MS:
                    self._restart_timeline(ts_ms)
                self._gops.append(Gop(info))
                self._waiting_key = False
            elif self._waiting_key or not self._gops:
                return  # nothing decodable before the first key frame
            gop = self._gops[-1]
            gop.packets.append(RingPacket(data, ts_ms, dts_ms, key))
            gop.size += len(data)
            self._bytes += len(data)
            self.packets_in += 1
            self._evict(ts_ms)

    def _restart_timeline(self, ts_ms: int) -> None:
        """A key frame earlier than the newest GOP: the clock went back. Keep nothing of the old
        timeline (pending clips then say what is missing)."""
        gone = len(self._gops)
        log.warning(
            "ring: timestamps went back %d ms (clock step?); %d GOP(s) of the old timeline dropped",
            self._gops[-1].start_ms - ts_ms,
            gone,
        )
        while self._gops:
            self._drop_oldest()
        self.discontinuities += 1

    def _evict(self, newest_ms: int) -> None:
        horizon = newest_ms - self.seconds * 1000
        pinned = min(self._pins.values(), default=None)
        hard_cap = 2 * self.max_bytes
        # drop the oldest GOP while the next one alone still reaches back to the horizon
        while len(self._gops) > 1 and (self._gops[1].start_ms <= horizon or self._bytes > self.max_bytes):
            needed = pinned is not None and pinned < self._gops[1].start_ms
            if needed and self._bytes <= hard_cap:
                break  # a clip still to be built needs the oldest GOP
            if needed:
                self.pin_overflows += 1
            self._drop_oldest()
        if self._bytes > hard_cap or (self._bytes > self.max_bytes and pinned is None):
            # one GOP bigger than the budget: wait for the next key frame
            self._drop_oldest()
            self._waiting_key = True

    def _drop_oldest(self) -> None:
        gop = self._gops.popleft()
        self._bytes -= gop.size
        self.dropped_gops += 1

    # -- pins (clips waiting to be built) -------------------------------------------------
    def pin(self, from_ms: int) -> int:
        """Keep what is held from ``from_ms`` on until :meth:`unpin` (bounded: see the module doc)."""
        with self._lock:
            self._next_pin += 1
            self._pins[self._next_pin] = from_ms
            return self._next_pin

    def unpin(self, token: int) -> None:
        with self._lock:
            self._pins.pop(token, None)

    @property
    def pins(self) -> int:
        return len(self._pins)

    # -- readers ---------------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        return self._bytes

    def span(self) -> tuple[int, int] | None:
        """(first, last) presentation time held, epoch ms; None when empty."""
        with self._lock:
            if not self._gops:
                return None
            return self._gops[0].start_ms, self._gops[-1].end_ms

    def gaps(self, start_ms: int, end_ms: int, slack_ms: int = 250) -> list[tuple[int, int]]:
        """The parts of [start_ms, end_ms] the ring holds no packet of, as (from, to) epoch ms.

        Packets closer than ``slack_ms`` (or three frame intervals of the stream, if longer) to each
        other or to the window's ends cover what lies between them."""
        with self._lock:
            times = sorted(p.ts_ms for g in self._gops for p in g.packets)
            info = self._info
        if info is not None and info.rate:
            slack_ms = max(slack_ms, round(3000 / float(info.rate)))
        gaps: list[tuple[int, int]] = []
        cursor = start_ms
        for t in times:
            if t > end_ms:
                break
            if t > cursor + slack_ms:
                gaps.append((cursor, t))
            cursor = max(cursor, t)
        if cursor < end_ms - slack_ms:
            gaps.append((cursor, end_ms))
        return gaps

    def _window(self, start_ms: int, end_ms: int) -> list[Gop]:
        """The GOPs covering [start_ms, end_ms], from the last key frame at or before start_ms."""
        if end_ms < start_ms:
            raise ValueError(f"end_ms {end_ms} is before start_ms {start_ms}")
        with self._lock:
            gops = list(self._gops)
            # snapshot the packet lists: the writer appends to the newest GOP meanwhile
            snap = [Gop(g.info, list(g.packets), g.size) for g in gops]
        if not snap or start_ms > snap[-1].end_ms or end_ms < snap[0].start_ms:
            return []
        first = 0
        for i, g in enumerate(snap):
            if g.start_ms <= start_ms:
                first = i
        return [g for g in snap[first:] if g.start_ms <= end_ms]

    def frames(self, start_ms: int, end_ms: int) -> Iterator[tuple[int, np.ndarray]]:
        """Decoded BGR frames with start_ms <= ts_ms <= end_ms, as (ts_ms, image), in time order."""
        ctx: VideoCodecContext | None = None
        info: StreamInfo | None = None
        for gop in self._window(start_ms, end_ms):
            if ctx is None or gop.info is not info:
                if ctx is not None:
                    yield from _pick(_flush(ctx), start_ms, end_ms)
                info = gop.info
                ctx = _decoder(info)
            for rp in gop.packets:
                if rp.dts_ms > end_ms and rp.ts_ms > end_ms:
                    break
                pkt = av.Packet(rp.data)
                pkt.pts, pkt.dts, pkt.time_base = rp.ts_ms, rp.dts_ms, MS
                try:
                    decoded = ctx.decode(pkt)
                except av.error.FFmpegError as exc:
                    log.debug("ring: decode error %s", exc)
                    continue
                yield from _pick(decoded, start_ms, end_ms)
        if ctx is not None:
            yield from _pick(_flush(ctx), start_ms, end_ms)

    def clip_mp4(self, start_ms: int, end_ms: int, path: str | Path) -> Path:
        """Remux (no re-encode) the packets of [start_ms, end_ms] to an MP4 file.

        The clip starts at the key frame at or before ``start_ms`` (so it may begin up to one GOP
        early). Its timestamps start at 0. Raises LookupError when the buffer holds nothing of it.
        """
        path = Path(path)
        gops = self._window(start_ms, end_ms)
        if not gops:
            raise LookupError(f"ring buffer holds nothing between {start_ms} and {end_ms}")
        info = gops[0].info
        packets = [
            p for g in gops if g.info is info for p in g.packets if p.dts_ms <= end_ms or p.ts_ms <= end_ms
        ]
        if not packets:
            raise LookupError(f"ring buffer holds nothing between {start_ms} and {end_ms}")
        t0 = min(p.dts_ms for p in packets)
        path.parent.mkdir(parents=True, exist_ok=True)
        out = av.open(str(path), "w", format="mp4")
        try:
            st = out.add_stream_from_template(info.template)
            st.time_base = MS
            last_dts = -1
            for rp in packets:
                pkt = av.Packet(rp.data)
                dts = max(rp.dts_ms - t0, last_dts + 1)  # a reconnect or clock step must not go back
                pkt.dts, pkt.pts = dts, max(rp.ts_ms - t0, dts)
                pkt.time_base = MS
                pkt.stream = st
                out.mux(pkt)
                last_dts = dts
        finally:
            out.close()
        return path


def _decoder(info: StreamInfo) -> VideoCodecContext:
    ctx = av.CodecContext.create(info.codec, "r")
    if not isinstance(ctx, VideoCodecContext):
        raise ValueError(f"ring: codec {info.codec!r} is not a video codec")
    if info.extradata:
        ctx.extradata = info.extradata
    return ctx


def _flush(ctx: VideoCodecContext) -> list[av.VideoFrame]:
    try:
        return list(ctx.decode(None))
    except av.error.FFmpegError:
        return []


def _pick(frames: list[av.VideoFrame], start_ms: int, end_ms: int) -> Iterator[tuple[int, np.ndarray]]:
    for f in frames:
        ts = f.pts
        if ts is None or start_ms <= ts <= end_ms:
            yield int(ts if ts is not None else start_ms), f.to_ndarray(format="bgr24")
