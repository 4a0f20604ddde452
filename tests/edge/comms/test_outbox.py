"""The on-disk outbox: order, durability across a reopen, bounded size with ranked eviction."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from edge.comms.outbox import Outbox


def test_rows_leave_in_order_and_only_when_acked(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    ids = [box.put("t", f"m{i}".encode()) for i in range(10)]
    first = box.pending(0, 4)
    assert [r.payload for r in first] == [b"m0", b"m1", b"m2", b"m3"]
    assert [r.id for r in box.pending(first[-1].id, 100)] == ids[4:]
    box.ack([ids[1], ids[0]])
    assert box.depth == 8 and [r.id for r in box.pending(0, 1)] == [ids[2]]


def test_survives_kill_9_of_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    code = (
        "import os, sys\n"
        "from edge.comms.outbox import Outbox\n"
        f"box = Outbox(__import__('pathlib').Path({str(path)!r}))\n"
        "for i in range(50):\n"
        "    box.put('t', str(i).encode())\n"
        "print('written', flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )
    assert res.returncode == -9 and "written" in res.stdout
    box = Outbox(path)
    assert box.depth == 50
    assert [r.payload for r in box.pending(0, 100)] == [str(i).encode() for i in range(50)]


def test_full_outbox_evicts_lowest_rank_oldest_first_and_counts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_rows=5)
    box.put("t", b"major-1", rank=2)
    box.put("t", b"general-1", rank=0)
    box.put("t", b"significant-1", rank=1)
    box.put("t", b"general-2", rank=0)
    box.put("t", b"major-2", rank=2)
    box.put("t", b"major-3", rank=2)  # over the bound: general-1 goes
    box.put("t", b"major-4", rank=2)  # then general-2
    box.put("t", b"major-5", rank=2)  # then significant-1
    assert [r.payload for r in box.pending(0, 10)] == [
        b"major-1",
        b"major-2",
        b"major-3",
        b"major-4",
        b"major-5",
    ]
    assert box.dropped == 3 and box.depth == 5
    box.close()
    assert Outbox(tmp_path / "o.sqlite", max_rows=5).dropped == 3  # the counter is on disk too
