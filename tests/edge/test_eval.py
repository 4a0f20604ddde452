"""``parkguard-edge eval``: matching logic, the shipped scenarios on the real footage, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from common.configfile import ConfigError
from edge.eval import ExpectedEvent, Produced, Scenario, load_scenarios, match, summarise

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"


def scenario(expected: list[tuple[str, float, float]], tolerance: float = 2.0) -> Scenario:
    return Scenario(
        name="t",
        clip=REPO / "samples" / "vtest-walkway.mp4",
        tolerance_s=tolerance,
        camera={},
        expected=[ExpectedEvent(rule=r, start_s=a, end_s=b) for r, a, b in expected],
    )


def produced(rule: str, start: float, alert: float | None = None) -> Produced:
    return Produced(rule, "intrusion", f"e{start}", start, start if alert is None else alert)


def test_matching_rules() -> None:
    sc = scenario([("r", 10, 20), ("r", 40, 45), ("r", 60, 61)])
    got = match(
        sc,
        [
            produced("r", 9.0, 9.4),  # 1 s early: inside the tolerance
            produced("r", 15.0),  # a second event in a window already matched: an alert storm
            produced("r", 30.0),  # nothing happened then
            produced("r", 46.5, 47.0),  # after the window's end, within tolerance
            produced("other", 60.0),  # another rule's event
        ],
        {"r": "intrusion"},
    )
    hits = [(m.expected.start_s, m.produced.start_s, m.tta_s) for m in got if m.expected and m.produced]
    assert hits == [(10, 9.0, -0.6), (40, 46.5, 7.0)]
    assert sorted(m.produced.start_s for m in got if m.expected is None) == [15.0, 30.0]
    assert [m.expected.start_s for m in got if m.produced is None] == [60]
    assert all(m.rule == "r" for m in got)


def test_summary_pools_rule_types() -> None:
    from edge.eval import ScenarioResult

    sc = scenario([("a", 10, 12), ("b", 30, 31)])
    types = {"a": "intrusion", "b": "loitering"}
    prods = [produced("a", 11.0, 11.5), produced("a", 50.0)]
    res = ScenarioResult(sc, prods, match(sc, prods, types), 10, 1.0, rule_types=types)
    s = summarise([res])["rule_types"]
    assert s["intrusion"]["precision"] == 0.5 and s["intrusion"]["recall"] == 1.0
    assert s["intrusion"]["tta_median_s"] == 1.5
    assert s["loitering"]["precision"] is None and s["loitering"]["recall"] == 0.0


def test_shipped_scenarios_load_and_are_labelled_by_rule() -> None:
    scs = load_scenarios([SCENARIOS])
    assert {s.name for s in scs} >= {
        "lawn-intrusion",
        "lawn-overcrowding",
        "lawn-loitering",
        "lawn-post",
        "lawn-edge-crossing",
    }
    for s in scs:
        assert s.clip.is_file() and s.expected and s.description
        assert s.synthetic is False  # all labelled from the real footage


@pytest.mark.footage  # the scenarios over the footage
def test_eval_cli_on_the_footage(tmp_path: Path) -> None:
    """The real model on the real clip: the couple on the lawn is found, in its window."""
    res = subprocess.run(
        [BIN / "parkguard-edge", "eval", SCENARIOS / "lawn-intrusion.yaml", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "eval: scenario 1/1: lawn-intrusion" in res.stderr  # progress on stderr
    out = json.loads(res.stdout)
    f = out["rule_types"]["intrusion"]
    assert f["expected"] == 1 and f["recall"] == 1.0, out
    [ev] = [e for e in out["scenarios"][0]["events"] if e["result"] == "hit"]
    assert 50.5 - 2 <= ev["event_start_s"] <= 72.7 + 2
    table = subprocess.run(
        [BIN / "parkguard-edge", "eval", SCENARIOS / "lawn-intrusion.yaml"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert table.returncode == 0 and "precision" in table.stdout and "lawn-intrusion" in table.stdout


@pytest.mark.footage  # the scenarios over the footage
def test_fail_under_and_a_synthetic_label(tmp_path: Path) -> None:
    """A made-up window when nobody is on the lawn (marked synthetic): recall drops, exit 1."""
    text = (SCENARIOS / "lawn-intrusion.yaml").read_text(encoding="utf-8")
    text = text.replace("synthetic: false", "synthetic: true").replace(
        "clip: ../samples/", f"clip: {REPO}/samples/"
    )
    text += '  - {rule: lawn-intrusion, start_s: 10.0, end_s: 20.0, note: "made up, nobody is there"}\n'
    made = tmp_path / "made-up.yaml"
    made.write_text(text, encoding="utf-8")
    res = subprocess.run(
        [BIN / "parkguard-edge", "eval", made, "--fail-under", "0.9"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 1, res.stdout + res.stderr
    assert "(synthetic: lawn-intrusion)" in res.stdout and "below 0.9: intrusion" in res.stderr


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("rule: lawn-intrusion, start_s: 50.5", "expected[0].rule: 'nope' is not a rule of the camera"),
        ("fps: 5", "colour: unknown key"),
        ("start_s: 50.5, end_s: 72.7", "expected[0]: end_s 1.0 is before start_s 50.5"),
    ],
)
def test_bad_scenarios_are_refused_with_the_field(tmp_path: Path, edit: str, message: str) -> None:
    text = (SCENARIOS / "lawn-intrusion.yaml").read_text(encoding="utf-8")
    text = text.replace("clip: ../samples/", f"clip: {REPO}/samples/")
    if edit.startswith("rule:"):
        text = text.replace("rule: lawn-intrusion, start_s: 50.5", "rule: nope, start_s: 50.5")
    elif edit == "fps: 5":
        text = text.replace("fps: 5", "fps: 5\ncolour: red")
    else:
        text = text.replace("start_s: 50.5, end_s: 72.7", "start_s: 50.5, end_s: 1.0")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    if edit.startswith("rule:"):
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            from edge.eval import scenario_config

            scenario_config(load_scenarios([bad])[0], None)
    else:
        with pytest.raises(ConfigError) as err:
            load_scenarios([bad])
        assert f"{bad}: {message}" in str(err.value)
    res = subprocess.run([BIN / "parkguard-edge", "eval", bad], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "config error" in res.stderr and "Traceback" not in res.stderr


def test_missing_scenario_path() -> None:
    with pytest.raises(ConfigError, match="no such file or folder"):
        load_scenarios([Path("/nonexistent/scenarios")])
