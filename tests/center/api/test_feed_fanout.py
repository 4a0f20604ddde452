"""The live feed across replicas (PostgreSQL LISTEN/NOTIFY): a change committed by one replica's
ingest reaches another replica's hub with its names; a rolled-back one never does; a replica
does not relay its own. End to end with real processes: tests/e2e/test_replicas.py."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlalchemy.orm import Session

from center.api.feed.fanout import FeedFanout
from center.ingest.process import process
from center.store import db
from protocol import Topic, new_event_id, now_ms
from tests.centerkit import SITE, emptied, event, register_cameras, wait_for

pytestmark = pytest.mark.postgres


def test_a_committed_change_reaches_the_other_replica_only(pg_url: str) -> None:
    engine = db.make_engine(emptied(pg_url))
    factory = db.make_session_factory(engine)
    register_cameras(factory, {"cam-gate": ("node-a", "ent-a")})
    got_a: list[dict[str, Any]] = []
    got_b: list[dict[str, Any]] = []
    a = FeedFanout(engine, factory, got_a.append)
    b = FeedFanout(engine, factory, got_b.append)
    a.start()
    b.start()
    try:
        assert a.listening.wait(10) and b.listening.wait(10)
        eid = new_event_id()
        topic = Topic.of(SITE, "node-a", "event")
        res = process(factory, SITE, topic, json.dumps(event(eid)).encode(), now_ms(), on_changed=a.announce)
        assert res.outcome == "inserted"
        wait_for(lambda: len(got_b) == 1, what="the change relayed to replica b")
        assert got_b[0]["event_id"] == eid and got_b[0]["phase"] == "new"
        assert got_b[0]["enterprise"] == "ent-a" and "camera_name" in got_b[0]

        # a notification whose transaction rolls back is never delivered
        with Session(engine) as session:
            a.tell(session, [eid])
            session.rollback()
        time.sleep(1.5)
        assert len(got_b) == 1
        assert got_a == []  # a does not relay its own changes (its ingest told its hub directly)
        # many ids in one transaction: chunked under the payload limit, all relayed once
        ids = [new_event_id() for _ in range(400)]
        for i in ids:
            process(factory, SITE, topic, json.dumps(event(i)).encode(), now_ms())
        with Session(engine) as session:
            a.tell(session, ids)
            session.commit()
        wait_for(lambda: len(got_b) == 401, what="400 relayed")
        assert {x["event_id"] for x in got_b[1:]} == set(ids)
    finally:
        a.stop()
        b.stop()
        engine.dispose()
