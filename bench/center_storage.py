"""Database bytes per alert, and backup / restore speed: pg_dump vs a dump through SQLAlchemy.

    python bench/center_storage.py [--events 20000] [--pg-url postgresql+psycopg://postgres@host/postgres]

A fresh SQLite file and a fresh PostgreSQL database (the server at 127.0.0.1:5432 unless
``--pg-url`` names an admin URL) are migrated, a camera registered, and ``--events`` alert events
of a realistic shape (new, update, end: three messages each; three detected objects; a snapshot
and a clip referenced; a Chinese rule name) stored through the ingest's own batch path
(``center.ingest.process.process_batch``, 500 messages a transaction), then each engine is
measured: its size per alert (SQLite: the file after a WAL checkpoint; PostgreSQL: the alerts
table with its indexes and TOAST, and the whole database's growth).

Then backup and restore of each database, timed:
- ``center.backup`` (what ``parkguard-center backup/restore`` runs): SQLite's online backup API;
  ``pg_dump --format=custom`` in an exported snapshot, ``pg_restore --single-transaction``.
- the alternative for PostgreSQL: every table read through SQLAlchemy into gzip'd JSON lines,
  restored by executemany INSERTs of 5,000 rows into a freshly migrated database.
Prints ``RESULT`` lines.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from ingest_throughput import drop_pg, pg_database  # noqa: E402
from sqlalchemy import Engine, LargeBinary, insert, select, text  # noqa: E402

from center.backup import backup, restore  # noqa: E402
from center.config import CenterConfig  # noqa: E402
from center.ingest.process import Received, process_batch  # noqa: E402
from center.ingest.registry import CameraRegistry  # noqa: E402
from center.store import db  # noqa: E402
from center.store.models import Base, Camera, Enterprise, EvidenceFile, EvidenceOwner  # noqa: E402
from protocol import AlertEvent, Topic, new_event_id  # noqa: E402

SITE, NODE, CAMERA, ENTERPRISE = "bench", "edge-01", "cam-01", "ent-01"
TOPIC = str(Topic.of(SITE, NODE, "event"))


def messages(n_events: int) -> list[bytes]:
    out: list[bytes] = []
    t0 = 1_795_827_600_000
    for i in range(n_events):
        eid = new_event_id(t0 + i)
        start = t0 + i * 1000
        evidence = [
            {"kind": "snapshot", "sha256": uuid.uuid4().hex * 2, "content_type": "image/jpeg", "size": 61000},
            {"kind": "clip", "sha256": uuid.uuid4().hex * 2, "content_type": "video/mp4", "size": 900000},
        ]
        objects = [
            {"label": "person", "score": 0.81, "box": (x, 0.2, x + 0.2, 0.6), "track": 40 + k}
            for k, x in enumerate((0.1, 0.15, 0.2))
        ]
        for seq, phase in enumerate(("new", "update", "end")):
            ev = AlertEvent(
                event_id=eid, phase=phase, seq=seq, site=SITE, node=NODE, camera=CAMERA,
                rule_id="junction-intrusion", rule_type="intrusion", rule_name="道路交汇处禁行区闯入",
                severity="significant", started_ms=start, last_ms=start + 5000 * seq,
                ended_ms=start + 10_000 if phase == "end" else None, zone="junction", count=len(objects),
                score=0.81, objects=objects, evidence=evidence if seq else evidence[:1],
            )  # fmt: skip
            out.append(ev.model_dump_json().encode())
    return out


def fill(url: str, n_events: int) -> float:
    engine = db.make_engine(url)
    db.upgrade(engine)
    factory = db.make_session_factory(engine)
    with factory.begin() as s:
        code = "91440605MA4UXY127E"
        s.add(
            Enterprise(
                id=ENTERPRISE, name="测试企业", credit_code=code, industry="machinery", contacts=[],
                created_ms=0, updated_ms=0,
            )
        )  # fmt: skip
        s.flush()
        s.add(Camera(id=CAMERA, enterprise_id=ENTERPRISE, node=NODE, created_ms=0))
    registry = CameraRegistry(factory)
    payloads = messages(n_events)
    started = time.perf_counter()
    for i in range(0, len(payloads), 500):
        batch = [Received(TOPIC, p, 0, 0, 0) for p in payloads[i : i + 500]]
        results = process_batch(factory, SITE, batch, False, registry)
        bad = [r for r in results if r.outcome == "quarantined"]
        assert not bad, bad[0].reason
    took = time.perf_counter() - started
    engine.dispose()
    return took


def add_evidence_rows(url: str, n_events: int) -> None:
    """What an edge's uploads add for each alert: a snapshot and a clip, each a file row and an
    owner row (``PUT /api/evidence/{sha256}?camera=``)."""
    engine = db.make_engine(url)
    files, owners = [], []
    for i in range(2 * n_events):
        sha = uuid.uuid4().hex * 2
        files.append({"sha256": sha, "content_type": "video/mp4" if i % 2 else "image/jpeg",
                      "size": 900_000 if i % 2 else 61_000, "stored_ms": 1_795_827_600_000 + i,
                      "uploaded_by": NODE})  # fmt: skip
        owners.append({"sha256": sha, "enterprise_id": ENTERPRISE, "camera_id": CAMERA, "node": NODE,
                       "uploaded_by": NODE, "via": "upload", "created_ms": 1_795_827_600_000})  # fmt: skip
    with engine.begin() as conn:
        for i in range(0, len(files), 5000):
            conn.execute(insert(EvidenceFile), files[i : i + 5000])
            conn.execute(insert(EvidenceOwner), owners[i : i + 5000])
    engine.dispose()


def sqlite_bytes(path: Path) -> int:
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path.stat().st_size


def pg_bytes(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        table = conn.execute(text("SELECT pg_total_relation_size('alerts')")).scalar_one()
        database = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    return int(table), int(database)


def sqlalchemy_dump(engine: Engine, target: Path) -> int:
    rows = 0
    with engine.connect() as conn, gzip.open(target, "wt", encoding="utf-8") as out:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                record = {
                    k: base64.b64encode(v).decode() if isinstance(v, bytes | memoryview) else v
                    for k, v in row.items()
                }
                out.write(json.dumps({"t": table.name, "r": record}, ensure_ascii=False, default=str) + "\n")
                rows += 1
    return rows


def sqlalchemy_load(engine: Engine, source: Path) -> int:
    db.upgrade(engine)
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    rows = 0
    with engine.begin() as conn, gzip.open(source, "rt", encoding="utf-8") as f:
        batch: list[dict[str, Any]] = []
        current = None
        for line in f:
            item = json.loads(line)
            if item["t"] != current and batch:
                conn.execute(insert(tables[current]), batch)  # type: ignore[index]
                batch = []
            current = item["t"]
            record = item["r"]
            for col in tables[current].columns:
                if isinstance(col.type, LargeBinary) and record.get(col.name) is not None:
                    record[col.name] = base64.b64decode(record[col.name])
            batch.append(record)
            rows += 1
            if len(batch) == 5000:
                conn.execute(insert(tables[current]), batch)
                batch = []
        if batch and current:
            conn.execute(insert(tables[current]), batch)
        if conn.dialect.name == "postgresql":  # the identity sequences after explicit ids
            for table in Base.metadata.sorted_tables:
                for col in table.primary_key.columns:
                    if col.autoincrement is not False and col.type.python_type is int:
                        conn.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{col.name}'), "
                                f"COALESCE((SELECT MAX({col.name}) FROM {table.name}), 0) + 1, false) "
                                f"WHERE pg_get_serial_sequence('{table.name}', '{col.name}') IS NOT NULL"
                            )
                        )
    return rows


def config_for(url: str, evidence: Path) -> CenterConfig:
    data = {"site": SITE, "database": {"url": url}, "evidence_dir": str(evidence)}
    return CenterConfig.model_validate(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--pg-url", default=os.environ.get("PARKGUARD_BENCH_PG_URL"), help="a server's admin URL")
    args = ap.parse_args()
    n = args.events
    work = Path(tempfile.mkdtemp(prefix="parkguard-storage-"))
    made: list[str] = []
    try:
        # --- SQLite ---
        path = work / "center.db"
        url = f"sqlite:///{path}"
        empty = work / "empty.db"
        e0 = db.make_engine(f"sqlite:///{empty}")
        db.upgrade(e0)
        e0.dispose()
        base = sqlite_bytes(empty)
        took = fill(url, n)
        size = sqlite_bytes(path)
        print(f"RESULT sqlite: {n} alerts ({3 * n} messages) stored in {took:.1f} s; file {size:,} bytes, "
              f"{(size - base) / n:,.0f} bytes an alert", flush=True)  # fmt: skip
        add_evidence_rows(url, n)
        grown = sqlite_bytes(path) - size
        print(f"RESULT sqlite: evidence rows (2 files + 2 owners an alert): {grown / n:,.0f} bytes an alert")
        out = work / "bk-sqlite"
        t = time.perf_counter()
        done = backup(config_for(url, work / "ev-src"), out)
        t_b = time.perf_counter() - t
        t = time.perf_counter()
        restore(config_for(f"sqlite:///{work / 'restored.db'}", work / "ev-dst"), out)
        t_r = time.perf_counter() - t
        size = done.manifest["files"]["database.sqlite"]["size"]
        print(
            f"RESULT sqlite backup API: backup {t_b:.2f} s ({size:,} bytes), "
            f"restore {t_r:.2f} s (checksums, integrity check, rename)",
            flush=True,
        )

        # --- PostgreSQL ---
        pg_url, name = pg_database(args.pg_url)
        if pg_url is None or name is None:
            return
        made.append(name)
        engine = db.make_engine(pg_url)
        db.upgrade(engine)
        _t0, d0 = pg_bytes(engine)
        took = fill(pg_url, n)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE alerts"))
        table, dsize = pg_bytes(engine)
        add_evidence_rows(pg_url, n)
        _t, dsize2 = pg_bytes(engine)
        per = (dsize2 - dsize) / n
        print(f"RESULT postgresql: evidence rows (2 files + 2 owners an alert): {per:,.0f} bytes an alert")
        grew = dsize - d0
        print(
            f"RESULT postgresql: {n} alerts stored in {took:.1f} s; alerts table with indexes {table:,} "
            f"bytes ({table / n:,.0f} an alert); database grew {grew:,} bytes ({grew / n:,.0f} an alert)",
            flush=True,
        )

        out = work / "bk-pg"
        t = time.perf_counter()
        done = backup(config_for(pg_url, work / "ev-pg"), out)
        t_b = time.perf_counter() - t
        dst_url, dst_name = pg_database(args.pg_url)
        assert dst_url and dst_name
        made.append(dst_name)
        t = time.perf_counter()
        restore(config_for(dst_url, work / "ev-pg-dst"), out)
        t_r = time.perf_counter() - t
        size = done.manifest["files"]["database.pgdump"]["size"]
        print(f"RESULT pg_dump/pg_restore: backup {t_b:.2f} s ({size:,} bytes), restore {t_r:.2f} s")

        dump = work / "sqlalchemy.jsonl.gz"
        t = time.perf_counter()
        rows = sqlalchemy_dump(engine, dump)
        t_b = time.perf_counter() - t
        alt_url, alt_name = pg_database(args.pg_url)
        assert alt_url and alt_name
        made.append(alt_name)
        alt = db.make_engine(alt_url)
        t = time.perf_counter()
        sqlalchemy_load(alt, dump)
        t_r = time.perf_counter() - t
        alt.dispose()
        engine.dispose()
        print(f"RESULT SQLAlchemy JSON lines: dump {t_b:.2f} s ({dump.stat().st_size:,} bytes, {rows} rows), "
              f"load {t_r:.2f} s", flush=True)  # fmt: skip
    finally:
        for name in made:
            drop_pg(args.pg_url, name)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
