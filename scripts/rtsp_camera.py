#!/usr/bin/python3
"""RTSP test camera: serves H.264 clips as live RTSP streams, for tests and demos.

Runs under Debian's ``/usr/bin/python3`` (GstRtspServer comes from ``python3-gi`` and
``gir1.2-gst-rtsp-server-1.0``, which a virtual environment does not see)::

    /usr/bin/python3 scripts/rtsp_camera.py --port 8554 \\
        --mount /cam1 --file samples/vtest-walkway.mp4 \\
        --mount /cam2 --file samples/vtest-walkway.mp4 --loop

Each mount is fed by its own ``ffmpeg -re [-stream_loop -1] -i CLIP -c copy -f mpegts
udp://127.0.0.1:UDPPORT`` and served by a *shared* media factory
``udpsrc ! tsdemux ! h264parse ! rtph264pay``, so any number of clients join the same
live stream (like a real camera) and nothing is re-encoded. Each media is prepared at start
and kept prepared, so READY means the stream is flowing, DESCRIBE answers at once, and a new
client only waits for the next key frame (the sample has one every 2 s).

With ``--loop`` every clip repeats forever. Without it each clip plays once; the server
exits with status 0 once every clip has ended. An ffmpeg that fails (non-zero status)
makes the server exit with status 1.

When the server listens it prints one line on stdout::

    READY rtsp://127.0.0.1:8554/cam1 rtsp://127.0.0.1:8554/cam2

SIGTERM and SIGINT stop it cleanly: the ffmpeg feeders are terminated and reaped. The
feeders also get SIGKILL from the kernel if this process dies without cleaning up
(``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
except (ImportError, ValueError) as exc:  # pragma: no cover - depends on the system
    sys.stderr.write(
        f"rtsp_camera: GStreamer RTSP server bindings are missing ({exc}).\n"
        "Run this script with Debian's /usr/bin/python3 and install: python3-gi gstreamer1.0-rtsp "
        "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad\n"
    )
    sys.exit(2)

PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
FEEDER_GRACE_S = 3.0
PREPARE_TIMEOUT_S = 15.0


def log(message: str) -> None:
    sys.stderr.write(f"rtsp_camera: {message}\n")
    sys.stderr.flush()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# prctl resolved (and called once) now, before GStreamer starts threads: the feeders' preexec
# hook runs between fork and exec, where a dlopen/dlsym could meet ld.so's lock held by a
# thread that no longer exists in the child ("Inconsistency detected by ld.so").
_prctl = ctypes.CDLL(None, use_errno=True).prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int
_prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)


def _die_with_parent() -> None:
    """preexec_fn for the feeders: SIGKILL them if this process dies."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class Mount:
    path: str
    clip: Path
    udp_port: int = 0
    feeder: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    factory: GstRtspServer.RTSPMediaFactory | None = field(default=None, repr=False)
    media: GstRtspServer.RTSPMedia | None = field(default=None, repr=False)
    prepared: bool = False
    external_udp: int | None = None  # fed by another process (MPEG-TS on this UDP port): no ffmpeg here

    def feeder_command(self, loop: bool) -> list[str]:
        cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re"]
        if loop:
            cmd += ["-stream_loop", "-1"]
        cmd += [
            "-i",
            str(self.clip),
            "-map",
            "0:v:0",
            "-c",
            "copy",
            "-f",
            "mpegts",
            f"udp://127.0.0.1:{self.udp_port}?pkt_size=1316",
        ]
        return cmd

    def launch_line(self) -> str:
        # tsdemux: with its default PCR-based timing (latency 700 ms) the server drops most
        # frames of this live feed (3 of every 16 arrive); timestamps from the PTS fix it.
        # config-interval=-1: SPS/PPS before every key frame, so clients join mid-stream.
        return (
            f"( udpsrc address=127.0.0.1 port={self.udp_port} buffer-size=4194304 "
            'caps="video/mpegts, systemstream=(boolean)true, packetsize=(int)188" '
            "! tsdemux ignore-pcr=true latency=0 ! h264parse "
            "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
        )


class Camera:
    def __init__(self, address: str, port: int, mounts: list[Mount], loop: bool) -> None:
        self.address = address
        self.port = port
        self.mounts = mounts
        self.loop = loop
        self.exit_code = 0
        self.stopping = False
        self.ready = False
        self.main_loop = GLib.MainLoop()
        self.server = GstRtspServer.RTSPServer()

    def start(self) -> None:
        self.server.set_address(self.address)
        self.server.set_service(str(self.port))
        points = self.server.get_mount_points()
        for mount in self.mounts:
            mount.udp_port = mount.external_udp or free_udp_port()
            factory = GstRtspServer.RTSPMediaFactory()
            factory.set_launch(mount.launch_line())
            factory.set_shared(True)
            points.add_factory(mount.path, factory)
            mount.factory = factory
        if self.server.attach(None) == 0:
            raise RuntimeError(f"cannot listen on {self.address}:{self.port}")
        self.port = self.server.get_bound_port()
        for mount in self.mounts:
            if mount.external_udp is not None:
                log(f"{mount.path} <- MPEG-TS on udp {mount.udp_port} (fed by another process)")
                continue
            mount.feeder = subprocess.Popen(
                mount.feeder_command(self.loop),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
            log(f"{mount.path} <- {mount.clip} (udp {mount.udp_port}, ffmpeg pid {mount.feeder.pid})")
        for mount in self.mounts:  # after all forks: preparing starts threads
            self.preprepare(mount)
        GLib.timeout_add(int(PREPARE_TIMEOUT_S * 1000), self.on_prepare_timeout)

    def preprepare(self, mount: Mount) -> None:
        """Build and prepare the shared media now and keep it prepared for the server's life.

        The server caches a shared media by port and path, so clients get this one: DESCRIBE
        answers at once (the stream's caps are known) and a client never waits for a pipeline
        to start and find a key frame. Holding our own prepare keeps it up between clients.
        """
        assert mount.factory is not None
        result, url = GstRtsp.RTSPUrl.parse(f"rtsp://127.0.0.1:{self.port}{mount.path}")
        if result != GstRtsp.RTSPResult.OK:
            raise RuntimeError(f"bad mount path {mount.path!r}")
        media = mount.factory.construct(url)
        if media is None:
            raise RuntimeError(f"cannot build the pipeline of {mount.path}: {mount.launch_line()}")
        mount.media = media
        media.connect("unprepared", self.on_unprepared, mount)
        # prepare() blocks until the pipeline has prerolled, which needs the media's bus watch,
        # attached to the default main context (thread None): so prepare in a helper thread
        # while the main loop runs.
        threading.Thread(target=self.prepare_media, args=(mount,), daemon=True).start()

    def prepare_media(self, mount: Mount) -> None:
        assert mount.media is not None
        if mount.media.prepare(None):
            GLib.idle_add(self.on_prepared, mount)
        else:
            GLib.idle_add(self.on_prepare_failed, mount)

    def on_prepare_failed(self, mount: Mount) -> bool:
        log(f"cannot start the pipeline of {mount.path}; stopping")
        self.exit_code = 1
        self.stopping = True
        self.main_loop.quit()
        return False

    def on_prepared(self, mount: Mount) -> bool:
        mount.prepared = True
        if all(m.prepared for m in self.mounts) and not self.ready:
            self.ready = True
            host = "127.0.0.1" if self.address in ("0.0.0.0", "::", "") else self.address
            urls = " ".join(f"rtsp://{host}:{self.port}{m.path}" for m in self.mounts)
            print(f"READY {urls}", flush=True)
        return False

    def on_unprepared(self, _media: GstRtspServer.RTSPMedia, mount: Mount) -> None:
        mount.prepared = False
        if not self.stopping:
            log(f"the pipeline of {mount.path} stopped; stopping")
            self.exit_code = 1
            self.main_loop.quit()

    def on_prepare_timeout(self) -> bool:
        if not self.ready:
            waiting = ", ".join(m.path for m in self.mounts if not m.prepared)
            log(f"no stream after {PREPARE_TIMEOUT_S:.0f} s on {waiting}; stopping")
            self.exit_code = 1
            self.main_loop.quit()
        return False

    def watch(self) -> bool:
        """Periodic check of the feeders; ends the main loop when one fails or all finish."""
        finished = 0
        for mount in self.mounts:
            if mount.feeder is None:  # fed from outside: runs until stopped
                continue
            code = mount.feeder.poll()
            if code is None:
                continue
            if code != 0 or self.loop:
                log(f"ffmpeg for {mount.path} exited with status {code}; stopping")
                self.exit_code = 1
                self.main_loop.quit()
                return False
            finished += 1
        if finished == len(self.mounts):
            log("all clips have ended; stopping")
            self.main_loop.quit()
            return False
        return True

    def on_signal(self, signum: int) -> bool:
        log(f"signal {signal.Signals(signum).name}; stopping")
        self.stopping = True
        self.main_loop.quit()
        return False

    def run(self) -> int:
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, self.on_signal, signal.SIGTERM)
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, self.on_signal, signal.SIGINT)
        try:
            self.start()
            GLib.timeout_add(200, self.watch)
            self.main_loop.run()
        finally:
            self.stopping = True
            self.stop_feeders()
        return self.exit_code

    def stop_feeders(self) -> None:
        feeders = [m.feeder for m in self.mounts if m.feeder is not None and m.feeder.poll() is None]
        for proc in feeders:
            proc.terminate()
        deadline = time.monotonic() + FEEDER_GRACE_S
        for proc in feeders:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8554, help="RTSP port (0: any free port)")
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--mount", action="append", default=[], help="mount path, e.g. /cam1 (repeat; pairs with --file)"
    )
    parser.add_argument(
        "--file",
        action="append",
        default=[],
        type=Path,
        help="H.264 clip served at the mount before it; udp:PORT: a live MPEG-TS feed another process "
        "sends to 127.0.0.1:PORT (bench/live_video.py's time-stamped camera)",
    )
    parser.add_argument("--loop", action="store_true", help="repeat the clips forever (a live camera)")
    args = parser.parse_args(argv)
    if not args.mount:
        parser.error("give at least one --mount PATH --file CLIP pair")
    if len(args.mount) != len(args.file):
        parser.error(f"{len(args.mount)} --mount but {len(args.file)} --file: give one --file per --mount")
    seen: set[str] = set()
    for i, path in enumerate(args.mount):
        if not path.startswith("/"):
            args.mount[i] = path = "/" + path
        if path in seen:
            parser.error(f"mount {path} given twice")
        seen.add(path)
    for clip in args.file:
        if str(clip).startswith("udp:") and str(clip)[4:].isdigit():
            continue
        if not clip.is_file():
            parser.error(f"clip not found: {clip}")
    if shutil.which("ffmpeg") is None:
        parser.error("ffmpeg not found on PATH (Debian package: ffmpeg)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    Gst.init(None)
    mounts = [
        Mount(path, clip, external_udp=int(str(clip)[4:]))
        if str(clip).startswith("udp:")
        else Mount(path, clip.resolve())
        for path, clip in zip(args.mount, args.file, strict=True)
    ]
    camera = Camera(args.address, args.port, mounts, args.loop)
    try:
        return camera.run()
    except RuntimeError as exc:
        log(str(exc))
        return 1


if __name__ == "__main__":
    os.environ.setdefault("GST_DEBUG_NO_COLOR", "1")
    sys.exit(main())
