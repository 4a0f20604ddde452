"""Several object models on one frame (``models.extra_detectors``): the main NanoDet and a PPE
model (here an ultralytics-format ONNX graph built with known outputs, named head/helmet/vest)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from common.configfile import ConfigError
from edge.config import EdgeConfig
from edge.detect.detector import DetectorSet, load_detector
from edge.pipeline import tracked_labels
from edge.rules.registry import build_rules
from tests.photos import photo
from tests.support.onnx_graphs import YOLO_H, YOLO_W, yolo_graph

REPO = Path(__file__).resolve().parents[3]


def manifest_with_ppe(tmp_path: Path) -> Path:
    """The bundled manifest (absolute paths) plus a 'ppe' YOLO entry with a label map."""
    data = yaml.safe_load((REPO / "models" / "manifest.yaml").read_text(encoding="utf-8"))
    for entry in data["models"]:
        entry["file"] = str(REPO / "models" / entry["file"])
        if "labels" in entry:
            entry["labels"] = str(REPO / "models" / f"{entry['labels']}.txt")
    graph = yolo_graph(tmp_path, meta={"names": "{0: 'bare_head', 1: 'hardhat', 2: 'hivis'}"}, name="ppe")
    data["models"].append(
        {
            "name": "ppe",
            "file": str(graph),
            "sha256": hashlib.sha256(graph.read_bytes()).hexdigest(),
            "family": "yolo",
            "input_size": [YOLO_W, YOLO_H],
            "label_map": {"bare_head": "head", "hardhat": "helmet", "hivis": "vest"},
        }
    )
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def config(tmp_path: Path, extra: list[str], rules: list[dict] | None = None) -> dict:
    return {
        "site": "t",
        "node": "n1",
        "evidence_dir": str(tmp_path / "ev"),
        "state_dir": str(tmp_path / "state"),
        "models": {
            "manifest": str(manifest_with_ppe(tmp_path)),
            "detector": "nanodet-coco",
            "extra_detectors": extra,
        },
        "cameras": [
            {"id": "cam-1", "url": str(REPO / "samples" / "vtest-walkway.mp4"), "rules": rules or []}
        ],
    }


PPE_RULE = {"id": "ppe", "type": "missing_ppe", "ppe": ["helmet", "vest"], "provider": "model"}


def test_extra_model_runs_on_the_same_frame_and_joins_the_main_models_detections(tmp_path: Path) -> None:
    cfg = EdgeConfig.model_validate(config(tmp_path, ["ppe"]))
    det = load_detector(cfg.models)
    assert isinstance(det, DetectorSet)
    main, ppe = det.members
    assert {"person", "vehicle", "phone", "head", "helmet", "vest"} <= det.labels
    assert tracked_labels(det) == main.mapped_labels | {"head", "helmet", "vest"}

    img = cv2.imread(str(photo("messi5.jpg")))
    both = det.detect(img)
    assert det.last_infer_ms == pytest.approx(main.last_infer_ms + ppe.last_infer_ms)
    alone_main, alone_ppe = main.detect(img), ppe.detect(img)
    assert len(alone_main) > 0 and len(alone_ppe) == 3  # the graph's three boxes that pass NMS
    assert len(both) == len(alone_main) + len(alone_ppe)
    np.testing.assert_array_equal(both.boxes[: len(alone_main)], alone_main.boxes)
    np.testing.assert_array_equal(both.boxes[len(alone_main) :], alone_ppe.boxes)
    assert both.labels[len(alone_main) :] == alone_ppe.labels
    assert sorted(alone_ppe.labels) == ["head", "helmet", "vest"]
    # the extra model's class ids stay apart from the main model's
    assert (both.class_ids[len(alone_main) :] >= DetectorSet.CLASS_OFFSET).all()

    batch = det.detect_batch([img, img])
    for d in batch:
        np.testing.assert_array_equal(d.boxes, both.boxes)
        assert d.labels == both.labels


def test_a_ppe_model_rule_is_accepted_only_with_the_ppe_model_loaded(tmp_path: Path) -> None:
    cfg = EdgeConfig.model_validate(config(tmp_path, ["ppe"], [PPE_RULE]))
    rules = build_rules(cfg.cameras[0], cfg.timezone, load_detector(cfg.models).labels)
    assert [r.cfg.id for r in rules] == ["ppe"]

    cfg = EdgeConfig.model_validate(config(tmp_path, [], [PPE_RULE]))
    with pytest.raises(ConfigError, match="helmet"):
        build_rules(cfg.cameras[0], cfg.timezone, load_detector(cfg.models).labels)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["no-such-model"], "models.extra_detectors[0]: 'no-such-model' is not in"),
        (["nanodet-coco"], "listed twice"),
    ],
)
def test_bad_extra_detectors_are_refused_by_check(tmp_path: Path, extra: list[str], message: str) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(config(tmp_path, extra)), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_check_accepts_a_ppe_model_rule_with_the_model_loaded(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(config(tmp_path, ["ppe"], [PPE_RULE])), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
