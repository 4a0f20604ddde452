"""Real models on real photos: MoveNet poses matched to NanoDet people, the fall geometry on a
photo rotated 90°, man_down through a camera pipeline, the PPE baseline on a photo, and the pose
session loaded once per node and run once per frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import EdgeConfig
from edge.detect.detector import Detector
from edge.detect.manifest import load_manifest
from edge.detect.pose import PoseEstimator, match_poses, pose_estimator, torso_angle_deg
from edge.pipeline import CameraAnalyzer, CameraPipeline
from edge.rules.ppe import PpeBaselineConfig, check_person, suggest_threshold
from tests.photos import DATA

REPO = Path(__file__).resolve().parents[3]
MANIFEST = REPO / "models" / "manifest.yaml"
T0 = 1_795_827_600_000


@pytest.fixture(scope="module")
def models() -> tuple[Detector, PoseEstimator]:
    m = load_manifest(MANIFEST)
    return Detector(m["nanodet-coco"], threads=2), PoseEstimator(m["movenet-multipose"], threads=2)


def size_of(img: np.ndarray) -> tuple[int, int]:
    return img.shape[1], img.shape[0]


def test_movenet_poses_match_the_detector_people(models: tuple[Detector, PoseEstimator]) -> None:
    det, pose = models
    img = cv2.imread(str(DATA / "messi5.jpg"))
    people = det.detect(img).with_labels({"person"}, 0.4)
    poses = pose(img)
    assert len(people) >= 1 and len(poses) >= 1 and poses.keypoints is not None
    kp = match_poses(people, poses)
    assert kp.shape == (len(people), 17, 3)
    best = int(np.argmax(people.scores))  # the player: his pose matched to his box
    k = kp[best]
    assert (k[:, 2] > 0.3).sum() >= 12
    x1, y1, x2, y2 = people.boxes[best]
    seen = k[k[:, 2] > 0.3]
    inside = (
        (seen[:, 0] >= x1 - 0.05)
        & (seen[:, 0] <= x2 + 0.05)
        & (seen[:, 1] >= y1 - 0.05)
        & (seen[:, 1] <= y2 + 0.05)
    )
    assert inside.all()
    assert k[0, 1] < k[11, 1] and k[0, 1] < k[12, 1]  # nose above the hips
    # a box far from every pose gets no keypoints
    far = people.select(np.array([best]))
    far.boxes = np.array([[0.0, 0.0, 0.05, 0.05]], np.float32)
    assert match_poses(far, poses).sum() == 0


@pytest.mark.parametrize("photo", ["messi5.jpg", "basketball1.png"])
def test_fall_geometry_on_a_photo_rotated_90_degrees(
    models: tuple[Detector, PoseEstimator], photo: str
) -> None:
    _, pose = models
    img = cv2.imread(str(DATA / photo))

    def best_angle(im: np.ndarray) -> float:
        p = pose(im)
        assert p.keypoints is not None and len(p)
        i = int(np.argmax(p.scores))
        angle = torso_angle_deg(p.keypoints[i], size_of(im))
        assert angle is not None
        return angle

    assert best_angle(img) < 25  # standing: torso near vertical
    for rot in (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE):
        assert best_angle(cv2.rotate(img, rot)) > 60  # the same person on their side: lying


def edge_config(rules: list[dict], **top: object) -> EdgeConfig:
    data = {
        "site": "s",
        "node": "n",
        "models": {"manifest": str(MANIFEST), "threads": 2},
        "motion": {"enabled": False},
        "cameras": [{"id": "cam", "url": "rtsp://cam/1", "rules": rules}],
        **top,
    }
    return EdgeConfig.model_validate(data)


def run_frames(cfg: EdgeConfig, det: Detector, frames: list[np.ndarray], fps: float = 5.0) -> list:
    cam = cfg.cameras[0]
    pipeline = CameraPipeline(cfg, cam, det.labels, None)
    analyzer = CameraAnalyzer(cfg, cam, pipeline, {"person", "vehicle", "phone"})
    events = []
    for i, frame in enumerate(frames):
        ts = T0 + round(i * 1000 / fps)
        events += analyzer.process(ts, frame, det.detect(frame))
    return events


def test_man_down_on_the_rotated_photo(models: tuple[Detector, PoseEstimator]) -> None:
    """NanoDet finds the player on his side, MoveNet's torso says lying: man_down after 2 s still."""
    det, _ = models
    img = cv2.imread(str(DATA / "messi5.jpg"))
    rule = {
        "id": "down",
        "type": "man_down",
        "duration_s": 2,
        "min_score": 0.3,
        "confirm_frames": 2,
        "fall": {"require_fall": False},
    }
    lying = run_frames(edge_config([rule]), det, [cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)] * 20)
    assert [e.phase.value for e in lying][:1] == ["new"]
    assert lying[0].rule_type == "man_down" and lying[0].objects[0].label == "person"
    assert 2.0 <= (lying[0].last_ms - T0) / 1000 <= 2.6
    assert run_frames(edge_config([rule]), det, [img] * 20) == []  # standing: nothing


def test_pose_runs_only_where_needed_once_per_frame(models: tuple[Detector, PoseEstimator]) -> None:
    det, _ = models
    img = cv2.imread(str(DATA / "messi5.jpg"))
    plain = edge_config([{"id": "crowd", "type": "overcrowding", "max_count": 5}])
    assert CameraPipeline(plain, plain.cameras[0], det.labels, None).pose is None
    posed = edge_config(
        [
            {"id": "down", "type": "man_down"},
            {"id": "phone", "type": "phone_use"},
            {"id": "ppe", "type": "missing_ppe", "ppe": ["vest"], "provider": "baseline"},
        ]
    )
    p1 = CameraPipeline(posed, posed.cameras[0], det.labels, None)
    p2 = CameraPipeline(posed, posed.cameras[0], det.labels, None)
    assert p1.pose is not None and p2.pose is not None
    assert p1.pose.estimator is p2.pose.estimator is pose_estimator(posed.models)  # one session per node
    est = p1.pose.estimator
    before = est.runs
    dets = det.detect(img)
    p1.process(img, T0, dets)
    assert est.runs == before + 1  # three rules, one pose run
    p1.process(img, T0 + 200, dets)  # the same frame again (motion gate skipped the next): no run
    assert est.runs == before + 1
    p1.process(img.copy(), T0 + 400, dets)
    assert est.runs == before + 2
    empty = det.detect(np.zeros_like(img))
    p1.process(np.zeros_like(img), T0 + 600, empty)  # no person: the rules do not ask for pose
    assert est.runs == before + 2


# hand-placed on basketball1.png (640×480), where the player on the left stands: a vest on his
# T-shirt (chest to belt) and a hard hat on his head
VEST = ((55, 165), (120, 270))
HAT = ((82, 92), (24, 14))


def left_player(pose: PoseEstimator, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = pose(img)
    assert p.keypoints is not None
    i = int(np.argmin((p.boxes[:, 0] + p.boxes[:, 2]) / 2))
    return p.boxes[i], p.keypoints[i]


def test_ppe_baseline_on_a_photo(models: tuple[Detector, PoseEstimator]) -> None:
    _, pose = models
    cal = PpeBaselineConfig()
    img = cv2.imread(str(DATA / "basketball1.png"))
    plain = check_person(img, *left_player(pose, img), cal)
    assert (plain.helmet, plain.vest) == (False, False)

    vest = img.copy()
    cv2.rectangle(vest, *VEST, (0, 255, 220), -1)  # fluorescent yellow-green (hue ~68°)
    got = check_person(vest, *left_player(pose, vest), cal)
    assert (got.helmet, got.vest) == (False, True), got.measure

    hat = img.copy()
    cv2.ellipse(hat, HAT[0], HAT[1], 0, 180, 360, (0, 200, 255), -1)  # orange-yellow dome
    got = check_person(hat, *left_player(pose, hat), cal)
    assert (got.helmet, got.vest) == (True, False), got.measure

    # the same colour as a band across the whole head region (a wall, not a hat): no helmet
    band = img.copy()
    cv2.rectangle(band, (0, 0), (200, 80), (0, 200, 255), -1)
    got = check_person(band, *left_player(pose, band), cal)
    assert got.helmet is False, got.measure

    # calibration is per camera: an orange vest needs its hue range
    orange = img.copy()
    cv2.rectangle(orange, *VEST, (0, 120, 255), -1)  # hue ~28°
    box, kp = left_player(pose, orange)
    assert check_person(orange, box, kp, cal).vest is False
    assert check_person(orange, box, kp, PpeBaselineConfig(vest_hues_deg=[(15, 40), (45, 90)])).vest is True


def test_ppe_baseline_does_not_judge_small_people(models: tuple[Detector, PoseEstimator]) -> None:
    _, pose = models
    img = cv2.imread(str(DATA / "basketball1.png"))
    box, kp = left_player(pose, img)  # ~400 px high
    assert check_person(img, box, kp, PpeBaselineConfig(min_person_px=300)).vest is False
    v = check_person(img, box, kp, PpeBaselineConfig(min_person_px=500))
    assert (v.helmet, v.vest) == (None, None)
    # keypoints not seen: not judged either
    v = check_person(img, box, np.zeros_like(kp), PpeBaselineConfig())
    assert (v.helmet, v.vest) == (None, None)


def test_missing_ppe_baseline_event_is_labelled(models: tuple[Detector, PoseEstimator]) -> None:
    det, _ = models
    img = cv2.imread(str(DATA / "messi5.jpg"))  # a footballer: no hard hat
    rule = {
        "id": "hat",
        "type": "missing_ppe",
        "ppe": ["helmet"],
        "provider": "baseline",
        "name": "未戴安全帽",
    }
    events = run_frames(edge_config([rule]), det, [img] * 6)
    assert events and events[0].phase.value == "new"
    assert events[0].rule_name == "未戴安全帽 [PPE baseline 基线]"
    assert {o.label for o in events[0].objects} == {"no_helmet/baseline"}


def test_suggest_threshold() -> None:
    assert suggest_threshold([0.5, 0.7, 0.4], [0.0, 0.1, 0.05]) == pytest.approx(0.25)
    assert suggest_threshold([0.3, 0.6], [0.35, 0.0]) in (0.3, 0.35)
    with pytest.raises(ValueError):
        suggest_threshold([], [0.1])


def test_man_down_fall_from_standing_to_lying(models: tuple[Detector, PoseEstimator]) -> None:
    """A staged fall from a real photo: the player (messi5.jpg cropped to him) standing at the top
    of a 560×560 scene, then the same crop rotated 90° at the bottom of it (on his side, lower
    down). With the default ``require_fall`` the event needs that upright → lying change, hips
    dropping, within ``fall.window_s``."""
    det, _ = models
    crop = cv2.imread(str(DATA / "messi5.jpg"))[40:342, 40:480]  # 440×302, the player
    blank = np.full((560, 560, 3), 90, np.uint8)
    standing = blank.copy()
    standing[0:302, 20:460] = crop
    lying = blank.copy()
    lying[120:560, 100:402] = cv2.rotate(crop, cv2.ROTATE_90_CLOCKWISE)
    # min_score 0.5: the player (0.77 standing, 0.57 lying), not the spectators behind him (< 0.46)
    rule = {"id": "down", "type": "man_down", "duration_s": 2, "min_score": 0.5, "confirm_frames": 1}
    off = {"tracker": {"enabled": False}}  # untracked: one shared state, no ids to carry over
    events = run_frames(edge_config([rule], **off), det, [standing] * 10 + [lying] * 15)
    assert [e.phase.value for e in events][:1] == ["new"]
    assert (events[0].last_ms - T0) / 1000 == pytest.approx(4.0)  # lying from 2.0 s, still for 2 s
    # lying only, never seen standing: no fall, no event
    assert run_frames(edge_config([rule], **off), det, [lying] * 25) == []
    # standing, then lying 5 s later (more than window_s): not a fall either
    late = [standing] * 10 + [blank] * 25 + [lying] * 15
    assert run_frames(edge_config([rule], **off), det, late) == []
