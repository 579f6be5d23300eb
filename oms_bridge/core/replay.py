"""Contract section 6: a whole events file through one engine, no server.

The replay reads in chunks and goes through the engine's bulk path, so a
stream of millions of lines runs in bounded memory; the result never depends
on the chunk size (tests/core/test_chunked.py).
"""

from __future__ import annotations

import contextlib
import gc
import io
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import orjson

from oms_bridge.core.bulk import kind_table, normalise
from oms_bridge.core.decode import decode_columns
from oms_bridge.core.engine import Engine, result_of
from oms_bridge.core.events import EventCodes
from oms_bridge.core.inference import InferenceTuning
from oms_bridge.core.topology import Topology
from oms_bridge.settings import CoverageSettings, EngineSettings

__all__ = ["CHUNK", "collector_paused", "feed", "replay"]

#: events per bulk step (the result never depends on it)
CHUNK = 4096

def replay(topology: Topology, events: Iterable[object],
           settings: EngineSettings | None = None,
           coverage: CoverageSettings | None = None,
           tuning: InferenceTuning | None = None, *, chunk_size: int = CHUNK) -> dict[str, Any]:
    """Contract section 6: events in arrival order -> the result.

    ``events`` may yield JSON lines (``bytes`` or ``str``, as read from a JSONL
    file; blank lines are skipped), decoded objects, or :class:`MeterEvent`.
    Lines that are not JSON and objects that are not valid events count as
    ``invalid``. They are taken ``chunk_size`` at a time through the bulk path
    (:func:`~oms_bridge.core.decode.decode_columns` for lines, then
    :meth:`Engine.ingest_columns`); the result never depends on ``chunk_size``.
    """
    settings = settings or EngineSettings()
    engine = Engine(topology, settings, coverage, tuning)
    with collector_paused():
        return _replay_into(engine, events, EventCodes.from_settings(settings),
                            max(1, int(chunk_size)))


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off for a replay, back as it was afterwards.

    A replay makes millions of small long-lived objects that the collector
    would rescan over and over for nothing. What the engine leaves behind is
    one reference cycle (its sequencer holds its bound methods): the first
    collection after this walks all of it, at the caller's next allocation.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _replay_into(engine: Engine, events: Iterable[object], codes: EventCodes,
                 chunk_size: int) -> dict[str, Any]:
    feed(engine, events, codes, chunk_size)
    engine.flush()
    return result_of(engine)


def feed(engine: Engine, events: Iterable[object], codes: EventCodes,
         chunk_size: int = CHUNK) -> None:
    """Every event of ``events`` into ``engine`` through the bulk path, as
    :func:`replay` takes them (no flush: the end of input is the caller's)."""
    table = kind_table(codes)
    lines = {bytes, str}
    # a file yields lines only (bytes, or str in text mode)
    from_file = isinstance(events, io.IOBase)
    it = iter(events)
    while batch := list(islice(it, chunk_size)):
        if from_file or set(map(type, batch)) <= lines:
            # the common case, a file's lines: decoded and validated together
            cols = decode_columns(batch, codes, table)  # type: ignore[arg-type]  # all lines
        else:
            items = _decode_items(batch)
            if not items:
                continue
            cols = normalise(items, codes, table)
        # what Engine.ingest_objects does with the columns of normalise
        engine.count_invalid(cols.invalid)
        engine.ingest_columns(cols.event_ids, cols.meter_ids, cols.kinds, cols.occurred_at)


def _decode_items(items: list[object]) -> list[object]:
    """Lines decoded (``None`` if not JSON, blank ones skipped), objects as they are."""
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    out: list[object] = []
    append = out.append
    for item in items:
        if isinstance(item, bytes | str):
            try:
                append(loads(item))
            except decode_error:
                if item and not item.isspace():
                    append(None)
        else:
            append(item)
    return out

