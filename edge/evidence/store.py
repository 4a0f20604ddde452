"""Evidence: an annotated snapshot of the frame that raised an event and a clip of the seconds
around it, faces blurred, stored content-addressed and queued for upload to the center.

- snapshot: on an event's ``new``, in the analysis loop (its SHA-256 goes in that message;
  drawn by edge/evidence/snapshot.py);
- clip: built from the ring buffer on a worker thread (edge/evidence/clips.py);
- faces: blurred in the snapshot and in every frame of the clip (edge/evidence/blur.py);
- upload: every file kept is queued for the center (edge/evidence/upload.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from edge.config.camera import ZoneConfig
from edge.config.evidence import EvidenceConfig
from edge.config.node import EdgeConfig
from edge.detect.detections import Detections
from edge.evidence.blur import FaceBlurrer, make_blurrer, people_of
from edge.evidence.clips import ClipJob, ClipWorker
from edge.evidence.snapshot import annotate
from edge.rules.registry import RuleConfig
from protocol import DetectedObject, EvidenceHealth, EvidenceItem

if TYPE_CHECKING:
    from edge.evidence.upload import Uploader
    from edge.video.ringbuffer import RingBuffer

log = logging.getLogger("parkguard.edge.evidence")


class EvidenceStore:
    """Files named by their sha256 under ``root/ab/abcdef….jpg``; writing is atomic.

    Also the node's evidence hub: faces blurred before anything is written (``blurrer``; with
    none given and ``blur_faces`` on, the head fallback alone runs), every file written queued for
    upload (``uploader``), clips built by a :class:`ClipWorker` (``clips``).
    """

    def __init__(
        self,
        root: Path,
        max_side: int = 1280,
        jpeg_quality: int = 80,
        settings: EvidenceConfig | None = None,
        blurrer: FaceBlurrer | None = None,
        uploader: Uploader | None = None,
    ) -> None:
        self.root = root
        self.max_side = max_side
        self.jpeg_quality = jpeg_quality
        self.settings = settings or EvidenceConfig()
        s = self.settings
        if blurrer is None and s.blur_faces:
            blurrer = FaceBlurrer(None, s.head_fallback, s.head_min_px)
        self.blurrer = blurrer if s.blur_faces else None
        self.uploader = uploader
        self.clips: ClipWorker | None = None
        self._disk_bytes: int | None = None  # what the folder holds, counted on first use
        self._disk_lock = threading.Lock()
        self.pruned = 0

    def path_for(self, sha256: str, ext: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.{ext}"

    def save_bytes(
        self,
        data: bytes,
        ext: str,
        kind: Literal["snapshot", "clip"],
        content_type: Literal["image/jpeg", "video/mp4"],
    ) -> EvidenceItem:
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_for(digest, ext)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            with self._disk_lock:
                if self._disk_bytes is not None:
                    self._disk_bytes += len(data)
            if self.clips is None:  # no worker thread to do it (analyze)
                self.prune()
        return EvidenceItem(kind=kind, sha256=digest, content_type=content_type, size=len(data))

    def save_snapshot(self, image: np.ndarray) -> EvidenceItem:
        h, w = image.shape[:2]
        if max(h, w) > self.max_side:
            s = self.max_side / max(h, w)
            image = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return self.save_bytes(buf.tobytes(), "jpg", "snapshot", "image/jpeg")

    def snapshot(
        self,
        camera: str,
        frame: np.ndarray,
        dets: Detections | None,
        objects: list[DetectedObject],
        zone: ZoneConfig | None,
        rule: RuleConfig,
        ts_ms: int,
        timezone: str,
    ) -> EvidenceItem:
        """Blur the faces of ``frame``, draw the alert on it, keep it and queue its upload."""
        if self.blurrer is not None:
            h, w = frame.shape[:2]
            frame = self.blurrer.blur(frame, people_of(dets, w, h))
        item = self.save_snapshot(annotate(frame, objects, zone, rule, ts_ms, timezone))
        self.queue_upload(item, camera)
        return item

    def queue_upload(self, item: EvidenceItem, camera: str) -> None:
        if self.uploader is None:
            return
        ext = "jpg" if item.content_type == "image/jpeg" else "mp4"
        try:
            self.uploader.add(
                item.sha256, self.path_for(item.sha256, ext), item.content_type, camera, item.size
            )
        except Exception as exc:  # a full disk must not stop the alert
            log.error("evidence %s: not queued for upload: %s", item.sha256, exc)

    def prune(self) -> int:
        """Delete the oldest files while the folder holds more than ``max_disk_mb``; returns how
        many went. Cheap when under the budget (a running total; the folder is scanned once)."""
        budget = int(self.settings.max_disk_mb * 1024 * 1024)
        with self._disk_lock:
            if self._disk_bytes is not None and self._disk_bytes <= budget:
                return 0
            files = []
            if self.root.is_dir():
                for f in self.root.glob("??/*"):
                    if f.suffix in (".jpg", ".mp4"):
                        try:
                            st = f.stat()
                        except FileNotFoundError:
                            continue
                        files.append((st.st_mtime, st.st_size, f))
            total = sum(size for _, size, _ in files)
            gone = 0
            if total > budget:
                files.sort()
                target = int(budget * 0.9)
                for _mtime, size, f in files:
                    if total <= target:
                        break
                    f.unlink(missing_ok=True)
                    total -= size
                    gone += 1
                log.warning(
                    "evidence folder over evidence.max_disk_mb (%.0f MB): %d oldest file(s) deleted",
                    self.settings.max_disk_mb,
                    gone,
                )
            self._disk_bytes = total
            self.pruned += gone
            return gone

    def health(self) -> EvidenceHealth:
        """Clips built, failed, partial and waiting; files waiting for (or dropped from) upload."""
        c, u = self.clips, self.uploader
        return EvidenceHealth(
            clips_built=c.built if c else 0,
            clips_failed=c.failed if c else 0,
            clips_partial=c.partial if c else 0,
            clips_pending=c.pending if c else 0,
            uploads_pending=u.queue.depth if u else 0,
            uploads_dropped=u.queue.dropped if u else 0,
        )

    # -- clips -----------------------------------------------------------------------------
    def schedule_clip(self, job: ClipJob) -> bool:
        if self.clips is None or not self.settings.clips:
            return False
        self.clips.schedule(job)
        return True

    def take_clips(self, camera: str) -> list[tuple[str, EvidenceItem | None]]:
        return self.clips.take(camera) if self.clips is not None else []

    def start(self) -> None:
        if self.clips is not None:
            self.clips.start()
        if self.uploader is not None:
            self.uploader.start()

    def stop(self, drain_s: float = 10.0) -> None:
        """Build the clips still scheduled from what the rings hold (bounded), stop the threads."""
        if self.clips is not None:
            self.clips.stop(drain_s)
        if self.uploader is not None:
            self.uploader.stop(drain_s=5.0)


def make_evidence(
    cfg: EdgeConfig,
    ring_of: Callable[[str], RingBuffer | None] | None = None,
    upload: bool = True,
) -> EvidenceStore:
    """The node's evidence: store, face blurring (model + fallback), clips (with ``ring_of``) and
    uploads (when ``center.url`` is set and ``upload``)."""
    s = cfg.evidence
    blurrer = None
    args = (cfg.models.manifest, s.face_model, s.face_score, s.head_fallback, s.head_min_px)
    if s.blur_faces:
        blurrer = make_blurrer(*args)
    else:
        log.warning("evidence.blur_faces is off: faces leave this node unblurred in snapshots and clips")
    uploader = None
    if upload and cfg.center.url:
        from edge.evidence.upload import Uploader, UploadQueue

        uploader = Uploader(cfg.center, UploadQueue(cfg.state_dir / "uploads.sqlite", cfg.center.queue_max))
    store = EvidenceStore(cfg.evidence_dir, settings=s, blurrer=blurrer, uploader=uploader)
    if ring_of is not None and s.clips:
        if not cfg.ring.enabled:
            log.warning("evidence.clips: ring.enabled is off: no clips")
        elif cfg.ring.seconds < s.pre_s + s.post_s + 2:
            log.warning(
                "ring.seconds (%.0f) is short for clips of evidence.pre_s + post_s (%.0f s) plus the "
                "confirmation and the time to build them: clips may start late; give the ring %.0f s",
                cfg.ring.seconds,
                s.pre_s + s.post_s,
                s.pre_s + s.post_s + 5,
            )
        clip_blur = None
        if s.blur_faces:  # its own face-model session: it runs beside the analysis loop
            clip_blur = make_blurrer(*args)
        store.clips = ClipWorker(store, ring_of, clip_blur)
    return store
