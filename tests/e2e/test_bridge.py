"""A site broker bridged to the central one (``parkguard-center bridge-config``), the WAN link cut
for real (a veth pair into a network namespace, the host's end set down) while 20 simulated
nodes publish through the real publisher and outbox: every event arrives whole and once after
the link comes back, the backlog carried by the site broker (store and forward).

CI: the link is cut 20 s with about 2,700 events (8,000 messages) published meanwhile;
``bench/scale_out.py bridge`` cuts it 60 s with a backlog of about 100,000 messages.
Without root or iproute2 the central broker is stopped instead (the test says so in its output).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.scaleout import run_bridge

pytestmark = pytest.mark.e2e


def test_the_wan_cut_for_20_s_loses_nothing(tmp_workdir: Path) -> None:
    result = run_bridge(tmp_workdir, nodes=20, events=3000, rate=120, cut_s=20)
    print(result)
    # what the center stored by the end of the cut had been sent before it (a real cut; the nodes
    # tell their count every 15 events)
    assert result["stored_by_end_of_cut"] <= result["sent_before_cut"] + 15, result
    assert result["sent_during_cut"] >= 2000, "the backlog was smaller than planned"
