"""Small ONNX graphs built with the ``onnx`` package whose outputs are known constants, and the
one-entry manifests the node loads them through (model adapter and detector tests)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge.detect.manifest import ResolvedModel, load_manifest


def write_manifest(
    tmp_path: Path,
    file: Path,
    family: str,
    input_size: tuple[int, int],
    labels: list[str] | None = None,
    name: str = "m",
) -> ResolvedModel:
    """A one-entry manifest for ``file`` (sha256 filled in), loaded the way the node loads one."""
    sha = hashlib.sha256(file.read_bytes()).hexdigest()
    extra = ""
    if labels is not None:
        (tmp_path / f"{name}-labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
        extra = f", labels: {name}-labels.txt"
    path = tmp_path / f"{name}-manifest.yaml"
    path.write_text(
        f"models:\n  - {{name: {name}, file: '{file}', sha256: {sha}, family: {family}, "
        f"input_size: [{input_size[0]}, {input_size[1]}]{extra}}}\n",
        encoding="utf-8",
    )
    return load_manifest(path)[name]


def save_graph(
    tmp_path: Path,
    name: str,
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    meta: dict[str, str] | None = None,
    initializers: list[onnx.TensorProto] | None = None,
) -> Path:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=initializers or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if meta:
        helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def constant(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value))


YOLO_NAMES = "{0: 'person', 1: 'helmet', 2: 'vest'}"
YOLO_W, YOLO_H = 160, 128  # a non-square input, so x and y cannot be swapped unnoticed
# candidates: cx, cy, w, h (input pixels), then the scores of person, helmet, vest
YOLO_CANDIDATES = np.array(
    [
        [100, 80, 40, 60, 0.90, 0.10, 0.00],  # person 0.9: box [80, 50, 120, 110]
        [102, 80, 40, 60, 0.60, 0.05, 0.00],  # the same person, weaker: NMS removes it
        [50, 50, 20, 20, 0.20, 0.70, 0.30],  # helmet 0.7: box [40, 40, 60, 60]
        [30, 100, 10, 10, 0.10, 0.20, 0.05],  # below the threshold
        [100, 80, 40, 60, 0.00, 0.00, 0.50],  # a vest on the person: another class, kept
        [0, 0, 0, 0, 0.00, 0.00, 0.00],
    ],
    np.float32,
)


def yolo_graph(
    tmp_path: Path,
    candidates: np.ndarray = YOLO_CANDIDATES,
    transposed: bool = False,
    meta: dict[str, str] | None = None,
    name: str = "yolo",
) -> Path:
    """An 'ultralytics export' whose output is the constant ``candidates`` ([1, 4+nc, N] or transposed)."""
    out = candidates[None] if transposed else candidates.T[None].copy()
    meta = {"names": YOLO_NAMES, "task": "detect", "stride": "32", "imgsz": f"[{YOLO_H}, {YOLO_W}]"} | (
        meta or {}
    )
    return save_graph(
        tmp_path,
        name,
        [constant("output0", out)],
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, YOLO_H, YOLO_W])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(out.shape))],
        meta,
    )
