"""RTSP test cameras: ``scripts/rtsp_camera.py`` run under Debian's python3 on a free port.

Usage::

    cams = RtspCameraServer({"cam1": sample_clip, "cam2": sample_clip}, tmp_path).start()
    av.open(cams.urls["cam1"], ...)
    cams.stop(); ...; cams.start()          # a camera outage: same port, same URLs
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from .ports import free_port
from .procs import ManagedProcess
from .tools import require_gst_rtsp

REPO_ROOT = Path(__file__).resolve().parents[2]
CAMERA_SCRIPT = REPO_ROOT / "scripts" / "rtsp_camera.py"
SYSTEM_PYTHON = "/usr/bin/python3"

# Options that make PyAV (FFmpeg) open these streams fast: ~0.4 s to open, then the wait for
# the next key frame (the sample has one every 2 s).
PYAV_OPTIONS = {
    "rtsp_transport": "tcp",
    "analyzeduration": "200000",
    "probesize": "65536",
    "fflags": "nobuffer",
}


class RtspCameraServer:
    """One RTSP server process with a mount per camera, each an endless live stream.

    ``mounts`` maps a camera name (``"cam1"``, the mount path without its slash) to an
    H.264 clip; ``urls`` maps the same names to ``rtsp://127.0.0.1:PORT/cam1``.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        mounts: Mapping[str, str | os.PathLike[str]],
        workdir: str | os.PathLike[str],
        *,
        port: int | None = None,
        loop: bool = True,
        ready_timeout: float = 30.0,
    ) -> None:
        if not mounts:
            raise ValueError("give at least one camera: {'cam1': clip}")
        self.mounts: dict[str, Path] = {}
        for name, clip in mounts.items():
            name = name.strip("/")
            if not name or "/" in name:
                raise ValueError(f"camera name {name!r}: use one path segment, like 'cam1'")
            path = Path(clip)
            if not path.is_file():
                raise FileNotFoundError(f"clip for {name!r} not found: {path}")
            self.mounts[name] = path.resolve()
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.loop = loop
        python = require_gst_rtsp(SYSTEM_PYTHON)
        argv: list[str] = [python, str(CAMERA_SCRIPT), "--port", str(self.port)]
        for name, clip in self.mounts.items():
            argv += ["--mount", f"/{name}", "--file", str(clip)]
        if loop:
            argv.append("--loop")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        self.process = ManagedProcess(
            argv,
            name=f"rtsp-camera-{self.port}",
            log_dir=self.workdir,
            env=env,
            ready_line=r"^READY ",
            ready_timeout=ready_timeout,
            stop_grace=5.0,
        )

    @property
    def urls(self) -> dict[str, str]:
        return {name: f"rtsp://{self.host}:{self.port}/{name}" for name in self.mounts}

    def url(self, name: str) -> str:
        return self.urls[name.strip("/")]

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def start(self) -> Self:
        """Start (or start again on the same port: the URLs stay valid)."""
        self.process.start()
        return self

    def stop(self) -> None:
        self.process.stop()

    def kill9(self) -> None:
        self.process.kill9()

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def is_running(self) -> bool:
        return self.process.is_running()

    def __enter__(self) -> Self:
        if not self.is_running():
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<RtspCameraServer {' '.join(self.urls.values())} {state}>"


@dataclass
class StreamSample:
    """What a client saw of a stream: see ``read_frames``."""

    url: str
    open_s: float  # av.open returned
    first_frame_s: float  # first decoded frame
    frames: int
    elapsed_s: float
    max_gap_s: float  # longest wait between two decoded frames
    sizes: set[tuple[int, int]] = field(default_factory=set)

    @property
    def fps(self) -> float:
        span = self.elapsed_s - self.first_frame_s
        return (self.frames - 1) / span if self.frames > 1 and span > 0 else 0.0


def read_frames(url: str, *, frames: int | None = None, duration: float | None = None) -> StreamSample:
    """Open ``url`` with PyAV like the edge does and decode ``frames`` frames or for ``duration`` s.

    Raises what PyAV raises (connection refused, 5 s read timeout) so callers see the cause.
    """
    import av  # runtime dependency of the edge; imported here so tools-only users skip it

    if frames is None and duration is None:
        frames = 1
    t0 = time.monotonic()
    container = av.open(url, options=PYAV_OPTIONS, timeout=(5.0, 5.0))
    try:
        sample = StreamSample(url, time.monotonic() - t0, 0.0, 0, 0.0, 0.0)
        last = 0.0
        for frame in container.decode(video=0):
            now = time.monotonic() - t0
            if sample.frames == 0:
                sample.first_frame_s = now
            else:
                sample.max_gap_s = max(sample.max_gap_s, now - last)
            last = now
            sample.frames += 1
            sample.sizes.add((frame.width, frame.height))
            if frames is not None and sample.frames >= frames:
                break
            if duration is not None and now >= duration:
                break
        sample.elapsed_s = time.monotonic() - t0
        return sample
    finally:
        container.close()
