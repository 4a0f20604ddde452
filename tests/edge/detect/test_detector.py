"""The NanoDet adapter on real photos and real footage: decode, NMS, mapping back to the frame."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from common.configfile import ConfigError
from edge.detect.detector import Detector
from edge.detect.geometry import iou_one_to_many
from edge.detect.manifest import load_manifest
from tests.photos import photo

REPO = Path(__file__).resolve().parents[3]

# bus.jpg (810×1080), boxes drawn by hand around the four people and the bus
BUS_PEOPLE = np.array(
    [[48, 398, 245, 902], [670, 380, 810, 875], [221, 405, 344, 857], [0, 550, 63, 873]], float
)
BUS_BUS = np.array([17, 230, 801, 768], float)


@pytest.fixture(scope="module")
def detector() -> Detector:
    models = load_manifest(REPO / "models" / "manifest.yaml")
    det = Detector(models["nanodet-coco"], threads=2, score_threshold=0.25, nms_iou=0.5)
    det.warmup(1)
    return det


def pixel_boxes(det, w: int, h: int, label: str) -> np.ndarray:
    sel = det.with_labels({label})
    return sel.boxes.astype(float) * [w, h, w, h]


def test_bus_photo_four_people_and_a_bus(detector: Detector) -> None:
    img = cv2.imread(str(photo("bus.jpg")))
    h, w = img.shape[:2]
    det = detector.detect(img)
    people = pixel_boxes(det, w, h, "person")
    for gt in BUS_PEOPLE:
        assert len(people) and iou_one_to_many(gt, people).max() >= 0.5, f"person {gt} not found in {people}"
    vehicles = pixel_boxes(det, w, h, "vehicle")
    assert len(vehicles) and iou_one_to_many(BUS_BUS, vehicles).max() >= 0.6
    assert len(people) == 4, "no duplicate or phantom people left after NMS at this threshold"
    assert det.boxes.min() >= 0 and det.boxes.max() <= 1


def test_people_on_the_walkway_footage(detector: Detector) -> None:
    with av.open(str(REPO / "samples" / "vtest-walkway.mp4")) as c:
        frames = [f.to_ndarray(format="bgr24") for _, f in zip(range(101), c.decode(video=0), strict=False)]
    counts = [len(detector.detect(f).with_labels({"person"}, 0.4)) for f in frames[::20]]
    assert min(counts) >= 3, counts  # several people cross the walkway in the first 10 s


def test_messi_photo_person_and_ball(detector: Detector) -> None:
    det = detector.detect(cv2.imread(str(photo("messi5.jpg"))))
    assert "person" in det.labels and "sports ball" in det.labels


def test_empty_frame_gives_nothing(detector: Detector) -> None:
    det = detector.detect(np.full((480, 640, 3), 127, np.uint8))
    assert len(det) == 0


def test_semantic_labels_from_the_manifest(detector: Detector) -> None:
    assert {"person", "vehicle", "phone"} <= detector.labels


def test_unknown_family_is_refused(tmp_path: Path) -> None:
    text = (REPO / "models" / "manifest.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "manifest.yaml"
    bad.write_text(text.replace("family: nanodet", "family: yolo-nas-9000", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown family 'yolo-nas-9000'"):
        load_manifest(bad)


# ------------------------------------------------------------------ a model file that is not the one listed


def tampered_manifest(tmp_path: Path) -> Path:
    """A copy of the bundled NanoDet with one byte changed in the middle of its weights, listed
    with the sha256 of the real file (what a corrupted download or a swapped file looks like)."""
    data = bytearray((REPO / "models" / "nanodet-coco-416.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "nanodet-coco-416.onnx").write_bytes(bytes(data))
    (tmp_path / "coco80.txt").write_bytes((REPO / "models" / "coco80.txt").read_bytes())
    text = (REPO / "models" / "manifest.yaml").read_text(encoding="utf-8")
    path = tmp_path / "manifest.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_model_file_with_another_sha256_is_refused(tmp_path: Path) -> None:
    model = load_manifest(tampered_manifest(tmp_path))["nanodet-coco"]
    listed = model.entry.sha256
    actual = hashlib.sha256(model.path.read_bytes()).hexdigest()
    assert actual != listed
    with pytest.raises(ConfigError) as err:
        Detector(model, threads=1)
    msg = str(err.value)
    assert "model 'nanodet-coco'" in msg and "refusing to load" in msg
    assert actual in msg and listed in msg, "both digests are named"


def test_missing_model_file_is_refused(tmp_path: Path) -> None:
    manifest = tampered_manifest(tmp_path)
    (tmp_path / "nanodet-coco-416.onnx").unlink()
    with pytest.raises(ConfigError, match=r"model 'nanodet-coco': file .*nanodet-coco-416.onnx not found"):
        Detector(load_manifest(manifest)["nanodet-coco"], threads=1)


def test_node_refuses_to_start_on_a_model_with_another_sha256(tmp_path: Path) -> None:
    manifest = tampered_manifest(tmp_path)
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(
        f"""site: yijia
node: edge-hash
evidence_dir: {tmp_path / "ev"}
state_dir: {tmp_path / "state"}
mqtt: {{host: 127.0.0.1, port: 1883}}
models: {{manifest: {manifest}, threads: 1}}
cameras:
  - {{id: cam-1, url: {REPO / "samples" / "vtest-walkway.mp4"}}}
""",
        encoding="utf-8",
    )
    exe = Path(sys.executable).parent / "parkguard-edge"
    res = subprocess.run([exe, "run", "--config", cfg], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "config error: model 'nanodet-coco': sha256 of nanodet-coco-416.onnx is" in res.stderr
    assert "refusing to load" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").iterdir()), "nothing started"
