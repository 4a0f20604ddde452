"""Time of a 风险诊断报告 of one enterprise-year: 100,000 alerts and 500 hazards → PDF.

    python bench/report_speed.py [--alerts 100000] [--hazards 500] [--rounds 2] [--database URL]
    python bench/report_speed.py --park 200 [--alerts 100000] [--hazards 500]

Seeds a temporary SQLite database (or the one given, which must be empty: a PostgreSQL test
database is emptied of the center's rows first) with one enterprise of 8 cameras, its alerts
spread over the last 365 days (bulk INSERT), its hazards, services, a year of camera uptime spans
(an outage every day or two) and 8 evidence snapshots (tests/data/messi5.jpg, a photo with faces,
marked differently for each camera: every thumbnail goes through the face blurring), then builds
the report as ``GET …/report.pdf`` does (center/reports/service.py) and prints the time of each
stage: query (the grouped SQL and the data, the blurred thumbnails included), charts (matplotlib),
html (Jinja2), layout and pdf (WeasyPrint). The first round is in a fresh process's state (fonts, templates
loaded on first use); later rounds show the steady cost. Goal: ≤ 10 s for the first round.

``--park N``: the park report (园区安全风险报告) of N enterprises in 12 镇街 and 7 industries, the
alerts and hazards spread over them, 3 cameras each with a year of uptime spans (an outage every
1–10 days), a year long. Goal: ≤ 60 s for 200 enterprises.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import random
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from edge_common import goal
from PIL import Image, ImageDraw
from sqlalchemy import insert

from center.api.evidence.service import path_of
from center.auth.policy import Principal
from center.config import CenterConfig
from center.domain import creditcode
from center.domain.vocabulary import Role
from center.reports.period import make_period
from center.reports.service import enterprise_pdf, park_pdf
from center.store import db
from center.store.models import (
    Alert,
    Camera,
    CameraUptime,
    Enterprise,
    EvidenceFile,
    EvidenceOwner,
    Hazard,
    InsurancePolicy,
    Insurer,
    ServiceRecord,
    Town,
)

TZ = "Asia/Shanghai"
ENT = "bench-ent"
RULES = [
    ("intrusion", "危险区域闯入"),
    ("missing_ppe", "未戴安全帽"),
    ("phone_use", "使用手机"),
    ("smoking", "吸烟"),
    ("vehicle_proximity", "人车近距离"),
    ("post_unattended", "离岗"),
    ("fire_smoke", "烟火"),
]
POSTS = ["厂区大门", "配电房", "熔铸车间炉前", "挤压车间", "铝棒仓库", "危化品库", "装卸平台", "空压机房"]


PHOTO = Path(__file__).resolve().parent.parent / "tests" / "data" / "messi5.jpg"  # people, faces


def snapshot_jpeg(i: int) -> bytes:
    if PHOTO.is_file():
        with Image.open(PHOTO) as photo:
            img = photo.convert("RGB")
    else:
        img = Image.new("RGB", (640, 360), (40 + i * 20 % 200, 90, 140))
    ImageDraw.Draw(img).rectangle((20 + i * 10, 60, 160 + i * 10, 300), outline=(255, 255, 0), width=4)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def uptime_rows(
    rnd: random.Random, cameras: list[str], start: int, end: int, up_h: tuple[int, int]
) -> list[dict]:  # type: ignore[type-arg]
    """Online spans of each camera from ``start`` to ``end``: up for ``up_h`` hours, then down 0–6 h."""
    out = []
    for cam in cameras:
        t = start
        while t < end:
            up = rnd.randint(*up_h) * 3_600_000
            out.append({"site": "bench", "node": "n", "camera": cam, "start_ms": t,
                        "end_ms": min(t + up, end), "open": False})  # fmt: skip
            t += up + rnd.randint(0, 6) * 3_600_000
    return out


def seed(factory, config: CenterConfig, n_alerts: int, n_hazards: int) -> float:  # type: ignore[no-untyped-def]
    rnd = random.Random(14)
    tz = ZoneInfo(TZ)
    now = int(time.time() * 1000)
    year_ago = now - 365 * 86_400_000
    t = time.perf_counter()
    with factory.begin() as s:
        s.add(Enterprise(id=ENT, name="佛山市南海测速金属制品有限公司", credit_code="91440605MA4UXY127E",
                         industry="metal_smelting", address="狮山镇", contacts=[], created_ms=now,
                         updated_ms=now))  # fmt: skip
        s.add(Insurer(id="bench-ins", name="测速财产保险股份有限公司"))
        s.flush()
        s.add(InsurancePolicy(enterprise_id=ENT, insurer_id="bench-ins", policy_no="BENCH-0001",
                              start_date=date.fromtimestamp(year_ago / 1000).isoformat(),
                              end_date="2999-12-31",
                              premium_cny=36000.0, insured_headcount=120, created_ms=now))  # fmt: skip
        for i, post in enumerate(POSTS):
            s.add(Camera(id=f"bench-cam-{i}", enterprise_id=ENT, node="bench-node", name=f"{post}摄像头",
                         post_name=post, key_post=i % 2 == 0, created_ms=year_ago - 86_400_000))  # fmt: skip
        cams = [f"bench-cam-{i}" for i in range(len(POSTS))]
        s.execute(insert(CameraUptime), uptime_rows(rnd, cams, year_ago - 86_400_000, now, (12, 36)))
        snaps = []
        for i in range(8):
            data = snapshot_jpeg(i)
            sha = hashlib.sha256(data).hexdigest()
            path = path_of(config.evidence_dir, sha, "image/jpeg")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            s.add(EvidenceFile(sha256=sha, content_type="image/jpeg", size=len(data), stored_ms=now,
                               uploaded_by="bench"))  # fmt: skip
            s.add(EvidenceOwner(sha256=sha, enterprise_id=ENT, camera_id=f"bench-cam-{i}", node="bench-node",
                                uploaded_by="bench", via="upload", created_ms=now))  # fmt: skip
            snaps.append({"kind": "snapshot", "sha256": sha, "content_type": "image/jpeg", "size": len(data)})
        statuses = ["open"] * 3 + ["acknowledged"] * 4 + ["escalated"] + ["dismissed"] * 2
        rows = []
        for i in range(n_alerts):
            cam = rnd.randrange(len(POSTS))
            rtype, rname = RULES[(cam + rnd.randrange(3)) % len(RULES)]
            started = year_ago + rnd.randrange(365 * 86_400_000)
            rows.append(
                {
                    "event_id": str(uuid.UUID(int=rnd.getrandbits(128))), "site": "bench",
                    "node": "bench-node",
                    "camera": f"bench-cam-{cam}", "enterprise": ENT, "rule_id": f"{rtype}-{cam}",
                    "rule_type": rtype, "rule_name": f"{POSTS[cam]}{rname}",
                    "severity": rnd.choice(["general", "general", "significant", "major"]), "phase": "end",
                    "seq": 2, "started_ms": started, "last_ms": started + 5000, "ended_ms": started + 9000,
                    "zone": None, "count": 1, "score": 0.8, "objects": [],
                    "evidence": [snaps[cam]] if i % 500 == 0 else [], "received_ms": started,
                    "updated_ms": started, "status": rnd.choice(statuses),
                }
            )  # fmt: skip
            if len(rows) == 10_000:
                s.execute(insert(Alert), rows)
                rows = []
        if rows:
            s.execute(insert(Alert), rows)
        hazards = []
        for i in range(n_hazards):
            created = year_ago + rnd.randrange(360 * 86_400_000)
            closed = created + rnd.randrange(1, 30) * 86_400_000 if i % 4 else None
            if closed is not None and closed > now:
                closed = None
            hazards.append(
                {
                    "code": f"BENCH-{i:04d}", "enterprise_id": ENT, "camera_id": f"bench-cam-{i % 8}",
                    "title": f"测速隐患{i}", "description": "",
                    "level": "major" if i % 25 == 0 else "general",
                    "source": "inspection", "status": "closed" if closed else "pending",
                    "deadline_ms": created + rnd.randrange(3, 20) * 86_400_000, "assignee": "",
                    "before_evidence": [], "after_evidence": [], "rectification": "", "review_note": "",
                    "created_by": "bench", "created_ms": created, "updated_ms": created, "closed_ms": closed,
                }
            )  # fmt: skip
        s.execute(insert(Hazard), hazards)
        for m in range(12):
            day = (
                datetime.fromtimestamp(year_ago / 1000, tz).date() + timedelta(days=30 * m + 5)
            ).isoformat()
            kind = ["risk_diagnosis", "training", "inspection"][m % 3]
            s.add(ServiceRecord(enterprise_id=ENT, kind=kind, date=day, provider="测速安全技术服务公司",
                                insurer_id="bench-ins", summary=f"第{m + 1}次月度服务", created_by="bench",
                                created_ms=now))  # fmt: skip
    return time.perf_counter() - t


def seed_park(factory, n_ent: int, n_alerts: int, n_hazards: int) -> float:  # type: ignore[no-untyped-def]
    rnd = random.Random(15)
    now = int(time.time() * 1000)
    year_ago = now - 365 * 86_400_000
    industries = ["metal_smelting", "hazardous_chemicals", "furniture", "machinery", "industry_trade",
                  "fireworks", "metal_nonmetal_mining"]  # fmt: skip
    t = time.perf_counter()
    with factory.begin() as s:
        s.execute(
            insert(Town),
            [{"id": f"town-{i}", "name": f"第{i + 1}镇街", "district": "测速区"} for i in range(12)],
        )
        ents = []
        for i in range(n_ent):
            code = creditcode.make("9", "1", "440605", f"{i:08d}")
            ents.append({"id": f"ent-{i:04d}", "park_id": None, "town_id": f"town-{i % 12}",
                         "name": f"测速第{i + 1}号企业有限公司", "credit_code": code,
                         "industry": industries[i % len(industries)], "address": "", "map_x": None,
                         "map_y": None,
                         "contacts": [], "created_ms": now, "updated_ms": now})  # fmt: skip
        s.execute(insert(Enterprise), ents)
        s.execute(
            insert(Camera),
            [{"id": f"cam-{i:04d}-{k}", "enterprise_id": f"ent-{i:04d}", "node": "n", "name": f"{k}号",
              "post_name": POSTS[k], "key_post": k == 0, "map_x": None, "map_y": None,
              "created_ms": year_ago - 86_400_000}
             for i in range(n_ent) for k in range(3)],
        )  # fmt: skip
        cams = [f"cam-{i:04d}-{k}" for i in range(n_ent) for k in range(3)]
        spans = uptime_rows(rnd, cams, year_ago - 86_400_000, now, (24, 240))
        for i in range(0, len(spans), 10_000):
            s.execute(insert(CameraUptime), spans[i : i + 10_000])
        statuses = ["open"] * 3 + ["acknowledged"] * 4 + ["escalated"] + ["dismissed"] * 2
        rows = []
        for _ in range(n_alerts):
            e = rnd.randrange(n_ent)
            k = rnd.randrange(3)
            rtype, rname = RULES[rnd.randrange(len(RULES))]
            started = year_ago + rnd.randrange(365 * 86_400_000)
            rows.append({"event_id": str(uuid.UUID(int=rnd.getrandbits(128))), "site": "bench", "node": "n",
                         "camera": f"cam-{e:04d}-{k}", "enterprise": f"ent-{e:04d}",
                         "rule_id": f"{rtype}-{k}",
                         "rule_type": rtype, "rule_name": rname, "severity": rnd.choice(["general", "major"]),
                         "phase": "end", "seq": 2, "started_ms": started, "last_ms": started,
                         "ended_ms": started, "zone": None, "count": 1, "score": 0.8, "objects": [],
                         "evidence": [], "received_ms": started, "updated_ms": started,
                         "status": rnd.choice(statuses)})  # fmt: skip
            if len(rows) == 10_000:
                s.execute(insert(Alert), rows)
                rows = []
        if rows:
            s.execute(insert(Alert), rows)
        hazards = []
        for i in range(n_hazards):
            created = year_ago + rnd.randrange(360 * 86_400_000)
            closed = created + rnd.randrange(1, 30) * 86_400_000 if i % 4 else None
            if closed is not None and closed > now:
                closed = None
            hazards.append({"code": f"PB-{i:05d}", "enterprise_id": f"ent-{rnd.randrange(n_ent):04d}",
                            "camera_id": None, "title": f"隐患{i}", "description": "",
                            "level": "major" if i % 25 == 0 else "general", "source": "inspection",
                            "status": "closed" if closed else "pending",
                            "deadline_ms": created + rnd.randrange(3, 20) * 86_400_000, "assignee": "",
                            "before_evidence": [], "after_evidence": [], "rectification": "",
                            "review_note": "",
                            "created_by": "bench", "created_ms": created, "updated_ms": created,
                            "closed_ms": closed})  # fmt: skip
        s.execute(insert(Hazard), hazards)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alerts", type=int, default=100_000)
    ap.add_argument("--hazards", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--database", help="an empty database URL (default: a temporary SQLite file)")
    ap.add_argument("--park", type=int, metavar="N", help="the park report of N enterprises instead")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pg-report-bench-") as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'center.db'}"
        config = CenterConfig.model_validate(
            {"site": "bench", "site_name": "测速园区管控中心", "timezone": TZ, "database": {"url": url},
             "evidence_dir": str(Path(tmp) / "evidence")}
        )  # fmt: skip
        engine = db.make_engine(url)
        db.upgrade(engine)
        factory = db.make_session_factory(engine)
        today = datetime.now(ZoneInfo(TZ)).date()
        period = make_period(today - timedelta(days=364), today, TZ)
        who = Principal(username="bench", role=Role.OPERATOR, display_name="测速")
        if args.park:
            seeded = seed_park(factory, args.park, args.alerts, args.hazards)
            print(
                f"seeded {args.park} enterprises, {args.alerts} alerts, {args.hazards} hazards: "
                f"{seeded:.1f} s"
            )
            t = time.perf_counter()
            with factory.begin() as s:
                built = park_pdf(s, config, period, who)
            total = time.perf_counter() - t
            stages = " ".join(f"{k}={v:.2f}s" for k, v in built.rendered.timings.items())
            n = built.data["summary"]["enterprises"]
            print(
                f"RESULT park enterprises={n} pages={built.rendered.pages} {stages} total={total:.2f}s",
                flush=True,
            )
            engine.dispose()
            goal(f"park report of {args.park} enterprises", total, 60.0, " s", higher=False)
            return
        seeded = seed(factory, config, args.alerts, args.hazards)
        print(f"seeded {args.alerts} alerts, {args.hazards} hazards in {seeded:.1f} s ({db.describe(url)})")
        firsts = []
        for r in range(args.rounds):
            t = time.perf_counter()
            with factory.begin() as s:
                built = enterprise_pdf(s, config, s.get(Enterprise, ENT), period, who)  # type: ignore[arg-type]
            total = time.perf_counter() - t
            stages = " ".join(f"{k}={v:.2f}s" for k, v in built.rendered.timings.items())
            thumbs = sum(1 for row in built.data["recurring"]["rows"] if row["thumbnail"])
            print(
                f"RESULT round={r + 1} alerts={built.data['alerts']['total']} thumbnails={thumbs} "
                f"online={built.data['coverage']['online_pct']}% "
                f"hazards={built.data['hazards']['found']} "
                f"pages={built.rendered.pages} bytes={len(built.rendered.pdf)} {stages} total={total:.2f}s",
                flush=True,
            )
            firsts.append(total)
        engine.dispose()
    goal("enterprise-year report, first round", firsts[0], 10.0, " s", higher=False)


if __name__ == "__main__":
    main()
