"""The warnings' voice: espeak-ng (Mandarin) makes a WAV that is not silence, cached on disk by
(text, voice settings); a machine without espeak-ng, or a silent recorded file, is refused with a
clear message."""

from __future__ import annotations

import re
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from common.configfile import ConfigError
from edge.config.warning import VoiceConfig
from edge.warning.voice import VoiceCache, wav_rms


def sox_rms(path: Path) -> float:
    """The RMS amplitude sox measures (``sox FILE -n stat``)."""
    assert shutil.which("sox"), "sox is missing: scripts/setup.sh test installs it (Debian package sox)"
    out = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, check=True)
    m = re.search(r"RMS\s+amplitude:\s+([0-9.]+)", out.stderr)
    assert m, out.stderr
    return float(m.group(1))


def duration_s(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


def test_espeak_ng_speaks_the_message_and_it_is_not_silence(tmp_path: Path) -> None:
    assert shutil.which("espeak-ng"), "espeak-ng is missing: scripts/setup.sh installs it"
    cache = VoiceCache(VoiceConfig(), tmp_path)
    helmet = cache.speak("请佩戴安全帽")
    zone = cache.speak("危险区域，请勿进入")
    for voice in (helmet, zone):
        assert voice.path.parent == tmp_path and voice.path.suffix == ".wav"
        assert sox_rms(voice.path) > 0.02  # speech, not silence (sox's figure)
        assert wav_rms(voice.path) > 0.02  # and ours agrees
        assert abs(sox_rms(voice.path) - wav_rms(voice.path)) < 0.01
    # six syllables, then nine: real speech of that length, not a beep
    assert 0.8 < duration_s(helmet.path) < duration_s(zone.path) < 8
    assert helmet.sha256 != zone.sha256


def test_voices_are_cached_by_text_and_voice_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = VoiceCache(VoiceConfig(), tmp_path).speak("请佩戴安全帽")
    mtime = first.path.stat().st_mtime_ns
    # a node started again finds it on disk: espeak-ng is not even run (not on PATH here)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    again = VoiceCache(VoiceConfig(), tmp_path).speak("请佩戴安全帽")
    assert again.path == first.path and again.sha256 == first.sha256
    assert first.path.stat().st_mtime_ns == mtime
    monkeypatch.undo()
    # another speed is another file
    slower = VoiceCache(VoiceConfig(speed=110), tmp_path).speak("请佩戴安全帽")
    assert slower.path != first.path
    assert duration_s(slower.path) > duration_s(first.path)


def test_without_espeak_ng_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(ConfigError, match=r"espeak-ng not found: install the Debian package espeak-ng"):
        VoiceCache(VoiceConfig(), tmp_path / "voice").speak("请佩戴安全帽")
    assert not (tmp_path / "voice").exists() or not list((tmp_path / "voice").iterdir())


def test_an_unknown_voice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"warning.voice.voice: espeak-ng has no voice .no-such-voice."):
        VoiceCache(VoiceConfig(voice="no-such-voice"), tmp_path).speak("请佩戴安全帽")


def test_a_silent_recorded_file_is_refused(tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    with wave.open(str(silent), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.zeros(16000, "<i2").tobytes())
    with pytest.raises(ConfigError, match="silence"):
        VoiceCache(VoiceConfig(), tmp_path).recorded(silent)
    tone = tmp_path / "tone.wav"
    with wave.open(str(tone), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        t = np.arange(16000) / 16000
        w.writeframes((np.sin(2 * np.pi * 880 * t) * 12000).astype("<i2").tobytes())
    assert VoiceCache(VoiceConfig(), tmp_path).recorded(tone, "提示音").path == tone
    with pytest.raises(ConfigError, match="no such file"):
        VoiceCache(VoiceConfig(), tmp_path).recorded(tmp_path / "missing.wav")
