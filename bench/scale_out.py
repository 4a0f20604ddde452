"""Scale-out figures with real processes (the CI tests run the same scenarios with fewer events).

    python bench/scale_out.py replicas [--events 50000] [--rate 0] [--no-kill]
    python bench/scale_out.py bridge   [--events 34000] [--cut 60] [--rate 0]
    python bench/scale_out.py replicas --engine jetstream [--events 50000]
    python bench/scale_out.py          (both on Mosquitto, as ./dev.sh bench runs it)

replicas: three ``parkguard-center serve`` on one PostgreSQL (a fresh database on the machine's
server, or a private instance), a private Mosquitto, 20 simulated nodes through the real
publisher and outbox (tests/support/simnodes.py), two WebSocket feed clients a replica; the third
replica SIGKILLed when half the events are sent and started again. Checks every event stored
whole and once and every surviving feed complete; prints the times.

bridge: a site Mosquitto bridged (``parkguard-center bridge-config``) to a central one in a
network namespace, the center beside it; the WAN link (a veth pair) cut for ``--cut`` seconds
while the nodes publish, so the site broker holds the backlog; prints the backlog and how long
the center took to catch up once the link came back.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.centerkit import emptied  # noqa: E402
from tests.support.mosquitto import MosquittoBroker  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.postgres import provide_postgres  # noqa: E402
from tests.support.procs import ManagedProcess  # noqa: E402
from tests.support.scaleout import run_bridge, run_replicas  # noqa: E402


@contextlib.contextmanager
def private_nats(work: Path) -> Iterator[tuple[int, int]]:
    """A nats-server with JetStream and its MQTT gateway on free ports: (port, mqtt_port)."""
    binary = shutil.which("nats-server")
    if binary is None:
        raise SystemExit("nats-server is not installed")
    port, mqtt_port = free_port(), free_port()
    conf = work / "nats.conf"
    conf.write_text(
        f'listen: 127.0.0.1:{port}\nserver_name: pg-bench\njetstream {{ store_dir: "{work / "js"}" }}\n'
        f"mqtt {{ listen: 127.0.0.1:{mqtt_port} }}\n",
        encoding="utf-8",
    )
    with ManagedProcess([binary, "-c", conf], name="nats", log_dir=work, ready_port=mqtt_port):
        yield port, mqtt_port


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", choices=["replicas", "bridge", "all"], default="all")
    ap.add_argument("--events", type=int, default=None, help="events (3 messages each)")
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument(
        "--rate", type=float, default=0.0, help="events a second in all (0: as fast as the outboxes go)"
    )
    ap.add_argument("--cut", type=float, default=60.0, help="bridge: seconds the link stays cut")
    ap.add_argument("--no-kill", action="store_true", help="replicas: no SIGKILL")
    ap.add_argument(
        "--engine", choices=["mosquitto", "jetstream"], default="mosquitto",
        help="replicas: Mosquitto shared subscription, or a private nats-server (JetStream, MQTT gateway)",
    )  # fmt: skip
    args = ap.parse_args()
    for scenario in ("replicas", "bridge") if args.scenario == "all" else (args.scenario,):
        result = run(scenario, args)
        print(json.dumps(result, indent=1))
        print(f"RESULT {scenario} " + " ".join(f"{k}={v}" for k, v in result.items()))
    return 0


def run(scenario: str, args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="pg-scale-") as tmp:
        work = Path(tmp)
        if scenario == "bridge":
            return run_bridge(
                work, nodes=args.nodes, events=args.events or 34_000, rate=args.rate, cut_s=args.cut
            )
        events = args.events or 50_000
        with provide_postgres() as pg:
            if args.engine == "jetstream":
                with private_nats(work) as (port, mqtt_port):
                    result = run_replicas(
                        work, emptied(pg.url), mqtt_port, nodes=args.nodes, events=events, rate=args.rate,
                        kill=not args.no_kill, nats_port=port,
                    )  # fmt: skip
                result["engine"] = (
                    "nats-server JetStream (its MQTT gateway), the killed replica not restarted"
                )
            else:
                with MosquittoBroker(work / "broker", extra_config="max_queued_messages 1000000") as broker:
                    result = run_replicas(
                        work, emptied(pg.url), broker.port, nodes=args.nodes, events=events, rate=args.rate,
                        kill=not args.no_kill,
                    )  # fmt: skip
        if result.get("stored_s"):
            result["messages_per_s"] = round(result["messages"] / result["stored_s"])
        return result


if __name__ == "__main__":
    sys.exit(main())
