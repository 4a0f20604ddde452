"""configs/ppe-edge.yaml, the example for a site watching PPE: valid, checked like the demo's,
and run by ``parkguard-edge analyze`` over its clip (the sample's worksite photos, 2 s each)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import load_edge_config
from protocol import AlertEvent

REPO = Path(__file__).resolve().parents[3]
PPE = REPO / "configs" / "ppe-edge.yaml"
START_MS = 1_795_827_600_000


def test_ppe_example_config_is_valid_and_checks() -> None:
    cfg = load_edge_config(PPE)
    first = cfg.cameras[0]
    assert Path(first.url).is_file(), "relative paths resolve against the config's folder"
    ppe = [r for r in first.rules if r.type.value == "missing_ppe"]
    assert {item for r in ppe for item in r.ppe} == {"helmet", "vest"}  # type: ignore[attr-defined]
    assert all(r.provider == "classifier" for r in ppe)  # type: ignore[attr-defined]
    res = subprocess.run(
        [sys.executable, "-m", "edge.cli", "check", "--config", str(PPE)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stderr
    assert "OK (1 camera(s), model nanodet-coco, 1 warning output(s))" in res.stdout


@pytest.mark.footage
def test_analyze_shows_the_ppe_judgements(tmp_path: Path) -> None:
    events, dets = tmp_path / "events.jsonl", tmp_path / "detections.jsonl"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "analyze",
            "--config",
            str(PPE),
            "--camera",
            "cam-site-gate",
            "--source",
            str(REPO / "samples" / "ppe-site.mp4"),
            "--out",
            str(events),
            "--detections",
            str(dets),
            "--fps",
            "2.5",
            "--start",
            "2026-11-28T09:00:00+08:00",
            "--no-evidence",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    frames = [json.loads(line) for line in dets.read_text().splitlines()]
    assert len(frames) >= 115
    judged = [
        o for f in frames for o in f["objects"] if o["label"] in {"helmet", "no_helmet", "vest", "no_vest"}
    ]
    labels = {o["label"] for o in judged}
    assert {"helmet", "no_helmet"} <= labels, labels
    assert labels & {"vest", "no_vest"}, labels
    for o in judged:
        x1, y1, x2, y2 = o["box"]
        assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1 and 0.5 <= o["score"] <= 1
    # every head judgement lies in a person box of the same frame (head and torso come from people)
    for f in frames:
        people = [o["box"] for o in f["objects"] if o["label"] == "person"]
        for o in f["objects"]:
            if o["label"] in {"helmet", "no_helmet"}:
                cx = (o["box"][0] + o["box"][2]) / 2
                assert any(p[0] <= cx <= p[2] for p in people), (f["frame"], o)
    new = [AlertEvent.model_validate_json(line) for line in events.read_text().splitlines()]
    hats = [e for e in new if e.rule_id == "gate-hardhat" and e.phase.value == "new"]
    assert hats, "no missing hard hat raised over 12 photos of people labelled NO-Hardhat"
    assert all("no_helmet" in o.label for e in hats for o in e.objects)


def test_judgements_and_cannot_judge_are_in_the_node_metrics(tmp_path: Path) -> None:
    """The example config's camera, its real pipeline (NanoDet, tracker, the PPE rules): a
    worksite photo, then the same photo at 1/16 of its size (every head a few pixels), each
    analyzed 3 times; /metrics counts both kinds of person-frames, and no alert came of it."""
    import cv2

    from edge.camera import CameraRuntime
    from edge.comms.metrics import render
    from edge.detect.detector import load_detector
    from edge.node_metrics import camera_families
    from edge.pipeline import CameraPipeline, tracked_labels

    cfg = load_edge_config(PPE)
    cam = cfg.cameras[0]
    detector = load_detector(cfg.models)
    runtime = CameraRuntime.open(
        cfg, cam, CameraPipeline(cfg, cam, detector.labels, None), tracked_labels(detector)
    )
    photo = sorted((REPO / "tests" / "data" / "ppe" / "valid" / "images").glob("*.jpg"))[0]
    big = cv2.imread(str(photo))
    small = cv2.resize(big, (40, 40), interpolation=cv2.INTER_AREA)
    events: list[AlertEvent] = []
    people = detector.detect(big)
    for i, img in enumerate([big] * 3 + [small] * 3):
        # the same people (normalised boxes) on the tiny frames
        runtime.finish_frame(START_MS + 200 * i, img.copy(), people, {}, events.extend)
    text = render(camera_families([runtime]))
    lines = [ln for ln in text.splitlines() if ln.startswith("parkguard_edge_ppe_judgements_total{")]
    judged = sum(
        float(ln.rsplit(" ", 1)[1]) for ln in lines if 'result="helmet"' in ln or 'result="no_helmet"' in ln
    )
    tiny = sum(float(ln.rsplit(" ", 1)[1]) for ln in lines if 'result="cannot_judge:too_small"' in ln)
    assert judged >= 3, text
    assert tiny >= 3, text
    assert 'rule="gate-hardhat"' in text and 'camera="cam-site-gate"' in text
    # whatever the sharp frames raised, the tiny ones raised nothing new
    assert not [e for e in events if e.phase.value == "new" and e.started_ms > START_MS + 400]
