"""风险诊断报告 (issue 14): the period's bounds, the figures of the PDF against figures computed
here from the rows inserted, who may get which report, the CLI, the record of each PDF.

The PDFs are rendered for real (WeasyPrint, matplotlib, Noto Sans CJK) and read back with
poppler (pdftotext, pdfimages); page images go to var/test-artifacts/reports/ to be looked at."""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from center.app import create_app
from center.cli import main as cli_main
from center.config import CenterConfig
from center.domain.errors import Invalid
from center.domain.vocabulary import RULE_TYPE_LABELS
from center.reports.data import recommendations
from center.reports.period import MAX_DAYS, make_period
from center.store.models import (
    Alert,
    Camera,
    CameraUptime,
    Hazard,
    NodeConfigVersion,
    ReportRecord,
    ServiceRecord,
)
from protocol import now_ms
from tests.centerkit import CODE_A, ENT_A, ENT_B, ROLE_USERS, bearer, login, mini_park

TZ = "Asia/Shanghai"
ARTIFACTS = Path(__file__).resolve().parents[3] / "var" / "test-artifacts" / "reports"
PHOTO = Path(__file__).resolve().parents[2] / "data" / "messi5.jpg"  # two faces, unblurred
HOUR = 3_600_000
DAY = 86_400_000
RULES = [  # rule_id, rule_type, rule_name, camera
    ("gate-intrusion", "intrusion", "大门禁区闯入", "cam-a1"),
    ("gate-ppe", "missing_ppe", "大门未戴安全帽", "cam-a1"),
    ("room-phone", "phone_use", "配电房使用手机", "cam-a2"),
    ("room-smoke", "smoking", "配电房吸烟", "cam-a2"),
]
STATUSES = ["open", "acknowledged", "escalated", "dismissed"]
SEVERITIES = ["general", "significant", "major"]


# --- the period ------------------------------------------------------------------------------


def test_period_bounds() -> None:
    today = date(2026, 6, 15)
    p = make_period(date(2026, 6, 1), date(2026, 6, 10), TZ, today)
    assert (p.days, p.asked_end) == (10, None)
    assert p.to_ms - p.from_ms == 10 * DAY
    assert p.from_ms == int(datetime.combine(date(2026, 6, 1), time(), ZoneInfo(TZ)).timestamp() * 1000)
    assert make_period(None, None, TZ, today).days == 30
    cut = make_period(date(2026, 6, 1), date(2026, 7, 1), TZ, today)  # ends in the future: cut at today
    assert (cut.end, cut.asked_end) == (today, date(2026, 7, 1))
    with pytest.raises(Invalid, match="晚于截止日"):
        make_period(date(2026, 6, 10), date(2026, 6, 1), TZ, today)
    with pytest.raises(Invalid, match="今天"):
        make_period(date(2026, 6, 16), date(2026, 6, 20), TZ, today)
    ten_years = make_period(today - timedelta(days=MAX_DAYS - 1), today, TZ, today)
    assert ten_years.days == MAX_DAYS
    with pytest.raises(Invalid, match="十年"):
        make_period(today - timedelta(days=MAX_DAYS), today, TZ, today)
    assert p.previous().end == date(2026, 5, 31) and p.previous().days == 10


def test_hour_buckets_follow_the_park_zone_offsets() -> None:
    """One offset for Asia/Shanghai (+8, no daylight saving); a zone with daylight saving is cut
    where its offset changes, so local hours stay exact all through the period."""
    sh = make_period(date(2026, 3, 1), date(2026, 4, 30), TZ, date(2026, 6, 1))
    assert sh.offset_ranges() == [(sh.from_ms, sh.to_ms, 8 * HOUR)]
    berlin = make_period(date(2026, 3, 1), date(2026, 4, 30), "Europe/Berlin", date(2026, 6, 1))
    change = int(
        datetime(2026, 3, 29, 1, 0, tzinfo=ZoneInfo("UTC")).timestamp() * 1000
    )  # 02:00 CET → 03:00 CEST
    assert berlin.offset_ranges() == [(berlin.from_ms, change, HOUR), (change, berlin.to_ms, 2 * HOUR)]


def test_recommendations_cover_every_rule_type_and_await_review() -> None:
    table = recommendations()
    assert "待行业专家审核" in table["review_status"] and "AQ 9010-2019" in table["basis"]
    for rule_type in RULE_TYPE_LABELS:
        entry = table["entries"][str(rule_type)]
        assert entry["title"] and entry["measures"] and entry["source"], rule_type
    raw = yaml.safe_load(
        (Path(__file__).resolve().parents[3] / "center/reports/recommendations.yaml").read_text()
    )
    assert raw == table


# --- a park with a period's worth of rows --------------------------------------------------


@dataclass
class Seeded:
    client: TestClient
    app: Any
    start: date
    end: date
    alerts: list[dict[str, Any]]
    hazards: list[dict[str, Any]]
    photo_sha: str
    tokens: dict[str, str]

    def h(self, role: str) -> dict[str, str]:
        return bearer(self.tokens[role])

    @property
    def query(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def _ms(day: date, hour: int, minute: int = 0) -> int:
    return int(datetime.combine(day, time(hour, minute), ZoneInfo(TZ)).timestamp() * 1000)


@pytest.fixture
def seeded(db_url: str, tmp_workdir: Path) -> Iterator[Seeded]:
    config = CenterConfig.model_validate(
        {
            "site": "yijia",
            "site_name": "毅佳工业园管控中心",
            "timezone": TZ,
            "database": {"url": db_url},
            "evidence_dir": str(tmp_workdir / "evidence"),
            "mqtt": {"client_id": "t-reports"},
        }
    )
    app = create_app(config, start_ingest=False)
    rnd = random.Random(14)
    today = datetime.now(ZoneInfo(TZ)).date()
    start, end = today - timedelta(days=45), today - timedelta(days=1)
    with TestClient(app) as client:
        factory = app.state.session_factory
        mini_park(factory)
        tokens = {
            role: login(client, ROLE_USERS[role][0]) for role in ("operator", "enterprise", "insurer", "edge")
        }
        tokens["government"] = login(client, "u-gov")
        client.cookies.clear()
        # the photo an edge node uploads for cam-a1 (it belongs to ent-a)
        photo = PHOTO.read_bytes()
        sha = hashlib.sha256(photo).hexdigest()
        put = client.put(
            f"/api/evidence/{sha}",
            params={"camera": "cam-a1"},
            content=photo,
            headers={**bearer(tokens["edge"]), "Content-Type": "image/jpeg"},
        )
        assert put.status_code == 201, put.text
        now = now_ms()
        alerts: list[dict[str, Any]] = []
        hazards: list[dict[str, Any]] = []
        with factory.begin() as s:
            s.add(
                Camera(id="cam-a2", enterprise_id=ENT_A, node="edge-01", name="A2", post_name="配电房",
                       key_post=False, created_ms=now)
            )  # fmt: skip
            s.get(Camera, "cam-a1").post_name = "厂区大门"  # type: ignore[union-attr]
            n_days = (end - start).days + 1
            for i in range(400):
                rid, rtype, rname, cam = RULES[rnd.randrange(len(RULES))]
                # a few of them before and after the period: not counted
                offset = rnd.randrange(-3, n_days + 1)
                started = _ms(start + timedelta(days=offset), rnd.randrange(24), rnd.randrange(60))
                row = {
                    "event_id": str(uuid.UUID(int=rnd.getrandbits(128))),
                    "camera": cam, "rule_id": rid, "rule_type": rtype, "rule_name": rname,
                    "severity": rnd.choice(SEVERITIES), "status": rnd.choice(STATUSES), "started_ms": started,
                    "enterprise": ENT_A,
                }  # fmt: skip
                evidence = []
                if i % 25 == 0:
                    evidence = [
                        {"kind": "snapshot", "sha256": sha, "content_type": "image/jpeg", "size": len(photo)}
                    ]
                s.add(
                    Alert(
                        **row, site="yijia", node="edge-01", phase="end", seq=1, last_ms=started,
                        ended_ms=started, count=1, score=0.8, objects=[], evidence=evidence,
                        received_ms=started, updated_ms=started,
                    )
                )  # fmt: skip
                alerts.append(row)
            # another enterprise's alerts: never in ent-a's report
            for _ in range(30):
                started = _ms(start + timedelta(days=rnd.randrange(n_days)), 10)
                s.add(
                    Alert(
                        event_id=str(uuid.UUID(int=rnd.getrandbits(128))), site="yijia", node="edge-01",
                        camera="cam-b1", enterprise=ENT_B, rule_id="b-fire", rule_type="fire_smoke",
                        rule_name="乙烟火", severity="major", phase="end", seq=1, started_ms=started,
                        last_ms=started, ended_ms=started, count=1, score=0.9, objects=[], evidence=[],
                        received_ms=started, updated_ms=started, status="open",
                    )
                )  # fmt: skip
            for i in range(24):
                created = _ms(start + timedelta(days=rnd.randrange(-2, n_days)), 9)
                level = "major" if i % 5 == 0 else "general"
                deadline = created + rnd.randrange(2, 15) * DAY
                closed = created + rnd.randrange(1, 20) * DAY if i % 3 else None
                if closed is not None and closed > now:
                    closed = None
                h = {
                    "code": f"YH-T-{i:03d}", "title": f"测试隐患{i}", "level": level, "created_ms": created,
                    "deadline_ms": deadline, "closed_ms": closed, "status": "closed" if closed else "pending",
                }  # fmt: skip
                s.add(
                    Hazard(
                        **h, enterprise_id=ENT_A, camera_id="cam-a1", description="", source="inspection",
                        created_by="u-operator", updated_ms=now,
                    )
                )  # fmt: skip
                hazards.append(h)
            for days, kind, provider, insurer, summary in (
                (3, "training", "测试安全培训中心", "ins-1", "叉车安全培训"),
                (5, "inspection", "另一家保险的服务机构", "ins-2", "另一家保险的排查"),
            ):
                day = (start + timedelta(days=days)).isoformat()
                s.add(
                    ServiceRecord(enterprise_id=ENT_A, kind=kind, date=day, provider=provider,
                                  insurer_id=insurer, summary=summary, created_by="x", created_ms=now)
                )  # fmt: skip
        yield Seeded(client, app, start, end, alerts, hazards, sha, tokens)


def expected(seed: Seeded) -> dict[str, Any]:
    """The figures a report of the period must show, computed from the rows inserted."""
    p = make_period(seed.start, seed.end, TZ)
    inside = [a for a in seed.alerts if p.from_ms <= a["started_ms"] < p.to_ms]
    by_type = Counter(a["rule_type"] for a in inside)
    by_rule: dict[str, Counter[str]] = {}
    for a in inside:
        by_rule.setdefault(a["rule_name"], Counter())[a["status"]] += 1
    found = [h for h in seed.hazards if p.from_ms <= h["created_ms"] < p.to_ms]
    closed = [h for h in found if h["closed_ms"] is not None and h["closed_ms"] < p.to_ms]
    mean_days = sum(h["closed_ms"] - h["created_ms"] for h in closed) / len(closed) / DAY
    at = min(now_ms(), p.to_ms)
    overdue_open = [h for h in found if h not in closed and h["deadline_ms"] < at]
    false_pct = {}
    for name, c in by_rule.items():
        reviewed = c["acknowledged"] + c["escalated"] + c["dismissed"]
        false_pct[name] = round(100 * c["dismissed"] / reviewed, 1) if reviewed else None
    by_hour = [0] * 24
    for a in inside:
        by_hour[datetime.fromtimestamp(a["started_ms"] / 1000, ZoneInfo(TZ)).hour] += 1
    posts = {"cam-a1": "厂区大门", "cam-a2": "配电房"}
    return {
        "by_hour": by_hour,
        "by_post": dict(Counter(posts[a["camera"]] for a in inside)),
        "total": len(inside),
        "by_type": {RULE_TYPE_LABELS[t]: n for t, n in by_type.items()},  # type: ignore[index]
        "false_pct": false_pct,
        "found": len(found),
        "closed": len(closed),
        "rect_pct": round(100 * len(closed) / len(found), 1),
        "mean_days": round(mean_days, 1),
        "overdue_open": len(overdue_open),
        "majors": sorted(h["code"] for h in found if h["level"] == "major"),
    }


def pdf_text(pdf: bytes, tmp: Path) -> str:
    path = tmp / f"{hashlib.sha256(pdf).hexdigest()[:8]}.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True)
    return re.sub(r"[ \t]+", " ", out.stdout)


def jpeg_images(pdf: bytes, tmp: Path) -> int:
    """How many JPEG (DCT) images the PDF holds: the evidence thumbnails (the charts are PNG)."""
    path = tmp / "images.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines()[2:] if line.split()[8] == "jpeg")


REPO = Path(__file__).resolve().parents[3]


def faces_in(images: list[Path]) -> dict[str, int]:
    """Faces the face model finds on each image (whole image and tiles, as the report's blurring
    searches; and the edge's whole-frame pass at its default threshold)."""
    import cv2

    from center.reports import faces

    det = faces._detector(REPO / "models" / "manifest.yaml", "blazeface", 0.5)
    out = {}
    for path in images:
        img = cv2.imread(str(path))
        assert img is not None, path
        out[path.name] = len(faces.face_regions(det, img)) + len(det.detect(img))
    return out


def pdf_jpegs(pdf: bytes, tmp: Path) -> list[Path]:
    """The JPEG images of the PDF, extracted as files (pdfimages -j)."""
    folder = tmp / f"img-{hashlib.sha256(pdf).hexdigest()[:8]}"
    folder.mkdir()
    (folder / "in.pdf").write_bytes(pdf)
    subprocess.run(["pdfimages", "-j", str(folder / "in.pdf"), str(folder / "x")], check=True)
    return sorted(folder.glob("x-*.jpg"))


def page_images(pdf: bytes, name: str) -> list[Path]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.pdf"
    path.write_bytes(pdf)
    for old in ARTIFACTS.glob(f"{name}-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(path), str(ARTIFACTS / name)], check=True)
    return sorted(ARTIFACTS.glob(f"{name}-*.png"))


# --- scope, bad input: no rendering needed ----------------------------------------------------


def test_who_gets_which_report(seeded: Seeded) -> None:
    c, q = seeded.client, seeded.query
    # ent-b's policy with ins-1 expired: the insurer does not insure it now; the enterprise sees its own only
    for role in ("insurer", "enterprise"):
        for suffix in ("report.pdf", "report"):
            resp = c.get(f"/api/enterprises/{ENT_B}/{suffix}", params=q, headers=seeded.h(role))
            assert resp.status_code == 404, (role, suffix, resp.text)
    assert c.get(f"/api/enterprises/{ENT_A}/report.pdf", params=q).status_code == 401
    with seeded.app.state.session_factory() as s:
        assert s.scalars(select(ReportRecord)).first() is None  # nothing was issued


BAD_PERIODS = [
    (-5, -10, "晚于截止日"),
    (3, 5, "之后"),
    (-MAX_DAYS - 1, 0, "十年"),
]  # reversed, future, > 10 years


def test_bad_periods_get_a_clear_422(seeded: Seeded) -> None:
    today = datetime.now(ZoneInfo(TZ)).date()
    for days_from, days_to, why in BAD_PERIODS:
        q = {
            "from": (today + timedelta(days=days_from)).isoformat(),
            "to": (today + timedelta(days=days_to)).isoformat(),
        }
        for suffix in ("report.pdf", "report"):
            resp = seeded.client.get(
                f"/api/enterprises/{ENT_A}/{suffix}", params=q, headers=seeded.h("operator")
            )
            assert resp.status_code == 422, resp.text
            assert why in resp.json()["detail"][0]["msg"]
        park = seeded.client.get("/api/reports/park.pdf", params=q, headers=seeded.h("government"))
        assert park.status_code == 422 and why in park.json()["detail"][0]["msg"]
    bad = seeded.client.get(
        f"/api/enterprises/{ENT_A}/report", params={"from": "2026-13-01"}, headers=seeded.h("operator")
    )
    assert bad.status_code == 422
    with seeded.app.state.session_factory() as s:
        assert s.scalars(select(ReportRecord)).first() is None  # nothing was issued


def test_json_report_has_the_figures_and_chinese_labels(seeded: Seeded) -> None:
    want = expected(seeded)
    rules = [
        {"id": "gate-ppe", "type": "missing_ppe", "name": "大门安全帽",
         "schedule": {"weekdays": ["mon", "tue", "wed", "thu", "fri"],
                      "times": ["08:00-12:00", "13:00-18:00"]}},
        {"id": "gate-intrusion", "type": "intrusion"},
    ]  # fmt: skip
    with seeded.app.state.session_factory.begin() as s:  # the node's remote config: its rules and schedules
        s.add(
            NodeConfigVersion(
                site="yijia", node="edge-01", version=1, source="", created_ms=now_ms(),
                config={"cameras": [{"id": "cam-a1", "rules": rules}]}, created_by="u-operator",
            )
        )  # fmt: skip
    resp = seeded.client.get(
        f"/api/enterprises/{ENT_A}/report", params=seeded.query, headers=seeded.h("operator")
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    d = body["diagnosis"]
    assert body["period"] == {"from": seeded.start.isoformat(), "to": seeded.end.isoformat(), "days": 45}
    assert d["alerts"]["total"] == want["total"]
    assert {r["type"]: r["count"] for r in d["alerts"]["by_type"]} == want["by_type"]
    assert d["alerts"]["by_hour"] == want["by_hour"]
    assert {r["post"]: r["total"] for r in d["alerts"]["by_post"]} == want["by_post"]
    assert {r["rule"]: r["false_alarm_pct"] for r in d["alerts"]["rules"]} == want["false_pct"]
    h = d["hazards"]
    assert (h["found"], h["closed"], h["rectification_pct"]) == (
        want["found"],
        want["closed"],
        want["rect_pct"],
    )
    assert (h["mean_days_to_close"], h["overdue_open"]) == (want["mean_days"], want["overdue_open"])
    assert sorted(m["code"] for m in h["majors"]) == want["majors"]
    assert d["cover"]["credit_code"] == CODE_A and d["cover"]["report_no"] == ""
    cams = {r["name"]: r for r in d["coverage"]["rows"]}
    assert cams["A1"]["rules"] == [
        {
            "name": "大门安全帽",
            "type": "未佩戴防护用品",
            "schedule": "周一、二、三、四、五 08:00-12:00，13:00-18:00",
        },
        {"name": "区域闯入", "type": "区域闯入", "schedule": "全天"},
    ]
    assert (
        cams["A1"]["rules_from"] == "配置" and cams["A2"]["rules_from"] == "告警"
    )  # A2's node config names no A2
    assert (d["coverage"]["cameras"], d["coverage"]["key_posts"]) == (2, 1)
    for term in body["risk"]["terms"] + d["summary"]["terms"]:
        assert not re.search(r"[A-Za-z]", term["label"]), term["label"]  # Chinese only (issue 14)
    # the co-insurer's service record is not the insurer's to see
    ins = seeded.client.get(
        f"/api/enterprises/{ENT_A}/report", params=seeded.query, headers=seeded.h("insurer")
    )
    assert [s["summary"] for s in ins.json()["diagnosis"]["services"]] == ["叉车安全培训"]
    assert seeded.photo_sha not in ins.text  # never the evidence itself; thumbnails are blurred copies
    assert all(
        r["thumbnail"] is None or r["thumbnail"].startswith("data:image/jpeg;base64,")
        for r in ins.json()["diagnosis"]["recurring"]["rows"]
    )
    assert {p["insurer"] for p in ins.json()["diagnosis"]["cover"]["policies"]} == {"测试保险"}


# --- rendered PDFs ----------------------------------------------------------------------------


@pytest.mark.slow
def test_pdf_shows_the_numbers_and_is_recorded(seeded: Seeded, tmp_path: Path) -> None:
    want = expected(seeded)
    resp = seeded.client.get(
        f"/api/enterprises/{ENT_A}/report.pdf", params=seeded.query, headers=seeded.h("operator")
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    pdf = resp.content
    db_kind = seeded.app.state.config.database.url.split(":")[0].split("+")[0]
    pages = page_images(pdf, f"enterprise-{db_kind}")  # first, so a failing test leaves them too
    number = resp.headers["X-Report-No"]
    assert re.fullmatch(r"FXZD-\d{8}-[0-9A-F]{8}", number)
    text = pdf_text(pdf, tmp_path)
    assert "甲金属制品有限公司" in text and CODE_A in text and number in text
    assert f"共产生告警 {want['total']} 条" in text
    for label, n in want["by_type"].items():
        assert re.search(rf"{label} {n} ", text), (label, n)
    for rule, pct in want["false_pct"].items():
        assert re.search(rf"{rule} .* {pct:.1f}%", text), (rule, pct)
    figures = f"{want['found']} +{want['rect_pct']:.1f}% +{want['mean_days']} +{want['overdue_open']}"
    kpis = rf"发现隐患（项）[^\n]*\n\s*{figures}\n"
    assert re.search(kpis, text), kpis
    for code in want["majors"]:
        assert code in text
    assert "测试安全培训中心" in text and "另一家保险的排查" in text  # the park sees every service
    assert "待行业专家审核" in text and "第 1 页" not in text and "第 2 页 / 共" in text
    assert "目录" in text and "附录 评分方法" in text
    assert jpeg_images(pdf, tmp_path) >= 1  # the recurring problem's evidence, for the park
    assert set(faces_in(pdf_jpegs(pdf, tmp_path)).values()) == {0}  # its faces blurred too
    # recorded: number and SHA-256, found again from a copy
    sha = hashlib.sha256(pdf).hexdigest()
    assert resp.headers["X-Report-SHA256"] == sha
    found = seeded.client.get("/api/reports/verify", params={"sha256": sha}, headers=seeded.h("government"))
    assert found.status_code == 200, found.text
    assert found.json()["report_no"] == number and found.json()["enterprise_name"] == "甲金属制品有限公司"
    other = seeded.client.get(
        "/api/reports/verify", params={"sha256": "0" * 64}, headers=seeded.h("government")
    )
    assert other.status_code == 404
    assert len(pages) >= 8


@pytest.mark.slow
def test_insurer_and_enterprise_reports(seeded: Seeded, tmp_path: Path) -> None:
    c, q = seeded.client, seeded.query
    ins = c.get(f"/api/enterprises/{ENT_A}/report.pdf", params=q, headers=seeded.h("insurer"))
    assert ins.status_code == 200, ins.text
    page_images(ins.content, "enterprise-insurer")
    # the recurring problem's snapshot (messi5.jpg, faces unblurred as uploaded) is in the insurer's
    # report only as a thumbnail whose faces the face model no longer finds
    assert faces_in([PHOTO])[PHOTO.name] >= 1, "the test photo must show a face to the model"
    images = pdf_jpegs(ins.content, tmp_path)
    assert len(images) >= 1 and len(images) == jpeg_images(ins.content, tmp_path)
    assert faces_in(images) == dict.fromkeys((p.name for p in images), 0)
    text = pdf_text(ins.content, tmp_path)
    assert "保险机构只获得人脸已模糊的缩略图" in text and "人脸已在出具报告时检测并模糊处理" in text
    assert "叉车安全培训" in text and "另一家保险的排查" not in text  # its own services only
    assert "INS1-0001" in text
    # the enterprise's own, and the record names who asked
    own = c.get(f"/api/enterprises/{ENT_A}/report.pdf", params=q, headers=seeded.h("enterprise"))
    assert own.status_code == 200
    sha = hashlib.sha256(own.content).hexdigest()
    found = c.get("/api/reports/verify", params={"sha256": sha}, headers=seeded.h("enterprise"))
    assert found.status_code == 200 and found.json()["created_by"] == "u-ent-a"
    # the insurer cannot check ent-a's copy made for the enterprise? It can: ent-a is insured by it
    assert (
        c.get("/api/reports/verify", params={"sha256": sha}, headers=seeded.h("insurer")).status_code == 200
    )


@pytest.mark.slow
def test_empty_period_no_cameras_and_ten_years(seeded: Seeded, tmp_path: Path) -> None:
    c, op = seeded.client, seeded.h("operator")
    today = datetime.now(ZoneInfo(TZ)).date()
    # ent-b has a camera but the period before anything happened is empty
    empty = c.get(
        f"/api/enterprises/{ENT_B}/report.pdf", params={"from": "2020-01-01", "to": "2020-01-31"}, headers=op
    )
    assert empty.status_code == 200, empty.text
    assert "报告期内没有告警和隐患记录" in pdf_text(empty.content, tmp_path)
    with seeded.app.state.session_factory.begin() as s:
        s.delete(s.get(Camera, "cam-b1"))
    nocam = c.get(f"/api/enterprises/{ENT_B}/report.pdf", headers=op)
    assert nocam.status_code == 200
    assert "尚未登记摄像头" in pdf_text(nocam.content, tmp_path)
    ten = c.get(
        f"/api/enterprises/{ENT_A}/report.pdf",
        params={
            "from": (today - timedelta(days=MAX_DAYS - 1)).isoformat(),
            "to": (today + timedelta(days=30)).isoformat(),
        },
        headers=op,
    )
    assert ten.status_code == 200, ten.text
    page_images(ten.content, "enterprise-ten-years")
    text = pdf_text(ten.content, tmp_path)
    assert f"共产生告警 {len(seeded.alerts)} 条" in text  # every alert of ent-a lies in ten years
    assert "晚于今天" in text  # the end asked for was cut at today, and the report says so


@pytest.mark.slow
def test_cli_writes_the_pdf_whole_and_records_it(
    seeded: Seeded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = seeded.app.state.config.database.url
    cfg = tmp_path / "center.yaml"
    cfg.write_text(
        yaml.safe_dump({"site": "yijia", "site_name": "毅佳工业园管控中心", "database": {"url": url},
                        "evidence_dir": str(seeded.app.state.config.evidence_dir)}),
        encoding="utf-8",
    )  # fmt: skip
    out = tmp_path / "out" / "report.pdf"
    out.parent.mkdir()
    args = ["report", "--config", str(cfg), "--enterprise", ENT_A, "--out", str(out)]
    q = ["--from", seeded.start.isoformat(), "--to", seeded.end.isoformat()]
    assert cli_main([*args, *q]) == 0
    captured = capsys.readouterr()
    assert "100% done" in captured.err and "风险诊断报告 FXZD-" in captured.out
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF-") and list(out.parent.iterdir()) == [out]
    with seeded.app.state.session_factory() as s:
        rec = s.scalars(
            select(ReportRecord).where(ReportRecord.sha256 == hashlib.sha256(pdf).hexdigest())
        ).one()
        assert (rec.enterprise_id, rec.period_from, rec.created_by) == (
            ENT_A,
            seeded.start.isoformat(),
            "cli",
        )
    assert f"共产生告警 {expected(seeded)['total']} 条" in pdf_text(pdf, tmp_path)
    # bad input: a clear message, no file, the old one untouched
    assert cli_main([*args, "--from", "2030-01-01", "--to", "2030-02-01"]) == 2
    assert "在今天" in capsys.readouterr().err
    assert cli_main(["report", "--config", str(cfg), "--enterprise", "nobody", "--out", str(out)]) == 2
    assert list(out.parent.iterdir()) == [out] and out.read_bytes() == pdf


def test_pdftools_are_here() -> None:
    for tool in ("pdftotext", "pdftoppm", "pdfimages"):
        assert shutil.which(tool), f"{tool} missing: install the Debian package poppler-utils"


# --- the park / district report (government) --------------------------------------------------


def park_expected(seed: Seeded) -> dict[str, Any]:
    p = make_period(seed.start, seed.end, TZ)
    ent_a = [a for a in seed.alerts if p.from_ms <= a["started_ms"] < p.to_ms]
    found = [h for h in seed.hazards if p.from_ms <= h["created_ms"] < p.to_ms]
    return {"ent_a_alerts": len(ent_a), "found": len(found)}


def test_park_report_json_for_the_park_only(seeded: Seeded) -> None:
    c, q = seeded.client, seeded.query
    for role in ("enterprise", "insurer"):
        assert c.get("/api/reports/park", params=q, headers=seeded.h(role)).status_code == 403
        assert c.get("/api/reports/park.pdf", params=q, headers=seeded.h(role)).status_code == 403
    resp = c.get("/api/reports/park", params=q, headers=seeded.h("government"))
    assert resp.status_code == 200, resp.text
    d = resp.json()
    want = park_expected(seeded)
    ranking = {r["name"]: r for r in d["ranking"]}
    assert set(ranking) == {"甲金属制品有限公司", "乙化工有限公司"}
    assert ranking["甲金属制品有限公司"]["alerts"] == want["ent_a_alerts"]
    assert ranking["乙化工有限公司"]["alerts"] == 30  # all of ent-b's lie inside the period
    assert d["summary"]["alerts"] == want["ent_a_alerts"] + 30
    assert d["summary"]["hazards_found"] == want["found"]
    assert [r["rank"] for r in d["ranking"]] == [1, 2]
    assert d["ranking"][0]["score"] >= d["ranking"][1]["score"]
    assert [(g["name"], g["enterprises"]) for g in d["by_town"]] == [("狮山镇", 2)]
    assert {p["type"] for p in d["problems"]} >= {"区域闯入", "烟火"}
    assert (
        c.get(
            "/api/reports/park", params={**q, "town_id": "nowhere"}, headers=seeded.h("government")
        ).status_code
        == 422
    )
    one = c.get("/api/reports/park", params={**q, "town_id": "shishan"}, headers=seeded.h("operator"))
    assert one.json()["cover"]["scope"] == "狮山镇" and one.json()["summary"]["enterprises"] == 2


@pytest.mark.slow
def test_park_report_pdf(seeded: Seeded, tmp_path: Path) -> None:
    resp = seeded.client.get("/api/reports/park.pdf", params=seeded.query, headers=seeded.h("government"))
    assert resp.status_code == 200, resp.text
    page_images(resp.content, "park")
    want = park_expected(seeded)
    text = pdf_text(resp.content, tmp_path)
    assert "园区安全风险报告" in text and resp.headers["X-Report-No"] in text
    assert re.search(rf"报告期告警（条）.*\n\s*2\s+{want['ent_a_alerts'] + 30}\s+{want['found']}\s", text)
    assert re.search(r"1 +甲金属制品有限公司|1 +乙化工有限公司", text)
    assert "狮山镇" in text and "附录 评分方法" in text
    sha = hashlib.sha256(resp.content).hexdigest()
    found = seeded.client.get("/api/reports/verify", params={"sha256": sha}, headers=seeded.h("government"))
    assert found.status_code == 200 and found.json()["kind_label"] == "园区安全风险报告"
    # a park report concerns no one enterprise: scoped roles cannot look it up
    assert (
        seeded.client.get(
            "/api/reports/verify", params={"sha256": sha}, headers=seeded.h("insurer")
        ).status_code
        == 404
    )


# --- 服务报告 of one service --------------------------------------------------------------------


def _visit(seed: Seeded) -> tuple[int, int, list[str]]:
    """A service by ins-1 and one by ins-2 on the day of the first hazard found in the period,
    whose photo (ent-a's) is cited; the ids and the codes of that day's hazards."""
    p = make_period(seed.start, seed.end, TZ)
    h0 = min((h for h in seed.hazards if h["created_ms"] >= p.from_ms), key=lambda h: h["created_ms"])
    day = datetime.fromtimestamp(h0["created_ms"] / 1000, ZoneInfo(TZ)).date()
    codes = sorted(
        h["code"]
        for h in seed.hazards
        if datetime.fromtimestamp(h["created_ms"] / 1000, ZoneInfo(TZ)).date() == day
    )
    with seed.app.state.session_factory.begin() as s:
        hazard = s.scalars(select(Hazard).where(Hazard.code == h0["code"])).one()
        hazard.before_evidence = [seed.photo_sha]
        common = {"enterprise_id": ENT_A, "date": day.isoformat(), "created_ms": now_ms()}
        own = ServiceRecord(
            **common, kind="risk_diagnosis", provider="测试诊断中心", insurer_id="ins-1",
            summary="现场风险诊断：检查了熔铸车间和配电房", created_by="u-ins",
        )  # fmt: skip
        other = ServiceRecord(
            **common,
            kind="inspection",
            provider="另一家",
            insurer_id="ins-2",
            summary="另一家的排查",
            created_by="x",
        )
        s.add_all([own, other])
        s.flush()
        return own.id, other.id, codes


def test_service_report_scope(seeded: Seeded) -> None:
    own, other, _codes = _visit(seeded)
    c = seeded.client
    url = f"/api/enterprises/{ENT_A}/services/{{}}/report.pdf"
    assert c.get(url.format(other), headers=seeded.h("insurer")).status_code == 404  # a co-insurer's service
    assert c.get(url.format(999999), headers=seeded.h("operator")).status_code == 404
    # the service through another enterprise's path, and another enterprise's path for the officer
    assert (
        c.get(f"/api/enterprises/{ENT_B}/services/{own}/report.pdf", headers=seeded.h("operator")).status_code
        == 404
    )
    assert (
        c.get(
            f"/api/enterprises/{ENT_B}/services/{own}/report.pdf", headers=seeded.h("enterprise")
        ).status_code
        == 404
    )


@pytest.mark.slow
def test_service_report_pdf(seeded: Seeded, tmp_path: Path) -> None:
    own, _other, codes = _visit(seeded)
    c = seeded.client
    url = f"/api/enterprises/{ENT_A}/services/{own}/report.pdf"
    park = c.get(url, headers=seeded.h("operator"))
    assert park.status_code == 200, park.text
    page_images(park.content, "service")
    text = pdf_text(park.content, tmp_path)
    assert "事故预防技术服务报告" in text and "现场风险诊断：检查了熔铸车间和配电房" in text
    assert f"现场发现的隐患（{len(codes)} 项）" in text
    for code in codes:
        assert code in text
    assert "双方确认" in text and "企业（签字、盖章）" in text
    assert jpeg_images(park.content, tmp_path) == 1  # the cited photo
    ins = c.get(url, headers=seeded.h("insurer"))
    assert ins.status_code == 200
    images = pdf_jpegs(ins.content, tmp_path)
    assert len(images) == 1 and faces_in(images) == {images[0].name: 0}  # blurred, as for everyone
    assert "保险机构只获得人脸已模糊的缩略图" in pdf_text(ins.content, tmp_path)
    sha = hashlib.sha256(ins.content).hexdigest()
    found = c.get("/api/reports/verify", params={"sha256": sha}, headers=seeded.h("enterprise"))
    assert found.status_code == 200 and found.json()["kind_label"] == "事故预防技术服务报告"


# --- monitoring coverage: online hours from the uptime spans ----------------------------------


def test_coverage_online_hours_from_spans(seeded: Seeded) -> None:
    """Spans of each camera set by hand (as the ingest records them from heartbeats), the report's
    online hours and rates checked against figures worked out here."""
    p = make_period(seeded.start, seeded.end, TZ)
    days = p.days  # 45
    with seeded.app.state.session_factory.begin() as s:
        a1, a2 = s.get(Camera, "cam-a1"), s.get(Camera, "cam-a2")
        assert a1 is not None and a2 is not None
        a1.created_ms = p.from_ms - DAY  # watching since before the period
        a2.created_ms = p.from_ms + 15 * DAY  # registered on the 16th day
        # cam-a1 (key post): online all the period but a two-day outage and 12 hours on its last day
        s.add(CameraUptime(site="yijia", node="edge-01", camera="cam-a1", open=False,
                           start_ms=p.from_ms - 3 * DAY, end_ms=p.from_ms + 10 * DAY))  # fmt: skip
        s.add(CameraUptime(site="yijia", node="edge-01", camera="cam-a1", open=False,
                           start_ms=p.from_ms + 12 * DAY, end_ms=p.to_ms - 12 * HOUR))  # fmt: skip
        # cam-a2: online for its last 10 days only
        s.add(CameraUptime(site="yijia", node="edge-01", camera="cam-a2", open=True,
                           start_ms=p.to_ms - 10 * DAY, end_ms=p.to_ms + 2 * DAY))  # fmt: skip
    resp = seeded.client.get(
        f"/api/enterprises/{ENT_A}/report", params=seeded.query, headers=seeded.h("operator")
    )
    assert resp.status_code == 200, resp.text
    cv = resp.json()["diagnosis"]["coverage"]
    rows = {r["name"]: r for r in cv["rows"]}
    # cam-a1: 45 days less 2 days less 12 hours = 1020 h of 1080 h = 94.4 %
    assert (rows["A1"]["online_hours"], rows["A1"]["hours"], rows["A1"]["online_pct"]) == (
        1020.0,
        days * 24.0,
        94.4,
    )
    # cam-a2: 10 days of the 30 since it was registered = 240 h of 720 h = 33.3 %
    assert (rows["A2"]["online_hours"], rows["A2"]["hours"], rows["A2"]["online_pct"]) == (240.0, 720.0, 33.3)
    # all: 1260 h of 1800 h = 70.0 %; the key post (cam-a1) alone 94.4 %
    assert (cv["online_hours"], cv["hours"], cv["online_pct"], cv["key_online_pct"]) == (
        1260.0,
        1800.0,
        70.0,
        94.4,
    )
    assert "在线率 = 报告期内摄像头在线小时数" in cv["note"]
    # the 园区总览 tile counts the same spans over its own window: the last 30 days, to now
    today0 = p.to_ms  # midnight today, park time
    t0 = now_ms()
    ov = seeded.client.get("/api/overview", params={"days": 30}, headers=seeded.h("government"))
    t1 = now_ms()
    assert ov.status_code == 200, ov.text
    got = ov.json()["coverage"]
    for now in (t0, t1):  # the answer's clock lies between the two
        since = now - 30 * DAY
        a1 = (today0 - 12 * HOUR) - since  # cam-a1's second span, cut at the window's start
        a2 = now - (today0 - 10 * DAY)  # cam-a2's open span, cut at now
        # windows: cam-a1 and cam-a2 the whole 30 days, cam-b1 (registered by the fixture) seconds
        assert got["online_rate"] == pytest.approx((a1 + a2) / (60 * DAY), abs=2e-4)
        assert got["key_online_rate"] == pytest.approx(a1 / (30 * DAY), abs=2e-4)
    # and the risk file's camera list, each camera over the last 30 days
    cams = seeded.client.get("/api/cameras", params={"enterprise_id": ENT_A}, headers=seeded.h("enterprise"))
    rates = {c["id"]: c["online_rate_30d"] for c in cams.json()["items"]}
    now = now_ms()
    assert rates["cam-a1"] == pytest.approx(((today0 - 12 * HOUR) - (now - 30 * DAY)) / (30 * DAY), abs=2e-4)
    assert rates["cam-a2"] == pytest.approx((now - (today0 - 10 * DAY)) / (30 * DAY), abs=2e-4)


# --- 服务报告: the hazards of the visit, by its id -------------------------------------------


@pytest.mark.slow
def test_service_report_lists_the_hazards_linked_to_the_visit(seeded: Seeded, tmp_path: Path) -> None:
    own, other, day_codes = _visit(seeded)
    c, op = seeded.client, seeded.h("operator")
    # two hazards recorded for the visit the day after it (linked by its id, not by the date)
    made = []
    for title in ("配电房门锁损坏", "熔铸车间灭火器过期"):
        r = c.post(
            "/api/hazards", headers=op, json={"enterprise_id": ENT_A, "title": title, "service_id": own}
        )
        assert r.status_code == 201, r.text
        assert r.json()["service_id"] == own
        made.append(r.json()["code"])
    # another enterprise's visit, or no such visit: a clear 422
    with seeded.app.state.session_factory.begin() as s:
        b_visit = ServiceRecord(
            enterprise_id=ENT_B, kind="inspection", date=seeded.start.isoformat(), provider="x",
            insurer_id=None, summary="乙", created_by="x", created_ms=now_ms(),
        )  # fmt: skip
        s.add(b_visit)
        s.flush()
        b_id = b_visit.id
    for bad in (b_id, 999_999):
        r = c.post("/api/hazards", headers=op, json={"enterprise_id": ENT_A, "title": "x", "service_id": bad})
        assert r.status_code == 422 and "service" in r.text, r.text
    url = "/api/enterprises/{}/services/{}/report.pdf"
    text = pdf_text(c.get(url.format(ENT_A, own), headers=op).content, tmp_path)
    assert "现场发现的隐患（2 项）" in text and "按服务记录关联" in text
    assert all(code in text for code in made) and not any(code in text for code in day_codes)
    # the other visit of the same day has none linked: it falls back to that day's unlinked
    # inspection hazards and says so
    other_text = pdf_text(c.get(url.format(ENT_A, other), headers=op).content, tmp_path)
    assert f"现场发现的隐患（{len(day_codes)} 项）" in other_text and "按日期匹配" in other_text
    assert not any(code in other_text for code in made)


def test_demo_seed_report_hours_are_the_park_working_hours(db_url: str, tmp_workdir: Path) -> None:
    """The demo's alerts happen 07:00–22:00 park time; its report's hour-of-day buckets say so
    (counted in Asia/Shanghai, not UTC), and its cameras have a month of online spans."""
    from center.auth.policy import Principal
    from center.domain.vocabulary import Role
    from center.reports.data import enterprise_report
    from center.seed import seed
    from center.store import db
    from center.store.models import Enterprise

    config = CenterConfig.model_validate(
        {
            "site": "yijia",
            "timezone": TZ,
            "database": {"url": db_url},
            "evidence_dir": str(tmp_workdir / "ev"),
        }
    )
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    factory = db.make_session_factory(engine)
    with factory.begin() as s:
        seed(s, config)
    today = datetime.now(ZoneInfo(TZ)).date()
    period = make_period(today - timedelta(days=29), today, TZ)
    with factory() as s:
        hours = Counter(
            datetime.fromtimestamp(ms / 1000, ZoneInfo(TZ)).hour for ms in s.scalars(select(Alert.started_ms))
        )
        assert hours and set(hours) <= set(range(7, 22)), hours
        e = s.get(Enterprise, "yj-metal")
        assert e is not None
        d = enterprise_report(s, config, e, period, Principal(username="t", role=Role.OPERATOR))
    by_hour = d["alerts"]["by_hour"]
    assert sum(by_hour) == d["alerts"]["total"] > 0
    assert by_hour[:7] == [0] * 7 and by_hour[22:] == [0, 0]
    cv = d["coverage"]
    assert cv["online_pct"] is not None and 50 < cv["online_pct"] < 100
    assert all(r["online_pct"] is not None for r in cv["rows"])
    engine.dispose()
