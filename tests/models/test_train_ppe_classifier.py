"""models/train_ppe_classifier.py end to end on a small subset, one epoch, then the edge loads its
export through a manifest. The subset: the first 50 photos of each split of the full data set
where it is at hand (``$PARKGUARD_PPE_DATA``, else ``../shared/data/construction-site-safety``
beside the repository: ~330 crops), else the committed sample (tests/data/ppe: 24 photos, 117
crops, its valid split standing in for both).

PyTorch (CPU, ``torch==2.13.0``) comes with ``scripts/setup.sh test`` (extra ``train-ppe``); CI
fails here when it is missing, a developer's run skips with the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge.config import CameraConfig
from edge.config.models import ModelsConfig
from edge.detect.manifest import load_manifest, sha256_file
from edge.detect.ppe import EXPECTED_HEADS, PpeClassifier, Region
from edge.rules.missing_ppe import MissingPpeRule
from edge.rules.registry import build_rules

pytestmark = pytest.mark.slow  # trains on real photos: left out of the fast loop
REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "models" / "train_ppe_classifier.py"
SAMPLE = REPO / "tests" / "data" / "ppe"
FULL = Path(
    os.environ.get("PARKGUARD_PPE_DATA", REPO.parent / "shared" / "data" / "construction-site-safety")
)


def have_torch() -> bool:
    res = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, timeout=120)
    return res.returncode == 0


def manifest_copy(tmp_path: Path) -> Path:
    """The bundled manifest with absolute paths, so a model trained into tmp_path joins it."""
    data = yaml.safe_load((REPO / "models" / "manifest.yaml").read_text(encoding="utf-8"))
    data["models"] = [m for m in data["models"] if m["family"] != "ppe_classifier"]
    for m in data["models"]:
        m["file"] = str(REPO / "models" / m["file"])
        if m.get("labels"):
            m["labels"] = str(REPO / "models" / f"{m['labels']}.txt")
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.slow
def test_training_runs_end_to_end_and_the_edge_loads_the_export(tmp_path: Path) -> None:
    if not have_torch():
        if os.environ.get("CI"):
            pytest.fail("torch is not installed: scripts/setup.sh test installs it (extra train-ppe)")
        pytest.skip("torch not installed (pip install torch==2.13.0, or scripts/setup.sh test)")
    manifest = manifest_copy(tmp_path)
    report = tmp_path / "report.json"
    if (FULL / "data.yaml").is_file():
        data = ["--data", str(FULL), "--limit-photos", "50"]
    else:  # the sample has one split: the plumbing is tested, not the accuracy
        data = ["--data", str(SAMPLE), "--train-split", "valid"]
    cmd = [
        sys.executable,
        str(SCRIPT),
        *data,
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        "--file",
        "ppe-test.onnx",
        "--name",
        "ppe-test",
        "--manifest",
        str(manifest),
        "--cache",
        str(tmp_path / "cache"),
        "--report",
        str(report),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    figures = json.loads(report.read_text())
    assert 100 <= figures["train_crops"] <= 500, figures["train_crops"]
    assert figures["epochs_run"] == 1 and figures["best_epoch"] == 1
    assert "valid crop accuracy helmet" in res.stdout and "training time" in res.stdout
    assert (tmp_path / "cache").is_dir() and list((tmp_path / "cache").glob("*.npz"))

    # the manifest names it with its sha256; the edge loads it and checks its metadata
    entry = load_manifest(manifest)["ppe-test"]
    assert entry.entry.family == "ppe_classifier"
    assert entry.entry.sha256 == sha256_file(tmp_path / "ppe-test.onnx") == figures["sha256"]
    clf = PpeClassifier(entry, threads=2)
    meta = clf.session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["heads"]) == EXPECTED_HEADS and meta["task"] == "ppe_classifier"
    assert clf.size == 64 and json.loads(meta["input_size"]) == [64, 64]
    assert "Roboflow" in meta["training_data"] and "CC BY 4.0" in meta["training_data"]
    img = cv2.imread(str(next((SAMPLE / "valid" / "images").glob("*.jpg"))))
    regions = [Region("helmet", 100, 100, 60), Region("vest", 300, 300, 150), Region("helmet", 500, 90, 40)]
    probs = clf.classify(img, regions)  # one batch of 3: the batch axis is dynamic
    assert len(probs) == 3 and all(0.0 <= p <= 1.0 for p in probs)
    assert len(set(np.round(probs, 6))) > 1  # a trained model, not a constant

    # and a rule runs on it through the config
    cam = CameraConfig.model_validate(
        {
            "id": "cam",
            "url": "rtsp://cam/1",
            "rules": [
                {
                    "id": "hat",
                    "type": "missing_ppe",
                    "ppe": ["helmet", "vest"],
                    "provider": "classifier",
                    "classifier": {"model": "ppe-test"},
                }
            ],
        }
    )
    (rule,) = build_rules(cam, "Asia/Shanghai", {"person"}, models=ModelsConfig(manifest=manifest))
    assert isinstance(rule, MissingPpeRule) and rule.classifier is not None
    assert rule.classifier.name == "ppe-test"


def test_bad_data_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "train" / "images").mkdir(parents=True)
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(tmp_path), "--no-manifest", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("train_ppe_classifier.py: ")
    if have_torch():
        assert "data.yaml: missing" in res.stderr
