"""The wire contract: JSON Schema export kept in step, ids, topics, validation of bad messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from protocol import AlertEvent, Topic, TopicKind, new_event_id, parse_topic
from protocol.ids import event_id_ms
from protocol.schema import MESSAGES, export

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "protocol" / "schema"


def test_committed_json_schema_matches_the_models(tmp_path: Path) -> None:
    export(tmp_path)
    for name in MESSAGES:
        fresh = json.loads((tmp_path / f"{name}.v1.json").read_text(encoding="utf-8"))
        committed = json.loads((SCHEMA_DIR / f"{name}.v1.json").read_text(encoding="utf-8"))
        assert fresh == committed, f"protocol/schema/{name}.v1.json is stale: run python -m protocol.schema"


def test_event_ids_are_uuid7_increasing_and_carry_their_time() -> None:
    ids = [new_event_id() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(i[14] == "7" for i in ids)
    assert event_id_ms(new_event_id(1_795_827_600_000)) == 1_795_827_600_000  # a time in the past, as given
    future = 4_102_444_800_000  # 2100-01-01
    later = [new_event_id(future) for _ in range(100)]
    assert later == sorted(later) and event_id_ms(later[0]) == future


def test_topics_round_trip_and_refuse_wildcards() -> None:
    t = Topic.of("yijia", "edge-01", TopicKind.EVENT)
    assert t == "parkguard/v1/yijia/edge-01/event"
    assert parse_topic(t) == Topic("yijia", "edge-01", TopicKind.EVENT)
    assert parse_topic("parkguard/v1/yijia/+/event") is None
    assert parse_topic("parkguard/v2/yijia/edge-01/event") is None
    with pytest.raises(ValueError):
        Topic.of("yijia", "edge/01", "event")


def _event(**over: object) -> dict:
    base = dict(
        event_id=new_event_id(),
        phase="new",
        seq=0,
        site="yijia",
        node="edge-01",
        camera="cam-1",
        rule_id="r1",
        rule_type="intrusion",
        severity="major",
        started_ms=1000,
        last_ms=1000,
    )
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"phase": "end"}, "an 'end' message needs ended_ms"),
        ({"last_ms": 10}, "last_ms is before started_ms"),
        ({"seq": 3}, "a 'new' message has seq 0"),
        ({"event_id": "not-a-uuid"}, "event_id must be a lowercase UUID"),
        ({"objects": [{"label": "person", "score": 0.5, "box": [0.5, 0.5, 0.1, 0.9]}]}, "x1 <= x2"),
        ({"objects": [{"label": "person", "score": 1.5, "box": [0, 0, 1, 1]}]}, "less than or equal to 1"),
        ({"camera": "cam 1"}, "should match pattern"),
        ({"bogus": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_events_are_refused_with_a_reason(over: dict, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        AlertEvent.model_validate(_event(**over))


def _v1_without(model: type, field: str) -> dict:
    """The JSON Schema of ``model`` as it was before ``field`` was added (what an older peer checks)."""
    schema = model.model_json_schema()
    del schema["properties"][field]
    return schema


def test_warning_is_additive_older_peers_get_no_new_key() -> None:
    from protocol import Heartbeat, WarningHealth, WarningRecord

    ev = AlertEvent.model_validate(_event())
    wire = json.loads(ev.model_dump_json())
    assert "warning" not in wire  # an event without a warning looks as it did before
    old = _v1_without(AlertEvent, "warning")
    assert set(wire) <= set(old["properties"]) and old.get("additionalProperties") is False
    hb = Heartbeat(site="yijia", node="edge-01", ts_ms=1, uptime_s=1)
    assert "warning" not in json.loads(hb.model_dump_json())
    # with one, it round-trips; an older message (no key) still validates
    rec = WarningRecord.model_validate(
        {
            "outcome": "played",
            "message": "请佩戴安全帽",
            "reason": "the rule's event started",
            "decided_ms": 1_795_827_600_000,
            "outputs": [
                {
                    "output": "yard-01",
                    "name": "厂区扬声器",
                    "kind": "speaker_http",
                    "ok": True,
                    "ms": 1_795_827_600_900,
                }
            ],
        }
    )
    with_warning = AlertEvent.model_validate({**_event(), "warning": rec.model_dump(mode="json")})
    again = AlertEvent.model_validate_json(with_warning.model_dump_json())
    assert again.warning == rec
    hb2 = Heartbeat(site="yijia", node="edge-01", ts_ms=1, uptime_s=1, warning=WarningHealth(played=2))
    assert Heartbeat.model_validate_json(hb2.model_dump_json()).warning == WarningHealth(played=2)
    with pytest.raises(ValidationError, match="Input should be 'queued'"):
        AlertEvent.model_validate(
            {**_event(), "warning": {**rec.model_dump(mode="json"), "outcome": "maybe"}}
        )
