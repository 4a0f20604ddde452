"""The video tracks of live sessions, fed by a camera's :class:`~edge.live.taps.PacketTap`.

:class:`PassthroughTrack` hands aiortc the camera's H.264 packets (``av.Packet``): aiortc's
sender then only packetizes them into RTP (``Encoder.pack``), nothing is decoded or encoded on
the node. :class:`ReencodeTrack` decodes the packets and hands aiortc frames, which its encoder
encodes (VP8 or H.264, as negotiated): for cameras that send another codec, or when the config
asks for it. Both start at a key frame, and after a reconnect of the camera at the next one.
Times: the packets' wall-clock times on a 90 kHz clock from the session's first packet, so the
browser can match the overlay's detections (stamped with the same clock) to the frame shown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from edge.live.h264 import AnnexB
from edge.live.taps import PacketTap, TapPacket

log = logging.getLogger("parkguard.edge.live")

VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = Fraction(1, VIDEO_CLOCK)
QUEUE_MAX = 90  # packets waiting for aiortc at most (3 s at 30 fps)
QUEUE_MAX_MS = 800  # or this much video: the sender lags (a starved CPU), skip to the next key frame


class LiveCounters:
    """What the node's live sessions did, ever (the node's /metrics and heartbeat)."""

    def __init__(self) -> None:
        self.packets_passed = 0
        self.frames_encoded = 0
        self.packets_dropped = 0  # a viewer too slow: its queue dropped to the next key frame


class _TapTrack(MediaStreamTrack):
    kind = "video"

    def __init__(
        self,
        tap: PacketTap,
        loop: asyncio.AbstractEventLoop,
        counters: LiveCounters,
        on_first: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__()
        self._tap = tap
        self._session_loop = loop
        self.counters = counters
        self._on_first = on_first
        self._queue: asyncio.Queue[TapPacket] = asyncio.Queue()
        self._synced_gen: int | None = None  # the stream generation a key frame was seen in
        self.base_ms: int | None = None  # the wall-clock time of pts 0
        self._last_pts = -1
        self._last_ts: int | None = None
        self._token = tap.subscribe(self._from_reader)

    # reader thread → the session's loop
    def _from_reader(self, pkt: TapPacket) -> None:
        if not self._session_loop.is_closed():
            self._session_loop.call_soon_threadsafe(self._put, pkt)

    def _put(self, pkt: TapPacket) -> None:
        if self.readyState != "live":
            return
        if self._synced_gen != pkt.fmt.generation:  # start (or the camera reconnected): a key frame first
            if not pkt.keyframe:
                return
            self._synced_gen = pkt.fmt.generation
        waiting = self._queue._queue  # type: ignore[attr-defined]  # asyncio.Queue's deque
        if self._queue.qsize() >= QUEUE_MAX or (waiting and pkt.ts_ms - waiting[0].ts_ms > QUEUE_MAX_MS):
            # live means now: rather a jump to the next key frame than a picture drifting behind
            self.counters.packets_dropped += self._queue.qsize()
            while not self._queue.empty():
                self._queue.get_nowait()
            self._synced_gen = None
            if not pkt.keyframe:
                return
            self._synced_gen = pkt.fmt.generation
        last = waiting[-1] if waiting else None
        if last is not None and last.ts_ms == pkt.ts_ms and last.fmt is pkt.fmt:
            # the demuxer gave one frame in several packets (slices, parameter sets after the
            # IDR): one access unit, one RTP timestamp
            waiting[-1] = TapPacket(last.data + pkt.data, pkt.ts_ms, last.keyframe or pkt.keyframe, pkt.fmt)
            return
        self._queue.put_nowait(pkt)

    async def _next(self) -> TapPacket:
        if self.readyState != "live":
            raise MediaStreamError
        pkt = await self._queue.get()
        if self.readyState != "live":
            raise MediaStreamError
        return pkt

    def _pts(self, ts_ms: int) -> int:
        if self.base_ms is None:
            self.base_ms = ts_ms
            if self._on_first is not None:
                self._on_first(ts_ms)
        if ts_ms == self._last_ts:  # another part of the same frame: the same RTP timestamp
            return self._last_pts
        pts = max(self._last_pts + 1, (ts_ms - self.base_ms) * (VIDEO_CLOCK // 1000))
        self._last_pts, self._last_ts = pts, ts_ms
        return pts

    def stop(self) -> None:
        self._tap.unsubscribe(self._token)
        super().stop()
        self._queue.put_nowait(_STOPPED)  # wake a recv() waiting for a packet


_STOPPED = TapPacket(b"", 0, True, None)  # type: ignore[arg-type]


class PassthroughTrack(_TapTrack):
    """The camera's H.264 as it came (Annex B, parameter sets before key frames)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._annexb: AnnexB | None = None
        self._annexb_gen: int | None = None

    async def recv(self) -> av.Packet:
        pkt = await self._next()
        if self._annexb is None or self._annexb_gen != pkt.fmt.generation:
            self._annexb, self._annexb_gen = AnnexB(pkt.fmt.extradata), pkt.fmt.generation
        packet = av.Packet(self._annexb.convert(pkt.data, pkt.keyframe))
        packet.pts = packet.dts = self._pts(pkt.ts_ms)
        packet.time_base = VIDEO_TIME_BASE
        self.counters.packets_passed += 1
        return packet


class ReencodeTrack(_TapTrack):
    """Decoded here, encoded by aiortc's encoder; the picture scaled down to ``max_width``."""

    def __init__(self, *args: object, max_width: int = 1280, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.max_width = max_width
        self._decoder: Any = None  # av.VideoCodecContext
        self._decoder_gen: int | None = None

    def _decode(self, pkt: TapPacket) -> list[av.VideoFrame]:
        if self._decoder is None or self._decoder_gen != pkt.fmt.generation:
            ctx = av.CodecContext.create(pkt.fmt.codec, "r")
            if pkt.fmt.extradata:
                ctx.extradata = pkt.fmt.extradata
            ctx.thread_type = "SLICE"
            self._decoder, self._decoder_gen = ctx, pkt.fmt.generation
        try:
            frames = self._decoder.decode(av.Packet(pkt.data))
        except av.error.FFmpegError:
            return []
        out = []
        for frame in frames:
            if isinstance(frame, av.VideoFrame) and frame.width > self.max_width:
                height = round(frame.height * self.max_width / frame.width / 2) * 2
                frame = frame.reformat(width=self.max_width, height=height)
            out.append(frame)
        return out

    async def recv(self) -> av.VideoFrame:
        while True:
            pkt = await self._next()
            frames = await asyncio.to_thread(self._decode, pkt)
            if frames:
                frame = frames[-1]
                frame.pts = self._pts(pkt.ts_ms)
                frame.time_base = VIDEO_TIME_BASE
                self.counters.frames_encoded += 1
                return frame
