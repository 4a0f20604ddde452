"""Pipeline throughput with 1, 4 and 8 cameras vs raw ``session.run``, measured in the same run.

    python bench/edge_cameras.py [--cameras 1 4 8] [--seconds 15] [--threads 2] [--spinning on|off]

Each camera is the sample clip played in real time (decoded by its own reader thread, like an
RTSP camera), remuxed to play ``speed`` times faster where needed so that the cameras together
offer at least 1.2× what raw ``session.run`` can take (else the ratio would measure the source,
not the pipeline): 1 camera at 110 fps, 4 at 30, 8 at 20 when raw is ~90 frames/s. Decoding
every offered frame is part of the pipeline's cost, as it is on a real camera. The node is asked
for more than it can do (analysis_fps 200 per camera, set past the config's cap of 60
after validation; motion gating off), so its analyzed frames
per second is its ceiling with that many cameras: decode, BGR conversion, preprocessing,
inference, NMS, tracking, rules. Raw = ``session.run`` alone on prepared tensors, measured for
2 s before and after each of ``--rounds`` short node runs; a round's ratio uses the mean of the
two, and the median round is reported. Goal: ratio >= 0.85. CPU per analyzed frame (process
time, every thread: decoding included) is printed beside raw's, a figure that other load on
the machine disturbs less than frames per second.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

from edge_common import CLIP, NodeRun, fast_clip, goal, load_bench_detector, node_config, raw_fps, raw_rate

from edge.config import MotionConfig

CLIP_FPS = 10


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--spinning", choices=["on", "off"], default=None, help="ONNX Runtime thread spinning")
    ap.add_argument("--offer", type=float, default=1.2, help="offered frames / raw fps (>= 1)")
    ap.add_argument("--rounds", type=int, default=3, help="node runs per camera count, raw between")
    args = ap.parse_args()
    spinning = None if args.spinning is None else args.spinning == "on"
    with tempfile.TemporaryDirectory() as tmp:
        det = load_bench_detector(node_config(1, 30, Path(tmp), args.threads), spinning)
        det.warmup(3)
        raw0, raw_cpu_ms = raw_rate(det)
        print(
            f"model {det.model.entry.name}, intra-op threads {args.threads}, "
            f"spinning {args.spinning or 'default (off)'}: raw session.run {raw0:.1f} frames/s, "
            f"{raw_cpu_ms:.1f} ms CPU a frame",
            flush=True,
        )
        results = {}
        for n in args.cameras:
            speed = max(1, math.ceil(args.offer * raw0 / (CLIP_FPS * n)))
            clip = fast_clip(Path(tmp) / f"x{speed}.mp4", speed) if speed > 1 else CLIP
            cfg = node_config(
                n, 60, Path(tmp) / str(n), args.threads, clip, motion=MotionConfig(enabled=False)
            )
            cfg.analysis_fps = 200  # past the config's cap of 60, so one camera can saturate the model
            # short node runs between raw measurements (rounds), so that a neighbour's load, which
            # comes and goes on a shared machine, hits both sides; the median round counts
            rounds = []
            raw = raw_fps(det, 2.0)
            for r in range(args.rounds):
                run_cfg = cfg.model_copy(update={"state_dir": Path(tmp) / f"{n}-{r}" / "state"})
                with NodeRun(run_cfg, det) as run:
                    m = run.measure(warmup_s=3.0, seconds=args.seconds / args.rounds)
                after = raw_fps(det, 2.0)
                rounds.append((m["fps"] / ((raw + after) / 2), m, (raw + after) / 2))
                raw = after
            ratio, m, raw_mean = sorted(rounds, key=lambda x: x[0])[len(rounds) // 2]
            offered = n * CLIP_FPS * speed
            results[n] = ratio
            print(
                f"RESULT cameras={n} offered_fps={offered} ({CLIP_FPS * speed}/camera) "
                f"pipeline_fps={m['fps']:.1f} raw_fps={raw_mean:.1f} ratio={ratio:.3f} "
                f"(rounds {' '.join(f'{x[0]:.2f}' for x in rounds)}) p50_age_ms={m['p50_age_ms']:.0f} "
                f"node_cpu_ms_per_frame={1000 * m['cpu_s'] / max(1, m['frames']):.1f} "
                f"raw_cpu_ms_per_frame={raw_cpu_ms:.1f}"
                + (" SOURCE-LIMITED" if m["fps"] >= 0.95 * offered else ""),
                flush=True,
            )
            stages = {k[6:-3]: v for k, v in m.items() if k.startswith("stage_")}
            print(
                f"STAGES cameras={n} ms per analyzed frame: "
                + " ".join(f"{k}={v:.2f}" for k, v in stages.items())
                + f" | without decode {sum(v for k, v in stages.items() if k != 'decode'):.1f} ms"
                f" vs raw {1000 / raw_mean:.1f} ms"
                " (decode runs in each camera's reader thread, beside the analysis loop)",
                flush=True,
            )
        for n, ratio in results.items():
            goal(f"pipeline/raw with {n} camera(s)", ratio, 0.85)


if __name__ == "__main__":
    main()
