"""The engine facade: events in, outages, restorations and statistics out.

Pure and deterministic: no I/O, no clock, no asyncio. The result depends only on
the sequence of events in arrival order (see :mod:`oms_bridge.core.reorder`
for the event-time rules, :mod:`oms_bridge.core.inference` for the model and
:mod:`oms_bridge.core.outages` for the lifecycle, restoration and nesting
rules). A restarted service that replays its stored events in their stored
order reaches the same outages, ids and restoration ``seq`` numbers.

Accounting: every ingested event is exactly one of ``accepted``,
``duplicate`` (an ``event_id`` seen before, whatever its content),
``unknown_meter`` (not an AMI meter of the topology) or ``invalid`` (counted
by the caller, who parses, via :meth:`Engine.count_invalid`). Event ids are
kept in a set of strings: exact (no hash collisions), about 100 bytes an event,
for ``dedupe_horizon_s`` of event time: filed in buckets of
``dedupe_horizon_s / 8`` by ``occurred_at``, a bucket is forgotten once the
watermark (as it stood when the next event arrived) is ``dedupe_horizon_s``
past its end. A duplicate of a forgotten id counts as ``accepted`` and is
applied as late evidence, which changes nothing: its meter has said something
at least as new since (the original), so a gasp opens nothing and a restore
is ignored.

Bounded memory. ``evidence_retention_s`` of event time after an outage
closes, :meth:`Outage.compact` drops its evidence (see there: later events
about it are answered as before) and its incident, once all of that
incident's outages closed and its last evidence is that old, is forgotten,
with the feeder's restoration times and unclaimed restores older than that.
Both run on timers (event time, in the sequence of evidence), so the result
never depends on batching; :meth:`Engine.flush` (end of input) defers them.
What stays per outage is its summary (contract fields, feed item, moves).

Late events (older than the watermark) are applied at once as evidence with
their own timestamps: a last gasp older than the meter's latest known event
never opens anything, a restore older than its latest known event is ignored.

Two ways in, one outcome. :meth:`Engine.ingest` takes one validated event;
the bulk path takes a chunk: :meth:`Engine.ingest_lines` (JSON lines),
:meth:`Engine.ingest_objects` (decoded objects, validated in bulk by
:mod:`oms_bridge.core.bulk`, anything unusual by ``parse_event`` itself),
:meth:`Engine.ingest_columns` (validated columns: duplicates and meters per
chunk, then :meth:`Sequencer.push_many`). Ingesting a sequence through any mix
of them, in any chunk sizes, gives byte-identical results (tests/core/test_chunked.py).
On the bulk path the sequencer hands stretches of released events to
:meth:`Engine._block`, which applies the plainest gasps and restores inline
(nine events in ten of a storm) with exactly the handlers' effects; see
docs/engine-speed.md for what that buys and what it would take to go further.
"""

from __future__ import annotations

import enum
import heapq
import math
from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Sequence
from itertools import compress, repeat
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from oms_bridge.core.bulk import Columns, MeterTable, kind_table, normalise
from oms_bridge.core.coverage import coverage as coverage_rows
from oms_bridge.core.decode import decode_columns
from oms_bridge.core.events import EventCodes, EventKind, MeterEvent, format_time
from oms_bridge.core.inference import I64, Choice, InferenceTuning, Scorer, TreeIndex, sorted_ints
from oms_bridge.core.kinds import DeviceKind, OutageStatus
from oms_bridge.core.outages import Incident, Outage, OutageBook, Phase, make_outage_id
from oms_bridge.core.reorder import Buffered, Release, Sequencer
from oms_bridge.core.topology import Topology
from oms_bridge.settings import CoverageSettings, EngineSettings

__all__ = ["VERDICTS", "Engine", "FrontState", "Verdict", "result_of"]

_GASP = 0
_RESTORE = 1
_KIND_CODE = {EventKind.LAST_GASP: _GASP, EventKind.POWER_RESTORED: _RESTORE}
#: event ids are forgotten in buckets of this share of ``dedupe_horizon_s``
_ID_BUCKETS = 8
#: from this many restores read at once, ``Engine._mark_read`` first checks
#: with numpy (a few array calls of ~1 us each) whether they may skip the
#: per-meter owner and known tests
_BULK_READ = 64


class Verdict(enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    UNKNOWN_METER = "unknown_meter"
    #: only for events that are structurally unusable (non-finite time)
    INVALID = "invalid"


#: verdict codes of :meth:`Engine.ingest_columns` index this tuple
VERDICTS: tuple[Verdict, ...] = (Verdict.ACCEPTED, Verdict.DUPLICATE, Verdict.UNKNOWN_METER,
                                 Verdict.INVALID)
_ACCEPTED, _DUPLICATE, _UNKNOWN, _INVALID = range(4)
#: events per bulk step in ingest_many (the result never depends on it)
_CHUNK = 4096
#: service points of an outage above which its still-dark meters are found with numpy
_WIDE = 256


def _drop(items: list[int], x: int, *, strict: bool = False) -> None:
    """Remove ``x`` from a list kept sorted (unverified meters): by bisection,
    the plain way if it is not where order says (``strict``: it must be there)."""
    i = bisect_left(items, x)
    if i < len(items) and items[i] == x:
        del items[i]
    elif strict or x in items:
        items.remove(x)


#: the caches of :meth:`Engine._block` before they hold an incident (their
#: feeder's range is empty then: never read)
_NOWHERE = Incident(-1, math.nan, math.nan, (math.nan, ""))
_NO_OUTAGE = Outage("", -1, -1, -1, 0, 0, math.nan, None)


class FrontState(NamedTuple):
    """What the front of a split replay hands over at the end of input (see
    :meth:`Engine.hand_off`): its event statistics and the events it still holds."""

    stats: dict[str, int]
    buffered: Buffered


def _filed_at(inc: Incident) -> float:
    return inc.filed_at


def _sigmoid(x: float) -> float:
    x = max(min(x, 30.0), -30.0)
    return 1.0 / (1.0 + math.exp(-x))


class Engine:
    """Outage inference over one topology (see module docstring)."""

    def __init__(self, topology: Topology, settings: EngineSettings | None = None,
                 coverage: CoverageSettings | None = None,
                 tuning: InferenceTuning | None = None) -> None:
        self.topology = topology
        self.settings = settings or EngineSettings()
        self.coverage_settings = coverage or CoverageSettings()
        self.tuning = tuning or InferenceTuning.from_settings(self.settings)
        self._tree = TreeIndex(topology)
        self._scorer = Scorer(self._tree, self.settings, self.tuning)
        self._book = OutageBook(self._tree)
        self._seq = Sequencer(self.settings.lateness_s, self._apply,
                              by_kind=(self._gasp, self._restore), by_block=self._block)
        n_sp = topology.n_service_points
        #: per service point, the time of its latest event. A list, not an
        #: ``array("d")``: an array parses every item written to it (a call into
        #: ``PyArg_Parse``) and makes a float object on every read, once per event
        #: here; the list stores the event's own float (a few MB more per million
        #: meters that spoke)
        self._last_t = [-math.inf] * n_sp
        self._is_dark = bytearray(n_sp)
        self._ami_np: NDArray[np.bool_] = self._tree.sp_ami_np
        #: per service point, the incident it is dark evidence of. A list rather
        #: than a dict: one look-up per event, and 8 bytes a meter instead of a
        #: dict entry and an int object for each meter with evidence
        self._incident_of: list[Incident | None] = [None] * n_sp
        #: per feeder, incidents sorted by the event time that opened them
        self._incidents: dict[int, list[Incident]] = {}
        self._starts: dict[int, list[float]] = {}
        #: per feeder, its undecided incidents in the order of ``_incidents`` (a
        #: restore asks for one; usually there is none, and the answer is quick)
        self._pending: dict[int, list[Incident]] = {}
        #: per feeder, its service points [lo, hi) (pre-order: one range each)
        self._feeder_spans = self._spans()
        #: incidents filed so far (the inline loop's caches last until the next)
        self._filings = 0
        #: per feeder, sorted times at which outages began to come back
        self._restore_times: dict[int, list[float]] = {}
        #: per feeder, restores of meters no outage claimed: (time, meter, event id)
        self._loose: dict[int, list[tuple[float, int, str]]] = {}
        self._seen: set[str] = set()
        self._codes_cache: EventCodes | None = None
        self._mtable: MeterTable | bool | None = None
        self._table: dict[str, int] | None = None
        self._meters: dict[str, int] | None = None
        self._stats = {"accepted": 0, "duplicate": 0, "unknown_meter": 0, "invalid": 0}
        self._hold = float(self.settings.hold_window_s)
        self._momentary = float(self.settings.momentary_s)
        self._gap = float(self.tuning.incident_gap_s)
        self._settle = float(self.tuning.settle_s)
        self._settle_seq = 0
        self._feeder_ids = topology.feeder_ids
        self._retention = float(self.settings.evidence_retention_s)
        self._horizon = float(self.settings.dedupe_horizon_s)
        self._bucket_s = max(self._horizon / _ID_BUCKETS, 1.0)
        #: ids of ``_seen`` by bucket of event time (floor(t / bucket_s)), and a
        #: heap of the bucket keys, oldest first
        self._id_buckets: dict[float, list[str]] = {}
        self._bucket_keys: list[float] = []
        #: expiry timers that came due during :meth:`flush` (end of input, not
        #: event time passing): scheduled again afterwards, not run
        self._flushing = False
        self._deferred: list[tuple[float, Any, object]] = []
        #: per restoration feed item, the key of the action that made it (an
        #: engine that applies one part of a replay's releases: see as_part)
        self._feed_keys: list[tuple[Any, ...]] | None = None

    def _spans(self) -> list[tuple[int, int]]:
        """Per feeder, the service points [lo, hi) of its root, all of that feeder
        (pre-order); an empty range where that does not hold (never assumed)."""
        topo, tree = self.topology, self._tree
        sp_feeder = tree.sp_feeder_np
        spans = []
        for f, root in enumerate(topo.feeder_root.tolist()):
            lo, hi = (tree.sp_lo[root], tree.sp_hi[root]) if root >= 0 else (0, 0)
            ok = 0 <= lo <= hi <= len(sp_feeder) and bool((sp_feeder[lo:hi] == f).all())
            spans.append((lo, hi) if ok else (0, 0))
        return spans

    # ================================================================ ingest
    def _meter_map(self) -> dict[str, int]:
        if self._meters is None:
            topo = self.topology
            keys = [k.decode("utf-8") for k in topo.meter_keys.tolist()]
            self._meters = dict(zip(keys, topo.meter_sp.tolist(), strict=True))
        return self._meters

    def ingest(self, event: MeterEvent) -> Verdict:
        eid = event.event_id
        seen = self._seen
        self._forget_ids(self._seq.clock)
        if eid in seen:
            self._stats["duplicate"] += 1
            return Verdict.DUPLICATE
        t = event.occurred_at
        kind = _KIND_CODE.get(event.kind)
        if kind is None or not math.isfinite(t):
            self._stats["invalid"] += 1
            return Verdict.INVALID
        key = float(math.floor(t / self._bucket_s))
        if self._expiry_of(key) > self._seq.clock:   # else forgotten at once
            seen.add(eid)
            self._id_bucket(key).append(eid)
        sp = (self._meters or self._meter_map()).get(event.meter_id)
        if sp is None:
            self._stats["unknown_meter"] += 1
            return Verdict.UNKNOWN_METER
        self._stats["accepted"] += 1
        self._seq.push(t, eid, sp, kind)
        return Verdict.ACCEPTED

    def ingest_many(self, events: Iterable[MeterEvent]) -> dict[Verdict, int]:
        """:meth:`ingest` of each event in turn, in bulk (same outcome)."""
        counts = dict.fromkeys(Verdict, 0)
        for code, n in enumerate(np.bincount(self._ingest_events(list(events)),
                                             minlength=len(VERDICTS)).tolist()):
            counts[VERDICTS[code]] += n
        return counts

    def ingest_events(self, events: Sequence[MeterEvent]) -> list[Verdict]:
        """:meth:`ingest` of each event in turn, in bulk: the verdict of each."""
        return [VERDICTS[code] for code in self._ingest_events(events).tolist()]

    def _ingest_events(self, events: Sequence[MeterEvent]) -> NDArray[np.int8]:
        out = [np.zeros(0, dtype=np.int8)]
        gasp, back = EventKind.LAST_GASP, EventKind.POWER_RESTORED
        for a in range(0, len(events), _CHUNK):
            part = events[a:a + _CHUNK]
            kinds = [0 if e.kind is gasp else 1 if e.kind is back else -1 for e in part]
            out.append(self.ingest_columns([e.event_id for e in part],
                                           [e.meter_id for e in part], kinds,
                                           [e.occurred_at for e in part]))
        return np.concatenate(out)

    def ingest_columns(self, event_ids: Sequence[str], meter_ids: Sequence[str],
                       kinds: ArrayLike, occurred_at: ArrayLike) -> NDArray[np.int8]:
        """Bulk :meth:`ingest` of events given as columns, in arrival order.

        ``kinds``: 0 last gasp, 1 power restored (anything else is invalid);
        ``occurred_at``: epoch seconds. Returns, per event, its index in
        :data:`VERDICTS`. Exactly the same outcome as ingesting the events one
        by one (same statistics, same sequence of evidence and timers).
        """
        n = len(event_ids)
        t = np.asarray(occurred_at, dtype=np.float64).reshape(-1)
        k = np.asarray(kinds, dtype=np.int8).reshape(-1)
        if t.shape[0] != n or k.shape[0] != n or len(meter_ids) != n:
            raise ValueError("ingest_columns: columns of different lengths")
        if n == 0:
            return np.zeros(0, dtype=np.int8)
        sp = self._meter_sps(meter_ids)
        bad = ~np.isfinite(t) | (k < 0) | (k > 1)
        # only an accepted event moves the watermark on arrival; one of a known
        # meter that turns out a duplicate is counted too (the bound stays safe)
        moves = (sp >= 0) & ~bad
        parts: list[NDArray[np.int8]] = []
        a = 0
        while a < n:
            # an id bucket may expire at the arrival of event a + h: from there on,
            # each event is checked against the ids as one-by-one ingestion would
            self._forget_ids(self._seq.clock)
            expiry = self._id_expiry(t[a:])
            h = self._ids_split(t[a:], expiry, moves[a:]) if n - a > 1 else n - a
            b = a + h
            whole = a == 0 and b == n
            parts.append(self._ingest_part(
                event_ids if whole else event_ids[a:b], k[a:b], t[a:b], expiry[:h], sp[a:b],
                bad[a:b]))
            a = b
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _ingest_part(self, event_ids: Sequence[str], k: NDArray[np.int8],  # noqa: PLR0917
                     t: NDArray[np.float64], expiry: NDArray[np.float64],
                     sp: NDArray[np.int64], bad: NDArray[np.bool_]) -> NDArray[np.int8]:
        """:meth:`ingest_columns` of events no id bucket expires among."""
        n = len(event_ids)
        # ids of events already that old are forgotten at once: not recorded
        keep_out = bad | (expiry <= self._seq.clock)
        dup = self._duplicates(event_ids, keep_out if keep_out.any() else None)
        verdict = np.zeros(n, dtype=np.int8)
        verdict[sp < 0] = _UNKNOWN
        verdict[bad] = _INVALID
        verdict[dup] = _DUPLICATE
        self._bucket_ids(event_ids, t, ~(dup | keep_out))
        counts = np.bincount(verdict, minlength=len(VERDICTS)).tolist()
        stats = self._stats
        for v, c in zip(VERDICTS, counts, strict=True):
            stats[v.value] += c
        acc = verdict == _ACCEPTED
        if counts[_ACCEPTED] == n:
            self._seq.push_many(t, list(event_ids), sp, k)
        elif counts[_ACCEPTED]:
            self._seq.push_many(t[acc], list(compress(event_ids, acc.tolist())), sp[acc], k[acc])
        return verdict

    def _duplicates(self, event_ids: Sequence[str],
                    keep_out: NDArray[np.bool_] | None) -> NDArray[np.bool_]:
        """Per event, whether its id is a duplicate, as one by one: seen before the
        chunk, or earlier in it by an event whose id was recorded. Records the
        ids of the others, except where ``keep_out`` (``None``: nowhere).

        In C-level passes: the first recorded position of each id in the chunk
        (a dict built backwards: the earliest position is written last), the
        ids seen before (one probe of the big set per distinct id), then all
        recorded; only the ids seen before are handled one by one (few).
        """
        n = len(event_ids)
        seen = self._seen
        if keep_out is None:
            first = dict(zip(reversed(event_ids), range(n - 1, -1, -1), strict=True))
            old = seen.intersection(first)
            seen.update(first)
            if len(first) == n and not old:
                return np.zeros(n, dtype=np.bool_)
            # all but the first position of each id are repeats; an id seen
            # before the chunk: there too
            dup = np.ones(n, dtype=np.bool_)
            dup[np.fromiter(first.values(), dtype=np.int64, count=len(first))] = False
            if old:
                dup[[first[x] for x in old]] = True
            return dup
        where = np.flatnonzero(~keep_out).tolist()
        first = dict(zip(reversed([event_ids[i] for i in where]), reversed(where), strict=True))
        old = seen.intersection(event_ids)
        seen.update(first)
        # after the id's first recorded position: a repeat (an id recorded
        # nowhere is at position n, after them all)
        at = np.fromiter(map(first.get, event_ids, repeat(n)), dtype=np.int64, count=n)
        dup = at < np.arange(n)
        if old:
            dup |= np.fromiter(map(old.__contains__, event_ids), dtype=np.bool_, count=n)
        return dup

    # --------------------------------------------------- forgetting event ids
    def _id_bucket(self, key: float) -> list[str]:
        ids = self._id_buckets.get(key)
        if ids is None:
            ids = self._id_buckets[key] = []
            heapq.heappush(self._bucket_keys, key)
        return ids

    def _bucket_ids(self, event_ids: Sequence[str], t: NDArray[np.float64],
                    new: NDArray[np.bool_]) -> None:
        """File the ids just added to ``_seen`` under their bucket of event time."""
        if not new.any():
            return
        keys = np.floor(t[new] / self._bucket_s)
        if keys[0] == keys[-1] and (keys == keys[0]).all():   # the usual chunk: one bucket
            self._id_bucket(float(keys[0])).extend(compress(event_ids, new.tolist()))
            return
        ids = list(compress(event_ids, new.tolist()))
        # runs of one bucket (arrival order is nearly time order)
        cuts = [0, *(np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist(), len(ids)]
        starts = keys[cuts[:-1]].tolist()
        for key, a, b in zip(starts, cuts[:-1], cuts[1:], strict=True):
            self._id_bucket(key).extend(ids[a:b])

    def _expiry_of(self, key: float) -> float:
        """Watermark at which the ids of bucket ``key`` are forgotten."""
        return (key + 1.0) * self._bucket_s + self._horizon

    def _forget_ids(self, clock: float) -> None:
        """Drop the ids of events ``dedupe_horizon_s`` behind the watermark."""
        keys = self._bucket_keys
        while keys and self._expiry_of(keys[0]) <= clock:
            self._seen.difference_update(self._id_buckets.pop(heapq.heappop(keys)))

    def _id_expiry(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per event, the watermark at which its id would be forgotten (-inf for
        a time that is not finite)."""
        tt = np.where(np.isfinite(t), t, -np.inf)
        with np.errstate(invalid="ignore", over="ignore"):
            return (np.floor(tt / self._bucket_s) + 1.0) * self._bucket_s + self._horizon

    def _ids_split(self, t: NDArray[np.float64], expiry: NDArray[np.float64],
                   moves: NDArray[np.bool_]) -> int:
        """How many leading events of a chunk arrive before any id bucket (held,
        or one the chunk adds) may expire: they see the ids as they are now.

        Conservative: the watermark at each arrival is bounded by the running
        maximum of the times of the events before it that may move it
        (``moves``: valid, of a known meter; duplicates among them only split
        earlier) less the lateness. Never 0: after :meth:`_forget_ids` every
        held bucket expires after the clock."""
        clock = self._seq.clock
        fresh = expiry[expiry > clock]
        nxt = self._expiry_of(self._bucket_keys[0]) if self._bucket_keys else math.inf
        if fresh.size:
            nxt = min(nxt, float(fresh.min()))
        if not math.isfinite(nxt):
            return len(t)
        tt = np.where(moves, t, -np.inf)
        before = np.empty_like(tt)
        before[0] = clock
        np.maximum(np.maximum.accumulate(tt[:-1]) - self._seq.lateness_s, clock, out=before[1:])
        return int(np.searchsorted(before, nxt, side="left"))

    def _meter_sps(self, meter_ids: Sequence[str]) -> NDArray[np.int64]:
        """Service point of each meter id (-1: unknown), as :meth:`ingest` finds it."""
        if self._mtable is None:
            built = MeterTable(self.topology.meter_keys, self.topology.meter_sp)
            self._mtable = built if built.unique else False
        table = self._mtable
        if isinstance(table, MeterTable):
            return table.lookup(meter_ids)
        # duplicate ids in the topology: the dict
        mget = (self._meters or self._meter_map()).get
        return np.array(list(map(mget, meter_ids, repeat(-1))), dtype=np.int64)

    def ingest_objects(self, items: Sequence[object], codes: EventCodes | None = None,
                       table: dict[str, int] | None = None) -> dict[Verdict, int]:
        """Validate and ingest a chunk of decoded JSON objects in bulk.

        ``None`` or anything that is not a valid event counts as invalid (as
        :func:`~oms_bridge.core.events.parse_event` decides); the rest as
        :meth:`ingest_columns`. The fast path for replay and for the service.
        """
        if codes is None:
            codes = self._codes()
            table = self._table
        return self._ingest_validated(normalise(items, codes, table))

    def ingest_lines(self, lines: Sequence[bytes | str]) -> dict[Verdict, int]:
        """Parse JSON lines (blank ones skipped) and ingest them as
        :meth:`ingest_objects` would (decoded straight into columns)."""
        codes = self._codes()
        return self._ingest_validated(decode_columns(lines, codes, self._table))

    def _ingest_validated(self, cols: Columns) -> dict[Verdict, int]:
        """:meth:`ingest_columns` of a validated chunk, its invalid rows counted."""
        self._stats["invalid"] += cols.invalid
        verdict = self.ingest_columns(cols.event_ids, cols.meter_ids, cols.kinds,
                                      cols.occurred_at)
        counts = dict(zip(VERDICTS, np.bincount(verdict, minlength=len(VERDICTS)).tolist(),
                          strict=True))
        counts[Verdict.INVALID] += cols.invalid
        return counts

    def _codes(self) -> EventCodes:
        if self._codes_cache is None:
            self._codes_cache = EventCodes.from_settings(self.settings)
            self._table = kind_table(self._codes_cache)
        return self._codes_cache

    def count_invalid(self, n: int = 1) -> None:
        self._stats["invalid"] += int(n)

    def tick(self, event_time: float) -> None:
        if math.isfinite(event_time):
            self._seq.tick(event_time)
            self._forget_ids(self._seq.clock)

    def flush(self) -> None:
        self._flushing = True
        try:
            self._seq.flush()
        finally:
            self._flushing = False
        deferred, self._deferred = self._deferred, []
        for due, callback, token in deferred:
            self._seq.schedule(due, callback, token)

    @property
    def watermark(self) -> float:
        return self._seq.clock

    # ============================================================ split replay
    # The work before the release order (decoding, meters, duplicates, the
    # watermark and the order itself) depends on the events alone, never on
    # what applying them does: one engine can do it and hand the releases to
    # another, which applies them, in another process (oms_bridge.split_replay).
    def hand_off(self, sink: Callable[[Release], None]) -> None:
        """Make this engine the front of a split replay: it keeps the event
        statistics, the duplicate filter and the watermark, and passes each
        stretch of released events to ``sink`` (for another engine's
        :meth:`apply_release`) instead of applying them. At the end of input,
        :meth:`front_state` goes to that engine (:meth:`take_front`), which
        then flushes. Such a front cannot :meth:`tick` or :meth:`flush`."""
        self._seq.hand_off(sink)

    def apply_release(self, release: Release) -> None:
        """Apply a stretch of events released by a front (see :meth:`hand_off`)."""
        self._seq.apply_release(release)

    def front_state(self) -> FrontState:
        return FrontState(dict(self._stats), self._seq.buffered_state())

    def take_front(self, state: FrontState) -> None:
        """Take over a front's statistics and held events, as if this engine had
        ingested what the front did (everything released was applied here)."""
        for key, n in state.stats.items():
            self._stats[key] += n
        self._seq.take_buffered(state.buffered)

    # ============================================================ parts
    # The state of an engine is per feeder (incidents, outages, the meters of
    # each), except the sequence of releases and timers that drives it. So
    # engines that each apply the same releases, with the events of every
    # feeder but their own passed over, reach each the state one engine would
    # for their feeders; the keys of their actions (Sequencer.keyed) put their
    # restoration feeds back in one engine's order (oms_bridge.split_replay).
    @property
    def passed_over_sp(self) -> int:
        """The service point of a passed-over event in a part's releases
        (with the restore kind: ignored at once, as a restore of a meter
        that has said something newer, see :meth:`as_part`)."""
        return self.topology.n_service_points

    def as_part(self) -> None:
        """Make this engine apply one part of a replay: releases whose events
        of other feeders have service point :attr:`passed_over_sp` and the
        restore kind, which pass over them (no meter of this engine; its
        latest event is at +inf, so a restore of it is older and ignored,
        by the inline loop and the handler alike) while keeping their place
        in the sequence, where timers fire. Then :meth:`part_result`.

        What this relies on: no state but the sequencer's is shared between
        feeders, and a timer's callback reads its due, never the clock (a
        passed-over event does not set the clock its handler would have
        set; a handler of this part's own events finds it set for them)."""
        self._seq.keyed()
        self._last_t.append(math.inf)
        self._feed_keys = []

    def part_result(self) -> tuple[list[tuple[float, str, dict[str, Any]]],
                                   list[tuple[tuple[Any, ...], dict[str, Any]]]]:
        """This part's outages as ``(started_at, outage_id, row)`` and its
        restoration feed items as ``(key, row)``: sorted together with the
        other parts', they are what one engine's :func:`result_of` lists
        (the feed's ``seq`` numbered again)."""
        if self._feed_keys is None:
            raise RuntimeError("part_result: this engine is not a part (as_part)")
        book = self._book
        outages = [(o.started_at, o.outage_id, book.to_dict(o)) for o in book.by_id.values()]
        return outages, list(zip(self._feed_keys, book.feed_items(), strict=True))

    # ================================================================ output
    def drain_changes(self) -> list[dict[str, Any]]:
        return self._book.drain_changes()

    def drain_restorations(self) -> list[dict[str, Any]]:
        return self._book.drain_feed()

    def outages(self, status: OutageStatus | str | None = None) -> list[dict[str, Any]]:
        want: OutageStatus | None
        want = None if status is None or status == "all" else OutageStatus(status)
        rows = [o for o in self._book.by_id.values() if want is None or o.status is want]
        rows.sort(key=lambda o: (o.started_at, o.outage_id))
        return [self._book.to_dict(o) for o in rows]

    def outage_detail(self, outage_id: str) -> dict[str, Any] | None:
        o = self._book.by_id.get(outage_id)
        if o is None:
            return None
        book, tree = self._book, self._tree
        row = book.to_dict(o)
        skip = [(c.lo, c.hi) for c in o.children]
        if o.phase is not Phase.CLOSED:
            skip.extend((c.lo, c.hi) for c in book.nested_open(o))
        meters = [book.meter_id(s) for s in range(o.lo, o.hi)
                  if tree.sp_is_ami[s] and not any(lo <= s < hi for lo, hi in skip)]
        timeline: list[tuple[float, str, dict[str, Any]]] = []
        inc = o.incident
        holder = o
        while inc is None and holder.parent is not None:
            holder = holder.parent
            inc = holder.incident
        # evidence dropped after evidence_retention_s (the service's database
        # keeps the event log): the predictions stay, the gasps and restores go
        compacted = o.compacted or holder.compacted
        if inc is not None and not compacted:
            for s, (t, eid) in inc.dark.items():
                if o.lo <= s < o.hi:
                    timeline.append((t, eid, {"kind": "last_gasp", "meter_id": book.meter_id(s),
                                              "event_id": eid}))
        for t, s, eid in o.on_events:
            timeline.append((t, eid, {"kind": "power_restored", "meter_id": book.meter_id(s),
                                      "event_id": eid}))
        for t, device_id, device_type in o.moves:
            timeline.append((t, "~", {"kind": "prediction", "device_id": device_id,
                                      "device_type": device_type}))
        timeline.sort(key=lambda item: (item[0], item[1]))
        row["meters"] = meters
        row["meters_unverified_ids"] = [book.meter_id(s) for s in o.unverified]
        row["children"] = sorted(c.outage_id for c in o.children)
        row["timeline"] = [{"at": format_time(t), **item} for t, _, item in timeline]
        row["timeline_compacted"] = compacted
        return row

    def restorations(self) -> list[dict[str, Any]]:
        return self._book.feed_items()

    def event_stats(self) -> dict[str, int]:
        return dict(self._stats)

    def coverage(self) -> list[dict[str, Any]]:
        return coverage_rows(self.topology, self.coverage_settings)

    # ============================================================ evidence
    def _block(self, k: int, step: list[int], t: list[float], eid: list[str],  # noqa: PLR0917
               sp: list[int], kind: list[int], late: list[bool], after: list[float],
               timers: list[Any]) -> int:
        """Apply a stretch of released events (see :class:`Sequencer`).

        Most events of a storm take the plainest path through :meth:`_gasp`
        or :meth:`_restore`: a restore of a meter whose outage is already
        coming back (a straggler of a closed outage too, verified there), a
        gasp joining an incident still in its hold window.
        Those are done here inline, with exactly the effects the handlers
        would have, and everything else goes to the handlers themselves; a
        loop over a few locals instead of a chain of calls per event.

        Between two handler calls nothing but this loop changes the engine,
        and it never files, decides or resolves an incident nor schedules a
        timer: so the next timer's time and the restoring outage it touched
        last (its fields as read) hold until the next handler call, which
        forgets them. The incident last found for a feeder by
        :meth:`_find_incident` or :meth:`_find_pending`, while it is that
        feeder's newest one, is the answer whenever its own window and
        filing time take the event; it stays undecided and without outages
        until a timer fires (a handler resolves decided incidents only), so
        it is kept until a handler files an incident.
        """
        n = len(t)
        last_t, is_dark, incident_of = self._last_t, self._is_dark, self._incident_of
        book = self._book
        stragglers, own, slots, touch = book.stragglers, book.owner_slots, book.slots, book.touch
        tree = self._tree
        feeder_of, sp_node = tree.feeder, tree.sp_node
        find_incident, find_pending = self._find_incident, self._find_pending
        incidents, pendings, spans = self._incidents, self._pending, self._feeder_spans
        gasp, restore, seq = self._gasp, self._restore, self._seq
        restoring = Phase.RESTORING
        gap, hold = self._gap, self._hold
        gap2 = 2 * gap
        inf = math.inf
        due = timers[0][0] if timers else inf
        # the caches (see above): an incident and its feeder's service points
        # [lo, hi) for gasps (c_*) and for restores (r_*), the outage touched
        c_inc = r_inc = _NOWHERE
        pend: Incident | None
        c_lo = c_hi = r_lo = r_hi = 0
        filings = self._filings
        # the restoring outage touched last: its slot (-2: none), the outage, its
        # start, known-on set, AMI meters, last and first restore, evidence
        o_slot, o_out, o_start, o_known = -2, _NO_OUTAGE, inf, _NO_OUTAGE.known_on
        o_ami, o_last, o_ra, o_add = 0, inf, inf, _NO_OUTAGE.on_events.add
        for k in range(k, n):  # noqa: B020, PLR1704 - k is returned where the loop stops
            ti = t[k]
            if late[k] or due < ti:
                return k
            p = sp[k]
            if kind[k]:
                # _restore, then _mark_on, for an owner already restoring that
                # this restore does not complete
                if ti <= last_t[p]:
                    continue
                if p not in stragglers:
                    inc = incident_of[p]
                    if inc is not None and not inc.decided:
                        last_t[p] = ti
                        is_dark[p] = 0
                        restored = inc.restored
                        if p not in restored:
                            restored[p] = (ti, eid[k])
                        continue
                    slot = own[p]
                    if slot == o_slot:
                        # the outage of the last path below, restoring still
                        if ti >= o_start:
                            if p in o_known:
                                last_t[p] = ti
                                is_dark[p] = 0
                                continue
                            if len(o_known) + 1 < o_ami:
                                last_t[p] = ti
                                is_dark[p] = 0
                                o_known.add(p)
                                o_add(ti, p, eid[k])
                                if ti > o_last:
                                    o_out.last_on_at = o_last = ti
                                if ti < o_ra:
                                    o_out.restored_at = o_ra = ti
                                continue
                    elif slot >= 0:
                        o = slots[slot]
                        assert o is not None
                        if ti >= o.started_at:
                            known = o.known_on
                            if p in known:
                                last_t[p] = ti
                                is_dark[p] = 0
                                continue
                            ra = o.restored_at
                            if (ra is not None and o.phase is restoring
                                    and len(known) + 1 < o.ami_affected):
                                last_t[p] = ti
                                is_dark[p] = 0
                                known.add(p)
                                o_add = o.on_events.add
                                o_add(ti, p, eid[k])
                                if ti > o.last_on_at:
                                    o.last_on_at = ti
                                if ti < ra:
                                    o.restored_at = ra = ti
                                touch(o)
                                o_slot, o_out, o_start, o_known = slot, o, o.started_at, known
                                o_ami, o_last, o_ra = o.ami_affected, o.last_on_at, ra
                                continue
                    else:
                        # a meter whose gasp was lost, back while an incident
                        # of its feeder is pending: dark evidence of it
                        if (r_lo <= p < r_hi
                                and ti - hold - gap <= r_inc.filed_at <= ti + gap2
                                and r_inc.t_first - gap <= ti <= r_inc.t_first + hold):
                            pend = r_inc
                        else:
                            f = feeder_of[sp_node[p]]
                            pend = find_pending(f, ti)
                            if pend is not None and pendings[f][-1] is pend:
                                r_inc = pend
                                r_lo, r_hi = spans[f]
                        if pend is not None:
                            last_t[p] = ti
                            is_dark[p] = 0
                            e = eid[k]
                            dark = pend.dark
                            if p not in dark:
                                dark[p] = (pend.t_first, e)
                                pend.restore_only.add(p)
                                if pend.retro and ti > pend.t_last:
                                    pend.t_last = ti
                                incident_of[p] = pend
                            restored = pend.restored
                            if p not in restored:
                                restored[p] = (ti, e)
                            continue
                else:
                    # a straggler of a closed outage, its meter owned by an
                    # outage already restoring that this restore does not
                    # complete: _mark_on of the owner, then _verify of the
                    # straggler (restored=False, on_at=t: never a nested
                    # outage, never a timer), touched in that order. The
                    # owner's lines repeat those of the path above: a call
                    # would cost what doing it inline saves
                    inc = incident_of[p]
                    slot = own[p]
                    if slot >= 0 and (inc is None or inc.decided):
                        o = slots[slot]
                        assert o is not None
                        known = o.known_on
                        ra = o.restored_at
                        if (ti >= o.started_at and p not in known and ra is not None
                                and o.phase is restoring and len(known) + 1 < o.ami_affected):
                            last_t[p] = ti
                            is_dark[p] = 0
                            known.add(p)
                            o_add = o.on_events.add
                            o_add(ti, p, eid[k])
                            if ti > o.last_on_at:
                                o.last_on_at = ti
                            if ti < ra:
                                o.restored_at = ra = ti
                            touch(o)
                            o_slot, o_out, o_start, o_known = slot, o, o.started_at, known
                            o_ami, o_last, o_ra = o.ami_affected, o.last_on_at, ra
                            s = stragglers.pop(p)
                            unverified = s.unverified
                            _drop(unverified, p)
                            if not s.compacted:   # (shared empty sets once compacted)
                                s.known_on.add(p)
                            if ti > s.last_on_at:
                                s.last_on_at = ti
                            if not unverified and s.confirmed_at is None:
                                s.confirmed_at = self._on_time(s, ti)
                            touch(s)
                            continue
                seq.clock = after[step[k]]
                seq.at = k
                restore(ti, eid[k], p)
            else:
                # _gasp, then _add_dark, for a meter no outage holds joining an
                # incident still in its hold window
                if ti > last_t[p] and own[p] < 0 and p not in stragglers:
                    old = incident_of[p]
                    if old is not None and (
                            (old.t_first - gap <= ti <= old.t_last + gap
                             and ti <= old.t_first + hold)
                            or (is_dark[p] and not old.decided)):
                        # already dark evidence of that incident
                        last_t[p] = ti
                        is_dark[p] = 1
                        continue
                    # (an older incident of this meter, decided: it is out anew)
                    if (c_lo <= p < c_hi
                            and ti - hold - gap <= c_inc.filed_at <= ti + gap2
                            and c_inc.t_first - gap <= ti <= c_inc.t_last + gap
                            and ti <= c_inc.t_first + hold):
                        inc = c_inc
                    else:
                        f = feeder_of[sp_node[p]]
                        inc = find_incident(f, ti)
                        if inc is None or inc.decided or inc.outages:
                            inc = None
                        elif incidents[f][-1] is inc:
                            c_inc = inc
                            c_lo, c_hi = spans[f]
                    if inc is not None:
                        last_t[p] = ti
                        is_dark[p] = 1
                        dark = inc.dark
                        if p not in dark:
                            e = eid[k]
                            dark[p] = key = (ti, e)
                            if ti > inc.t_last:
                                inc.t_last = ti
                            if key < inc.first_key:
                                inc.first_key = key
                                inc.t_first = min(inc.t_first, ti)
                            incident_of[p] = inc
                        continue
                seq.clock = after[step[k]]
                seq.at = k
                gasp(ti, eid[k], p)
            # a handler ran: forget what it may have changed (an incident found
            # stays the answer unless one was filed since)
            due = timers[0][0] if timers else inf
            o_slot = -2
            if self._filings != filings:
                filings = self._filings
                c_hi = r_hi = 0
        return n

    def _apply(self, t: float, eid: str, sp: int, kind: int) -> None:
        if kind == _GASP:
            self._gasp(t, eid, sp)
        else:
            self._restore(t, eid, sp)

    def _in_window(self, inc: Incident, t: float) -> bool:
        # (both bounds rather than min(): a builtin call costs more than the test)
        return (inc.t_first - self._gap <= t <= inc.t_last + self._gap
                and t <= inc.t_first + self._hold)

    def _candidates(self, feeder: int, lo: float, hi: float) -> list[Incident]:
        """Incidents of a feeder opened within ``[lo, hi]``, newest first."""
        starts = self._starts.get(feeder)
        if not starts:
            return []
        a, b = bisect_left(starts, lo), bisect_right(starts, hi)
        return self._incidents[feeder][a:b][::-1]

    def _find_incident(self, feeder: int, t: float) -> Incident | None:
        """The newest incident of a feeder whose window takes evidence at ``t``
        (:meth:`_candidates` without building its list: one call per gasp)."""
        starts = self._starts.get(feeder)
        if not starts:
            return None
        gap, hold = self._gap, self._hold
        lst = self._incidents[feeder]
        a = bisect_left(starts, t - hold - gap)
        for i in range(bisect_right(starts, t + 2 * gap) - 1, a - 1, -1):
            inc = lst[i]
            if inc.t_first - gap <= t <= inc.t_last + gap and t <= inc.t_first + hold:
                return inc
        return None

    def _new_incident(self, feeder: int, t: float, eid: str, *,
                      retro: bool = False) -> Incident:
        inc = Incident(feeder, t, t, (t, eid), retro=retro)
        self._filings += 1
        lst = self._incidents.setdefault(feeder, [])
        starts = self._starts.setdefault(feeder, [])
        at = bisect_right(starts, t)
        starts.insert(at, t)
        lst.insert(at, inc)
        inc.filed_at = t
        # after every one filed at or before t, as in ``lst``
        insort(self._pending.setdefault(feeder, []), inc, key=_filed_at)
        self._seq.schedule(t + self._hold, self._decide, inc)
        return inc

    def _gasp(self, t: float, eid: str, sp: int) -> None:
        newer = t > self._last_t[sp]
        was_dark = self._is_dark[sp]
        if newer:
            self._last_t[sp] = t
            self._is_dark[sp] = 1
        inc = self._incident_of[sp]
        if inc is not None and (self._in_window(inc, t)
                                or (newer and was_dark and not inc.decided)):
            return  # the meter is already dark evidence of this incident
        feeder = self._tree.sp_feeder(sp)
        if not newer:
            inc = self._find_incident(feeder, t)
            if inc is not None and not inc.frozen:
                self._add_dark(inc, sp, t, eid)
            return
        book = self._book
        if newer and self._absorbed(sp, t, eid):
            return
        straggler = book.stragglers.get(sp)
        if straggler is not None:
            self._verify(straggler, sp, t, eid, restored=False)
        owner = book.owner_of(sp)
        if owner is not None:
            oinc = owner.incident
            if owner.phase is Phase.OPEN:
                if oinc is not None and self._in_window(oinc, t):
                    self._add_dark(oinc, sp, t, eid)
                    return
                if t > owner.started_at and oinc is not None and not oinc.frozen:
                    oinc.known_on.add(sp)   # it was on until now: not below that device
                    self._resolve(oinc, self._seq.clock)
                    owner = book.owner_of(sp)
                if owner is not None and owner.phase is Phase.OPEN:
                    return  # the evidence cannot move it off this meter: keep one owner
            elif owner.phase is Phase.RESTORING and t > owner.started_at:
                self._mark_on(owner, sp, t, eid)
        inc = self._find_incident(feeder, t)
        if inc is None or inc.frozen:
            inc = self._new_incident(feeder, t, eid)
        self._add_dark(inc, sp, t, eid)

    def _absorbed(self, sp: int, t: float, eid: str) -> bool:
        """A last gasp from inside an outage that already came back (delivered late,
        its meter's restore lost) is evidence of that outage, never a new one: the
        meter stays unverified there (a momentary's straggler is not dispatched).
        Inside means before its first restore, or within the window in which the
        gasp would have joined its incident had it come on time (a reclose shot)."""
        book = self._book
        owner = book.owner_of(sp)
        for o in (owner, book.stragglers.get(sp)):
            if (o is not None and o.phase is not Phase.OPEN and o.restored_at is not None
                    and (o.started_at - self._gap <= t <= o.restored_at
                         or (o.incident is not None and self._in_window(o.incident, t)))):
                break
        else:
            return False
        inc = o.incident
        if inc is not None and sp not in inc.dark:
            inc.dark[sp] = (t, eid)
            self._incident_of[sp] = inc
            o.reporting += 1
            book.touch(o)
        return True

    def _restore(self, t: float, eid: str, sp: int) -> None:
        if t <= self._last_t[sp]:
            return  # older than what this meter said since: nothing to learn
        self._last_t[sp] = t
        self._is_dark[sp] = 0
        book = self._book
        straggler = book.stragglers.get(sp)
        inc = self._incident_of[sp]
        if inc is not None and not inc.decided:
            inc.restored.setdefault(sp, (t, eid))
        else:
            owner = book.owner_of(sp)
            if owner is not None and t >= owner.started_at:
                self._mark_on(owner, sp, t, eid)
            else:
                # a restore from a meter that never gasped: it was dark just before
                feeder = self._tree.sp_feeder(sp)
                inc = self._find_pending(feeder, t)
                if inc is not None and (straggler is None or self._dark_near(inc, sp)):
                    self._add_dark(inc, sp, t, eid, restore_only=True)
                    inc.restored.setdefault(sp, (t, eid))
                elif straggler is not None:
                    self._verify(straggler, sp, t, eid, restored=True)
                    return
                elif owner is None and not self._near_restoration(feeder, t):
                    # every gasp of a small outage was lost: record it, already over
                    inc = self._new_incident(feeder, t, eid, retro=True)
                    self._add_dark(inc, sp, t, eid, restore_only=True)
                    inc.restored.setdefault(sp, (t, eid))
                elif owner is None:
                    # came back with an outage nearby: evidence it was in that outage
                    insort(self._loose.setdefault(feeder, []), (t, sp, eid))
        if straggler is not None:
            # its restore ends a newer interruption: known on, but no nested outage
            self._verify(straggler, sp, t, eid, restored=False, on_at=t)

    def _dark_near(self, inc: Incident, sp: int) -> bool:
        """Whether ``inc`` has dark meters below the lowest protective device above
        ``sp`` (a straggler's restore far from a pending incident is its own)."""
        tree = self._tree
        transformer = DeviceKind.TRANSFORMER.code
        v = tree.parent[tree.sp_node[sp]]
        while v >= 0 and (not tree.candidate[v] or tree.kind[v] == transformer):
            v = tree.parent[v]
        if v < 0:
            return True
        lo, hi = tree.sp_lo[v], tree.sp_hi[v]
        dark = inc.dark
        if hi - lo < len(dark):   # scan the cheaper side (a lateral, or the dark set)
            return any(s in dark for s in range(lo, hi))
        return any(lo <= s < hi for s in dark)

    def _near_restoration(self, feeder: int, t: float) -> bool:
        """Whether an outage of this feeder came back around ``t`` (or an incident
        began): a lone restore then more likely belongs to it than to an unseen
        outage of its own."""
        if self._candidates(feeder, t - self._hold - self._settle - self._gap, t + self._gap):
            return True
        times = self._restore_times.get(feeder)
        if not times:
            return False
        i = bisect_left(times, t - self._settle)
        return i < len(times) and times[i] <= t + self._settle

    def _find_pending(self, feeder: int, t: float) -> Incident | None:
        """An undecided incident whose hold window covers a restore at ``t``:
        the newest one filed within ``[t - hold - gap, t + 2 gap]`` (the walk of
        :meth:`_candidates` over the undecided ones only)."""
        pending = self._pending.get(feeder)
        if not pending:
            return None
        gap, hold = self._gap, self._hold
        lo, hi = t - hold - gap, t + 2 * gap
        for inc in reversed(pending):
            if lo <= inc.filed_at <= hi and inc.t_first - gap <= t <= inc.t_first + hold:
                return inc
        return None

    def _add_dark(self, inc: Incident, sp: int, t: float, eid: str, *,
                  restore_only: bool = False) -> None:
        if sp in inc.dark:
            return
        if restore_only:
            inc.dark[sp] = (inc.t_first, eid)
            inc.restore_only.add(sp)
            if inc.retro and t > inc.t_last:
                inc.t_last = t
        else:
            inc.dark[sp] = (t, eid)
            if t > inc.t_last:
                inc.t_last = t
            if (t, eid) < inc.first_key:
                inc.first_key = (t, eid)
                inc.t_first = min(inc.t_first, t)
        self._incident_of[sp] = inc
        if not inc.decided:
            return
        owner = self._book.owner_of(sp)
        if owner is not None and owner.incident is inc:
            owner.reporting += 1
            self._book.touch(owner)
        elif not inc.frozen:
            inc.uncovered += 1
            if inc.uncovered >= max(1, len(inc.dark) // 20):
                self._resolve(inc, self._seq.clock)

    # ============================================================ decisions
    def _decide(self, due: float, token: object) -> None:
        assert isinstance(token, Incident)
        inc = token
        if inc.decided:
            return
        inc.decided = True
        self._pending[inc.feeder].remove(inc)
        self._resolve(inc, max(due, inc.t_first + self._hold))
        self._seq.schedule(max(due, inc.t_last) + self._retention, self._expire_incident, inc)

    def _confidence(self, o: Outage, margin: float) -> float:
        sps = max(o.hi - o.lo, 1)
        ami = self._tree.ami_cum[o.hi] - self._tree.ami_cum[o.lo]
        return _sigmoid(margin) * (0.5 + 0.5 * ami / sps)

    def _range_of(self, ch: Choice) -> tuple[int, int]:
        tree = self._tree
        if ch.node >= 0:
            return tree.sp_lo[ch.node], tree.sp_hi[ch.node]
        return ch.sp, ch.sp + 1

    def _resolve(self, inc: Incident, now: float) -> None:
        """(Re)place the outages of an incident; ids survive moves."""
        book, tree = self._book, self._tree
        old = [o for o in inc.outages if o.phase is Phase.OPEN]
        for o in old:
            book.remove_open(o)
        choices = self._scorer.solve_keys(inc.dark, excluded=book.excluded_ami,
                                          forbidden_sps=inc.known_on)
        dark = inc.dark
        if len(choices) == 1 and len(choices[0].dark) == len(dark):
            # the usual answer, one device for it all: its dark meters are every
            # key of ``dark`` (a choice's are distinct meters of the input), so
            # their first evidence is the least of the values (no look-ups)
            keyed = [(min(dark.values()), 0, choices[0])]
        else:
            keyed = sorted(((min(map(dark.__getitem__, ch.dark)), i, ch)
                            for i, ch in enumerate(choices)), key=lambda x: (x[0], x[1]))
        used: set[int] = set()
        placed: list[tuple[Outage, Choice, bool]] = []
        feeder_id = self._feeder_ids[inc.feeder]
        for first, _, ch in keyed:
            lo, hi = self._range_of(ch)
            match = [o for o in old if id(o) not in used and o.lo < hi and lo < o.hi]
            if match:
                o = min(match, key=lambda x: (x.started_at, x.outage_id))
                used.add(id(o))
                if (o.node, o.sp) != (ch.node, ch.sp):
                    o.node, o.sp, o.lo, o.hi = ch.node, ch.sp, lo, hi
                    o.moves.append((now, book.device_id(o), book.device_type(o)))
                o.started_at = first[0]
                placed.append((o, ch, False))
            else:
                oid = make_outage_id(feeder_id, first[1])
                if oid in book.by_id:
                    oid = make_outage_id(feeder_id, first[1], str(ch.node), str(ch.sp))
                o = Outage(oid, inc.feeder, ch.node, ch.sp, lo, hi, first[0], inc)
                o.moves.append((now, book.device_id(o), book.device_type(o)))
                placed.append((o, ch, True))
        survivors = [o for o, _, _ in placed]
        for o in old:
            if id(o) in used:
                continue
            into = next((x for x in survivors if x.lo <= o.lo < x.hi or o.lo <= x.lo < o.hi),
                        survivors[0] if survivors else None)
            if into is not None:
                into.known_on |= o.known_on
                into.on_events.extend(o.on_events)
                into.last_on_at = max(into.last_on_at, o.last_on_at)
                book.remove(o, into)
        inc.outages = survivors
        inc.uncovered = 0
        # meters whose restores it read while pending, in order (the incident is
        # decided: nothing writes its ``restored`` any more, below or later)
        restored = inc.restored
        # (thousands when a momentary is decided: sorted by numpy, handed to
        # _mark_read as arrays too)
        r_sorted = sorted_ints(restored) if len(restored) >= _BULK_READ else None
        restored_sps = sorted(restored) if r_sorted is None else []
        for o, ch, is_new in placed:
            o.reporting = len(ch.dark)
            clash = book.at_node.get(o.node) if o.node >= 0 else book.at_sp.get(o.sp)
            if clash is not None and clash.incident is not inc:
                if clash.phase is Phase.OPEN and is_new:
                    clash.reporting += o.reporting   # same device, already out: its evidence
                    book.touch(clash)
                    inc.outages.remove(o)
                    continue
                self._settle_now(clash, now)
            book.add_open(o)
            o.confidence = self._confidence(o, ch.margin)
            if o.known_on:
                o.known_on = {s for s in o.known_on if o.lo <= s < o.hi and book.owner_of(s) is o}
            if r_sorted is None:
                a, b = bisect_left(restored_sps, o.lo), bisect_left(restored_sps, o.hi)
                if a < b:
                    self._mark_read(o, restored_sps[a:b], restored)
            else:
                a, b = r_sorted.searchsorted((o.lo, o.hi)).tolist()
                if a < b:
                    d = r_sorted[a:b]
                    self._mark_read(o, d.tolist(), restored, d)
            if is_new:
                o.predicted_at = now
                back = self._is_momentary(o)
                o.status = OutageStatus.MOMENTARY if back else OutageStatus.ACTIVE
                o.ever_active = not back and not self._unseen_start(o)
                book.publish(o)
            else:
                book.touch(o)
            if o.restored_at is not None and o.phase is Phase.OPEN:
                self._start_restoring(o)
            if tree.ami_cum[o.hi] - tree.ami_cum[o.lo] and len(o.known_on) >= o.ami_affected:
                self._complete_soon(o)

    def _is_momentary(self, o: Outage) -> bool:
        if o.restored_at is None or o.restored_at - o.started_at > self._momentary:
            return False
        return not self._unseen_start(o)  # only restores seen: how long it lasted is unknown

    @staticmethod
    def _unseen_start(o: Outage) -> bool:
        """Whether no meter of ``o`` gasped: only its restores were seen (a retro
        incident, or restores read with a pending one), so when it began is unknown."""
        inc = o.incident
        if inc is None:
            return False
        if inc.retro:
            return True
        only = inc.restore_only
        return bool(only) and all(s in only for s in inc.dark if o.lo <= s < o.hi)

    def _mark_read(self, o: Outage, sps: list[int],
                   restored: dict[int, tuple[float, str]], sps_np: I64 | None = None) -> None:
        """:meth:`_mark_on` (no completion check) of the restores an incident read
        while pending (``restored``), of the meters ``sps`` in turn where ``o``
        owns them: one loop, not a call each. ``sps_np``: ``sps`` as an array,
        when the caller has it."""
        slot, own = o.slot, self._book.owner_slots
        known, add_on, started = o.known_on, o.on_events.add, o.started_at
        last_on, first_on = o.last_on_at, o.restored_at
        if len(sps) >= _BULK_READ and not known:
            # Usually every meter read qualifies (the restores of a momentary
            # decided when its hold window expires, thousands of them). When
            # the meters are strictly increasing (distinct: none is known yet
            # when reached) and ``o`` owns every service point from the first
            # to the last, only the time test is left per meter: the loop
            # below takes them until one fails it, and the general loop goes
            # on from that one with the same state.
            d = np.frombuffer(array("q", sps), dtype=np.int64) if sps_np is None else sps_np
            if (d[0] >= 0 and d[-1] < len(own) and bool((d[1:] > d[:-1]).all())
                    and bool((np.frombuffer(own, dtype=np.intc)[d[0]:d[-1] + 1]
                              == slot).all())):
                # the first to qualify, if any, is the first meter: with none
                # before, its time is the least so far (unread if it fails)
                first = restored[sps[0]][0] if first_on is None else first_on
                if first_on is None and first >= started:
                    insort(self._restore_times.setdefault(o.feeder, []), first)
                    first_on = first
                stop = None
                for s in sps:
                    tr, eid = restored[s]
                    if not tr >= started:
                        stop = s
                        break
                    add_on(tr, s, eid)
                    if tr > last_on:
                        last_on = tr
                    if tr < first:
                        first = tr
                if first_on is not None:
                    first_on = first
                if stop is None:
                    known.update(sps)
                    o.last_on_at, o.restored_at = last_on, first_on
                    return
                done = bisect_left(sps, stop)
                known.update(sps[:done])
                sps = sps[done:]
        for s in sps:
            tr, eid = restored[s]
            if tr >= started and own[s] == slot and s not in known:
                known.add(s)
                add_on(tr, s, eid)
                if tr > last_on:
                    last_on = tr
                if first_on is None:
                    insort(self._restore_times.setdefault(o.feeder, []), tr)
                    first_on = tr
                elif tr < first_on:
                    first_on = tr
        o.last_on_at, o.restored_at = last_on, first_on

    # ========================================================== restoration
    def _mark_on(self, o: Outage, sp: int, t: float, eid: str, *, check: bool = True) -> None:
        if sp in o.known_on or not o.lo <= sp < o.hi:
            return
        o.known_on.add(sp)
        o.on_events.add(t, sp, eid)
        if t > o.last_on_at:
            o.last_on_at = t
        if o.restored_at is None:
            insort(self._restore_times.setdefault(o.feeder, []), t)
        if o.restored_at is None or t < o.restored_at:
            o.restored_at = t
        if not check:
            return
        if o.phase is Phase.OPEN:
            self._start_restoring(o)
        self._book.touch(o)
        if o.phase is not Phase.CLOSED and len(o.known_on) >= o.ami_affected:
            self._complete_soon(o)

    def _complete_soon(self, o: Outage) -> None:
        """Every meter is back: close after a short window in which restores of
        meters outside the outage can still show its device was higher."""
        if o.restored_at is None:
            return  # nothing of its own came back (every meter nested elsewhere)
        if o.phase is Phase.OPEN:
            self._start_restoring(o)
        self._seq.schedule(max(o.restored_at + self.tuning.restore_window_s, o.last_on_at),
                           self._settled, (o, o.settle_token))

    def _start_restoring(self, o: Outage) -> None:
        o.phase = Phase.RESTORING
        self._settle_seq += 1
        o.settle_token = self._settle_seq
        assert o.restored_at is not None
        self._seq.schedule(o.restored_at + self._settle, self._settled, (o, o.settle_token))

    def _settle_now(self, o: Outage, now: float) -> None:
        """Close an outage early (its device is out again in a new incident)."""
        if o.phase is Phase.OPEN:
            o.restored_at = o.restored_at if o.restored_at is not None else now
            self._start_restoring(o)
        self._settled(now, (o, o.settle_token))

    def _settled(self, due: float, token: object) -> None:
        assert isinstance(token, tuple)
        o, version = token
        assert isinstance(o, Outage)
        if o.phase is not Phase.RESTORING or o.settle_token != version:
            return
        self._restoration_move(o, due)
        book, tree = self._book, self._tree
        # (asked once: nothing below opens or closes an outage before the loop
        # over them)
        inner = book.nested_open(o)
        skip = sorted((x.lo, x.hi) for x in inner)
        known, is_ami = o.known_on, tree.sp_is_ami
        dark = self._still_dark(o, skip)
        if dark and o.restored_at is not None:
            # a meter whose latest word is a restore that came with this outage's
            # restoration or after it has power, whichever outage that restore was
            # credited to (one nested below that has closed since, say): never a
            # nested outage here. An older restore proves nothing: the outage may
            # have taken it dark again after it (two openings read as one)
            last_t, is_dark = self._last_t, self._is_dark
            since = max(o.started_at, o.restored_at - self.tuning.restore_window_s)
            dark = [m for m in dark if is_dark[m] or last_t[m] < since]
        rate = len(known) / max(o.ami_affected, 1)
        found, stragglers = self._scorer.nested(o.node, dark, excluded=book.excluded_ami,
                                                restore_rate=rate,
                                                on_counts=(len(known), o.ami_affected))
        # meters held by a nested outage that may still move (its incident can be
        # re-solved) are not vouched for by it: never confirm on their account
        for x in inner:
            if x.incident is not None and not x.incident.frozen:
                stragglers.extend(m for m in range(x.lo, x.hi) if is_ami[m] and m not in known
                                  and m not in x.known_on)
        stragglers.sort()
        for ch in found:
            lo, hi = self._range_of(ch)
            child = Outage(make_outage_id(o.outage_id, self._tree.topology.node_id(ch.node)),
                           o.feeder, ch.node, -1, lo, hi, o.started_at, None)
            child.predicted_at = due
            child.ever_active = True
            inc = o.incident
            child.reporting = sum(1 for x in ch.dark if inc is not None and x in inc.dark)
            book.add_open(child)   # parent: o (still open), which shrinks
            child.confidence = self._confidence(child, ch.margin)
            child.moves.append((due, book.device_id(child), book.device_type(child)))
            book.publish(child)
        self._close(o, due, stragglers)

    def _still_dark(self, o: Outage, skip: list[tuple[int, int]]) -> list[int]:
        """AMI meters of ``o`` not known on, outside the ranges ``skip`` (sorted):
        by a scan of the range, or with numpy over a wide one (a breaker's)."""
        known = o.known_on
        if o.hi - o.lo <= _WIDE:
            is_ami = self._tree.sp_is_ami
            dark: list[int] = []
            s = o.lo
            for lo, hi in [*skip, (o.hi, o.hi)]:
                dark.extend(x for x in range(s, min(lo, o.hi)) if is_ami[x] and x not in known)
                s = max(s, hi)
            return dark
        mask = self._ami_np[o.lo:o.hi].copy()
        for lo, hi in skip:
            mask[max(lo, o.lo) - o.lo:max(min(hi, o.hi) - o.lo, 0)] = False
        if known:
            on = np.fromiter(known, dtype=np.int64, count=len(known)) - o.lo
            mask[on[(on >= 0) & (on < mask.shape[0])]] = False
        return (np.flatnonzero(mask) + o.lo).tolist()

    def _restoration_move(self, o: Outage, now: float) -> None:
        """Re-place an outage on what its restoration showed (ids kept).

        Restores of unclaimed meters at the same time as an outage's show its
        device was higher. Meters below it that neither gasped nor came back
        show it was lower: read after the restoration, a meter below an open
        device stays silent only when both its last gasp and its restore were
        lost (:meth:`Scorer.loglik_restored`), so one device strictly below that
        holds every meter that told is the better answer.
        """
        inc = o.incident
        if inc is None or inc.retro or o.restored_at is None:
            return
        book = self._book
        extra: dict[int, tuple[float, str]] = {}
        window = self.tuning.restore_window_s
        loose = self._loose.get(o.feeder)
        if loose:
            a = bisect_left(loose, (o.restored_at - window,))
            b = bisect_right(loose, (o.restored_at + window, float("inf")))
            extra = {sp: (t, eid) for t, sp, eid in loose[a:b]
                     if not o.lo <= sp < o.hi and book.owner_of(sp) is None}
        # unclaimed restores that came just *before* this outage's first one
        # opened a retro incident (not decided yet): the same evidence
        retro = [x for x in self._candidates(o.feeder, o.restored_at - window,
                                             o.restored_at + window)
                 if x.retro and not x.decided]
        for x in retro:
            for sp, (t, eid) in x.restored.items():
                if (abs(t - o.restored_at) <= window and not o.lo <= sp < o.hi
                        and book.owner_of(sp) is None):
                    extra.setdefault(sp, (t, eid))
        if not extra:
            if o.children or book.nested_open(o):
                return
            dark = inc.dark
            if dark and self._tree.preorder:
                # two meters that told (its incident's first and latest dark
                # evidence) under no one device strictly below o: then neither
                # are all of them (in pre-order a device below o that holds the
                # least and the greatest holds every meter between), and no
                # move down is looked for
                a, b = next(iter(dark)), next(reversed(dark))
                if a > b:
                    a, b = b, a
                if o.lo <= a and b < o.hi and not self._below(o, a, b):
                    return
            # (the test below on the count and ends of the meters that told,
            # without the set when they can be had more cheaply)
            span = o.told_span(dark)
            if span is not None and (span[0] >= o.ami_affected
                                     or not self._below(o, span[1], span[2])):
                return
        told = self._told(o, inc.dark)
        if not extra and (len(told) >= o.ami_affected or not told
                          or not self._below(o, min(told), max(told))):
            return
        book.remove_open(o)
        choices = self._scorer.solve(sorted(told | set(extra)), excluded=book.excluded_ami,
                                     restored=True)
        target: Choice | None = None
        for ch in choices:
            lo, hi = self._range_of(ch)
            if extra and lo <= o.lo and o.hi <= hi and (lo, hi) != (o.lo, o.hi):
                target = ch
                break
        if target is None and len(choices) == 1 and not extra:
            ch = choices[0]
            lo, hi = self._range_of(ch)
            if o.lo <= lo and hi <= o.hi and (lo, hi) != (o.lo, o.hi):
                target = ch
        if target is not None and (book.at_node.get(target.node) if target.node >= 0
                                   else book.at_sp.get(target.sp)) is not None:
            target = None   # that device is out already, in another outage: stay
        if target is not None:
            lo, hi = self._range_of(target)
            o.node, o.sp, o.lo, o.hi = target.node, target.sp, lo, hi
            o.moves.append((now, book.device_id(o), book.device_type(o)))
            o.confidence = self._confidence(o, target.margin)
            for sp, (t, eid) in sorted(extra.items()):
                if lo <= sp < hi:
                    o.known_on.add(sp)
                    o.on_events.add(t, sp, eid)
                    o.last_on_at = max(o.last_on_at, t)
            for x in retro:   # claimed here: no outage of their own
                for sp in [sp for sp in x.restored if lo <= sp < hi]:
                    del x.restored[sp]
                    x.dark.pop(sp, None)
                    if self._incident_of[sp] is x:
                        self._incident_of[sp] = None
        book.add_open(o)
        book.touch(o)

    @staticmethod
    def _told(o: Outage, dark: dict[int, tuple[float, str]]) -> set[int]:
        """The meters of ``o`` that told: dark evidence (``dark``, its
        incident's) in its range, or known on."""
        if o.hi - o.lo < len(dark):   # scan the cheaper side (an incident of many outages)
            return {s for s in range(o.lo, o.hi) if s in dark} | o.known_on
        if dark and o.lo <= min(dark) and max(dark) < o.hi:
            # every dark meter is in its range (the usual incident of one outage):
            # all of them, added to a copy of the known set in one C-level pass
            return o.known_on.union(dark)
        return {s for s in dark if o.lo <= s < o.hi} | o.known_on

    def _below(self, o: Outage, first: int, last: int) -> bool:
        """Whether service points ``first..last`` all lie below one device (or are
        one service point) strictly inside ``o``; else no single lower device can
        hold them and there is no move down to look for."""
        if o.node < 0:
            return False
        if first == last:
            return True   # its own service point, at least
        tree = self._tree
        v = tree.sp_node[first]
        while v > o.node and not tree.sp_hi[v] > last:
            v = tree.parent[v]
        return v > o.node

    @staticmethod
    def _on_time(o: Outage, fallback: float) -> float:
        """When every meter of ``o`` was known on: its last restore seen."""
        if math.isfinite(o.last_on_at):
            return o.last_on_at
        return o.restored_at if o.restored_at is not None else fallback

    def _close(self, o: Outage, now: float, stragglers: list[int]) -> None:
        book = self._book
        o.phase = Phase.CLOSED
        book.remove_open(o)
        o.status = OutageStatus.MOMENTARY if self._is_momentary(o) else OutageStatus.RESTORED
        o.unverified = list(stragglers)
        # (one C-level pass: the same keys written in the same order as a loop)
        book.stragglers.update(dict.fromkeys(stragglers, o))
        o.confirmed_at = None if stragglers else self._on_time(o, now)
        if o.ever_active:
            book.add_feed_item(o)
            if self._feed_keys is not None:
                self._feed_keys.append((self._seq.action_key(), len(self._feed_keys)))
        book.touch(o)
        self._seq.schedule(now + self._retention, self._expire_outage, o)

    def _verify(self, o: Outage, sp: int, t: float, eid: str, *, restored: bool,
                on_at: float | None = None) -> None:
        """A straggler of a closed outage is known on again."""
        book = self._book
        del book.stragglers[sp]
        _drop(o.unverified, sp)
        if (restored and o.restored_at is not None and o.status is not OutageStatus.MOMENTARY
                and t - o.restored_at > self._settle):
            # it stayed dark long after its siblings: a nested outage after all (not
            # after a momentary: its restore was lost more likely than a fault below
            # survived the reclose unseen; it just stayed unverified meanwhile)
            self._retro_child(o, sp, t, eid)
        else:
            if not o.compacted:   # (shared empty sets once compacted)
                o.known_on.add(sp)
                if restored:
                    o.on_events.add(t, sp, eid)
            # a later gasp proves power only shortly before it
            if on_at is None:
                on_at = t if restored else t - self._gap
            if on_at > o.last_on_at:
                o.last_on_at = on_at
        if not o.unverified and o.confirmed_at is None:
            o.confirmed_at = self._on_time(o, t)
        book.touch(o)

    # ============================================================ retention
    def _deferring(self, due: float, callback: Any, token: object) -> bool:
        """During :meth:`flush` expiry waits (end of input is not time passing)."""
        if self._flushing:
            self._deferred.append((due, callback, token))
        return self._flushing

    def _expire_outage(self, due: float, token: object) -> None:
        """``evidence_retention_s`` after an outage closed: compact it, then let
        go of its incident and of the feeder's old restoration times."""
        assert isinstance(token, Outage)
        o = token
        if o.phase is not Phase.CLOSED or o.compacted or self._deferring(
                due, self._expire_outage, o):
            return
        inc = o.incident
        o.compact()
        if inc is not None:
            self._expire_incident(due, inc)
        horizon = due - self._retention
        times = self._restore_times.get(o.feeder)
        if times and times[0] < horizon:
            del times[:bisect_left(times, horizon)]
        loose = self._loose.get(o.feeder)
        if loose and loose[0][0] < horizon:
            del loose[:bisect_left(loose, (horizon,))]

    def _expire_incident(self, due: float, token: object) -> None:
        """Forget an incident ``evidence_retention_s`` after its last evidence,
        once all its outages closed (the last one to close calls again)."""
        assert isinstance(token, Incident)
        inc = token
        if not inc.decided or any(o.phase is not Phase.CLOSED for o in inc.outages):
            return
        if inc.t_last + self._retention > due:
            self._seq.schedule(inc.t_last + self._retention, self._expire_incident, inc)
            return
        if self._deferring(due, self._expire_incident, inc):
            return
        if math.isnan(inc.filed_at):
            return   # forgotten already
        lst, starts = self._incidents[inc.feeder], self._starts[inc.feeder]
        at = bisect_left(starts, inc.filed_at)
        while lst[at] is not inc:
            at += 1
        del lst[at]
        del starts[at]
        inc.filed_at = math.nan
        incident_of = self._incident_of
        for s in inc.dark:
            if incident_of[s] is inc:
                incident_of[s] = None

    def _retro_child(self, o: Outage, sp: int, t: float, eid: str) -> None:
        """Record the nested outage a late straggler restore reveals (already over)."""
        tree, book = self._tree, self._book
        pending = set(o.unverified)
        pending.add(sp)
        is_ami = tree.sp_is_ami
        best = -1
        v = tree.sp_node[sp]
        while v >= 0 and o.node >= 0 and o.node < v < tree.end[o.node]:
            if tree.candidate[v]:
                if all(x in pending for x in range(tree.sp_lo[v], tree.sp_hi[v]) if is_ami[x]):
                    best = v
                else:
                    break
            v = tree.parent[v]
        if best >= 0:
            lo, hi = tree.sp_lo[best], tree.sp_hi[best]
            name = tree.topology.node_id(best)
        else:
            lo, hi = sp, sp + 1
            name = tree.topology.sp_id(sp)
        child = Outage(make_outage_id(o.outage_id, name), o.feeder, best, -1 if best >= 0 else sp,
                       lo, hi, o.started_at, None, status=OutageStatus.RESTORED,
                       phase=Phase.CLOSED, predicted_at=t, restored_at=t, last_on_at=t, parent=o)
        child.retro = True
        members = [x for x in range(lo, hi) if is_ami[x]]
        child.ami_affected = len(members)
        child.sp_affected = hi - lo
        child.known_on.add(sp)
        child.on_events.add(t, sp, eid)
        for x in members:
            if x != sp:
                _drop(o.unverified, x, strict=True)
                book.stragglers[x] = child
                child.unverified.append(x)
        child.confirmed_at = None if child.unverified else t
        inc = o.incident
        child.reporting = sum(1 for x in members if inc is not None and x in inc.dark)
        child.confidence = self._confidence(child, 0.0)
        child.moves.append((t, book.device_id(child), book.device_type(child)))
        o.children.append(child)
        book.shrink(o, child.ami_affected, child.sp_affected)
        book.publish(child)
        self._seq.schedule(t + self._retention, self._expire_outage, child)


def result_of(engine: Engine) -> dict[str, Any]:
    return {
        "outages": engine.outages(),
        "restorations": engine.restorations(),
        "coverage": engine.coverage(),
        "events": engine.event_stats(),
    }
