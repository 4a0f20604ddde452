"""Edge node configuration: YAML validated by pydantic, unknown keys refused, one module per
section (like the file's top-level keys).

Rule configs are not here: each rule type owns its config in its module in edge/rules/, and
edge/rules/registry.py joins them into the union ``cameras[].rules`` is validated with. Inside
edge, import from the section modules (``edge.config.camera``); this package exports the lot.
"""

from edge.config.base import Section
from edge.config.camera import CameraConfig, ZoneConfig
from edge.config.center import CenterLinkConfig
from edge.config.evidence import EvidenceConfig
from edge.config.models import ModelsConfig
from edge.config.motion import MotionConfig
from edge.config.mqtt import MqttConfig
from edge.config.node import EdgeConfig, load_edge_config, parse_edge_config
from edge.config.stream import RingConfig, StreamOptions
from edge.config.tracker import TrackerConfig
from edge.config.warning import WarningConfig

__all__ = [
    "CameraConfig",
    "CenterLinkConfig",
    "EdgeConfig",
    "EvidenceConfig",
    "ModelsConfig",
    "MotionConfig",
    "MqttConfig",
    "RingConfig",
    "Section",
    "StreamOptions",
    "TrackerConfig",
    "WarningConfig",
    "ZoneConfig",
    "load_edge_config",
    "parse_edge_config",
]
