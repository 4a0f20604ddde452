"""Rule configs refused at load (field path in the message) and at build (classes no loaded model
provides; rule types that need tracks with tracking off)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from common.configfile import ConfigError
from edge.config import load_edge_config
from edge.rules.registry import build_rules

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "configs" / "demo-edge.yaml"
COCO = {"person", "vehicle", "phone", "dog"}


def config_with(tmp_path: Path, *rules: dict, **top: object) -> Path:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["models"]["manifest"] = str(REPO / "models" / "manifest.yaml")
    data["cameras"][0]["url"] = str(REPO / "samples" / "vtest-walkway.mp4")
    data["cameras"][0]["rules"] = list(rules)
    data.update(top)
    p = tmp_path / "edge.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"type": "overcrowding"}, "rules[0].max_count: overcrowding rules need max_count"),
        (
            {"type": "overcrowding", "max_count": -1},
            "rules[0].max_count: Input should be greater than or equal to 0",
        ),
        ({"type": "line_crossing"}, "rules[0].line: line_crossing rules need line"),
        ({"type": "line_crossing", "line": [[0.1, 0.1]]}, "rules[0].line: a line is two points"),
        (
            {"type": "line_crossing", "line": [[0.1, 0.1], [1.2, 0.5]]},
            "rules[0].line: point (1.2, 0.5) is outside 0–1",
        ),
        (
            {"type": "line_crossing", "line": [[0.1, 0.1], [0.1, 0.1]]},
            "rules[0].line: the two points are (almost) the same",
        ),
        (
            {"type": "line_crossing", "line": [[0, 0], [1, 1]], "direction": "up"},
            "rules[0].direction: Input should be",
        ),
        (
            {"type": "line_crossing", "line": [[0, 0], [1, 1]], "zone": "junction"},
            "rules[0].zone: line_crossing rules use",
        ),
        ({"type": "loitering"}, "rules[0].duration_s: loitering rules need duration_s"),
        ({"type": "loitering", "duration_s": 0}, "rules[0].duration_s: Input should be greater than 0"),
        ({"type": "post_unattended", "duration_s": 60}, "rules[0].zone: post_unattended rules need a zone"),
        (
            {"type": "intrusion", "zone": "junction", "max_count": 3},
            "rules[0].max_count: unknown key (not used by intrusion rules; only by: overcrowding)",
        ),
        (
            {"type": "intrusion", "zone": "junction", "line": [[0, 0], [1, 1]]},
            "rules[0].line: unknown key (not used by intrusion",
        ),
        (
            {"type": "intrusion", "zone": "junction", "confirm_s": 2, "confirm_frames": 5},
            "rules[0].confirm_frames: give",
        ),
        ({"type": "missing_ppe"}, "rules[0].ppe: missing_ppe rules need ppe"),
        (
            {"type": "missing_ppe", "ppe": ["helmet", "gloves"]},
            "rules[0].ppe[1]: Input should be 'helmet' or 'vest'",
        ),
        (
            {"type": "missing_ppe", "ppe": ["vest"], "baseline": {}},
            "rules[0].baseline: calibration for provider: baseline",
        ),
        (
            {
                "type": "missing_ppe",
                "ppe": ["vest"],
                "provider": "baseline",
                "baseline": {"vest_hues_deg": [[90, 45]]},
            },
            "rules[0].baseline.vest_hues_deg: hue range (90.0, 45.0) must satisfy",
        ),
        ({"type": "vehicle_proximity", "distance": 0}, "rules[0].distance: Input should be greater than 0"),
        (
            {"type": "vehicle_proximity", "homography": [[1, 0], [0, 1]]},
            "rules[0].homography: need a 3×3 matrix",
        ),
        (
            {"type": "vehicle_proximity", "homography": [[1, 2, 3], [2, 4, 6], [0, 0, 1]], "distance_m": 2},
            "rules[0].homography: the matrix is singular",
        ),
        (
            {"type": "vehicle_proximity", "homography": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]},
            "rules[0].distance_m: a homography measures in metres",
        ),
        (
            {"type": "vehicle_proximity", "distance_m": 3},
            "rules[0].distance_m: distance_m needs a homography",
        ),
        (
            {"type": "man_down", "fall": {"torso_angle_deg": 5}},
            "rules[0].fall.torso_angle_deg: Input should be greater",
        ),
        ({"type": "phone_use", "reach": 9}, "rules[0].reach: Input should be less than or equal to 2"),
        ({"type": "intrusion", "zone": "junction", "schedule": {"times": ["8:00-17"]}}, "is not HH:MM-HH:MM"),
        (
            {"type": "bogus"},
            "rules[0].type: unknown rule type 'bogus' (available: intrusion, post_unattended, overcrowding,",
        ),
        ({}, "rules[0].type: Field required (the rule type, one of: intrusion, post_unattended,"),
        ({"type": "intrusion", "zone": "junction", "bogus": 1}, "rules[0].bogus: unknown key"),
        (
            {"type": "loitering", "duration_s": 5, "fall": {}},
            "rules[0].fall: unknown key (not used by loitering rules; only by: man_down)",
        ),
        ({"type": "man_down", "duration_s": -1}, "rules[0].duration_s: Input should be greater than 0"),
    ],
)
def test_refused_at_load_with_the_field_path(tmp_path: Path, rule: dict, expected: str) -> None:
    path = config_with(tmp_path, {"id": "r1", **rule})
    with pytest.raises(ConfigError) as exc:
        load_edge_config(path)
    assert f"{path}: cameras[0]." in str(exc.value)
    assert expected in str(exc.value), str(exc.value)


def test_two_rules_with_one_id(tmp_path: Path) -> None:
    r = {"id": "same", "type": "overcrowding", "max_count": 3}
    with pytest.raises(ConfigError, match=r"rule id\(s\) \['same'\] used twice"):
        load_edge_config(config_with(tmp_path, r, dict(r)))


def test_every_type_loads_with_its_fields(tmp_path: Path) -> None:
    rules = [
        {"id": "a", "type": "intrusion", "zone": "junction", "confirm_s": 1.5},
        {"id": "b", "type": "post_unattended", "zone": "junction", "min_count": 2, "duration_s": 60},
        {"id": "c", "type": "overcrowding", "max_count": 9},
        {"id": "d", "type": "loitering", "zone": "junction", "duration_s": 30},
        {"id": "e", "type": "man_down"},
        {"id": "f", "type": "phone_use", "zone": "junction"},
        {"id": "g", "type": "vehicle_proximity", "distance": 1.5},
        {"id": "h", "type": "line_crossing", "line": [[0.5, 0.1], [0.5, 0.9]], "direction": "a_to_b"},
        {
            "id": "i",
            "type": "missing_ppe",
            "ppe": ["helmet", "vest"],
            "provider": "baseline",
            "name": "安全帽反光衣",
        },
    ]
    cfg = load_edge_config(config_with(tmp_path, *rules))
    got = {r.id: r for r in cfg.cameras[0].rules}
    assert got["b"].min_count == 2 and got["c"].max_count == 9 and not hasattr(got["c"], "min_count")
    assert got["e"].duration_s == 3.0 and got["e"].fall is not None and got["e"].fall.torso_angle_deg == 60
    assert got["g"].min_speed == 0.2 and got["g"].vehicle_classes == ["vehicle"]
    assert got["h"].direction == "a_to_b" and got["h"].confirm_frames == 3
    assert got["i"].baseline is not None and got["i"].name == "安全帽反光衣 [PPE baseline 基线]"
    # a dumped config (e.g. one the center sends back to the node) validates to the same rules
    again = type(cfg).model_validate(cfg.model_dump(mode="json"))
    assert again.cameras[0].rules == cfg.cameras[0].rules
    built = build_rules(cfg.cameras[0], cfg.timezone, COCO)
    assert [type(r).__name__ for r in built] == [
        "IntrusionRule",
        "PostUnattendedRule",
        "OvercrowdingRule",
        "LoiteringRule",
        "ManDownRule",
        "PhoneUseRule",
        "VehicleProximityRule",
        "LineCrossingRule",
        "MissingPpeRule",
    ]
    assert [r.needs_pose for r in built] == [False, False, False, False, True, True, False, False, True]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            {"type": "missing_ppe", "ppe": ["helmet", "vest"]},
            "rules[0].ppe: provider 'model' needs a loaded model with the classes ['helmet', 'vest']",
        ),
        (
            {"type": "smoking"},
            "rules[0].classes: smoking rules need a loaded model with the classes ['smoking']",
        ),
        (
            {"type": "fire_smoke"},
            "rules[0].classes: fire_smoke rules need a loaded model with the classes ['fire', 'smoke']",
        ),
        (
            {"type": "overcrowding", "max_count": 2, "classes": ["forklift"]},
            "rules[0].classes: ['forklift'] not provided",
        ),
        (
            {"type": "phone_use", "phone_classes": ["mobile"]},
            "rules[0].phone_classes: ['mobile'] not provided",
        ),
        (
            {"type": "vehicle_proximity", "vehicle_classes": ["forklift"]},
            "rules[0].vehicle_classes: ['forklift']",
        ),
    ],
)
def test_refused_at_build_naming_the_missing_classes(tmp_path: Path, rule: dict, expected: str) -> None:
    cfg = load_edge_config(config_with(tmp_path, {"id": "r1", **rule}))
    with pytest.raises(ConfigError) as exc:
        build_rules(cfg.cameras[0], cfg.timezone, COCO)
    assert expected in str(exc.value), str(exc.value)
    assert "provided: dog, person, phone, vehicle" in str(exc.value)


def test_track_rules_refused_without_tracking(tmp_path: Path) -> None:
    cfg = load_edge_config(config_with(tmp_path, {"id": "r1", "type": "loitering", "duration_s": 5}))
    with pytest.raises(ConfigError, match=r"rules\[0\].type: loitering rules need track ids"):
        build_rules(cfg.cameras[0], cfg.timezone, COCO, tracking=False)
    assert build_rules(cfg.cameras[0], cfg.timezone, COCO, tracking=True)


def test_check_command_refuses_ppe_model_without_a_ppe_model(tmp_path: Path) -> None:
    """The real manifest (NanoDet COCO): no helmet or vest classes; exit 2, one line, no traceback."""
    path = config_with(tmp_path, {"id": "ppe", "type": "missing_ppe", "ppe": ["helmet"]})
    res = subprocess.run(
        [sys.executable, "-m", "edge.cli", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert (
        "cameras[cam-yard-01].rules[0].ppe: provider 'model' needs a loaded model with the classes ['helmet']"
        in (res.stderr)
    )
    ok = config_with(
        tmp_path, {"id": "ppe", "type": "missing_ppe", "ppe": ["helmet"], "provider": "baseline"}
    )
    res = subprocess.run(
        [sys.executable, "-m", "edge.cli", "check", "--config", str(ok)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stderr


def test_docs_example_is_a_valid_config() -> None:
    """The examples in docs/rules.md load and build on the bundled COCO detector's labels."""
    from edge.config import CameraConfig

    text = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    block = text.split("## Examples", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    cam = CameraConfig.model_validate({"id": "cam", "url": "rtsp://cam/1", **yaml.safe_load(block)})
    built = build_rules(cam, "Asia/Shanghai", COCO)
    assert {r.cfg.type.value for r in built} >= {
        "intrusion",
        "post_unattended",
        "overcrowding",
        "loitering",
        "man_down",
        "phone_use",
        "vehicle_proximity",
        "line_crossing",
        "missing_ppe",
    }
