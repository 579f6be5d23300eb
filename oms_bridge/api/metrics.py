"""A few Prometheus metrics in the plain text exposition format (no extra deps).

Counters, gauges and histograms with fixed label sets; enough for events in,
ingest lag, active outages and inference time.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["Counter", "Gauge", "Histogram", "LabeledGauge", "Registry", "ServiceMetrics"]

Labels = tuple[tuple[str, str], ...]


def _fmt_labels(labels: Labels, extra: tuple[str, str] | None = None) -> str:
    items = list(labels) + ([extra] if extra else [])
    if not items:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in items
    )
    return "{" + inner + "}"


def _fmt_value(v: float) -> str:
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


@dataclass
class Counter:
    name: str
    help: str
    values: dict[Labels, float] = field(default_factory=dict)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount

    def get(self, **labels: str) -> float:
        return self.values.get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        if not self.values:
            out.append(f"{self.name} 0")
        out += [f"{self.name}{_fmt_labels(k)} {_fmt_value(v)}" for k, v in self.values.items()]
        return out


@dataclass
class Gauge:
    name: str
    help: str
    value: float = 0.0
    source: Callable[[], float] | None = None

    def set(self, value: float) -> None:
        self.value = value

    def render(self) -> list[str]:
        value = self.source() if self.source is not None else self.value
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge",
                f"{self.name} {_fmt_value(value)}"]


@dataclass
class LabeledGauge:
    """A gauge with one label, each value read from its source when rendered."""

    name: str
    help: str
    label: str
    sources: dict[str, Callable[[], float]] = field(default_factory=dict)

    def track(self, value: str, source: Callable[[], float]) -> None:
        self.sources[value] = source

    def get(self, value: str) -> float:
        return self.sources[value]()

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge"]
        out += [f"{self.name}{_fmt_labels(((self.label, v),))} {_fmt_value(source())}"
                for v, source in self.sources.items()]
        return out


@dataclass
class Histogram:
    name: str
    help: str
    buckets: Sequence[float] = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0)
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.n += 1

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        running = 0
        for bound, count in zip([*self.buckets, math.inf], self.counts, strict=True):
            running += count
            out.append(f'{self.name}_bucket{{le="{_fmt_value(bound)}"}} {running}')
        out += [f"{self.name}_sum {_fmt_value(self.total)}", f"{self.name}_count {self.n}"]
        return out


M = TypeVar("M", Counter, Gauge, LabeledGauge, Histogram)


@dataclass
class Registry:
    metrics: list[Counter | Gauge | LabeledGauge | Histogram] = field(default_factory=list)

    def add(self, metric: M) -> M:
        self.metrics.append(metric)
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in self.metrics:
            lines += metric.render()
        return "\n".join(lines) + "\n"


class ServiceMetrics:
    """The service's own metrics, shared by the runtime, the bus and the API."""

    def __init__(self) -> None:
        self.registry = Registry()
        r = self.registry
        self.events_in = r.add(Counter(
            "omsb_events_in_total", "Meter events received, by source and verdict"))
        self.batches = r.add(Counter(
            "omsb_ingest_batches_total", "Durable write batches (group commits)"))
        self.ingest_lag = r.add(Histogram(
            "omsb_ingest_lag_seconds",
            "Wall time from receipt of an event to its durable write and inference"))
        self.inference = r.add(Histogram(
            "omsb_inference_seconds", "Wall time the engine spent per ingested batch"))
        self.write_time = r.add(Histogram(
            "omsb_event_write_seconds", "Wall time of one durable event batch write"))
        self.outages_active = r.add(Gauge(
            "omsb_outages_active", "Outages currently active"))
        self.queue_depth = r.add(Gauge(
            "omsb_ingest_queue_depth", "Events waiting for the single writer"))
        self.stream_clients = r.add(Gauge(
            "omsb_stream_clients", "Connected server-sent-event clients"))
        self.store_errors = r.add(Counter(
            "omsb_store_errors_total", "Database operations that failed"))
        self.restorations = r.add(Counter(
            "omsb_restorations_total", "Restoration feed items written"))
        self.read_cache_bytes = r.add(LabeledGauge(
            "omsb_read_cache_bytes",
            "Bytes of the stored documents the read caches hold (bounded; fills up to "
            "its chunk limit)", "cache"))

    def render(self) -> str:
        return self.registry.render()
