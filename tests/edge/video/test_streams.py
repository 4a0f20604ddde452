"""A node on real RTSP cameras: outages, dead URLs, sub-streams, immediate state messages."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import av

from edge.node import EdgeNode
from protocol import Heartbeat
from tests.support.nodes import Collector, node_config, running, wait_until
from tests.support.ports import free_port


def frames_in(node: EdgeNode, cam_id: str) -> int:
    cam = node.camera(cam_id)
    assert cam is not None
    return cam.stream.frames_in


def test_camera_outage_and_return(
    tmp_workdir: Path, mosquitto: Any, rtsp_server: Callable[..., Any], sample_clip: Path, detector: Any
) -> None:
    servers = {name: rtsp_server({name: sample_clip}) for name in ("a", "b", "c")}
    cfg = node_config(
        tmp_workdir,
        mosquitto.port,
        [{"id": f"cam-{n}", "url": s.url(n)} for n, s in servers.items()],
    )
    sub = Collector(mosquitto.host, mosquitto.port, "parkguard/v1/yijia/edge-streams/heartbeat")
    node = EdgeNode(cfg, detector)
    try:
        with running(node):
            assert wait_until(lambda: all(frames_in(node, f"cam-{n}") > 10 for n in servers), 30)
            assert all(node.camera(f"cam-{n}").stream.state == "online" for n in servers)
            servers["a"].stop()  # camera a's server dies
            t_kill = time.monotonic()
            # the others never stop: their frame counters rise in every 0.5 s window of the outage
            last = {n: frames_in(node, f"cam-{n}") for n in ("b", "c")}
            while time.monotonic() - t_kill < 6:
                time.sleep(0.5)
                now = {n: frames_in(node, f"cam-{n}") for n in ("b", "c")}
                assert all(now[n] > last[n] for n in now), (last, now)
                last = now
            cam_a = node.camera("cam-a")
            assert cam_a.stream.state in ("offline", "stalled"), cam_a.stream.state
            # the state change went out at once, not with the next (30 s) heartbeat
            beats = [Heartbeat.model_validate(m) for m in sub.of_kind("heartbeat")]
            down = [b for b in beats if {c.camera: c.state for c in b.cameras}["cam-a"] != "online"]
            assert down, [[(c.camera, c.state) for c in b.cameras] for b in beats]
            before = frames_in(node, "cam-a")
            servers["a"].start()  # and comes back (same port)
            t_back = time.monotonic()
            assert wait_until(
                lambda: frames_in(node, "cam-a") > before + 5 and cam_a.stream.state == "online", 5.0
            ), (cam_a.stream.state, cam_a.stream.error, frames_in(node, "cam-a") - before)
            back_s = time.monotonic() - t_back
            analyzed = node.camera("cam-a").analyzed
            assert wait_until(lambda: node.camera("cam-a").analyzed > analyzed, 3)
            assert wait_until(
                lambda: any(
                    {c.camera: c.state for c in Heartbeat.model_validate(m).cameras}["cam-a"] == "online"
                    for m in sub.of_kind("heartbeat")[len(beats) :]
                ),
                3,
            )
            assert cam_a.stream.reconnects >= 2
            assert node.camera("cam-b").stream.reconnects == 0 and node.camera("cam-c").stream.reconnects == 0
            print(f"camera a back {back_s:.1f} s after its server restarted")
    finally:
        sub.close()


@contextmanager
def silent_tcp_port() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(2)
        for s in held:
            s.close()
        srv.close()


def test_silent_and_refusing_cameras_do_not_block_the_others(
    tmp_workdir: Path, mosquitto: Any, rtsp_server: Callable[..., Any], sample_clip: Path, detector: Any
) -> None:
    good = rtsp_server({"good": sample_clip})
    with silent_tcp_port() as silent:
        cfg = node_config(
            tmp_workdir,
            mosquitto.port,
            [
                {"id": "cam-silent", "url": f"rtsp://127.0.0.1:{silent}/live"},
                {"id": "cam-refused", "url": f"rtsp://127.0.0.1:{free_port()}/live"},
                {"id": "cam-good", "url": good.url("good")},
            ],
        )
        node = EdgeNode(cfg, detector)
        with running(node):
            t0 = time.monotonic()
            # the good camera starts as if the others were not there (open ~0.5 s + next key frame ≤ 2 s)
            assert wait_until(lambda: node.camera("cam-good").analyzed >= 3, 10)
            good_after = time.monotonic() - t0
            assert wait_until(lambda: node.camera("cam-silent").stream.error is not None, 10)
            silent_cam, refused = node.camera("cam-silent").stream, node.camera("cam-refused").stream
            assert silent_cam.state == "offline" and silent_cam.frames_in == 0, silent_cam.error
            assert refused.state == "offline" and "Connection refused" in (refused.error or "")
            # retried with backoff, while the good camera keeps going
            n = node.camera("cam-good").analyzed
            time.sleep(4)
            assert node.camera("cam-good").analyzed >= n + 5  # 2 fps
            assert refused.reconnects >= 2 and silent_cam.reconnects >= 1
        print(f"good camera analyzed 3 frames {good_after:.1f} s after start")


def test_sub_stream_for_detection_main_stream_in_the_ring(
    tmp_workdir: Path, mosquitto: Any, rtsp_server: Callable[..., Any], sample_clip: Path, detector: Any
) -> None:
    srv = rtsp_server({"main": sample_clip, "sub": sample_clip})
    cfg = node_config(
        tmp_workdir,
        mosquitto.port,
        [{"id": "cam-1", "url": srv.url("main"), "detect_url": srv.url("sub")}],
        ring={"seconds": 4},
    )
    node = EdgeNode(cfg, detector)
    with running(node):
        cam = node.camera("cam-1")
        assert cam.main is not None and cam.main.url == srv.url("main") and cam.stream.url == srv.url("sub")
        assert wait_until(lambda: cam.analyzed >= 4 and cam.ring.span() is not None, 15)
        assert wait_until(lambda: (lambda s: s is not None and s[1] - s[0] >= 3000)(cam.ring.span()), 10)
        assert cam.main.frames_in == 0 and cam.main.packets_in > 0  # main stream: demuxed, not decoded
        assert cam.stream.ring is None and cam.stream.frames_in > 0
        _first, last = cam.ring.span()
        clip = cam.ring.clip_mp4(last - 2500, last, tmp_workdir / "clip.mp4")
        with av.open(str(clip)) as c:
            frames = list(c.decode(video=0))
        assert (frames[0].width, frames[0].height) == (768, 576) and frames[0].key_frame
        dur = (frames[-1].time - frames[0].time) + 0.1
        assert 2.3 <= dur <= 4.7, dur  # 2.5 s from the key frame before (≤ 2 s GOP early)
        assert len(list(cam.ring.frames(last - 1000, last))) >= 8
        assert cam.stream.state == "online"
