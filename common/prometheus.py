"""Prometheus text exposition format (0.0.4) without a client library: cumulative-bucket
histograms, metric families and their rendering. The edge node (edge/comms/metrics.py) and the
center (center/metrics.py) render their figures at scrape time with it."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


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


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
