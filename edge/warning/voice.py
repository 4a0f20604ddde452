"""The voice of on-site warnings: messages spoken offline by espeak-ng (Mandarin: voice ``cmn``),
generated once at start and cached on disk by a hash of (text, voice settings); or a recorded WAV.

A voice file that comes out silent (a voice espeak-ng lacks) is refused at start, not at the post.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.configfile import ConfigError
from edge.config.warning import VoiceConfig

log = logging.getLogger("parkguard.edge.warning")

#: below this RMS (of full scale) a voice file counts as silence
SILENCE_RMS = 0.005
INSTALL_HINT = "install the Debian package espeak-ng (apt-get install espeak-ng; scripts/setup.sh does)"


@dataclass(frozen=True)
class Voice:
    """One playable message: its WAV file, its text, its content hash."""

    path: Path
    text: str
    sha256: str


def wav_rms(path: Path) -> float:
    """RMS of a 16-bit PCM WAV file as a share of full scale (0 = silence, ~0.7 = a full sine)."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: {8 * wav.getsampwidth()}-bit samples; only 16-bit PCM is read")
        frames = wav.readframes(wav.getnframes())
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768.0
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


class VoiceCache:
    """Spoken messages on disk, one WAV per (text, engine, voice, speed, amplitude)."""

    def __init__(self, cfg: VoiceConfig, folder: Path) -> None:
        self.cfg = cfg
        self.folder = folder
        self._voices: dict[str, Voice] = {}
        self._known: set[str] | None = None  # espeak-ng's voices, asked once

    def key(self, text: str) -> str:
        c = self.cfg
        return hashlib.sha256(f"{c.engine}\0{c.voice}\0{c.speed}\0{c.amplitude}\0{text}".encode()).hexdigest()

    def speak(self, text: str) -> Voice:
        """The WAV of ``text``: from the cache, else made now with espeak-ng (ConfigError if it
        cannot be: espeak-ng missing, failing, or the result silent)."""
        key = self.key(text)
        got = self._voices.get(key)
        if got is not None and got.path.exists():
            return got
        path = self.folder / f"{key[:32]}.wav"
        if not path.exists():
            self._generate(text, path)
        else:
            log.debug("voice %r from the cache: %s", text, path)
        voice = Voice(path, text, file_sha256(path))
        self._voices[key] = voice
        return voice

    def recorded(self, path: Path, text: str = "") -> Voice:
        """A recorded WAV file (checked: readable, 16-bit PCM, not silence)."""
        if not path.is_file():
            raise ConfigError(f"warning audio file {path}: no such file")
        _check_not_silent(path, f"warning audio file {path}")
        return Voice(path, text, file_sha256(path))

    def _check_voice(self, exe: str) -> None:
        """espeak-ng speaks an unknown voice with its default one, without a word: refuse it here."""
        if self._known is None:
            self._known = _voices(exe)
        name = self.cfg.voice.split("+", 1)[0]
        if self._known and name not in self._known:
            raise ConfigError(
                f"warning.voice.voice: espeak-ng has no voice {name!r} (Mandarin is cmn; "
                "`espeak-ng --voices` lists them)"
            )

    def _generate(self, text: str, path: Path) -> None:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise ConfigError(
                f"message {text!r}: espeak-ng not found: {INSTALL_HINT}, "
                "or give the rule's warning a recorded `audio` file"
            )
        c = self.cfg
        self._check_voice(exe)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        cmd = [exe, "-v", c.voice, "-s", str(c.speed), "-a", str(c.amplitude), "-w", str(tmp), "--", text]
        try:
            run = subprocess.run(cmd, capture_output=True, timeout=c.timeout_s, check=False)
        except subprocess.TimeoutExpired:
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"message {text!r}: espeak-ng took over {c.timeout_s:g} s") from None
        err = run.stderr.decode("utf-8", "replace").strip()
        if run.returncode != 0 or not tmp.exists():
            tmp.unlink(missing_ok=True)
            raise ConfigError(
                f"message {text!r}: espeak-ng (voice {c.voice}) failed with exit code "
                f"{run.returncode}: {err[:200] or 'no message'}"
            )
        try:
            _check_not_silent(tmp, f"message {text!r} (espeak-ng voice {c.voice})")
        except ConfigError:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, path)
        log.info("voice %r generated with espeak-ng voice %s: %s", text, c.voice, path)


def _voices(exe: str) -> set[str]:
    """The names espeak-ng knows a voice by: languages (cmn, zh), voice names, files (sit/cmn)."""
    run = subprocess.run([exe, "--voices"], capture_output=True, text=True, timeout=20, check=False)
    names: set[str] = set()
    for line in run.stdout.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5:
            names.update({cols[1], cols[3], cols[4], cols[4].rsplit("/", 1)[-1]})
            names.update(re.findall(r"\(([^\s)]+)", line))  # other languages: (zh-cmn 5)(zh 5)
    return names


def _check_not_silent(path: Path, what: str) -> None:
    try:
        rms = wav_rms(path)
    except (wave.Error, ValueError, EOFError, OSError) as exc:
        raise ConfigError(f"{what}: not a readable 16-bit PCM WAV file: {exc}") from None
    if rms < SILENCE_RMS:
        raise ConfigError(f"{what}: the audio is silence (RMS {rms:.4f} of full scale)")
