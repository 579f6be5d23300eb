"""Event builders for the engine tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from oms_bridge.core.engine import Engine
from oms_bridge.core.events import EventCodes, MeterEvent, parse_event
from oms_bridge.core.topology import Topology
from oms_bridge.settings import EngineSettings

T0 = datetime(2026, 11, 26, 7, 0, 0, tzinfo=UTC)
CODES = EventCodes.from_settings(EngineSettings())


def stamp(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


class Stream:
    """Builds raw event objects in arrival order with unique ids."""

    def __init__(self) -> None:
        self.objs: list[dict[str, Any]] = []

    def add(self, meter: str, kind: str, at_s: float, event_id: str | None = None) -> None:
        eid = event_id or f"E{len(self.objs):06d}"
        self.objs.append({"event_id": eid, "meter_id": meter, "type": kind,
                          "occurred_at": stamp(at_s)})

    def gasps(self, meters: list[str], at_s: float) -> None:
        for i, m in enumerate(meters):
            self.add(m, "last_gasp", at_s + 0.1 * i)

    def restores(self, meters: list[str], at_s: float) -> None:
        for i, m in enumerate(meters):
            self.add(m, "power_restored", at_s + 0.1 * i)

    def events(self) -> list[MeterEvent]:
        return [parse_event(o, CODES) for o in self.objs]


def run(topology: Topology, stream: Stream, settings: EngineSettings | None = None,
        *, flush: bool = True) -> Engine:
    engine = Engine(topology, settings or EngineSettings())
    engine.ingest_many(stream.events())
    if flush:
        engine.flush()
    return engine


def meters(prefix: str, n: int, step: int = 1, start: int = 0) -> list[str]:
    return [f"M-{prefix}-{i}" for i in range(start, n, step)]
