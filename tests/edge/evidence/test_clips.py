"""Evidence clips: built from a real ring buffer of the sample footage, faces blurred, bounded,
and carried by the event's next message (or a repeated ``end``) through the real pipeline.

The ring is filled by demuxing ``samples/vtest-walkway.mp4`` (its real H.264 packets) with
wall-clock stamps, as the stream reader does, but without waiting for real time.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import av
import numpy as np
import pytest

from edge.config import EdgeConfig, EvidenceConfig
from edge.detect.detector import Detector
from edge.detect.manifest import ResolvedModel, load_manifest
from edge.evidence.blur import make_blurrer
from edge.evidence.clips import ClipJob, ClipWorker, PeopleHistory, encode_h264
from edge.evidence.store import EvidenceStore
from edge.pipeline import CameraPipeline
from edge.video.ringbuffer import RingBuffer, StreamInfo
from protocol import EventPhase

REPO = Path(__file__).resolve().parents[3]
MANIFEST = REPO / "models" / "manifest.yaml"
T0 = 1_800_000_000_000


def fill_ring(clip: Path, seconds: float = 40.0, until_s: float = 30.0) -> RingBuffer:
    ring = RingBuffer(seconds=seconds, max_bytes=64 * 1024 * 1024)
    with av.open(str(clip)) as c:
        vs = c.streams.video[0]
        ring.set_stream(StreamInfo(vs))
        for pkt in c.demux(vs):
            if pkt.pts is None or pkt.size == 0:
                continue
            ts = T0 + round(float(pkt.pts * pkt.time_base) * 1000)
            dts = T0 + round(float((pkt.dts if pkt.dts is not None else pkt.pts) * pkt.time_base) * 1000)
            ring.add(bytes(pkt), ts, dts, pkt.is_keyframe)
            if ts > T0 + until_s * 1000:
                break
    return ring


@pytest.fixture(scope="module")
def ring(sample_clip: Path) -> RingBuffer:
    return fill_ring(sample_clip)


@pytest.fixture(scope="module")
def models() -> dict[str, ResolvedModel]:
    return load_manifest(MANIFEST)


@pytest.fixture(scope="module")
def objects(models: dict[str, ResolvedModel]) -> Detector:
    return Detector(models["nanodet-coco"], threads=1)


@pytest.fixture(scope="module")
def history(ring: RingBuffer, objects: Detector) -> PeopleHistory:
    """People of the analyzed frames (5 fps) from 4 s to 14 s, as the pipeline records them."""
    h = PeopleHistory(60_000)
    for i, (ts, img) in enumerate(ring.frames(T0 + 4000, T0 + 14_000)):
        if i % 2 == 0:
            h.add(ts, objects.detect(img))
    return h


def decode(path: Path) -> tuple[av.video.stream.VideoStream, list[tuple[float, np.ndarray]]]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [(float(f.time), f.to_ndarray(format="bgr24")) for f in c.decode(video=0)]
        return v, frames


@pytest.mark.footage  # decodes and re-encodes the footage with the face model
def test_clip_is_h264_mp4_of_the_window_with_faces_blurred(
    tmp_path: Path, ring: RingBuffer, history: PeopleHistory
) -> None:
    store = EvidenceStore(tmp_path)
    blurrer = make_blurrer(MANIFEST, "blazeface", 0.5, True, 40)
    worker = ClipWorker(store, lambda cam: ring if cam == "cam-1" else None, blurrer)
    item = worker.build(ClipJob("cam-1", "ev-1", T0 + 6000, T0 + 11_000, history))
    assert item is not None and item.kind == "clip" and item.content_type == "video/mp4"
    path = store.path_for(item.sha256, "mp4")
    assert path.stat().st_size == item.size
    v, frames = decode(path)
    assert v.codec_context.name == "h264" and (v.width, v.height) == (768, 576)
    # re-encoded from the decoded window: exactly the window, 10 fps
    assert 49 <= len(frames) <= 52 and abs(frames[-1][0] - frames[0][0] - 5.0) < 0.15
    assert blurrer.heads_guessed + blurrer.faces_found > len(frames)  # several people a frame

    # frame by frame against the ring's own pictures: the people's heads changed, the lawn did not
    originals = [img for _, img in ring.frames(T0 + 6000, T0 + 11_000)]
    assert len(originals) == len(frames)
    diffs_head, diffs_rest = [], []
    for (ts, orig), (_, got) in zip(ring.frames(T0 + 6000, T0 + 11_000), frames, strict=True):
        people = history.near(ts)
        assert people is not None
        regions = blurrer.regions(orig, _people(people, orig))
        mask = np.zeros(orig.shape[:2], bool)
        for x1, y1, x2, y2 in regions:
            mask[y1:y2, x1:x2] = True
        diff = np.abs(orig.astype(np.int16) - got.astype(np.int16)).mean(axis=2)
        if mask.any():
            diffs_head.append(float(diff[mask].mean()))
        diffs_rest.append(float(diff[~mask].mean()))
    assert np.mean(diffs_rest) < 5.0, np.mean(diffs_rest)  # H.264 re-encoding noise only (~3)
    assert np.mean(diffs_head) > 5 * np.mean(diffs_rest), (np.mean(diffs_head), np.mean(diffs_rest))


def _people(dets, img):  # type: ignore[no-untyped-def]
    from edge.evidence.blur import people_of

    return people_of(dets, img.shape[1], img.shape[0])


def test_without_blur_the_clip_is_the_cameras_packets(tmp_path: Path, ring: RingBuffer) -> None:
    store = EvidenceStore(tmp_path, settings=EvidenceConfig(blur_faces=False))
    worker = ClipWorker(store, lambda cam: ring, None)
    item = worker.build(ClipJob("cam-1", "ev-1", T0 + 6000, T0 + 9000))
    assert item is not None
    ring.clip_mp4(T0 + 6000, T0 + 9000, tmp_path / "direct.mp4")
    assert store.path_for(item.sha256, "mp4").read_bytes() == (tmp_path / "direct.mp4").read_bytes()


def test_clip_bounds_side_bytes_and_seconds(tmp_path: Path, ring: RingBuffer) -> None:
    small = EvidenceConfig(blur_faces=False, clip_max_side=320, clip_max_mb=0.15, clip_max_s=4)
    store = EvidenceStore(tmp_path, settings=small)
    worker = ClipWorker(store, lambda cam: ring, None)
    job = ClipJob("cam-1", "ev-1", T0 + 5000, T0 + 25_000)
    worker.schedule(job)
    assert job.end_ms - job.start_ms == 4000  # clip_max_s cuts it
    assert worker.run_once() == 1  # the window is in the ring: due at once
    [(eid, item)] = worker.take("cam-1")
    assert eid == "ev-1" and item is not None and item.size <= 0.15 * 1024 * 1024
    v, frames = decode(store.path_for(item.sha256, "mp4"))
    assert v.codec_context.name == "h264" and max(v.width, v.height) <= 320 and v.width % 2 == 0
    assert 3.5 <= frames[-1][0] - frames[0][0] <= 4.0
    assert worker.take("cam-1") == []


def test_clip_waits_for_its_post_window(tmp_path: Path, sample_clip: Path) -> None:
    """A window that ends after what the ring holds waits (the camera keeps filling the ring);
    a camera that stopped gets its clip from what there is, a few seconds late."""
    ring = fill_ring(sample_clip, until_s=8)
    store = EvidenceStore(tmp_path, settings=EvidenceConfig(blur_faces=False))
    worker = ClipWorker(store, lambda cam: ring, None)
    end = ring.span()[1] + 2000
    worker.schedule(ClipJob("cam-1", "ev-1", T0 + 3000, end))
    worker.schedule(ClipJob("cam-1", "ev-2", T0 + 2000, T0 + 6000))
    assert worker.run_once() == 1 and [e for e, _ in worker.take("cam-1")] == ["ev-2"]
    assert worker.pending == 1
    # the clock is far past the window (T0 is in 2027): stopping builds it from what the ring has
    worker.stop(drain_s=5)
    [(eid, item)] = worker.take("cam-1")
    assert eid == "ev-1" and item is not None


def test_no_ring_no_clip_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    worker = ClipWorker(EvidenceStore(tmp_path), lambda cam: None, None)
    with caplog.at_level(logging.WARNING, logger="parkguard.edge.evidence"):
        assert worker.build(ClipJob("cam-x", "ev-1", T0, T0 + 1000)) is None
    assert "camera cam-x: no ring buffer" in caplog.text


def test_encode_refuses_nothing() -> None:
    with pytest.raises(LookupError):
        encode_h264([], 640, 26, None)


# ------------------------------------------------------------------ through the real pipeline

WALKWAY = [[0.0, 0.25], [1.0, 0.2], [1.0, 0.75], [0.0, 0.8]]


def pipeline_cfg(tmp_path: Path, **rule: object) -> EdgeConfig:
    return EdgeConfig.model_validate(
        {
            "site": "yijia",
            "node": "edge-01",
            "models": {"manifest": str(MANIFEST)},
            "evidence_dir": str(tmp_path / "ev"),
            "state_dir": str(tmp_path / "st"),
            "evidence": {"pre_s": 2, "post_s": 2},
            "cameras": [
                {
                    "id": "cam-1",
                    "url": "unused.mp4",
                    "zones": [{"id": "walkway", "points": WALKWAY}],
                    "rules": [
                        {
                            "id": "walkway-intrusion",
                            "type": "intrusion",
                            "zone": "walkway",
                            "confirm_frames": 2,
                            "cooldown_s": 0,
                            **rule,
                        }
                    ],
                }
            ],
        }
    )


def run_pipeline(
    pipe: CameraPipeline, ring: RingBuffer, objects: Detector, until_ms: int, on_frame=None
) -> list:  # type: ignore[no-untyped-def]
    out = []
    for i, (ts, img) in enumerate(ring.frames(T0, until_ms)):
        if i % 2:
            continue  # 5 fps analysis of a 10 fps stream
        out += pipe.process(img, ts, objects.detect(img))
        if on_frame is not None:
            on_frame(ts, out)
    return out


@pytest.mark.footage  # decodes and re-encodes the footage with the face model
def test_pipeline_new_has_snapshot_and_a_later_update_has_the_clip(
    tmp_path: Path, ring: RingBuffer, objects: Detector
) -> None:
    cfg = pipeline_cfg(tmp_path, update_interval_s=1)
    store = EvidenceStore(cfg.evidence_dir, settings=cfg.evidence)
    store.clips = ClipWorker(store, lambda cam: ring, make_blurrer(MANIFEST, "blazeface", 0.5, True, 40))
    pipe = CameraPipeline(cfg, cfg.cameras[0], objects.labels, store)
    events = run_pipeline(pipe, ring, objects, T0 + 12_000, lambda ts, out: store.clips.run_once())
    new = next(e for e in events if e.phase is EventPhase.NEW)
    assert [i.kind for i in new.evidence] == ["snapshot"]
    later = [e for e in events if e.event_id == new.event_id and e.seq > 0]
    with_clip = [e for e in later if any(i.kind == "clip" for i in e.evidence)]
    assert len(with_clip) == 1, [(e.phase, e.seq, e.evidence) for e in later]
    clip = next(i for i in with_clip[0].evidence if i.kind == "clip")
    _v, frames = decode(store.path_for(clip.sha256, "mp4"))
    # from pre_s before the event's start (or the ring's first frame) to post_s after its new message
    expect = (new.last_ms + 2000 - max(new.started_ms - 2000, T0)) / 1000
    assert abs((frames[-1][0] - frames[0][0]) - expect) <= 0.2, (frames[-1][0], expect)
    # the snapshot is there too, blurred (the store's blurrer is the face model's default: fallback)
    assert store.path_for(new.evidence[0].sha256, "jpg").is_file()


def test_pipeline_event_over_before_its_clip_gets_a_repeated_end(
    tmp_path: Path, ring: RingBuffer, objects: Detector
) -> None:
    cfg = pipeline_cfg(tmp_path)
    store = EvidenceStore(cfg.evidence_dir, settings=cfg.evidence)
    store.clips = ClipWorker(store, lambda cam: ring, None)
    pipe = CameraPipeline(cfg, cfg.cameras[0], objects.labels, store)
    events = run_pipeline(pipe, ring, objects, T0 + 6000)
    events += pipe.finish(T0 + 6000)  # the camera went away: the event ends, its clip is not made yet
    end = events[-1]
    assert end.phase is EventPhase.END and not end.evidence
    assert store.clips.run_once() >= 1
    late = pipe.collect_clips()
    assert len(late) == 1
    again = late[0]
    assert (again.event_id, again.phase, again.seq) == (end.event_id, EventPhase.END, end.seq + 1)
    assert again.ended_ms == end.ended_ms and [i.kind for i in again.evidence] == ["clip"]
    assert pipe.collect_clips() == []


def test_worker_thread_delivers(tmp_path: Path, ring: RingBuffer) -> None:
    store = EvidenceStore(tmp_path, settings=EvidenceConfig(blur_faces=False))
    worker = ClipWorker(store, lambda cam: ring, None)
    worker.start()
    try:
        worker.schedule(ClipJob("cam-1", "ev-1", T0 + 1000, T0 + 3000))
        deadline = time.monotonic() + 10
        got: list = []
        while not got and time.monotonic() < deadline:
            got = worker.take("cam-1")
            time.sleep(0.05)
        assert got and got[0][0] == "ev-1" and got[0][1] is not None
    finally:
        worker.stop(drain_s=1)


def test_evidence_folder_is_bounded_oldest_first(tmp_path: Path, ring: RingBuffer) -> None:
    """Without a worker thread (analyze) the store prunes as it writes; the newest files stay."""
    store = EvidenceStore(tmp_path, settings=EvidenceConfig(max_disk_mb=0.2, blur_faces=False))
    items = []
    for i, (_, img) in enumerate(ring.frames(T0, T0 + 3000)):
        if i % 3 == 0:
            items.append(store.save_snapshot(img))
            time.sleep(0.01)  # distinct modification times
    sizes = [i.size for i in items]
    assert sum(sizes) > 0.2 * 1024 * 1024, sizes  # more than the budget was written
    kept = [i for i in items if store.path_for(i.sha256, "jpg").exists()]
    assert 0 < len(kept) < len(items) and store.pruned == len(items) - len(kept)
    assert kept == items[-len(kept) :]  # the oldest went first
    assert sum(i.size for i in kept) <= 0.2 * 1024 * 1024


def test_rebuilt_pipeline_takes_over_the_clips_it_waits_for(
    tmp_path: Path, ring: RingBuffer, objects: Detector
) -> None:
    """A live config change rebuilds the camera's pipeline while a clip is being made: the clip
    still reaches its event (carried rules keep their events running)."""
    cfg = pipeline_cfg(tmp_path, update_interval_s=1)
    store = EvidenceStore(cfg.evidence_dir, settings=cfg.evidence)
    store.clips = ClipWorker(store, lambda cam: ring, None)
    old = CameraPipeline(cfg, cfg.cameras[0], objects.labels, store)
    events = []
    frames = [(ts, img) for i, (ts, img) in enumerate(ring.frames(T0, T0 + 14_000)) if i % 2 == 0]
    done = 0
    for ts, img in frames:
        events += old.process(img, ts, objects.detect(img))
        done += 1
        if events:
            break
    new_msg = events[0]
    assert new_msg.phase is EventPhase.NEW
    rebuilt = CameraPipeline(cfg, cfg.cameras[0], objects.labels, store)
    assert rebuilt.take_over(old, frames[done][0], keep_open=True) == []  # unchanged rules carry on
    assert store.clips.run_once() == 1
    later = []
    for ts, img in frames[done:]:
        later += rebuilt.process(img, ts, objects.detect(img))
        if any(i.kind == "clip" for e in later for i in e.evidence):
            break
    carrier = [e for e in later if any(i.kind == "clip" for i in e.evidence)]
    assert carrier and carrier[0].event_id == new_msg.event_id
    assert old.collect_clips() == []


@pytest.mark.footage  # runs the detector over the footage
def test_clip_follows_its_event_to_the_end(tmp_path: Path, ring: RingBuffer, objects: Detector) -> None:
    """A clip not built yet while its event goes on covers the whole event plus post_s (a worker
    that is behind, or an event longer than post_s), bounded by clip_max_s."""
    cfg = pipeline_cfg(tmp_path, end_after_s=1)
    store = EvidenceStore(cfg.evidence_dir, settings=cfg.evidence)
    store.clips = ClipWorker(store, lambda cam: ring, None)
    pipe = CameraPipeline(cfg, cfg.cameras[0], objects.labels, store)
    events = run_pipeline(pipe, ring, objects, T0 + 25_000)
    events += pipe.finish(T0 + 25_000)  # someone is on the walkway all along: the event runs on
    new = next(e for e in events if e.phase is EventPhase.NEW)
    end = next(e for e in events if e.event_id == new.event_id and e.phase is EventPhase.END)
    assert end.ended_ms - new.last_ms > 2000, "the event must outlast post_s for this test"
    assert store.clips.run_once() >= 1
    clip = next(
        i
        for e in pipe.collect_clips() + events
        if e.event_id == new.event_id
        for i in e.evidence
        if i.kind == "clip"
    )
    _v, frames = decode(store.path_for(clip.sha256, "mp4"))
    start = max(new.started_ms - 2000, T0)
    expect = (min(end.ended_ms + 2000, start + 20_000) - start) / 1000
    assert abs((frames[-1][0] - frames[0][0]) - expect) <= 2.1, (frames[-1][0] - frames[0][0], expect)
    assert frames[-1][0] - frames[0][0] > (new.last_ms + 2000 - start) / 1000 + 0.5
