"""Each output type against a real counterpart: a pymodbus TCP server sees the strobe's coil go on
and then off; a local HTTP server receives the speaker request with the audio (POST) or the
message in its URL (GET); aplay plays to ALSA's null device; the WAV file sink holds what was
played. Unreachable devices fail with a clear reason, quickly."""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from common.configfile import ConfigError
from edge.config.warning import AudioOutput, GpioOutput, ModbusOutput, SpeakerOutput, VoiceConfig
from edge.warning.outputs import GpioLine, Job, ModbusCoil, OutputError, PcAudio, SpeakerHttp
from edge.warning.voice import Voice, VoiceCache
from tests.support.devices import modbus_server, speaker_server
from tests.support.ports import free_port


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Voice:
    return VoiceCache(VoiceConfig(), tmp_path_factory.mktemp("voice")).speak("请佩戴安全帽")


def job(voice: Voice | None) -> Job:
    return Job("gate-hardhat", "cam-gate", "0190a2b4-0000-7000-8000-000000000001", voice)


STOP = threading.Event()


def test_modbus_strobe_is_switched_on_then_off(voice: Voice) -> None:
    with modbus_server() as dev:
        out = ModbusCoil(
            ModbusOutput(id="strobe", type="modbus", host=dev.host, port=dev.port, unit=1, coil=5, on_s=0.4)
        )
        t0 = time.time()
        started_ms = out.play(job(voice), STOP)
        assert dev.coil(5) is True and dev.coil(4) is False  # on, and only that coil
        out.after(job(voice), STOP)  # waits on_s, then switches it off
        assert dev.coil(5) is False
        assert [(w.unit, w.address, w.value) for w in dev.writes] == [(1, 5, True), (1, 5, False)]
        on, off = dev.writes
        assert 0.35 <= off.t - on.t <= 1.5
        assert t0 * 1000 - 5 <= started_ms <= on.t * 1000 + 5


def test_modbus_device_unreachable_fails_fast_and_says_where() -> None:
    port = free_port()  # nobody listens
    out = ModbusCoil(
        ModbusOutput(id="strobe", type="modbus", host="127.0.0.1", port=port, coil=0, timeout_s=0.5)
    )
    t0 = time.monotonic()
    with pytest.raises(OutputError, match=rf"Modbus device 127.0.0.1:{port} unreachable"):
        out.play(job(None), STOP)
    assert time.monotonic() - t0 < 3


def test_speaker_post_receives_the_audio_file(
    voice: Voice, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SPEAKER_AUTH", "Bearer s3cret-token")
    with speaker_server() as spk:
        out = SpeakerHttp(
            SpeakerOutput(
                id="yard-01",
                type="speaker_http",
                url=spk.url + "/api/play?camera={camera}",
                headers={"X-Volume": "80"},
                auth_env="SPEAKER_AUTH",
            )
        )
        with caplog.at_level(logging.DEBUG):
            out.play(job(voice), STOP)
        (req,) = spk.requests
        assert req.method == "POST" and req.path == "/api/play?camera=cam-gate"
        assert req.body == voice.path.read_bytes() and req.body[:4] == b"RIFF"
        assert req.headers["Content-Type"] == "audio/wav"
        assert req.headers["X-Volume"] == "80"
        assert req.headers["Authorization"] == "Bearer s3cret-token"
        assert "s3cret" not in caplog.text


def test_speaker_get_url_template_carries_the_message(voice: Voice) -> None:
    with speaker_server() as spk:
        out = SpeakerHttp(
            SpeakerOutput(
                id="yard-01",
                type="speaker_http",
                method="get",
                url=spk.url + "/play?text={text}&file={file}&rule={rule}",
            )
        )
        out.play(job(voice), STOP)
        (req,) = spk.requests
        assert req.method == "GET" and req.body == b""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query)
        assert query == {"text": ["请佩戴安全帽"], "file": [voice.path.name], "rule": ["gate-hardhat"]}


def test_speaker_errors_are_clear(voice: Voice) -> None:
    with speaker_server() as spk:
        spk.status = 500
        out = SpeakerHttp(SpeakerOutput(id="yard-01", type="speaker_http", url=spk.url + "/play?key=abc"))
        with pytest.raises(OutputError, match=r"answered HTTP 500") as err:
            out.play(job(voice), STOP)
        assert "key=abc" not in str(err.value)  # a query may hold a key: never in the reason
    port = free_port()
    dead = SpeakerHttp(SpeakerOutput(id="yard-01", type="speaker_http", url=f"http://127.0.0.1:{port}/play"))
    with pytest.raises(OutputError, match=rf"speaker http://127.0.0.1:{port}/play unreachable"):
        dead.play(job(voice), STOP)
    with speaker_server() as slow:
        slow.delay_s = 2.0
        late = SpeakerHttp(SpeakerOutput(id="yard-01", type="speaker_http", url=slow.url, timeout_s=0.3))
        t0 = time.monotonic()
        with pytest.raises(OutputError, match="unreachable: timed out"):
            late.play(job(voice), STOP)
        assert time.monotonic() - t0 < 1.5


def test_aplay_plays_to_alsa_null_device(voice: Voice) -> None:
    out = PcAudio(AudioOutput(id="ipc", type="audio", player="aplay", device="null"))
    out.check()  # aplay is installed (alsa-utils, scripts/setup.sh)
    t0 = int(time.time() * 1000)
    assert out.play(job(voice), STOP) >= t0
    bad = PcAudio(AudioOutput(id="ipc", type="audio", player="aplay", device="no_such_device"))
    with pytest.raises(OutputError, match=r"aplay failed \(exit 1\)"):
        bad.play(job(voice), STOP)


def test_wav_file_sink_holds_what_was_played(voice: Voice, tmp_path: Path) -> None:
    sink = tmp_path / "played" / "post.wav"
    out = PcAudio(AudioOutput(id="ipc", type="audio", player="file", file=sink))
    out.play(job(voice), STOP)
    assert sink.read_bytes() == voice.path.read_bytes()
    assert not list(sink.parent.glob("*.tmp"))


def test_a_missing_player_is_refused_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match=r"aplay not found: install the Debian package alsa-utils"):
        PcAudio(AudioOutput(id="ipc", type="audio", player="aplay")).check()


def test_gpio_line_set_then_cleared(tmp_path: Path, voice: Voice) -> None:
    # a folder laid out as /sys/class/gpio after the line's export (no GPIO chip on this machine)
    line = tmp_path / "gpio17"
    line.mkdir()
    (line / "direction").write_text("in\n")
    (line / "value").write_text("0\n")
    out = GpioLine(GpioOutput(id="lamp", type="gpio", line=17, on_s=0.05, sysfs=tmp_path))
    out.play(job(voice), STOP)
    assert (line / "direction").read_text() == "out" and (line / "value").read_text() == "1"
    out.after(job(voice), STOP)
    assert (line / "value").read_text() == "0"
    low = GpioLine(GpioOutput(id="lamp", type="gpio", line=17, on_s=0.05, sysfs=tmp_path, active_low=True))
    low.play(job(voice), STOP)
    assert (line / "value").read_text() == "0"
    missing = GpioLine(GpioOutput(id="lamp", type="gpio", line=18, sysfs=tmp_path / "none"))
    with pytest.raises(OutputError, match=r"GPIO 18 .*No such file or directory"):
        missing.play(job(voice), STOP)
