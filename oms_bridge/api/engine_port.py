"""The one place where the service touches the inference core's names.

The runtime talks to an :class:`EnginePort`: how to build an engine on a
topology, how to validate an event, how to turn an event into a log row and
back. :class:`CorePort` wires the real ``oms_bridge.core`` modules; tests may
pass a small stand-in instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from oms_bridge.core import coverage, events
from oms_bridge.core.topology import Topology
from oms_bridge.settings import Settings

__all__ = ["CorePort", "EngineLike", "EnginePort", "LogItem"]

#: ``(event_id, meter_id, kind, occurred_at)``: a log row without its seq.
LogItem = tuple[str | None, str | None, str, float | None]
#: ``Engine.ingest_columns`` kind codes.
_KIND_CODES = {events.EventKind.LAST_GASP.value: 0, events.EventKind.POWER_RESTORED.value: 1}


class EngineLike(Protocol):
    """What the runtime needs from ``oms_bridge.core.engine.Engine``."""

    def ingest(self, event: Any) -> Any: ...
    def count_invalid(self, n: int) -> None: ...
    def tick(self, event_time: float) -> Any: ...
    def drain_changes(self) -> list[dict[str, Any]]: ...
    def drain_restorations(self) -> list[dict[str, Any]]: ...
    def outages(self, status: str = "all") -> list[dict[str, Any]]: ...
    def outage_detail(self, outage_id: str) -> dict[str, Any] | None: ...
    def event_stats(self) -> dict[str, int]: ...


class EnginePort(Protocol):
    def make_engine(self, topology: Topology) -> EngineLike: ...

    def parse(self, obj: Any) -> Any:
        """A validated event, or raise :class:`~oms_bridge.errors.EventError`."""

    def to_item(self, event: Any) -> LogItem: ...

    def from_item(self, item: LogItem) -> Any: ...

    def verdict_name(self, verdict: Any) -> str:
        """``accepted``, ``duplicate`` or ``unknown_meter``."""

    def ingest_items(self, engine: EngineLike, items: Sequence[LogItem]) -> list[str]:
        """Feed valid events (as log items, in order); the verdict name of each."""

    def coverage(self, topology: Topology) -> list[dict[str, Any]]: ...


class CorePort:
    """The real engine, event parser and coverage of ``oms_bridge.core``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._codes = events.EventCodes.from_settings(settings.engine)

    def make_engine(self, topology: Topology) -> EngineLike:
        from oms_bridge.core.engine import Engine  # noqa: PLC0415 - the engine is heavy

        engine: EngineLike = Engine(topology, self._settings.engine, self._settings.coverage)
        return engine

    def parse(self, obj: Any) -> Any:
        return events.parse_event(obj, self._codes)

    def to_item(self, event: Any) -> LogItem:
        return (event.event_id, event.meter_id, event.kind.value, float(event.occurred_at))

    def from_item(self, item: LogItem) -> Any:
        event_id, meter_id, kind, occurred_at = item
        return events.MeterEvent(str(event_id), str(meter_id), events.EventKind(kind),
                                 float(occurred_at or 0.0))

    def verdict_name(self, verdict: Any) -> str:
        return str(getattr(verdict, "name", verdict)).lower()

    def ingest_items(self, engine: EngineLike, items: Sequence[LogItem]) -> list[str]:
        """Column-wise bulk ingest where the engine has it (no event objects built)."""
        bulk = getattr(engine, "ingest_columns", None)
        if bulk is None:
            return [self.verdict_name(engine.ingest(self.from_item(item))) for item in items]
        from oms_bridge.core.engine import VERDICTS  # noqa: PLC0415 - the engine is heavy

        names = [v.value for v in VERDICTS]
        kinds = [_KIND_CODES.get(item[2], -1) for item in items]
        codes = bulk([item[0] for item in items], [item[1] for item in items], kinds,
                     [item[3] for item in items])
        return [names[c] for c in codes.tolist()]

    def coverage(self, topology: Topology) -> list[dict[str, Any]]:
        return coverage.coverage(topology, self._settings.coverage)
