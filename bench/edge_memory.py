"""Resident memory of a running node process with 1 and 8 cameras (goal ≤ 150 MB + 30 MB/camera),
and what each component of a node adds (``--components``: imported / loaded one after the other
in a fresh process, RSS read after each step).

    python bench/edge_memory.py [--cameras 1 8] [--seconds 20] [--components | --no-components]

Each camera is the sample clip played in real time; default config otherwise (NanoDet, tracking,
motion gating, a 10 s ring buffer per camera). RSS is read from /proc after ``--seconds``
(rings full), with the peak (VmHWM). A node with no camera work is not possible (the config needs
one), so the per-camera figure is the slope between the runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from edge_common import CLIP, REPO, goal


def status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(n: int, seconds: float, tmp: Path) -> tuple[float, float]:
    cfg = {
        "site": "bench",
        "node": f"mem-{n}",
        "evidence_dir": str(tmp / "ev"),
        "state_dir": str(tmp / f"state-{n}"),
        "metrics_port": 0,
        "mqtt": {"host": "127.0.0.1", "port": 1883},
        "models": {"manifest": str(REPO / "models" / "manifest.yaml"), "threads": 2},
        "analysis_fps": 2,
        "cameras": [{"id": f"cam-{i:02d}", "url": str(CLIP)} for i in range(n)],
    }
    path = tmp / f"edge-{n}.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    exe = Path(sys.executable).parent / "parkguard-edge"
    proc = subprocess.Popen(
        [str(exe), "--log-level", "WARNING", "run", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(seconds)
        if proc.poll() is not None:
            raise SystemExit(f"node with {n} camera(s) exited with {proc.returncode}")
        return status_mb(proc.pid, "VmRSS"), status_mb(proc.pid, "VmHWM")
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(30)


COMPONENTS = """
import gc, sys
from pathlib import Path

def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

manifest = sys.argv[1]
steps = []
last = rss()
def step(name):
    global last
    gc.collect()
    now = rss()
    print(f"RESULT component={name} rss_mb={now:.0f} added_mb={now - last:.1f}", flush=True)
    last = now

step("python")
import numpy, cv2, av  # noqa
step("numpy+opencv+pyav")
import onnxruntime  # noqa
step("onnxruntime")
import pydantic, paho.mqtt.client  # noqa
from edge.node import EdgeNode  # noqa
step("edge.node (config, rules, comms)")
from edge.config import ModelsConfig
from edge.detect.detector import load_detector
det = load_detector(ModelsConfig(manifest=manifest, threads=2))
det.warmup()
step("detector session (nanodet-coco, warmed up)")
from edge.config import TrackerConfig
from edge.track.tracker import Tracker
Tracker(TrackerConfig(), 5.0, {"person"})
step("tracker (supervision ByteTrack + scipy)")
from edge.detect.pose import pose_estimator
pose_estimator(ModelsConfig(manifest=manifest, threads=2))
step("pose session (movenet-multipose)")
from edge.evidence.blur import make_blurrer
import numpy as np
make_blurrer(Path(manifest), "blazeface", 0.5, True, 40).blur(np.zeros((480, 640, 3), np.uint8), [])
step("face blur session (blazeface)")
"""


def components() -> None:
    """RSS after each component, in a fresh process (the order is the order a node loads them)."""
    res = subprocess.run(
        [sys.executable, "-c", COMPONENTS, str(REPO / "models" / "manifest.yaml")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    if res.returncode != 0:
        raise SystemExit(f"components run failed:\n{res.stderr[-2000:]}")
    print(res.stdout, end="", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--components", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()
    if args.components:
        components()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.cameras:
            rss, peak = run(n, args.seconds, Path(tmp))
            results[n] = rss
            limit = 150 + 30 * n
            print(
                f"RESULT cameras={n} rss_mb={rss:.0f} peak_mb={peak:.0f} goal_mb={limit} "
                f"{'OK' if rss <= limit else 'OVER'}",
                flush=True,
            )
    if len(results) >= 2:
        (n1, r1), (n2, r2) = sorted(results.items())[0], sorted(results.items())[-1]
        per = (r2 - r1) / (n2 - n1)
        print(f"RESULT per_camera_mb={per:.1f} base_mb={r1 - per * n1:.0f}")
    for n, rss in sorted(results.items()):
        goal(f"RSS with {n} camera(s)", rss, 150 + 30 * n, " MB", higher=False)
    if len(results) >= 2:
        goal("RSS per extra camera", per, 30, " MB", higher=False)
        goal("RSS base (no camera, extrapolated)", r1 - per * n1, 150, " MB", higher=False)


if __name__ == "__main__":
    main()
