"""Object detection with ONNX Runtime: one session per model, one adapter per output family."""

from __future__ import annotations

import logging
import time
from typing import ClassVar

import numpy as np
import onnxruntime as ort

from edge.config import ConfigError
from edge.detections import Detections
from edge.geometry import Letterbox, batched_nms, stretch
from edge.manifest import ResolvedModel

log = logging.getLogger("parkguard.edge.detector")

# NanoDet's own normalisation, applied to BGR 0–255 (ImageNet statistics in BGR order).
NANODET_MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
NANODET_STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)


class Adapter:
    """Turns frames into the model's input and the model's outputs into boxes in input pixels."""

    family: ClassVar[str]

    def __init__(self, session: ort.InferenceSession, model: ResolvedModel) -> None:
        self.session = session
        self.model = model
        self.width, self.height = model.entry.input_size
        self.input_name = session.get_inputs()[0].name
        self.check_io()

    def check_io(self) -> None: ...

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        raise NotImplementedError

    def decode(
        self, outputs: list[np.ndarray], score_threshold: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """→ boxes (N,4 xyxy in model-input pixels), scores (N,), class ids (N,)."""
        raise NotImplementedError


class NanoDetAdapter(Adapter):
    """NanoDet (GFL head): per stride a class-score map (sigmoid applied) and 4×(reg_max+1) bins.

    Input: the frame stretched to the model size, BGR, ``(x - mean) / std`` (models/README.md
    gives the measurements behind this choice: letterboxing and RGB both score lower).
    A cell's point is its centre ``((col + 0.5)·s, (row + 0.5)·s)``; the box is that point
    minus/plus the expected left, top, right, bottom distances times the stride.

    Outputs are matched by shape, not by name: a score output is ``[1, cells, classes]`` and
    its box output ``[1, cells, 4*(reg_max+1)]`` for the same cell count; the stride follows
    from the cell count and the input size.
    """

    family = "nanodet"

    def check_io(self) -> None:
        shape = self.session.get_inputs()[0].shape
        if len(shape) != 4 or shape[1] != 3:
            raise ConfigError(
                f"model {self.model.entry.name!r}: NanoDet input must be NCHW with 3 channels, got {shape}"
            )
        if all(isinstance(d, int) for d in shape[2:]) and (shape[3], shape[2]) != (self.width, self.height):
            raise ConfigError(
                f"model {self.model.entry.name!r}: manifest input_size {self.width}x{self.height} "
                f"but the model takes {shape[3]}x{shape[2]}"
            )
        outs = self.session.get_outputs()
        by_cells: dict[int, dict[str, int]] = {}
        n_cls = len(self.model.class_names) or None
        for i, o in enumerate(outs):
            if len(o.shape) != 3 or not isinstance(o.shape[1], int):
                raise ConfigError(
                    f"model {self.model.entry.name!r}: unexpected NanoDet output {o.name} {o.shape}"
                )
            cells, width = o.shape[1], o.shape[2]
            kind = "reg" if width % 4 == 0 and width != n_cls else "cls"
            by_cells.setdefault(cells, {})[kind] = i
        self.levels: list[tuple[int, int, int, int]] = []  # (stride, grid_w, cls_idx, reg_idx)
        for cells, idx in sorted(by_cells.items(), reverse=True):
            if set(idx) != {"cls", "reg"}:
                raise ConfigError(
                    f"model {self.model.entry.name!r}: NanoDet level with {cells} cells lacks a pair"
                )
            side = round(np.sqrt(cells))
            stride = self.width // side
            if side * side != cells or stride * side != self.width:
                raise ConfigError(f"model {self.model.entry.name!r}: cannot infer stride for {cells} cells")
            self.levels.append((stride, side, idx["cls"], idx["reg"]))
        self.reg_bins = outs[self.levels[0][3]].shape[2] // 4
        self.num_classes = outs[self.levels[0][2]].shape[2]
        self._points = {}
        for stride, side, _, _ in self.levels:
            rows, cols = np.divmod(np.arange(side * side, dtype=np.float32), side)
            self._points[stride] = np.stack([(cols + 0.5) * stride, (rows + 0.5) * stride], axis=1)
        self._bins = np.arange(self.reg_bins, dtype=np.float32)

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        img, lb = stretch(frame_bgr, self.width, self.height)
        x = img.astype(np.float32)
        x -= NANODET_MEAN_BGR
        x /= NANODET_STD_BGR
        return np.ascontiguousarray(x.transpose(2, 0, 1))[None], lb

    def decode(
        self, outputs: list[np.ndarray], score_threshold: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        all_boxes, all_scores, all_cls = [], [], []
        for stride, _side, ci, ri in self.levels:
            cls = outputs[ci][0]
            # classes are independent sigmoids: every (cell, class) above the threshold is a candidate
            cells, classes = np.nonzero(cls > score_threshold)
            if cells.size == 0:
                continue
            score = cls[cells, classes]
            uniq, inverse = np.unique(cells, return_inverse=True)
            reg = outputs[ri][0][uniq].reshape(-1, 4, self.reg_bins)
            reg = np.exp(reg - reg.max(axis=2, keepdims=True))
            reg /= reg.sum(axis=2, keepdims=True)
            dist = (reg @ self._bins) * stride  # (K, 4): left, top, right, bottom
            pts = self._points[stride][uniq]
            boxes = np.concatenate([pts - dist[:, :2], pts + dist[:, 2:]], axis=1)
            all_boxes.append(boxes[inverse])
            all_scores.append(score)
            all_cls.append(classes)
        if not all_boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32)
        return (
            np.concatenate(all_boxes).astype(np.float32),
            np.concatenate(all_scores).astype(np.float32),
            np.concatenate(all_cls).astype(np.int32),
        )


ADAPTERS: dict[str, type[Adapter]] = {NanoDetAdapter.family: NanoDetAdapter}


def make_session(path: str, threads: int, providers: list[str]) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    available = ort.get_available_providers()
    chosen = [p for p in providers if p in available]
    missing = [p for p in providers if p not in available]
    if missing:
        log.warning("execution providers not available here: %s (have %s)", missing, available)
    return ort.InferenceSession(path, sess_options=opts, providers=chosen or ["CPUExecutionProvider"])


class Detector:
    """A loaded object detector: frame in, :class:`Detections` (normalised boxes) out."""

    def __init__(
        self,
        model: ResolvedModel,
        threads: int = 0,
        providers: list[str] | None = None,
        score_threshold: float = 0.3,
        nms_iou: float = 0.5,
        verify_hash: bool = True,
    ) -> None:
        adapter_cls = ADAPTERS.get(model.entry.family)
        if adapter_cls is None:
            raise ConfigError(
                f"model {model.entry.name!r}: family {model.entry.family!r} has no object-detection adapter "
                f"(have: {', '.join(ADAPTERS)})"
            )
        if verify_hash:
            model.verify_hash()
        self.model = model
        try:
            self.session = make_session(str(model.path), threads, providers or ["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for a bad file
            raise ConfigError(
                f"model {model.entry.name!r}: ONNX Runtime cannot load {model.path}: {exc}"
            ) from None
        self.adapter = adapter_cls(self.session, model)
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        names = model.class_names
        if names and len(names) != getattr(self.adapter, "num_classes", len(names)):
            raise ConfigError(
                f"model {model.entry.name!r}: labels file has {len(names)} classes, "
                f"the model {self.adapter.num_classes}"
            )
        self.semantic: list[str] = model.semantic_labels() or [
            str(i) for i in range(getattr(self.adapter, "num_classes", 0))
        ]
        groups = {label: i for i, label in enumerate(dict.fromkeys(self.semantic))}
        self._group = np.array([groups[label] for label in self.semantic], dtype=np.int32)
        self.last_infer_ms = 0.0

    @property
    def labels(self) -> set[str]:
        return set(self.semantic)

    def warmup(self, runs: int = 2) -> None:
        frame = np.zeros((self.adapter.height, self.adapter.width, 3), np.uint8)
        for _ in range(runs):
            self.detect(frame)

    def run_raw(self, tensor: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.adapter.input_name: tensor})

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        tensor, lb = self.adapter.preprocess(frame_bgr)
        t0 = time.perf_counter()
        outputs = self.run_raw(tensor)
        self.last_infer_ms = (time.perf_counter() - t0) * 1000
        boxes, scores, cls = self.adapter.decode(outputs, self.score_threshold)
        if len(scores) == 0:
            return Detections.empty()
        # NMS within each semantic label, so a "car" and a "truck" on one van stay one vehicle
        keep = batched_nms(boxes, scores, self._group[cls], self.nms_iou)
        boxes, scores, cls = boxes[keep], scores[keep], cls[keep]
        norm = lb.to_normalised(boxes)
        ok = (norm[:, 2] > norm[:, 0]) & (norm[:, 3] > norm[:, 1])
        return Detections(norm[ok], scores[ok], cls[ok], [self.semantic[c] for c in cls[ok]])
