"""The one type every stage passes along: the detections of one frame."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from protocol import DetectedObject


@dataclass
class Detections:
    boxes: np.ndarray  # (N, 4) xyxy, normalised 0–1, float32
    scores: np.ndarray  # (N,) float32
    class_ids: np.ndarray  # (N,) int32, the model's class index
    labels: list[str] = field(default_factory=list)  # semantic label per detection
    tracks: np.ndarray | None = None  # (N,) int64, -1 where untracked
    # (N, K, 3) float32: x, y normalised 0–1 like the boxes, and the keypoint's score; pose and face
    # models fill it (keypoint order: the model's, e.g. COCO-17 for MoveNet), others leave None
    keypoints: np.ndarray | None = None

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32), [])

    @classmethod
    def concat(cls, parts: list[Detections]) -> Detections:
        """One frame's detections from several sources (models, rule parts) as one set.

        Tracks are kept (-1 where a part has none); keypoints only when every part has the same
        keypoint layout.
        """
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        tracks = None
        if any(p.tracks is not None for p in parts):
            tracks = np.concatenate(
                [p.tracks if p.tracks is not None else np.full(len(p), -1, np.int64) for p in parts]
            )
        kps = None
        shapes = {None if p.keypoints is None else p.keypoints.shape[1:] for p in parts}
        if len(shapes) == 1 and None not in shapes:
            kps = np.concatenate([p.keypoints for p in parts if p.keypoints is not None])
        return cls(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.class_ids for p in parts]),
            [lbl for p in parts for lbl in p.labels],
            tracks,
            kps,
        )

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, mask: np.ndarray) -> Detections:
        idx = np.flatnonzero(mask)
        return Detections(
            self.boxes[idx],
            self.scores[idx],
            self.class_ids[idx],
            [self.labels[i] for i in idx],
            None if self.tracks is None else self.tracks[idx],
            None if self.keypoints is None else self.keypoints[idx],
        )

    def with_labels(self, wanted: set[str], min_score: float = 0.0) -> Detections:
        mask = np.fromiter((lbl in wanted for lbl in self.labels), bool, len(self.labels))
        return self.select(mask & (self.scores >= min_score))

    def to_objects(self, limit: int = 200) -> list[DetectedObject]:
        out = []
        for i in np.argsort(-self.scores)[:limit]:
            track = None if self.tracks is None or self.tracks[i] < 0 else int(self.tracks[i])
            x1, y1, x2, y2 = (round(float(v), 4) for v in self.boxes[i])
            out.append(
                DetectedObject(
                    label=self.labels[i],
                    score=round(float(self.scores[i]), 4),
                    box=(x1, y1, x2, y2),
                    track=track,
                )
            )
        return out

    def to_json(self) -> list[dict]:
        return [o.model_dump() for o in self.to_objects(limit=10_000)]
