"""The node's warning service and the camera pipeline with warnings: decided at once on the
detection thread (schedule, rate limit per rule and camera, full queues), played on the outputs'
threads against real devices, the outcome carried by the event's messages, counted in /metrics."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from edge.config import EdgeConfig
from edge.detect.detections import Detections
from edge.pipeline import CameraPipeline
from edge.warning.service import WarningService, make_warnings
from protocol import AlertEvent, EventPhase, WarningOutcome
from tests.support.devices import modbus_server, speaker_server
from tests.support.ports import free_port

TZ = ZoneInfo("Asia/Shanghai")


def local_ms(hh: int, mm: int = 0, day: int = 2) -> int:
    """Epoch ms of 2026-12-0{day} hh:mm in the site's time zone (the 2nd is a Wednesday)."""
    return int(datetime(2026, 12, day, hh, mm, tzinfo=TZ).timestamp() * 1000)


def config(tmp: Path, outputs: list[dict[str, Any]], warning: dict[str, Any], **rule: Any) -> EdgeConfig:
    return EdgeConfig.model_validate(
        {
            "site": "yijia",
            "node": "edge-01",
            "state_dir": str(tmp / "state"),
            "metrics_port": 0,
            "warning": {"outputs": outputs},
            "cameras": [
                {
                    "id": "cam-gate",
                    "name": "施工区入口",
                    "url": str(tmp / "none.mp4"),
                    "zones": [{"id": "all", "points": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
                    "rules": [
                        {
                            "id": "gate-zone",
                            "type": "intrusion",
                            "zone": "all",
                            "confirm_frames": 1,
                            "end_after_s": 1,
                            "cooldown_s": 0,
                            "update_interval_s": 60,
                            "warning": {"message": "危险区域，请勿进入", "outputs": ["sink"], **warning},
                            **rule,
                        }
                    ],
                }
            ],
        }
    )


def sink(tmp: Path) -> dict[str, Any]:
    return {
        "id": "sink",
        "name": "工控机音频",
        "type": "audio",
        "player": "file",
        "file": str(tmp / "played.wav"),
    }


def person(present: bool) -> Detections:
    if not present:
        return Detections.empty()
    return Detections(
        np.array([[0.4, 0.4, 0.5, 0.8]], np.float32),
        np.array([0.9], np.float32),
        np.array([0], np.int32),
        ["person"],
    )


def request(svc: WarningService, cfg: EdgeConfig, ts: int, camera: str = "cam-gate") -> WarningOutcome:
    rule = cfg.cameras[0].rules[0]
    return svc.request(rule, camera, f"0190a2b4-0000-7000-8000-{ts % 10**12:012d}", ts, ts).outcome


def test_rate_limit_per_rule_and_camera_with_the_test_clock(tmp_path: Path) -> None:
    cfg = config(tmp_path, [{**sink(tmp_path), "queue_max": 10}], {"min_interval_s": 30, "max_per_hour": 3})
    svc = make_warnings(cfg)
    assert svc is not None
    svc.start()
    t = local_ms(9)
    assert request(svc, cfg, t) is WarningOutcome.QUEUED
    assert request(svc, cfg, t + 10_000) is WarningOutcome.RATE_LIMITED  # a repeat within 30 s
    assert request(svc, cfg, t + 10_000, camera="cam-yard") is WarningOutcome.QUEUED  # another post
    assert request(svc, cfg, t + 30_000) is WarningOutcome.QUEUED
    assert request(svc, cfg, t + 60_000) is WarningOutcome.QUEUED  # the third within the hour
    assert request(svc, cfg, t + 95_000) is WarningOutcome.RATE_LIMITED  # the cap: 3 an hour
    assert request(svc, cfg, t + 3_600_000) is WarningOutcome.QUEUED  # the first one left the hour
    assert svc.suppressed["rate_limit"] == 1 and svc.suppressed["hourly_cap"] == 1
    rule = cfg.cameras[0].rules[0]
    rec = svc.request(rule, "cam-gate", "0190a2b4-0000-7000-8000-000000000009", t + 3_601_000, t)
    assert rec.outcome is WarningOutcome.RATE_LIMITED
    assert rec.reason == "repeat within 30 s (last played 10:00:00)"  # in the site's time zone
    h = svc.health()
    assert (h.rate_limited, h.outside_schedule, h.dropped) == (3, 0, 0)
    assert svc.wait_idle(5) and svc.health().played == 5
    svc.stop()


def test_schedule_the_warnings_own_or_the_rules(tmp_path: Path) -> None:
    own = config(tmp_path, [sink(tmp_path)], {"schedule": {"times": ["08:00-18:00"]}, "min_interval_s": 0})
    svc = make_warnings(own)
    assert svc is not None  # not started: what is queued stays queued (4 at most), which is enough here
    assert request(svc, own, local_ms(20)) is WarningOutcome.OUTSIDE_SCHEDULE
    assert request(svc, own, local_ms(7, 59)) is WarningOutcome.OUTSIDE_SCHEDULE
    assert request(svc, own, local_ms(9)) is WarningOutcome.QUEUED
    assert svc.suppressed["outside_schedule"] == 2
    # without its own, the rule's: weekdays only (the 5th is a Saturday)
    rules = config(
        tmp_path,
        [sink(tmp_path)],
        {"min_interval_s": 0},
        schedule={"weekdays": ["mon", "tue", "wed", "thu", "fri"]},
    )
    svc = make_warnings(rules)
    assert svc is not None
    assert request(svc, rules, local_ms(10, day=5)) is WarningOutcome.OUTSIDE_SCHEDULE
    assert request(svc, rules, local_ms(10, day=4)) is WarningOutcome.QUEUED


def test_plays_on_a_speaker_and_a_strobe_and_reports_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with speaker_server() as spk, modbus_server() as dev:
        outputs = [
            {"id": "yard-01", "name": "厂区扬声器", "type": "speaker_http", "url": spk.url + "/play"},
            {
                "id": "strobe",
                "name": "声光报警器",
                "type": "modbus",
                "host": dev.host,
                "port": dev.port,
                "coil": 2,
                "on_s": 0.3,
            },
        ]
        cfg = config(tmp_path, outputs, {"outputs": ["yard-01", "strobe"]})
        svc = make_warnings(cfg)
        assert svc is not None
        svc.start()
        try:
            now = int(time.time() * 1000)
            with caplog.at_level(logging.INFO, "parkguard.edge.warning"):
                rec = svc.request(
                    cfg.cameras[0].rules[0],
                    "cam-gate",
                    "0190a2b4-0000-7000-8000-000000000001",
                    now,
                    now - 400,
                )
                assert rec.outcome is WarningOutcome.QUEUED and rec.message == "危险区域，请勿进入"
                assert svc.wait_idle(5)
                ((eid, final),) = svc.take_results("cam-gate")
            assert eid == "0190a2b4-0000-7000-8000-000000000001"
            assert final.outcome is WarningOutcome.PLAYED
            assert [(o.output, o.name, o.kind.value, o.ok) for o in final.outputs] == [
                ("yard-01", "厂区扬声器", "speaker_http", True),
                ("strobe", "声光报警器", "modbus", True),
            ]
            assert all(o.ms is not None and now <= o.ms <= now + 3000 for o in final.outputs)
            assert spk.requests[0].body[:4] == b"RIFF"
            time.sleep(0.6)  # on_s: the strobe goes off again
            assert [w.value for w in dev.writes] == [True, False]
            assert (
                "warning played on yard-01 (厂区扬声器): 「危险区域，请勿进入」 rule gate-zone "
                "camera cam-gate" in caplog.text
            )
            assert svc.played == {"yard-01": 1, "strobe": 1} and not svc.failed
            assert svc.latency_ms and 400 <= svc.latency_ms[0] < 3000
        finally:
            svc.stop()


def test_a_full_queue_drops_without_waiting(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with speaker_server() as spk:
        spk.delay_s = 1.0  # a speaker that hangs on each request
        outputs = [
            {"id": "slow", "type": "speaker_http", "url": spk.url, "timeout_s": 5, "queue_max": 1},
            sink(tmp_path),
        ]
        cfg = config(
            tmp_path, outputs, {"outputs": ["slow", "sink"], "min_interval_s": 0, "max_per_hour": 1000}
        )
        svc = make_warnings(cfg)
        assert svc is not None
        svc.start()
        try:
            t = int(time.time() * 1000)
            took, records = [], []
            with caplog.at_level(logging.INFO, "parkguard.edge.warning"):
                for i in range(5):
                    t0 = time.perf_counter()
                    records.append(
                        svc.request(
                            cfg.cameras[0].rules[0],
                            "cam-gate",
                            f"0190a2b4-0000-7000-8000-00000000000{i}",
                            t + i,
                            t,
                        )
                    )
                    took.append(time.perf_counter() - t0)
                    time.sleep(0.02)
            assert max(took) < 0.02, took  # never waits for a device
            # the first is playing, the second waits in the slow speaker's queue (1), then it is full
            assert [r.outcome for r in records] == [WarningOutcome.QUEUED] * 5  # the sink takes them all
            assert svc.suppressed["queue_full"] == 3
            assert (
                caplog.text.count(
                    "warning dropped on output(s) slow (queue full: the device is slow or unreachable)"
                )
                == 3
            )
            assert svc.wait_idle(10)
            results = dict(svc.take_results("cam-gate"))
            outcomes = [results[f"0190a2b4-0000-7000-8000-00000000000{i}"].outcome for i in range(5)]
            assert outcomes == [WarningOutcome.PLAYED] * 2 + [WarningOutcome.PARTIAL] * 3
            slow = results["0190a2b4-0000-7000-8000-000000000004"].outputs[0]
            assert (slow.output, slow.ok) == ("slow", False) and "queue full (1 waiting)" in (
                slow.error or ""
            )
            assert svc.health().dropped == 3
        finally:
            svc.stop()


def test_an_unreachable_strobe_fails_with_a_clear_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead_port = free_port()
    outputs = [
        {
            "id": "strobe",
            "name": "声光报警器",
            "type": "modbus",
            "host": "127.0.0.1",
            "port": dead_port,
            "coil": 0,
            "timeout_s": 0.3,
        }
    ]
    cfg = config(tmp_path, outputs, {"outputs": ["strobe"], "message": ""})
    svc = make_warnings(cfg)
    assert svc is not None
    svc.start()
    try:
        t = int(time.time() * 1000)
        with caplog.at_level(logging.INFO, "parkguard.edge.warning"):
            assert request(svc, cfg, t) is WarningOutcome.QUEUED
            assert svc.wait_idle(5)
        ((_, rec),) = svc.take_results("cam-gate")
        assert rec.outcome is WarningOutcome.FAILED and rec.message == ""  # light only: no voice
        (out,) = rec.outputs
        assert not out.ok and out.error == f"Modbus device 127.0.0.1:{dead_port} unreachable"
        assert (
            f"warning output strobe (声光报警器) failed: Modbus device 127.0.0.1:{dead_port} unreachable "
            "(rule gate-zone camera cam-gate" in caplog.text
        )
        assert svc.failed["strobe"] == 1 and svc.health().failed == 1
    finally:
        svc.stop()


def run_frames(
    pipe: CameraPipeline,
    frames: list[tuple[int, bool]],
    svc: WarningService | None = None,
    settle: bool = False,
) -> tuple[list[AlertEvent], list[float]]:
    events: list[AlertEvent] = []
    took = []
    for ts, present in frames:
        t0 = time.perf_counter()
        events += pipe.process(None, ts, person(present))
        took.append(time.perf_counter() - t0)
        if settle and svc is not None:
            svc.wait_idle(5)
    return events, took


def test_pipeline_event_carries_the_warning_then_its_result(tmp_path: Path) -> None:
    cfg = config(tmp_path, [sink(tmp_path)], {})
    svc = make_warnings(cfg)
    assert svc is not None
    svc.start()
    try:
        pipe = CameraPipeline(cfg, cfg.cameras[0], {"person"}, None, svc)
        t = int(time.time() * 1000)
        events, _ = run_frames(pipe, [(t + i * 200, True) for i in range(8)], svc, settle=True)
        new, *later = events
        assert new.phase is EventPhase.NEW and new.warning is not None
        assert (
            new.warning.outcome is WarningOutcome.QUEUED and new.warning.reason == "the rule's event started"
        )
        # the result goes out at once as an update (update_interval_s is 60 s), not with the end
        assert later and later[0].phase is EventPhase.UPDATE and later[0].seq == 1
        assert later[0].warning is not None and later[0].warning.outcome is WarningOutcome.PLAYED
        (out,) = later[0].warning.outputs
        assert out.output == "sink" and out.name == "工控机音频" and out.ok
        assert (tmp_path / "played.wav").read_bytes()[:4] == b"RIFF"
        ends, _ = run_frames(pipe, [(t + 2000 + i * 200, False) for i in range(8)])
        (end,) = ends
        assert end.phase is EventPhase.END and end.warning == later[0].warning  # every message keeps it
        # the wire: the field is there with it, and left out without (an older center takes those)
        assert '"warning":{"outcome":"played"' in end.model_dump_json()
        assert '"warning"' not in end.model_copy(update={"warning": None}).model_dump_json()
    finally:
        svc.stop()


def test_pipeline_event_over_before_its_result_gets_its_end_again(tmp_path: Path) -> None:
    with speaker_server() as spk:
        spk.delay_s = 0.5
        outputs = [{"id": "yard-01", "type": "speaker_http", "url": spk.url}]
        cfg = config(tmp_path, outputs, {"outputs": ["yard-01"]}, end_after_s=0)
        svc = make_warnings(cfg)
        assert svc is not None
        svc.start()
        try:
            pipe = CameraPipeline(cfg, cfg.cameras[0], {"person"}, None, svc)
            t = int(time.time() * 1000)
            events, _ = run_frames(pipe, [(t, True), (t + 200, False)])
            assert [e.phase for e in events] == [EventPhase.NEW, EventPhase.END]
            assert events[1].warning is not None and events[1].warning.outcome is WarningOutcome.QUEUED
            assert svc.wait_idle(5)
            (again,) = pipe.process(None, t + 400, person(False))
            assert again.phase is EventPhase.END and again.seq == events[1].seq + 1
            assert again.event_id == events[0].event_id
            assert again.warning is not None and again.warning.outcome is WarningOutcome.PLAYED
            assert pipe.process(None, t + 600, person(False)) == []
            assert not pipe._warnings and not pipe._warn_ended  # nothing kept for an event settled
        finally:
            svc.stop()


def test_frame_loop_is_not_slowed_by_a_hanging_speaker(tmp_path: Path) -> None:
    """Many events in a row (cooldown 0, no rate limit) while the only speaker hangs 2 s a request:
    every frame's rules step stays fast; the warnings that find the queue full are dropped and
    counted, and the events still go out."""
    with speaker_server() as spk:
        spk.delay_s = 2.0
        outputs = [{"id": "yard-01", "type": "speaker_http", "url": spk.url, "timeout_s": 5, "queue_max": 1}]
        cfg = config(
            tmp_path,
            outputs,
            {"outputs": ["yard-01"], "min_interval_s": 0, "max_per_hour": 3600},
            end_after_s=0,
        )
        svc = make_warnings(cfg)
        assert svc is not None
        svc.start()
        try:
            pipe = CameraPipeline(cfg, cfg.cameras[0], {"person"}, None, svc)
            t = int(time.time() * 1000)
            frames = [(t + i * 100, i % 2 == 0) for i in range(40)]  # 20 events, 100 ms a frame
            events, took = run_frames(pipe, frames)
            news = [e for e in events if e.phase is EventPhase.NEW]
            assert len(news) == 20
            assert max(took) < 0.05, f"slowest frame {max(took) * 1000:.1f} ms"
            dropped = [e for e in news if e.warning and e.warning.outcome is WarningOutcome.DROPPED]
            assert len(dropped) >= 17 and svc.suppressed["queue_full"] == len(dropped)
        finally:
            svc.stop(timeout=0.1)


def test_report_to_center_false_plays_but_keeps_the_messages_as_an_older_center_takes_them(
    tmp_path: Path,
) -> None:
    cfg = config(tmp_path, [sink(tmp_path)], {})
    cfg.warning.report_to_center = False
    svc = make_warnings(cfg)
    assert svc is not None
    svc.start()
    try:
        pipe = CameraPipeline(cfg, cfg.cameras[0], {"person"}, None, svc)
        t = int(time.time() * 1000)
        events, _ = run_frames(pipe, [(t + i * 200, i < 6) for i in range(16)], svc, settle=True)
        assert [e.phase for e in events] == [EventPhase.NEW, EventPhase.END]  # no extra update either
        assert all('"warning"' not in e.model_dump_json() for e in events)
        assert svc.played["sink"] == 1 and (tmp_path / "played.wav").is_file()
        assert not pipe._warnings and not pipe._warn_ended
    finally:
        svc.stop()
