"""Model adapters per output family: YOLO, SSD, MoveNet MultiPose, BlazeFace; batching across frames.

YOLO and SSD run on ONNX graphs built here with the ``onnx`` package whose outputs are known
constants, so decoding is checked value by value; the YOLO adapter also loads a real ultralytics
export (random weights, tests/data/README.md). MoveNet and BlazeFace run on real photos.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from common.configfile import ConfigError
from edge.detect.detections import Detections
from edge.detect.detector import Detector
from edge.detect.geometry import iou_one_to_many, weighted_nms
from edge.detect.manifest import ResolvedModel, load_manifest
from tests.photos import photo
from tests.support.onnx_graphs import (
    YOLO_H,
    YOLO_NAMES,
    YOLO_W,
    constant,
    save_graph,
    write_manifest,
    yolo_graph,
)

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "models"
DATA = Path(__file__).resolve().parents[2] / "data"
YOLO_EXPORT = DATA / "yolov8-w0125-random-320.onnx"

# bus.jpg (810×1080): the four people, boxes drawn by hand (as in test_detector.py)
BUS_PEOPLE = np.array(
    [[48, 398, 245, 902], [670, 380, 810, 875], [221, 405, 344, 857], [0, 550, 63, 873]], float
)
NOSE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 5, 6


# ---------------------------------------------------------------------------------------- helpers


def assert_same(a: Detections, b: Detections, atol: float = 0.0) -> None:
    assert a.labels == b.labels
    np.testing.assert_array_equal(a.class_ids, b.class_ids)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=atol, rtol=0)
    np.testing.assert_allclose(a.scores, b.scores, atol=atol, rtol=0)
    assert (a.keypoints is None) == (b.keypoints is None)
    if a.keypoints is not None:
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=atol, rtol=0)


def frame_of(width: int, height: int) -> np.ndarray:
    return np.full((height, width, 3), 90, np.uint8)


# ------------------------------------------------------------------------------------------- YOLO


@pytest.mark.parametrize("transposed", [False, True], ids=["[1,4+nc,N]", "[1,N,4+nc]"])
def test_yolo_decodes_a_known_output(tmp_path: Path, transposed: bool) -> None:
    model = write_manifest(tmp_path, yolo_graph(tmp_path, transposed=transposed), "yolo", (YOLO_W, YOLO_H))
    det = Detector(model, score_threshold=0.3, nms_iou=0.5)
    assert det.adapter.transposed is transposed

    tensor, _ = det.adapter.preprocess(frame_of(YOLO_W, YOLO_H))
    dec = det.adapter.decode(det.run_raw(tensor), 0.3, (YOLO_W, YOLO_H))
    np.testing.assert_array_equal(
        dec.boxes, [[80, 50, 120, 110], [82, 50, 122, 110], [40, 40, 60, 60], [80, 50, 120, 110]]
    )
    np.testing.assert_array_equal(dec.class_ids, [0, 0, 1, 2])
    np.testing.assert_allclose(dec.scores, [0.9, 0.6, 0.7, 0.5], rtol=0, atol=1e-7)
    assert dec.keypoints is None

    # a frame of the input's own size: input pixels / size = normalised frame coordinates
    d = det.detect(frame_of(YOLO_W, YOLO_H))
    order = np.argsort(-d.scores)
    assert [d.labels[i] for i in order] == ["person", "helmet", "vest"]
    expected = np.array([[80, 50, 120, 110], [40, 40, 60, 60], [80, 50, 120, 110]], np.float32)
    np.testing.assert_allclose(d.boxes[order], expected / [YOLO_W, YOLO_H, YOLO_W, YOLO_H], atol=1e-6)
    np.testing.assert_allclose(d.scores[order], [0.9, 0.7, 0.5], atol=1e-7)

    # a square 320×320 frame is letterboxed: scale 0.4, 16 px grey bars left and right
    d = det.detect(frame_of(320, 320))
    order = np.argsort(-d.scores)
    back = (expected - [16, 0, 16, 0]) / 0.4 / 320
    np.testing.assert_allclose(d.boxes[order], back, atol=1e-6)


def test_yolo_preprocessing_is_rgb_over_255_letterboxed_grey(tmp_path: Path) -> None:
    det = Detector(write_manifest(tmp_path, yolo_graph(tmp_path), "yolo", (YOLO_W, YOLO_H)))
    frame = np.zeros((128, 128, 3), np.uint8)
    frame[..., 0] = 255  # pure blue in BGR
    x, lb = det.adapter.preprocess(frame)
    assert x.shape == (1, 3, YOLO_H, YOLO_W) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 64, 80], [0, 0, 1])  # inside the image: R, G, B
    np.testing.assert_allclose(x[0, :, 64, 5], [114 / 255] * 3, rtol=1e-6)  # the grey bar
    assert (lb.pad_x, lb.pad_y) == (16, 0)


def test_yolo_class_names_from_metadata_and_labels_file_first(tmp_path: Path) -> None:
    graph = yolo_graph(tmp_path)
    det = Detector(write_manifest(tmp_path, graph, "yolo", (YOLO_W, YOLO_H)))
    assert det.class_names == ["person", "helmet", "vest"] and det.adapter.num_classes == 3
    assert det.labels == {"person", "helmet", "vest"}
    own = write_manifest(tmp_path, graph, "yolo", (YOLO_W, YOLO_H), labels=["worker", "hardhat", "hivis"])
    assert Detector(own).class_names == ["worker", "hardhat", "hivis"]


def test_yolo_metadata_names_are_parsed_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    evil = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    graph = yolo_graph(tmp_path, meta={"names": evil})
    with pytest.raises(ConfigError, match="'names' is not a Python literal"):
        Detector(write_manifest(tmp_path, graph, "yolo", (YOLO_W, YOLO_H)))
    assert not marker.exists()
    graph = yolo_graph(tmp_path, meta={"names": "{0: 'person', 2: 'vest'}"}, name="gap")
    with pytest.raises(ConfigError, match="does not number its classes"):
        Detector(write_manifest(tmp_path, graph, "yolo", (YOLO_W, YOLO_H)))


def test_yolo_output_that_does_not_fit_the_names_is_refused(tmp_path: Path) -> None:
    graph = yolo_graph(tmp_path, meta={"names": "{0: 'person', 1: 'helmet', 2: 'vest', 3: 'car'}"})
    with pytest.raises(ConfigError, match=r"\[1, 7, 6\] does not fit 4 box values \+ 4 classes"):
        Detector(write_manifest(tmp_path, graph, "yolo", (YOLO_W, YOLO_H)))


def test_yolo_other_tasks_and_nms_exports_are_refused(tmp_path: Path) -> None:
    graph = yolo_graph(tmp_path, meta={"task": "segment"})
    with pytest.raises(ConfigError, match="task 'segment' is not supported"):
        Detector(write_manifest(tmp_path, graph, "yolo", (YOLO_W, YOLO_H)))
    graph = yolo_graph(tmp_path, meta={"end2end": "True"}, name="e2e")
    with pytest.raises(ConfigError, match="NMS inside"):
        Detector(write_manifest(tmp_path, graph, "yolo", (YOLO_W, YOLO_H)))


def test_yolo_pose_keypoints(tmp_path: Path) -> None:
    # one person, 2 keypoints × (x, y, visibility): 4 + 1 + 6 channels
    cand = np.array([[80, 64, 40, 80, 0.8, 70, 40, 0.9, 90, 100, 0.3]], np.float32)
    meta = {"names": "{0: 'person'}", "task": "pose", "kpt_shape": "[2, 3]"}
    det = Detector(write_manifest(tmp_path, yolo_graph(tmp_path, cand, meta=meta), "yolo", (YOLO_W, YOLO_H)))
    d = det.detect(frame_of(YOLO_W, YOLO_H))
    assert d.labels == ["person"] and d.keypoints is not None and d.keypoints.shape == (1, 2, 3)
    np.testing.assert_allclose(d.boxes[0], np.array([60, 24, 100, 104]) / [160, 128, 160, 128], atol=1e-6)
    np.testing.assert_allclose(
        d.keypoints[0], [[70 / 160, 40 / 128, 0.9], [90 / 160, 100 / 128, 0.3]], atol=1e-6
    )


def test_yolo_real_ultralytics_export(tmp_path: Path) -> None:
    """tests/data/yolov8-w0125-random-320.onnx: an ultralytics 8.4 export (random weights)."""
    det = Detector(write_manifest(tmp_path, YOLO_EXPORT, "yolo", (320, 320)), threads=1)
    assert det.class_names == ["person", "helmet", "vest"]
    assert det.adapter.transposed is False and not det.adapter.dynamic_batch
    tensor, _ = det.adapter.preprocess(cv2.imread(str(photo("zidane.jpg"))))
    raw = det.run_raw(tensor)
    assert raw[0].shape == (1, 7, 2100)  # 4 + 3 classes, 40² + 20² + 10² anchors
    dec = det.adapter.decode(raw, 0.0, (320, 320))  # random weights: every candidate, to decode them all
    assert len(dec) == 2100 and dec.boxes.shape == (2100, 4) and set(dec.class_ids) <= {0, 1, 2}
    d = det.detect(cv2.imread(str(photo("zidane.jpg"))))  # default threshold: whatever it finds maps cleanly
    assert len(d.labels) == len(d) and ((d.boxes >= 0) & (d.boxes <= 1)).all()
    with pytest.raises(ConfigError, match=r"manifest input_size 640x640 .* but the model takes 320x320"):
        Detector(write_manifest(tmp_path, YOLO_EXPORT, "yolo", (640, 640), name="big"))


# -------------------------------------------------------------------------------------------- SSD

SSD_W, SSD_H = 320, 240
# ymin, xmin, ymax, xmax normalised; scores best first; classes as TF OD API gives them (1 = person)
SSD_BOXES = np.array(
    [
        [0.1, 0.2, 0.6, 0.4],
        [0.5, 0.5, 1.0, 1.0],
        [0.12, 0.21, 0.61, 0.41],
        [0.0, 0.0, 0.1, 0.1],
        [0, 0, 1, 1],
    ],
    np.float32,
)
SSD_SCORES = np.array([0.95, 0.80, 0.40, 0.20, 0.90], np.float32)  # the last row is beyond num_detections
SSD_CLASSES = np.array([1, 3, 1, 2, 2], np.float32)
SSD_LABELS = ["background", "person", "car", "truck"]


def ssd_graph(tmp_path: Path, names: tuple[str, str, str, str], int_classes: bool = False) -> Path:
    classes = SSD_CLASSES.astype(np.int64) if int_classes else SSD_CLASSES
    values = [SSD_BOXES[None], SSD_SCORES[None], classes[None], np.array([4], np.float32)]
    outputs = [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
        for n, v in zip(names, values, strict=True)
    ]
    return save_graph(
        tmp_path,
        "ssd",
        [constant(n, v) for n, v in zip(names, values, strict=True)],
        [helper.make_tensor_value_info("image_tensor:0", TensorProto.UINT8, [1, SSD_H, SSD_W, 3])],
        outputs,
    )


TF_NAMES = ("detection_boxes:0", "detection_scores:0", "detection_classes:0", "num_detections:0")


@pytest.mark.parametrize(
    ("names", "int_classes"),
    [(TF_NAMES, False), (("out_a", "out_b", "out_c", "out_d"), True)],
    ids=["by-name", "by-shape-and-dtype"],
)
def test_ssd_decodes_a_known_output(
    tmp_path: Path, names: tuple[str, str, str, str], int_classes: bool
) -> None:
    model = write_manifest(
        tmp_path, ssd_graph(tmp_path, names, int_classes), "ssd", (SSD_W, SSD_H), SSD_LABELS
    )
    det = Detector(model, score_threshold=0.3)
    assert det.adapter.roles == {"boxes": 0, "scores": 1, "classes": 2, "num": 3}
    tensor, _ = det.adapter.preprocess(frame_of(SSD_W, SSD_H))
    dec = det.adapter.decode(det.run_raw(tensor), 0.3, (SSD_W, SSD_H))
    scale = np.array([SSD_W, SSD_H, SSD_W, SSD_H], np.float32)
    np.testing.assert_allclose(dec.boxes, SSD_BOXES[:3][:, [1, 0, 3, 2]] * scale, atol=1e-5)
    np.testing.assert_array_equal(dec.class_ids, [1, 3, 1])
    np.testing.assert_allclose(dec.scores, [0.95, 0.8, 0.4])

    d = det.detect(frame_of(640, 480))  # same aspect: the stretch is a plain scale
    # the graph did NMS: the two overlapping persons (rows 0 and 2) both stay, as the graph gave them
    assert d.labels == ["person", "truck", "person"]
    np.testing.assert_allclose(d.boxes, SSD_BOXES[:3][:, [1, 0, 3, 2]], atol=1e-6)


def test_ssd_input_is_rgb_uint8_stretched(tmp_path: Path) -> None:
    det = Detector(write_manifest(tmp_path, ssd_graph(tmp_path, TF_NAMES), "ssd", (SSD_W, SSD_H), SSD_LABELS))
    frame = np.zeros((100, 500, 3), np.uint8)
    frame[..., 0] = 255  # blue in BGR
    x, _ = det.adapter.preprocess(frame)
    assert x.shape == (1, SSD_H, SSD_W, 3) and x.dtype == np.uint8
    assert (x[0, :, :, 2] == 255).all() and (x[0, :, :, :2] == 0).all()


def test_ssd_outputs_that_cannot_be_told_apart_are_refused(tmp_path: Path) -> None:
    graph = ssd_graph(tmp_path, ("out_a", "out_b", "out_c", "out_d"))  # scores and classes: both float
    with pytest.raises(ConfigError, match="cannot tell the scores, classes output"):
        Detector(write_manifest(tmp_path, graph, "ssd", (SSD_W, SSD_H), SSD_LABELS))


# ----------------------------------------------------------------------------- MoveNet, BlazeFace


@pytest.fixture(scope="module")
def models() -> dict[str, ResolvedModel]:
    return load_manifest(MODELS / "manifest.yaml")


@pytest.fixture(scope="module")
def movenet(models: dict[str, ResolvedModel]) -> Detector:
    return Detector(models["movenet-multipose"], threads=2, score_threshold=0.2)


@pytest.fixture(scope="module")
def blazeface(models: dict[str, ResolvedModel]) -> Detector:
    return Detector(models["blazeface"], threads=2, score_threshold=0.5)


def inside(points: np.ndarray, box: np.ndarray, margin: float = 0.0) -> np.ndarray:
    return (
        (points[:, 0] >= box[0] - margin)
        & (points[:, 0] <= box[2] + margin)
        & (points[:, 1] >= box[1] - margin)
        & (points[:, 1] <= box[3] + margin)
    )


def test_movenet_zidane_two_people_with_keypoints(movenet: Detector) -> None:
    d = movenet.detect(cv2.imread(str(photo("zidane.jpg"))))
    assert len(d) == 2 and d.labels == ["person", "person"] and (d.class_ids == 0).all()
    assert d.keypoints is not None and d.keypoints.shape == (2, 17, 3)
    for box, kps in zip(d.boxes, d.keypoints, strict=True):
        head = kps[[NOSE, LEFT_SHOULDER, RIGHT_SHOULDER]]
        assert (head[:, 2] > 0.3).all(), head
        assert inside(head, box).all(), (box, head)
    # the two people stand apart: their noses are far from each other
    assert abs(d.keypoints[0, NOSE, 0] - d.keypoints[1, NOSE, 0]) > 0.2


def test_movenet_bus_people_on_the_hand_drawn_boxes(movenet: Detector) -> None:
    img = cv2.imread(str(photo("bus.jpg")))
    h, w = img.shape[:2]
    d = movenet.detect(img)
    assert len(d) >= 2
    for box, kps in zip(d.boxes * [w, h, w, h], d.keypoints, strict=True):
        assert iou_one_to_many(box, BUS_PEOPLE).max() >= 0.6, box
        assert inside(kps[[NOSE]] * [w, h, 1], box).all()


def test_movenet_messi(movenet: Detector) -> None:
    d = movenet.detect(cv2.imread(str(photo("messi5.jpg"))))
    assert len(d) >= 1 and d.scores.max() > 0.5
    best = int(np.argmax(d.scores))
    assert d.keypoints[best, NOSE, 2] > 0.5 and inside(d.keypoints[best, [NOSE]], d.boxes[best]).all()


def test_movenet_input_keeps_the_aspect_with_sides_multiple_of_32(movenet: Detector) -> None:
    for (w, h), shape in {
        (1280, 720): (1, 160, 256, 3),
        (768, 576): (1, 192, 256, 3),
        (810, 1080): (1, 256, 192, 3),
    }.items():
        x, lb = movenet.adapter.preprocess(frame_of(w, h))
        assert x.shape == shape and x.dtype == np.int32
        assert (lb.pad_x, lb.pad_y) == (0, 0)


@pytest.mark.parametrize(("name", "faces"), [("messi5.jpg", 1), ("zidane.jpg", 2), ("bus.jpg", 2)])
def test_blazeface_faces_inside_the_people(
    blazeface: Detector, movenet: Detector, name: str, faces: int
) -> None:
    img = cv2.imread(str(photo(name)))
    f = blazeface.detect(img)
    people = movenet.detect(img)
    assert len(f) == faces and f.labels == ["face"] * faces
    assert f.keypoints is not None and f.keypoints.shape == (faces, 6, 3)
    owners = set()
    for box, kps in zip(f.boxes, f.keypoints, strict=True):
        centre = np.array([[(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]])
        hits = [i for i, p in enumerate(people.boxes) if inside(centre, p)[0]]
        assert hits, f"face {box} is in nobody's box {people.boxes}"
        owners.add(
            hits[0] if len(hits) == 1 else min(hits, key=lambda i: people.boxes[i][2] - people.boxes[i][0])
        )
        assert inside(kps[:2], box, margin=0.01).all()  # the eyes lie on the face
        assert (box[2] - box[0]) < 0.3  # a face, not a body
    assert len(owners) == faces, "each face belongs to another person"


# ----------------------------------------------------------------------------------------- batch


def yolo_conv_graph(tmp_path: Path, batch: int | str, hw: tuple[int | str, int | str] = (64, 64)) -> Path:
    """A small real network with a YOLO-shaped output whose values depend on the image:
    8×8 average pooling, a 1×1 convolution, sigmoid, scaled to boxes in 64-pixel units.
    ``hw`` symbolic (``("h", "w")``): a dynamic input size, as an export with ``dynamic=True``."""
    rng = np.random.default_rng(7)
    nc = 3
    weights = rng.normal(0, 2.0, (4 + nc, 3, 1, 1)).astype(np.float32)
    bias = rng.normal(0, 0.5, 4 + nc).astype(np.float32)
    scale = np.array([64, 64, 24, 24, 1, 1, 1], np.float32).reshape(1, -1, 1)
    nodes = [
        helper.make_node("AveragePool", ["images"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Conv", ["pooled", "w", "b"], ["conv"]),
        helper.make_node("Reshape", ["conv", "shape"], ["flat"]),
        helper.make_node("Sigmoid", ["flat"], ["sig"]),
        helper.make_node("Mul", ["sig", "scale"], ["output0"]),
    ]
    inits = [
        numpy_helper.from_array(weights, "w"),
        numpy_helper.from_array(bias, "b"),
        numpy_helper.from_array(np.array([0, 4 + nc, -1], np.int64), "shape"),
        numpy_helper.from_array(scale, "scale"),
    ]
    dynamic = not all(isinstance(d, int) for d in hw)
    return save_graph(
        tmp_path,
        f"yolo-conv-{batch}" + ("-dynamic" if dynamic else ""),
        nodes,
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, *hw])],
        [
            helper.make_tensor_value_info(
                "output0", TensorProto.FLOAT, [batch, 4 + nc, "n" if dynamic else 64]
            )
        ],
        {"names": YOLO_NAMES, "task": "detect", "stride": "32"},
        inits,
    )


def photos() -> list[np.ndarray]:
    return [cv2.imread(str(photo(n))) for n in ("bus.jpg", "zidane.jpg", "messi5.jpg", "basketball1.png")]


def test_detect_batch_stacks_frames_when_the_batch_axis_is_dynamic(tmp_path: Path) -> None:
    frames = [*photos(), frame_of(300, 200)]
    dynamic = Detector(
        write_manifest(tmp_path, yolo_conv_graph(tmp_path, "batch"), "yolo", (64, 64)), max_batch=3
    )
    fixed = Detector(write_manifest(tmp_path, yolo_conv_graph(tmp_path, 1), "yolo", (64, 64), name="fixed"))
    assert dynamic.adapter.dynamic_batch and not fixed.adapter.dynamic_batch
    tensor = np.concatenate([dynamic.adapter.preprocess(f)[0] for f in frames[:3]])
    assert dynamic.run_raw(tensor)[0].shape == (3, 7, 64)  # the stacked call really is one call for 3
    batched = dynamic.detect_batch(frames)  # 5 frames, at most 3 a call: two calls
    one_by_one = fixed.detect_batch(frames)
    assert sum(len(d) for d in batched) > 10, "the test graph finds something on these photos"
    for b, o, f in zip(batched, one_by_one, frames, strict=True):
        assert_same(b, dynamic.detect(f), atol=1e-4)
        assert_same(o, dynamic.detect(f), atol=1e-4)


@pytest.mark.parametrize("name", ["nanodet-coco", "movenet-multipose", "blazeface"])
def test_detect_batch_equals_detect_on_the_bundled_models(
    models: dict[str, ResolvedModel], name: str
) -> None:
    det = Detector(models[name], threads=2, score_threshold=0.3)
    frames = photos()
    batch = det.detect_batch(frames)
    assert len(batch) == len(frames) and sum(len(d) for d in batch) > 0
    for got, frame in zip(batch, frames, strict=True):
        assert_same(got, det.detect(frame))
    assert det.detect_batch([]) == []


# ------------------------------------------------------------------------------ refused at load


@pytest.mark.parametrize(
    ("file", "family", "size", "message"),
    [
        (
            MODELS / "nanodet-coco-416.onnx",
            "nanodet",
            (320, 320),
            "manifest input_size 320x320 .* takes 416x416",
        ),
        (MODELS / "blazeface.onnx", "blazeface", (128, 128), "manifest input_size 128x128 .* takes 256x256"),
        (MODELS / "movenet-multipose.onnx", "movenet_multipose", (250, 250), "multiples of 32"),
        (YOLO_EXPORT, "yolo", (416, 416), "manifest input_size 416x416 .* takes 320x320"),
        (MODELS / "blazeface.onnx", "yolo", (256, 256), "must be NCHW with 3 channels"),
        (MODELS / "nanodet-coco-416.onnx", "movenet_multipose", (416, 416), "must be NHWC with 3 channels"),
        (MODELS / "movenet-multipose.onnx", "blazeface", (256, 256), "type tensor\\(int32\\)"),
    ],
)
def test_model_that_does_not_fit_the_manifest_is_refused(
    tmp_path: Path, file: Path, family: str, size: tuple[int, int], message: str
) -> None:
    labels = (MODELS / "coco80.txt").read_text().split("\n") if family == "nanodet" else None
    model = write_manifest(tmp_path, file, family, size, [x for x in labels if x] if labels else None)
    with pytest.raises(ConfigError, match=message):
        Detector(model, threads=1)


@pytest.mark.parametrize("size", [(100, 100), (320, 200), (64, 48)])
def test_dynamic_yolo_given_a_size_off_its_stride_is_refused(tmp_path: Path, size: tuple[int, int]) -> None:
    graph = yolo_conv_graph(tmp_path, 1, ("h", "w"))
    model = write_manifest(tmp_path, graph, "yolo", size)
    with pytest.raises(
        ConfigError,
        match=rf"manifest input_size {size[0]}x{size[1]} is not a multiple of the model's stride 32",
    ):
        Detector(model)


def test_dynamic_yolo_runs_at_the_manifests_size(tmp_path: Path) -> None:
    graph = yolo_conv_graph(tmp_path, 1, ("h", "w"))
    det = Detector(write_manifest(tmp_path, graph, "yolo", (96, 64)))
    x, _ = det.adapter.preprocess(cv2.imread(str(photo("bus.jpg"))))
    assert x.shape == (1, 3, 64, 96)
    assert det.run_raw(x)[0].shape == (1, 7, 96)  # (96 / 8) × (64 / 8) cells
    assert len(det.detect(cv2.imread(str(photo("bus.jpg"))))) > 0


def test_keypoints_survive_select() -> None:
    kps = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    d = Detections(
        np.array([[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]], np.float32),
        np.array([0.9, 0.4], np.float32),
        np.zeros(2, np.int32),
        ["person", "person"],
        keypoints=kps,
    )
    kept = d.with_labels({"person"}, min_score=0.5)
    assert len(kept) == 1 and kept.keypoints is not None
    np.testing.assert_array_equal(kept.keypoints, kps[:1])


def test_weighted_nms_blends_each_cluster() -> None:
    boxes = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.75, 0.25, 0.5], np.float32)
    points = np.array([[[0, 0, 1]], [[4, 0, 1]], [[55, 55, 1]]], np.float32)
    keep, blended, pts = weighted_nms(boxes, scores, 0.3, points)
    np.testing.assert_array_equal(keep, [0, 2])
    np.testing.assert_allclose(blended, [[0.5, 0, 10.5, 10], [50, 50, 60, 60]])
    np.testing.assert_allclose(pts, [[[1, 0, 1]], [[55, 55, 1]]])
