"""``parkguard-edge``: ``run`` the node, ``analyze`` a recorded clip, ``eval`` labelled scenarios,
``check`` a config."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from common.configfile import ConfigError
from edge import __version__
from edge.config.node import load_edge_config

if TYPE_CHECKING:
    from protocol import AlertEvent

log = logging.getLogger("parkguard.edge")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="parkguard-edge", description="ParkGuard edge node")
    p.add_argument("--version", action="version", version=f"parkguard-edge {__version__}")
    p.add_argument("--log-level", default="INFO")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the node: cameras → detection → rules → MQTT")
    run.add_argument("--config", required=True, type=Path)
    an = sub.add_parser("analyze", help="analyze a recorded clip as fast as the machine allows")
    an.add_argument("--config", required=True, type=Path)
    an.add_argument("--camera", required=True, help="camera id whose zones and rules apply")
    an.add_argument("--source", required=True, type=Path, help="video file")
    an.add_argument("--out", required=True, type=Path, help="EVENTS.jsonl: one alert event a line")
    an.add_argument("--detections", type=Path, help="DETECTIONS.jsonl: the objects of every analyzed frame")
    an.add_argument("--fps", type=float, help="analysis rate (default: the camera's or the node's)")
    an.add_argument("--start", help="wall-clock time of the clip's first frame, ISO 8601 (default: now)")
    an.add_argument("--no-evidence", action="store_true", help="do not write snapshots")
    ev = sub.add_parser(
        "eval", help="run labelled scenarios; precision, recall and time to alert per rule type"
    )
    ev.add_argument("scenarios", nargs="+", type=Path, help="scenario YAML files or folders of them")
    ev.add_argument("--json", action="store_true", help="print the figures as JSON")
    ev.add_argument("--manifest", type=Path, help="model manifest (default: models/manifest.yaml)")
    ev.add_argument(
        "--fail-under", type=float, help="exit 1 when a rule type's precision or recall is below this"
    )
    chk = sub.add_parser("check", help="validate a config and its models, then exit")
    chk.add_argument("--config", required=True, type=Path)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from common.logs import setup_logging

    # aioice logs each ICE candidate check of a live session at info: the session lines say enough
    setup_logging(args.log_level, quiet=("libav", "aioice", "aiortc"))
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "analyze":
            return cmd_analyze(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "eval":
            return cmd_eval(args)
    except ConfigError as exc:
        print(f"parkguard-edge: config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 1


def cmd_check(args: argparse.Namespace) -> int:
    from edge.detect.detector import load_detector
    from edge.evidence.store import make_evidence
    from edge.rules.registry import build_rules

    cfg = load_edge_config(args.config)
    det = load_detector(cfg.models)
    for cam in cfg.cameras:
        build_rules(cam, cfg.timezone, det.labels, tracking=cfg.tracker.enabled, models=cfg.models)
    make_evidence(cfg, upload=False)  # the face model for blurring loads
    from edge.warning.service import make_warnings

    warner = make_warnings(cfg)  # the warnings' voices are made (and cached), their players found
    if cfg.center.url and not os.environ.get(cfg.center.token_env):
        print(
            f"{args.config}: warning: center.token_env: {cfg.center.token_env} is not set here; "
            "evidence will wait in the upload queue until it is",
            file=sys.stderr,
        )
    voices = f", {len(warner.workers)} warning output(s)" if warner is not None else ""
    print(f"{args.config}: OK ({len(cfg.cameras)} camera(s), model {det.model.entry.name}{voices})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from edge.comms.remote import RemoteConfig
    from edge.node import EdgeNode

    cfg = load_edge_config(args.config)
    remote = RemoteConfig(args.config, cfg)  # the center's config for this node, if it sent one
    node = EdgeNode(remote.initial_config(cfg))
    remote.attach(node)

    def _stop(signum: int, frame: object) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        node.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        node.run()
    finally:
        remote.stop()
    return 0


class Progress:
    """A progress line on a terminal; a line every few seconds otherwise."""

    def __init__(self, total: int | None, stream: TextIO = sys.stderr) -> None:
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.t0 = time.monotonic()
        self.last = 0.0

    def update(self, done: int, events: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        rate = done / max(now - self.t0, 1e-6)
        pct = f"{100 * done / self.total:5.1f}% " if self.total else ""
        of = f"/{self.total}" if self.total else ""
        line = f"analyze: {pct}{done}{of} frames, {rate:.1f} frames/s, {events} event message(s)"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _analyze_start_ms(start: str | None) -> int:
    """``--start``: the wall-clock time of the clip's first frame, epoch ms (default: now)."""
    if not start:
        return int(time.time() * 1000)
    try:
        return int(datetime.fromisoformat(start).timestamp() * 1000)
    except ValueError:
        raise ConfigError(f"--start: {start!r} is not an ISO 8601 time") from None


def _clip_seconds(source: Path) -> float:
    """The clip's duration in seconds (0 when the file does not say)."""
    import av

    try:
        with av.open(str(source)) as c:
            vs = c.streams.video[0]
            if vs.duration and vs.time_base:
                return float(vs.duration * vs.time_base)
            return (c.duration or 0) / 1e6
    except av.error.FFmpegError as exc:
        raise ConfigError(f"--source: {source}: cannot be read as video: {exc}") from None


def cmd_analyze(args: argparse.Namespace) -> int:
    from edge.detect.detector import load_detector
    from edge.evidence.store import make_evidence
    from edge.pipeline import CameraAnalyzer, CameraPipeline, tracked_labels
    from edge.video.stream import iter_file_frames

    cfg = load_edge_config(args.config)
    camera = cfg.camera(args.camera)
    if not args.source.is_file():
        raise ConfigError(f"--source: {args.source}: no such file")
    fps = args.fps or camera.analysis_fps or cfg.analysis_fps
    if fps <= 0:
        raise ConfigError("--fps: must be > 0")
    start_ms = _analyze_start_ms(args.start)
    detector = load_detector(cfg.models)
    evidence = None if args.no_evidence else make_evidence(cfg, upload=False)  # faces blurred
    pipeline = CameraPipeline(cfg, camera, detector.labels, evidence)
    # the node's per-camera work: motion gate, tracker (ByteTrack at this fps), rules
    analyzer = CameraAnalyzer(
        cfg, camera.model_copy(update={"analysis_fps": fps}), pipeline, tracked_labels(detector)
    )
    duration = _clip_seconds(args.source)
    progress = Progress(int(duration * fps) + 1 if duration else None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as files:
        out = files.enter_context(args.out.open("w", encoding="utf-8"))
        det_fh = files.enter_context(args.detections.open("w", encoding="utf-8")) if args.detections else None
        done, n_events, last_ts = 0, 0, start_ms
        for index, t, frame in iter_file_frames(str(args.source), 1.0 / fps):
            last_ts = start_ms + round(t * 1000)
            img = frame.to_ndarray(format="bgr24") if analyzer.wants_inference(frame, last_ts) else None
            events = analyzer.process(last_ts, img, detector.detect(img) if img is not None else None)
            if det_fh and analyzer.last_dets is not None:
                # the detector's objects, then the PPE judgements of the rules (helmet, no_helmet …)
                objects = analyzer.last_dets.to_json() + pipeline.judgements.to_json()
                det_fh.write(
                    json.dumps({"frame": index, "ts_ms": last_ts, "camera": camera.id, "objects": objects})
                    + "\n"
                )
            n_events += _write_events(out, events)
            done += 1
            progress.update(done, n_events)
        # the clip is over: close what is still open, as a camera going dark would
        n_events += _write_events(out, pipeline.finish(last_ts))
    progress.update(done, n_events, final=True)
    return 0


def _write_events(out: TextIO, events: list[AlertEvent]) -> int:
    for ev in events:
        out.write(ev.model_dump_json() + "\n")
    return len(events)


def cmd_eval(args: argparse.Namespace) -> int:
    from edge.eval import evaluate, print_table

    manifest = args.manifest or Path(__file__).resolve().parent.parent / "models" / "manifest.yaml"
    if not manifest.is_file():
        raise ConfigError(f"--manifest: {manifest}: no such file")
    summary = evaluate(args.scenarios, manifest, progress=sys.stderr)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print_table(summary)
    if args.fail_under is not None:
        low = [
            t
            for t, f in summary["rule_types"].items()
            if (f["precision"] is not None and f["precision"] < args.fail_under)
            or (f["recall"] is not None and f["recall"] < args.fail_under)
        ]
        if low:
            print(f"parkguard-edge eval: below {args.fail_under}: {', '.join(low)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
