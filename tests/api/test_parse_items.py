"""Bulk validation of a batch gives exactly the per-event verdicts, values and reasons."""

from __future__ import annotations

import gc
import random
import weakref
from typing import Any

from oms_bridge.api.engine_port import CorePort
from oms_bridge.errors import EventError
from oms_bridge.settings import Settings

BASE = {"event_id": "e1", "meter_id": "m1", "type": "last_gasp",
        "occurred_at": "2026-11-26T07:00:03.120Z"}
VALUES: list[Any] = [
    None, 1, 1.5, True, "", " ", "\t", "a\x00b", "x" * 256, "x" * 257, [], {}, "last_gasp",
    "LAST_GASP", " last_gasp", "power_restored", "3.26.0.85", "nonsense",
    "2026-11-26T07:00:03.120Z", "2026-11-26T07:00:03Z", "2026-11-26T07:00:03.120+00:00",
    "2026-11-26T07:00:03.120+05:30", "2026-02-29T07:00:03.120Z", "2024-02-29T07:00:03.120Z",
    "1989-12-31T23:59:59.999Z", "1990-01-01T00:00:00.000Z", "2099-12-31T23:59:59.999Z",
    "2100-01-01T00:00:00.000Z", "2026-11-26 07:00:03.120Z", "2026-11-26T07:00:03.120",
    "2026-11-26T24:00:00.000Z", "\uff12026-11-26T07:00:03.120Z", "2026-11-26T07:00:60.000Z",
    "2026-11-26T07:00:03.1200", "2026-11-26x07:00:03.120Z", "\u00e9", "m 1",
]


def _one(port: CorePort, obj: Any) -> Any:
    try:
        return port.to_item(port.parse(obj))
    except EventError as exc:
        return exc


def test_parse_items_equals_parse_one_by_one() -> None:
    port, rng = CorePort(Settings()), random.Random(7)
    objs: list[Any] = []
    for _ in range(5000):
        obj: dict[str, Any] = dict(BASE)
        for key in list(obj):
            if rng.random() < 0.15:
                obj[key] = rng.choice(VALUES)
            if rng.random() < 0.03:
                del obj[key]
        objs.append(obj if rng.random() > 0.02 else rng.choice([None, "x", 1, [obj]]))
    objs.append(dict(BASE))
    got = port.parse_items(objs)
    assert len(got) == len(objs)
    for obj, item in zip(objs, got, strict=True):
        want = _one(port, obj)
        if isinstance(want, EventError):
            assert isinstance(item, EventError), obj
            assert (item.field, item.reason) == (want.field, want.reason)
        else:
            assert item == want, obj
            assert not isinstance(item, EventError)
            assert [type(v) for v in item] == [type(v) for v in want]
    assert port.parse_items([]) == []


def test_refused_events_do_not_keep_their_chunk_alive() -> None:
    """A refused event's error holds no traceback, so no reference cycle keeps
    the decoded chunk alive until a full collection (the runtime freezes the
    heap after each group, which pinned such chunks for a whole storm)."""
    class Obj(dict[str, Any]):
        """A dict that can be weakly referenced."""

    port = CorePort(Settings())
    objs: list[Any] = [Obj(BASE, occurred_at="not a time"), Obj(BASE, event_id=" "),
                       Obj(BASE)]
    refs = [weakref.ref(o) for o in objs]
    gc.disable()
    try:
        got = port.parse_items(objs)
        errors = [g for g in got if isinstance(g, EventError)]
        assert len(errors) == 2 and all(e.__traceback__ is None for e in errors)
        del objs, got
        assert [r() for r in refs] == [None, None, None]  # freed by reference counting
        assert {(e.field, bool(e.reason)) for e in errors} == {("occurred_at", True),
                                                               ("event_id", True)}
    finally:
        gc.enable()
