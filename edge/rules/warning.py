"""A rule's on-site warning (现场提醒): the voice message and the outputs that play it at the post
when the rule's event starts, when (its schedule) and how often (its rate limit).

The outputs themselves (IP speakers, the PC's audio, Modbus strobes, GPIO lines) are the node's
``warning`` section (edge/config/warning.py); a rule names them by id. Played by edge/warning/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from edge.rules.schedule import Schedule
from protocol import Id


class RuleWarning(BaseModel):
    """``cameras[].rules[].warning``: what the post hears and sees when the rule's event starts."""

    model_config = ConfigDict(extra="forbid")

    message: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = Field(
        default="", description="the voice message (请佩戴安全帽), spoken by the node's TTS voice"
    )
    audio: Path | None = Field(
        default=None, description="a recorded WAV file to play instead of the spoken message"
    )
    outputs: list[Id] = Field(min_length=1, max_length=8, description="ids of warning.outputs to use")
    schedule: Schedule | None = Field(
        default=None, description="when the warning may play; default: the rule's schedule"
    )
    min_interval_s: float = Field(
        default=60.0, ge=0.0, le=86400, description="no repeat for this rule and camera within this time"
    )
    max_per_hour: int = Field(default=30, ge=1, le=3600, description="at most this many in any hour")

    @model_validator(mode="after")
    def _something(self) -> RuleWarning:
        dup = sorted({o for o in self.outputs if self.outputs.count(o) > 1})
        if dup:
            raise ValueError(f"output(s) {dup} listed twice")
        return self

    def needs_audio(self) -> bool:
        """Whether it has something to say (a message or a recorded file)."""
        return bool(self.message) or self.audio is not None
