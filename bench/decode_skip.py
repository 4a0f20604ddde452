"""Decoding cost with and without skipping non-reference frames, measured in the same run.

    python bench/decode_skip.py [--seconds 8] [--size 1280x720]

A clip with B-frames (libx264, no B-pyramid: its B-frames are non-reference, as in many
cameras' "smart" or SVC modes) and the bundled sample (I and P frames only, like most IP
cameras) are read by the node's real reader (looping, as fast as it decodes) with the analysis
at the stream's rate (every frame decoded) and at 5 fps (non-reference frames skipped). Prints
decode CPU ms per packet (the reader's own histogram) and frames decoded per packet.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge.config.stream import StreamOptions  # noqa: E402
from edge.video.stream import CameraStream  # noqa: E402


def run(clip: Path, analysis_fps: float, seconds: float) -> tuple[float, float, int]:
    reader = CameraStream("bench", str(clip), StreamOptions(), realtime=False, analysis_fps=analysis_fps)
    reader.start()
    time.sleep(seconds)
    reader.stop()
    h = reader.decode_hist
    return h.sum / max(1, h.count), reader.frames_in / max(1, reader.packets_in), reader.packets_in


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--size", default="1280x720")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bclip = Path(tmp) / "bframes.mp4"
        subprocess.run(
            [
                *("ffmpeg", "-v", "error", "-f", "lavfi"),
                *("-i", f"testsrc2=size={args.size}:rate=25:duration=20"),
                *("-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-x264-params", "b-pyramid=none"),
                *("-g", "50", "-pix_fmt", "yuv420p", str(bclip)),
            ],
            check=True,
        )
        for name, clip, rate in (
            (f"B-frames {args.size} 25 fps", bclip, 25.0),
            ("sample vtest-walkway (I/P only) 10 fps", REPO / "samples" / "vtest-walkway.mp4", 10.0),
        ):
            full = run(clip, rate, args.seconds)
            skip = run(clip, 5 if rate >= 10 else rate, args.seconds)
            print(
                f"RESULT {name}: every frame {full[0]:.2f} ms/packet ({full[1]:.2f} frames/packet, "
                f"{full[2]} packets); analysis 5 fps {skip[0]:.2f} ms/packet ({skip[1]:.2f} frames/packet, "
                f"{skip[2]} packets); decode cost x{skip[0] / full[0]:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
