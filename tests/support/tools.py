"""System programs the tests need, with the Debian package that provides each."""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess

# program -> Debian package
DEBIAN_PACKAGES: dict[str, str] = {
    "mosquitto": "mosquitto",
    "mosquitto_passwd": "mosquitto",
    "mosquitto_pub": "mosquitto-clients",
    "mosquitto_sub": "mosquitto-clients",
    "ffmpeg": "ffmpeg",
    "ffprobe": "ffmpeg",
    "gst-launch-1.0": "gstreamer1.0-tools",
    "chromium": "chromium",
    "pdftoppm": "poppler-utils",
    "initdb": "postgresql",
    "postgres": "postgresql",
    "pg_ctl": "postgresql",
    "nats-server": "nats-server",
}

RTSP_CAMERA_PACKAGES = (
    "python3-gi gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good "
    "gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav ffmpeg"
)

# Programs such as mosquitto live in sbin, which a non-root PATH often lacks; scripts/setup.sh
# unpacks nats-server under .cache/nats rather than installing its service.
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_EXTRA_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin", os.path.join(_REPO, ".cache", "nats", "usr", "sbin"))


class MissingTool(RuntimeError):
    """A system program or library the tests need is not installed."""


def _install_hint(package: str) -> str:
    return f"install it with `scripts/setup.sh test` (or `sudo apt-get install {package}`)"


def find_binary(name: str) -> str | None:
    """Absolute path of a program on PATH or in the sbin directories, or None."""
    path = os.environ.get("PATH", os.defpath) + os.pathsep + os.pathsep.join(_EXTRA_DIRS)
    return shutil.which(name, path=path)


def require_binary(name: str, package: str | None = None) -> str:
    """Absolute path of program ``name``; MissingTool naming its Debian package if absent."""
    found = find_binary(name)
    if found is None:
        package = package or DEBIAN_PACKAGES.get(name, name)
        raise MissingTool(f"`{name}` not found (Debian package: {package}); {_install_hint(package)}")
    return found


def postgres_bindir() -> str | None:
    """The bin directory of the newest PostgreSQL server installed from Debian packages."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if found:
        return os.path.dirname(found[-1])
    initdb = find_binary("initdb")
    return os.path.dirname(initdb) if initdb else None


@functools.cache
def require_gst_rtsp(python: str = "/usr/bin/python3") -> str:
    """Check that ``python`` can import the GStreamer RTSP server bindings; return ``python``."""
    if not os.path.exists(python):
        raise MissingTool(
            f"{python} not found: the RTSP test camera needs Debian's python3 (package python3)"
        )
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
        "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
        "assert Gst.ElementFactory.find('tsdemux') and Gst.ElementFactory.find('rtph264pay'), 'plugins'"
    )
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["?"])[-1]
        raise MissingTool(
            f"the RTSP test camera cannot load GStreamer's RTSP server under {python} ({detail}); "
            f"{_install_hint(RTSP_CAMERA_PACKAGES)}"
        )
    require_binary("ffmpeg")
    return python
