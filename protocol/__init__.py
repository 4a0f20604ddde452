"""ParkGuard wire contract shared by edge nodes and the control center.

Neither side imports the other: both import this package. Everything that travels over
MQTT is defined here (message models, topic names, the contract version).
"""

from protocol.ids import ID_PATTERN, Id, new_event_id, valid_id
from protocol.live import LiveAction, LiveError, LiveMode, LiveRequest, LiveResponse
from protocol.messages import (
    PROTOCOL_VERSION,
    SEVERITY_RANK,
    AlertEvent,
    CameraHealth,
    CameraState,
    DetectedObject,
    EventPhase,
    EvidenceHealth,
    EvidenceItem,
    EvidenceRef,
    Heartbeat,
    LiveHealth,
    NodeConfig,
    NodeState,
    NodeStatus,
    RuleType,
    Severity,
    WarningHealth,
    WarningOutcome,
    WarningOutputKind,
    WarningOutputResult,
    WarningRecord,
    now_ms,
)
from protocol.topics import Topic, TopicKind, parse_topic

__all__ = [
    "ID_PATTERN",
    "PROTOCOL_VERSION",
    "SEVERITY_RANK",
    "AlertEvent",
    "CameraHealth",
    "CameraState",
    "DetectedObject",
    "EventPhase",
    "EvidenceHealth",
    "EvidenceItem",
    "EvidenceRef",
    "Heartbeat",
    "Id",
    "LiveAction",
    "LiveError",
    "LiveHealth",
    "LiveMode",
    "LiveRequest",
    "LiveResponse",
    "NodeConfig",
    "NodeState",
    "NodeStatus",
    "RuleType",
    "Severity",
    "Topic",
    "TopicKind",
    "WarningHealth",
    "WarningOutcome",
    "WarningOutputKind",
    "WarningOutputResult",
    "WarningRecord",
    "new_event_id",
    "now_ms",
    "parse_topic",
    "valid_id",
]
