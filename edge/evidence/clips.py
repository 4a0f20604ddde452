"""Evidence clips: the seconds around an alert, cut from the camera's ring buffer.

A clip is scheduled on an event's ``new`` from ``pre_s`` before the event to ``post_s`` after the
alert, built by one worker thread per node once the post window is in the ring buffer (never in
the analysis loop), and carried by the event's next ``update`` or ``end``, or by a repeated
``end`` (seq + 1) when the event is already over. With faces to blur the clip is re-encoded
(H.264), otherwise remuxed from the ring's packets as they are, and re-encoded (smaller) only
when it is longer than ``clip_max_side`` or bigger than ``clip_max_mb``.
"""

from __future__ import annotations

import io
import itertools
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import av
import cv2
import numpy as np

from edge.detect.detections import Detections
from edge.evidence.blur import FaceBlurrer, people_of
from protocol import EvidenceItem, now_ms

if TYPE_CHECKING:
    from edge.evidence.store import EvidenceStore
    from edge.video.ringbuffer import RingBuffer

log = logging.getLogger("parkguard.edge.evidence")

LATE_GRACE_MS = 3000  # a camera that stopped: clip what the ring holds this long after the window
MAX_PENDING_CLIPS = 64  # clips waiting to be built, all cameras together
PEOPLE_MAX_GAP_MS = 700  # a clip frame takes the people of the nearest analyzed frame within this


class PeopleHistory:
    """The persons of a camera's last analyzed frames, so each clip frame can be blurred where
    the people of the nearest analyzed frame were (clip frames come at the stream's rate)."""

    def __init__(self, keep_ms: int) -> None:
        self.keep_ms = keep_ms
        self._items: deque[tuple[int, Detections]] = deque()
        self._lock = threading.Lock()

    def add(self, ts_ms: int, dets: Detections) -> None:
        people = dets.with_labels({"person"})
        with self._lock:
            self._items.append((ts_ms, people))
            while self._items and self._items[0][0] < ts_ms - self.keep_ms:
                self._items.popleft()

    def near(self, ts_ms: int, max_gap_ms: int = PEOPLE_MAX_GAP_MS) -> Detections | None:
        with self._lock:
            items = list(self._items)
        best = min(items, key=lambda it: abs(it[0] - ts_ms), default=None)
        if best is None or abs(best[0] - ts_ms) > max_gap_ms:
            return None
        return best[1]


@dataclass
class ClipJob:
    camera: str
    event_id: str
    start_ms: int
    end_ms: int
    history: PeopleHistory | None = None
    # set by ClipWorker.schedule: the ring the clip is cut from (kept even if the camera is
    # reconfigured meanwhile) and its pin, which keeps the window from being evicted
    ring: RingBuffer | None = None
    pin: int | None = None


COVER_SLACK_MS = 250  # a clip's packets this close to the window's ends cover it


class ClipCancelled(RuntimeError):
    """The node stopped while the clip was being built."""


def _release(job: ClipJob) -> None:
    if job.ring is not None and job.pin is not None:
        job.ring.unpin(job.pin)
        job.pin = None


def _missing(ring: RingBuffer, job: ClipJob) -> str:
    """What of the job's window the ring did not hold, in words ("" when it held all of it)."""
    gaps = ring.gaps(job.start_ms, job.end_ms, COVER_SLACK_MS)
    if not gaps:
        return ""
    parts = [f"{(b - a) / 1000:.1f} s from {a - job.start_ms:+d} ms" for a, b in gaps]
    asked = (job.end_ms - job.start_ms) / 1000
    held = asked - sum(b - a for a, b in gaps) / 1000
    return f"covers {held:.1f} of {asked:.1f} s asked; missing {', '.join(parts)} (stream gap)"


def _even(v: float) -> int:
    return max(2, round(v / 2) * 2)


def encode_h264(
    frames: Iterable[tuple[int, np.ndarray]], max_side: int, crf: int, rate: Fraction | None
) -> bytes:
    """BGR frames (epoch ms, image) → an H.264 MP4 in memory, timestamps from 0, scaled to fit.

    Frames are taken one at a time (a generator keeps memory at one decoded frame)."""
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise LookupError("no frames to encode")
    h, w = first[1].shape[:2]
    scale = min(1.0, max_side / max(h, w))
    size = (_even(w * scale), _even(h * scale))
    buf = io.BytesIO()
    out = av.open(buf, "w", format="mp4")
    try:
        st = out.add_stream("libx264", rate=rate or Fraction(10))
        st.width, st.height = size
        st.pix_fmt = "yuv420p"
        st.codec_context.time_base = Fraction(1, 1000)
        st.time_base = Fraction(1, 1000)
        st.options = {"crf": str(crf), "preset": "veryfast", "tune": "zerolatency"}
        t0 = first[0]
        last = -1
        for ts, img in itertools.chain([first], it):
            if (img.shape[1], img.shape[0]) != size:
                img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            pts = max(ts - t0, last + 1)
            last = pts
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
            vf.pts, vf.time_base = pts, Fraction(1, 1000)
            for pkt in st.encode(vf):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    finally:
        out.close()
    return buf.getvalue()


class ClipWorker:
    """Builds the clips of new events, one at a time, on its own thread, once their window is in
    the camera's ring buffer (or a few seconds after it should have been: the camera stopped)."""

    def __init__(
        self,
        store: EvidenceStore,
        ring_of: Callable[[str], RingBuffer | None],
        blurrer: FaceBlurrer | None,
    ) -> None:
        self.store = store
        self.ring_of = ring_of
        self.blurrer = blurrer
        self.cfg = store.settings
        self._jobs: list[ClipJob] = []
        self._done: dict[str, list[tuple[str, EvidenceItem | None]]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cancel = threading.Event()  # the node stops and the drain time is over: give up
        self._drain = False
        self._thread: threading.Thread | None = None
        self.built = 0
        self.failed = 0
        self.partial = 0  # built, but the ring lacked part of the window (said in the log)

    def schedule(self, job: ClipJob) -> None:
        max_ms = int(self.cfg.clip_max_s * 1000)
        if job.end_ms - job.start_ms > max_ms:
            job.end_ms = job.start_ms + max_ms
        if job.ring is None:
            job.ring = self.ring_of(job.camera)
        if job.ring is not None and job.pin is None:
            job.pin = job.ring.pin(job.start_ms)
        with self._lock:
            self._jobs.append(job)
            dropped = self._jobs.pop(0) if len(self._jobs) > MAX_PENDING_CLIPS else None
            if dropped is not None:  # an alert storm: the oldest would be stale anyway
                self._done.setdefault(dropped.camera, []).append((dropped.event_id, None))
                self.failed += 1
        if dropped is not None:
            _release(dropped)
            log.warning("clip of event %s dropped: %d clips waiting", dropped.event_id, MAX_PENDING_CLIPS)
        self._wake.set()

    def extend(self, event_id: str, end_ms: int) -> None:
        """The event goes on: its clip, not built yet, ends later (at most ``clip_max_s`` long)."""
        max_ms = int(self.cfg.clip_max_s * 1000)
        with self._lock:
            for job in self._jobs:
                if job.event_id == event_id:
                    job.end_ms = max(job.end_ms, min(end_ms, job.start_ms + max_ms))

    def take(self, camera: str) -> list[tuple[str, EvidenceItem | None]]:
        with self._lock:
            return self._done.pop(camera, [])

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._jobs)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._cancel.clear()
            self._thread = threading.Thread(target=self._run, name="evidence-clips", daemon=True)
            self._thread.start()

    def stop(self, drain_s: float = 10.0) -> None:
        """Build what is scheduled from what the rings hold now (at most ``drain_s``), then stop."""
        self._drain = True
        self._wake.set()
        if self._thread is not None:
            deadline = threading.Event()
            t_end = now_ms() + int(drain_s * 1000)
            while self.pending and now_ms() < t_end and self._thread.is_alive():
                deadline.wait(0.05)
            # a clip still being built (a long event, faces to blur) stops at its next frame, so
            # the thread ends before the interpreter does (a thread inside FFmpeg or ONNX Runtime
            # at exit aborts the process)
            self._cancel.set()
            self._stop.set()
            self._wake.set()
            self._thread.join(5)
            if self._thread.is_alive():
                log.warning("clip worker still busy after the node stopped")
            self._thread = None
        else:  # never started: build them here
            self.run_once()
        with self._lock:
            left, self._jobs = self._jobs, []
        for job in left:
            _release(job)
        if left:
            log.warning("%d clip(s) not built: the node stopped", len(left))

    def _due(self, job: ClipJob, at_ms: int) -> bool:
        if self._drain or at_ms >= job.end_ms + LATE_GRACE_MS:
            return True
        ring = job.ring if job.ring is not None else self.ring_of(job.camera)
        span = ring.span() if ring is not None else None
        return span is not None and span[1] >= job.end_ms

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            try:
                self.store.prune()
            except OSError as exc:
                log.error("evidence folder not pruned: %s", exc)
            self._wake.wait(0.2)
            self._wake.clear()

    def run_once(self) -> int:
        """Build every clip that is due; returns how many were tried."""
        at = now_ms()
        with self._lock:
            jobs = list(self._jobs)
        # outside our lock: finding the ring takes the node's lock, held by the loop that calls take()
        due = [j for j in jobs if self._due(j, at)]
        for job in due:
            if self._cancel.is_set():
                break
            try:
                item = self.build(job)
            finally:
                _release(job)
            with self._lock:
                if job in self._jobs:
                    self._jobs.remove(job)
                self._done.setdefault(job.camera, []).append((job.event_id, item))
        return len(due)

    def build(self, job: ClipJob) -> EvidenceItem | None:
        ring = job.ring if job.ring is not None else self.ring_of(job.camera)
        if ring is None:
            log.warning("camera %s: no ring buffer; no clip for event %s", job.camera, job.event_id)
            self.failed += 1
            return None
        try:
            data = self.clip_bytes(ring, job)
            item = self.store.save_bytes(data, "mp4", "clip", "video/mp4")
        except (LookupError, OSError, av.error.FFmpegError, RuntimeError, ValueError) as exc:
            log.error("camera %s: clip of event %s not made: %s", job.camera, job.event_id, exc)
            self.failed += 1
            return None
        self.store.queue_upload(item, job.camera)
        self.built += 1
        missing = _missing(ring, job)
        if missing:
            self.partial += 1
            log.warning(
                "camera %s: clip of event %s: %d bytes, %s",
                job.camera,
                job.event_id,
                item.size,
                missing,
            )
        else:
            log.info("camera %s: clip of event %s: %d bytes", job.camera, job.event_id, item.size)
        return item

    def clip_bytes(self, ring: RingBuffer, job: ClipJob) -> bytes:
        cfg = self.cfg
        max_bytes = int(cfg.clip_max_mb * 1024 * 1024)
        rate = None
        info = getattr(ring, "_info", None)
        if info is not None and info.rate:
            rate = Fraction(info.rate)
        if self.blurrer is None:  # nothing to change in the pictures: keep the camera's own packets
            tmp = self.store.root / f".clip-{os.getpid()}-{threading.get_ident()}.mp4"
            try:
                ring.clip_mp4(job.start_ms, job.end_ms, tmp)
                data = tmp.read_bytes()
            finally:
                tmp.unlink(missing_ok=True)
            big = info is not None and max(info.width, info.height) > cfg.clip_max_side
            if len(data) <= max_bytes and not big:
                return data
        blurrer = self.blurrer

        def frames() -> Iterator[tuple[int, np.ndarray]]:
            """Decoded (and blurred) one at a time: a 1080p clip never sits in memory decoded."""
            for ts, img in ring.frames(job.start_ms, job.end_ms):
                if self._cancel.is_set():
                    raise ClipCancelled("the node is stopping")
                if blurrer is not None:
                    h, w = img.shape[:2]
                    people = job.history.near(ts) if job.history is not None else None
                    img = blurrer.blur(img, people_of(people, w, h))
                yield ts, img

        side, crf = cfg.clip_max_side, 26
        for _ in range(4):
            try:
                data = encode_h264(frames(), side, crf, rate)
            except LookupError:
                raise LookupError(
                    f"ring buffer holds nothing between {job.start_ms} and {job.end_ms}"
                ) from None
            if len(data) <= max_bytes:
                return data
            side, crf = int(side * 0.7), crf + 4  # smaller and coarser until it fits
        raise RuntimeError(f"clip is {len(data)} bytes even at {side}px, over evidence.clip_max_mb")
