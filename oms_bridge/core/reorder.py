"""Event-time ordering: a watermark, a reorder buffer and timers.

The result of the engine depends only on the sequence of events in arrival
order, never on how it was batched or on wall time. The rule:

- on each arriving event the watermark becomes ``max(occurred_at seen) -
  lateness_s`` (it never goes back);
- buffered events with ``occurred_at <= watermark`` are released in
  ``(occurred_at, event_id)`` order, interleaved with due timers in time order
  (an event at time ``t`` is applied before a timer due at ``t``);
- an event already older than the watermark is released at once, as late
  evidence with its own timestamp;
- then every timer due at or before the watermark fires.

:meth:`Sequencer.tick` moves the watermark as an evidence-free event would, and
:meth:`Sequencer.flush` releases everything and fires every timer in time
order (end of input).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

__all__ = ["Sequencer"]

#: ``(occurred_at, event_id, sp, kind_code)`` as buffered.
Item = tuple[float, str, int, int]
#: ``(due, seq, callback, token)``: callback(due, token).
Timer = tuple[float, int, Callable[[float, object], None], object]


class Sequencer:
    """Releases buffered events and timers to ``on_event`` / timer callbacks."""

    __slots__ = ("_heap", "_max_seen", "_on_event", "_timer_seq", "_timers", "clock",
                 "lateness_s")

    def __init__(self, lateness_s: float, on_event: Callable[[float, str, int, int], None]):
        self.lateness_s = max(0.0, float(lateness_s))
        self._on_event = on_event
        self._heap: list[Item] = []
        self._timers: list[Timer] = []
        self._timer_seq = 0
        self._max_seen = float("-inf")
        #: the watermark: event time up to which everything has been applied
        self.clock = float("-inf")

    @property
    def buffered(self) -> int:
        return len(self._heap)

    def schedule(self, due: float, callback: Callable[[float, object], None],
                 token: object = None) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (due, self._timer_seq, callback, token))

    def push(self, occurred_at: float, event_id: str, sp: int, kind: int) -> None:
        if occurred_at > self._max_seen:
            self._max_seen = occurred_at
            wm = occurred_at - self.lateness_s
            if wm > self.clock:
                heapq.heappush(self._heap, (occurred_at, event_id, sp, kind))
                self._advance(wm)
                return
        if occurred_at <= self.clock:
            self._fire_before(occurred_at)
            self._on_event(occurred_at, event_id, sp, kind)
            self._fire_before(self.clock, inclusive=True)  # timers it made overdue
            return
        heapq.heappush(self._heap, (occurred_at, event_id, sp, kind))

    def tick(self, event_time: float) -> None:
        self._max_seen = max(self._max_seen, event_time)
        wm = self._max_seen - self.lateness_s
        if wm > self.clock:
            self._advance(wm)

    def flush(self) -> None:
        heap, timers = self._heap, self._timers
        while heap or timers:
            if timers and (not heap or timers[0][0] < heap[0][0]):
                due, _, callback, token = heapq.heappop(timers)
                self.clock = max(self.clock, due)
                callback(due, token)
            else:
                t, eid, sp, kind = heapq.heappop(heap)
                self.clock = max(self.clock, t)
                self._on_event(t, eid, sp, kind)

    def _fire_before(self, t: float, *, inclusive: bool = False) -> None:
        timers = self._timers
        while timers and (timers[0][0] < t or (inclusive and timers[0][0] == t)):
            due, _, callback, token = heapq.heappop(timers)
            callback(due, token)

    def _advance(self, wm: float) -> None:
        heap, timers, on_event = self._heap, self._timers, self._on_event
        self.clock = wm
        while heap and heap[0][0] <= wm:
            t, eid, sp, kind = heapq.heappop(heap)
            while timers and timers[0][0] < t:
                due, _, callback, token = heapq.heappop(timers)
                callback(due, token)
            on_event(t, eid, sp, kind)
        while timers and timers[0][0] <= wm:
            due, _, callback, token = heapq.heappop(timers)
            callback(due, token)
