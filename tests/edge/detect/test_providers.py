"""Execution providers and session threads from ``models`` in the node's config.

Decided behaviour (docs/engine.md): a provider name ONNX Runtime does not know (a typo) is
refused at start, naming ``models.providers[i]``; a known provider that this installation lacks
(CUDA with the CPU-only ``onnxruntime`` wheel, OpenVINO without ``onnxruntime-openvino``) is a
logged fallback to the next provider listed, CPU last, so the node still watches its cameras.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import yaml

from common.configfile import ConfigError
from edge.config import EdgeConfig
from edge.detect.detector import load_detector, resolve_providers
from tests.photos import photo

REPO = Path(__file__).resolve().parents[3]
AVAILABLE = ort.get_available_providers()
CPU = "CPUExecutionProvider"


def config(tmp: Path, **models: Any) -> EdgeConfig:
    return EdgeConfig.model_validate(
        {
            "site": "yijia",
            "node": "edge-providers",
            "evidence_dir": str(tmp / "ev"),
            "state_dir": str(tmp / "state"),
            "mqtt": {"host": "127.0.0.1", "port": 1883},
            "models": {"manifest": str(REPO / "models" / "manifest.yaml"), **models},
            "cameras": [{"id": "cam-1", "url": str(REPO / "samples" / "vtest-walkway.mp4")}],
        }
    )


def test_default_is_cpu(tmp_path: Path) -> None:
    det = load_detector(config(tmp_path).models)
    assert det.providers == [CPU] == det.session.get_providers()


@pytest.mark.parametrize("threads", [1, 3])
def test_session_threads_from_config(tmp_path: Path, threads: int) -> None:
    det = load_detector(config(tmp_path, threads=threads).models)
    opts = det.session.get_session_options()
    assert opts.intra_op_num_threads == threads and opts.inter_op_num_threads == 1


def test_threads_zero_leaves_onnx_runtime_its_default(tmp_path: Path) -> None:
    det = load_detector(config(tmp_path, threads=0).models)
    assert det.session.get_session_options().intra_op_num_threads == 0


@pytest.mark.parametrize(
    ("wanted", "available", "chosen"),
    [
        (["cuda", "cpu"], ["CUDAExecutionProvider", CPU], ["CUDAExecutionProvider", CPU]),
        (["OpenVINO"], ["OpenVINOExecutionProvider", CPU], ["OpenVINOExecutionProvider", CPU]),
        (
            ["TensorRT", "CUDA"],
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", CPU],
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", CPU],
        ),
        (["cuda", "openvino", "cpu"], ["OpenVINOExecutionProvider", CPU], ["OpenVINOExecutionProvider", CPU]),
        (["CUDAExecutionProvider"], [CPU], [CPU]),
        (["cpu", "cuda"], ["CUDAExecutionProvider", CPU], [CPU, "CUDAExecutionProvider"]),
    ],
)
def test_providers_resolved_in_the_configs_order(
    wanted: list[str], available: list[str], chosen: list[str]
) -> None:
    assert resolve_providers(wanted, available) == chosen


def test_misspelt_provider_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"models.providers\[1\]: 'CUDAExecutionProvidr' is not an ONNX"):
        load_detector(config(tmp_path, providers=["cpu", "CUDAExecutionProvidr"]).models)


def test_misspelt_provider_refused_by_the_cli_without_a_traceback(tmp_path: Path) -> None:
    cfg = config(tmp_path, providers=["cuda-gpu"]).model_dump(mode="json")
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    exe = Path(sys.executable).parent / "parkguard-edge"
    res = subprocess.run([exe, "check", "--config", path], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "models.providers[0]: 'cuda-gpu' is not an ONNX Runtime execution provider" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.skipif("CUDAExecutionProvider" in AVAILABLE, reason="CUDA is installed here")
def test_absent_provider_is_a_logged_fallback_to_cpu(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="parkguard.edge.detector"):
        det = load_detector(
            config(tmp_path, providers=["CUDAExecutionProvider", "CPUExecutionProvider"]).models
        )
    assert det.providers == [CPU]
    assert any(
        "CUDAExecutionProvider not installed in this ONNX Runtime" in r.getMessage() for r in caplog.records
    )
    # and the fallback really detects: the same result as a CPU-only detector
    img = cv2.imread(str(photo("bus.jpg")))
    cpu_only = load_detector(config(tmp_path).models)
    a, b = det.detect(img), cpu_only.detect(img)
    assert len(a) >= 4 and a.labels == b.labels
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-5)


@pytest.mark.parametrize("provider", ["CUDAExecutionProvider", "OpenVINOExecutionProvider"])
def test_installed_accelerator_is_used(tmp_path: Path, provider: str) -> None:
    if provider not in AVAILABLE:
        pytest.skip(f"{provider} is not installed in this ONNX Runtime ({', '.join(AVAILABLE)})")
    det = load_detector(config(tmp_path, providers=[provider, "cpu"]).models)
    assert det.providers[0] == provider, det.providers
    assert len(det.detect(cv2.imread(str(photo("bus.jpg"))))) >= 4


@pytest.mark.skipif("AzureExecutionProvider" not in AVAILABLE, reason="no second provider installed")
def test_an_installed_provider_other_than_cpu_is_passed_to_the_session(tmp_path: Path) -> None:
    """The stock wheel installs one provider besides CPU (Azure): asked for, the session gets it
    first, with CPU after it for the operators it does not run."""
    det = load_detector(config(tmp_path, providers=["AzureExecutionProvider"]).models)
    assert det.session.get_providers() == ["AzureExecutionProvider", CPU]


def test_intra_op_threads_do_not_spin_by_default(tmp_path: Path) -> None:
    """Idle ONNX Runtime threads would busy-wait between calls, taking CPU from the readers."""
    det = load_detector(config(tmp_path, threads=2).models)
    opts = det.session.get_session_options()
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
