"""Center replicas with real processes: three ``parkguard-center serve`` on one PostgreSQL, one
Mosquitto, 20 simulated nodes through the real publisher and outbox (tests/support/simnodes.py).

- the replicas split the ingest through the MQTT 5 shared subscription ``$share/centers/…``;
- each event is recorded exactly once, whole (phase ``end``, seq 2, snapshot and clip: the three
  messages of one event are stored by different replicas, in any order);
- every surviving replica's WebSocket clients see every event of their scope (an operator: all;
  an enterprise officer: exactly its enterprise's), through PostgreSQL LISTEN/NOTIFY;
- one replica is killed with SIGKILL midway: the two others carry on (their feeds keep
  filling), and nothing is lost. Mosquitto 2.0 keeps handing the dead replica's persistent
  session its share of the group (queued for it, not lost), so the replica is started again
  with the same client id, as systemd or compose would, and stores what waited for it.

3,000 events (9,000 messages) here, paced at 250 events/s, to keep CI short (about a minute);
``bench/scale_out.py replicas`` runs the same scenario with 50,000 and prints the figures.
The scenario itself: :func:`tests.support.scaleout.run_replicas`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.centerkit import emptied
from tests.support.scaleout import run_replicas

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def test_three_replicas_split_the_ingest_and_survive_a_sigkill(
    tmp_workdir: Path, pg_url: str, mosquitto_factory: Any
) -> None:
    broker = mosquitto_factory(extra_config="max_queued_messages 200000")
    result = run_replicas(
        tmp_workdir, emptied(pg_url), broker.port, nodes=20, events=3000, rate=250, kill=True
    )
    print(result)
