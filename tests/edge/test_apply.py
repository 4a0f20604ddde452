"""Live config apply on a running node with real file cameras, the real model and a real broker."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from common.configfile import ConfigError
from edge.config import EdgeConfig
from edge.node import EdgeNode
from protocol import AlertEvent
from tests.support.nodes import Collector, node_config, running, wait_until

REPO = Path(__file__).resolve().parents[2]
CLIP = REPO / "samples" / "vtest-walkway.mp4"
JUNCTION = {"id": "junction", "points": [[0.50, 0.50], [0.72, 0.48], [0.80, 0.68], [0.55, 0.70]]}


def camera(cid: str, url: Path | str, rule: str, **rule_opts: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "url": str(url),
        "zones": [JUNCTION],
        "rules": [
            {
                "id": rule,
                "type": "intrusion",
                "zone": "junction",
                "confirm_frames": 2,
                "cooldown_s": 1,
                **rule_opts,
            }
        ],
    }


def with_cameras(cfg: EdgeConfig, cameras: list[dict[str, Any]]) -> EdgeConfig:
    data = cfg.model_dump(mode="json")
    data["cameras"] = cameras
    return EdgeConfig.model_validate(data)


def events(sub: Collector) -> list[AlertEvent]:
    return [AlertEvent.model_validate(m) for m in sub.of_kind("event")]


def open_event(sub: Collector, rule: str) -> AlertEvent | None:
    by_id: dict[str, list[AlertEvent]] = {}
    for e in events(sub):
        if e.rule_id == rule:
            by_id.setdefault(e.event_id, []).append(e)
    still_open = [msgs[0] for msgs in by_id.values() if msgs[-1].phase != "end"]
    return still_open[-1] if still_open else None


def ended(sub: Collector, event_id: str) -> bool:
    return any(e.event_id == event_id and e.phase == "end" for e in events(sub))


def test_apply_config_on_a_running_node(tmp_workdir: Path, mosquitto: Any, detector: Any) -> None:
    cfg = node_config(
        tmp_workdir,
        mosquitto.port,
        [camera("cam-1", CLIP, "r1"), camera("cam-2", CLIP, "r2")],
        analysis_fps=4,
    )
    sub = Collector(mosquitto.host, mosquitto.port, "parkguard/v1/yijia/edge-streams/#")
    node = EdgeNode(cfg, detector)
    try:
        with running(node):
            # someone is in the junction in the first seconds of the clip: both rules open an event
            assert wait_until(lambda: open_event(sub, "r1") and open_event(sub, "r2"), 20)
            ev1, ev2 = open_event(sub, "r1"), open_event(sub, "r2")
            stream1 = node.camera("cam-1").stream

            # 1. a changed rule: its open event ends; the other camera's event goes on
            step1 = with_cameras(
                cfg, [camera("cam-1", CLIP, "r1", min_score=0.45), camera("cam-2", CLIP, "r2")]
            )
            node.apply_config(step1)
            assert wait_until(lambda: ended(sub, ev1.event_id), 3)
            assert not ended(sub, ev2.event_id)
            assert node.camera("cam-1").stream is stream1, "a rules change does not restart the reader"
            assert node.camera("cam-1").pipeline.rules[0].cfg.min_score == 0.45

            # 2. camera 2 removed (its open event ends, its reader stops), camera 3 added
            stream2 = node.camera("cam-2").stream
            step2 = with_cameras(
                step1, [step1.cameras[0].model_dump(mode="json"), camera("cam-3", CLIP, "r3")]
            )
            node.apply_config(step2)
            assert node.camera("cam-2") is None
            assert wait_until(lambda: ended(sub, ev2.event_id), 3)
            assert wait_until(lambda: not stream2.is_alive(), 5)
            assert wait_until(lambda: node.camera("cam-3").analyzed >= 4, 15)
            assert node.publisher.cameras == ["cam-1", "cam-3"]

            # 3. camera 1's URL changes: its reader restarts on the new source, its rules go on
            copy = tmp_workdir / "walkway-copy.mp4"
            shutil.copy(CLIP, copy)
            rules_before = node.camera("cam-1").pipeline.rules
            cam1 = step2.cameras[0].model_dump(mode="json") | {"url": str(copy)}
            step3 = with_cameras(step2, [cam1, step2.cameras[1].model_dump(mode="json")])
            node.apply_config(step3)
            new_stream = node.camera("cam-1").stream
            assert new_stream is not stream1 and new_stream.url == str(copy)
            assert wait_until(lambda: not stream1.is_alive(), 5)
            assert wait_until(lambda: new_stream.frames_in > 5 and new_stream.state == "online", 10)
            assert node.camera("cam-1").pipeline.rules == rules_before

            # 4. what cannot change live is refused with a clear message, and nothing changes
            for bad, word in (
                (step3.model_copy(update={"site": "other"}), "site"),
                (step3.model_copy(update={"mqtt": step3.mqtt.model_copy(update={"port": 1})}), "mqtt"),
            ):
                with pytest.raises(ConfigError, match=rf"^{word}: cannot be changed on a running node"):
                    node.apply_config(bad)
            # a rule asking for a class no model gives: refused before anything changed
            bad_rule = with_cameras(
                step3, [camera("cam-1", copy, "r1", classes=["fire"]), camera("cam-4", CLIP, "r4")]
            )
            with pytest.raises(ConfigError, match=r"classes: \['fire'\] not provided"):
                node.apply_config(bad_rule)
            assert [c.cfg.id for c in node.cameras] == ["cam-1", "cam-3"]
            assert node.cfg is step3 and node.camera("cam-1").stream is new_stream
            n3 = node.camera("cam-3").analyzed
            assert wait_until(lambda: node.camera("cam-3").analyzed > n3 + 2, 5), "still analyzing"
    finally:
        sub.close()
