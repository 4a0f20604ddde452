"""The devices an on-site warning plays on, one class per output type of edge/config/warning.py.

Each :meth:`Output.play` plays one warning and returns when it started (epoch ms), or raises
:class:`OutputError` with a reason a person can act on; :meth:`Output.after` runs once the result
is reported (a strobe switched off after ``on_s``). They run on the output's own worker thread
(edge/warning/service.py), never on the detection thread. pymodbus is imported only by a node with
a Modbus output.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.configfile import ConfigError
from edge.config.warning import AudioOutput, GpioOutput, ModbusOutput, SpeakerOutput, WarningOutput
from edge.warning.voice import Voice
from protocol import WarningOutputKind

log = logging.getLogger("parkguard.edge.warning")

PLAYERS = {  # player → the Debian package that has it
    "aplay": "alsa-utils",
    "paplay": "pulseaudio-utils",
    "ffmpeg": "ffmpeg",
}


class OutputError(Exception):
    """An output could not play a warning; ``str()`` says why (no secret in it)."""


@dataclass(frozen=True)
class Job:
    """One warning to play: what and for whom."""

    rule_id: str
    camera: str
    event_id: str
    voice: Voice | None


def _ms() -> int:
    return int(time.time() * 1000)


class Output:
    kind: WarningOutputKind

    def __init__(self, cfg: WarningOutput) -> None:
        self.cfg = cfg
        self.id = cfg.id
        self.label = cfg.label()

    def check(self) -> None:
        """Refuse at start what cannot work (a player not installed …): ConfigError."""

    def play(self, job: Job, stop: threading.Event) -> int:
        raise NotImplementedError

    def after(self, job: Job, stop: threading.Event) -> None:
        """After the result is reported (switch a strobe off); OutputError if that fails."""


class SpeakerHttp(Output):
    """An IP speaker's HTTP interface: POST the audio file, or GET its URL template."""

    kind = WarningOutputKind.SPEAKER_HTTP
    cfg: SpeakerOutput

    def url(self, job: Job) -> str:
        v = job.voice
        fields = {
            "text": v.text if v else "",
            "file": v.path.name if v else "",
            "sha256": v.sha256 if v else "",
            "rule": job.rule_id,
            "camera": job.camera,
        }
        return self.cfg.url.format(**{k: urllib.parse.quote(s, safe="") for k, s in fields.items()})

    def play(self, job: Job, stop: threading.Event) -> int:
        cfg = self.cfg
        url = self.url(job)
        headers = dict(cfg.headers)
        if cfg.auth_env:
            token = os.environ.get(cfg.auth_env)
            if not token:
                raise OutputError(f"environment variable {cfg.auth_env} (auth_env) is not set")
            headers["Authorization"] = token
        body: bytes | None = None
        if cfg.method == "post":
            if job.voice is None:
                raise OutputError("nothing to send: the rule's warning has no message")
            body = job.voice.path.read_bytes()
            headers["Content-Type"] = cfg.content_type
        req = urllib.request.Request(url, data=body, headers=headers, method=cfg.method.upper())
        where = urllib.parse.urlsplit(url)._replace(query="").geturl()  # no query (a key) in the log
        try:
            with urllib.request.urlopen(req, timeout=cfg.timeout_s) as resp:
                resp.read(4096)
                status = resp.status
        except urllib.error.HTTPError as exc:
            raise OutputError(f"speaker {where} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OutputError(f"speaker {where} unreachable: {reason}") from None
        if not 200 <= status < 300:
            raise OutputError(f"speaker {where} answered HTTP {status}")
        return _ms()


class PcAudio(Output):
    """The industrial PC's audio output: aplay / ffmpeg to an ALSA device, paplay to a PulseAudio
    sink, or ``file``: the WAV written to a file (a sink for machines without a sound card)."""

    kind = WarningOutputKind.AUDIO
    cfg: AudioOutput

    def check(self) -> None:
        player = self.cfg.player
        if player != "file" and shutil.which(player) is None:
            raise ConfigError(
                f"warning.outputs[{self.id}]: {player} not found: install the Debian package "
                f"{PLAYERS[player]}, or use player: file"
            )

    def command(self, path: Path) -> list[str]:
        dev = self.cfg.device
        if self.cfg.player == "aplay":
            return ["aplay", "-q", *(["-D", dev] if dev else []), str(path)]
        if self.cfg.player == "paplay":
            return ["paplay", *([f"--device={dev}"] if dev else []), str(path)]
        return ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "alsa", dev or "default"]

    def play(self, job: Job, stop: threading.Event) -> int:
        if job.voice is None:
            raise OutputError("nothing to play: the rule's warning has no message")
        started = _ms()
        if self.cfg.player == "file":
            assert self.cfg.file is not None
            try:
                self.cfg.file.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.cfg.file.with_name(self.cfg.file.name + ".tmp")
                shutil.copyfile(job.voice.path, tmp)
                os.replace(tmp, self.cfg.file)
            except OSError as exc:
                raise OutputError(f"cannot write the WAV sink {self.cfg.file}: {exc.strerror}") from None
            return started
        cmd = self.command(job.voice.path)
        try:
            run = subprocess.run(cmd, capture_output=True, timeout=self.cfg.timeout_s, check=False)
        except FileNotFoundError:
            raise OutputError(f"{cmd[0]} not found (install {PLAYERS[cmd[0]]})") from None
        except subprocess.TimeoutExpired:
            raise OutputError(f"{cmd[0]} did not finish within {self.cfg.timeout_s:g} s") from None
        if run.returncode != 0:
            err = run.stderr.decode("utf-8", "replace").strip().splitlines()
            raise OutputError(f"{cmd[0]} failed (exit {run.returncode}): {(err or ['no message'])[-1][:150]}")
        return started


class ModbusCoil(Output):
    """A strobe or siren on a Modbus TCP coil: on, then off after ``on_s``."""

    kind = WarningOutputKind.MODBUS
    cfg: ModbusOutput

    def __init__(self, cfg: ModbusOutput) -> None:
        super().__init__(cfg)
        try:
            from pymodbus.client import ModbusTcpClient
        except ImportError:  # pragma: no cover - pymodbus is a runtime dependency
            raise ConfigError(
                f"warning.outputs[{cfg.id}]: Modbus outputs need pymodbus (pip install pymodbus)"
            ) from None
        self._client_cls = ModbusTcpClient
        self.where = f"{cfg.host}:{cfg.port} unit {cfg.unit} coil {cfg.coil}"

    def _write(self, value: bool) -> None:
        cfg = self.cfg
        client: Any = self._client_cls(cfg.host, port=cfg.port, timeout=cfg.timeout_s, retries=0)
        try:
            if not client.connect():
                raise OutputError(f"Modbus device {cfg.host}:{cfg.port} unreachable")
            try:
                rr = client.write_coil(cfg.coil, value, device_id=cfg.unit)
            except Exception as exc:  # pymodbus raises its own ModbusException family
                raise OutputError(f"Modbus {self.where}: {type(exc).__name__}: {exc}"[:200]) from None
            if rr.isError():
                raise OutputError(f"Modbus {self.where} refused the write: {rr}"[:200])
        finally:
            client.close()

    def play(self, job: Job, stop: threading.Event) -> int:
        started = _ms()
        self._write(True)
        return started

    def after(self, job: Job, stop: threading.Event) -> None:
        stop.wait(self.cfg.on_s)  # a stopping node switches it off at once
        try:
            self._write(False)
        except OutputError as exc:
            raise OutputError(f"switching off: {exc}") from None


class GpioLine(Output):
    """A strobe or siren on a GPIO line (sysfs): set, then cleared after ``on_s``."""

    kind = WarningOutputKind.GPIO
    cfg: GpioOutput

    def _line(self) -> Path:
        return self.cfg.sysfs / f"gpio{self.cfg.line}"

    def _set(self, on: bool) -> None:
        line = self._line()
        try:
            if not line.exists():
                (self.cfg.sysfs / "export").write_text(str(self.cfg.line))
            if (line / "direction").read_text().strip() != "out":
                (line / "direction").write_text("out")
            (line / "value").write_text("1" if on != self.cfg.active_low else "0")
        except OSError as exc:
            raise OutputError(f"GPIO {self.cfg.line} ({line}): {exc.strerror or exc}") from None

    def play(self, job: Job, stop: threading.Event) -> int:
        started = _ms()
        self._set(True)
        return started

    def after(self, job: Job, stop: threading.Event) -> None:
        stop.wait(self.cfg.on_s)
        try:
            self._set(False)
        except OutputError as exc:
            raise OutputError(f"switching off: {exc}") from None


def make_output(cfg: WarningOutput) -> Output:
    if isinstance(cfg, SpeakerOutput):
        return SpeakerHttp(cfg)
    if isinstance(cfg, AudioOutput):
        return PcAudio(cfg)
    if isinstance(cfg, ModbusOutput):
        return ModbusCoil(cfg)
    return GpioLine(cfg)
