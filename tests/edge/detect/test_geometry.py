import numpy as np

from edge.detect.geometry import anchors, batched_nms, iou_one_to_many, letterbox, nms, points_in_polygon


def test_letterbox_round_trip_maps_boxes_back_to_the_frame() -> None:
    frame = np.zeros((576, 768, 3), np.uint8)
    img, lb = letterbox(frame, 416, 416)
    assert img.shape == (416, 416, 3)
    # a box covering the whole frame in model pixels → the whole frame normalised
    s = 416 / 768
    model_box = np.array([[0, lb.pad_y, 416, lb.pad_y + 576 * s]], np.float32)
    np.testing.assert_allclose(lb.to_normalised(model_box), [[0, 0, 1, 1]], atol=2e-3)
    assert lb.pad_x == 0 and lb.pad_y == (416 - round(576 * s)) // 2


def _nms_reference(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    for i in order:
        if all(iou_one_to_many(boxes[j], boxes[i : i + 1])[0] <= thr for j in keep):
            keep.append(int(i))
    return keep


def test_nms_matches_a_brute_force_reference() -> None:
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 300, (400, 2)).astype(np.float32)
    wh = rng.uniform(5, 80, (400, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + wh], axis=1)
    scores = rng.uniform(0, 1, 400).astype(np.float32)
    assert nms(boxes, scores, 0.45, max_out=1000).tolist() == _nms_reference(boxes, scores, 0.45)
    assert len(nms(boxes, scores, 0.45, max_out=5)) == 5


def test_batched_nms_keeps_overlapping_boxes_of_different_classes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    classes = np.array([0, 0, 1])
    assert sorted(batched_nms(boxes, scores, classes, 0.5).tolist()) == [0, 2]


def test_points_in_polygon_concave_and_edges() -> None:
    # an L-shaped (concave) zone
    poly = np.array([[0, 0], [0.6, 0], [0.6, 0.3], [0.3, 0.3], [0.3, 1], [0, 1]], np.float32)
    pts = np.array([[0.1, 0.1], [0.5, 0.2], [0.5, 0.6], [0.2, 0.9], [0.9, 0.9]], np.float32)
    assert points_in_polygon(pts, poly).tolist() == [True, True, False, True, False]
    assert points_in_polygon(np.zeros((0, 2), np.float32), poly).shape == (0,)


def test_anchor_is_the_bottom_centre_by_default() -> None:
    boxes = np.array([[0.2, 0.1, 0.4, 0.9]], np.float32)
    np.testing.assert_allclose(anchors(boxes), [[0.3, 0.9]])
    np.testing.assert_allclose(anchors(boxes, "center"), [[0.3, 0.5]])
