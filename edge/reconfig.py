"""Live reconfiguration as a plan: what a running node must do to go from one config to another.

:func:`plan_reconfiguration` compares two validated configs and says, per camera, what changes
(pure: no node, no readers, no models); :meth:`edge.node.EdgeNode.apply_config` carries it out.
Settings a running node cannot take (``FIXED_SETTINGS``) make the plan a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge.config.camera import CameraConfig
from edge.config.node import EdgeConfig

# settings a running node cannot take without a restart
FIXED_SETTINGS = (
    "site",
    "node",
    "mqtt",
    "models",
    "state_dir",
    "outbox_max_rows",
    "metrics_port",
    "metrics_bind",
    "evidence",
    "center",
    "warning",
    "live",
)
# camera settings its pipeline (zones, rules) is not built from: a change to these alone keeps it
_NOT_PIPELINE = {"url", "detect_url", "analysis_fps", "motion", "enabled", "name"}


@dataclass(frozen=True)
class ReconfigPlan:
    """Camera ids per action (in the new config's order), and what is refused."""

    refused: tuple[str, ...] = ()  # FIXED_SETTINGS that changed: nothing may change
    start: tuple[str, ...] = ()  # added or enabled: readers and a pipeline of their own
    stop: tuple[str, ...] = ()  # removed or disabled: readers stopped, open events ended
    restart: tuple[str, ...] = ()  # URL, stream or ring settings changed: new readers
    rebuild: tuple[str, ...] = ()  # zones or rules (or time zone, evidence folder) changed: new pipeline
    retune: tuple[str, ...] = ()  # analysis rate, motion gating or tracker changed: new analyzer
    keep_open: bool = True  # a rebuilt pipeline carries its unchanged rules with their open events

    @property
    def refusal(self) -> str | None:
        """The message a refused plan is refused with; None when it can be applied."""
        if not self.refused:
            return None
        return (
            f"{', '.join(self.refused)}: cannot be changed on a running node (restart it to apply); "
            "nothing changed"
        )


def pipeline_part(cam: CameraConfig) -> dict[str, Any]:
    """What a camera's pipeline is built from (a change here rebuilds it)."""
    return cam.model_dump(exclude=_NOT_PIPELINE)


def analysis_part(cfg: EdgeConfig, cam: CameraConfig) -> tuple[object, ...]:
    """What a camera's analyzer is built from: its rate, its motion gating, the tracker."""
    return (cam.analysis_fps or cfg.analysis_fps, cam.motion or cfg.motion, cfg.tracker)


def plan_reconfiguration(old: EdgeConfig, new: EdgeConfig) -> ReconfigPlan:
    """What changes when a node running ``old`` takes ``new`` (both validated)."""
    refused = tuple(name for name in FIXED_SETTINGS if getattr(new, name) != getattr(old, name))
    if refused:
        return ReconfigPlan(refused=refused)
    before = {c.id: c for c in old.cameras if c.enabled}
    after = {c.id: c for c in new.cameras if c.enabled}
    kept = [cid for cid in after if cid in before]
    # a new time zone or evidence folder reaches every rule and every open event
    everything = new.timezone != old.timezone or new.evidence_dir != old.evidence_dir
    all_readers = new.stream != old.stream or new.ring != old.ring

    def readers_changed(cid: str) -> bool:
        a, b = before[cid], after[cid]
        return all_readers or (a.url, a.detect_url) != (b.url, b.detect_url)

    return ReconfigPlan(
        start=tuple(cid for cid in after if cid not in before),
        stop=tuple(cid for cid in before if cid not in after),
        restart=tuple(cid for cid in kept if readers_changed(cid)),
        rebuild=tuple(
            cid for cid in kept if everything or pipeline_part(before[cid]) != pipeline_part(after[cid])
        ),
        retune=tuple(
            cid for cid in kept if analysis_part(old, before[cid]) != analysis_part(new, after[cid])
        ),
        keep_open=not everything,
    )
