"""Object detection with ONNX Runtime: one session per model, one adapter per output family."""

from __future__ import annotations

import logging
import time

import numpy as np
import onnxruntime as ort

from edge.adapters import ADAPTERS
from edge.config import ConfigError
from edge.detections import Detections
from edge.geometry import batched_nms
from edge.manifest import ResolvedModel

log = logging.getLogger("parkguard.edge.detector")


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
