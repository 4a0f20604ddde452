"""Shared by the edge benchmarks: a node config of N file cameras, run in-process, raw baseline."""

from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge.config import EdgeConfig  # noqa: E402
from edge.detect.detector import Detector  # noqa: E402

CLIP = REPO / "samples" / "vtest-walkway.mp4"


def node_config(
    n: int, fps: float, workdir: Path, threads: int = 0, clip: Path = CLIP, **extra: Any
) -> EdgeConfig:
    data: dict[str, Any] = {
        "site": "bench",
        "node": f"bench-{n}x{fps:g}",
        "analysis_fps": fps,
        "heartbeat_s": 60,
        "evidence_dir": str(workdir / "ev"),
        "state_dir": str(workdir / "state"),
        "metrics_port": 0,
        "mqtt": {"host": "127.0.0.1", "port": 1883},
        "models": {"manifest": str(REPO / "models" / "manifest.yaml"), "threads": threads},
        "cameras": [{"id": f"cam-{i:02d}", "url": str(clip)} for i in range(n)],
    }
    data.update(extra)
    return EdgeConfig.model_validate(data)


def load_bench_detector(cfg: EdgeConfig, spinning: bool | None = None) -> Detector:
    """The node's detector for ``cfg``; ``spinning`` overrides the detector's default when given."""
    from edge.detect.manifest import load_manifest

    m = cfg.models
    model = load_manifest(m.manifest)[m.detector]
    extra = {} if spinning is None else {"spinning": spinning}
    return Detector(model, m.threads, m.providers, m.score_threshold, m.nms_iou, **extra)


def goal(name: str, value: float, target: float, unit: str = "", higher: bool = True) -> bool:
    """One summary line per goal: met or not, and by how much (relative to the goal)."""
    ok = value >= target if higher else value <= target
    by = f"{(value - target) / target * 100:+.0f}%" if target else f"{value - target:+g}{unit}"
    sign = ">=" if higher else "<="
    print(
        f"GOAL {name}: {'met' if ok else 'NOT met'}: {value:.3g}{unit} (goal {sign} {target:g}{unit}, {by})",
        flush=True,
    )
    return ok


def fast_clip(path: Path, speed: int = 4) -> Path:
    """The sample remuxed (no re-encode) to play ``speed`` times faster: a 40 fps camera."""
    import av

    with av.open(str(CLIP)) as src, av.open(str(path), "w") as out:
        ins = src.streams.video[0]
        st = out.add_stream_from_template(ins)
        for pkt in src.demux(ins):
            if pkt.size == 0:
                continue
            pkt.pts, pkt.dts = pkt.pts // speed, pkt.dts // speed
            pkt.stream = st
            out.mux(pkt)
    return path


def raw_rate(det: Detector, seconds: float = 4.0) -> tuple[float, float]:
    """``session.run`` alone on tensors of real frames prepared in advance: the ceiling.
    (frames per second, process CPU ms per frame)."""
    import av

    with av.open(str(CLIP)) as c:
        frames = [f.to_ndarray(format="bgr24") for _, f in zip(range(20), c.decode(video=0), strict=False)]
    tensors = [det.adapter.preprocess(f)[0] for f in frames]
    n, t0, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        det.run_raw(tensors[n % len(tensors)])
        n += 1
    return n / (time.perf_counter() - t0), 1000 * (time.process_time() - cpu0) / n


def raw_fps(det: Detector, seconds: float = 4.0) -> float:
    return raw_rate(det, seconds)[0]


class NodeRun:
    """Run an EdgeNode in a thread; ``measure(seconds)`` counts what it did in that window."""

    def __init__(self, cfg: EdgeConfig, det: Detector) -> None:
        from edge.node import EdgeNode

        self.node = EdgeNode(cfg, det)
        self.thread = threading.Thread(target=self.node.run, daemon=True)

    def __enter__(self) -> NodeRun:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.node.stop()
        self.thread.join(20)

    def analyzed(self) -> int:
        return sum(c.analyzed for c in self.node.cameras)

    def stage_sums(self) -> dict[str, float]:
        """ms spent so far by stage, every camera together (decode: the readers' per packet)."""
        out: dict[str, float] = {}
        for c in self.node.cameras:
            hists = {**c.stage_hist, "decode": c.stream.decode_hist}
            for name, h in hists.items():
                out[name] = out.get(name, 0.0) + h.sum
        return out

    def measure(self, warmup_s: float, seconds: float) -> dict[str, float]:
        """Analyzed frames/s over ``seconds`` after ``warmup_s``, the frames' ages, the process's
        CPU, and ``stage_<name>_ms``: wall ms per analyzed frame spent in each stage."""
        time.sleep(warmup_s)
        for c in self.node.cameras:
            c.ages_ms.clear()
        a0, t0 = self.analyzed(), time.monotonic()
        s0 = self.stage_sums()
        cpu0 = time.process_time()
        time.sleep(seconds)
        a1, t1 = self.analyzed(), time.monotonic()
        cpu = time.process_time() - cpu0
        s1 = self.stage_sums()
        stages = {f"stage_{k}_ms": (s1[k] - s0.get(k, 0.0)) / max(1, a1 - a0) for k in s1}
        ages = sorted(a for c in self.node.cameras for a in c.ages_ms)
        p95 = ages[int(0.95 * (len(ages) - 1))] if ages else float("nan")
        per_cam = [c.analyzed for c in self.node.cameras]
        return {
            "frames": a1 - a0,
            "fps": (a1 - a0) / (t1 - t0),
            "p95_age_ms": p95,
            "p50_age_ms": statistics.median(ages) if ages else float("nan"),
            "cpu_s": cpu,
            "min_cam_analyzed": min(per_cam),
            "stale_dropped": sum(c.stream.skipped for c in self.node.cameras),
            **stages,
        }
