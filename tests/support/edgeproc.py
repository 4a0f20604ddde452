"""An edge node as a real process (``parkguard-edge run``) on the bundled footage."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.procs import ManagedProcess

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CLIP = REPO / "samples" / "vtest-walkway.mp4"


def edge_process(workdir: Path, config: Path) -> ManagedProcess:
    """``parkguard-edge run --config …``, ready once it logs that it runs; logs in ``workdir``."""
    return ManagedProcess(
        [BIN / "parkguard-edge", "run", "--config", config],
        name="edge",
        log_dir=workdir,
        ready_line="running",
        ready_stream="any",
        ready_timeout=60,
        stop_grace=20,
    )
