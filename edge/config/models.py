"""``models``: the manifest, the object model(s) the node runs and how."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from edge.config.base import Section


class ModelsConfig(Section):
    manifest: Path = Path("../models/manifest.yaml")
    detector: str = "nanodet-coco"
    extra_detectors: list[str] = Field(
        default_factory=list,
        description="more models from the manifest run on every analyzed frame (e.g. a trained PPE "
        "model); their detections join the main model's",
    )
    threads: int = Field(default=0, ge=0, le=256, description="intra-op threads, 0 = ONNX Runtime default")
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"])
    score_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    nms_iou: float = Field(default=0.5, gt=0.0, le=1.0)
