"""YOLO as ultralytics exports it to ONNX (v8 / v11 heads: anchor-free, no objectness).

Only the exported file's format is used here; ultralytics itself (AGPL-3.0) is never imported.
"""

from __future__ import annotations

import ast

import numpy as np

from edge.detect.adapters.base import Adapter, Decoded, planar
from edge.detect.geometry import Letterbox, letterbox

TASKS = ("detect", "pose")


def parse_literal(text: str, what: str) -> object:
    """A Python literal from the ONNX metadata (``ast.literal_eval``: no code is run)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(f"metadata {what!r} is not a Python literal: {text[:80]!r}") from None


def parse_names(text: str) -> list[str]:
    """``"{0: 'person', 1: 'helmet'}"`` (or a list literal) → ``['person', 'helmet']``."""
    value = parse_literal(text, "names")
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    if not isinstance(value, dict) or not all(
        isinstance(k, int) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"metadata 'names' is not a dict of class index → name: {text[:80]!r}")
    if sorted(value) != list(range(len(value))):
        raise ValueError(f"metadata 'names' does not number its classes 0…{len(value) - 1}")
    return [value[i] for i in range(len(value))]


class YoloAdapter(Adapter):
    """Ultralytics YOLOv8 / YOLO11 ONNX export, ``task`` detect or pose.

    Input: ``[B, 3, H, W]`` float, RGB / 255, letterboxed with grey (114) padding, image centred.
    Output (one tensor): ``[B, 4 + nc (+ nk), N]`` as exported, or transposed ``[B, N, 4 + nc (+ nk)]``.
    Per candidate: cx, cy, w, h in input pixels, then ``nc`` class probabilities (sigmoid
    applied, no objectness), then for pose models ``kpt_shape`` = K × (x, y[, visibility]) in
    input pixels (visibility already a probability). Each candidate takes its best class, as
    ultralytics' own single-label NMS does.

    Class names come from the manifest's labels file, else from the ONNX metadata ``names``
    (a Python dict literal that ultralytics writes, read with ``ast.literal_eval``).
    """

    family = "yolo"

    def check_io(self) -> None:
        self.check_input_rank_and_size()
        self.dtype = self.input_dtype(("tensor(float)", "tensor(float16)"))
        self.check_metadata()
        self.check_output()

    def check_metadata(self) -> None:
        """Class names, task, keypoints and export size from the ONNX metadata ultralytics writes."""
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            if not self.class_names and "names" in meta:
                self.class_names = parse_names(meta["names"])
            kpt_shape = parse_literal(meta["kpt_shape"], "kpt_shape") if "kpt_shape" in meta else None
            imgsz = parse_literal(meta["imgsz"], "imgsz") if "imgsz" in meta else None
            args = parse_literal(meta["args"], "args") if "args" in meta else {}
        except ValueError as exc:
            raise self.error(str(exc)) from None
        task = meta.get("task", "detect")
        if task not in TASKS:
            raise self.error(f"ultralytics task {task!r} is not supported (supported: {', '.join(TASKS)})")
        if meta.get("end2end") == "True" or (isinstance(args, dict) and args.get("nms")):
            raise self.error(
                "exported with NMS inside (end2end=True or nms=True, output [1, 300, 6]); "
                "export with end2end=False, nms=False"
            )
        if kpt_shape is not None and not (
            isinstance(kpt_shape, list | tuple)
            and len(kpt_shape) == 2
            and isinstance(kpt_shape[0], int)
            and kpt_shape[0] > 0
            and kpt_shape[1] in (2, 3)
        ):
            raise self.error(f"metadata kpt_shape {kpt_shape!r} is not [K, 2 or 3]")
        self.kpt_shape: tuple[int, int] | None = (int(kpt_shape[0]), int(kpt_shape[1])) if kpt_shape else None
        dynamic_hw = not all(isinstance(d, int) for d in self.input_shape[2:])
        stride = int(meta["stride"]) if meta.get("stride", "").isdigit() else 32
        size = f"manifest input_size {self.width}x{self.height}"
        if dynamic_hw and (self.width % stride or self.height % stride):
            raise self.error(f"{size} is not a multiple of the model's stride {stride}")
        if (
            not dynamic_hw
            and isinstance(imgsz, list | tuple)
            and len(imgsz) == 2
            and (imgsz[1], imgsz[0]) != (self.width, self.height)
        ):
            raise self.error(f"{size} but the model was exported for imgsz (h, w) {list(imgsz)}")

    def check_output(self) -> None:
        """One output, [B, 4 + nc (+ nk), N] or transposed; without names, nc from its shape."""
        outs = self.session.get_outputs()
        if len(outs) != 1:
            raise self.error(
                f"expected one output [1, 4+classes, N] (a detect or pose export), got {len(outs)}: "
                f"{[(o.name, o.shape) for o in outs]}"
            )
        shape = outs[0].shape
        if len(shape) == 3 and not all(isinstance(d, int) for d in shape[1:]):
            shape = list(self.probe()[0].shape)  # symbolic dims (dynamic export): ask the graph
        if len(shape) != 3:
            raise self.error(f"output {outs[0].name} {shape} is not [1, 4+classes, N] or [1, N, 4+classes]")
        extra = self.kpt_shape[0] * self.kpt_shape[1] if self.kpt_shape else 0
        a, b = shape[1], shape[2]
        if self.class_names:
            want = 4 + len(self.class_names) + extra
            if a == want:
                self.transposed = False
            elif b == want:
                self.transposed = True
            else:
                raise self.error(
                    f"output {shape} does not fit 4 box values + {len(self.class_names)} classes"
                    + (f" + {extra} keypoint values" if extra else "")
                    + " on either axis"
                )
        else:  # no names anywhere: the channel axis is the shorter one
            channels = min(a, b)
            self.transposed = b < a
            if channels - 4 - extra < 1:
                raise self.error(f"output {shape} has no room for class scores")
            self.class_names = [str(i) for i in range(channels - 4 - extra)]
        self.num_classes = len(self.class_names)

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        img, lb = letterbox(frame_bgr, self.width, self.height, pad_value=114)
        scale = np.full(3, 1.0 / 255.0, self.dtype)
        return planar(img, (0.0, 0.0, 0.0), scale, self.dtype, reverse=True), lb  # BGR → RGB, CHW

    def decode(
        self, outputs: list[np.ndarray], score_threshold: float, input_size: tuple[int, int]
    ) -> Decoded:
        out = outputs[0][0]
        out = out.T if self.transposed else out  # (C, N)
        nc = self.num_classes or 0
        cls_scores = out[4 : 4 + nc]
        best = cls_scores.max(axis=0)
        cand = np.flatnonzero(best > score_threshold)
        if cand.size == 0:
            return Decoded.empty(self.kpt_shape[0] if self.kpt_shape else 0)
        cls = cls_scores[:, cand].argmax(axis=0).astype(np.int32)
        cx, cy, w, h = out[:4, cand].astype(np.float32)
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        kps = None
        if self.kpt_shape:
            k, dims = self.kpt_shape
            raw = out[4 + nc : 4 + nc + k * dims, cand].astype(np.float32).reshape(k, dims, -1)
            kps = np.ones((cand.size, k, 3), np.float32)  # without a visibility channel: score 1
            kps[:, :, :dims] = raw.transpose(2, 0, 1)
        return Decoded(boxes, best[cand].astype(np.float32), cls, kps)
