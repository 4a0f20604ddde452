"""Model adapters, one per output family, registered by the manifest's ``family``."""

from __future__ import annotations

from edge.adapters.base import Adapter, Decoded
from edge.adapters.blazeface import BlazeFaceAdapter
from edge.adapters.movenet import MoveNetMultiPoseAdapter
from edge.adapters.nanodet import NanoDetAdapter
from edge.adapters.ssd import SsdAdapter
from edge.adapters.yolo import YoloAdapter

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
