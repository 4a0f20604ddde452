"""A running edge node on the sample footage warns at the post through every output type at once — a
WAV file sink, a local HTTP speaker, a pymodbus strobe — while the broker is unreachable and one
more speaker hangs: the voice is heard within 2 s of the event's start, the frame loop keeps its
pace, the event carries what was played, /metrics counts it."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

import pytest

from edge.node import EdgeNode
from edge.warning.voice import wav_rms
from protocol import AlertEvent, EventPhase, WarningOutcome
from tests.support.devices import modbus_server, speaker_server
from tests.support.nodes import node_config
from tests.support.ports import free_port

pytestmark = [pytest.mark.footage, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
CLIP = REPO / "samples" / "vtest-walkway.mp4"


def test_node_warns_at_the_post_without_a_broker(tmp_path: Path) -> None:
    with speaker_server() as spk, speaker_server() as hung, modbus_server() as dev:
        hung.delay_s = 6.0  # a speaker that takes each request and never answers in time
        metrics_port = free_port()
        cfg = node_config(
            tmp_path,
            free_port(),  # no broker there
            [
                {
                    "id": "cam-yard-01",
                    "name": "厂区主通道",
                    "url": str(CLIP),
                    "zones": [{"id": "walkway", "points": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
                    "rules": [
                        {
                            "id": "walkway-zone",
                            "type": "intrusion",
                            "zone": "walkway",
                            "confirm_frames": 2,
                            "warning": {
                                "message": "危险区域，请勿进入",
                                "outputs": ["sink", "yard-01", "strobe", "hung"],
                            },
                        }
                    ],
                }
            ],
            analysis_fps=5,
            metrics_port=metrics_port,
            warning={
                "outputs": [
                    {"id": "sink", "type": "audio", "player": "file", "file": str(tmp_path / "played.wav")},
                    {"id": "yard-01", "name": "厂区扬声器", "type": "speaker_http", "url": spk.url + "/play"},
                    {
                        "id": "strobe",
                        "type": "modbus",
                        "host": dev.host,
                        "port": dev.port,
                        "coil": 1,
                        "on_s": 0.5,
                    },
                    {"id": "hung", "type": "speaker_http", "url": hung.url, "timeout_s": 4, "queue_max": 1},
                ]
            },
        )
        node = EdgeNode(cfg)
        events: list[AlertEvent] = []
        analyzed: dict[str, tuple[int, float]] = {}  # frames analyzed when the warning was asked / answered
        emit = node._emit

        def capture(batch: list[AlertEvent]) -> None:
            events.extend(batch)
            for e in batch:
                if e.warning is not None:
                    key = "asked" if e.warning.outcome is WarningOutcome.QUEUED else "answered"
                    analyzed.setdefault(key, (node.cameras[0].analyzed, time.monotonic()))
            emit(batch)

        node._emit = capture  # type: ignore[method-assign]
        runner = threading.Thread(target=node.run, name="node")
        runner.start()
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(
                e.warning and e.warning.outcome is not WarningOutcome.QUEUED for e in events
            ):
                time.sleep(0.1)
            metrics = (
                urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
            )
        finally:
            node.stop()
            runner.join(30)
        new = next(e for e in events if e.phase is EventPhase.NEW)
        assert new.warning is not None and new.warning.outcome is WarningOutcome.QUEUED
        final = next(
            e.warning for e in events if e.warning and e.warning.outcome is not WarningOutcome.QUEUED
        )
        assert final is not None
        assert final.outcome is WarningOutcome.PARTIAL  # the hung speaker timed out
        by = {o.output: o for o in final.outputs}
        assert [o.output for o in final.outputs] == ["sink", "yard-01", "strobe", "hung"]
        assert by["sink"].ok and by["yard-01"].ok and by["strobe"].ok
        assert not by["hung"].ok and "timed out" in (by["hung"].error or "")
        heard = by["sink"].ms
        assert heard is not None and heard - new.started_ms <= 2000, heard - new.started_ms
        assert wav_rms(tmp_path / "played.wav") > 0.02
        assert spk.requests[0].body[:4] == b"RIFF"
        assert [w.value for w in dev.writes[:2]] == [True, False]
        # while the hung speaker held the warning (its 4 s timeout), the frame loop kept its pace (5 fps)
        (n0, t0), (n1, t1) = analyzed["asked"], analyzed["answered"]
        assert t1 - t0 >= 3.9
        assert (n1 - n0) / (t1 - t0) >= 3.0, (n1 - n0, t1 - t0)
        assert 'parkguard_edge_warning_played_total{output="yard-01"} 1' in metrics
        assert 'parkguard_edge_warning_failed_total{output="hung"}' in metrics
        assert 'parkguard_edge_warning_suppressed_total{reason="rate_limit"}' in metrics
        assert node.outbox.depth > 0  # the events wait on disk for the broker
        health = node.warner.health() if node.warner else None
        assert health is not None and health.played >= 3
