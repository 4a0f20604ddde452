"""Prometheus ``/metrics`` for the node: a tiny stdlib HTTP server thread and the text format.

No client library: the node renders its figures at scrape time from the counters it keeps
anyway (see edge/node_metrics.py). Histograms are cumulative buckets.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("parkguard.edge.metrics")

INFER_MS_BUCKETS = (5, 10, 20, 30, 40, 50, 75, 100, 150, 200, 300, 500, 1000, 2000)
AGE_MS_BUCKETS = (25, 50, 100, 200, 300, 500, 750, 1000, 2000, 5000, 10000)
STAGE_MS_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 50, 75, 100, 200, 500, 1000)
# the stages of a frame's work, in order (decode runs on the camera's reader thread)
STAGES = ("decode", "convert", "preprocess", "inference", "postprocess", "track", "rules", "evidence")


class Histogram:
    """Cumulative-bucket histogram (Prometheus semantics); thread-safe enough for one writer."""

    def __init__(self, buckets: Sequence[float]) -> None:
        self.bounds = tuple(sorted(float(b) for b in buckets))
        self.counts = [0] * (len(self.bounds) + 1)  # last: +Inf
        self.sum = 0.0
        self.count = 0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            for i, b in enumerate(self.bounds):
                if value <= b:
                    self.counts[i] += 1
                    break
            else:
                self.counts[-1] += 1
            self.sum += value
            self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        with self._lock:
            out, acc = [], 0
            for b, c in zip(self.bounds, self.counts, strict=False):
                acc += c
                out.append((_num(b), acc))
            out.append(("+Inf", acc + self.counts[-1]))
            return out


@dataclass
class Family:
    name: str
    kind: str  # counter, gauge, histogram
    help: str
    samples: list[tuple[dict[str, str], float | Histogram]] = field(default_factory=list)

    def add(self, labels: dict[str, str], value: float | Histogram) -> Family:
        self.samples.append((labels, value))
        return self


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    esc = {
        k: str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for k, v in labels.items()
    }
    return "{" + ",".join(f'{k}="{v}"' for k, v in esc.items()) + "}"


def render(families: Iterable[Family]) -> str:
    lines: list[str] = []
    for fam in families:
        lines.append(f"# HELP {fam.name} {fam.help}")
        lines.append(f"# TYPE {fam.name} {fam.kind}")
        for labels, value in fam.samples:
            if isinstance(value, Histogram):
                for le, n in value.cumulative():
                    lines.append(f"{fam.name}_bucket{_labels({**labels, 'le': le})} {n}")
                lines.append(f"{fam.name}_sum{_labels(labels)} {_num(round(value.sum, 3))}")
                lines.append(f"{fam.name}_count{_labels(labels)} {value.count}")
            else:
                lines.append(f"{fam.name}{_labels(labels)} {_num(value)}")
    return "\n".join(lines) + "\n"


HealthFn = Callable[[], tuple[bool, dict[str, object]]]


class MetricsServer:
    """``GET /metrics`` on (bind, port) in a daemon thread; ``collect()`` gives the families.
    ``GET /healthz``, when ``health`` is given: 200 while it says healthy, else 503 (JSON body)."""

    def __init__(
        self, bind: str, port: int, collect: Callable[[], Iterable[Family]], health: HealthFn | None = None
    ) -> None:
        collect_fn = collect
        health_fn = health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz" and health_fn is not None:
                    self._health(health_fn)
                    return
                if path != "/metrics":
                    self.send_error(404, "only /metrics and /healthz here")
                    return
                try:
                    body = render(collect_fn()).encode()
                except Exception as exc:  # a scrape must never take the node down
                    log.exception("metrics: collect failed")
                    self.send_error(500, f"{type(exc).__name__}")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _health(self, fn: HealthFn) -> None:
                try:
                    ok, report = fn()
                except Exception:  # a probe must never take the node down
                    log.exception("healthz: report failed")
                    ok, report = False, {"status": "error"}
                body = json.dumps(report).encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("metrics: " + format, *args)

        self.httpd = ThreadingHTTPServer((bind, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
