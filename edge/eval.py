"""``parkguard-edge eval SCENARIOS``: labelled scenarios through the same pipeline as ``analyze``.

A scenario is one YAML file (or a folder holding ``scenario.yaml``)::

    name: lawn-intrusion
    description: people step onto the lawn (labelled by looking at the footage)
    synthetic: false            # true: the situation was staged / made up, say so
    clip: ../samples/vtest-walkway.mp4
    fps: 5                      # analysis rate (default: the camera's or the node's)
    tolerance_s: 2.0            # an event matches a window when it starts within this of it
    node: {tracker: {...}, motion: {...}}   # edge config settings (optional)
    camera:                     # an edge camera: zones and rules (id and url are filled in)
      zones: [{id: lawn, points: [[0, 0.5], [1, 0.9], [0, 1]]}]
      rules: [{id: lawn-intrusion, type: intrusion, zone: lawn, confirm_frames: 2}]
    expected:                   # the truth: when each rule's situation is there, seconds of the clip
      - {rule: lawn-intrusion, start_s: 52.0, end_s: 58.5}

Matching, per rule: an event (its ``new`` message) matches the first unmatched expected window
of its rule whose ``[start_s - tolerance_s, end_s + tolerance_s]`` holds the event's start; an
event that matches none is a false positive (a second event inside an already matched window
too: an alert storm is a fault), a window no event matched a miss. Time to alert: the ``new``
message's time minus the window's ``start_s`` (negative when it came early, within tolerance).
Figures are pooled per rule type over all scenarios.
"""

from __future__ import annotations

import copy
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.configfile import ConfigError, format_validation_error, read_yaml
from edge.config.node import EdgeConfig

if TYPE_CHECKING:
    from edge.detect.detections import Detections
    from edge.detect.detector import ObjectDetector

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: scenario clips play at a fixed wall time


class ExpectedEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: str = Field(description="rule id (of the scenario's camera)")
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    note: str = ""

    @model_validator(mode="after")
    def _order(self) -> ExpectedEvent:
        if self.end_s < self.start_s:
            raise ValueError(f"end_s {self.end_s} is before start_s {self.start_s}")
        return self


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    synthetic: bool = Field(default=False, description="the situation is staged or made up")
    clip: Path
    fps: float | None = Field(default=None, gt=0, le=60)
    tolerance_s: float = Field(default=2.0, ge=0, le=60)
    node: dict[str, Any] = Field(default_factory=dict, description="edge config settings")
    camera: dict[str, Any]
    expected: list[ExpectedEvent] = Field(default_factory=list)
    path: Path | None = Field(default=None, exclude=True)


@dataclass
class Produced:
    rule: str
    rule_type: str
    event_id: str
    start_s: float  # the event's start (first frame its condition held), seconds of the clip
    alert_s: float  # when the ``new`` message went out, seconds of the clip


@dataclass
class Match:
    scenario: str
    rule: str
    rule_type: str
    expected: ExpectedEvent | None
    produced: Produced | None

    @property
    def tta_s(self) -> float | None:
        if self.expected is None or self.produced is None:
            return None
        return round(self.produced.alert_s - self.expected.start_s, 3)


@dataclass
class ScenarioResult:
    scenario: Scenario
    produced: list[Produced]
    matches: list[Match]
    frames: int
    seconds: float
    rule_types: dict[str, str] = field(default_factory=dict)


def load_scenarios(paths: Iterable[Path]) -> list[Scenario]:
    """Scenario files, folders with ``scenario.yaml``, or folders of either (sorted by name)."""
    files: list[Path] = []
    for p in paths:
        if p.is_file():
            files.append(p)
        elif (p / "scenario.yaml").is_file():
            files.append(p / "scenario.yaml")
        elif p.is_dir():
            found = sorted(
                [f for f in p.iterdir() if f.suffix in {".yaml", ".yml"} and f.is_file()]
                + [d / "scenario.yaml" for d in p.iterdir() if (d / "scenario.yaml").is_file()]
            )
            if not found:
                raise ConfigError(f"{p}: no scenario files (*.yaml or */scenario.yaml)")
            files += found
        else:
            raise ConfigError(f"{p}: no such file or folder")
    out = []
    for f in files:
        data = read_yaml(f)
        if not isinstance(data, dict):
            raise ConfigError(f"{f}: expected a mapping at the top level")
        try:
            sc = Scenario.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(str(f), exc)) from None
        sc.path = f
        if not sc.clip.is_absolute():
            sc.clip = (f.parent / sc.clip).resolve()
        if not sc.clip.is_file():
            raise ConfigError(f"{f}: clip: no such file: {sc.clip}")
        out.append(sc)
    return out


def scenario_config(sc: Scenario, manifest: Path | None) -> EdgeConfig:
    camera = {"id": "eval", **sc.camera, "url": str(sc.clip)}
    data: dict[str, Any] = {
        "site": "eval",
        "node": "eval",
        "metrics_port": 0,
        **sc.node,
        "cameras": [camera],
    }
    if manifest is not None:
        data.setdefault("models", {})
        data["models"] = {**data["models"], "manifest": str(manifest.resolve())}  # from the cwd
    try:
        cfg = EdgeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(sc.path), exc)) from None
    if not cfg.models.manifest.is_absolute():
        cfg.models.manifest = (Path(sc.path or ".").parent / cfg.models.manifest).resolve()
    rule_ids = {r.id for r in cfg.cameras[0].rules}
    for i, e in enumerate(sc.expected):
        if e.rule not in rule_ids:
            raise ConfigError(
                f"{sc.path}: expected[{i}].rule: {e.rule!r} is not a rule of the camera "
                f"(have: {', '.join(sorted(rule_ids))})"
            )
    return cfg


class _Detections:
    """Detections of a clip's frames, kept per (model, clip, rate): scenarios on the same footage
    run the detector once (the tracker, motion gate and rules still run per scenario)."""

    def __init__(self) -> None:
        self.detectors: dict[tuple, ObjectDetector] = {}
        self.frames: dict[tuple, dict[int, Detections]] = {}

    def detector(self, cfg: EdgeConfig) -> ObjectDetector:
        from edge.detect.detector import load_detector

        key = (str(cfg.models.manifest), cfg.models.detector, cfg.models.score_threshold, cfg.models.nms_iou)
        if key not in self.detectors:
            self.detectors[key] = load_detector(cfg.models)
        return self.detectors[key]


def run_scenario(
    sc: Scenario, cache: _Detections, manifest: Path | None = None, progress: TextIO | None = None
) -> ScenarioResult:
    from edge.pipeline import CameraAnalyzer, CameraPipeline, tracked_labels
    from edge.video.stream import iter_file_frames

    cfg = scenario_config(sc, manifest)
    camera = cfg.cameras[0]
    fps = sc.fps or camera.analysis_fps or cfg.analysis_fps
    detector = cache.detector(cfg)
    pipeline = CameraPipeline(cfg, camera, detector.labels, None)
    analyzer = CameraAnalyzer(
        cfg, camera.model_copy(update={"analysis_fps": fps}), pipeline, tracked_labels(detector)
    )
    key = (id(detector), str(sc.clip), fps)
    seen = cache.frames.setdefault(key, {})
    events = []
    frames = 0
    t0 = time.monotonic()
    last_ts = START_MS
    last_line = 0.0
    for index, t, frame in iter_file_frames(str(sc.clip), 1.0 / fps):
        ts_ms = START_MS + round(t * 1000)
        if analyzer.wants_inference(frame, ts_ms):
            img = frame.to_ndarray(format="bgr24")
            if index not in seen:
                seen[index] = detector.detect(img)
            dets = copy.copy(seen[index])  # the tracker sets its own track ids on it
            dets.tracks = None
        else:
            img, dets = None, None
        events += analyzer.process(ts_ms, img, dets)
        frames += 1
        last_ts = ts_ms
        now = time.monotonic()
        if progress is not None and now - last_line > 2.0:
            last_line = now
            progress.write(f"eval: {sc.name}: {t:6.1f} s of the clip, {frames / (now - t0):.1f} frames/s\n")
            progress.flush()
    events += pipeline.finish(last_ts)
    produced = [
        Produced(
            rule=e.rule_id,
            rule_type=e.rule_type.value,
            event_id=e.event_id,
            start_s=(e.started_ms - START_MS) / 1000,
            alert_s=(e.last_ms - START_MS) / 1000,
        )
        for e in events
        if e.phase.value == "new"
    ]
    types = {r.id: r.type.value for r in camera.rules}
    return ScenarioResult(
        sc, produced, match(sc, produced, types), frames, time.monotonic() - t0, rule_types=types
    )


def match(sc: Scenario, produced: list[Produced], types: dict[str, str]) -> list[Match]:
    out: list[Match] = []
    tol = sc.tolerance_s
    for rule, rtype in types.items():
        windows = sorted((e for e in sc.expected if e.rule == rule), key=lambda e: e.start_s)
        taken = [False] * len(windows)
        for p in sorted((p for p in produced if p.rule == rule), key=lambda p: p.start_s):
            hit = next(
                (
                    i
                    for i, w in enumerate(windows)
                    if not taken[i] and w.start_s - tol <= p.start_s <= w.end_s + tol
                ),
                None,
            )
            if hit is None:
                out.append(Match(sc.name, rule, rtype, None, p))
            else:
                taken[hit] = True
                out.append(Match(sc.name, rule, rtype, windows[hit], p))
        out += [Match(sc.name, rule, rtype, w, None) for i, w in enumerate(windows) if not taken[i]]
    return out


def summarise(results: list[ScenarioResult]) -> dict[str, Any]:
    by_type: dict[str, list[Match]] = {}
    for r in results:
        for m in r.matches:
            by_type.setdefault(m.rule_type, []).append(m)
    types = {}
    for rtype, ms in sorted(by_type.items()):
        tp = sum(1 for m in ms if m.expected is not None and m.produced is not None)
        fp = sum(1 for m in ms if m.expected is None)
        fn = sum(1 for m in ms if m.produced is None)
        tta = [m.tta_s for m in ms if m.tta_s is not None]
        types[rtype] = {
            "expected": tp + fn,
            "produced": tp + fp,
            "true_positives": tp,
            "false_positives": fp,
            "missed": fn,
            "precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / (tp + fn), 3) if tp + fn else None,
            "tta_median_s": round(statistics.median(tta), 2) if tta else None,
            "tta_max_s": round(max(tta), 2) if tta else None,
            "synthetic_scenarios": sorted(
                {r.scenario.name for r in results if r.scenario.synthetic and rtype in r.rule_types.values()}
            ),
        }
    return {
        "rule_types": types,
        "scenarios": [
            {
                "name": r.scenario.name,
                "synthetic": r.scenario.synthetic,
                "clip": str(r.scenario.clip),
                "frames": r.frames,
                "seconds": round(r.seconds, 2),
                "events": [
                    {
                        "rule": m.rule,
                        "rule_type": m.rule_type,
                        "result": "hit"
                        if m.expected and m.produced
                        else ("false_positive" if m.produced else "miss"),
                        "expected": None if m.expected is None else [m.expected.start_s, m.expected.end_s],
                        "event_start_s": None if m.produced is None else m.produced.start_s,
                        "alert_s": None if m.produced is None else m.produced.alert_s,
                        "tta_s": m.tta_s,
                    }
                    for m in r.matches
                ],
            }
            for r in results
        ],
    }


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def print_table(summary: dict[str, Any], out: TextIO = sys.stdout) -> None:
    for sc in summary["scenarios"]:
        tag = " (synthetic)" if sc["synthetic"] else ""
        out.write(f"\n{sc['name']}{tag}: {sc['frames']} frames in {sc['seconds']:.1f} s\n")
        for e in sc["events"]:
            exp = "-" if e["expected"] is None else f"{e['expected'][0]:.1f}-{e['expected'][1]:.1f}"
            out.write(
                f"  {e['rule']:<24} {e['result']:<15} expected {exp:<11} "
                f"event start {_fmt(e['event_start_s'], '.1f'):>6}  alert {_fmt(e['alert_s'], '.1f'):>6}  "
                f"time to alert {_fmt(e['tta_s'], '.1f'):>5} s\n"
            )
    out.write("\n")
    head = (
        f"{'rule type':<18} {'expected':>8} {'events':>6} {'hits':>5} {'false+':>6} {'missed':>6} "
        f"{'precision':>9} {'recall':>6} {'TTA med s':>9} {'TTA max s':>9}\n"
    )
    out.write(head)
    out.write("-" * (len(head) - 1) + "\n")
    for rtype, f in summary["rule_types"].items():
        out.write(
            f"{rtype:<18} {f['expected']:>8} {f['produced']:>6} {f['true_positives']:>5} "
            f"{f['false_positives']:>6} {f['missed']:>6} {_fmt(f['precision'], '.3f'):>9} "
            f"{_fmt(f['recall'], '.3f'):>6} {_fmt(f['tta_median_s']):>9} {_fmt(f['tta_max_s']):>9}"
            + (
                "  (synthetic: " + ", ".join(f["synthetic_scenarios"]) + ")"
                if f["synthetic_scenarios"]
                else ""
            )
            + "\n"
        )


def evaluate(
    paths: list[Path], manifest: Path | None = None, progress: TextIO | None = None
) -> dict[str, Any]:
    scenarios = load_scenarios(paths)
    cache = _Detections()
    results = []
    for i, sc in enumerate(scenarios, 1):
        if progress is not None:
            progress.write(f"eval: scenario {i}/{len(scenarios)}: {sc.name}\n")
            progress.flush()
        results.append(run_scenario(sc, cache, manifest, progress))
    return summarise(results)
