"""``models/train_ppe.py``: dataset conversion (VOC and YOLO → our classes), class names into the
ONNX metadata, the manifest entry the edge loads; and (slow, where ultralytics is installed in
its own environment) one real training epoch on a tiny dataset made here.

The tiny dataset is drawn in the test (people as dark rectangles, hard hats as yellow caps,
vests as orange bands): no PPE footage exists offline. It proves the tool's plumbing, not a
detector's quality.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("train_ppe", REPO / "models" / "train_ppe.py")
assert spec is not None and spec.loader is not None
train_ppe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_ppe)

CLASSES = ["helmet", "head", "vest"]
ULTRALYTICS_PYTHON = Path(os.environ.get("PARKGUARD_TRAIN_PYTHON", "/work/build/ulvenv/bin/python"))


def draw_people(seed: int, size: int = 160) -> tuple[np.ndarray, list[tuple[str, int, int, int, int]]]:
    """A picture of 1-2 'workers' and their boxes: (class, x1, y1, x2, y2) in VOC names."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), (90, 140, 90), np.uint8)
    boxes = []
    for k in range(1 + seed % 2):
        x = int(rng.integers(10, size - 50)) if k == 0 else min(size - 40, boxes[0][1] + 60)
        y = int(rng.integers(30, size - 90))
        cv2.rectangle(img, (x, y + 20), (x + 30, y + 80), (40, 40, 40), -1)  # body
        cv2.circle(img, (x + 15, y + 12), 9, (150, 180, 220), -1)  # head
        boxes.append(("person", x + 5, y + 2, x + 25, y + 22))  # SHWD calls a bare head "person"
        if (seed + k) % 3:
            cv2.ellipse(img, (x + 15, y + 6), (11, 7), 0, 180, 360, (0, 230, 255), -1)
            boxes.append(("hat", x + 3, y - 2, x + 27, y + 14))
        if (seed + k) % 2:
            cv2.rectangle(img, (x, y + 35), (x + 30, y + 45), (0, 140, 255), -1)
            boxes.append(("reflective_clothes", x, y + 30, x + 30, y + 50))
    return img, boxes


def voc_dataset(root: Path, n: int = 12) -> Path:
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    (root / "ImageSets" / "Main").mkdir(parents=True)
    for i in range(n):
        img, boxes = draw_people(i)
        cv2.imwrite(str(root / "JPEGImages" / f"{i:04d}.jpg"), img)
        objs = "".join(
            f"<object><name>{c}</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{x}</xmax>"
            f"<ymax>{y}</ymax></bndbox></object>"
            for c, a, b, x, y in [*boxes, ("dog", 1, 1, 5, 5)]
        )
        (root / "Annotations" / f"{i:04d}.xml").write_text(
            f"<annotation><filename>{i:04d}.jpg</filename><size><width>{img.shape[1]}</width>"
            f"<height>{img.shape[0]}</height><depth>3</depth></size>{objs}</annotation>",
            encoding="utf-8",
        )
    (root / "ImageSets" / "Main" / "test.txt").write_text("0000\n0001\n", encoding="utf-8")
    return root


MAP = "hat:helmet,person:head,reflective_clothes:vest"


def test_voc_converts_to_our_classes(tmp_path: Path) -> None:
    src = voc_dataset(tmp_path / "voc")
    cmap = train_ppe.parse_class_map(MAP, CLASSES)
    data = train_ppe.convert_voc(src, tmp_path / "work", cmap, CLASSES, 0.2)
    spec_ = yaml.safe_load(data.read_text())
    assert spec_["names"] == {0: "helmet", 1: "head", 2: "vest"}
    # ImageSets test.txt goes to val
    assert sorted(p.stem for p in (tmp_path / "work" / "images" / "val").iterdir())[:2] == ["0000", "0001"]
    assert len(list((tmp_path / "work" / "images" / "train").iterdir())) >= 8
    # the label of picture 3 is its boxes, normalised, our ids, the dog dropped
    _img, boxes = draw_people(3)
    lines = (tmp_path / "work" / "labels" / "train" / "0003.txt").read_text().split("\n")[:-1]
    want = []
    for c, x1, y1, x2, y2 in boxes:
        cid = CLASSES.index({"hat": "helmet", "person": "head", "reflective_clothes": "vest"}[c])
        want.append([cid, (x1 + x2) / 320, (y1 + y2) / 320, (x2 - x1) / 160, (y2 - y1) / 160])
    got = [[float(v) for v in ln.split()] for ln in lines]
    assert np.allclose(np.array(got), np.array(want), atol=1e-5)


def test_yolo_dataset_is_remapped(tmp_path: Path) -> None:
    src = tmp_path / "yolo"
    for split in ("train", "val"):
        (src / "images" / split).mkdir(parents=True)
        (src / "labels" / split).mkdir(parents=True)
    img, _ = draw_people(1)
    cv2.imwrite(str(src / "images" / "train" / "a.jpg"), img)
    cv2.imwrite(str(src / "images" / "val" / "b.jpg"), img)
    (src / "labels" / "train" / "a.txt").write_text(
        "0 0.5 0.5 0.2 0.2\n2 0.1 0.1 0.1 0.1\n1 0.3 0.3 0.1 0.1\n"
    )
    (src / "labels" / "val" / "b.txt").write_text("")
    (src / "data.yaml").write_text("names: [hard-hat, person, safety-vest]\n")
    cmap = train_ppe.parse_class_map("hard-hat:helmet,safety-vest:vest", CLASSES)
    train_ppe.convert_yolo(src, tmp_path / "work", cmap, CLASSES, 0.2)
    lines = (tmp_path / "work" / "labels" / "train" / "a.txt").read_text().splitlines()
    assert lines == ["0 0.500000 0.500000 0.200000 0.200000", "2 0.100000 0.100000 0.100000 0.100000"]
    assert (tmp_path / "work" / "images" / "val" / "b.jpg").is_file()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("map", "--class-map: target 'hardhat' is not one of helmet, head, vest"),
        ("nodir", "a VOC dataset has Annotations/ and JPEGImages/"),
        ("xml", "not valid XML"),
        ("nothing", "no box of any mapped class"),
    ],
)
def test_bad_datasets_say_what_is_wrong(tmp_path: Path, setup: str, message: str) -> None:
    src = voc_dataset(tmp_path / "voc", n=3)
    argv = ["--data", str(src), "--format", "voc", "--class-map", MAP, "--convert-only"]
    argv += ["--out", str(tmp_path / "out"), "--manifest", str(tmp_path / "m.yaml")]
    if setup == "map":
        argv[argv.index(MAP)] = "hat:hardhat"
    elif setup == "nodir":
        argv[1] = str(tmp_path)
    elif setup == "xml":
        (src / "Annotations" / "0001.xml").write_text("<annotation><size>", encoding="utf-8")
    elif setup == "nothing":
        argv[argv.index(MAP)] = "cat:helmet"
    res = subprocess.run(
        [sys.executable, REPO / "models" / "train_ppe.py", *argv], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr


def yolo_graph(path: Path, nc: int = 3, size: int = 64) -> Path:
    """A small real network with a YOLO-shaped output [1, 4 + nc, N] (values depend on the image)."""
    rng = np.random.default_rng(3)
    w = rng.normal(0, 2.0, (4 + nc, 3, 1, 1)).astype(np.float32)
    scale = np.array([size] * 2 + [size / 3] * 2 + [1] * nc, np.float32).reshape(1, -1, 1)
    nodes = [
        helper.make_node("AveragePool", ["images"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Conv", ["pooled", "w"], ["conv"]),
        helper.make_node("Reshape", ["conv", "shape"], ["flat"]),
        helper.make_node("Sigmoid", ["flat"], ["sig"]),
        helper.make_node("Mul", ["sig", "scale"], ["output0"]),
    ]
    inits = [
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(np.array([0, 4 + nc, -1], np.int64), "shape"),
        numpy_helper.from_array(scale, "scale"),
    ]
    n = (size // 8) ** 2
    graph = helper.make_graph(
        nodes,
        "ppe",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + nc, n])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_names_in_metadata_and_manifest_entry_load_in_the_edge(tmp_path: Path) -> None:
    from edge.detect.detector import Detector
    from edge.detect.manifest import load_manifest

    model = yolo_graph(tmp_path / "export.onnx")
    train_ppe.write_names(model, CLASSES)
    meta = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    assert meta["names"] == "{0: 'helmet', 1: 'head', 2: 'vest'}"
    manifest = tmp_path / "models" / "manifest.yaml"
    manifest.parent.mkdir()
    manifest.write_text("# my models\nmodels:\n  - name: other\n    file: x.onnx\n    family: yolo\n"
                        "    sha256: '" + "0" * 64 + "'\n    input_size: [64, 64]\n")  # fmt: skip
    entry = train_ppe.append_manifest(manifest, "ppe-test", model, 64, CLASSES, "test")
    assert manifest.read_text().startswith("# my models\n")
    models = load_manifest(manifest)
    assert set(models) == {"other", "ppe-test"}
    resolved = models["ppe-test"]
    assert resolved.entry.sha256 == entry["sha256"] == train_ppe.sha256_of(manifest.parent / "ppe-test.onnx")
    det = Detector(resolved, threads=1, score_threshold=0.0)
    assert det.labels == {"helmet", "head", "vest"}
    img, _ = draw_people(2)
    assert set(det.detect(img).labels) <= {"helmet", "head", "vest"}
    with pytest.raises(train_ppe.DatasetError, match="is there already"):
        train_ppe.append_manifest(manifest, "ppe-test", model, 64, CLASSES, "test")
    train_ppe.append_manifest(manifest, "ppe-test", model, 64, CLASSES, "again", replace=True)
    assert (
        next(m for m in yaml.safe_load(manifest.read_text())["models"] if m["name"] == "ppe-test")["source"]
        == "again"
    )


def _ultralytics_python() -> Path | None:
    if not ULTRALYTICS_PYTHON.is_file():
        return None
    ok = subprocess.run(
        [ULTRALYTICS_PYTHON, "-c", "import ultralytics, onnx"], capture_output=True, timeout=120
    ).returncode
    return ULTRALYTICS_PYTHON if ok == 0 else None


@pytest.mark.slow
def test_one_epoch_trains_exports_and_loads(tmp_path: Path) -> None:
    py = _ultralytics_python()
    if py is None:
        pytest.skip(f"ultralytics not importable by {ULTRALYTICS_PYTHON} (set PARKGUARD_TRAIN_PYTHON)")
    from edge.detect.detector import Detector
    from edge.detect.manifest import load_manifest

    src = voc_dataset(tmp_path / "voc", n=16)
    manifest = tmp_path / "models" / "manifest.yaml"
    argv = ["--data", src, "--class-map", MAP, "--epochs", "1", "--imgsz", "96", "--batch", "4"]
    argv += ["--workers", "0", "--out", tmp_path / "work", "--name", "ppe-tiny", "--manifest", manifest]
    env = {**os.environ, "YOLO_CONFIG_DIR": str(tmp_path / "ycfg")}
    res = subprocess.run(
        [py, REPO / "models" / "train_ppe.py", *argv], capture_output=True, text=True, timeout=900, env=env
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "manifest:" in res.stdout
    resolved = load_manifest(manifest)["ppe-tiny"]
    assert resolved.entry.family == "yolo" and resolved.entry.label_map == {c: c for c in CLASSES}
    det = Detector(resolved, threads=1, score_threshold=0.01)
    assert det.labels == set(CLASSES) and det.class_names == CLASSES
    img, _ = draw_people(5)
    assert set(det.detect(img).labels) <= set(CLASSES)
