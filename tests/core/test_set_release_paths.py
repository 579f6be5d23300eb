"""A bulk push applies its releases through :meth:`Sequencer.apply_release`,
here or, handed off, in another sequencer (the split replay's path), with the
arrival steps and clocks read through memoryviews: both must make the same
applications, timer firings and clock readings as pushing the events one by
one, a block handler included."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_bridge.core.reorder import Sequencer


def _record(arrivals: list[tuple[float, int, int]], *, bulk: int,
            split: bool = False) -> list[tuple[object, ...]]:
    """Applications (inline by the block handler or by a handler) and timer
    firings, each with the clock; pushed ``bulk`` at a time (0: one by one),
    through a sequencer that hands its releases to another (``split``)."""
    log: list[tuple[object, ...]] = []
    seq: Sequencer

    def fired(due: float, token: object) -> None:
        log.append(("timer", due, token, seq.clock))

    def on_event(t: float, eid: str, sp: int, kind: int) -> None:
        log.append(("event", t, eid, sp, kind, seq.clock))
        if sp % 3:
            seq.schedule(t + (sp % 5) * 7.0 - 10.0, fired, eid)

    def by_kind(kind: int) -> Any:
        return lambda t, eid, sp: on_event(t, eid, sp, kind)

    def block(k: int, step: list[int], t: list[float], eid: list[str], sp: list[int],  # noqa: PLR0917
              kind: list[int], late: list[bool], after: list[float], timers: list[Any]) -> int:
        # events of meters divisible by 3 schedule nothing: applied here, the
        # others by a handler, the clock set from ``after[step[i]]`` first
        for i in range(k, len(t)):
            if late[i] or (timers and timers[0][0] < t[i]) or (i > k and sp[i] % 3):
                return i
            seq.clock = after[step[i]]
            on_event(t[i], eid[i], sp[i], kind[i])
        return len(t)

    seq = Sequencer(30.0, on_event, by_kind=(by_kind(0), by_kind(1)), by_block=block)
    front = Sequencer(30.0, on_event)
    if split:
        front.hand_off(seq.apply_release)
    into = front if split else seq
    for a in range(0, len(arrivals), bulk or 1):
        part = arrivals[a:a + (bulk or 1)]
        if bulk:
            into.push_many(np.array([x[0] for x in part], dtype=np.float64),
                           [f"E{a + i:04d}" for i in range(len(part))],
                           np.array([x[1] for x in part], dtype=np.int64),
                           np.array([x[2] for x in part], dtype=np.int8))
        else:
            seq.push(part[0][0], f"E{a:04d}", part[0][1], part[0][2])
    if split:
        seq.take_buffered(front.buffered_state())
    seq.flush()
    return log


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 5.0, 20.0, 31.0, 60.0, 200.0, 500.0]),
                          st.floats(0, 40), st.integers(0, 9), st.integers(0, 1)),
                max_size=80),
       st.integers(1, 30))
def test_bulk_applies_as_apply_release_and_as_one_by_one(
        raw: list[tuple[float, float, int, int]], chunk: int) -> None:
    arrivals = [(base + jitter, sp, kind) for base, jitter, sp, kind in raw]
    alone = _record(arrivals, bulk=chunk)
    assert alone == _record(arrivals, bulk=chunk, split=True)
    assert alone == _record(arrivals, bulk=0)



@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 300), st.integers(0, 9), st.integers(0, 1)),
                min_size=1, max_size=40))
def test_event_ids_in_a_list_or_any_sequence(arrivals: list[tuple[float, int, int]]) -> None:
    logs = []
    for as_list in (True, False):
        got: list[tuple[float, str]] = []
        seq = Sequencer(30.0, lambda t, eid, sp, kind, got=got: got.append((t, eid)))
        ids = [f"E{i:03d}" for i in range(len(arrivals))]
        seq.push_many(np.array([a[0] for a in arrivals]), ids if as_list else tuple(ids),
                      np.array([a[1] for a in arrivals]),
                      np.array([a[2] for a in arrivals], dtype=np.int8))
        seq.flush()
        logs.append(got)
    assert logs[0] == logs[1]
    assert sorted(e for _, e in logs[0]) == [f"E{i:03d}" for i in range(len(arrivals))]
