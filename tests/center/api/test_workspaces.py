"""What the console's workspaces need from the API: photos uploaded from a page (the center
hashes them; not an image, too large: refused), hazards with names and their filters (assignee,
deadline range), every step's actor named, steps out of order and deadlines in the past refused
with nothing written, and the audit log filtered by object and time. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from center.api.limits import PHOTO_MAX_BYTES
from center.app import create_app
from center.config import CenterConfig
from center.ingest.upsert import apply_alert
from center.store.models import AuditEntry, Camera, EvidenceFile, Hazard, HazardLog, Node
from protocol import AlertEvent, now_ms
from tests.centerkit import ENT_A, ENT_B, ROLE_USERS, bearer, login, mini_park


def png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A real PNG image (solid colour), made here so the tests need no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class Park:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.app: Any = client.app
        self.tokens = {role: login(client, user) for role, (user, _) in ROLE_USERS.items()}
        client.cookies.clear()

    def h(self, role: str) -> dict[str, str]:
        return bearer(self.tokens[role])

    def photo(self, role: str, data: bytes, content_type: str = "image/png") -> Any:
        return self.client.post(
            "/api/evidence", content=data, headers={**self.h(role), "content-type": content_type}
        )

    def hazard(self, role: str = "operator", **body: Any) -> dict[str, Any]:
        resp = self.client.post(
            "/api/hazards",
            json={"enterprise_id": ENT_A, "title": "消防通道堆放杂物", **body},
            headers=self.h(role),
        )
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def step(self, role: str, hazard_id: int, verb: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(f"/api/hazards/{hazard_id}/{verb}", json=body or {}, headers=self.h(role))

    def count(self, model: Any) -> int:
        with self.app.state.session_factory() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def park(db_url: str, tmp_workdir: Path) -> Iterator[Park]:
    config = CenterConfig.model_validate(
        {"site": "yijia", "database": {"url": db_url}, "evidence_dir": str(tmp_workdir / "evidence")}
    )
    app = create_app(config, start_ingest=False)
    with TestClient(app) as client:
        mini_park(app.state.session_factory)
        yield Park(client)


def test_a_photo_is_hashed_by_the_center_and_readable_by_its_uploader(park: Park) -> None:
    data = png()
    first = park.photo("enterprise", data)
    assert first.status_code == 201, first.text
    sha = first.json()["sha256"]
    assert sha == hashlib.sha256(data).hexdigest() and first.json()["created"] is True
    again = park.photo("enterprise", data)
    assert again.status_code == 200 and again.json()["created"] is False  # the same file, once
    got = park.client.get(f"/api/evidence/{sha}", headers=park.h("enterprise"))
    assert got.status_code == 200 and got.content == data
    jpeg = park.photo("operator", b"\xff\xd8\xff\xe0" + b"\x00" * 64, "image/jpeg")
    assert jpeg.status_code == 201


@pytest.mark.parametrize(
    ("data", "content_type", "status", "words"),
    [
        (b"just some text, not a photo", "text/plain", 422, "JPEG 或 PNG"),
        (b"just some text, not a photo", "image/png", 422, "不是 PNG"),
        (png(), "image/jpeg", 422, "不是 JPEG"),  # a PNG sent as a JPEG
        (b"", "image/png", 422, "空文件"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * PHOTO_MAX_BYTES, "image/png", 413, "10 MiB"),
    ],
    ids=["text", "text-as-png", "png-as-jpeg", "empty", "too-large"],
)
def test_not_a_photo_or_too_large_is_refused_and_nothing_is_stored(
    park: Park, data: bytes, content_type: str, status: int, words: str
) -> None:
    resp = park.photo("enterprise", data, content_type)
    assert resp.status_code == status, resp.text
    assert words in str(resp.json()["detail"])
    assert park.count(EvidenceFile) == 0
    assert park.client.get("/api/health").status_code == 200  # and the center goes on


def test_hazards_carry_names_and_every_step_its_actor(park: Park) -> None:
    h = park.hazard(camera_id="cam-a1", assignee="陈国强")
    assert h["enterprise_name"] == "甲金属制品有限公司"
    assert h["camera_name"] == "A1"
    assert h["created_by"] == "u-operator" and h["created_by_name"] == "u-operator"
    started = park.step("enterprise", h["id"], "start", {"note": "已安排"})
    assert started.status_code == 200, started.text
    steps = started.json()["history"]
    assert [(s["action"], s["actor"], s["actor_name"]) for s in steps] == [
        ("create", "u-operator", "u-operator"),
        ("start", "u-ent-a", "u-ent-a"),
    ]
    listed = park.client.get("/api/hazards", headers=park.h("government")).json()["items"]
    assert [(x["code"], x["enterprise_name"], x["camera_name"]) for x in listed] == [
        (h["code"], "甲金属制品有限公司", "A1")
    ]


def test_hazard_filters_by_assignee_and_deadline_range(park: Park) -> None:
    soon = park.hazard(assignee="陈国强", deadline_days=2)
    later = park.hazard(assignee="李伟", deadline_days=20, enterprise_id=ENT_B)

    def codes(**params: str) -> list[str]:
        resp = park.client.get("/api/hazards", params=params, headers=park.h("operator"))
        assert resp.status_code == 200, resp.text
        return [x["code"] for x in resp.json()["items"]]

    assert codes() == [soon["code"], later["code"]]
    assert codes(assignee="陈国强") == [soon["code"]]
    assert codes(assignee="nobody") == []
    in_a_week = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    assert codes(deadline_before=in_a_week) == [soon["code"]]
    assert codes(deadline_after=in_a_week) == [later["code"]]
    assert codes(deadline_after=in_a_week, assignee="陈国强") == []
    bad = park.client.get(
        "/api/hazards",
        params={"deadline_after": in_a_week, "deadline_before": "2000-01-01"},
        headers=park.h("operator"),
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "deadline_before"]
    assert (
        park.client.get(
            "/api/hazards", params={"deadline_after": "soon"}, headers=park.h("operator")
        ).status_code
        == 422
    )
    # the enterprise's own only, whatever the filter
    mine = park.client.get("/api/hazards", params={"assignee": "李伟"}, headers=park.h("enterprise"))
    assert mine.json()["items"] == []


def test_steps_out_of_order_and_past_deadlines_are_refused_with_nothing_written(park: Park) -> None:
    h = park.hazard()
    logs, audits = park.count(HazardLog), park.count(AuditEntry)
    sha = park.photo("enterprise", png()).json()["sha256"]
    audits += 1  # the upload
    submit = {"rectification": "已清理", "after_evidence": [sha]}
    for role, verb, body in [
        ("enterprise", "submit", submit),  # not started
        ("operator", "approve", {}),  # never rectified
        ("operator", "reject", {"note": "照片不清楚"}),  # not under review
    ]:
        resp = park.step(role, h["id"], verb, body)
        assert resp.status_code == 409, (verb, resp.text)
    assert park.step("enterprise", h["id"], "start").status_code == 200
    assert park.step("enterprise", h["id"], "start").status_code == 409  # twice
    assert park.step("enterprise", h["id"], "submit", submit).status_code == 200
    twice = park.step("enterprise", h["id"], "submit", submit)  # a rectification submitted twice
    assert twice.status_code == 409 and "review" in twice.json()["detail"]
    assert park.count(HazardLog) == logs + 2 and park.count(AuditEntry) == audits + 2
    for days in (0, -3):  # a deadline today or in the past
        resp = park.client.post(
            "/api/hazards",
            json={"enterprise_id": ENT_A, "title": "过去的期限", "deadline_days": days},
            headers=park.h("operator"),
        )
        assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "deadline_days"]
    patched = park.client.patch(
        f"/api/hazards/{h['id']}", json={"deadline_days": 0}, headers=park.h("operator")
    )
    assert patched.status_code == 422
    unknown = park.step(
        "enterprise", h["id"], "submit", {"rectification": "已清理", "after_evidence": ["f" * 64]}
    )
    assert unknown.status_code == 409  # under review already: the state is checked first
    with park.app.state.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Hazard)) == 1


def test_an_enterprise_submits_only_its_own_photos_hazards(park: Park) -> None:
    other = park.hazard(enterprise_id=ENT_B)
    sha = park.photo("enterprise", png()).json()["sha256"]
    assert park.step("enterprise", other["id"], "start").status_code == 404
    resp = park.step(
        "enterprise", other["id"], "submit", {"rectification": "已清理", "after_evidence": [sha]}
    )
    assert resp.status_code == 404
    # the government reads, never uploads; an insurer neither
    assert park.photo("government", png()).status_code == 403
    assert park.photo("insurer", png()).status_code == 403


def test_audit_log_filters_by_object_and_time(park: Park) -> None:
    a = park.hazard()
    b = park.hazard(enterprise_id=ENT_B)
    park.step("enterprise", a["id"], "start")

    def audit(**params: str) -> list[tuple[str, str, str]]:
        resp = park.client.get("/api/audit", params=params, headers=park.h("admin"))
        assert resp.status_code == 200, resp.text
        return [(x["username"], x["action"], x["target"]) for x in resp.json()["items"]]

    assert audit(target=f"hazard:{a['code']}") == [
        ("u-ent-a", "start_hazard", f"hazard:{a['code']}"),
        ("u-operator", "create_hazard", f"hazard:{a['code']}"),
    ]
    assert {t for _, _, t in audit(target="hazard:")} == {f"hazard:{a['code']}", f"hazard:{b['code']}"}
    assert audit(target="hazard:%") == []  # a LIKE wildcard is only a character
    now = datetime.now(UTC)
    assert len(audit(target="hazard:", since=(now - timedelta(minutes=5)).isoformat())) == 3
    assert audit(target="hazard:", until=(now - timedelta(minutes=5)).isoformat()) == []
    assert audit(action="start_hazard", username="u-ent-a") == [
        ("u-ent-a", "start_hazard", f"hazard:{a['code']}")
    ]
    page = park.client.get("/api/audit", params={"limit": 1, "offset": 1}, headers=park.h("admin")).json()
    assert page["limit"] == 1 and page["offset"] == 1 and len(page["items"]) == 1 and page["total"] >= 3
    bad = park.client.get(
        "/api/audit", params={"since": now.isoformat(), "until": "2000-01-01"}, headers=park.h("admin")
    )
    assert bad.status_code == 422
    assert (
        park.client.get("/api/audit", params={"since": "yesterday"}, headers=park.h("admin")).status_code
        == 422
    )
    assert (
        park.client.get("/api/audit", params={"target": "x" * 129}, headers=park.h("admin")).status_code
        == 422
    )
    assert park.client.get("/api/audit", headers=park.h("operator")).status_code == 403


def _alert(park: Park, camera: str, enterprise: str) -> str:
    event_id = str(uuid.uuid4())
    data = {
        "event_id": event_id,
        "phase": "new",
        "seq": 0,
        "site": "yijia",
        "node": "edge-01",
        "camera": camera,
        "enterprise": enterprise,
        "rule_id": f"{camera}-intrusion",
        "rule_type": "intrusion",
        "rule_name": "禁区闯入",
        "severity": "significant",
        "started_ms": now_ms() - 60_000,
        "last_ms": now_ms() - 60_000,
    }
    with park.app.state.session_factory.begin() as s:
        apply_alert(s, AlertEvent.model_validate(data), now_ms())
    return event_id


def test_an_escalated_alerts_hazard_is_titled_with_the_camera_name(park: Park) -> None:
    named = _alert(park, "cam-a1", ENT_A)
    resp = park.client.post(f"/api/alerts/{named}/escalate", json={}, headers=park.h("operator"))
    assert resp.status_code == 201, resp.text
    assert resp.json()["title"] == "禁区闯入（A1）" and resp.json()["camera_name"] == "A1"
    # a camera the registry puts in another enterprise: its name is not told, its id stands
    foreign = _alert(park, "cam-b1", ENT_A)
    resp = park.client.post(f"/api/alerts/{foreign}/escalate", json={}, headers=park.h("operator"))
    assert resp.status_code == 201, resp.text
    assert resp.json()["title"] == "禁区闯入（cam-b1）" and resp.json()["camera_name"] is None


def test_cameras_carry_their_nodes_name_for_the_risk_file(park: Park) -> None:
    with park.app.state.session_factory.begin() as s:
        s.add(
            Node(
                site="yijia", node="edge-01", state="online", status_ms=None, last_seen_ms=0, software="",
                cameras=[], config_version=None, heartbeat=None, updated_ms=0, name="A区机房",
            )
        )  # fmt: skip
        s.add(
            Node(
                site="elsewhere", node="edge-02", state="online", status_ms=None, last_seen_ms=0, software="",
                cameras=[], config_version=None, heartbeat=None, updated_ms=0, name="别处的机房",
            )
        )  # fmt: skip
    resp = park.client.get(f"/api/cameras?enterprise_id={ENT_A}", headers=park.h("enterprise"))
    assert resp.status_code == 200, resp.text
    assert [(c["id"], c["node"], c["node_name"]) for c in resp.json()["items"]] == [
        ("cam-a1", "edge-01", "A区机房")
    ]
    with park.app.state.session_factory.begin() as s:
        s.get(Camera, "cam-a1").node = "edge-02"  # type: ignore[union-attr]  # a node of another site
    resp = park.client.get("/api/cameras", headers=park.h("enterprise"))
    assert [(c["node"], c["node_name"]) for c in resp.json()["items"]] == [("edge-02", None)]
