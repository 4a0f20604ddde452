"""Prometheus ``/metrics`` for the node: a tiny stdlib HTTP server thread and the text format.

No client library: the node renders its figures at scrape time from the counters it keeps
anyway (see edge/node_metrics.py). Histograms are cumulative buckets.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common.prometheus import CONTENT_TYPE, Family, Histogram, render

log = logging.getLogger("parkguard.edge.metrics")

INFER_MS_BUCKETS = (5, 10, 20, 30, 40, 50, 75, 100, 150, 200, 300, 500, 1000, 2000)
AGE_MS_BUCKETS = (25, 50, 100, 200, 300, 500, 750, 1000, 2000, 5000, 10000)
STAGE_MS_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 50, 75, 100, 200, 500, 1000)
# the stages of a frame's work, in order (decode runs on the camera's reader thread)
STAGES = ("decode", "convert", "preprocess", "inference", "postprocess", "track", "rules", "evidence")


__all__ = ["Family", "Histogram", "MetricsServer", "render"]  # the format lives in common/prometheus.py

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
                self.send_header("Content-Type", CONTENT_TYPE)
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
