"""Model adapters, one per output family, registered by the manifest's ``family``."""

from __future__ import annotations

from edge.detect.adapters.base import Adapter, Decoded
from edge.detect.adapters.blazeface import BlazeFaceAdapter
from edge.detect.adapters.movenet import MoveNetMultiPoseAdapter
from edge.detect.adapters.nanodet import NanoDetAdapter
from edge.detect.adapters.ssd import SsdAdapter
from edge.detect.adapters.yolo import YoloAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    cls.family: cls
    for cls in (NanoDetAdapter, YoloAdapter, SsdAdapter, MoveNetMultiPoseAdapter, BlazeFaceAdapter)
}

__all__ = [
    "ADAPTERS",
    "Adapter",
    "BlazeFaceAdapter",
    "Decoded",
    "MoveNetMultiPoseAdapter",
    "NanoDetAdapter",
    "SsdAdapter",
    "YoloAdapter",
]
