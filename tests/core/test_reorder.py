"""The sequencer's bulk path releases events and fires timers exactly as one-by-one pushes do."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_bridge.core.reorder import Sequencer

Arrival = tuple[float, int, int]   # (time, meter, kind)


def record(arrivals: list[tuple[float, str, int, int]], *,
           bulk: int) -> list[tuple[object, ...]]:
    """What happened, in order: applications and timer firings, each with the clock.
    Every event schedules a timer a little after itself, some already overdue.
    ``arrivals``: (time, event id, service point, kind); ``bulk``: pushed that
    many at a time with ``push_many`` (0: one by one with ``push``)."""
    log: list[tuple[object, ...]] = []
    seq: Sequencer

    def fired(due: float, token: object) -> None:
        log.append(("timer", due, token, seq.clock))

    def on_event(t: float, eid: str, sp: int, kind: int) -> None:
        log.append(("event", t, eid, sp, kind, seq.clock))
        seq.schedule(t + (sp % 5) * 7.0 - 10.0, fired, eid)

    seq = Sequencer(30.0, on_event)
    if bulk:
        for a in range(0, len(arrivals), bulk):
            part = arrivals[a:a + bulk]
            seq.push_many(np.array([x[0] for x in part], dtype=np.float64),
                          [x[1] for x in part], np.array([x[2] for x in part], dtype=np.int64),
                          np.array([x[3] for x in part], dtype=np.int8))
    else:
        for t, eid, sp, kind in arrivals:
            seq.push(t, eid, sp, kind)
    seq.flush()
    return log


def _record(arrivals: list[Arrival], *, bulk: int) -> list[tuple[object, ...]]:
    """:func:`record`, the events numbered in arrival order."""
    return record([(t, f"E{i:04d}", sp, kind) for i, (t, sp, kind) in enumerate(arrivals)],
                  bulk=bulk)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 5.0, 20.0, 31.0, 60.0, 200.0, 500.0]),
                          st.floats(0, 40), st.integers(0, 9), st.integers(0, 1)),
                max_size=80),
       st.integers(1, 30))
def test_push_many_without_a_block_handler_is_push_one_by_one(
        raw: list[tuple[float, float, int, int]], chunk: int) -> None:
    arrivals = [(base + jitter, sp, kind) for base, jitter, sp, kind in raw]
    assert _record(arrivals, bulk=chunk) == _record(arrivals, bulk=0)
