"""``warning``: the on-site warning outputs at the posts (现场提醒) and the voice that speaks.

Rules name outputs by id in their own ``warning`` (edge/rules/warning.py); edge/warning/ plays.
Output types: an IP speaker's HTTP interface (``speaker_http``), the industrial PC's audio output
(``audio``: aplay / paplay / ffmpeg to a device, or a WAV file sink), a strobe or siren's coil
through Modbus TCP (``modbus``), a GPIO line through sysfs (``gpio``).
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import Field, ValidationError, WrapValidator, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from edge.config.base import Section
from protocol import Id, WarningOutputKind

#: what a speaker's URL template may name: the message, the audio file's name and hash, the rule, the camera
URL_FIELDS = ("text", "file", "sha256", "rule", "camera")


class VoiceConfig(Section):
    """Offline text-to-speech for the rules' messages, generated at start and cached on disk."""

    engine: Literal["espeak-ng"] = "espeak-ng"
    voice: str = Field(default="cmn", pattern=r"^[A-Za-z0-9_+\-]{1,40}$", description="espeak-ng voice (cmn)")
    speed: int = Field(default=150, ge=80, le=450, description="words a minute")
    amplitude: int = Field(default=150, ge=10, le=200)
    cache_dir: Path | None = Field(
        default=None, description="generated voice files; default: state_dir/voice"
    )
    timeout_s: float = Field(default=30.0, gt=0, le=600)


class _Output(Section):
    id: Id
    name: str = Field(default="", max_length=64, description="what people see (厂区扬声器); default: the id")
    queue_max: int = Field(default=4, ge=1, le=1000, description="warnings waiting for this output at most")

    def label(self) -> str:
        return self.name or self.id


class SpeakerOutput(_Output):
    """An IP speaker's HTTP interface: POST the audio file, or GET a URL made from a template."""

    type: Literal["speaker_http"]
    url: str = Field(description="http(s)://…; may name {text} {file} {sha256} {rule} {camera} (URL-encoded)")
    method: Literal["post", "get"] = Field(default="post", description="post: the audio file is the body")
    content_type: str = Field(default="audio/wav", max_length=64)
    headers: dict[str, str] = Field(default_factory=dict, max_length=16)
    auth_env: str | None = Field(
        default=None, description="environment variable holding the Authorization header (never logged)"
    )
    timeout_s: float = Field(default=3.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _template(cls, url: str) -> str:
        url = url.strip()
        if not re.match(r"^https?://[^/\s{}]+", url):
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(url) if name is not None]
        except ValueError as exc:
            raise ValueError(f"URL template {url!r}: {exc}") from None
        unknown = sorted({n for n in names if n not in URL_FIELDS})
        if unknown:
            raise ValueError(
                f"URL template names unknown field(s) {unknown} (known: {', '.join(URL_FIELDS)})"
            )
        return url

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for key, value in headers.items():
            if not re.match(r"^[A-Za-z0-9\-]{1,64}$", key) or len(value) > 512 or "\n" in value:
                raise ValueError(f"header {key[:64]!r}: not a valid HTTP header")
            if key.lower() == "authorization":
                raise ValueError("put the Authorization header in an environment variable (auth_env)")
        return headers


class AudioOutput(_Output):
    """The industrial PC's own audio output: a player to a device, or a WAV file sink."""

    type: Literal["audio"]
    player: Literal["aplay", "paplay", "ffmpeg", "file"] = Field(
        default="aplay", description="aplay/ffmpeg: ALSA, paplay: PulseAudio, file: write the WAV to `file`"
    )
    device: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_:,.=\-]{1,64}$",
        description="ALSA device (default, plughw:1,0, null) or PulseAudio sink; none: the default",
    )
    file: Path | None = Field(
        default=None, description="player: file — the WAV file each warning is written to"
    )
    timeout_s: float = Field(default=30.0, gt=0, le=600, description="longest a playback may take")

    @model_validator(mode="after")
    def _sink(self) -> AudioOutput:
        if self.player == "file" and self.file is None:
            raise ValueError("player: file needs `file` (the WAV file to write)")
        if self.player != "file" and self.file is not None:
            raise ValueError("`file` is only for player: file")
        return self


class ModbusOutput(_Output):
    """A strobe or siren on a Modbus TCP coil: switched on, then off after ``on_s``."""

    type: Literal["modbus"]
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=502, ge=1, le=65535)
    unit: int = Field(default=1, ge=0, le=255, description="unit (device) id")
    coil: int = Field(ge=0, le=65535, description="coil address (0-based)")
    on_s: float = Field(default=5.0, gt=0, le=600, description="how long the coil stays on")
    timeout_s: float = Field(default=1.0, gt=0, le=30)


class GpioOutput(_Output):
    """A strobe or siren on a GPIO line through sysfs: set, then cleared after ``on_s``."""

    type: Literal["gpio"]
    line: int = Field(ge=0, le=4095, description="the sysfs GPIO number")
    active_low: bool = False
    on_s: float = Field(default=5.0, gt=0, le=600)
    sysfs: Path = Field(default=Path("/sys/class/gpio"), description="the sysfs GPIO folder")


_TYPES = ("speaker_http", "audio", "modbus", "gpio")


def _untagged(value: Any, handler: Any) -> Any:
    """Errors say ``warning.outputs[0].url``, without the type tag pydantic puts in the path."""
    try:
        return handler(value)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            if loc and loc[0] in _TYPES:
                loc = loc[1:]
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(err["type"], err["msg"]), loc=loc, input=err["input"]
                )
            )
        raise ValidationError.from_exception_data(exc.title, errors) from None


if TYPE_CHECKING:
    WarningOutput: TypeAlias = SpeakerOutput | AudioOutput | ModbusOutput | GpioOutput
else:
    WarningOutput = Annotated[
        Annotated[SpeakerOutput | AudioOutput | ModbusOutput | GpioOutput, Field(discriminator="type")],
        WrapValidator(_untagged),
    ]
#: the output kinds that play the voice (the others are light / siren only)
VOICE_KINDS = {WarningOutputKind.SPEAKER_HTTP.value, WarningOutputKind.AUDIO.value}


class WarningConfig(Section):
    """On-site warnings: the outputs the rules may name, and the voice that speaks their messages."""

    outputs: list[WarningOutput] = Field(default_factory=list, max_length=32)
    voice: VoiceConfig = Field(default_factory=VoiceConfig)
    report_to_center: bool = Field(
        default=True,
        description="what was played on the events' messages, the figures in the heartbeat; false for a "
        "center that predates them (it refuses messages with the fields): warnings still play, log, count",
    )

    @model_validator(mode="after")
    def _unique(self) -> WarningConfig:
        ids = [o.id for o in self.outputs]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"output id(s) {dup} used twice")
        return self

    def output(self, output_id: str) -> WarningOutput | None:
        return next((o for o in self.outputs if o.id == output_id), None)
