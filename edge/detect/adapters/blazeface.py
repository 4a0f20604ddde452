"""MediaPipe BlazeFace (back-camera model, 256×256): faces with 6 keypoints (see models/README.md)."""

from __future__ import annotations

import numpy as np

from edge.detect.adapters.base import Adapter, Decoded
from edge.detect.geometry import Letterbox, letterbox, weighted_nms

# BlazeFace keypoint order (the subject's right / left)
KEYPOINTS = ("right_eye", "left_eye", "nose", "mouth", "right_ear_tragion", "left_ear_tragion")
ANCHORS_PER_CELL = (2, 6)  # MediaPipe's anchor layout: the finer grid 2 a cell, the coarser 6
NMS_IOU = 0.3  # MediaPipe's face-detection setting; overlapping boxes are blended, not dropped


def anchor_centres(levels: list[tuple[int, int]]) -> np.ndarray:
    """(grid, anchors per cell) per level → anchor centres (x, y) normalised, shape (A, 2).

    Row-major by cell, the anchors of one cell consecutive; anchor sizes are fixed at 1."""
    centres = []
    for grid, per_cell in levels:
        ys, xs = np.mgrid[0:grid, 0:grid]
        cell = np.stack([(xs.ravel() + 0.5) / grid, (ys.ravel() + 0.5) / grid], axis=1)
        centres.append(np.repeat(cell, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


class BlazeFaceAdapter(Adapter):
    """BlazeFace: per anchor a score logit and 16 regressors (dx, dy, w, h, 6 × (x, y)).

    Input ``[1, S, S, 3]`` float NHWC RGB, ``x / 127.5 - 1``, the frame letterboxed with black.
    Outputs come in pairs per anchor level, matched by anchor count (never by position):
    scores ``[1, A, 1]`` (logits) and regressors ``[1, A, 16]`` in input pixels relative to the
    anchor centre. Levels: the one with more anchors is the finer grid (16×16×2 = 512 at 256
    input), then the coarser (8×8×6 = 384). Duplicates are blended (weighted NMS, IoU 0.3).
    """

    family = "blazeface"
    layout = "NHWC"
    default_names = ("face",)

    def check_io(self) -> None:
        self.check_input_rank_and_size()
        self.input_dtype(("tensor(float)",))
        if self.width != self.height:
            raise self.error(f"manifest input_size {self.width}x{self.height}: BlazeFace input is square")
        outs = self.session.get_outputs()
        pairs: dict[int, dict[str, int]] = {}
        for i, o in enumerate(outs):
            shape = o.shape
            if len(shape) != 3 or not isinstance(shape[1], int) or shape[2] not in (1, 16):
                raise self.error(f"unexpected output {o.name} {shape}: want [1, A, 1] and [1, A, 16] pairs")
            pairs.setdefault(shape[1], {})["score" if shape[2] == 1 else "reg"] = i
        counts = sorted(pairs, reverse=True)
        if len(counts) != len(ANCHORS_PER_CELL) or any(set(pairs[c]) != {"score", "reg"} for c in counts):
            raise self.error(f"outputs {[(o.name, o.shape) for o in outs]} are not two score/regressor pairs")
        levels = []
        for count, per_cell in zip(counts, ANCHORS_PER_CELL, strict=True):
            grid = round(np.sqrt(count / per_cell))
            if grid * grid * per_cell != count or self.width % grid:
                raise self.error(f"{count} anchors do not form a grid of {per_cell} anchors a cell")
            levels.append((grid, per_cell))
        self.order = [(pairs[c]["score"], pairs[c]["reg"]) for c in counts]
        self.anchors = anchor_centres(levels) * self.width  # in input pixels
        self.num_keypoints = 6
        if len(self.class_names) != 1:
            raise self.error(f"a face model has one class (face), the labels give {len(self.class_names)}")
        self.nms_inside = True

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        img, lb = letterbox(frame_bgr, self.width, self.height, pad_value=0)
        x = img[..., ::-1].astype(np.float32)
        x *= 1.0 / 127.5
        x -= 1.0
        return x[None], lb

    def decode(
        self, outputs: list[np.ndarray], score_threshold: float, input_size: tuple[int, int]
    ) -> Decoded:
        logits = np.concatenate([outputs[s][0, :, 0] for s, _ in self.order])
        # raw logits reach about -11000: clip before exp
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))
        idx = np.flatnonzero(scores > score_threshold)
        if idx.size == 0:
            return Decoded.empty(self.num_keypoints)
        regs = np.concatenate([outputs[r][0] for _, r in self.order])[idx].astype(np.float32)
        anchors = self.anchors[idx]
        centre = anchors + regs[:, 0:2]
        half = regs[:, 2:4] / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        kps = np.empty((idx.size, self.num_keypoints, 3), np.float32)
        kps[:, :, :2] = regs[:, 4:16].reshape(-1, self.num_keypoints, 2) + anchors[:, None, :]
        kps[:, :, 2] = scores[idx, None]  # BlazeFace gives no per-keypoint score: the face's
        keep, boxes, blended = weighted_nms(boxes, scores[idx], NMS_IOU, kps)
        return Decoded(boxes, scores[idx][keep].astype(np.float32), np.zeros(len(keep), np.int32), blended)
