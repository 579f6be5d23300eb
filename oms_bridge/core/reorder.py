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

:meth:`Sequencer.push_many` takes a whole chunk of events (columns) and
performs exactly the sequence of applications, timer firings and clock values
that pushing them one by one would, without a heap operation per event: the
watermark after each arrival is a running maximum, an event is released at the
first arrival whose watermark reaches it, and the releases are ordered by
``(arrival step, occurred_at, event_id)``: as that step grows with the time,
with one stable sort by time, late events merged in at their own steps (a
lexsort where that does not hold). Events buffered by
:meth:`push_many` wait in arrays; :meth:`push`, :meth:`tick` and
:meth:`flush` move them back to the heap first, so both paths mix freely.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["BlockHandler", "Buffered", "Release", "Sequencer"]

#: ``(occurred_at, event_id, sp, kind_code)`` as buffered.
Item = tuple[float, str, int, int]
#: ``(due, seq, callback, token)``: callback(due, token). ``seq`` orders timers
#: due at the same time by when they were scheduled: a counter, or in a keyed
#: sequencer (:meth:`Sequencer.keyed`) the key of what scheduled it
Timer = tuple[float, Any, Callable[[float, object], None], object]
#: what to apply now, in order (indices into the buffer then the new events), the
#: arrival step of each, whether each is late; and what stays buffered
Releases = tuple[NDArray[np.int64], NDArray[np.int64], list[bool], NDArray[np.int64]]
#: ``block(k, step, t, event_id, sp, kind, late, after, timers) -> k2``: see
#: :class:`Sequencer`. ``step`` and ``after`` come as any sequences (memoryviews
#: of the arrays on the bulk path), to be read by index only
BlockHandler = Callable[[int, list[int], list[float], list[str], list[int], list[int],
                         list[bool], list[float], list[Timer]], int]


class Release(NamedTuple):
    """What one bulk push releases, in release order: plain columns, so that
    they can cross to another process (see :meth:`Sequencer.hand_off`)."""

    #: the arrival step (index in ``after``) at which each event is released
    step: NDArray[np.int64]
    t: NDArray[np.float64]
    event_id: list[str]
    sp: NDArray[np.int64]
    kind: NDArray[np.int8]
    late: list[bool]
    #: the clock before the first arrival, and after each arrival
    clock0: float
    after: NDArray[np.float64]


class Buffered(NamedTuple):
    """Events not yet released, the highest time seen and the clock: what a
    sequencer that handed off its releases passes on at the end of input."""

    t: NDArray[np.float64]
    event_id: NDArray[np.object_]
    sp: NDArray[np.int64]
    kind: NDArray[np.int8]
    max_seen: float
    clock: float


class Sequencer:
    """Releases buffered events and timers to ``on_event`` / timer callbacks."""

    __slots__ = ("_act", "_b_eid", "_b_kind", "_b_sp", "_b_t", "_batch", "_by_block",
                 "_by_kind", "_g", "_heap", "_keyed", "_max_seen", "_on_event", "_pk", "_sink",
                 "_timer_seq", "_timers", "at", "clock", "lateness_s")

    def __init__(self, lateness_s: float, on_event: Callable[[float, str, int, int], None],
                 *, by_kind: Sequence[Callable[[float, str, int], None]] | None = None,
                 by_block: BlockHandler | None = None):
        """``by_kind[k](t, event_id, sp)``, when given, must do exactly what
        ``on_event(t, event_id, sp, k)`` does: the bulk path calls it directly.

        ``by_block``, when given (with ``by_kind``), takes over a stretch of
        the bulk path's releases so the handler can keep its own loop (and its
        fast paths) hot: called with the index ``k`` of an event that is not
        late, with every timer due before it fired and the clock set for it,
        it applies events ``k, k+1, ...`` in order exactly as ``by_kind``
        would, setting ``clock`` to ``after[step[i]]`` before anything that may
        read it, and returns the index of the first event it did not apply:
        it must stop at a late event and before an event ``i`` with a timer
        due before ``t[i]`` (``timers[0][0] < t[i]``), and it applies at least
        event ``k``."""
        self.lateness_s = max(0.0, float(lateness_s))
        self._on_event = on_event
        self._by_kind = by_kind
        self._by_block = by_block if by_kind is not None else None
        self._heap: list[Item] = []
        self._timers: list[Timer] = []
        self._timer_seq = 0
        self._max_seen = float("-inf")
        #: the watermark: event time up to which everything has been applied
        self.clock = float("-inf")
        # events buffered by push_many (columns, not a heap)
        self._b_t: NDArray[np.float64] = np.zeros(0, dtype=np.float64)
        #: event ids as an object array: the buffer is re-cut every chunk, and
        #: fancy indexing moves pointers in C where a list needs a comprehension
        self._b_eid: NDArray[np.object_] = np.zeros(0, dtype=object)
        self._b_sp: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._b_kind: NDArray[np.int8] = np.zeros(0, dtype=np.int8)
        #: where releases go instead of being applied (see :meth:`hand_off`)
        self._sink: Callable[[Release], None] | None = None
        # action keys (see :meth:`keyed`): off unless asked for
        self._keyed = False
        #: released events applied (or passed over) before the current release
        self._g = 0
        #: the index, in the current release, of the event being applied (set
        #: before a handler runs: by the bulk loop, and by a block handler)
        self.at = 0
        #: the key of the timer firing now; None while an event is applied
        self._act: tuple[Any, ...] | None = None
        # the batch of timers firing (its position) and its highest (due, seq)
        self._batch: tuple[int, int] = (-1, 0)
        self._pk: tuple[float, Any] = (float("-inf"), ())

    @property
    def buffered(self) -> int:
        return len(self._heap) + int(self._b_eid.shape[0])

    def _spill(self) -> None:
        """Move the column buffer into the heap (before any per-event operation)."""
        if not self._b_eid.shape[0]:
            return
        heap = self._heap
        heap.extend(zip(self._b_t.tolist(), self._b_eid.tolist(), self._b_sp.tolist(),
                        self._b_kind.tolist(), strict=True))
        heapq.heapify(heap)
        self._b_t = self._b_t[:0]
        self._b_eid = self._b_eid[:0]
        self._b_sp = self._b_sp[:0]
        self._b_kind = self._b_kind[:0]

    def schedule(self, due: float, callback: Callable[[float, object], None],
                 token: object = None) -> None:
        self._timer_seq += 1
        if self._keyed:
            heapq.heappush(self._timers, (due, (self.action_key(), self._timer_seq),
                                          callback, token))
            return
        heapq.heappush(self._timers, (due, self._timer_seq, callback, token))

    # ----------------------------------------------------------- action keys
    def keyed(self) -> None:
        """Key every action (applying an event, firing a timer) by its place in
        the whole sequence of releases, so that engines that each apply a part
        of the same releases (oms_bridge.split_replay: one per group of
        feeders, every other event passed over as a no-op) can put what they
        did back in the order one engine would have done it.

        An event's key is ``(g, 2)``, ``g`` its index among all events
        released. Timers fire in batches at fixed places of that sequence:
        ``(g, 0)`` the trailing timers of arrivals before event ``g``, ``(g,
        1)`` those due before it, ``(g, 3)`` those a late event ``g`` made
        overdue, ``(g, -1)`` the trailing timers at the end of a release that
        ends before ``g``; in every engine the same batches, each firing its own
        timers in their own order. Within a batch, one engine fires timers in
        ``(due, seq)`` order, except that a timer scheduled by a callback for
        earlier than the one firing fires next; ``seq`` is the key of the
        action that scheduled it (and a counter), so ``(due, seq)`` compares
        across engines as the one engine's counter would. A timer's key is
        ``(g, phase, (due, seq) or the highest fired before it in its batch,
        n)``: the one engine's firing order is the order of these keys (the
        timers that share the highest come from one engine, in ``n`` order).
        Only for the bulk path and :meth:`flush`: one by one, events have no
        place in the releases."""
        if self._timers or self._heap:
            raise RuntimeError("keyed: this sequencer has already scheduled or held events")
        self._keyed = True

    def action_key(self) -> tuple[Any, ...]:
        """The key of what is being done now (see :meth:`keyed`)."""
        act = self._act
        return act if act is not None else (self._g + self.at, 2)

    def _fire_keyed(self, timer: Timer, g: int, phase: int) -> None:
        due, seq, callback, token = timer
        pk = (due, seq)
        if self._batch != (g, phase):
            self._batch = (g, phase)
        elif self._pk > pk:
            pk = self._pk   # scheduled by a callback for earlier than the one fired
        self._pk = pk
        self._timer_seq += 1
        self._act = (g, phase, pk, self._timer_seq)
        try:
            callback(due, token)
        finally:
            self._act = None

    def push(self, occurred_at: float, event_id: str, sp: int, kind: int) -> None:
        if self._keyed:
            self._not_keyed("push")
        if self._sink is not None:   # (exactly the same, and released as columns)
            self.push_many(np.array([occurred_at], dtype=np.float64), [event_id],
                           np.array([sp], dtype=np.int64), np.array([kind], dtype=np.int8))
            return
        if self._b_eid.shape[0]:
            self._spill()
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
        self._not_handed_off("tick")
        if self._keyed:
            self._not_keyed("tick")
        self._spill()
        self._max_seen = max(self._max_seen, event_time)
        wm = self._max_seen - self.lateness_s
        if wm > self.clock:
            self._advance(wm)

    def flush(self) -> None:
        self._not_handed_off("flush")
        self._spill()
        heap, timers, keyed = self._heap, self._timers, self._keyed
        self.at = 0
        while heap or timers:
            if timers and (not heap or timers[0][0] < heap[0][0]):
                timer = heapq.heappop(timers)
                due = timer[0]
                self.clock = max(self.clock, due)
                if keyed:   # (before event g: the place of timers due before it)
                    self._fire_keyed(timer, self._g, 1)
                else:
                    timer[2](due, timer[3])
            else:
                t, eid, sp, kind = heapq.heappop(heap)
                self.clock = max(self.clock, t)
                self._on_event(t, eid, sp, kind)
                self._g += 1

    def _fire_before(self, t: float, *, inclusive: bool = False, g: int = 0,
                     phase: int = 1) -> None:
        """Timers due before ``t`` (at ``t`` too if ``inclusive``); ``g`` and
        ``phase``: where in the releases, for a keyed sequencer."""
        timers = self._timers
        if self._keyed:
            while timers and (timers[0][0] < t or (inclusive and timers[0][0] == t)):
                self._fire_keyed(heapq.heappop(timers), g, phase)
            return
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

    # ------------------------------------------------------------------ bulk
    def push_many(self, occurred_at: NDArray[np.float64], event_ids: Sequence[str],
                  sps: NDArray[np.int64], kinds: NDArray[np.int8]) -> None:
        """Exactly ``push`` of each event in turn (arrival order), in bulk."""
        n = int(occurred_at.shape[0])
        if n == 0:
            return
        if self._heap:
            self._unheap()
        t_new = occurred_at.astype(np.float64, copy=False)
        clock0 = self.clock
        run_max = np.maximum.accumulate(t_new)
        np.maximum(run_max, self._max_seen, out=run_max)
        after = np.maximum(run_max - self.lateness_s, clock0)   # clock after each arrival
        # late: at or before the clock on arrival (after[i - 1], clock0 for the first)
        late_at = np.flatnonzero(t_new[1:] <= after[:-1]) + 1
        if t_new[0] <= clock0:
            late_at = np.concatenate((np.zeros(1, dtype=np.int64), late_at))
        if type(event_ids) is list:
            # (a list's items as they are, without the shape discovery of a
            # slice assignment: half the instructions)
            new_eids = np.fromiter(event_ids, dtype=object, count=n)
        else:
            new_eids = np.empty(n, dtype=object)
            new_eids[:] = event_ids
        # the buffer, then every new event ("u" order): time, id, service point, kind
        n_old = int(self._b_t.shape[0])
        t_u = np.concatenate((self._b_t, t_new))
        eid_u = np.concatenate((self._b_eid, new_eids))
        sp_u = np.concatenate((self._b_sp, sps.astype(np.int64, copy=False)))
        kind_u = np.concatenate((self._b_kind, kinds.astype(np.int8, copy=False)))
        late_u = late_at + n_old
        if late_at.size:
            buffered: NDArray[np.int64] = np.delete(np.arange(t_u.shape[0]), late_u)
            t_buf = t_u[buffered]
        else:
            buffered = np.arange(t_u.shape[0])
            t_buf = t_u
        self._max_seen = float(run_max[-1])
        order = None if np.isnan(t_buf).any() else self._by_time(t_buf, buffered, eid_u, after,
                                                                  late_at, late_u, t_new)
        if order is None:
            order = self._by_lexsort(t_u, eid_u, buffered, after, late_at, late_u)
        apply_u, step, late, keep = order
        self._b_t = t_u[keep]
        self._b_eid = eid_u[keep]
        self._b_sp = sp_u[keep]
        self._b_kind = kind_u[keep]
        release = Release(step, t_u[apply_u], eid_u[apply_u].tolist(), sp_u[apply_u],
                          kind_u[apply_u], late, clock0, after)
        if self._sink is None:
            self.apply_release(release)
        else:
            self.clock = float(after[-1])   # where apply_release leaves it
            self._sink(release)

    # ------------------------------------------------------------- hand-off
    def hand_off(self, sink: Callable[[Release], None]) -> None:
        """From now on, pass each bulk push's releases to ``sink`` instead of
        applying them: the watermark and the release order are worked out
        here, the events are applied by another sequencer's
        :meth:`apply_release`, in another process if need be (the order
        depends on the events alone, never on what applying them does).

        A sequencer that hands off has no timers and cannot :meth:`tick` or
        :meth:`flush`: at the end of input, :meth:`buffered_state` goes to the
        one that applies, which flushes."""
        if self._timers or self._heap:
            raise RuntimeError("hand_off: this sequencer has already applied or held events "
                               "one by one")
        self._sink = sink

    def apply_release(self, release: Release) -> None:
        """Apply what a bulk push released (here, or by a sequencer that hands
        off): the events in order, timers fired between them, the clock
        moved as pushing them here would."""
        # the arrival steps and clocks read through memoryviews rather than as
        # lists: only the events where a handler or a timer runs read them (a
        # few in a hundred), and a list makes an object for each of them (1.2 %
        # of a replay's instructions)
        self._apply_many(_view(release.step), release.t.tolist(), release.event_id,
                         release.sp.tolist(), release.kind.tolist(), release.late,
                         release.clock0, _view(release.after))

    def buffered_state(self) -> Buffered:
        """The events still held, with the highest time seen and the clock."""
        if self._heap:
            self._unheap()
        return Buffered(self._b_t, self._b_eid, self._b_sp, self._b_kind, self._max_seen,
                        self.clock)

    def take_buffered(self, state: Buffered) -> None:
        """Hold the events of :meth:`buffered_state` (of a sequencer that handed
        off its releases to this one) as if they had been pushed here."""
        if self._heap:
            self._unheap()
        self._b_t = np.concatenate((self._b_t, state.t))
        self._b_eid = np.concatenate((self._b_eid, state.event_id))
        self._b_sp = np.concatenate((self._b_sp, state.sp))
        self._b_kind = np.concatenate((self._b_kind, state.kind))
        self._max_seen = max(self._max_seen, state.max_seen)
        self.clock = max(self.clock, state.clock)

    @staticmethod
    def _not_keyed(what: str) -> None:
        raise RuntimeError(f"{what}: a keyed sequencer takes releases (apply_release) "
                           "and flush only")

    def _not_handed_off(self, what: str) -> None:
        if self._sink is not None:
            raise RuntimeError(f"{what}: this sequencer hands its releases off; the one "
                               "that applies them does this")

    @classmethod
    def _by_time(cls, t_buf: NDArray[np.float64], buffered: NDArray[np.int64],  # noqa: PLR0917
                 eid_u: NDArray[np.object_], after: NDArray[np.float64],
                 late_at: NDArray[np.int64], late_u: NDArray[np.int64],
                 t_new: NDArray[np.float64]) -> Releases | None:
        """The release order of :meth:`_by_lexsort` (its result exactly) with one
        stable sort by time; ``None`` where that does not hold (then use it).

        A buffered event is released at the first arrival whose clock reaches
        it: that step only grows with its time, so ordering by time orders by
        (step, time), ties of time are ties of both. A late event is applied
        at its own arrival, before the events released there (their times are
        above the clock before it, its own is not): it goes just before the
        first buffered event of its step or a later one. Checked, not assumed.
        """
        by_t = np.argsort(t_buf, kind="stable")
        u = buffered[by_t]           # buffered events by time ("u" indices)
        t_s = t_buf[by_t]
        n_go = int(np.searchsorted(t_s, after[-1], side="right"))   # released now
        step_go = np.searchsorted(after, t_s[:n_go], side="left")
        go = u[:n_go]
        if n_go > 1:
            eq = t_s[1:n_go] == t_s[:n_go - 1]
            if eq.any():
                cls._ties_by_id(go, eq, eid_u)
        n_late = int(late_at.shape[0])
        if not n_late:
            return go, step_go, [False] * n_go, u[n_go:]
        at = np.searchsorted(step_go, late_at, side="left")
        # the buffered event just after each late one: of a later step, or of
        # its step and a later time (else the lexsort order differs: fall back)
        nxt = np.minimum(at, max(n_go - 1, 0))
        if n_go and bool(((at < n_go) & (step_go[nxt] == late_at)
                          & (t_s[nxt] <= t_new[late_at])).any()):
            return None
        m = n_go + n_late
        pos = at + np.arange(n_late)
        is_late = np.zeros(m, dtype=np.bool_)
        is_late[pos] = True
        apply_u = np.empty(m, dtype=np.int64)
        step = np.empty(m, dtype=np.int64)
        apply_u[pos] = late_u
        rest = ~is_late
        apply_u[rest] = go
        step[pos] = late_at
        step[rest] = step_go
        return apply_u, step, is_late.tolist(), u[n_go:]

    @staticmethod
    def _ties_by_id(go: NDArray[np.int64], eq: NDArray[np.bool_],
                    eid_u: NDArray[np.object_]) -> None:
        """Within runs of equal time (``eq[i]``: ``go[i]`` and ``go[i + 1]``), order by
        event id, keeping the order of equal ids (in place)."""
        pad = np.zeros(eq.shape[0] + 2, dtype=np.bool_)
        pad[1:-1] = eq
        pair = eq & ~pad[:-2] & ~pad[2:]   # runs of exactly two
        p = np.flatnonzero(pair)
        a, b = go[p], go[p + 1]
        swap = np.asarray(eid_u[b] < eid_u[a], dtype=np.bool_)
        if swap.any():
            p = p[swap]
            go[p] = b[swap]
            go[p + 1] = a[swap]
        longer = eq & ~pair
        if longer.any():   # runs of three or more (few): each sorted on its own
            member = np.zeros(go.shape[0], dtype=np.bool_)
            member[:-1] = longer
            member[1:] |= longer
            at = np.flatnonzero(member)
            # where each run starts among the members: not tied to the one before
            first = np.flatnonzero(~longer[at[1:] - 1]) + 1
            bounds = [0, *first.tolist(), at.shape[0]]
            sub = go[at].tolist()
            key = eid_u.__getitem__
            for lo, hi in pairwise(bounds):
                sub[lo:hi] = sorted(sub[lo:hi], key=key)
            go[at] = sub

    def _by_lexsort(self, t_u: NDArray[np.float64], eid_u: NDArray[np.object_],  # noqa: PLR0917
                    buffered: NDArray[np.int64], after: NDArray[np.float64],
                    late_at: NDArray[np.int64], late_u: NDArray[np.int64]) -> Releases:
        """Releases (buffered events whose step comes, then late events) ordered
        by (arrival step, occurred_at, event_id), with one sort; what stays."""
        n = after.shape[0]
        step_all = np.searchsorted(after, t_u[buffered], side="left")
        go = step_all < n
        go_idx = np.flatnonzero(go)
        a_step = np.concatenate((step_all[go_idx], late_at))
        a_u = np.concatenate((buffered[go_idx], late_u))
        a_t = t_u[a_u]
        a_late = np.zeros(a_step.shape[0], dtype=np.bool_)
        a_late[go_idx.shape[0]:] = True
        order = np.lexsort((a_t, a_step))
        s_step, s_t = a_step[order], a_t[order]
        o_list = order.tolist()
        ties = np.flatnonzero((s_step[1:] == s_step[:-1]) & (s_t[1:] == s_t[:-1]))
        if ties.size:
            self._break_ties(o_list, ties.tolist(), eid_u[a_u])
        perm = np.asarray(o_list, dtype=np.int64)
        return a_u[perm], a_step[perm], a_late[perm].tolist(), buffered[~go]

    @staticmethod
    def _break_ties(order: list[int], ties: list[int], eids: NDArray[np.object_]) -> None:
        """Within runs of equal (step, time), order by event id (in place)."""
        k = 0
        while k < len(ties):
            a = ties[k]
            b = a + 1
            while k + 1 < len(ties) and ties[k + 1] == b:
                k += 1
                b += 1
            run = order[a:b + 1]
            run.sort(key=eids.__getitem__)
            order[a:b + 1] = run
            k += 1

    def _unheap(self) -> None:
        """Move the heap into the column buffer (before a bulk push)."""
        heap = self._heap
        self._b_t = np.concatenate((self._b_t, np.array([x[0] for x in heap], dtype=np.float64)))
        eids = np.empty(len(heap), dtype=object)
        eids[:] = [x[1] for x in heap]
        self._b_eid = np.concatenate((self._b_eid, eids))
        self._b_sp = np.concatenate((self._b_sp, np.array([x[2] for x in heap], dtype=np.int64)))
        self._b_kind = np.concatenate((self._b_kind,
                                       np.array([x[3] for x in heap], dtype=np.int8)))
        heap.clear()

    def _apply_many(  # noqa: PLR0917 - one column each, private
            self, step: Sequence[int], t: list[float], eid: list[str], sp: list[int],
            kind: list[int], late: list[bool], clock0: float,
            after: Sequence[float]) -> None:
        """Apply events already in release order (columns), firing timers between.

        Stretches of events that are not late go to ``by_block``; without one,
        each is its own stretch (the same applications and clock values). The
        clock before arrival ``s`` is ``after[s - 1]`` (``clock0`` before the first)."""
        handlers: Sequence[Callable[[float, str, int], None]] | dict[
            int, Callable[[float, str, int], None]]
        if self._by_kind is not None:
            handlers = self._by_kind
        else:
            handlers = {k: _bind(self._on_event, k) for k in set(kind)}
        block = self._by_block
        if block is None:
            def block(k: int, step: list[int], t: list[float], eid: list[str],  # noqa: PLR0917
                      sp: list[int], kind: list[int], late: list[bool], after: list[float],
                      timers: list[Timer]) -> int:
                handlers[kind[k]](t[k], eid[k], sp[k])
                return k + 1
        timers = self._timers
        g = self._g   # (the places of the batches of timers, for a keyed sequencer)
        cur = -1
        lo = 0
        k = 0
        n = len(step)
        while k < n:
            s, ti, is_late = step[k], t[k], late[k]
            if s != cur:
                # trailing timers of the arrivals in between (each at its own clock)
                prev = after[s - 1] if s else clock0   # the clock before arrival s
                self._fire_trailing(prev, after, lo, g + k, 0)
                cur = lo = s
                self.clock = prev if is_late else after[s]
            if timers and timers[0][0] < ti:
                self._fire_before(ti, g=g + k)
            if not is_late:
                # (sequences typed as lists: see BlockHandler)
                k = block(k, step, t, eid, sp, kind, late, after, timers)  # type: ignore[arg-type]
                s = step[k - 1]
                if s != cur:
                    cur = lo = s
                self.clock = after[s]
                continue
            self.at = k
            handlers[kind[k]](ti, eid[k], sp[k])
            # timers it made overdue
            self._fire_before(after[s - 1] if s else clock0, inclusive=True, g=g + k, phase=3)
            k += 1
        self._fire_trailing(after[-1], after, lo, g + n, -1)
        self.clock = after[-1]
        self._g = g + n

    def _fire_trailing(self, limit: float, after: Sequence[float], lo: int,
                       g: int = 0, phase: int = 0) -> None:
        """Fire timers due by ``limit``, each with the clock of the first arrival
        (from step ``lo``) whose watermark reached it (``g``, ``phase``: see
        :meth:`_fire_before`)."""
        timers = self._timers
        keyed = self._keyed
        while timers and timers[0][0] <= limit:
            due = timers[0][0]
            self.clock = after[max(lo, bisect_left(after, due))]
            timer = heapq.heappop(timers)
            if keyed:
                self._fire_keyed(timer, g, phase)
            else:
                timer[2](due, timer[3])


def _view(a: NDArray[Any]) -> memoryview:
    """Items by index without a list of them (a copy where not contiguous)."""
    return a.data if a.flags.c_contiguous else np.ascontiguousarray(a).data


def _bind(on_event: Callable[[float, str, int, int], None],
          kind: int) -> Callable[[float, str, int], None]:
    def call(t: float, event_id: str, sp: int) -> None:
        on_event(t, event_id, sp, kind)
    return call
