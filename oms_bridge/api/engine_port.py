"""The one place where the service touches the inference core's names.

The runtime talks to an :class:`EnginePort`: how to build an engine on a
topology, how to validate an event, how to turn an event into a log row and
back. :class:`CorePort` wires the real ``oms_bridge.core`` modules; tests may
pass a small stand-in instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from oms_bridge.core import bulk, coverage, events
from oms_bridge.core.topology import Topology
from oms_bridge.errors import EventError
from oms_bridge.settings import Settings

__all__ = ["CorePort", "EngineLike", "EnginePort", "LogItem", "Parsed"]

#: ``(event_id, meter_id, kind, occurred_at)``: a log row without its seq.
LogItem = tuple[str | None, str | None, str, float | None]
#: ``Engine.ingest_columns`` kind codes.
_KIND_CODES = {events.EventKind.LAST_GASP.value: 0, events.EventKind.POWER_RESTORED.value: 1}
#: A validated event as its log item, or the reason it was refused.
Parsed = LogItem | EventError


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

    def parse_items(self, objs: Sequence[Any]) -> list[Parsed]:
        """``to_item(parse(obj))`` of each object, or the :class:`EventError` it raised."""

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
        #: exact type strings -> event kind value (what ``codes.lookup`` finds first)
        self._kinds = {k: v.value for k, v in self._codes.mapping().items()}

    def make_engine(self, topology: Topology) -> EngineLike:
        from oms_bridge.core.engine import Engine  # noqa: PLC0415 - the engine is heavy

        engine: EngineLike = Engine(topology, self._settings.engine, self._settings.coverage)
        return engine

    def parse(self, obj: Any) -> Any:
        return events.parse_event(obj, self._codes)

    def to_item(self, event: Any) -> LogItem:
        return (event.event_id, event.meter_id, event.kind.value, float(event.occurred_at))

    def parse_items(self, objs: Sequence[Any]) -> list[Parsed]:
        """Validate a chunk at once: exactly ``to_item(parse(obj))`` or its error, per object.

        Objects in the canonical shape (a dict of string ids, an exact type
        code, a ``YYYY-MM-DDTHH:MM:SS.fffZ`` time) are checked column-wise and
        their times converted by :func:`oms_bridge.core.bulk.canonical_stamps`
        (the same float as ``parse_timestamp``); every other object goes
        through :meth:`parse` itself, so what is accepted, the values and the
        error of each refused object are those of the per-event path.
        """
        n = len(objs)
        if n == 0:
            return []
        is_dict = [type(o) is dict for o in objs]
        rows: list[Any] = [o if d else {} for o, d in zip(objs, is_dict, strict=True)]
        get = dict.get
        eids: list[Any] = list(map(get, rows, repeat("event_id")))
        mids: list[Any] = list(map(get, rows, repeat("meter_id")))
        types: list[Any] = list(map(get, rows, repeat("type")))
        stamps: list[Any] = list(map(get, rows, repeat("occurred_at")))
        ok = np.array(is_dict, dtype=np.bool_) & _plain_ids(eids) & _plain_ids(mids)
        table = self._kinds
        try:
            kinds = list(map(table.get, types, repeat("")))
        except TypeError:  # an unhashable "type" (list, object)
            kinds = [table.get(t, "") if type(t) is str else "" for t in types]
        ok &= np.fromiter(map(bool, kinds), dtype=np.bool_, count=n)
        if set(map(type, stamps)) != {str}:
            stamps = [s if type(s) is str else "" for s in stamps]
        s_ok, seconds = bulk.canonical_stamps(stamps)
        ok &= s_ok
        secs: list[float] = seconds.tolist()
        out: list[Parsed] = list(zip(eids, mids, kinds, secs, strict=True))
        if not ok.all():
            for i in np.flatnonzero(~ok).tolist():
                try:
                    out[i] = self.to_item(self.parse(objs[i]))
                except EventError as exc:
                    out[i] = _detached(exc)
        return out

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


def _detached(exc: EventError) -> EventError:
    """The error without its tracebacks, as kept in a result.

    A traceback holds the frames it passed through, and from this one the
    frame of :meth:`CorePort.parse_items`, whose ``out`` holds the error: a
    reference cycle that keeps the whole chunk (decoded objects, and through
    the caller's frame the request body) alive until a full collection. The
    runtime freezes the heap after each applied group, so such a chunk stayed
    pinned for the rest of a storm: in a 20,000/s run, ~100 chunks at a time.
    Only ``field`` and ``reason`` are used downstream.
    """
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__traceback__ = None
        link = link.__cause__ or link.__context__
    return exc


def _plain_ids(ids: list[Any]) -> NDArray[np.bool_]:
    """Rows whose id certainly passes ``events._ident`` (the others: the exact path)."""
    n = len(ids)
    if set(map(type, ids)) == {str}:
        strs: list[str] = ids
        ok = np.ones(n, dtype=np.bool_)
    else:
        ok = np.fromiter((type(x) is str for x in ids), dtype=np.bool_, count=n)
        strs = [x if type(x) is str else "" for x in ids]
    lens = np.fromiter(map(len, strs), dtype=np.int64, count=n)
    ok &= (lens >= 1) & (lens <= events.MAX_ID_CHARS)
    joined = "".join(strs)
    if "\x00" in joined:
        ok &= np.fromiter(("\x00" not in x for x in strs), dtype=np.bool_, count=n)
    parts = joined.split(maxsplit=1)
    if len(parts) != 1 or len(parts[0]) != len(joined):  # whitespace somewhere
        ok &= ~np.fromiter(map(str.isspace, strs), dtype=np.bool_, count=n)
    return ok
