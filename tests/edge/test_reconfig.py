"""The live reconfiguration plan: what a running node must do to go from one config to another,
worked out from the two configs alone (no node, no cameras, no models)."""

from __future__ import annotations

from typing import Any

import pytest

from edge.config import EdgeConfig
from edge.reconfig import FIXED_SETTINGS, ReconfigPlan, plan_reconfiguration

ZONE = {"id": "door", "points": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]}


def camera(cid: str, **extra: Any) -> dict[str, Any]:
    rule = {"id": f"{cid}-in", "type": "intrusion", "zone": "door"}
    return {"id": cid, "url": f"rtsp://cam/{cid}", "zones": [ZONE], "rules": [rule], **extra}


def config(*cameras: dict[str, Any], **top: Any) -> EdgeConfig:
    cams = list(cameras) or [camera("a"), camera("b")]
    return EdgeConfig.model_validate({"site": "yijia", "node": "edge-01", "cameras": cams, **top})


def changed(old: EdgeConfig, **top: Any) -> EdgeConfig:
    """``old`` with top-level settings replaced (validated again, like a config the center sends)."""
    return EdgeConfig.model_validate({**old.model_dump(mode="json"), **top})


def test_the_same_config_changes_nothing() -> None:
    old = config()
    plan = plan_reconfiguration(old, config())
    assert plan == ReconfigPlan() and plan.refusal is None


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("site", "other"),
        ("node", "edge-02"),
        ("mqtt", {"host": "broker", "port": 1884}),
        ("models", {"threads": 2}),
        ("state_dir", "/var/other-state"),
        ("outbox_max_rows", 500),
        ("metrics_port", 9200),
        ("metrics_bind", "0.0.0.0"),
        ("evidence", {"blur_faces": False}),
        ("center", {"url": "https://center.example"}),
    ],
)
def test_a_fixed_setting_refuses_the_whole_plan(setting: str, value: Any) -> None:
    old = config()
    new = changed(old, **{setting: value}, cameras=[camera("a"), camera("c")])
    plan = plan_reconfiguration(old, new)
    assert plan.refused == (setting,)
    assert plan.refusal == (
        f"{setting}: cannot be changed on a running node (restart it to apply); nothing changed"
    )
    assert (plan.start, plan.stop, plan.restart, plan.rebuild, plan.retune) == ((), (), (), (), ())


def test_every_fixed_setting_that_changed_is_named_in_order() -> None:
    old = config()
    plan = plan_reconfiguration(old, changed(old, node="edge-02", site="other", metrics_port=0))
    assert plan.refused == ("site", "node", "metrics_port")
    assert set(plan.refused) <= set(FIXED_SETTINGS)


def test_cameras_added_removed_disabled_and_enabled() -> None:
    old = config(camera("a"), camera("b"), camera("off", enabled=False))
    new = config(camera("c"), camera("a", enabled=False), camera("off"), camera("b"))
    plan = plan_reconfiguration(old, new)
    assert plan.start == ("c", "off")  # in the new config's order
    assert plan.stop == ("a",)
    assert (plan.restart, plan.rebuild, plan.retune) == ((), (), ())


def test_a_new_url_restarts_only_that_cameras_readers() -> None:
    old = config()
    plan = plan_reconfiguration(old, config(camera("a", url="rtsp://cam/new"), camera("b")))
    assert plan.restart == ("a",) and (plan.rebuild, plan.retune, plan.start, plan.stop) == ((), (), (), ())
    plan = plan_reconfiguration(old, config(camera("a"), camera("b", detect_url="rtsp://cam/b-sub")))
    assert plan.restart == ("b",) and plan.rebuild == ()


@pytest.mark.parametrize("section", [{"stream": {"rtsp_transport": "udp"}}, {"ring": {"seconds": 20}}])
def test_stream_or_ring_settings_restart_every_camera(section: dict[str, Any]) -> None:
    old = config()
    plan = plan_reconfiguration(old, changed(old, **section))
    assert plan.restart == ("a", "b") and (plan.rebuild, plan.retune) == ((), ())


def test_a_changed_rule_or_zone_rebuilds_that_cameras_pipeline_keeping_open_events() -> None:
    old = config()
    rule = {"id": "a-in", "type": "intrusion", "zone": "door", "min_score": 0.6}
    plan = plan_reconfiguration(old, config(camera("a", rules=[rule]), camera("b")))
    assert plan.rebuild == ("a",) and plan.keep_open
    assert (plan.restart, plan.retune) == ((), ())
    zone = {**ZONE, "points": [[0.2, 0.2], [0.9, 0.1], [0.9, 0.9]]}
    plan = plan_reconfiguration(old, config(camera("a"), camera("b", zones=[zone])))
    assert plan.rebuild == ("b",) and plan.keep_open


def test_a_new_name_changes_no_reader_pipeline_or_analyzer() -> None:
    old = config()
    assert plan_reconfiguration(old, config(camera("a", name="东门"), camera("b"))) == ReconfigPlan()


@pytest.mark.parametrize("setting", [{"timezone": "UTC"}, {"evidence_dir": "/var/other-evidence"}])
def test_time_zone_or_evidence_folder_rebuild_every_pipeline_and_end_open_events(
    setting: dict[str, Any],
) -> None:
    old = config()
    plan = plan_reconfiguration(old, changed(old, **setting))
    assert plan.rebuild == ("a", "b") and not plan.keep_open
    assert (plan.restart, plan.retune) == ((), ())


def test_analysis_rate_motion_and_tracker_retune_the_analyzers() -> None:
    old = config(camera("a", analysis_fps=2), camera("b"))
    # the node's default rate reaches only the camera without its own
    assert plan_reconfiguration(old, changed(old, analysis_fps=8)).retune == ("b",)
    assert plan_reconfiguration(old, config(camera("a", analysis_fps=3), camera("b"))).retune == ("a",)
    # the node's motion gating reaches the cameras without their own; the tracker reaches all
    own_motion = config(camera("a", motion={"threshold": 0.01}), camera("b"))
    assert plan_reconfiguration(own_motion, changed(own_motion, motion={"enabled": False})).retune == ("b",)
    tracker = plan_reconfiguration(old, changed(old, tracker={"lost_track_s": 5}))
    assert tracker.retune == ("a", "b") and (tracker.rebuild, tracker.restart) == ((), ())


def test_several_changes_to_one_camera_at_once() -> None:
    old = config()
    rule = {"id": "a-in", "type": "intrusion", "zone": "door", "confirm_frames": 5}
    new = config(camera("a", url="rtsp://cam/a2", analysis_fps=1, rules=[rule]), camera("d"))
    plan = plan_reconfiguration(old, new)
    assert (plan.start, plan.stop, plan.restart, plan.rebuild, plan.retune) == (
        ("d",),
        ("b",),
        ("a",),
        ("a",),
        ("a",),
    )
