"""Real photos for detector tests.

OpenCV's samples are committed under ``tests/data``. Ultralytics' ``bus.jpg`` and
``zidane.jpg`` (AGPL-3.0) are not: they are taken from the ultralytics wheel on PyPI
(downloaded, never installed) and cached under ``.cache/testdata``.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CACHE = REPO / ".cache" / "testdata"
ULTRALYTICS = "ultralytics==8.4.190"


def ultralytics_asset(name: str) -> Path:
    target = CACHE / name
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    wheels = list(CACHE.glob("ultralytics-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(CACHE), ULTRALYTICS],
            check=True,
        )
        wheels = list(CACHE.glob("ultralytics-*.whl"))
    with zipfile.ZipFile(wheels[0]) as zf:
        target.write_bytes(zf.read(f"ultralytics/assets/{name}"))
    return target


def photo(name: str) -> Path:
    local = DATA / name
    return local if local.exists() else ultralytics_asset(name)
