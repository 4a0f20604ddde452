"""Faces blurred in evidence: BlazeFace and the head fallback on real photos with faces.

The face model's own boxes on the untouched photo say where the faces are; after blurring, those
pixels must have changed and lost their detail (a blurred head can still read as a head-shaped
blob to a face model on a small face, so "no face found again" is not the test), and every pixel
outside the blurred regions must be exactly as it was.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import EdgeConfig, EvidenceConfig
from edge.detect.detector import Detector
from edge.detect.manifest import ResolvedModel, load_manifest
from edge.evidence.blur import FaceBlurrer, Person, head_box, make_blurrer, obscure, people_of
from edge.evidence.store import EvidenceStore, make_evidence
from edge.rules.intrusion import IntrusionConfig
from protocol import RuleType
from tests.photos import photo

REPO = Path(__file__).resolve().parents[3]
MANIFEST = REPO / "models" / "manifest.yaml"
PHOTOS = ["messi5.jpg", "basketball1.png", "zidane.jpg", "bus.jpg"]


@pytest.fixture(scope="module")
def models() -> dict[str, ResolvedModel]:
    return load_manifest(MANIFEST)


@pytest.fixture(scope="module")
def faces(models: dict[str, ResolvedModel]) -> Detector:
    return Detector(models["blazeface"], threads=1, score_threshold=0.5)


@pytest.fixture(scope="module")
def objects(models: dict[str, ResolvedModel]) -> Detector:
    return Detector(models["nanodet-coco"], threads=1)


@pytest.fixture(scope="module")
def pose(models: dict[str, ResolvedModel]) -> Detector:
    return Detector(models["movenet-multipose"], threads=1, score_threshold=0.2)


def face_boxes(det: Detector, img: np.ndarray) -> list[tuple[int, int, int, int]]:
    h, w = img.shape[:2]
    out = []
    for b in det.detect(img).boxes * [w, h, w, h]:
        x1, y1, x2, y2 = (round(float(v)) for v in b)
        out.append((max(0, x1), max(0, y1), min(w, x2), min(h, y2)))
    return out


def mask_of(shape: tuple[int, ...], regions: list[tuple[int, int, int, int]]) -> np.ndarray:
    m = np.zeros(shape[:2], bool)
    for x1, y1, x2, y2 in regions:
        m[y1:y2, x1:x2] = True
    return m


def detail(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


@pytest.mark.parametrize("name", PHOTOS)
def test_faces_changed_rest_untouched(name: str, faces: Detector, objects: Detector) -> None:
    img = cv2.imread(str(photo(name)))
    h, w = img.shape[:2]
    truth = face_boxes(faces, img)
    assert truth, f"the face model finds no face on {name}: the test photo is wrong"
    blurrer = make_blurrer(MANIFEST, "blazeface", 0.5, True, 40)
    people = people_of(objects.detect(img), w, h)
    regions = blurrer.regions(img, people)
    out = obscure(img.copy(), regions)

    # outside the regions: byte for byte the photo
    outside = ~mask_of(img.shape, regions)
    assert np.array_equal(out[outside], img[outside])
    # every face: inside a blurred region, its pixels changed and its detail gone
    covered = mask_of(img.shape, regions)
    for x1, y1, x2, y2 in truth:
        assert covered[y1:y2, x1:x2].all(), (name, (x1, y1, x2, y2), regions)
        before, after = img[y1:y2, x1:x2], out[y1:y2, x1:x2]
        changed = np.abs(before.astype(np.int16) - after.astype(np.int16)).max(axis=2) > 4
        assert changed.mean() > 0.4, (name, changed.mean())
        assert detail(after) < 0.35 * detail(before), (name, detail(after), detail(before))


def test_blur_returns_a_copy(faces: Detector) -> None:
    img = cv2.imread(str(photo("messi5.jpg")))
    keep = img.copy()
    out = FaceBlurrer(faces).blur(img, [])
    assert np.array_equal(img, keep) and not np.array_equal(out, img)


def test_head_fallback_without_a_face_model_covers_the_faces(faces: Detector, objects: Detector) -> None:
    """No face model at all: the top of each person box (big enough) is blurred, and that is where
    the faces are on these photos of standing people."""
    for name in ("bus.jpg", "messi5.jpg"):  # whole standing people (NanoDet's zidane box is off)
        img = cv2.imread(str(photo(name)))
        h, w = img.shape[:2]
        people = people_of(objects.detect(img), w, h)
        fallback = FaceBlurrer(None, head_fallback=True, head_min_px=40)
        regions = fallback.regions(img, people)
        assert fallback.heads_guessed >= 1
        covered = mask_of(img.shape, regions)
        for x1, y1, x2, y2 in face_boxes(faces, img):
            cy, cx = (y1 + y2) // 2, (x1 + x2) // 2
            assert covered[cy, cx], (name, (x1, y1, x2, y2), regions)
        out = obscure(img.copy(), regions)
        assert np.array_equal(out[~covered], img[~covered])
        # a person smaller than head_min_px is left alone
        assert FaceBlurrer(None, head_min_px=10_000).regions(img, people) == []


def test_head_box_from_pose_keypoints(pose: Detector, faces: Detector) -> None:
    img = cv2.imread(str(photo("zidane.jpg")))
    h, w = img.shape[:2]
    d = pose.detect(img)
    people = people_of(d, w, h)
    assert len(people) == 2 and all(p.keypoints is not None for p in people)
    heads = [head_box(p) for p in people]
    for x1, y1, x2, y2 in face_boxes(faces, img):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        assert any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in heads), ((x1, y1, x2, y2), heads)
    # the keypoint head is a head, not the top of the box: well inside the person, smaller than it
    for p, b in zip(people, heads, strict=True):
        assert (b[3] - b[1]) < 0.6 * (p.box[3] - p.box[1])


def test_snapshot_is_blurred_before_it_is_annotated_and_saved(
    tmp_path: Path, faces: Detector, objects: Detector
) -> None:
    img = cv2.imread(str(photo("bus.jpg")))
    _h, _w = img.shape[:2]
    dets = objects.detect(img)
    rule = IntrusionConfig(id="r1", type=RuleType.INTRUSION, zone="z")
    store = EvidenceStore(tmp_path, max_side=4096, jpeg_quality=95, blurrer=FaceBlurrer(faces))
    item = store.snapshot("cam-1", img, dets, [], None, rule, 1_750_000_000_000, "Asia/Shanghai")
    saved = cv2.imread(str(store.path_for(item.sha256, "jpg")))
    assert saved.shape == img.shape
    for x1, y1, x2, y2 in face_boxes(faces, img):
        assert detail(saved[y1:y2, x1:x2]) < 0.35 * detail(img[y1:y2, x1:x2])
    # far from the faces and the banner, the picture is the photo (JPEG noise only)
    assert np.abs(saved[700:, :].astype(np.int16) - img[700:, :].astype(np.int16)).mean() < 3

    plain = EvidenceStore(tmp_path / "plain", settings=EvidenceConfig(blur_faces=False))
    item2 = plain.snapshot("cam-1", img, dets, [], None, rule, 1_750_000_000_000, "Asia/Shanghai")
    assert len(face_boxes(faces, cv2.imread(str(plain.path_for(item2.sha256, "jpg"))))) >= 2


def test_default_store_blurs_heads_even_without_the_model(tmp_path: Path, objects: Detector) -> None:
    """An EvidenceStore made without a face model still never writes a person's head untouched."""
    img = cv2.imread(str(photo("zidane.jpg")))
    store = EvidenceStore(tmp_path)
    assert store.blurrer is not None and store.blurrer.detector is None
    people = people_of(objects.detect(img), img.shape[1], img.shape[0])
    assert store.blurrer.regions(img, people)


def test_blur_off_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = EdgeConfig.model_validate(
        {
            "site": "s",
            "node": "n",
            "models": {"manifest": str(MANIFEST)},
            "evidence_dir": str(tmp_path / "ev"),
            "state_dir": str(tmp_path / "st"),
            "evidence": {"blur_faces": False},
            "cameras": [{"id": "c1", "url": "x.mp4"}],
        }
    )
    with caplog.at_level(logging.WARNING, logger="parkguard.edge.evidence"):
        store = make_evidence(cfg)
    assert store.blurrer is None
    assert "evidence.blur_faces is off" in caplog.text
    on = make_evidence(cfg.model_copy(update={"evidence": EvidenceConfig()}))
    assert on.blurrer is not None and on.blurrer.detector is not None


def test_unknown_face_model_is_a_config_error(tmp_path: Path) -> None:
    from common.configfile import ConfigError

    with pytest.raises(ConfigError, match=r"evidence\.face_model: 'nope' is not in"):
        make_blurrer(MANIFEST, "nope", 0.5, True, 40)


def test_person_without_keypoints_gets_the_top_of_its_box() -> None:
    b = head_box(Person(np.array([100, 100, 160, 300], np.float32)))
    assert b[1] < 100 < b[3] < 160 and b[0] >= 100 - 30 and b[2] <= 160 + 30
